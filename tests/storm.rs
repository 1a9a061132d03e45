//! A storm on a token that is not there yet, with the default settings: 5,000 concurrent
//! requests park on the one token call, which the platform answers only once every one of
//! them is in; all 5,000 then succeed. The real binary runs as a process, so the descriptor
//! limit it raises at start and the cap it sizes from it are the ones users get.

mod harness;
mod support;

use std::time::Duration;

use harness::binary::{self, Spawned};
use harness::{provider, route, WAIT};
use support::{FakePlatform, FakeUpstream, Kind};

const STORM: usize = 5_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_requests_on_a_missing_token_make_one_token_call_and_all_succeed() {
    // Both ends of every connection live here or in the proxy: 5,000 each, and some.
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).expect("getrlimit");
    if hard < 2 * STORM as u64 + 2_000 {
        eprintln!("storm: skipped; the hard descriptor limit ({hard}) is below what 5,000 connections need");
        return;
    }
    rlimit::increase_nofile_limit(u64::MAX).expect("raise this process's descriptor limit");

    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start_checking(fake.clone()).await;
    // The first client-credentials call is parked until the whole storm waits on it.
    fake.hold_next("client_credentials");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("proxy.toml");
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n\n[store]\npath = \"{}\"\n\n{}\n{}",
        dir.path().join("tokens.json").display(),
        provider("twitch", &fake),
        route("/api", "twitch", &up.url("/helix"), ""),
    );
    std::fs::write(&config, text).unwrap();
    let mut cmd = binary::command(&config);
    cmd.env("RUST_LOG", "info");
    let Spawned {
        mut child,
        proxy,
        admin,
        log,
    } = binary::spawn(cmd).await;
    assert!(fake.held(WAIT).await.is_some(), "the token call is parked");

    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(WAIT * 6)
        .build()
        .unwrap();
    let mut storm = tokio::task::JoinSet::new();
    for i in 0..STORM {
        let (http, url) = (http.clone(), format!("http://{proxy}/api/users?n={i}"));
        storm.spawn(async move { http.get(url).send().await.map(|r| r.status().as_u16()) });
    }
    // Every request is in the proxy, parked on the token, before the platform answers.
    let series = "token_sidecar_in_flight_requests{route=\"/api\"}";
    let deadline = tokio::time::Instant::now() + WAIT * 6;
    loop {
        let metrics = http
            .get(format!("http://{admin}/metrics"))
            .send()
            .await
            .expect("metrics answer")
            .text()
            .await
            .unwrap();
        let parked = metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        if parked as usize >= STORM {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {parked} of {STORM} requests reached the proxy"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(up.requests().len(), 0, "a parked request holds no upstream call");
    fake.release_held(false);

    let mut failed = Vec::new();
    while let Some(done) = storm.join_next().await {
        match done.expect("the request task") {
            Ok(200) => {}
            other => failed.push(format!("{other:?}")),
        }
    }
    failed.dedup();
    assert!(
        failed.is_empty(),
        "failed requests: {failed:?}\n{}",
        log.lock().unwrap().join("\n")
    );
    assert_eq!(
        fake.requests("client_credentials"),
        1,
        "one token call for the whole storm"
    );
    assert_eq!(up.requests().len(), STORM);
    assert!(fake.rejected().is_empty(), "{:?}", fake.rejected());
    child.start_kill().unwrap();
    let _ = child.wait().await;
}
