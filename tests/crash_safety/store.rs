//! Traffic, logins written into the store, and the checks of the store after a kill.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::task::JoinSet;

use crate::harness::{provider, route};
use crate::process::*;
use crate::support::{FakePlatform, FakeUpstream, CLIENT_ID, CLIENT_SECRET};
use crate::*;

/// Sends requests naming random users through the user route until aborted.
pub(crate) fn traffic(tasks: &mut JoinSet<()>, proxy: SocketAddr, seed: u64) {
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
pub(crate) async fn login(fake: &FakePlatform, user: &str) -> Value {
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
pub(crate) fn write_store(path: &Path, tokens: &[Value]) {
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
pub(crate) fn used_access_tokens(up: &FakeUpstream) -> HashSet<String> {
    up.requests()
        .iter()
        .filter_map(|r| r.headers.get("authorization")?.to_str().ok())
        .filter_map(|v| v.strip_prefix("Bearer "))
        .map(String::from)
        .collect()
}

/// What the check of one store found.
pub(crate) struct Checked {
    pub(crate) tokens: Vec<Value>,
    /// Users whose stored refresh token was spent by the refresh the crash interrupted.
    pub(crate) spent: Vec<String>,
}

/// Checks the store against the fake's books (see the module comment for the rule).
pub(crate) fn check_store(path: &Path, fake: &FakePlatform, used: &HashSet<String>, ctx: &str) -> Checked {
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
pub(crate) async fn settle(fake: &FakePlatform, up: &FakeUpstream, ctx: &str) {
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
pub(crate) fn shape_rejections(fake: &FakePlatform) -> Vec<String> {
    fake.rejected()
        .into_iter()
        .filter(|r| !r.contains("could not read the request body"))
        .collect()
}

pub(crate) fn setup_config(dir: &Path, fake: &FakePlatform, up: &FakeUpstream) -> PathBuf {
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
