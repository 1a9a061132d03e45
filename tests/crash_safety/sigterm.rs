//! SIGTERM while the platform is answering a refresh, or while the store is refusing the
//! answer's write: the process stores the rotated refresh token before it exits, so the
//! grant survives the restart (a rolling update must never cost a login). When the store
//! stays out of reach through the shutdown grace, the process says so and exits.

use std::path::Path;
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

/// A proxy whose token answer the store did not take, and is retrying in the background.
struct Unstored {
    fake: FakePlatform,
    sidecar: Sidecar,
    /// The store's directory (`state/tokens.json`), with a file in its place.
    state: std::path::PathBuf,
    /// The refresh token the store still holds, which the answer rotated.
    first: String,
    _up: FakeUpstream,
    _dir: tempfile::TempDir,
}

/// The store holds alice's one-second token, so her refresh starts at once; it is parked at
/// the platform while the store's directory is moved aside and a file put in its place, then
/// answered with an hour-long token (so no second refresh follows). Resolves once the proxy
/// said it retries the save.
async fn unstored_answer(grace: &str) -> Unstored {
    let fake = FakePlatform::start(Kind::Twitch).await;
    fake.set_expires_in(LIFETIME_SECS);
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = setup_config(dir.path(), &fake, &up);
    let text = std::fs::read_to_string(&config).expect("the config");
    let text = text
        .replace("path = \"tokens.json\"", "path = \"state/tokens.json\"")
        .replace("[server]\n", &format!("[server]\nshutdown_grace = \"{grace}\"\n"));
    std::fs::write(&config, text).expect("write the config");
    let state = dir.path().join("state");
    std::fs::create_dir(&state).expect("the store's directory");
    let token = login(&fake, "alice").await;
    let first = token["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_string();
    write_store(&state.join("tokens.json"), &[token]);
    fake.hold_next("refresh_token");
    let sidecar = Sidecar::start(&config).await;
    assert!(
        fake.held(WAIT).await.is_some(),
        "a refresh is parked at the platform"
    );
    fake.set_expires_in(3600);

    std::fs::rename(&state, aside(&state)).expect("move the store's directory aside");
    std::fs::write(&state, "in the way").expect("a file in the way");
    fake.release_held(false);
    let deadline = Instant::now() + WAIT;
    while !log_text(&sidecar.log).contains("storing it is retried in the background") {
        assert!(
            Instant::now() < deadline,
            "the failed save was not said:\n{}",
            log_text(&sidecar.log)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Unstored {
        fake,
        sidecar,
        state,
        first,
        _up: up,
        _dir: dir,
    }
}

fn aside(state: &Path) -> std::path::PathBuf {
    state.with_extension("aside")
}

fn stored_refresh_token(state: &Path) -> String {
    let text = std::fs::read_to_string(state.join("tokens.json")).expect("the store");
    let store: Value = serde_json::from_str(&text).expect("the store parses");
    store["tokens"][0]["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_a_failed_save_is_retried_stores_the_token_before_exiting() {
    let Unstored {
        fake,
        sidecar,
        state,
        _up,
        _dir,
        ..
    } = unstored_answer("10s").await;

    // The way is clear again, and SIGTERM comes before the background retry (a second after
    // the failure): the shutdown must try the save itself.
    std::fs::remove_file(&state).expect("clear the way");
    std::fs::rename(aside(&state), &state).expect("the store's directory back");
    let log = sidecar.terminate("SIGTERM while a save is retried").await;

    assert_eq!(fake.requests("refresh_token"), 1, "one refresh");
    let refresh = stored_refresh_token(&state);
    assert_eq!(
        fake.refresh_token_age(&refresh),
        Some(0),
        "the token whose save was being retried was not stored before the exit:\n{}",
        log_text(&log)
    );
    assert!(
        log_text(&log).contains("the token is stored now"),
        "{}",
        log_text(&log)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_the_store_out_of_reach_says_what_is_lost_and_exits_after_the_grace() {
    let Unstored {
        fake,
        sidecar,
        first,
        _up,
        _dir,
        ..
    } = unstored_answer("1s").await;

    let log = sidecar.terminate("SIGTERM with the store out of reach").await;
    let text = log_text(&log);
    for said in [
        "shutting down with a token the store has not taken",
        "did not finish within the shutdown grace",
    ] {
        assert!(text.contains(said), "{said:?} is not in the log:\n{text}");
    }
    // Named by provider and user, never by value.
    let history = fake.grant_history(&first);
    let (access, refresh) = history.last().expect("the platform answered the refresh");
    let refresh = refresh.as_deref().expect("a rotated refresh token");
    assert_ne!(refresh, first, "the refresh rotated");
    for secret in [access.as_str(), refresh] {
        assert!(!text.contains(secret), "the log holds a token:\n{text}");
    }
}
