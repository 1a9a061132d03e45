//! On one core (a pinned process, or a pod limited to a core) the binary runs a
//! current-thread runtime; the whole way through must work there too: the token fetch, a
//! proxied request, and a clean SIGTERM.

mod harness;
mod support;

use std::time::Duration;

use tokio::process::Command;

use harness::binary::{self, Spawned};
use harness::{provider, route, WAIT};
use support::{FakePlatform, FakeUpstream, Kind};

#[tokio::test]
async fn pinned_to_one_core_it_serves_and_stops_cleanly() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("proxy.toml");
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n\n{}{}",
        provider("p", &fake),
        route("/t", "p", &up.url("/api"), ""),
    );
    std::fs::write(&config, text).unwrap();
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "0"]).args(binary::run_args(&config));
    let Spawned { mut child, proxy, .. } = binary::spawn(cmd).await;

    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(WAIT)
        .build()
        .unwrap();
    let resp = http.get(format!("http://{proxy}/t/users")).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    assert_eq!(fake.requests("client_credentials"), 1);

    let pid = child.id().expect("running") as i32;
    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(WAIT + Duration::from_secs(20), child.wait())
        .await
        .expect("stops within the shutdown grace")
        .unwrap();
    assert!(status.success(), "{status}");
}
