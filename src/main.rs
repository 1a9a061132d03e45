//! The binary: parse the command line, load the configuration, and run.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use token_sidecar::config::{self, Config, LogFormat};
use tracing_subscriber::EnvFilter;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let path = config::config_path(cli.config);
    let config = match config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("token-sidecar: {e}");
            return ExitCode::from(1);
        }
    };
    match cli.command.unwrap_or(Command::Run) {
        Command::Check => {
            print!("{}", token_sidecar::report::resolved(&config));
            println!("\n{}: valid", path.display());
            ExitCode::SUCCESS
        }
        Command::Tokens => match token_sidecar::oauth::store::read(&config.store.path) {
            Ok(tokens) => {
                print!("{}", token_sidecar::report::stored(&tokens));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("token-sidecar: {e}");
                ExitCode::from(1)
            }
        },
        Command::Run => serve(config),
    }
}

fn serve(config: Config) -> ExitCode {
    init_logging(config.server.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("token-sidecar: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async {
        match token_sidecar::run(config, shutdown_signal()).await {
            Ok(running) => {
                running.wait().await;
                tracing::info!("stopped");
                ExitCode::SUCCESS
            }
            Err(e) => {
                tracing::error!(error = %anyhow::Error::from(e), "cannot start");
                ExitCode::from(1)
            }
        }
    })
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}
