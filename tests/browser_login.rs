//! The login flow in a real browser: headless Chromium, driven over WebDriver, opens the
//! admin status page, follows the connect link to the (fake) platform, which approves and
//! sends it back to the callback, and then sees the stored token on the status page.
//!
//! Ignored by default: they need `/usr/bin/chromium` and `/usr/bin/chromedriver`
//! (`sudo .ci/install-chromium`), then `cargo test --test browser_login -- --include-ignored`.

mod browser;
mod harness;
mod support;

use std::time::Duration;

use browser::Browser;
use harness::{provider, route, Proxy, WAIT};
use support::{FakePlatform, FakeUpstream, Kind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves two HTML pages on 127.0.0.1:0 until the test ends: `/` links to `/second`.
async fn two_pages() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf);
                let path = head.split(' ').nth(1).unwrap_or("/");
                let (status, body) = match path {
                    "/" => (
                        "200 OK",
                        r#"<h1>First</h1><p><a id="next" href="/second">to the second page</a>"#,
                    ),
                    "/second" => ("200 OK", "<h1>Second</h1><p id=\"msg\">you made it</p>"),
                    _ => ("404 Not Found", "<h1>nothing here</h1>"),
                };
                let page =
                    format!("<!doctype html><html><head><title>t</title></head><body>{body}</body></html>");
                let resp = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

/// The WebDriver client itself, against a local two-page site.
#[tokio::test]
#[ignore = "needs chromium and chromedriver (.ci/install-chromium)"]
async fn webdriver_smoke() {
    let site = two_pages().await;
    let browser = Browser::start().await;
    browser.goto(&format!("{site}/")).await;
    assert_eq!(browser.current_url().await, format!("{site}/"));
    assert!(browser.page_source().await.contains("First"));
    let link = browser.find_link_text("to the second page").await;
    browser.click(&link).await;
    wait_for_url(&browser, |u| u.ends_with("/second")).await;
    let msg = browser.find_css("#msg").await;
    assert_eq!(browser.text(&msg).await, "you made it");
    browser.goto(&format!("{site}/")).await;
    let link = browser.find_css("a#next").await;
    browser.click(&link).await;
    wait_for_url(&browser, |u| u.ends_with("/second")).await;
    let shot = concat!(env!("CARGO_MANIFEST_DIR"), "/target/webdriver-smoke.png");
    browser.screenshot_png(shot).await;
    let png = std::fs::read(shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
}

/// Waits (at most `WAIT`) until the browser's URL satisfies `ok`; returns it.
async fn wait_for_url(browser: &Browser, ok: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let url = browser.current_url().await;
        if ok(&url) {
            return url;
        }
        assert!(tokio::time::Instant::now() < deadline, "browser stuck at {url}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The page's rendered text (what a person reads).
async fn body_text(browser: &Browser) -> String {
    let body = browser.find_css("body").await;
    browser.text(&body).await
}

/// Whether some line of `text` (a table row or list item as rendered) holds every word.
fn line_with(text: &str, words: &[&str]) -> bool {
    text.lines().any(|line| {
        let tokens: Vec<&str> = line.split(|c: char| !(c.is_alphanumeric() || c == '_')).collect();
        words.iter().all(|w| tokens.contains(w))
    })
}

/// `[providers.twitch]` at `fake` (asking for a scope, as twitch requires one) and a user-token
/// route `/twitch` for `default` to an upstream that accepts only the platform's live tokens.
async fn twitch_proxy(fake: &FakePlatform) -> (Proxy, FakeUpstream) {
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let body = format!(
        "{}scopes = [\"user:read:email\"]\n\n{}",
        provider("twitch", fake),
        route(
            "/twitch",
            "twitch",
            &up.url(""),
            "token = \"user\"\nuser = \"default\""
        )
    );
    // No public_url: it defaults to http://localhost:<bound admin port>, the callback's host.
    (Proxy::start("", &body).await, up)
}

/// The user tokens `/admin/tokens` lists for `subject` of twitch.
async fn admin_tokens(proxy: &Proxy, subject: &str) -> Vec<serde_json::Value> {
    let resp = proxy.http.get(proxy.admin_url("/admin/tokens")).send().await;
    let tokens: serde_json::Value = resp.expect("admin answers").json().await.expect("JSON");
    let all = tokens
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {tokens}"));
    let mine = all
        .iter()
        .filter(|t| t["provider"] == "twitch" && t["subject"] == subject);
    mine.cloned().collect()
}

/// Opens the status page and clicks the connect link of `default` for twitch; returns the
/// callback URL the platform sent the browser back to.
async fn connect_default(browser: &Browser, proxy: &Proxy) -> url::Url {
    browser.goto(&proxy.admin_url("/")).await;
    let connect = browser.find_css(r#"a[href*="/oauth/twitch/login"]"#).await;
    browser.click(&connect).await;
    let landed = wait_for_url(browser, |u| u.contains("/oauth/twitch/callback")).await;
    let callback = url::Url::parse(&landed).expect("callback URL");
    assert_eq!(
        callback.port(),
        Some(proxy.admin.port()),
        "callback on another port: {landed}"
    );
    callback
}

/// Connect `default` to twitch through the browser: status page, connect link, the platform
/// (which approves), the callback's page, and the status page again showing the token.
#[tokio::test]
#[ignore = "needs chromium and chromedriver (.ci/install-chromium)"]
async fn login_from_the_status_page() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let (proxy, up) = twitch_proxy(&fake).await;
    let readyz = proxy.http.get(proxy.admin_url("/readyz")).send().await.unwrap();
    assert_eq!(readyz.status(), 503, "ready before default logged in");
    let browser = Browser::start().await;

    browser.goto(&proxy.admin_url("/")).await;
    let before = body_text(&browser).await;
    assert!(
        before.contains("twitch"),
        "status page does not list the provider:\n{before}"
    );
    assert!(
        !line_with(&before, &["default", "valid"]),
        "a token before any login:\n{before}"
    );
    // The routes card says the route cannot be served, and why; the page links onwards.
    assert!(
        line_with(&before, &["twitch", "user", "default", "not_connected"]),
        "the route's state before any login:\n{before}"
    );
    browser.find_css(r#"a[href="/readyz"]"#).await;
    browser.find_css(r#"a[href="/metrics"]"#).await;

    let callback = connect_default(&browser, &proxy).await;
    assert!(
        callback.query_pairs().any(|(k, _)| k == "code"),
        "the platform did not approve: {callback}"
    );
    let said = body_text(&browser).await;
    let callback_source = browser.page_source().await;
    browser
        .screenshot_png(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/target/browser-login-callback.png"
        ))
        .await;
    let lower = said.to_lowercase();
    for bad in ["error", "invalid", "expired", "failed", "cannot"] {
        assert!(
            !lower.contains(bad),
            "the callback page reports a failure ({bad}):\n{said}"
        );
    }
    assert!(
        line_with(&said, &["default"]),
        "the callback page does not say whose token:\n{said}"
    );
    assert_eq!(fake.requests("authorization_code"), 1, "one code exchange");
    assert_eq!(
        fake.rejected(),
        Vec::<String>::new(),
        "the platform refused a request's shape"
    );
    assert_eq!(
        fake.refused(),
        Vec::<String>::new(),
        "the platform refused a grant"
    );

    // Coming back to the callback (reload, back button) reuses its state: 400, no exchange.
    let again = proxy
        .http
        .get(callback.as_str())
        .send()
        .await
        .expect("callback answers");
    assert_eq!(again.status(), 400, "a reused state was accepted");
    assert_eq!(
        fake.requests("authorization_code"),
        1,
        "a reused state exchanged the code again"
    );

    browser.goto(&proxy.admin_url("/")).await;
    let after = body_text(&browser).await;
    let status_source = browser.page_source().await;
    browser
        .screenshot_png(concat!(env!("CARGO_MANIFEST_DIR"), "/target/browser-login.png"))
        .await;
    assert!(
        line_with(&after, &["default", "valid"]),
        "no valid token for default:\n{after}"
    );
    assert!(
        line_with(&after, &["twitch", "user", "default", "yes"]),
        "the route is not shown as served:\n{after}"
    );

    let tokens = admin_tokens(&proxy, "default").await;
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert_eq!(tokens[0]["kind"], "user", "{}", tokens[0]);
    assert_eq!(tokens[0]["status"], "valid", "{}", tokens[0]);
    assert_eq!(tokens[0]["has_refresh_token"], true, "{}", tokens[0]);

    // The token works upstream, and neither page shows its value.
    proxy.ready().await;
    assert_eq!(proxy.get("/twitch/users").await.status(), 200);
    let seen = up.last().expect("the upstream was called");
    let auth = seen.headers["authorization"].to_str().unwrap().to_string();
    let access = auth.strip_prefix("Bearer ").expect("a bearer token");
    assert!(fake.is_valid(access));
    assert!(
        !callback_source.contains(access),
        "the callback page shows the access token"
    );
    assert!(
        !status_source.contains(access),
        "the status page shows the access token"
    );
    drop(browser);
    proxy.stop().await;
}

/// The user refuses at the platform: the callback page says so and nothing is stored.
#[tokio::test]
#[ignore = "needs chromium and chromedriver (.ci/install-chromium)"]
async fn login_denied_at_the_platform() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    fake.set_deny(true);
    let (proxy, _up) = twitch_proxy(&fake).await;
    let browser = Browser::start().await;

    let callback = connect_default(&browser, &proxy).await;
    assert!(
        callback
            .query_pairs()
            .any(|(k, v)| k == "error" && v == "access_denied"),
        "{callback}"
    );
    let said = body_text(&browser).await.to_lowercase();
    assert!(
        said.contains("denied"),
        "the callback page does not say access was denied:\n{said}"
    );
    assert_eq!(fake.attempts(), 0, "a token call after a denial");
    // No token: /admin/tokens does not list default at all.
    let tokens = admin_tokens(&proxy, "default").await;
    assert!(tokens.is_empty(), "a token after a denial: {tokens:?}");

    browser.goto(&proxy.admin_url("/")).await;
    let page = body_text(&browser).await;
    assert!(
        !line_with(&page, &["default", "valid"]),
        "a token after a denial:\n{page}"
    );
    drop(browser);
    proxy.stop().await;
}
