//! A real browser: a page from another origin tries to use the proxy's tokens and the admin
//! API with `fetch()`, and a DNS-rebound name is navigated to. It gets nothing, and nothing
//! is forwarded or changed. Needs Debian's chromium and chromium-driver
//! (`bash .ci/install-chromium`).

mod browser;
mod harness;
mod support;

use browser::Browser;
use harness::{provider, route, Proxy};
use support::server::serve;
use support::wire::bytes_reply;
use support::{FakePlatform, FakeUpstream, Kind};

const PAGE: &str = "<!doctype html><title>a page on the web</title><p>hello";

#[tokio::test]
#[ignore = "needs chromium and chromedriver (bash .ci/install-chromium)"]
async fn a_page_from_another_origin_gets_nothing() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start().await;
    let body = format!(
        "{}{}",
        provider("p", &fake),
        route("/me", "p", &up.url("/api"), "token = \"user\"\nuser = \"alice\""),
    );
    let proxy = Proxy::start("", &body).await;
    assert_eq!(proxy.login(&fake, "p", "alice").await.status(), 200);
    proxy.ready().await;
    let refreshes = fake.requests("refresh_token");
    // The attacker's page, on another loopback port: another origin.
    let page = serve(|_req| async { Ok(bytes_reply(200, "text/html", PAGE.into())) }).await;

    let browser = Browser::start_with(&["--host-resolver-rules=MAP evil.test 127.0.0.1"]).await;
    browser.goto(&page.url("/")).await;
    let (p, a) = (proxy.addr, proxy.admin);
    let script = format!(
        r#"const done = arguments[0];
        const results = {{}};
        const attempt = async (name, url, init) => {{
            try {{
                const r = await fetch(url, init);
                results[name] = r.type + ' ' + r.status + ' ' + (r.type === 'opaque' ? '' : await r.text());
            }} catch (e) {{ results[name] = 'blocked'; }}
        }};
        await attempt('proxy get', 'http://{p}/me/users', {{}});
        await attempt('proxy post', 'http://{p}/me/chat', {{method: 'POST', mode: 'no-cors', body: 'hello', headers: {{'content-type': 'text/plain'}}}});
        await attempt('proxy put', 'http://{p}/me/chat', {{method: 'PUT', body: '{{}}', headers: {{'content-type': 'application/json'}}}});
        await attempt('admin list', 'http://{a}/admin/tokens', {{}});
        await attempt('admin refresh', 'http://{a}/admin/tokens/p/alice/refresh', {{method: 'POST', mode: 'no-cors'}});
        await attempt('admin delete', 'http://{a}/admin/tokens/p/alice', {{method: 'DELETE'}});
        done(results);"#
    );
    let results = browser.execute_async(&script).await;
    let results = results.as_object().expect("results");
    assert_eq!(results.len(), 6, "{results:?}");
    for (name, outcome) in results {
        let outcome = outcome.as_str().unwrap_or_default();
        // Either the fetch failed, or it was opaque: the page read nothing.
        assert!(
            outcome == "blocked" || outcome.starts_with("opaque 0"),
            "{name}: {outcome}"
        );
    }
    assert_eq!(up.count(), 0, "nothing was forwarded with the user's token");
    assert_eq!(fake.requests("refresh_token"), refreshes, "no refresh ran");
    assert!(fake.revoked().is_empty(), "nothing was revoked");
    assert_eq!(proxy.tokens().await.as_array().map(Vec::len), Some(1));

    // DNS rebinding: a name the attacker controls now resolves to 127.0.0.1.
    browser
        .goto(&format!("http://evil.test:{}/me/users", p.port()))
        .await;
    let source = browser.page_source().await;
    assert!(source.contains("host_not_allowed"), "{source}");
    browser
        .goto(&format!("http://evil.test:{}/admin/tokens", a.port()))
        .await;
    let source = browser.page_source().await;
    assert!(
        source.contains("host_not_allowed") && !source.contains("alice"),
        "{source}"
    );
    assert_eq!(up.count(), 0);
    proxy.stop().await;
}
