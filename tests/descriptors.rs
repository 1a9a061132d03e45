//! Out of file descriptors: the real binary under a descriptor limit of 128, flooded with
//! idle keep-alive connections. The accept loops back off and log that once in a while (not
//! once per failure), idle connections are closed, and `/healthz` answers again by itself.

mod harness;
mod support;

use std::time::Duration;

use tokio::net::TcpStream;
use tokio::process::Command;

use harness::binary::{self, Spawned};
use harness::WAIT;

const CONFIG: &str = "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n\
                      idle_timeout = \"2s\"\nheader_read_timeout = \"30s\"\n";

#[tokio::test]
async fn a_flood_of_idle_connections_does_not_take_the_listeners_down() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("proxy.toml");
    std::fs::write(&config, CONFIG).unwrap();
    // `ulimit -n` sets the soft and the hard limit, so the proxy cannot raise it.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -n 128 && exec \"$0\" \"$@\"")
        .args(binary::run_args(&config))
        .env("RUST_LOG", "info");
    let Spawned {
        mut child,
        proxy,
        admin,
        log,
    } = binary::spawn(cmd).await;

    // Twice as many idle connections as the process has descriptors.
    let mut idle = Vec::new();
    for _ in 0..256 {
        if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(proxy)).await {
            idle.push(s);
        }
    }
    assert!(idle.len() > 128, "the flood connected ({})", idle.len());

    // The admin listener answers again once the idle ones are closed, without any help.
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT * 2;
    loop {
        let answered = http.get(format!("http://{admin}/healthz")).send().await;
        if answered.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/healthz never answered again"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(idle);
    let log = log.lock().unwrap().clone();
    let failures = log.iter().filter(|l| l.contains("accept failed")).count();
    assert!(failures >= 1, "the exhaustion was noticed:\n{}", log.join("\n"));
    assert!(
        failures <= 4,
        "logged once per interval, not once per failure: {failures}"
    );
    child.start_kill().unwrap();
    let _ = child.wait().await;
}
