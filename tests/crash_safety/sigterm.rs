//! SIGTERM while the platform is answering a refresh: the process stores the rotated
//! refresh token before it exits, so the grant survives the restart (a rolling update must
//! never cost a login).

use std::sync::Arc;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_refresh_stores_its_answer_before_exiting() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    fake.set_expires_in(LIFETIME_SECS);
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = setup_config(dir.path(), &fake, &up);
    let token = login(&fake, "alice").await;
    write_store(&dir.path().join("tokens.json"), &[token]);

    // The one-second token is refreshed at once after the start; its call is parked.
    fake.hold_next("refresh_token");
    let sidecar = Sidecar::start(&config).await;
    assert!(
        fake.held(WAIT).await.is_some(),
        "a refresh is parked at the platform"
    );
    let log = Arc::clone(&sidecar.log);
    let pid = sidecar.child.id().expect("running");
    let exited = tokio::spawn(sidecar.terminate("SIGTERM during a refresh"));
    let deadline = Instant::now() + WAIT;
    while !log_text(&log).contains("shutting down") {
        assert!(Instant::now() < deadline, "pid {pid} did not start shutting down");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Shutting down (no listener left to wait for): now the platform answers.
    fake.release_held(false);
    let log = exited.await.expect("terminate");

    assert_eq!(
        fake.requests("refresh_token"),
        1,
        "one refresh, answered during the shutdown"
    );
    let text = std::fs::read_to_string(dir.path().join("tokens.json")).expect("the store");
    let store: Value = serde_json::from_str(&text).expect("the store parses");
    let refresh = store["tokens"][0]["refresh_token"]
        .as_str()
        .expect("a refresh token");
    assert_eq!(
        fake.refresh_token_age(refresh),
        Some(0),
        "the answer given during the shutdown was not stored:\n{}",
        log_text(&log)
    );
}
