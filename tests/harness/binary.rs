//! The real binary as a child process (for what only a process shows: resource limits, CPU
//! pinning, signals): started with a caller-built `Command`, its stderr collected, and its
//! listening addresses read from the log.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::log::{addr_after, strip_ansi};
use super::WAIT;

pub struct Spawned {
    pub child: Child,
    pub proxy: SocketAddr,
    pub admin: SocketAddr,
    /// Every log line so far.
    pub log: Arc<Mutex<Vec<String>>>,
}

/// `token-sidecar run --config CONFIG`, to append to a wrapper (`taskset -c 0`, `sh -c ...`)
/// or to run as it is.
pub fn run_args(config: &std::path::Path) -> Vec<std::ffi::OsString> {
    vec![
        env!("CARGO_BIN_EXE_token-sidecar").into(),
        "run".into(),
        "--config".into(),
        config.into(),
    ]
}

/// `token-sidecar run --config CONFIG` as it is, without a wrapper.
pub fn command(config: &std::path::Path) -> Command {
    let args = run_args(config);
    let mut cmd = Command::new(&args[0]);
    cmd.args(&args[1..]);
    cmd
}

/// Starts `cmd` (which runs the binary) and waits until it logs where it listens.
pub async fn spawn(mut cmd: Command) -> Spawned {
    cmd.env("NO_COLOR", "1")
        .env_remove("TOKEN_SIDECAR_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("spawn the binary");
    let stderr = child.stderr.take().expect("piped");
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let (tx, rx) = tokio::sync::oneshot::channel();
    let lines = Arc::clone(&log);
    tokio::spawn(async move {
        let mut tx = Some(tx);
        let mut reader = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            let line = strip_ansi(&line);
            if line.contains("token-sidecar listening") {
                let addrs = addr_after(&line, "proxy_addr").zip(addr_after(&line, "admin_addr"));
                if let (Some(tx), Some(addrs)) = (tx.take(), addrs) {
                    let _ = tx.send(addrs);
                }
            }
            lines.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        }
    });
    let (proxy, admin) = match tokio::time::timeout(WAIT, rx).await {
        Ok(Ok(addrs)) => addrs,
        _ => panic!(
            "the binary did not log its addresses in time:\n{}",
            log.lock().unwrap_or_else(|e| e.into_inner()).join("\n")
        ),
    };
    Spawned {
        child,
        proxy,
        admin,
        log,
    }
}
