//! The login pages against a page open in the same browser, tried as an attacker would:
//! markup smuggled into a page, a callback from another browser, a flood of logins, a login
//! started by another site.

mod harness;
mod support;

use harness::{provider, route, Proxy};
use support::{FakePlatform, FakeUpstream, Kind};

async fn setup() -> (FakePlatform, FakeUpstream, Proxy) {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let body = format!(
        "{}scopes = [\"a:read\"]\n{}",
        provider("p", &fake),
        route("/u", "p", &up.url(""), "token = \"user\"\nuser = \"alice\""),
    );
    let proxy = Proxy::start("", &body).await;
    (fake, up, proxy)
}

/// The `state` of a login redirect's `Location`.
fn state_of(location: &str) -> String {
    let url = url::Url::parse(location).expect("a URL");
    let state = url.query_pairs().find(|(k, _)| k == "state");
    state.expect("a state").1.into_owned()
}

#[tokio::test]
async fn markup_in_a_callback_is_shown_as_text() {
    let (fake, _up, proxy) = setup().await;
    let browser = proxy.no_redirect();
    let start = browser
        .get(proxy.admin_url("/oauth/p/login?user=alice"))
        .send()
        .await
        .unwrap();
    let state = state_of(start.headers()["location"].to_str().unwrap());
    let evil = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("error", evil)
        .append_pair("error_description", evil)
        .append_pair("state", &state)
        .finish();
    let resp = browser
        .get(proxy.admin_url(&format!("/oauth/p/callback?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    let page = resp.text().await.unwrap();
    assert!(!page.contains("<script") && !page.contains("<img"), "{page}");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{page}");
    assert_eq!(fake.requests("authorization_code"), 0);
    proxy.stop().await;
}
