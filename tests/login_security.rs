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
        .get(proxy.public_url("/oauth/p/login?user=alice"))
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
        .get(proxy.public_url(&format!("/oauth/p/callback?{query}")))
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

/// A login started by `browser`: the platform's authorize URL and the login cookie's name.
async fn start_login(proxy: &Proxy, browser: &reqwest::Client, user: &str) -> (String, String) {
    let start = browser
        .get(proxy.public_url(&format!("/oauth/p/login?user={user}")))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302);
    let location = start.headers()["location"].to_str().unwrap().to_string();
    let cookie = start.headers()["set-cookie"].to_str().unwrap().to_string();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/oauth/p/"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "public_url is http: {cookie}");
    let name = cookie.split('=').next().unwrap().to_string();
    (location, name)
}

/// `GET target` on the admin listener as raw bytes, as a script outside any browser sends it.
async fn raw_get(proxy: &Proxy, target: &str, extra: &str) -> String {
    let port = proxy.admin.port();
    let request =
        format!("GET {target} HTTP/1.1\r\nHost: localhost:{port}\r\n{extra}Connection: close\r\n\r\n");
    harness::raw(proxy.admin, &request).await
}

fn path_and_query(url: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    format!("{}?{}", url.path(), url.query().unwrap_or(""))
}

#[tokio::test]
async fn a_callback_from_another_client_exchanges_nothing_and_the_real_browser_finishes() {
    let (fake, up, proxy) = setup().await;
    let victim = proxy.no_redirect();
    let (location, cookie_name) = start_login(&proxy, &victim, "alice").await;
    let victim_back = fake.follow_authorize(&location).await.unwrap();
    let victim_state = state_of(&victim_back);

    // The attacker gets a code of their own, then sends it with the victim's state: without
    // the cookie, and with a guessed one.
    let (theirs, _) = start_login(&proxy, &proxy.other_browser(), "alice").await;
    let attacker_back = fake.follow_authorize(&theirs).await.unwrap();
    let attacker_code = url::Url::parse(&attacker_back)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let forged = format!("/oauth/p/callback?code={attacker_code}&state={victim_state}");
    for cookie in [String::new(), format!("Cookie: {cookie_name}=guessed\r\n")] {
        let answer = raw_get(&proxy, &forged, &cookie).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(
            answer.contains("text/html") && answer.contains("did not start this login"),
            "{answer}"
        );
        assert!(!answer.to_lowercase().contains("set-cookie"), "{answer}");
    }
    // The victim's own callback, replayed by another client, is refused the same way.
    let replayed = raw_get(&proxy, &path_and_query(&victim_back), "").await;
    assert!(replayed.starts_with("HTTP/1.1 400"), "{replayed}");
    assert_eq!(fake.requests("authorization_code"), 0, "no code was exchanged");
    assert!(
        proxy.tokens().await.as_array().unwrap().is_empty(),
        "no token was stored"
    );
    assert_eq!(proxy.get("/u/x").await.status(), 503);
    assert_eq!(up.count(), 0, "nothing was forwarded");

    // The login is still pending for the browser that started it.
    let done = victim.get(&victim_back).send().await.unwrap();
    assert_eq!(done.status(), 200);
    let cleared = done.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cleared.starts_with(&format!("{cookie_name}=;")) && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert!(done.text().await.unwrap().contains("Connected"));
    assert_eq!(fake.requests("authorization_code"), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn several_logins_at_once_in_one_browser_each_finish() {
    let (fake, _up, proxy) = setup().await;
    let browser = proxy.no_redirect();
    let mut backs = Vec::new();
    for user in ["alice", "bob", "carol"] {
        let (location, _) = start_login(&proxy, &browser, user).await;
        backs.push(fake.follow_authorize(&location).await.unwrap());
    }
    for back in backs.iter().rev() {
        let done = browser.get(back).send().await.unwrap();
        assert_eq!(done.status(), 200, "{}", done.text().await.unwrap());
    }
    assert_eq!(fake.requests("authorization_code"), 3);
    assert_eq!(proxy.tokens().await.as_array().unwrap().len(), 3);
    proxy.stop().await;
}

#[tokio::test]
async fn a_flood_of_logins_is_refused_and_evicts_no_pending_one() {
    let (fake, _up, proxy) = setup().await;
    let victim = proxy.no_redirect();
    let (location, _) = start_login(&proxy, &victim, "alice").await;
    let flood = proxy.other_browser();
    let (mut started, mut refused) = (0, 0);
    for i in 0..1029 {
        let resp = flood
            .get(proxy.public_url(&format!("/oauth/p/login?user=u{i}")))
            .send()
            .await
            .unwrap();
        match resp.status().as_u16() {
            302 => started += 1,
            429 => {
                refused += 1;
                assert!(resp.headers().get("set-cookie").is_none());
                let page = resp.text().await.unwrap();
                assert!(page.contains("Too many logins"), "{page}");
            }
            other => panic!("login {i}: {other}"),
        }
    }
    assert_eq!(
        (started, refused),
        (63, 966),
        "64 pending logins per provider at most"
    );
    // The legitimate login, started first, still completes.
    let back = fake.follow_authorize(&location).await.unwrap();
    let done = victim.get(&back).send().await.unwrap();
    assert_eq!(done.status(), 200, "{}", done.text().await.unwrap());
    assert_eq!(proxy.get("/u/x").await.status(), 200);
    // Its completion made room for one more.
    let one_more = victim
        .get(proxy.public_url("/oauth/p/login?user=bob"))
        .send()
        .await
        .unwrap();
    assert_eq!(one_more.status(), 302);
    proxy.stop().await;
}

#[tokio::test]
async fn another_site_cannot_start_a_login() {
    let (_fake, _up, proxy) = setup().await;
    for site in ["cross-site", "same-site"] {
        // A top-level navigation from another site's page, as a browser sends it.
        let answer = raw_get(
            &proxy,
            "/oauth/p/login?user=alice",
            &format!("Sec-Fetch-Site: {site}\r\nSec-Fetch-Mode: navigate\r\nSec-Fetch-Dest: document\r\n"),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 403"), "{site}: {answer}");
        assert!(
            answer.contains("text/html") && answer.contains("status page"),
            "{answer}"
        );
        let lower = answer.to_lowercase();
        assert!(
            !lower.contains("location:") && !lower.contains("set-cookie"),
            "{answer}"
        );
    }
    // The status page's own link, a typed address, and clients that send no such header.
    for header in ["Sec-Fetch-Site: same-origin\r\n", "Sec-Fetch-Site: none\r\n", ""] {
        let answer = raw_get(&proxy, "/oauth/p/login?user=alice", header).await;
        assert!(answer.starts_with("HTTP/1.1 302"), "{header}: {answer}");
    }
    proxy.stop().await;
}

#[tokio::test]
async fn a_browser_navigating_by_another_loopback_name_moves_to_public_urls_host() {
    let (fake, _up, proxy) = setup().await;
    let browser = proxy.no_redirect();
    let port = proxy.admin.port();
    for path in ["/", "/oauth/p/login?user=alice"] {
        let resp = browser
            .get(proxy.admin_url(path))
            .header("sec-fetch-mode", "navigate")
            .header("sec-fetch-site", "none")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 302, "{path}");
        assert!(resp.headers().get("set-cookie").is_none());
        let location = resp.headers()["location"].to_str().unwrap();
        assert_eq!(location, format!("http://localhost:{port}{path}"));
    }
    let page = browser.get(proxy.public_url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    // A client that is not a browser's navigation (a script, curl, a test) gets what it asked
    // for where it asked: the page, and the platform's authorization page with the cookie.
    let page = browser.get(proxy.admin_url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("token-sidecar"));
    let resp = browser
        .get(proxy.admin_url("/oauth/p/login?user=alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    assert!(resp.headers().get("set-cookie").is_some());
    let location = resp.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(&fake.authorize_url()), "{location}");
    proxy.stop().await;
}
