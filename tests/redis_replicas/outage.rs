//! While Redis is down: held tokens serve until they expire, app tokens are fetched by each
//! replica on its own, user tokens are not refreshed (their routes answer 503 once expired),
//! a replica starts anyway, and all of it recovers by itself when Redis returns.

use std::time::Duration;

use crate::harness::redis_server::RedisServer;
use crate::harness::{provider, route, Proxy, WAIT};
use crate::logins::login_across;
use crate::support::{FakePlatform, FakeUpstream, Kind};
use crate::*;

const UP: &str = "token_sidecar_store_up";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server"]
async fn while_redis_is_down_held_tokens_serve_and_user_tokens_wait_for_it() {
    let mut redis = RedisServer::start();
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start_checking(fake.clone()).await;
    fake.set_expires_in(4);
    let reps = replicas(2, &redis, &fake, &up).await;
    assert_eq!(login_across(&reps[0], &reps[1], &fake, "alice").await, 200);
    for r in &reps {
        wait_token(r, "alice", WAIT, |t| t["status"] == "valid").await;
        assert_eq!(r.get("/a/users").await.status(), 200);
        wait_metric(r, UP, 1.0).await;
    }

    redis.kill();
    let refreshes = fake.requests("refresh_token");
    for r in &reps {
        wait_metric(r, UP, 0.0).await;
        // The held user token still serves.
        assert_eq!(as_user(r, "alice").await.status(), 200);
    }
    // Until it expires: then 503, and no refresh was sent (its rotated refresh token could
    // not be stored first). App tokens meanwhile are fetched by each replica.
    let deadline = tokio::time::Instant::now() + WAIT;
    for r in &reps {
        loop {
            assert_eq!(r.get("/a/users").await.status(), 200, "the app route serves");
            let resp = as_user(r, "alice").await;
            if resp.status() == 503 {
                let body: Value = resp.json().await.unwrap();
                assert_eq!(body["error"], "token_unavailable", "{body}");
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "alice's token never expired"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(
        fake.requests("refresh_token"),
        refreshes,
        "no user refresh without the store"
    );
    let cc = fake.requests("client_credentials");
    tokio::time::sleep(Duration::from_secs(3)).await;
    for r in &reps {
        assert_eq!(r.get("/a/users").await.status(), 200);
    }
    assert!(
        fake.requests("client_credentials") > cc,
        "app tokens renewed while down"
    );
    let errors = reps[0]
        .metric("token_sidecar_store_errors_total{op=\"lock\"}")
        .await
        .unwrap_or(0.0);
    assert!(errors >= 1.0, "lock failures are counted: {errors}");

    // Redis returns on its append-only file: everything recovers by itself.
    redis.restart();
    for r in &reps {
        wait_metric(r, UP, 1.0).await;
        wait_token(r, "alice", WAIT, |t| t["status"] == "valid").await;
        assert_eq!(as_user(r, "alice").await.status(), 200);
    }
    assert!(fake.refused_refresh_tokens().is_empty(), "{:?}", fake.refused());
    for r in reps {
        r.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server"]
async fn a_replica_started_while_redis_is_down_is_ready_when_it_returns() {
    let mut redis = RedisServer::start();
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let first = replicas(1, &redis, &fake, &up).await.remove(0);
    assert_eq!(login_across(&first, &first, &fake, "alice").await, 200);
    first.stop().await;
    redis.kill();

    let body = format!(
        "{}{}",
        provider("tw", &fake),
        route(
            "/me",
            "tw",
            &up.url("/helix"),
            "token = \"user\"\nuser = \"alice\""
        ),
    );
    let late = Proxy::start_with_store("", &store(&redis), &body).await;
    assert_eq!(
        late.http
            .get(late.admin_url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let ready = late.http.get(late.admin_url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503, "alice is not known yet");
    assert_eq!(late.metric(UP).await, Some(0.0));
    assert_eq!(late.get("/me/users").await.status(), 503);

    redis.restart();
    late.ready().await;
    assert_eq!(late.get("/me/users").await.status(), 200);
    late.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server"]
async fn the_request_path_never_waits_for_redis_while_tokens_are_fresh() {
    let redis = RedisServer::start();
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let reps = replicas(1, &redis, &fake, &up).await;
    let r = &reps[0];
    assert_eq!(login_across(r, r, &fake, "alice").await, 200);
    r.ready().await;
    // Redis stops answering without closing anything: a request that asked it anything
    // would hang for the store's whole timeout (2 s).
    redis.signal("STOP");
    let quick = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    for i in 0..200 {
        let (path, user) = if i % 2 == 0 {
            ("/u/users", "alice")
        } else {
            ("/a/users", "")
        };
        let mut req = quick.get(r.url(path));
        if !user.is_empty() {
            req = req.header("x-token-user", user);
        }
        let resp = req.send().await.expect("answered without waiting for Redis");
        assert_eq!(resp.status(), 200);
    }
    redis.signal("CONT");
    for r in reps {
        r.stop().await;
    }
}
