//! A store write that fails is retried and counted, not logged and dropped (issue 8): the
//! token it carried is used meanwhile (refusing it would lose a rotated grant for sure), and
//! it reaches the store once the store takes writes again.

mod harness;
mod support;

use std::time::Duration;

use harness::{Proxy, WAIT};
use support::{FakePlatform, FakeUpstream, Kind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_is_counted_the_token_serves_and_the_write_is_retried_until_it_lands() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let body = format!(
        "{}{}",
        harness::provider("tw", &fake),
        harness::route("/a", "tw", &up.url("/helix"), "token = \"app\""),
    );
    let proxy = Proxy::start_with_store("", "path = \"state/tokens.json\"\n", &body).await;
    proxy.ready().await;
    let state = proxy.dir.path().join("state");
    let stored = || std::fs::read_to_string(state.join("tokens.json")).unwrap_or_default();
    let before = stored();
    assert!(before.contains("access_token"), "{before}");

    // A file takes the place of the store's directory: the next write cannot land.
    std::fs::remove_dir_all(&state).unwrap();
    std::fs::write(&state, "in the way").unwrap();
    let resp = proxy.refresh_now("tw", "app").await;
    assert_eq!(
        resp.status(),
        200,
        "the new token is used although it is not stored"
    );
    assert_eq!(proxy.get("/a/users").await.status(), 200);
    let errors = proxy
        .metric("token_sidecar_store_errors_total{op=\"save\"}")
        .await
        .unwrap_or(0.0);
    assert!(errors >= 1.0, "the failed write is counted: {errors}");
    let last = up.last().expect("forwarded");
    let used = last.headers["authorization"]
        .to_str()
        .unwrap()
        .trim_start_matches("Bearer ")
        .to_string();

    // The way is clear again: the retry in the background stores the token in use.
    std::fs::remove_file(&state).unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !stored().contains(&used) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never stored: {}",
            stored()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    proxy.stop().await;
}
