//! The command line, as SPEC.md lists it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    /// Try it without an account: the proxy and a local OAuth 2.0 platform in one process.
    Demo(DemoArgs),
    /// Print a shell completion script.
    ///
    /// For example: token-sidecar completions bash >
    /// ~/.local/share/bash-completion/completions/token-sidecar
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Connect a user with a device code, through the running proxy's admin listener.
    Login(LoginArgs),
}

/// The shells completion scripts are printed for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

impl From<Shell> for clap_complete::Shell {
    fn from(shell: Shell) -> Self {
        match shell {
            Shell::Bash => clap_complete::Shell::Bash,
            Shell::Zsh => clap_complete::Shell::Zsh,
            Shell::Fish => clap_complete::Shell::Fish,
        }
    }
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the proxy listens for API calls.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where the status page, the login pages and /metrics are served.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9090")]
    pub admin_listen: SocketAddr,
}

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// The provider: the name of a [providers] table.
    pub provider: String,
    /// Whose token it becomes.
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub user: String,
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
