//! Device-code logins (RFC 8628) through the admin API, for Twitch and plain oauth2: the
//! code handed out, pending while the person has not answered, one pending login per user,
//! then connected (the user route serves), denied, expired; `slow_down` honoured; public
//! clients, which send no secret anywhere.

mod harness;
mod support;

use harness::{provider, public_provider, route, Proxy, WAIT};
use support::{FakePlatform, FakeUpstream, Kind};

const KINDS: [Kind; 3] = [
    Kind::Twitch,
    Kind::OAuth2 { basic: false },
    Kind::OAuth2 { basic: true },
];

async fn setup_with(kind: Kind, public: bool) -> (FakePlatform, FakeUpstream, Proxy) {
    let fake = FakePlatform::start(kind).await;
    fake.set_public(public);
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let table = if public {
        public_provider("p", &fake)
    } else {
        provider("p", &fake)
    };
    let body = format!(
        "{table}scopes = [\"chat:read\", \"chat:edit\"]\n{}",
        route("/me", "p", &up.url("/api"), "token = \"user\"\nuser = \"bot\""),
    );
    let proxy = Proxy::start("", &body).await;
    (fake, up, proxy)
}

async fn setup(kind: Kind) -> (FakePlatform, FakeUpstream, Proxy) {
    setup_with(kind, false).await
}

async fn start(proxy: &Proxy, user: &str) -> serde_json::Value {
    let resp = proxy.device_login("p", user).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("JSON")
}

fn text<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))
}

#[tokio::test]
async fn pending_then_approved_then_the_user_route_serves() {
    for kind in KINDS {
        let (fake, up, proxy) = setup(kind).await;
        let login = start(&proxy, "bot").await;
        let (id, code) = (text(&login, "login_id"), text(&login, "user_code"));
        assert!(
            text(&login, "verification_uri").starts_with("http://127.0.0.1:"),
            "{login}"
        );
        assert!(
            humantime::parse_rfc3339(text(&login, "expires_at")).is_ok(),
            "{login}"
        );
        assert_eq!(login["status"], "pending");

        // The person has not answered yet: the proxy polls, and the login stays pending.
        assert!(fake.wait_device_polls(1, WAIT).await);
        assert_eq!(proxy.device_login_status(id, 0).await["status"], "pending");
        assert_eq!(proxy.get("/me/x").await.status(), 503);
        // Asking again for the same user hands out the same code.
        let again = start(&proxy, "bot").await;
        assert_eq!((text(&again, "login_id"), text(&again, "user_code")), (id, code));
        assert_eq!(fake.device_codes(), 1, "{kind:?}: one code asked for");

        assert!(fake.approve_device(code, "bot"));
        let done = proxy.device_login_status(id, WAIT.as_secs()).await;
        assert_eq!(done["status"], "connected", "{kind:?}: {done}");
        assert_eq!(proxy.get("/me/x").await.status(), 200, "{kind:?}");
        assert_eq!(up.count(), 1);
        let tokens = proxy.tokens().await;
        let bot = tokens
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["subject"] == "bot")
            .expect("bot's token is listed");
        assert_eq!(bot["status"], "valid");
        assert_eq!(bot["has_refresh_token"], true);
        assert_eq!(bot["scopes"], serde_json::json!(["chat:read", "chat:edit"]));
        assert_eq!(fake.requests("device_code"), 1);
        assert!(fake.rejected().is_empty(), "{kind:?}: {:?}", fake.rejected());
        // Once connected, a new request starts a new login.
        let next = start(&proxy, "bot").await;
        assert_ne!(text(&next, "login_id"), id);
        assert!(proxy.metrics().await.contains(
            "token_sidecar_token_requests_total{grant=\"device_code\",provider=\"p\",result=\"success\"} 1"
        ));
    }
}

#[tokio::test]
async fn a_denied_login_ends_without_a_token() {
    for kind in [Kind::Twitch, Kind::OAuth2 { basic: false }] {
        let (fake, _up, proxy) = setup(kind).await;
        let login = start(&proxy, "bot").await;
        assert!(fake.deny_device(text(&login, "user_code")));
        let done = proxy
            .device_login_status(text(&login, "login_id"), WAIT.as_secs())
            .await;
        assert_eq!(done["status"], "denied", "{kind:?}: {done}");
        let polls = fake.device_polls();
        let resp = proxy.get("/me/x").await;
        assert_eq!(resp.status(), 503);
        assert!(resp.text().await.unwrap().contains("not_connected"));
        assert_eq!(fake.requests("device_code"), 0);
        assert!(fake.rejected().is_empty(), "{:?}", fake.rejected());
        // Polling stopped with the denial: a new login is needed, and it gets a new code.
        let next = start(&proxy, "bot").await;
        assert_ne!(next["user_code"], login["user_code"]);
        assert!(fake.device_polls() <= polls + 1);
    }
}

#[tokio::test]
async fn an_unanswered_code_expires() {
    for kind in [Kind::Twitch, Kind::OAuth2 { basic: false }] {
        let (fake, _up, proxy) = setup(kind).await;
        fake.set_device_timing(1, 2);
        let login = start(&proxy, "bot").await;
        let done = proxy
            .device_login_status(text(&login, "login_id"), WAIT.as_secs())
            .await;
        assert_eq!(done["status"], "expired", "{kind:?}: {done}");
        assert!(done["reason"].as_str().is_some_and(|r| !r.is_empty()), "{done}");
        // Approving too late connects nothing.
        assert!(fake.approve_device(text(&login, "user_code"), "bot"));
        assert_eq!(proxy.get("/me/x").await.status(), 503);
        assert_eq!(fake.requests("device_code"), 0);
        assert!(fake.rejected().is_empty(), "{:?}", fake.rejected());
    }
}

#[tokio::test]
async fn slow_down_grows_the_interval_for_good() {
    // Both at once: each waits out the 5 s that slow_down adds.
    let runs = [Kind::Twitch, Kind::OAuth2 { basic: false }].map(|kind| async move {
        let (fake, _up, proxy) = setup(kind).await;
        fake.slow_down_next();
        let login = start(&proxy, "bot").await;
        // The first poll is told to slow down; the fake records any later poll that comes
        // sooner than the grown interval as a rejected request (and answers slow_down again).
        assert!(fake.wait_device_polls(1, WAIT).await);
        assert!(fake.approve_device(text(&login, "user_code"), "bot"));
        let done = proxy
            .device_login_status(text(&login, "login_id"), WAIT.as_secs() + 10)
            .await;
        assert_eq!(done["status"], "connected", "{kind:?}: {done}");
        assert_eq!(fake.device_polls(), 2, "{kind:?}: one slow_down, then the token");
        assert!(fake.rejected().is_empty(), "{kind:?}: {:?}", fake.rejected());
    });
    futures_util::future::join_all(runs).await;
}

#[tokio::test]
async fn public_clients_log_in_and_refresh_without_a_secret() {
    for kind in [Kind::Twitch, Kind::OAuth2 { basic: false }] {
        let (fake, _up, proxy) = setup_with(kind, true).await;
        proxy.device_connect(&fake, "p", "bot").await;
        assert_eq!(proxy.get("/me/x").await.status(), 200);
        // The fake refuses any call of a public client that carries a client_secret.
        let resp = proxy.refresh_now("p", "bot").await;
        assert_eq!(resp.status(), 200, "{kind:?}: {:?}", resp.text().await);
        assert_eq!(fake.requests("refresh_token"), 1);
        assert!(fake.rejected().is_empty(), "{kind:?}: {:?}", fake.rejected());
        assert_eq!(proxy.get("/me/x").await.status(), 200);
        // Its refresh token lapses unused, so the store knows when, and the refresher
        // renews the grant before then (as for Firework's refresh_token_expires_in).
        let store = std::fs::read_to_string(proxy.dir.path().join("tokens.json")).unwrap();
        let store: serde_json::Value = serde_json::from_str(&store).unwrap();
        let t = &store["tokens"][0];
        let lapse =
            t["refresh_expires_at"].as_f64().expect("refresh_expires_at") - t["issued_at"].as_f64().unwrap();
        assert!((lapse - 30.0 * 86400.0).abs() < 5.0, "{t}");
        // A browser login needs a client secret: the status page does not offer it.
        let page = proxy.http.get(proxy.admin_url("/")).send().await.unwrap();
        let page = page.text().await.unwrap();
        assert!(!page.contains("/oauth/p/login"), "{page}");
        assert!(page.contains("Connect with a code"), "{page}");
        let resp = proxy
            .no_redirect()
            .get(proxy.public_url("/oauth/p/login?user=bot"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
    }
}

#[tokio::test]
async fn refusals_name_what_is_wrong() {
    let blaze = FakePlatform::start(Kind::Blaze).await;
    let (fake, _up, proxy) = {
        let fake = FakePlatform::start(Kind::Twitch).await;
        let up = FakeUpstream::start_checking(fake.clone()).await;
        // An oauth2 provider whose device endpoint answers 404.
        let broken = format!(
            "[providers.broken]\nkind = \"oauth2\"\nclient_id = \"x\"\nclient_secret = \"y\"\n\
             token_url = \"{}\"\ndevice_authorization_url = \"{}\"\n",
            blaze.url("/token"),
            blaze.url("/nothing-here"),
        );
        let body = format!(
            "{}{}{broken}{}",
            provider("p", &fake),
            provider("bz", &blaze),
            route("/me", "p", &up.url("/api"), "token = \"user\"\nuser = \"bot\""),
        );
        let proxy = Proxy::start("admin_token = \"adm-secret-1\"", &body).await;
        (fake, up, proxy)
    };
    let post = |path: &str, token: Option<&str>| {
        let mut req = proxy.http.post(proxy.admin_url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    assert_eq!(
        post("/admin/logins/p?user=bot", None).await.unwrap().status(),
        401
    );
    let auth = Some("adm-secret-1");
    let resp = post("/admin/logins/nope?user=bot", auth).await.unwrap();
    assert_eq!(resp.status(), 404);
    let resp = post("/admin/logins/bz?user=bot", auth).await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("no_device_login"));
    let resp = post("/admin/logins/p?user=no%20spaces", auth).await.unwrap();
    assert_eq!(resp.status(), 400);
    let resp = proxy
        .http
        .get(proxy.admin_url("/admin/logins/unknown-id"))
        .bearer_auth("adm-secret-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(fake.device_codes(), 0);
    // A platform that hands out no code: 502, saying what it answered.
    let resp = post("/admin/logins/broken?user=bot", auth).await.unwrap();
    assert_eq!(resp.status(), 502);
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("login_failed") && body.contains("HTTP 404"),
        "{body}"
    );
    let resp = post("/admin/logins/p?user=bot", auth).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(fake.rejected().is_empty(), "{:?}", fake.rejected());
}

#[tokio::test]
async fn the_status_page_connects_with_a_code_and_waits_without_script() {
    let (fake, _up, proxy) = setup(Kind::Twitch).await;
    let browser = proxy.no_redirect();
    let page = browser
        .get(proxy.public_url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(r#"<form class="connect" method="post" action="/oauth/p/device">"#),
        "{page}"
    );

    // Another site cannot make the browser ask for a code.
    let resp = browser
        .post(proxy.public_url("/oauth/p/device"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("user", "bot")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(fake.device_codes(), 0);

    // The form, as the status page sends it.
    let resp = browser
        .post(proxy.public_url("/oauth/p/device"))
        .header("origin", proxy.public_url(""))
        .header("sec-fetch-site", "same-origin")
        .form(&[("user", "bot")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("/oauth/p/device?login="), "{location}");
    let id = location.rsplit('=').next().unwrap().to_string();
    let resp = browser.get(proxy.public_url(&location)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    let page = resp.text().await.unwrap();
    let login = proxy.device_login_status(&id, 0).await;
    let code = text(&login, "user_code");
    assert!(page.contains(code), "{page}");
    assert!(page.contains(&fake.url("/activate")), "{page}");
    assert!(
        page.contains(r#"<meta http-equiv="refresh" content="3">"#),
        "{page}"
    );
    assert!(!page.contains("<script"), "{page}");

    assert!(fake.approve_device(code, "bot"));
    assert_eq!(
        proxy.device_login_status(&id, WAIT.as_secs()).await["status"],
        "connected"
    );
    let page = browser
        .get(proxy.public_url(&location))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Connected") && page.contains("bot"), "{page}");
    assert!(!page.contains("http-equiv"), "the page stops reloading: {page}");
    assert_eq!(proxy.get("/me/x").await.status(), 200);
}
