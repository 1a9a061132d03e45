//! The binary: parse the command line, load the configuration, and run.

mod cli;
mod store_cmd;

use std::path::Path;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use token_sidecar::config::{self, Config, LogFormat};
use tracing_subscriber::EnvFilter;

use cli::{Cli, Command, DemoArgs, StoreAction};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let path = config::config_path(cli.config);
    match cli.command.unwrap_or(Command::Run) {
        Command::Demo(args) => demo(args),
        // It talks to a running proxy: only the [server] part of the file needs to be valid.
        Command::Login(login) => ExitCode::from(token_sidecar::login_command::run(
            &path,
            &login.provider,
            &login.user,
        )),
        Command::Completions { shell } => {
            let mut command = Cli::command();
            let shell = clap_complete::Shell::from(shell);
            clap_complete::generate(shell, &mut command, "token-sidecar", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Check => with_config(&path, |config| {
            print!("{}", token_sidecar::report::resolved(&config));
            for w in config.warnings(config.server.admin_listen.port()) {
                eprintln!("token-sidecar: warning: {w}");
            }
            println!("\n{}: valid", path.display());
            ExitCode::SUCCESS
        }),
        // These need only [store]: the rest of the file may be anything.
        Command::Tokens => store_cmd::run(&path, None),
        Command::Store {
            action: StoreAction::Import { file },
        } => store_cmd::run(&path, Some(&file)),
        Command::Run => with_config(&path, serve),
    }
}

/// Runs `then` with the configuration at `path`, or says why it is not valid (exit 1).
fn with_config(path: &Path, then: impl FnOnce(Config) -> ExitCode) -> ExitCode {
    match config::load(path) {
        Ok(config) => then(config),
        Err(e) => {
            eprintln!("token-sidecar: {e}");
            ExitCode::from(1)
        }
    }
}

fn serve(config: Config) -> ExitCode {
    init_logging(config.server.log_format);
    token_sidecar::server::heap::keep_freed_memory();
    let Some(runtime) = runtime() else {
        return ExitCode::from(1);
    };
    runtime.block_on(async {
        match token_sidecar::run(config, shutdown_signal()).await {
            Ok(running) => {
                reload_on_sighup(std::sync::Arc::clone(&running.shared.reload));
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

fn demo(args: DemoArgs) -> ExitCode {
    init_logging(LogFormat::Text);
    let Some(runtime) = runtime() else {
        return ExitCode::from(1);
    };
    let options = token_sidecar::demo::Options {
        listen: args.listen,
        admin_listen: args.admin_listen,
    };
    match runtime.block_on(token_sidecar::demo::run(options, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("token-sidecar: {}", anyhow::Error::from(e));
            ExitCode::from(1)
        }
    }
}

/// One core (a pinned process, or a pod whose CPU limit is a core or less, which
/// `available_parallelism` reads from the cgroup): a current-thread runtime, which costs about
/// a fifth less CPU per proxied request than a multi-thread one with a single worker
/// (bench/run). More cores: the multi-thread runtime, to use them.
fn runtime() -> Option<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let mut builder = if cores <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    builder
        .enable_all()
        .build()
        .map_err(|e| eprintln!("token-sidecar: cannot start the runtime: {e}"))
        .ok()
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal, never in a container's log stream.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Resolves on the first SIGTERM or SIGINT; a second one ends the process at once, for an
/// operator who will not wait for the grace period.
async fn shutdown_signal() {
    first_signal().await;
    tracing::info!("shutting down: finishing in-flight requests (signal again to exit now)");
    tokio::spawn(async {
        first_signal().await;
        tracing::warn!("second signal: exiting now");
        std::process::exit(1);
    });
}

/// SIGHUP asks for a reload of the configuration.
fn reload_on_sighup(trigger: std::sync::Arc<tokio::sync::Notify>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            trigger.notify_one();
        }
    });
    #[cfg(not(unix))]
    let _ = trigger;
}

#[cfg(unix)]
async fn first_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        // Without signal handlers there is nothing to wait for; serve until killed.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

#[cfg(not(unix))]
async fn first_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
