//! Logins, revocations, refusals and rotations across replicas.

use std::time::Duration;

use crate::harness::redis_server::RedisServer;
use crate::harness::{Proxy, WAIT};
use crate::support::{FakePlatform, FakeUpstream, Kind};
use crate::*;

/// Starts a login of `user` on `start` and completes its callback on `finish`, both reached
/// the way a Service in front of the replicas is: at the public URL, which the first
/// replica's admin port stands for (`public`). Returns the callback page's status.
pub async fn login_across(start: &Proxy, finish: &Proxy, fake: &FakePlatform, user: &str) -> u16 {
    let public = format!("localhost:{}", public_port(start));
    let resp = start
        .no_redirect()
        .get(format!("http://{}/oauth/tw/login?user={user}", start.admin))
        .header("host", &public)
        .send()
        .await
        .expect("login answers");
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let cookies: Vec<String> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(String::from))
        .collect();
    let callback = fake
        .follow_authorize(&location)
        .await
        .expect("the platform approves");
    let url = url::Url::parse(&callback).unwrap();
    let path = format!("{}?{}", url.path(), url.query().unwrap_or_default());
    let resp = finish
        .other_browser()
        .get(format!("http://{}{path}", finish.admin))
        .header("host", &public)
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .expect("callback answers");
    resp.status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server"]
async fn a_login_through_one_replica_completed_by_another_is_served_by_all_within_a_second() {
    let redis = RedisServer::start();
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let reps = replicas(3, &redis, &fake, &up).await;
    for r in &reps {
        assert_eq!(as_user(r, "alice").await.status(), 503, "not connected yet");
    }
    assert_eq!(login_across(&reps[0], &reps[1], &fake, "alice").await, 200);
    // The replica that did not see the login serves it within a second.
    for r in &reps {
        wait_token(r, "alice", Duration::from_secs(1), |t| t["status"] == "valid").await;
        assert_eq!(as_user(r, "alice").await.status(), 200);
    }
    assert_eq!(fake.requests("authorization_code"), 1);
    // The store holds it, sealed: names, versions and expiry in the clear, no token value.
    let dump = redis.dump();
    for r in &reps {
        as_user(r, "alice").await;
    }
    for (access, refresh) in fake.grant_history(&current_access(&up)) {
        assert!(!dump.contains(&access), "an access token in Redis:\n{dump}");
        assert!(
            !refresh.is_some_and(|r| dump.contains(&r)),
            "a refresh token in Redis:\n{dump}"
        );
    }
    assert!(dump.contains("alice") && dump.contains("sealed"), "{dump}");
    let keys: Vec<String> = redis.cmd(&["KEYS", "*"]);
    assert!(keys.iter().all(|k| k.starts_with("ts:")), "{keys:?}");
    assert!(keys.contains(&"ts:token:tw:alice".to_string()), "{keys:?}");
    assert!(
        !keys.iter().any(|k| k.starts_with("ts:login:")),
        "the login was taken: {keys:?}"
    );
    for r in reps {
        r.stop().await;
    }
    assert!(fake.rejected().is_empty(), "{:?}", fake.rejected());
}

/// The port of the public URL a replica was configured with (its own when none).
fn public_port(p: &Proxy) -> u16 {
    p.config_text()
        .lines()
        .find_map(|l| l.strip_prefix("public_url = \"http://localhost:"))
        .and_then(|rest| rest.trim_end_matches('"').parse().ok())
        .unwrap_or(p.admin.port())
}

/// The access token of the last request the upstream was sent.
fn current_access(up: &FakeUpstream) -> String {
    let last = up.last().expect("a request reached the upstream");
    let auth = last.headers["authorization"].to_str().unwrap();
    auth.trim_start_matches("Bearer ").to_string()
}

/// The refresh token alice's grant holds now, from what the upstream was sent.
fn current_refresh_token(fake: &FakePlatform, up: &FakeUpstream) -> String {
    fake.grant_history(&current_access(up))
        .into_iter()
        .filter_map(|(_, r)| r)
        .next_back()
        .expect("a refresh token")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server"]
async fn a_revocation_and_a_refusal_on_one_replica_hold_on_all() {
    let redis = RedisServer::start();
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let reps = replicas(3, &redis, &fake, &up).await;
    assert_eq!(login_across(&reps[0], &reps[0], &fake, "alice").await, 200);
    assert_eq!(login_across(&reps[1], &reps[2], &fake, "bob").await, 200);
    for r in &reps {
        wait_token(r, "bob", WAIT, |t| t["status"] == "valid").await;
    }

    // Alice disconnects the app at the platform; her next request on replica 0 is refused
    // a refresh. Every replica then says needs_login, and none presents her token again.
    assert_eq!(as_user(&reps[0], "alice").await.status(), 200);
    let rt = current_refresh_token(&fake, &up);
    assert!(fake.disconnect(&rt));
    assert_ne!(as_user(&reps[0], "alice").await.status(), 200);
    assert_eq!(fake.refused_refresh_tokens(), vec![rt.clone()]);
    let attempts = fake.attempts();
    for r in &reps {
        wait_token(r, "alice", WAIT, |t| t["status"] == "needs_login").await;
        let resp = as_user(r, "alice").await;
        assert_eq!(resp.status(), 503);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["status"], "needs_login", "{body}");
    }
    let resp = reps[2].refresh_now("tw", "alice").await;
    assert_ne!(resp.status(), 200);
    assert_eq!(fake.attempts(), attempts, "no replica tried her grant again");
    assert_eq!(fake.refused_refresh_tokens().len(), 1);

    // Bob's token is deleted through replica 2: revoked at the platform, gone everywhere.
    let resp = reps[2]
        .http
        .delete(reps[2].admin_url("/admin/tokens/tw/bob"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap_or_default());
    for r in &reps {
        wait_token(r, "bob", Duration::from_secs(1), |t| t.is_null()).await;
        let resp = as_user(r, "bob").await;
        assert_eq!(resp.status(), 503);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["status"], "not_connected", "{body}");
    }
    // A new login clears alice's refusal on every replica.
    assert_eq!(login_across(&reps[1], &reps[0], &fake, "alice").await, 200);
    for r in &reps {
        wait_token(r, "alice", WAIT, |t| t["status"] == "valid").await;
        assert_eq!(as_user(r, "alice").await.status(), 200);
    }
    for r in reps {
        r.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server"]
async fn each_rotation_is_one_refresh_and_one_client_credentials_call_across_replicas() {
    let redis = RedisServer::start();
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let reps = replicas(3, &redis, &fake, &up).await;
    assert_eq!(login_across(&reps[0], &reps[0], &fake, "alice").await, 200);
    for r in &reps {
        wait_token(r, "alice", WAIT, |t| t["status"] == "valid").await;
    }
    // Two-second tokens from now: each replica's schedule would refresh them every second
    // or so on its own.
    fake.set_expires_in(2);
    let _ = reps[0].refresh_now("tw", "alice").await;
    let _ = reps[0].refresh_now("tw", "app").await;
    let cc_before = fake.requests("client_credentials");
    let started = tokio::time::Instant::now();
    let mut failed = Vec::new();
    let mut served = 0;
    while started.elapsed() < Duration::from_secs(6) {
        for r in &reps {
            for path in ["/u/users", "/a/users"] {
                let resp = r
                    .http
                    .get(r.url(path))
                    .header("x-token-user", "alice")
                    .send()
                    .await
                    .unwrap();
                if resp.status() == 200 {
                    served += 1;
                } else {
                    failed.push((path, resp.status(), resp.text().await.unwrap_or_default()));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert!(failed.is_empty(), "{} served, failed: {failed:?}", served);
    // No refresh token was presented twice: each rotation was one refresh.
    assert!(fake.refused_refresh_tokens().is_empty(), "{:?}", fake.refused());
    assert!(fake.requests("refresh_token") >= 4, "the grant kept rotating");
    // A token is never renewed before half its lifetime: one replica at a time makes at
    // most one call per second here, three on their own would make three.
    let cc = fake.requests("client_credentials") - cc_before;
    assert!(
        cc as f64 <= elapsed + 1.0,
        "{cc} client-credentials calls in {elapsed:.1} s"
    );
    let rt = fake.requests("refresh_token");
    assert!(rt as f64 <= elapsed + 2.0, "{rt} refreshes in {elapsed:.1} s");
    eprintln!("{served} requests served; {cc} client-credentials calls and {rt} refreshes in {elapsed:.1} s");
    // Replicas waited for each other's locks (and said how long).
    let mut waits = 0.0;
    for r in &reps {
        waits += r
            .metric("token_sidecar_refresh_lock_wait_seconds_count")
            .await
            .unwrap_or(0.0);
    }
    assert!(
        waits >= rt as f64,
        "every refresh took the lock: {waits} lock waits observed"
    );
    for r in reps {
        r.stop().await;
    }
    assert!(fake.rejected().is_empty(), "{:?}", fake.rejected());
}
