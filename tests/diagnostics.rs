//! When something fails, say why (SPEC; issue 10 points 2 and 3): a failing token is
//! explained the same way in the log line, the 503 body (`reason`, `retry_at`), `/readyz` and
//! `/admin/tokens` (`last_error`, `retry_at`) — the endpoint's host, the HTTP status or the
//! transport failure with its cause chain, what the platform said, and when the next attempt
//! is due. A user no one logged in is `not_connected`, not `needs_login`.
//!
//! Wording is asserted loosely: the host, the status, the platform's text.
//!
//! This binary installs the global tracing subscriber (once, for all its tests); each test
//! finds its own log lines by the host:port of its own fake.

mod harness;
mod support;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use harness::tls::{tls_server_with, Cert};
use harness::{provider, route, Proxy, WAIT};
use serde_json::{json, Value};
use support::{Failure, FakePlatform, FakeUpstream, Kind};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The log of this test binary's proxies so far.
fn log() -> String {
    static LOG: OnceLock<Capture> = OnceLock::new();
    let capture = LOG.get_or_init(|| {
        let capture = Capture::default();
        let writer = capture.clone();
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("token_sidecar=info"))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        capture
    });
    String::from_utf8_lossy(&capture.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}

/// `host:port` of a URL.
fn host_of(url: &str) -> String {
    let url = url::Url::parse(url).expect("a URL");
    format!(
        "{}:{}",
        url.host_str().expect("a host"),
        url.port().expect("a port")
    )
}

/// Asserts `text` says each of `words` (case-insensitively).
fn says(text: &str, words: &[&str], what: &str) {
    let lower = text.to_lowercase();
    for w in words {
        assert!(
            lower.contains(&w.to_lowercase()),
            "{what} does not say {w:?}: {text}"
        );
    }
}

fn rfc3339(value: &Value, what: &str) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no retry_at: {value}"));
    humantime::parse_rfc3339(text).unwrap_or_else(|e| panic!("{what}: retry_at {text:?}: {e}"));
}

fn entry<'a>(tokens: &'a Value, provider: &str, subject: &str) -> &'a Value {
    tokens
        .as_array()
        .and_then(|ts| {
            ts.iter()
                .find(|t| t["provider"] == provider && t["subject"] == subject)
        })
        .unwrap_or_else(|| panic!("{provider}/{subject} is not listed: {tokens}"))
}

async fn readyz(proxy: &Proxy) -> Value {
    let resp = proxy.http.get(proxy.admin_url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    resp.json().await.unwrap()
}

fn missing<'a>(ready: &'a Value, route: &str) -> &'a Value {
    ready["missing"]
        .as_array()
        .and_then(|m| m.iter().find(|e| e["route"] == route))
        .unwrap_or_else(|| panic!("{route} is not missing: {ready}"))
}

/// The 503 of `path` (an app route of `provider`), its reason checked to be the one of `/admin/tokens` and `/readyz`, and
/// of a log line that also gives the next attempt.
async fn explained(proxy: &Proxy, path: &str, provider: &str, words: &[&str]) -> Value {
    let resp = proxy.get(path).await;
    assert_eq!(resp.status(), 503, "{path}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "token_unavailable", "{body}");
    assert_eq!(body["status"], "error", "{body}");
    let reason = body["reason"]
        .as_str()
        .unwrap_or_else(|| panic!("no reason: {body}"));
    says(reason, words, "the 503 reason");
    says(body["message"].as_str().unwrap(), words, "the 503 message");
    rfc3339(&body["retry_at"], "the 503 body");

    let tokens = proxy.tokens().await;
    let listed = entry(&tokens, provider, "app");
    assert_eq!(listed["last_error"], reason, "/admin/tokens: {listed}");
    rfc3339(&listed["retry_at"], "/admin/tokens");
    let ready = readyz(proxy).await;
    let prefix = format!("/{}", path.trim_start_matches('/').split('/').next().unwrap());
    assert_eq!(missing(&ready, &prefix)["reason"], reason, "{ready}");

    let log = log();
    let line = log
        .lines()
        .find(|l| l.contains(reason))
        .unwrap_or_else(|| panic!("no log line says {reason:?}:\n{log}"));
    says(line, &["retry_at="], "the log line");
    body
}

#[tokio::test]
async fn a_platform_message_is_shown_with_the_host_the_status_and_the_next_attempt() {
    log();
    let fake = FakePlatform::start(Kind::Twitch).await;
    let said = json!({"status": 403, "message": "invalid client secret"}).to_string();
    fake.set_failure(Failure::Json(403, said));
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let body = format!("{}{}", provider("p", &fake), route("/t", "p", &up.url(""), ""));
    let proxy = Proxy::start("", &body).await;
    assert!(fake.wait_attempts(1, WAIT).await);
    let host = host_of(&fake.token_url());
    explained(&proxy, "/t/x", "p", &[&host, "403", "invalid client secret"]).await;

    fake.set_failure(Failure::None);
    proxy.ready().await;
    let tokens = proxy.tokens().await;
    let app = entry(&tokens, "p", "app");
    assert!(
        app.get("last_error").is_none() && app.get("retry_at").is_none(),
        "{app}"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_closed_port_says_the_connection_was_refused() {
    log();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let up = FakeUpstream::start().await;
    let body = format!(
        "[providers.p]\nkind = \"oauth2\"\nclient_id = \"c\"\nclient_secret = \"s3cr3t-value\"\n\
         token_url = \"http://{closed}/oauth/token\"\n{}",
        route("/t", "p", &up.url(""), "")
    );
    let proxy = Proxy::start("", &body).await;
    let body = explained(
        &proxy,
        "/t/x",
        "p",
        &[&closed.to_string(), "could not be reached", "refused"],
    )
    .await;
    assert!(!body.to_string().contains("s3cr3t-value"));
    proxy.stop().await;
}

#[tokio::test]
async fn a_token_endpoint_certificate_that_does_not_verify_says_certificate_and_why() {
    log();
    let answer = r#"{"access_token":"tls-app-token","expires_in":3600,"token_type":"bearer"}"#;
    let trusted = tls_server_with(answer, Cert::SignedByCa).await;
    let untrusted = tls_server_with(answer, Cert::SignedByCa).await;
    let ca_as_leaf = tls_server_with(answer, Cert::CaAsServer).await;
    let dir = tempfile::tempdir().unwrap();
    let pem = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let up = FakeUpstream::start().await;
    let provider = |name: &str, port: u16, ca: Option<String>| {
        let ca = ca.map(|p| format!("ca_file = \"{p}\"\n")).unwrap_or_default();
        format!(
            "[providers.{name}]\nkind = \"oauth2\"\nclient_id = \"c\"\nclient_secret = \"s\"\n\
             token_url = \"https://localhost:{port}/token\"\n{ca}"
        )
    };
    let body = [
        provider("trusted", trusted.port, Some(pem("ca.pem", &trusted.cert_pem))),
        provider("untrusted", untrusted.port, None),
        provider(
            "ca_leaf",
            ca_as_leaf.port,
            Some(pem("ca-leaf.pem", &ca_as_leaf.cert_pem)),
        ),
        route("/trusted", "trusted", &up.url(""), ""),
        route("/untrusted", "untrusted", &up.url(""), ""),
        route("/ca-leaf", "ca_leaf", &up.url(""), ""),
    ]
    .concat();
    let proxy = Proxy::start("", &body).await;

    // Trusted through ca_file: the leaf verifies against the throwaway CA.
    let deadline = tokio::time::Instant::now() + WAIT;
    while proxy.get("/trusted/x").await.status() != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the trusted endpoint never served"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!trusted.seen.lock().unwrap().is_empty());

    let host = format!("localhost:{}", untrusted.port);
    explained(
        &proxy,
        "/untrusted/x",
        "untrusted",
        &[&host, "certificate", "UnknownIssuer"],
    )
    .await;
    let host = format!("localhost:{}", ca_as_leaf.port);
    explained(
        &proxy,
        "/ca-leaf/x",
        "ca_leaf",
        &[&host, "certificate", "CaUsedAsEndEntity"],
    )
    .await;
    assert!(untrusted.seen.lock().unwrap().is_empty());
    proxy.stop().await;
}

#[tokio::test]
async fn a_refused_grant_names_the_platform_text_and_keeps_it_across_a_restart() {
    log();
    let fake = FakePlatform::start(Kind::OAuth2 { basic: false }).await;
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let body = format!(
        "{}{}",
        provider("p", &fake),
        route("/fixed", "p", &up.url(""), "token = \"user\"\nuser = \"alice\""),
    );
    let proxy = Proxy::start("", &body).await;
    assert_eq!(proxy.login(&fake, "p", "alice").await.status(), 200);
    proxy.ready().await;
    let said =
        json!({"error": "invalid_grant", "error_description": "The refresh token was revoked by the user"});
    fake.fail_next(Failure::Json(400, said.to_string()), 1);
    assert_eq!(proxy.refresh_now("p", "alice").await.status(), 502);

    let host = host_of(&fake.token_url());
    let words = [host.as_str(), "400", "invalid_grant", "revoked by the user"];
    let tokens = proxy.tokens().await;
    let alice = entry(&tokens, "p", "alice");
    assert_eq!(alice["status"], "needs_login", "{alice}");
    let reason = alice["last_error"].as_str().expect("a last_error").to_string();
    says(&reason, &words, "last_error");
    assert!(
        alice.get("retry_at").is_none(),
        "not retried until a new login: {alice}"
    );

    let resp = proxy.get("/fixed/x").await;
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "needs_login", "{body}");
    assert_eq!(body["reason"], reason.as_str(), "{body}");
    assert!(body.get("retry_at").is_none(), "{body}");
    says(
        body["message"].as_str().unwrap(),
        &["needs_login", "revoked by the user"],
        "the 503 message",
    );
    assert_eq!(
        missing(&readyz(&proxy).await, "/fixed")["reason"],
        reason.as_str()
    );
    let log = log();
    let line = log
        .lines()
        .find(|l| l.contains(&reason))
        .unwrap_or_else(|| panic!("no log line says {reason:?}:\n{log}"));
    says(line, &["needs_login", "alice"], "the refusal's log line");

    // The reason is stored with the refusal: a restart still shows it.
    let proxy = proxy.restart().await;
    let tokens = proxy.tokens().await;
    let alice = entry(&tokens, "p", "alice");
    assert_eq!(alice["status"], "needs_login", "{alice}");
    assert_eq!(alice["last_error"], reason.as_str(), "{alice}");
    proxy.stop().await;
}

#[tokio::test]
async fn a_user_no_one_logged_in_is_not_connected() {
    log();
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let body = format!(
        "{}{}{}",
        provider("p", &fake),
        route("/fixed", "p", &up.url(""), "token = \"user\"\nuser = \"bob\""),
        route("/any", "p", &up.url(""), "token = \"user\""),
    );
    let proxy = Proxy::start("", &body).await;
    let ready = readyz(&proxy).await;
    assert_eq!(missing(&ready, "/fixed")["status"], "not_connected", "{ready}");
    // /admin/tokens lists tokens held, with the SPEC's four statuses: bob holds none.
    let tokens = proxy.tokens().await;
    assert!(
        !tokens.as_array().unwrap().iter().any(|t| t["subject"] == "bob"),
        "{tokens}"
    );
    let page = proxy.http.get(proxy.admin_url("/")).send().await.unwrap();
    let page = page.text().await.unwrap();
    assert!(page.contains(">not_connected<") && page.contains("bob"), "{page}");

    let fixed = proxy.get("/fixed/x").await;
    let any = proxy
        .http
        .get(proxy.url("/any/x"))
        .header("x-token-user", "carol")
        .send()
        .await
        .unwrap();
    for (who, resp) in [("bob", fixed), ("carol", any)] {
        assert_eq!(resp.status(), 503, "{who}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["status"], "not_connected", "{body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains("not_connected"), "{message}");
        assert!(
            !message.contains("refused") && !message.contains("refresh"),
            "nothing was ever refused: {message}"
        );
        assert!(
            body["login_url"]
                .as_str()
                .unwrap()
                .ends_with(&format!("user={who}")),
            "{body}"
        );
    }
    assert_eq!(fake.attempts(), 0, "no token call for users without a grant");
    proxy.stop().await;
}
