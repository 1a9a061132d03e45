//! `token-sidecar tokens` and `token-sidecar store import FILE`: only `[store]` is read.

use std::path::Path;
use std::process::ExitCode;

use token_sidecar::config;
use token_sidecar::store::commands;

/// Lists the stored tokens, or (with `import`) copies a file store into the configured one.
pub fn run(config_path: &Path, import: Option<&Path>) -> ExitCode {
    let store = match config::load_store(config_path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("token-sidecar: {}: {e}", config_path.display());
            return ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("token-sidecar: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let done = runtime.block_on(async {
        match import {
            Some(file) => commands::import(&store, file).await,
            None => commands::tokens(&store).await,
        }
    });
    match done {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("token-sidecar: {e}");
            ExitCode::from(1)
        }
    }
}
