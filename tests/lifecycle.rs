//! The real binary's life: SIGTERM and SIGINT stop accepting connections, let the requests
//! in flight finish within `shutdown_grace` and exit 0; the grace bounds the wait; a second
//! signal exits at once with status 1.
#![cfg(unix)]

mod harness;
mod support;

use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::{provider, route, WAIT};
use support::{FakePlatform, FakeUpstream, Kind};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

/// The binary, started with its own config file, and what it printed on stderr.
struct Sidecar {
    child: Child,
    pid: u32,
    proxy: SocketAddr,
    admin: SocketAddr,
    stderr: Arc<Mutex<String>>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// The log line's address field `key`, colours or not.
fn field(line: &str, key: &str) -> Option<SocketAddr> {
    harness::log::addr_after(&harness::log::strip_ansi(line), key)
}

impl Sidecar {
    /// Starts the binary with a twitch provider on `fake`, a route `/t` to `up` and
    /// `shutdown_grace = grace`; resolves once it logged its addresses and holds its app token.
    async fn start(fake: &FakePlatform, up: &FakeUpstream, grace: &str) -> Sidecar {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("proxy.toml");
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n\
             shutdown_grace = \"{grace}\"\n\n\
             [store]\npath = \"tokens.json\"\n\n{}{}",
            provider("twitch", fake),
            route("/t", "twitch", &up.url("/api"), ""),
        );
        std::fs::write(&config, text).expect("write config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_token-sidecar"))
            .arg("run")
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("TOKEN_SIDECAR_CONFIG")
            .env_remove("TOKEN_SIDECAR_LOG_FORMAT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the binary starts");
        let pid = child.id().expect("a pid");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = oneshot::channel::<(SocketAddr, SocketAddr)>();
        let lines = child.stderr.take().expect("stderr piped");
        let log = Arc::clone(&stderr);
        tokio::spawn(async move {
            let mut tx = Some(tx);
            let mut lines = BufReader::new(lines).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("token-sidecar listening") {
                    let addrs = field(&line, "proxy_addr").zip(field(&line, "admin_addr"));
                    if let (Some(addrs), Some(tx)) = (addrs, tx.take()) {
                        let _ = tx.send(addrs);
                    }
                }
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let (proxy, admin) = match tokio::time::timeout(WAIT, rx).await {
            Ok(Ok(addrs)) => addrs,
            _ => panic!(
                "no `token-sidecar listening` line with both addresses; stderr:\n{}",
                stderr.lock().unwrap()
            ),
        };
        let sidecar = Sidecar {
            child,
            pid,
            proxy,
            admin,
            stderr,
            http: reqwest::Client::builder().no_proxy().build().expect("client"),
            _dir: dir,
        };
        sidecar.ready().await;
        sidecar
    }

    fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    async fn ready(&self) {
        let deadline = Instant::now() + WAIT;
        loop {
            let resp = self
                .http
                .get(format!("http://{}/readyz", self.admin))
                .send()
                .await;
            if resp.as_ref().is_ok_and(|r| r.status() == 200) {
                return;
            }
            assert!(Instant::now() < deadline, "never ready: {resp:?}\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid.to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} {}", self.pid);
    }

    /// Starts `GET /t/slow` and resolves once the upstream has it, so it is in flight.
    async fn slow_request(&self, up: &FakeUpstream) -> tokio::task::JoinHandle<reqwest::Result<u16>> {
        let before = up.count();
        let http = self.http.clone();
        let url = format!("http://{}/t/slow", self.proxy);
        let call = tokio::spawn(async move {
            let resp = http.get(url).send().await?;
            let status = resp.status().as_u16();
            resp.bytes().await?;
            Ok(status)
        });
        assert!(
            up.wait_count(before + 1, WAIT).await,
            "the slow request reached the upstream"
        );
        call
    }

    /// Waits until `addr` refuses connections; panics after `within`.
    async fn wait_refused(&self, addr: SocketAddr, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            match tokio::net::TcpStream::connect(addr).await {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return,
                other => {
                    drop(other);
                    assert!(
                        Instant::now() < deadline,
                        "{addr} still accepts connections {within:?} after the signal\n{}",
                        self.log()
                    );
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    async fn exit_within(&mut self, within: Duration) -> ExitStatus {
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => status.expect("wait for the child"),
            Err(_) => panic!("still running {within:?} later\n{}", self.log()),
        }
    }
}

async fn setup(delay: Duration, grace: &str) -> (FakePlatform, FakeUpstream, Sidecar) {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start().await;
    up.set_delay(delay);
    let sidecar = Sidecar::start(&fake, &up, grace).await;
    (fake, up, sidecar)
}

/// One signal: in-flight requests finish, new connections are refused, exit 0 within grace.
async fn drains_and_exits_zero_on(signal: &str) {
    let (_fake, up, mut sidecar) = setup(Duration::from_secs(2), "10s").await;
    let slow = sidecar.slow_request(&up).await;
    let signalled = Instant::now();
    sidecar.signal(signal);

    // Both listeners stop accepting while the slow request is still under way.
    sidecar
        .wait_refused(sidecar.proxy, Duration::from_millis(1500))
        .await;
    sidecar
        .wait_refused(sidecar.admin, Duration::from_millis(1500))
        .await;
    assert!(!slow.is_finished(), "refused before the slow request ended");
    let fresh = reqwest::Client::builder().no_proxy().build().unwrap();
    let refused = fresh.get(format!("http://{}/t/x", sidecar.proxy)).send().await;
    assert!(
        refused.is_err(),
        "a new request after {signal} was served: {refused:?}"
    );

    // The request in flight completes normally.
    let status = tokio::time::timeout(WAIT, slow)
        .await
        .expect("the slow request ends")
        .expect("no panic")
        .unwrap_or_else(|e| panic!("the in-flight request failed: {e}\n{}", sidecar.log()));
    assert_eq!(status, 200, "{}", sidecar.log());

    let exit = sidecar.exit_within(Duration::from_secs(10)).await;
    assert_eq!(exit.code(), Some(0), "{exit:?}\n{}", sidecar.log());
    assert!(
        signalled.elapsed() < Duration::from_secs(10),
        "exited within shutdown_grace"
    );
    assert_eq!(up.count(), 1, "nothing else reached the upstream");
}

#[tokio::test]
async fn sigterm_finishes_in_flight_requests_refuses_new_ones_and_exits_zero() {
    drains_and_exits_zero_on("TERM").await;
}

#[tokio::test]
async fn sigint_behaves_like_sigterm() {
    drains_and_exits_zero_on("INT").await;
}

#[tokio::test]
async fn the_grace_bounds_the_wait_for_a_slow_request() {
    let (_fake, up, mut sidecar) = setup(Duration::from_secs(5), "1s").await;
    let slow = sidecar.slow_request(&up).await;
    let signalled = Instant::now();
    sidecar.signal("TERM");
    let exit = sidecar.exit_within(Duration::from_secs(4)).await;
    let took = signalled.elapsed();
    assert_eq!(exit.code(), Some(0), "{exit:?}\n{}", sidecar.log());
    assert!(
        took >= Duration::from_millis(900),
        "exited after {took:?}, before the 1 s grace ran out"
    );
    assert!(
        took < Duration::from_secs(3),
        "exited after {took:?}: about the 1 s grace, not the upstream's 5 s"
    );
    // The abandoned request does not get the upstream's answer.
    let outcome = tokio::time::timeout(WAIT, slow)
        .await
        .expect("ends")
        .expect("no panic");
    assert!(!matches!(outcome, Ok(200)), "{outcome:?}");
}

/// A second signal during the grace ends the process at once, with status 1.
async fn second_signal_exits_at_once(first: &str, second: &str) {
    let (_fake, up, mut sidecar) = setup(Duration::from_secs(5), "20s").await;
    let _slow = sidecar.slow_request(&up).await;
    let signalled = Instant::now();
    sidecar.signal(first);
    // The first signal has been handled once the listener is closed.
    sidecar
        .wait_refused(sidecar.proxy, Duration::from_millis(1500))
        .await;
    sidecar.signal(second);
    let exit = sidecar.exit_within(Duration::from_secs(2)).await;
    let took = signalled.elapsed();
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(!exit.success(), "{exit:?}");
    assert_eq!(exit.code(), Some(1), "{exit:?}\n{}", sidecar.log());
}

#[tokio::test]
async fn a_second_sigterm_exits_at_once_with_status_1() {
    second_signal_exits_at_once("TERM", "TERM").await;
}

#[tokio::test]
async fn a_sigint_after_sigterm_exits_at_once_with_status_1() {
    second_signal_exits_at_once("TERM", "INT").await;
}
