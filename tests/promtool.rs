//! The `/metrics` exposition of a running proxy passes `promtool check metrics` (naming,
//! types, help text), as Prometheus will scrape it.

mod harness;
mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use harness::Proxy;
use support::{FakePlatform, FakeUpstream, Kind};

#[tokio::test]
#[ignore = "needs promtool (Debian's prometheus package; .ci/deploy-check installs it)"]
async fn metrics_pass_promtool_check_metrics() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let proxy = Proxy::with_route(&fake, "twitch", "", "/twitch", &up.url(""), "").await;
    proxy.ready().await;
    up.reject_next(1);
    assert_eq!(proxy.get("/twitch/users").await.status(), 200);
    assert_eq!(proxy.get("/nowhere").await.status(), 404);
    let metrics = proxy.metrics().await;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(metrics.as_bytes())
        .expect("write metrics");
    let out = child.wait_with_output().expect("promtool runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{report}\n--- metrics:\n{metrics}"
    );
    proxy.stop().await;
}
