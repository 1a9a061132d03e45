//! Several replicas of the real proxy (`token_sidecar::run`, in this process) sharing one
//! real `redis-server` (SPEC, "Several replicas: the Redis store"): a login through one is
//! served by all, its callback may reach another, a revocation and a refusal on one hold on
//! all, one refresh per rotation whichever replica's schedule comes first, and while Redis
//! is down held tokens serve, app tokens are fetched per replica, user routes answer 503
//! once their token expired, and everything recovers by itself; a refresh that never reached
//! the platform is presented again at the next attempt.

#[path = "../harness/mod.rs"]
mod harness;
#[path = "../support/mod.rs"]
mod support;

mod logins;
mod outage;
mod unreached;

use std::time::Duration;

use harness::redis_server::RedisServer;
use harness::{provider, route, Proxy, WAIT};
use serde_json::Value;
use support::{FakePlatform, FakeUpstream};

/// The `[store]` lines every replica shares: tokens sealed with one key.
pub fn store(redis: &RedisServer) -> String {
    let key = redis.dir().join("store-key");
    if !key.exists() {
        use base64::Engine;
        let bytes: [u8; 32] = rand::random();
        let text = base64::engine::general_purpose::STANDARD.encode(bytes);
        std::fs::write(&key, text).expect("write the store key");
    }
    format!(
        "kind = \"redis\"\nurl = \"{}\"\nkey_prefix = \"ts\"\nlock_ttl = \"2s\"\n\
         encryption_key_file = \"{}\"\n",
        redis.url(),
        key.display()
    )
}

/// `n` replicas of one configuration: user route `/u` (`x-token-user`), app route `/a`.
/// Their redirect URIs are the first one's, as behind one Service.
pub async fn replicas(n: usize, redis: &RedisServer, fake: &FakePlatform, up: &FakeUpstream) -> Vec<Proxy> {
    let body = format!(
        "{}{}{}",
        provider("tw", fake),
        route("/u", "tw", &up.url("/helix"), "token = \"user\""),
        route("/a", "tw", &up.url("/helix"), "token = \"app\""),
    );
    let first = Proxy::start_with_store("", &store(redis), &body).await;
    let public = format!("public_url = \"http://localhost:{}\"\n", first.admin.port());
    let mut all = vec![first];
    for _ in 1..n {
        all.push(Proxy::start_with_store(&public, &store(redis), &body).await);
    }
    all
}

/// `GET /u/users` as `user`.
pub async fn as_user(p: &Proxy, user: &str) -> reqwest::Response {
    p.http
        .get(p.url("/u/users"))
        .header("x-token-user", user)
        .send()
        .await
        .expect("the proxy answers")
}

/// Waits until `cond` holds for what `/admin/tokens` says of `tw`/`subject` (`Value::Null`
/// when it is not listed); panics after `within`.
pub async fn wait_token(p: &Proxy, subject: &str, within: Duration, cond: impl Fn(&Value) -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let tokens = p.tokens().await;
        let entry = tokens
            .as_array()
            .and_then(|ts| {
                ts.iter()
                    .find(|t| t["provider"] == "tw" && t["subject"] == subject)
            })
            .cloned()
            .unwrap_or(Value::Null);
        if cond(&entry) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{subject} on {}: {entry} after {within:?}",
            p.admin
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `series` reads `value` on `p`.
pub async fn wait_metric(p: &Proxy, series: &str, value: f64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while p.metric(series).await != Some(value) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{series} never reached {value}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
