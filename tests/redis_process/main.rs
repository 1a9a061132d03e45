//! Five real sidecar processes, one real Redis (SPEC, "Several replicas: the Redis store";
//! issue 8). A fake Twitch that rotates refresh tokens on every refresh and refuses a spent
//! one, ten-second tokens, and about thirty seconds of traffic to every live replica for
//! two users and the app token. During it:
//!
//! - the replica that is refreshing is SIGKILLed mid-call (its call parked at the platform,
//!   then lost): another replica completes the rotation once the dead one's lease lapses;
//! - a replica holding a user token's lock is SIGSTOPped past its lease while its call is
//!   lost, another rotates, and after SIGCONT it presents nothing spent and serves the new
//!   token;
//! - a replica holding the app token's lock is SIGSTOPped after the platform answered it,
//!   another fetches and stores a newer token, and after SIGCONT the stalled one's save is
//!   refused (fenced): it adopts the stored token, which stays;
//! - Redis is SIGKILLed and restarted on its append-only file, and a new replica is started
//!   while it is down: it comes up, and is ready once Redis returns.
//!
//! At the end: no request to a live replica failed, no refresh token was presented twice
//! (each rotation was one refresh), Redis holds each grant's newest refresh token, and no
//! log holds a token, the client secret or the Redis password.
// Linux: a stopped replica is told from /proc.
#![cfg(target_os = "linux")]

#[path = "../harness/mod.rs"]
mod harness;
#[allow(dead_code)]
#[path = "../crash_safety/process.rs"]
mod process;
#[allow(dead_code)]
#[path = "../crash_safety/store.rs"]
mod store;
#[path = "../support/mod.rs"]
mod support;

mod fleet;
mod scenarios;

use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::redis_server::RedisServer;
use harness::{provider, route};
use support::{FakePlatform, FakeUpstream, Kind, CLIENT_SECRET};

/// Bound on every single wait.
const WAIT: Duration = Duration::from_secs(15);
const PROVIDER: &str = "tw";
/// Imported from a file store; `LOGGED_IN` logs in through the replicas.
const USERS: [&str; 2] = ["alice", "bob"];
const LOGGED_IN: &str = "carol";
const LIFETIME_SECS: u64 = 10;
const REDIRECT_URI: &str = "http://localhost/oauth/tw/callback";
const DEFAULT_SEED: u64 = 0x5eed_5eed;
const REDIS_PASSWORD: &str = "redis-password-not-for-logs";
/// Where a browser reaches the replicas (a Service in front of them would be): the tests
/// send its requests to one replica or another with this `Host`.
const PUBLIC: &str = "http://localhost:9";

fn config(dir: &Path, redis: &RedisServer, fake: &FakePlatform, up: &FakeUpstream) -> PathBuf {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nconnect_timeout = \"1s\"\n\
         public_url = \"{PUBLIC}\"\n\n\
         [store]\nkind = \"redis\"\nurl_file = \"redis-url\"\nkey_prefix = \"ts\"\nlock_ttl = \"1s\"\n\n{}\n{}{}{}",
        provider(PROVIDER, fake),
        route("/tw", PROVIDER, &up.url("/helix"), "token = \"user\""),
        route("/app", PROVIDER, &up.url("/helix"), "token = \"app\""),
        route("/me", PROVIDER, &up.url("/helix"), "token = \"user\"\nuser = \"alice\""),
    );
    std::fs::write(dir.join("redis-url"), redis.url()).expect("write the URL file");
    let path = dir.join("proxy.toml");
    std::fs::write(&path, text).expect("write the config");
    path
}

/// `token-sidecar ARGS --config CONFIG`: its output.
fn command(config: &Path, args: &[&std::ffi::OsStr]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_token-sidecar"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("TOKEN_SIDECAR_CONFIG")
        .output()
        .expect("run store import");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{args:?}: {text}");
    text
}

/// `token-sidecar store import FILE`: its output.
fn import(config: &Path, file: &Path) -> String {
    command(config, &["store".as_ref(), "import".as_ref(), file.as_os_str()])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis-server"]
async fn five_replicas_share_one_grant_through_kills_stalls_and_a_redis_restart() {
    let mut redis = RedisServer::with_password(REDIS_PASSWORD);
    let fake = FakePlatform::start(Kind::Twitch).await;
    fake.set_expires_in(LIFETIME_SECS);
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), &redis, &fake, &up);

    // The users' grants come from a file store, imported into Redis.
    let mut tokens = Vec::new();
    for (i, user) in USERS.into_iter().enumerate() {
        let mut token = store::login(&fake, user).await;
        // Each user's refreshes fall half a period apart from the other's, so that a replica
        // killed mid-call has only the parked call under way (a call the platform answered
        // and whose answer died with the process loses its grant: nothing can store it).
        let issued = token["issued_at"].as_f64().unwrap_or_default();
        token["issued_at"] = (issued - i as f64 * LIFETIME_SECS as f64 / 4.0).into();
        tokens.push(token);
    }
    let file = dir.path().join("tokens.json");
    store::write_store(&file, &tokens);
    let said = import(&config, &file);
    assert!(said.contains("2 copied, 0 kept"), "{said}");
    let said = import(&config, &file);
    assert!(
        said.contains("0 copied, 2 kept"),
        "a newer token already there is kept: {said}"
    );

    let listed = command(&config, &["tokens".as_ref()]);
    for user in USERS {
        assert!(
            listed.lines().any(|l| l.contains(user) && l.contains("valid")),
            "token-sidecar tokens lists what Redis holds: {listed}"
        );
    }

    let mut fleet = fleet::Fleet::start(&config, 5).await;
    // A login started on one replica, its callback reaching another: served by all.
    let code = scenarios::login_across(&fleet, &fake, 0, 1, LOGGED_IN).await;
    scenarios::served_by_all(&fleet, LOGGED_IN).await;
    fleet.run_traffic(6);
    tokio::time::sleep(Duration::from_secs(3)).await;

    scenarios::kill_mid_refresh(&mut fleet, &fake, &redis).await;
    scenarios::stall_a_user_token_holder(&mut fleet, &fake, &up, &redis).await;
    scenarios::stall_an_app_token_holder(&mut fleet, &fake, &redis).await;
    scenarios::restart_redis_and_start_a_replica_meanwhile(&mut fleet, &mut redis).await;
    fleet.keep_going_until(Duration::from_secs(30)).await;

    let report = fleet.stop_traffic().await;
    let spent = fake.refused_refresh_tokens();
    if !report.failed.is_empty() || !spent.is_empty() {
        // The logs say what happened: every line but the failed requests' own.
        let logs: Vec<String> = fleet
            .stop()
            .await
            .into_iter()
            .filter(|l| !l.contains("request failed"))
            .collect();
        let tail = logs.len().saturating_sub(400);
        let first = &report.failed[..report.failed.len().min(3)];
        panic!(
            "{} failed requests (the first: {first:#?}); spent refresh tokens presented: {:?}\nlogs:\n{}",
            report.failed.len(),
            fake.refused(),
            logs[tail..].join("\n")
        );
    }
    assert!(report.served > 1000, "{} requests served", report.served);
    let logs = fleet.stop().await;
    scenarios::settle_and_check_the_store(&fake, &up, &redis, &logs).await;
    let rejected = store::shape_rejections(&fake);
    assert!(rejected.is_empty(), "malformed token calls: {rejected:?}");
    scenarios::assert_nothing_secret_in(&logs, &fake, &up, &[CLIENT_SECRET, REDIS_PASSWORD, &code]);
    eprintln!(
        "redis_process: {} requests served, {} refreshes, {} client-credentials calls",
        report.served,
        fake.requests("refresh_token"),
        fake.requests("client_credentials")
    );
}
