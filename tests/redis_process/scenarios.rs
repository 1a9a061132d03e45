//! What happens to the fleet during the traffic, and the checks at the end.

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::fleet::Fleet;
use crate::harness::redis_server::RedisServer;
use crate::support::{FakePlatform, FakeUpstream};
use crate::{LOGGED_IN, USERS, WAIT};

/// Logs `user` in: the login started on replica `start`, the platform's callback reaching
/// replica `finish` (both at the public URL's host, as through a Service). Returns the
/// authorization code the callback carried.
pub async fn login_across(
    fleet: &Fleet,
    fake: &FakePlatform,
    start: usize,
    finish: usize,
    user: &str,
) -> String {
    let host = crate::PUBLIC.trim_start_matches("http://");
    let browser = reqwest::Client::builder()
        .no_proxy()
        .timeout(WAIT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = browser
        .get(format!(
            "http://{}/oauth/tw/login?user={user}",
            fleet.member(start).admin
        ))
        .header("host", host)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302, "{}", resp.text().await.unwrap_or_default());
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let cookies: Vec<String> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(String::from))
        .collect();
    let callback = url::Url::parse(&fake.follow_authorize(&location).await.unwrap()).unwrap();
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code");
    let resp = browser
        .get(format!(
            "http://{}{}?{}",
            fleet.member(finish).admin,
            callback.path(),
            callback.query().unwrap_or_default()
        ))
        .header("host", host)
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap_or_default());
    code
}

/// Every running replica serves `user`'s token within a second.
pub async fn served_by_all(fleet: &Fleet, user: &str) {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(WAIT)
        .build()
        .unwrap();
    for m in fleet.members.iter().flatten() {
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            let resp = http
                .get(format!("http://{}/tw/users?login={user}", m.sidecar.proxy))
                .header("x-token-user", user)
                .send()
                .await
                .unwrap();
            if resp.status() == 200 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{user} not served by {} within a second",
                m.sidecar.proxy
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The record Redis holds for `subject`.
fn stored(redis: &RedisServer, subject: &str) -> Option<(u64, Value)> {
    let key = format!("ts:token:tw:{subject}");
    let (v, d): (Option<u64>, Option<String>) = redis.cmd(&["HMGET", &key, "v", "d"]);
    Some((v?, serde_json::from_str(&d?).ok()?))
}

/// The user whose stored grant holds refresh token `rt`.
fn user_of(redis: &RedisServer, rt: &str) -> Option<&'static str> {
    USERS
        .iter()
        .copied()
        .chain([LOGGED_IN])
        .find(|u| stored(redis, u).is_some_and(|(_, d)| d["refresh_token"] == rt))
}

/// The pid of the replica holding `subject`'s lock: owners are `host/pid/random`.
fn lock_holder(redis: &RedisServer, subject: &str) -> Option<u32> {
    let owner: Option<String> = redis.cmd(&["GET", &format!("ts:lock:tw:{subject}")]);
    owner?.split('/').nth(1)?.parse().ok()
}

/// Waits until `cond`, at most `WAIT`; panics with `what`.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Parks the next refresh at the platform; returns (its refresh token, whose, which replica).
async fn park_a_refresh(
    fleet: &Fleet,
    fake: &FakePlatform,
    redis: &RedisServer,
) -> (String, &'static str, usize) {
    fake.hold_next("refresh_token");
    let rt = fake
        .held(WAIT * 2)
        .await
        .expect("a refresh is parked at the platform");
    let user = user_of(redis, &rt).expect("the parked refresh token is a stored grant's");
    let pid = lock_holder(redis, user).expect("the refreshing replica holds the lock");
    let i = fleet
        .index_of(pid)
        .expect("the lock holder is one of the replicas");
    (rt, user, i)
}

/// The replica refreshing a grant is SIGKILLed mid-call (its call then lost): another
/// replica completes the rotation, from the same (unspent) refresh token.
pub async fn kill_mid_refresh(fleet: &mut Fleet, fake: &FakePlatform, redis: &RedisServer) {
    let (rt, user, i) = park_a_refresh(fleet, fake, redis).await;
    fleet.kill(i, "SIGKILL mid-refresh").await;
    fake.release_held(true);
    until(&format!("{user}'s grant rotated by another replica"), || {
        fake.refresh_token_age(&rt).is_some_and(|age| age >= 1)
    })
    .await;
    eprintln!("redis_process: replica {i} killed while refreshing {user}; another completed it");
    let replacement = fleet.spawn().await;
    fleet.add(replacement);
}

/// The replica holding a user token's lock is stopped past its lease while its call is
/// lost; another rotates; once continued, it presents nothing spent and serves the newer
/// token.
pub async fn stall_a_user_token_holder(
    fleet: &mut Fleet,
    fake: &FakePlatform,
    up: &FakeUpstream,
    redis: &RedisServer,
) {
    let (rt, user, i) = park_a_refresh(fleet, fake, redis).await;
    fleet.drain(i).await;
    fleet.sigstop(i).await;
    fake.release_held(true);
    until(
        &format!("{user}'s grant rotated while replica {i} is stopped"),
        || fake.refresh_token_age(&rt).is_some_and(|age| age >= 1),
    )
    .await;
    let rotated_at = fake
        .grant_history(&rt)
        .iter()
        .position(|(_, r)| r.as_deref() == Some(rt.as_str()))
        .expect("in its grant's history")
        + 1;
    fleet.sigcont(i);
    // It now injects a token of the rotation it missed (or a later one).
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(WAIT)
        .build()
        .unwrap();
    let deadline = Instant::now() + WAIT;
    for probe in 0.. {
        let query = format!("probe={i}-{probe}");
        let url = format!("http://{}/tw/users?{query}", fleet.member(i).proxy);
        let resp = http.get(url).header("x-token-user", user).send().await.unwrap();
        assert_eq!(resp.status(), 200, "replica {i} after SIGCONT:\n{}", fleet.log(i));
        let used = injected(up, &query);
        let history = fake.grant_history(&rt);
        if history.iter().position(|(a, _)| Some(a) == used.as_ref()) >= Some(rotated_at) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "replica {i} kept the old token:\n{}",
            fleet.log(i)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fleet.resume(i);
    eprintln!("redis_process: replica {i} stopped holding {user}'s lock; another rotated; it follows");
}

/// The token the upstream was sent with the request whose query is `query`.
fn injected(up: &FakeUpstream, query: &str) -> Option<String> {
    let r = up
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.query.as_deref() == Some(query))?;
    let auth = r.headers.get("authorization")?.to_str().ok()?;
    Some(auth.trim_start_matches("Bearer ").to_string())
}

/// The replica holding the app token's lock is stopped after the platform answered it;
/// another fetches and stores a newer one; once continued, the stalled replica's save is
/// refused (fenced) and it adopts the stored token, which stays.
pub async fn stall_an_app_token_holder(fleet: &mut Fleet, fake: &FakePlatform, redis: &RedisServer) {
    fake.hold_next("client_credentials");
    fake.held(WAIT * 2).await.expect("an app-token call is parked");
    let pid = lock_holder(redis, "app").expect("the fetching replica holds the lock");
    let i = fleet.index_of(pid).expect("one of the replicas");
    let (before, _) = stored(redis, "app").expect("an app token is stored");
    let calls = fake.requests("client_credentials");
    fleet.drain(i).await;
    fleet.sigstop(i).await;
    // The platform answers the stopped replica: its answer waits in its socket.
    fake.release_held(false);
    until("the stopped replica's call answered", || {
        fake.requests("client_credentials") > calls
    })
    .await;
    // Another replica takes the lapsed lock over and stores a newer token.
    until("another replica stored a newer app token", || {
        stored(redis, "app").is_some_and(|(v, _)| v > before)
    })
    .await;
    let (theirs, record) = stored(redis, "app").unwrap();
    fleet.sigcont(i);
    let fenced = "another replica stored a newer token first";
    let deadline = Instant::now() + WAIT;
    while !fleet
        .log(i)
        .lines()
        .any(|l| l.contains(fenced) && l.contains("subject=app"))
    {
        assert!(
            Instant::now() < deadline,
            "replica {i} was not fenced:\n{}\nabout the app token:\n{}",
            fleet.log(i),
            fleet.grep("subject=app")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (now, now_record) = stored(redis, "app").unwrap();
    assert!(
        now == theirs || now_record["access_token"] != record["access_token"] && now > theirs,
        "the fenced replica's token was not stored over the newer one"
    );
    fleet.resume(i);
    eprintln!("redis_process: replica {i} stopped holding the app token's lock; its save was fenced");
}

/// Redis is SIGKILLed; a replica started meanwhile comes up and is ready once Redis is back
/// on its append-only file; every replica recovers by itself.
pub async fn restart_redis_and_start_a_replica_meanwhile(fleet: &mut Fleet, redis: &mut RedisServer) {
    redis.kill();
    let late = fleet.spawn().await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(WAIT)
        .build()
        .unwrap();
    let admin = late.admin;
    let get = |path: &'static str| {
        let http = http.clone();
        async move { http.get(format!("http://{admin}{path}")).send().await.unwrap() }
    };
    assert_eq!(get("/healthz").await.status(), 200);
    assert_eq!(
        get("/readyz").await.status(),
        503,
        "alice (route /me) is not known yet"
    );
    let metrics = get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l == "token_sidecar_store_up 0"),
        "{metrics}"
    );
    redis.restart();
    let deadline = Instant::now() + WAIT;
    while get("/readyz").await.status() != 200 {
        assert!(
            Instant::now() < deadline,
            "not ready after Redis returned:\n{}",
            crate::process::log_text(&late.log)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fleet.add(late);
    for i in 0..fleet.members.len() {
        if fleet.members[i].is_none() {
            continue;
        }
        let admin = fleet.member(i).admin;
        let deadline = Instant::now() + WAIT;
        loop {
            let m = http
                .get(format!("http://{admin}/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if m.lines().any(|l| l == "token_sidecar_store_up 1") {
                break;
            }
            assert!(Instant::now() < deadline, "replica {i} never saw Redis again");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    eprintln!("redis_process: Redis restarted on its AOF; a replica started meanwhile became ready");
}

/// Once everything is idle, Redis holds each grant's newest token. `logs`: every replica's,
/// for the failure message.
pub async fn settle_and_check_the_store(
    fake: &FakePlatform,
    up: &FakeUpstream,
    redis: &RedisServer,
    logs: &[String],
) {
    assert!(fake.wait_idle(WAIT).await, "the platform goes idle");
    assert!(up.wait_idle(WAIT).await, "the upstream goes idle");
    for user in USERS.into_iter().chain([LOGGED_IN]) {
        // What the replicas said about this grant, and when each stopped: a rotation whose
        // answer was not stored shows there.
        let about = || {
            let subject = format!("subject={user}");
            logs.iter()
                .filter(|l| l.contains(&subject) || l.contains("stopped"))
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        };
        let (_, d) = stored(redis, user).unwrap_or_else(|| panic!("{user} is stored"));
        let rt = d["refresh_token"].as_str().expect("a refresh token in the clear");
        assert_eq!(
            fake.refresh_token_age(rt),
            Some(0),
            "{user}: Redis holds the newest refresh token of the grant; the logs:\n{}",
            about()
        );
        let newest = fake.grant_history(rt).last().cloned().unwrap();
        assert_eq!(d["access_token"], newest.0, "{user}: and its access token");
    }
}

/// No log line holds a token the platform issued, a token the upstream saw, or `extra`.
pub fn assert_nothing_secret_in(logs: &[String], fake: &FakePlatform, up: &FakeUpstream, extra: &[&str]) {
    let mut secrets: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    for r in up.requests() {
        if let Some(a) = r.headers.get("authorization").and_then(|v| v.to_str().ok()) {
            secrets.push(a.trim_start_matches("Bearer ").to_string());
            for (access, refresh) in fake.grant_history(a.trim_start_matches("Bearer ")) {
                secrets.push(access);
                secrets.extend(refresh);
            }
        }
    }
    secrets.sort();
    secrets.dedup();
    assert!(secrets.len() > 10, "{} secrets to look for", secrets.len());
    for line in logs {
        for s in &secrets {
            assert!(!line.contains(s.as_str()), "a secret in the log: {line}");
        }
    }
}
