//! Crash safety (SPEC, "Token lifecycle"): "Every token answer is written to the store
//! (atomic replace, flushed to disk) before the new access token is used. A crash at any
//! instant leaves the store readable and holding a refresh token no older than the newest
//! one already used."
//!
//! The real binary (`token-sidecar run`) runs against a fake Twitch that rotates the refresh
//! token on every refresh and refuses a used one, with six users whose one-second tokens it
//! refreshes about twice a second each (and at once after each start, when Twitch's validate
//! says little time is left), while six request loops send traffic naming those users through
//! a user route to an upstream that accepts only tokens the fake considers valid. It is
//! SIGKILLed thirty times, after a random downtime restarted with the same configuration and
//! store: about half the kills at a random instant 100-900 ms after the start, the others
//! 0-30 ms after the fake has answered a refresh (the answer is then on its way to the
//! proxy, being written to the store, or just written and in use). After each kill, once the
//! fake and the upstream have handled everything the dead process had sent, the store must
//! parse and, for each user:
//!
//! - the stored access and refresh tokens come from one and the same token answer;
//! - age 0: the stored refresh token is the newest of its grant. Always fine;
//! - age 1: it is the one before the newest. The newest has never been sent (a sent one has
//!   a successor), so the newest refresh token *used* is the stored one, which the SPEC's
//!   "no older than the newest one already used" allows: the crash fell between the
//!   platform's answer and the store write. By "written ... before the new access token is
//!   used", the access token of that newest answer must then never have reached the upstream;
//! - age 2 or more: the one after the stored token was itself used (it has a successor), so
//!   the store is older than the newest refresh token used. Always a failure.
//!
//! An age-1 crash loses the grant (its stored refresh token was spent by the dead process),
//! which the SPEC accepts; the test then logs that user in again, exchanging a new code and
//! writing it into the store while no proxy runs, and counts it. Besides, the platform must
//! never be sent an already used refresh token: the proxy may only send one it got from a
//! token answer and has not sent before, and with the re-logins no restart starts from a
//! spent one. At the end the binary starts once more: every user's grant must rotate again
//! and every user's request must reach the upstream with 200.
//!
//! `CRASH_SAFETY_SEED=<n>` replays or varies the schedule; `CRASH_SAFETY_RUST_LOG` sets the
//! binary's `RUST_LOG` (default `info`), whose last lines failure messages include.
#![cfg(unix)]

#[path = "../harness/mod.rs"]
mod harness;
#[path = "../support/mod.rs"]
mod support;

mod needs_login;
mod process;
mod sigterm;
mod store;

use process::*;
use store::*;

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinSet;
use tokio::time::Instant;

use support::{FakePlatform, FakeUpstream, Kind};

/// Bound on every single wait.
const WAIT: Duration = Duration::from_secs(10);
const PROVIDER: &str = "tw";
const USERS: [&str; 6] = ["alice", "bob", "carol", "dave", "erin", "frank"];
/// Access-token lifetime the fake grants: the proxy refreshes after half of it.
const LIFETIME_SECS: u64 = 1;
const KILLS: u64 = 30;
/// Concurrent request loops while the proxy runs.
const TRAFFIC_TASKS: u64 = 6;
const REDIRECT_URI: &str = "http://localhost/oauth/tw/callback";
/// `CRASH_SAFETY_SEED=<n>` replaces it, to replay or vary the schedule.
const DEFAULT_SEED: u64 = 0x5eed_c0de_2024_0001;
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_refresh_heavy_traffic_never_loses_or_rewinds_the_store() {
    let seed = seed();
    let started = std::time::Instant::now();
    let fake = FakePlatform::start(Kind::Twitch).await;
    fake.set_expires_in(LIFETIME_SECS);
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = setup_config(dir.path(), &fake, &up);
    let store = dir.path().join("tokens.json");

    let mut tokens = Vec::new();
    for user in USERS {
        tokens.push(login(&fake, user).await);
    }
    write_store(&store, &tokens);

    let mut relogins = 0;
    let mut kinds = [0u32; 2];
    for i in 0..KILLS {
        let mut rng = Rng::new(seed ^ i.wrapping_mul(0x2545_f491_4f6c_dd1d));
        let ctx = format!("kill {i} (seed {seed})");
        // Down for a while, as a crash-looping process would be: the restored tokens are then
        // fresh, due for refresh, or expired.
        let down = Duration::from_millis(rng.between(0, 1200));
        tokio::time::sleep(down).await;
        let store_before = read_refresh_tokens(&store);
        let before = fake.requests("refresh_token");
        let t0 = Instant::now();
        let sidecar = Sidecar::start(&config).await;
        let mut load = JoinSet::new();
        for t in 0..TRAFFIC_TASKS {
            traffic(&mut load, sidecar.proxy, rng.next() ^ t);
        }
        let right_after_an_answer = rng.next().is_multiple_of(2);
        if right_after_an_answer {
            // Kill 0-30 ms (mostly less) after the platform has answered a refresh: the answer
            // is then on its way to the proxy, being written to the store, or just written and
            // in use.
            let n = rng.between(1, 4) as usize;
            let after = Duration::from_millis(rng.between(0, 3) * rng.between(0, 10));
            assert!(
                fake.wait_requests("refresh_token", before + n, WAIT).await,
                "{ctx}: the proxy made no {n} refreshes:\n{}",
                log_text(&sidecar.log)
            );
            tokio::time::sleep(after).await;
        } else {
            let at = t0 + Duration::from_millis(rng.between(100, 900));
            assert!(
                fake.wait_requests("refresh_token", before + 1, WAIT).await,
                "{ctx}: the proxy made no refresh:\n{}",
                log_text(&sidecar.log)
            );
            tokio::time::sleep_until(at).await;
        }
        kinds[usize::from(right_after_an_answer)] += 1;
        let log = sidecar.kill(&ctx).await;
        load.shutdown().await;
        settle(&fake, &up, &ctx).await;

        let used = used_access_tokens(&up);
        let checked = check_store(&store, &fake, &used, &ctx);
        assert_none_refused(&fake, &store_before, &ctx, &log);
        eprintln!(
            "{ctx}: down {down:?}, killed {} after {:?}, refreshes {before} -> {}, spent grants: {:?}",
            if right_after_an_answer {
                "right after an answer"
            } else {
                "at a random instant"
            },
            t0.elapsed(),
            fake.requests("refresh_token"),
            checked.spent
        );
        if !checked.spent.is_empty() {
            // Those grants are gone (as the SPEC allows): log the users in again.
            let mut tokens = checked.tokens;
            for user in &checked.spent {
                let fresh = login(&fake, user).await;
                if let Some(slot) = tokens.iter_mut().find(|t| t["subject"] == user.as_str()) {
                    *slot = fresh;
                }
                relogins += 1;
            }
            write_store(&store, &tokens);
        }
    }

    // A last run: every grant keeps rotating and every user's token reaches the upstream.
    let at_start = read_refresh_tokens(&store);
    let sidecar = Sidecar::start(&config).await;
    let grown = |fake: &FakePlatform| {
        at_start
            .iter()
            .all(|rt| fake.refresh_token_age(rt).is_some_and(|age| age >= 1))
    };
    let deadline = Instant::now() + WAIT;
    while !grown(&fake) {
        let now = fake.requests("refresh_token");
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero() && fake.wait_requests("refresh_token", now + 1, left).await,
            "after the last restart not every user's grant was refreshed:\n{}",
            log_text(&sidecar.log)
        );
    }
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(WAIT)
        .build()
        .expect("an HTTP client");
    for user in USERS {
        let resp = http
            .get(format!("http://{}/tw/users?login={user}", sidecar.proxy))
            .header("x-token-user", user)
            .send()
            .await
            .expect("the proxy answers");
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        assert_eq!(
            status,
            200,
            "{user} after the last restart: {body}\n{}",
            log_text(&sidecar.log)
        );
    }
    drop(http);
    let log = sidecar.kill("final kill").await;
    settle(&fake, &up, "final kill").await;
    let checked = check_store(&store, &fake, &used_access_tokens(&up), "final kill");
    assert_none_refused(&fake, &at_start, "final run", &log);
    assert!(
        shape_rejections(&fake).is_empty(),
        "malformed token calls: {:?}",
        fake.rejected()
    );
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "tokens.json" && n != "proxy.toml")
                .collect()
        })
        .unwrap_or_default();
    eprintln!(
        "crash_safety: files left beside the store: {leftovers:?}\n\
         crash_safety: seed {seed}, {KILLS} kills ({} right after a refresh answer, {} at a random \
         instant), {} refreshes, {} re-logins after a crash between answer and store write \
         (+{} at the final kill), {} upstream requests, {:.1?}",
        kinds[1],
        kinds[0],
        fake.requests("refresh_token"),
        relogins,
        checked.spent.len(),
        up.count(),
        started.elapsed()
    );
}

/// Fails if the platform refused any refresh token, saying for each whose it was, how many
/// rotations old, and whether it was the one the store held when the run started.
fn assert_none_refused(fake: &FakePlatform, stored_at_start: &[String], ctx: &str, log: &Mutex<Vec<String>>) {
    let refused = fake.refused_refresh_tokens();
    if refused.is_empty() {
        return;
    }
    let described: Vec<String> = refused
        .iter()
        .map(|rt| {
            let history = fake.grant_history(rt);
            let user = USERS
                .iter()
                .zip(stored_at_start)
                .find(|(_, s)| history.iter().any(|(_, r)| r.as_ref() == Some(*s)))
                .map_or("?", |(u, _)| *u);
            let age = fake.refresh_token_age(rt);
            let stored = stored_at_start.contains(rt);
            format!("{user}: age {age:?}, the one stored at the start of the run: {stored}")
        })
        .collect();
    panic!(
        "{ctx}: the platform was sent refresh token(s) already used: {described:?} ({:?})\nproxy log:\n{}",
        fake.refused(),
        log_text(log)
    );
}

/// The refresh token of every user in the store.
fn read_refresh_tokens(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).expect("read the store");
    let store: Value = serde_json::from_slice(&bytes).expect("the store parses");
    USERS
        .iter()
        .map(|user| {
            store["tokens"]
                .as_array()
                .and_then(|ts| ts.iter().find(|t| t["subject"] == *user))
                .and_then(|t| t["refresh_token"].as_str())
                .unwrap_or_else(|| panic!("no refresh token for {user} in the store"))
                .to_string()
        })
        .collect()
}
