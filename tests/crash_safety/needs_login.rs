//! A refused grant stays refused across restarts (issue 13; SPEC, "Token lifecycle": a
//! refused refresh "is not retried until a new login").
//!
//! The real binary holds the tokens of alice and bob (twitch). Alice disconnects the app at
//! the platform, so her next request's 401 leads to a refresh the platform refuses. The
//! process is then SIGKILLed and restarted, then SIGTERMed and restarted. After each start
//! the strict fake sees no refresh and no validation with alice's grant, nothing of hers is
//! injected, and every surface says `needs_login`: `token-sidecar tokens`, `/admin/tokens`,
//! the status page, `/readyz`, the 503 body and `token_sidecar_token_needs_login`. A new
//! login through the admin listener then makes her valid again.

use std::path::Path;
use std::process::Stdio;

use serde_json::Value;

use crate::harness::{provider, route};
use crate::process::*;
use crate::store::{login, write_store};
use crate::support::{FakePlatform, FakeUpstream, Kind};
use crate::*;

fn config(dir: &Path, fake: &FakePlatform, up: &FakeUpstream) -> std::path::PathBuf {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n\n\
         [store]\npath = \"tokens.json\"\n\n{}\n{}{}",
        provider(PROVIDER, fake),
        route(
            "/tw",
            PROVIDER,
            &up.url("/helix"),
            "token = \"user\"\nuser = \"alice\""
        ),
        route("/any", PROVIDER, &up.url("/helix"), "token = \"user\""),
    );
    let path = dir.join("proxy.toml");
    std::fs::write(&path, text).expect("write the config");
    path
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(WAIT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

/// `token-sidecar tokens`: alice's line.
async fn tokens_cli(config: &Path, user: &str) -> String {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_token-sidecar"));
    cmd.arg("tokens")
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .env_remove("TOKEN_SIDECAR_CONFIG");
    let out = tokio::time::timeout(WAIT, cmd.output())
        .await
        .expect("`tokens` ends in time")
        .expect("`tokens` runs");
    assert!(out.status.success(), "tokens: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(user))
        .unwrap_or_else(|| panic!("no line for {user}:\n{text}"))
        .to_string()
}

fn stored(dir: &Path, user: &str) -> Value {
    let store: Value =
        serde_json::from_slice(&std::fs::read(dir.join("tokens.json")).expect("the store")).expect("JSON");
    store["tokens"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["subject"] == user))
        .cloned()
        .unwrap_or_else(|| panic!("{user} is not stored: {store}"))
}

/// Every surface of the running process says alice `needs_login`; nothing calls the platform.
async fn assert_needs_login_everywhere(s: &Sidecar, config: &Path, fake: &FakePlatform, ctx: &str) {
    let http = http();
    let admin = |path: &str| format!("http://{}{path}", s.admin);
    let log = || log_text(&s.log);

    let tokens: Value = http
        .get(admin("/admin/tokens"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let alice = tokens
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["subject"] == "alice"))
        .unwrap_or_else(|| panic!("{ctx}: alice is not listed: {tokens}"));
    assert_eq!(alice["status"], "needs_login", "{ctx}: {tokens}\n{}", log());
    let bob = tokens
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["subject"] == "bob"));
    assert_eq!(
        bob.map(|b| &b["status"]),
        Some(&Value::from("valid")),
        "{ctx}: {tokens}"
    );

    let ready = http.get(admin("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503, "{ctx}");
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["missing"][0]["subject"], "alice", "{ctx}: {ready}");
    assert_eq!(ready["missing"][0]["status"], "needs_login", "{ctx}: {ready}");

    // The status page is served at public_url's host (http://localhost:PORT).
    let page = http
        .get(admin("/"))
        .header("host", format!("localhost:{}", s.admin.port()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let row = page
        .split("<tr")
        .find(|r| r.contains("alice"))
        .unwrap_or_else(|| panic!("{ctx}: no row for alice on the status page:\n{page}"));
    assert!(row.contains("needs_login"), "{ctx}: {row}");

    let metrics = http
        .get(admin("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!("token_sidecar_token_needs_login{{provider=\"{PROVIDER}\",subject=\"alice\"}} 1");
    assert!(
        metrics.lines().any(|l| l == series),
        "{ctx}: no {series:?}:\n{metrics}"
    );

    let resp = http
        .get(format!("http://{}/tw/users", s.proxy))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503, "{ctx}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "token_unavailable", "{ctx}: {body}");
    assert_eq!(body["status"], "needs_login", "{ctx}: {body}");
    let resp = http
        .get(format!("http://{}/any/users", s.proxy))
        .header("x-token-user", "alice")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503, "{ctx}");

    // Refreshing on demand is refused without asking the platform.
    let attempts = fake.attempts();
    let url = admin(&format!("/admin/tokens/{PROVIDER}/alice/refresh"));
    let resp = http.post(url).send().await.unwrap();
    assert_ne!(resp.status(), 200, "{ctx}");
    assert_eq!(fake.attempts(), attempts, "{ctx}: a refresh reached the platform");

    assert!(
        tokens_cli(config, "alice").await.contains("needs_login"),
        "{ctx}: token-sidecar tokens"
    );
}

/// Logs `user` in through the admin listener the way a browser does.
async fn browser_login(s: &Sidecar, fake: &FakePlatform, user: &str) {
    let http = http();
    let resp = http
        .get(format!("http://{}/oauth/{PROVIDER}/login?user={user}", s.admin))
        // As a browser at public_url (http://localhost:PORT) sends it.
        .header("host", format!("localhost:{}", s.admin.port()))
        .send()
        .await
        .expect("login answers");
    assert_eq!(resp.status(), 302, "login redirects");
    let location = resp.headers()["location"].to_str().expect("location").to_string();
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
    let mut req = http.get(callback);
    if !cookies.is_empty() {
        req = req.header("cookie", cookies.join("; "));
    }
    let resp = req.send().await.expect("callback answers");
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap_or_default());
}

/// Alice disconnects the app at the platform: her refresh token (and with it her access
/// tokens) is revoked.
async fn revoke_at_platform(fake: &FakePlatform, refresh_token: &str) {
    assert!(fake.disconnect(refresh_token), "the fake knows the grant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_grant_stays_refused_across_sigkill_and_sigterm_restarts() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), &fake, &up);
    let (alice, bob) = (login(&fake, "alice").await, login(&fake, "bob").await);
    write_store(&dir.path().join("tokens.json"), &[alice.clone(), bob]);
    let alice_rt = alice["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_string();

    let mut s = Sidecar::start(&config).await;
    // Both users are validated at start (Twitch requires it); alice's grant is then revoked.
    assert!(fake.wait_validations(2, WAIT).await, "validated at start");
    revoke_at_platform(&fake, &alice_rt).await;
    let resp = http()
        .get(format!("http://{}/tw/users", s.proxy))
        .send()
        .await
        .expect("the proxy answers");
    assert_ne!(resp.status(), 200);
    assert_eq!(
        fake.refused_refresh_tokens(),
        std::slice::from_ref(&alice_rt),
        "{}",
        log_text(&s.log)
    );
    // Stored before the request was answered.
    assert_eq!(stored(dir.path(), "alice")["needs_login"], true);
    // The refusal's log line says who refused what, and what the platform said.
    let host = fake
        .token_url()
        .trim_start_matches("http://")
        .split('/')
        .next()
        .map(String::from);
    let host = host.expect("the fake's host:port");
    let log = log_text(&s.log);
    let line = log
        .lines()
        .find(|l| l.contains("needs_login") && l.contains("alice"))
        .unwrap_or_else(|| panic!("no log line of the refusal:\n{log}"));
    for said in [host.as_str(), "HTTP 400", "Invalid refresh token"] {
        assert!(
            line.contains(said),
            "the refusal's log line does not say {said:?}: {line}"
        );
    }
    let attempts = fake.attempts();
    let upstream_calls = up.count();

    for (i, how) in ["SIGKILL", "SIGTERM"].into_iter().enumerate() {
        let ctx = format!("after {how} and a restart");
        if how == "SIGKILL" {
            s.kill(&ctx).await;
        } else {
            s.terminate(&ctx).await;
        }
        assert_eq!(stored(dir.path(), "alice")["needs_login"], true, "{ctx}");
        let validations = fake.validations();
        s = Sidecar::start(&config).await;
        // Validation at start runs user by user, alice before bob: once bob's is seen,
        // alice's turn has passed.
        assert!(
            fake.wait_validations(validations + 1, WAIT).await,
            "{ctx}: bob validated"
        );
        assert_needs_login_everywhere(&s, &config, &fake, &ctx).await;
        assert_eq!(
            fake.validations(),
            validations + 1,
            "{ctx}: alice's token was validated"
        );
        assert_eq!(
            fake.attempts(),
            attempts,
            "{ctx}: a token call reached the platform"
        );
        assert_eq!(fake.refused_refresh_tokens().len(), 1, "{ctx}: refused again");
        assert_eq!(up.count(), upstream_calls, "{ctx}: a request was forwarded ({i})");
    }

    // A new login clears it.
    browser_login(&s, &fake, "alice").await;
    let http = http();
    let resp = http
        .get(format!("http://{}/tw/users", s.proxy))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", log_text(&s.log));
    let ready = http
        .get(format!("http://{}/readyz", s.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(stored(dir.path(), "alice")["needs_login"], false);
    let metrics = http
        .get(format!("http://{}/metrics", s.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!("token_sidecar_token_needs_login{{provider=\"{PROVIDER}\",subject=\"alice\"}} 0");
    assert!(metrics.lines().any(|l| l == series), "{metrics}");
    s.terminate("after the new login").await;
    assert!(tokens_cli(&config, "alice").await.contains("valid"));
    assert!(fake.rejected().is_empty(), "{:?}", fake.rejected());
}
