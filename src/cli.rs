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
}
