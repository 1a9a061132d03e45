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
    /// List the stored tokens (never their values). Needs only [store] of the configuration.
    Tokens,
    /// Work on the configured token store.
    Store {
        #[command(subcommand)]
        action: StoreAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum StoreAction {
    /// Copy the tokens of a file store into the configured store (a newer token already
    /// there is kept); prints what it copied and kept. Needs only [store].
    Import {
        /// The file store to copy from (a tokens.json).
        file: PathBuf,
    },
}
