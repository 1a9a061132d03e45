//! The command line, as SPEC.md lists it.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "token-sidecar",
    version,
    about = "Obtains, refreshes and injects OAuth tokens for streaming-platform APIs"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The configuration file (default: $TOKEN_SIDECAR_CONFIG, else ./proxy.toml).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve (the default).
    Run,
    /// Validate the configuration and print the resolved providers and routes.
    Check,
    /// List the stored tokens (never their values).
    Tokens,
    /// Connect a user with a device code, through the running proxy's admin listener.
    Login(LoginArgs),
}

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// The provider: the name of a [providers] table.
    pub provider: String,
    /// Whose token it becomes.
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub user: String,
}
