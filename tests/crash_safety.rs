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

mod harness;
mod support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use harness::{provider, route};
use support::{FakePlatform, FakeUpstream, Kind, CLIENT_ID, CLIENT_SECRET};

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

/// SplitMix64: a small deterministic generator, seeded per iteration.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform enough in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

fn seed() -> u64 {
    match std::env::var("CRASH_SAFETY_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("CRASH_SAFETY_SEED={s:?}: {e}")),
        Err(_) => DEFAULT_SEED,
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The text without ANSI colour sequences (in case the log is coloured after all).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ parameters final-byte
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The address after `key` in a log line, text (`key=1.2.3.4:5`) or JSON (`"key":"1.2.3.4:5"`).
fn addr_after(line: &str, key: &str) -> Option<SocketAddr> {
    let rest = &line[line.find(key)? + key.len()..];
    let rest = rest.trim_start_matches(['"', '=', ':', ' ']);
    let end = rest
        .find(|c: char| !(c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '[' | ']')))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The running binary, its stderr collected for failure messages.
struct Sidecar {
    child: Child,
    proxy: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    reader: JoinHandle<()>,
}

fn log_text(log: &Mutex<Vec<String>>) -> String {
    let lines = log.lock().unwrap_or_else(|e| e.into_inner());
    let from = lines.len().saturating_sub(120);
    lines[from..].join("\n")
}

impl Sidecar {
    /// Starts `token-sidecar run --config config` and waits until it listens.
    async fn start(config: &Path) -> Sidecar {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_token-sidecar"));
        cmd.arg("run")
            .arg("--config")
            .arg(config)
            .env(
                "RUST_LOG",
                std::env::var("CRASH_SAFETY_RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // Hermetic: no configuration or proxy settings from the environment running the tests.
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy().to_ascii_uppercase();
            if k.starts_with("TOKEN_SIDECAR_") || k.ends_with("_PROXY") {
                cmd.env_remove(&key);
            }
        }
        let mut child = cmd.spawn().expect("spawn the token-sidecar binary");
        let stderr = child.stderr.take().expect("the child's stderr is piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = oneshot::channel::<SocketAddr>();
        let lines_log = Arc::clone(&log);
        let reader = tokio::spawn(async move {
            let mut tx = Some(tx);
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let line = strip_ansi(&line);
                if line.contains("token-sidecar listening") {
                    if let (Some(tx), Some(addr)) = (tx.take(), addr_after(&line, "proxy_addr")) {
                        let _ = tx.send(addr);
                    }
                }
                let mut log = lines_log.lock().unwrap_or_else(|e| e.into_inner());
                log.push(line);
            }
        });
        let proxy = match tokio::time::timeout(WAIT, rx).await {
            Ok(Ok(addr)) => addr,
            Ok(Err(_)) => {
                let _ = tokio::time::timeout(WAIT, reader).await;
                let status = child.try_wait().ok().flatten();
                panic!(
                    "token-sidecar ended ({status:?}) without logging its listening addresses:\n{}",
                    log_text(&log)
                );
            }
            Err(_) => panic!(
                "no \"token-sidecar listening\" log line with proxy_addr within {WAIT:?}:\n{}",
                log_text(&log)
            ),
        };
        Sidecar {
            child,
            proxy,
            log,
            reader,
        }
    }

    /// SIGKILLs the process (which must still be running) and waits for it to be gone.
    async fn kill(mut self, ctx: &str) -> Arc<Mutex<Vec<String>>> {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{ctx}: token-sidecar exited on its own ({status}) before the kill:\n{}",
                log_text(&self.log)
            );
        }
        self.child.start_kill().expect("send SIGKILL");
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("the killed process is reaped in time")
            .expect("wait for the killed process");
        assert_eq!(
            status.signal(),
            Some(9),
            "{ctx}: expected death by SIGKILL, got {status}"
        );
        let _ = tokio::time::timeout(WAIT, &mut self.reader).await;
        self.log
    }
}

/// Sends requests naming random users through the user route until aborted.
fn traffic(tasks: &mut JoinSet<()>, proxy: SocketAddr, seed: u64) {
    tasks.spawn(async move {
        let mut rng = Rng::new(seed);
        let http = match reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()
        {
            Ok(c) => c,
            Err(_) => return,
        };
        loop {
            let user = USERS[rng.between(0, USERS.len() as u64 - 1) as usize];
            let _ = http
                .get(format!("http://{proxy}/tw/users?login={user}"))
                .header("x-token-user", user)
                .send()
                .await;
            tokio::time::sleep(Duration::from_millis(rng.between(0, 4))).await;
        }
    });
}

/// A new grant for `user` (as if they had logged in again), as a store entry.
async fn login(fake: &FakePlatform, user: &str) -> Value {
    let code = fake.issue_user_code(user, REDIRECT_URI);
    let issued_at = unix_now();
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(WAIT)
        .build()
        .expect("an HTTP client");
    let resp = http
        .post(fake.token_url())
        .form(&[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
        ])
        .send()
        .await
        .expect("the fake answers the code exchange");
    assert_eq!(resp.status(), 200, "code exchange for {user}");
    let answer: Value = resp.json().await.expect("a JSON token answer");
    let field = |name: &str| {
        answer[name]
            .as_str()
            .unwrap_or_else(|| panic!("token answer without {name}: {answer}"))
            .to_string()
    };
    json!({
        "provider": PROVIDER,
        "subject": user,
        "kind": "user",
        "access_token": field("access_token"),
        "refresh_token": field("refresh_token"),
        "issued_at": issued_at,
        "lifetime": answer["expires_in"].as_f64().unwrap_or(LIFETIME_SECS as f64),
        "scopes": answer["scope"].clone(),
        "needs_login": false,
    })
}

/// Replaces the store with `tokens` (atomically; only while no proxy runs).
fn write_store(path: &Path, tokens: &[Value]) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("test-tmp");
    let bytes = serde_json::to_vec_pretty(&json!({"version": 1, "tokens": tokens})).expect("serialize");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .expect("create the store's temp file");
    file.write_all(&bytes).expect("write the store");
    file.sync_all().expect("sync the store");
    std::fs::rename(&tmp, path).expect("replace the store");
}

/// The access tokens the upstream was sent.
fn used_access_tokens(up: &FakeUpstream) -> HashSet<String> {
    up.requests()
        .iter()
        .filter_map(|r| r.headers.get("authorization")?.to_str().ok())
        .filter_map(|v| v.strip_prefix("Bearer "))
        .map(String::from)
        .collect()
}

/// What the check of one store found.
struct Checked {
    tokens: Vec<Value>,
    /// Users whose stored refresh token was spent by the refresh the crash interrupted.
    spent: Vec<String>,
}

/// Checks the store against the fake's books (see the module comment for the rule).
fn check_store(path: &Path, fake: &FakePlatform, used: &HashSet<String>, ctx: &str) -> Checked {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{ctx}: cannot read the store: {e}"));
    let store: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{ctx}: the store is not valid JSON ({e}):\n{}",
            String::from_utf8_lossy(&bytes)
        )
    });
    assert_eq!(store["version"], 1, "{ctx}: store version: {store}");
    let tokens = store["tokens"]
        .as_array()
        .unwrap_or_else(|| panic!("{ctx}: the store has no tokens array: {store}"))
        .clone();
    let mut spent = Vec::new();
    for user in USERS {
        let entry = tokens
            .iter()
            .find(|t| t["provider"] == PROVIDER && t["subject"] == user)
            .unwrap_or_else(|| panic!("{ctx}: no stored token for {user}: {store}"));
        assert_eq!(entry["kind"], "user", "{ctx}: {user}: {entry}");
        assert_ne!(
            entry["needs_login"], true,
            "{ctx}: {user}: stored as needs_login, the grant was refused: {entry}"
        );
        let access = entry["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{ctx}: {user}: no access_token: {entry}"));
        let refresh = entry["refresh_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{ctx}: {user}: no refresh_token: {entry}"));
        let history = fake.grant_history(refresh);
        let at = history
            .iter()
            .position(|(_, r)| r.as_deref() == Some(refresh))
            .unwrap_or_else(|| panic!("{ctx}: {user}: the platform never issued the stored refresh token"));
        assert_eq!(
            history[at].0, access,
            "{ctx}: {user}: the stored access token is not the one issued with the stored refresh token"
        );
        let age = fake
            .refresh_token_age(refresh)
            .unwrap_or_else(|| panic!("{ctx}: {user}: unknown refresh token"));
        match age {
            0 => {}
            1 => {
                // The crash fell between the platform's answer and the store write. The
                // stored refresh token is then the newest one used; the answer's access
                // token must not have been used.
                let newest_access = &history[history.len() - 1].0;
                assert!(
                    !used.contains(newest_access),
                    "{ctx}: {user}: the store holds the refresh token before the newest, yet the \
                     newest answer's access token already reached the upstream: the token was \
                     used before it was stored"
                );
                spent.push(user.to_string());
            }
            n => panic!(
                "{ctx}: {user}: the store fell back to a refresh token {n} rotations old; the \
                 ones after it were already used (grant history length {})",
                history.len()
            ),
        }
    }
    Checked { tokens, spent }
}

/// Waits until the fake and the upstream have handled everything the dead process sent.
async fn settle(fake: &FakePlatform, up: &FakeUpstream, ctx: &str) {
    assert!(
        fake.wait_idle(WAIT).await,
        "{ctx}: the fake platform does not go idle"
    );
    assert!(
        up.wait_idle(WAIT).await,
        "{ctx}: the fake upstream does not go idle"
    );
}

/// Shape rejections other than bodies cut short by the kill (a well-behaved client killed
/// in the middle of a write).
fn shape_rejections(fake: &FakePlatform) -> Vec<String> {
    fake.rejected()
        .into_iter()
        .filter(|r| !r.contains("could not read the request body"))
        .collect()
}

fn setup_config(dir: &Path, fake: &FakePlatform, up: &FakeUpstream) -> PathBuf {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n\n\
         [store]\npath = \"tokens.json\"\n\n{}\n{}",
        provider(PROVIDER, fake),
        route("/tw", PROVIDER, &up.url("/helix"), "token = \"user\""),
    );
    let path = dir.join("proxy.toml");
    std::fs::write(&path, text).expect("write the config");
    path
}

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
        let right_after_an_answer = rng.next() % 2 == 0;
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
