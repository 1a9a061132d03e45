//! User tokens end to end, for every kind: the hosted login, the code exchange in each
//! platform's dialect, user routes, rotation on refresh, needs_login, restarts.

#[path = "../harness/mod.rs"]
mod harness;
#[path = "../support/mod.rs"]
mod support;

mod admin;
mod no_refresh_token;

use std::time::Duration;

use harness::{kind_name, provider, route, Proxy, WAIT};
use support::{Failure, FakePlatform, FakeUpstream, Kind, CLIENT_SECRET};

const KINDS: [Kind; 7] = [
    Kind::Twitch,
    Kind::Blaze,
    Kind::Glimesh,
    Kind::Firework,
    Kind::StreamerSonglist,
    Kind::OAuth2 { basic: false },
    Kind::OAuth2 { basic: true },
];

pub(crate) async fn setup(kind: Kind) -> (FakePlatform, FakeUpstream, Proxy) {
    let fake = FakePlatform::start(kind).await;
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let body = format!(
        "{}scopes = [\"a:read\", \"b:write\"]\n{}{}",
        provider("p", &fake),
        route(
            "/fixed",
            "p",
            &up.url("/api"),
            "token = \"user\"\nuser = \"alice\""
        ),
        route("/any", "p", &up.url("/api"), "token = \"user\""),
    );
    let proxy = Proxy::start("", &body).await;
    (fake, up, proxy)
}

fn bearer(r: &support::Recorded) -> String {
    r.headers["authorization"]
        .to_str()
        .unwrap()
        .trim_start_matches("Bearer ")
        .to_string()
}

async fn login_refresh_and_restart(kind: Kind) {
    let (fake, up, proxy) = setup(kind).await;
    let page = proxy.login(&fake, "p", "alice").await;
    assert_eq!(page.status(), 200, "{kind:?}");
    let html = page.text().await.unwrap();
    assert!(html.contains("Connected") && html.contains("alice"), "{html}");
    assert_eq!(fake.requests("authorization_code"), 1);
    assert!(fake.rejected().is_empty(), "{kind:?}: {:?}", fake.rejected());
    proxy.ready().await;

    // The fixed-user route and the header-named route both carry alice's token.
    assert_eq!(proxy.get("/fixed/me").await.status(), 200);
    let resp = proxy
        .http
        .get(proxy.url("/any/me"))
        .header("x-token-user", "alice")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let seen = up.requests();
    assert_eq!(seen.len(), 2);
    assert!(fake.is_valid(&bearer(&seen[0])));
    assert!(seen[1].headers.get("x-token-user").is_none());
    let secret = seen[0]
        .headers
        .get("secret")
        .map(|v| v.to_str().unwrap().to_string());
    assert_eq!(
        secret.as_deref(),
        (kind == Kind::Blaze).then_some(CLIENT_SECRET),
        "{kind:?}"
    );

    let tokens = proxy.tokens().await;
    let alice = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["subject"] == "alice")
        .expect("alice listed");
    assert_eq!(alice["provider"], "p");
    assert_eq!(alice["kind"], "user");
    assert_eq!(alice["status"], "valid");
    assert_eq!(alice["has_refresh_token"], true);
    assert!(alice["expires_at"].as_str().unwrap().ends_with('Z'));
    assert!(!tokens.to_string().contains(&bearer(&seen[0])));

    // Refresh twice: each rotates the refresh token, and the fake refuses any reuse.
    for n in 1..=2 {
        let resp = proxy.refresh_now("p", "alice").await;
        assert_eq!(resp.status(), 200, "{kind:?}: {:?}", resp.text().await);
        assert_eq!(fake.requests("refresh_token"), n);
    }
    assert!(fake.refused().is_empty(), "{kind:?}: {:?}", fake.refused());
    assert!(fake.rejected().is_empty(), "{kind:?}: {:?}", fake.rejected());

    // A restart keeps alice working without a new login.
    let proxy = proxy.restart().await;
    proxy.ready().await;
    assert_eq!(proxy.get("/fixed/me").await.status(), 200);
    assert!(fake.is_valid(&bearer(&up.last().unwrap())));
    let resp = proxy.refresh_now("p", "alice").await;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    assert_eq!(
        status, 200,
        "{kind:?} refreshes with the stored, rotated refresh token: {text}"
    );
    assert!(fake.refused().is_empty(), "{kind:?}: {:?}", fake.refused());
    assert_eq!(fake.requests("authorization_code"), 1, "no second login");
    proxy.stop().await;
}

#[tokio::test]
async fn every_kind_logs_in_refreshes_and_survives_a_restart() {
    for kind in KINDS {
        login_refresh_and_restart(kind).await;
    }
}

#[tokio::test]
async fn login_redirects_carry_each_platforms_parameters() {
    for kind in KINDS {
        let (fake, _up, proxy) = setup(kind).await;
        let resp = proxy.login(&fake, "p", "bob").await;
        assert_eq!(resp.status(), 200, "{kind:?}");
        let q = fake.last_authorize_query();
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        match kind {
            Kind::Blaze => {
                let scopes: Vec<_> = q
                    .iter()
                    .filter(|(k, _)| k == "scopes")
                    .map(|(_, v)| v.clone())
                    .collect();
                assert_eq!(scopes, ["a:read", "b:write"]);
            }
            Kind::Firework => assert_eq!(get("scope").as_deref(), Some("openid")),
            Kind::StreamerSonglist => assert_eq!(get("scope").as_deref(), Some("a:read,b:write")),
            _ => assert_eq!(get("scope").as_deref(), Some("a:read b:write"), "{kind:?}"),
        }
        if kind != Kind::Blaze {
            assert_eq!(get("response_type").as_deref(), Some("code"));
            assert!(get("state").is_some_and(|s| s.len() >= 32));
            let redirect = get("redirect_uri").unwrap();
            assert_eq!(
                redirect,
                format!("http://localhost:{}/oauth/p/callback", proxy.admin.port())
            );
        }
        if let Kind::OAuth2 { .. } = kind {
            assert_eq!(get("code_challenge_method").as_deref(), Some("S256"));
            assert!(fake.last_code_verifier().is_some());
        }
        let _ = kind_name(kind);
        proxy.stop().await;
    }
}

#[tokio::test]
async fn blaze_asks_for_the_chat_bot_scopes_by_default() {
    let fake = FakePlatform::start(Kind::Blaze).await;
    let proxy = Proxy::start("", &provider("blaze", &fake)).await;
    assert_eq!(proxy.login(&fake, "blaze", "default").await.status(), 200);
    let scopes: Vec<_> = fake
        .last_authorize_query()
        .into_iter()
        .filter(|(k, _)| k == "scopes")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        scopes,
        ["users.read", "offline.access", "channel.moderate", "users.bot"]
    );
    proxy.stop().await;
}

#[tokio::test]
async fn forged_reused_missing_and_denied_states_are_refused_without_an_exchange() {
    let (fake, _up, proxy) = setup(Kind::Twitch).await;
    let client = proxy.no_redirect();
    let callback = |q: &str| proxy.admin_url(&format!("/oauth/p/callback?{q}"));
    for q in ["code=abc&state=forged", "code=abc", "code=abc&state="] {
        let resp = client.get(callback(q)).send().await.unwrap();
        assert_eq!(resp.status(), 400, "{q}");
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
    }
    // A real login's callback works once; replaying it is refused.
    let start = client
        .get(proxy.public_url("/oauth/p/login?user=carol"))
        .send()
        .await
        .unwrap();
    let location = start.headers()["location"].to_str().unwrap().to_string();
    let back = fake.follow_authorize(&location).await.unwrap();
    assert_eq!(client.get(&back).send().await.unwrap().status(), 200);
    let again = client.get(&back).send().await.unwrap();
    assert_eq!(again.status(), 400);
    assert!(again.text().await.unwrap().contains("already used"));
    assert_eq!(fake.requests("authorization_code"), 1);

    // The platform's error=access_denied gets a page that says so.
    fake.set_deny(true);
    let start = client
        .get(proxy.public_url("/oauth/p/login?user=dave"))
        .send()
        .await
        .unwrap();
    let location = start.headers()["location"].to_str().unwrap().to_string();
    let back = fake.follow_authorize(&location).await.unwrap();
    let denied = client.get(&back).send().await.unwrap();
    assert_eq!(denied.status(), 400);
    let page = denied.text().await.unwrap();
    assert!(
        page.contains("denied") && page.contains("Connect again"),
        "{page}"
    );
    assert_eq!(fake.requests("authorization_code"), 1);
    // An error without a state (some platforms drop it on errors): 400, and what it said.
    let resp = client
        .get(callback(
            "error=access_denied&error_description=The+user+denied+you+access",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let page = resp.text().await.unwrap();
    assert!(
        page.contains("access_denied") && page.contains("The user denied you access"),
        "{page}"
    );
    assert_eq!(fake.requests("authorization_code"), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn a_refused_refresh_means_needs_login_everywhere() {
    let (fake, _up, proxy) = setup(Kind::Twitch).await;
    assert_eq!(proxy.login(&fake, "p", "alice").await.status(), 200);
    proxy.ready().await;
    fake.fail_next(Failure::Status(400), 1);
    let resp = proxy.refresh_now("p", "alice").await;
    assert_eq!(resp.status(), 502);
    let tokens = proxy.tokens().await;
    assert_eq!(tokens[0]["status"], "needs_login", "{tokens}");
    let ready = proxy.http.get(proxy.admin_url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.text().await.unwrap().contains("needs_login"));
    let page = proxy
        .http
        .get(proxy.admin_url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // As a word the reader sees, not only in markup (SPEC: "with the word `needs_login`").
    assert!(page.contains(">needs_login<"), "{page}");
    let series = "token_sidecar_token_needs_login{provider=\"p\",subject=\"alice\"}";
    assert_eq!(proxy.metric(series).await, Some(1.0));
    let resp = proxy.get("/fixed/me").await;
    assert_eq!(resp.status(), 503);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "token_unavailable");
    assert!(body.to_string().contains("needs_login"));
    assert!(body["login_url"]
        .as_str()
        .unwrap()
        .ends_with("/oauth/p/login?user=alice"));
    // Not retried until a new login...
    let attempts = fake.attempts();
    assert_eq!(proxy.get("/fixed/me").await.status(), 503);
    assert_eq!(fake.attempts(), attempts);
    // ...which brings it back.
    assert_eq!(proxy.login(&fake, "p", "alice").await.status(), 200);
    proxy.ready().await;
    assert_eq!(proxy.get("/fixed/me").await.status(), 200);
    proxy.stop().await;
}

#[tokio::test]
async fn user_tokens_refresh_on_schedule_and_after_a_401() {
    let (fake, up, proxy) = setup(Kind::Glimesh).await;
    fake.set_expires_in(2);
    assert_eq!(proxy.login(&fake, "p", "alice").await.status(), 200);
    assert!(
        fake.wait_requests("refresh_token", 2, WAIT).await,
        "refreshed before expiry, twice"
    );
    assert_eq!(proxy.get("/fixed/x").await.status(), 200);
    // With an hour-long token no scheduled refresh interferes with the 401's.
    fake.set_expires_in(3600);
    let resp = proxy.refresh_now("p", "alice").await;
    assert_eq!(resp.status(), 200);
    up.reject_next(1);
    let before = fake.requests("refresh_token");
    assert_eq!(proxy.get("/fixed/x").await.status(), 200);
    assert!(fake.requests("refresh_token") > before);
    assert!(fake.refused().is_empty(), "{:?}", fake.refused());
    proxy.stop().await;
}

#[tokio::test]
async fn firework_refreshes_an_idle_grant_before_its_refresh_token_lapses() {
    let fake = FakePlatform::start(Kind::Firework).await;
    fake.set_refresh_expires_in(3);
    let proxy = Proxy::with_route(&fake, "fw", "", "/fw", "http://127.0.0.1:9/", "token = \"user\"").await;
    assert_eq!(proxy.login(&fake, "fw", "alice").await.status(), 200);
    // The access token lives 7200 s; only the refresh token's 3 s lifetime forces this.
    assert!(fake.wait_requests("refresh_token", 2, WAIT).await);
    assert!(fake.rejected().is_empty(), "{:?}", fake.rejected());
    assert!(fake.refused().is_empty(), "{:?}", fake.refused());
    proxy.stop().await;
}

#[tokio::test]
async fn twitch_user_tokens_are_validated_at_start() {
    let (fake, _up, proxy) = setup(Kind::Twitch).await;
    assert_eq!(proxy.login(&fake, "p", "alice").await.status(), 200);
    let before = fake.validations();
    // A token revoked while the proxy was down: validation says 401, so it refreshes.
    fake.revoke_all();
    let proxy = proxy.restart().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while fake.validations() == before || fake.requests("refresh_token") == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "validated and refreshed at start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.ready().await;
    assert_eq!(proxy.get("/fixed/me").await.status(), 200);
    assert!(fake.rejected().is_empty(), "{:?}", fake.rejected());
    proxy.stop().await;
}

#[tokio::test]
async fn a_fresh_login_is_never_overtaken_by_its_refresher() {
    // The refresher of a new user slot once raced the login's install and marked it
    // needs_login; the slot now waits for a token and the install takes the refresh lock.
    for _ in 0..20 {
        let (fake, up, proxy) = setup(Kind::Blaze).await;
        assert_eq!(proxy.login(&fake, "p", "alice").await.status(), 200);
        assert_eq!(proxy.get("/fixed/x").await.status(), 200);
        assert_eq!(proxy.tokens().await[0]["status"], "valid");
        assert!(up.count() >= 1);
        proxy.stop().await;
    }
}
