//! The binary under test as a child process, and the schedule's randomness.

use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::*;

/// SplitMix64: a small deterministic generator, seeded per iteration.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform enough in `lo..=hi`.
    pub(crate) fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

pub(crate) fn seed() -> u64 {
    match std::env::var("CRASH_SAFETY_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("CRASH_SAFETY_SEED={s:?}: {e}")),
        Err(_) => DEFAULT_SEED,
    }
}

pub(crate) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub(crate) use crate::harness::log::{addr_after, strip_ansi};

/// The running binary, its stderr collected for failure messages.
pub(crate) struct Sidecar {
    pub(crate) child: Child,
    pub(crate) proxy: SocketAddr,
    pub(crate) admin: SocketAddr,
    pub(crate) log: Arc<Mutex<Vec<String>>>,
    pub(crate) reader: JoinHandle<()>,
}

pub(crate) fn log_text(log: &Mutex<Vec<String>>) -> String {
    let lines = log.lock().unwrap_or_else(|e| e.into_inner());
    let from = lines.len().saturating_sub(120);
    lines[from..].join("\n")
}

impl Sidecar {
    /// Starts `token-sidecar run --config config` and waits until it listens.
    pub(crate) async fn start(config: &Path) -> Sidecar {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_token-sidecar"));
        cmd.arg("run")
            .arg("--config")
            .arg(config)
            .env(
                "RUST_LOG",
                std::env::var("CRASH_SAFETY_RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // Hermetic: no configuration or proxy settings from the environment running the tests.
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy().to_ascii_uppercase();
            if k.starts_with("TOKEN_SIDECAR_") || k.ends_with("_PROXY") {
                cmd.env_remove(&key);
            }
        }
        let mut child = cmd.spawn().expect("spawn the token-sidecar binary");
        let stderr = child.stderr.take().expect("the child's stderr is piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = oneshot::channel::<(SocketAddr, SocketAddr)>();
        let lines_log = Arc::clone(&log);
        let reader = tokio::spawn(async move {
            let mut tx = Some(tx);
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let line = strip_ansi(&line);
                if line.contains("token-sidecar listening") {
                    let addrs = addr_after(&line, "proxy_addr").zip(addr_after(&line, "admin_addr"));
                    if let (Some(tx), Some(addrs)) = (tx.take(), addrs) {
                        let _ = tx.send(addrs);
                    }
                }
                let mut log = lines_log.lock().unwrap_or_else(|e| e.into_inner());
                log.push(line);
            }
        });
        let (proxy, admin) = match tokio::time::timeout(WAIT, rx).await {
            Ok(Ok(addrs)) => addrs,
            Ok(Err(_)) => {
                let _ = tokio::time::timeout(WAIT, reader).await;
                let status = child.try_wait().ok().flatten();
                panic!(
                    "token-sidecar ended ({status:?}) without logging its listening addresses:\n{}",
                    log_text(&log)
                );
            }
            Err(_) => panic!(
                "no \"token-sidecar listening\" log line with both addresses within {WAIT:?}:\n{}",
                log_text(&log)
            ),
        };
        Sidecar {
            child,
            proxy,
            admin,
            log,
            reader,
        }
    }

    /// SIGTERMs the process and waits for its orderly exit (status 0).
    pub(crate) async fn terminate(mut self, ctx: &str) -> Arc<Mutex<Vec<String>>> {
        let pid = self.child.id().expect("the process still runs");
        let sent = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .expect("kill runs");
        assert!(sent.success(), "{ctx}: kill -TERM {pid}");
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("the process exits in time after SIGTERM")
            .expect("wait for the process");
        let _ = tokio::time::timeout(WAIT, &mut self.reader).await;
        assert!(
            status.success(),
            "{ctx}: exit after SIGTERM: {status}\n{}",
            log_text(&self.log)
        );
        self.log
    }

    /// SIGKILLs the process (which must still be running) and waits for it to be gone.
    pub(crate) async fn kill(mut self, ctx: &str) -> Arc<Mutex<Vec<String>>> {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{ctx}: token-sidecar exited on its own ({status}) before the kill:\n{}",
                log_text(&self.log)
            );
        }
        self.child.start_kill().expect("send SIGKILL");
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("the killed process is reaped in time")
            .expect("wait for the killed process");
        assert_eq!(
            status.signal(),
            Some(9),
            "{ctx}: expected death by SIGKILL, got {status}"
        );
        let _ = tokio::time::timeout(WAIT, &mut self.reader).await;
        self.log
    }
}
