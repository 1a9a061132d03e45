//! App tokens for every platform that has them, fetched exactly as each platform documents,
//! injected with the platform's headers, shared by concurrent first requests, refreshed
//! before expiry, and refreshed once more after an upstream 401.

mod harness;
mod support;

use std::time::Duration;

use harness::{Proxy, WAIT};
use support::{FakePlatform, FakeUpstream, Kind, CLIENT_ID, CLIENT_SECRET};

async fn proxy_for(kind: Kind) -> (FakePlatform, FakeUpstream, Proxy) {
    let fake = FakePlatform::start(kind).await;
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let proxy = Proxy::with_route(&fake, "p", "", "/api", &up.url("/base"), "").await;
    (fake, up, proxy)
}

async fn app_token_is_fetched_and_injected(kind: Kind, client_id_header: bool) {
    let (fake, up, proxy) = proxy_for(kind).await;
    proxy.ready().await;
    let resp = proxy.get("/api/users?id=1&x=%20y").await;
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    let got = up.last().expect("the upstream got the request");
    assert_eq!(got.path, "/base/users");
    assert_eq!(got.query.as_deref(), Some("id=1&x=%20y"));
    let auth = got
        .headers
        .get("authorization")
        .expect("authorization")
        .to_str()
        .unwrap();
    let token = auth.strip_prefix("Bearer ").expect("Bearer scheme");
    assert!(fake.is_valid(token));
    assert_eq!(
        got.headers.get("client-id").map(|v| v.to_str().unwrap()),
        client_id_header.then_some(CLIENT_ID)
    );
    assert!(
        got.headers.get("secret").is_none(),
        "app routes never carry the client secret"
    );
    assert!(fake.rejected().is_empty(), "{:?}", fake.rejected());
    assert_eq!(fake.requests("client_credentials"), 1);
    let name = harness::kind_name(kind);
    let _ = name;
    let series =
        "token_sidecar_token_requests_total{grant=\"client_credentials\",provider=\"p\",result=\"success\"}";
    assert_eq!(proxy.metric(series).await, Some(1.0));
    let metrics = proxy.metrics().await;
    assert!(!metrics.contains(CLIENT_SECRET) && !metrics.contains(token));
    proxy.stop().await;
}

#[tokio::test]
async fn twitch_app_token_with_client_id_header() {
    app_token_is_fetched_and_injected(Kind::Twitch, true).await;
}

#[tokio::test]
async fn blaze_app_token_with_client_id_header() {
    app_token_is_fetched_and_injected(Kind::Blaze, true).await;
}

#[tokio::test]
async fn glimesh_app_token_by_query_string() {
    app_token_is_fetched_and_injected(Kind::Glimesh, false).await;
}

#[tokio::test]
async fn streamersonglist_app_token_always_sends_scope() {
    app_token_is_fetched_and_injected(Kind::StreamerSonglist, false).await;
}

#[tokio::test]
async fn oauth2_app_token_with_credentials_in_the_body() {
    app_token_is_fetched_and_injected(Kind::OAuth2 { basic: false }, false).await;
}

#[tokio::test]
async fn oauth2_app_token_with_http_basic() {
    app_token_is_fetched_and_injected(Kind::OAuth2 { basic: true }, false).await;
}

#[tokio::test]
async fn hundreds_of_concurrent_first_requests_cause_one_token_request() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    fake.set_delay(Duration::from_millis(300));
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let proxy = Proxy::with_route(&fake, "p", "", "/api", &up.url(""), "").await;
    let mut tasks = Vec::new();
    for i in 0..300 {
        let http = proxy.http.clone();
        let url = proxy.url(&format!("/api/n/{i}"));
        tasks.push(tokio::spawn(async move {
            http.get(url).send().await.map(|r| r.status().as_u16())
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task").expect("answer"), 200);
    }
    assert_eq!(fake.attempts(), 1);
    assert_eq!(fake.requests("client_credentials"), 1);
    assert_eq!(up.count(), 300);
    proxy.stop().await;
}

#[tokio::test]
async fn short_lived_tokens_under_steady_traffic_are_never_sent_expired() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    fake.set_expires_in(2);
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let proxy = Proxy::with_route(&fake, "p", "", "/api", &up.url(""), "").await;
    proxy.ready().await;
    let started = tokio::time::Instant::now();
    let mut sent = 0;
    while started.elapsed() < Duration::from_secs(5) {
        let resp = proxy.get("/api/tick").await;
        assert_eq!(resp.status(), 200);
        sent += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Every 401 would have been replayed: the upstream saw exactly one request per call.
    assert_eq!(
        up.count(),
        sent,
        "some request carried a token the platform no longer took"
    );
    assert!(
        fake.requests("client_credentials") >= 3,
        "refreshed before each expiry"
    );
    let series = "token_sidecar_unauthorized_retries_total{route=\"/api\"}";
    assert_eq!(proxy.metric(series).await.unwrap_or(0.0), 0.0);
    proxy.stop().await;
}

#[tokio::test]
async fn an_upstream_401_refreshes_the_token_and_replays_the_request_once() {
    let (fake, up, proxy) = proxy_for(Kind::Twitch).await;
    proxy.ready().await;
    up.reject_next(1);
    let resp = proxy
        .http
        .post(proxy.url("/api/things?page=2"))
        .header("content-type", "application/json")
        .header("x-tag", "first")
        .header("x-tag", "second")
        .body(r#"{"kept":true}"#)
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 200);
    let seen = up.requests();
    assert_eq!(seen.len(), 2);
    // The replay goes to the same rewritten target.
    assert_eq!(seen[0].path, "/base/things");
    assert_eq!(seen[0].query.as_deref(), Some("page=2"));
    assert_eq!((&seen[1].path, &seen[1].query), (&seen[0].path, &seen[0].query));
    assert_eq!(seen[1].method, "POST");
    // With the same headers, a repeated one's values in their order, and only the token new.
    let values = |i: usize, name: &str| -> Vec<String> {
        seen[i]
            .headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(values(1, "x-tag"), ["first", "second"]);
    for name in ["x-tag", "content-type", "client-id", "host"] {
        assert_eq!(values(0, name), values(1, name), "{name}");
    }
    assert_eq!(values(1, "client-id").len(), 1);
    assert_eq!(seen[0].body, seen[1].body);
    assert_eq!(seen[1].body, br#"{"kept":true}"#);
    assert_ne!(
        seen[0].headers.get("authorization"),
        seen[1].headers.get("authorization")
    );
    assert_eq!(fake.requests("client_credentials"), 2);
    assert_eq!(
        proxy
            .metric("token_sidecar_unauthorized_retries_total{route=\"/api\"}")
            .await,
        Some(1.0)
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_body_too_large_to_keep_gets_the_401_and_the_next_request_the_new_token() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let proxy = Proxy::with_route(&fake, "p", "retry_buffer = 16", "/api", &up.url(""), "").await;
    proxy.ready().await;
    up.reject_next(1);
    let resp = proxy
        .http
        .post(proxy.url("/api/x"))
        .body(vec![b'a'; 1024])
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 401);
    let resp = proxy.get("/api/y").await;
    assert_eq!(resp.status(), 200);
    let seen = up.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body.len(), 1024, "the large body streamed through whole");
    assert_ne!(
        seen[0].headers.get("authorization"),
        seen[1].headers.get("authorization")
    );
    assert_eq!(fake.requests("client_credentials"), 2);
    proxy.stop().await;
}

#[tokio::test]
async fn concurrent_401s_for_one_token_cause_one_refresh() {
    let (fake, up, proxy) = proxy_for(Kind::Twitch).await;
    proxy.ready().await;
    fake.revoke_all();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let http = proxy.http.clone();
        let url = proxy.url("/api/z");
        tasks.push(tokio::spawn(async move {
            http.get(url).send().await.map(|r| r.status().as_u16())
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task").expect("answer"), 200);
    }
    assert_eq!(
        fake.requests("client_credentials"),
        2,
        "one initial token, one refresh"
    );
    assert!(up.count() >= 100);
    let _ = WAIT;
    proxy.stop().await;
}
