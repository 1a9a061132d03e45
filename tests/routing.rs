//! The proxy listener's routing and header hygiene, and every error it answers itself.

mod harness;
mod support;

use std::time::Duration;

use harness::{provider, raw, route, Proxy};
use support::{Failure, FakePlatform, FakeUpstream, Kind};

async fn json(resp: reqwest::Response) -> serde_json::Value {
    resp.json().await.expect("a JSON body")
}

#[tokio::test]
async fn longest_prefix_wins_at_segment_boundaries() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let short = FakeUpstream::start().await;
    let long = FakeUpstream::start().await;
    let body = format!(
        "{}{}{}",
        provider("p", &fake),
        route("/a", "p", &short.url("/short/"), ""),
        route("/a/b", "p", &long.url("/long"), ""),
    );
    let proxy = Proxy::start("", &body).await;
    proxy.ready().await;
    for (path, upstream, expected) in [
        ("/a/b/c?q=1", &long, "/long/c"),
        ("/a/b", &long, "/long"),
        ("/a/bc", &short, "/short/bc"),
        ("/a", &short, "/short"),
        ("/a/", &short, "/short/"),
    ] {
        let resp = proxy.get(path).await;
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(upstream.last().expect("routed").path, expected, "{path}");
    }
    assert_eq!(long.last().unwrap().query, None);
    let resp = proxy.get("/ab").await;
    assert_eq!(resp.status(), 404);
    let body = json(resp).await;
    assert_eq!(body["error"], "no_route");
    assert!(body["message"].is_string());
    proxy.stop().await;
}

#[tokio::test]
async fn headers_are_cleaned_and_injected() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let proxy = Proxy::with_route(
        &fake,
        "p",
        "",
        "/t",
        &up.url(""),
        "headers = { \"x-extra\" = \"set\" }",
    )
    .await;
    proxy.ready().await;
    let resp = proxy
        .http
        .get(proxy.url("/t/x"))
        .header("authorization", "Bearer client-supplied")
        .header("client-id", "client-supplied")
        .header("x-extra", "client-supplied")
        .header("connection", "x-hop")
        .header("x-hop", "1")
        .header("keep-alive", "timeout=5")
        .header("te", "trailers")
        .header("proxy-authorization", "Basic abc")
        .header("x-token-user", "someone")
        .header("x-passed", "yes")
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 200);
    let h = up.last().expect("forwarded").headers;
    let auth = h.get("authorization").unwrap().to_str().unwrap();
    assert!(fake.is_valid(auth.trim_start_matches("Bearer ")));
    assert_eq!(h.get_all("authorization").iter().count(), 1);
    assert_eq!(h.get("client-id").unwrap(), "fake-client-id");
    assert_eq!(h.get("x-extra").unwrap(), "set");
    assert_eq!(h.get("x-passed").unwrap(), "yes");
    for gone in ["x-hop", "keep-alive", "te", "proxy-authorization", "x-token-user"] {
        assert!(h.get(gone).is_none(), "{gone} must not be forwarded");
    }
    let host = h.get("host").unwrap().to_str().unwrap();
    assert_eq!(host, up.url("").trim_start_matches("http://"));
    proxy.stop().await;
}

#[tokio::test]
async fn large_bodies_stream_through_both_ways_intact() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start().await;
    let proxy = Proxy::with_route(&fake, "p", "", "/t", &up.url(""), "").await;
    proxy.ready().await;
    let payload: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
    let resp = proxy
        .http
        .put(proxy.url("/t/upload"))
        .body(payload.clone())
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 200);
    assert_eq!(up.last().unwrap().body, payload);
    proxy.stop().await;
}

#[tokio::test]
async fn refuses_absolute_form_connect_and_dot_dot_escapes() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start().await;
    let proxy = Proxy::with_route(&fake, "p", "", "/t", &up.url("/api"), "").await;
    proxy.ready().await;
    let requests = [
        "GET http://example.com/t/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_string(),
        // As a client configured with this as its proxy sends them (`curl -x`): the Host is
        // the other host's, and the form is what is refused (400, not the host policy's 403).
        "GET http://example.com/t/x HTTP/1.1\r\nHost: example.com\r\n\r\n".to_string(),
        "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n".to_string(),
        format!(
            "GET http://{}/t/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            proxy.addr
        ),
        "CONNECT example.com:443 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_string(),
        "GET /t/..;/admin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_string(),
        "GET /t/%2e%2e;/admin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_string(),
        "GET /t/..%00/admin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_string(),
        "GET /t/../admin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_string(),
        "GET /t/%2e%2e/admin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_string(),
        "GET /t/%2E%2E%2Fadmin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_string(),
        "GET /t/%252e%252e/admin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_string(),
    ];
    for req in &requests {
        let answer = raw(proxy.addr, req).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{req:?} got {answer:?}");
        assert!(answer.contains("\"error\":\"bad_request\""), "{answer}");
    }
    assert_eq!(up.count(), 0, "nothing reached the upstream");
    proxy.stop().await;
}

#[tokio::test]
async fn upstream_down_is_a_fast_502() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    // A port that was just free: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let proxy = Proxy::with_route(&fake, "p", "", "/t", &format!("http://{closed}"), "").await;
    proxy.ready().await;
    let resp = proxy.get("/t/x").await;
    assert_eq!(resp.status(), 502);
    assert_eq!(json(resp).await["error"], "upstream_unavailable");
    let series = "token_sidecar_upstream_errors_total{reason=\"connect\",route=\"/t\"}";
    assert_eq!(proxy.metric(series).await, Some(1.0));
    proxy.stop().await;
}

#[tokio::test]
async fn a_slow_upstream_is_a_504_after_the_route_timeout() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start().await;
    up.set_delay(Duration::from_secs(3));
    let proxy = Proxy::with_route(&fake, "p", "", "/t", &up.url(""), "request_timeout = \"200ms\"").await;
    proxy.ready().await;
    let started = std::time::Instant::now();
    let resp = proxy.get("/t/slow").await;
    assert_eq!(resp.status(), 504);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(json(resp).await["error"], "upstream_timeout");
    proxy.stop().await;
}

#[tokio::test]
async fn a_pooled_connection_is_bounded_by_the_route_timeout_and_its_timer_set_again() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start().await;
    let proxy = Proxy::with_route(&fake, "p", "", "/t", &up.url(""), "request_timeout = \"200ms\"").await;
    proxy.ready().await;
    // The first exchange leaves its connection, and the connection's timer, in the pool.
    assert_eq!(proxy.get("/t/a").await.status(), 200);
    let first = up.peers();
    assert_eq!(first.len(), 1);
    // Idle past the timeout: the pooled timer fires with no exchange waiting on it...
    tokio::time::sleep(Duration::from_millis(400)).await;
    // ...and is set again for the next exchange on that connection, which it lets finish.
    assert_eq!(proxy.get("/t/b").await.status(), 200);
    assert_eq!(up.peers(), first, "the pooled connection was reused");
    // A slow answer on the pooled connection is a 504 at the route timeout.
    up.set_delay(Duration::from_secs(3));
    let started = std::time::Instant::now();
    let resp = proxy.get("/t/slow").await;
    assert_eq!(resp.status(), 504);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(json(resp).await["error"], "upstream_timeout");
    // That connection, still busy with the slow answer, is not lent again (the next
    // exchange would wait behind it and time out too).
    up.set_delay(Duration::ZERO);
    assert_eq!(proxy.get("/t/c").await.status(), 200);
    assert_eq!(up.last().map(|r| r.path), Some("/c".to_string()));
    proxy.stop().await;
}

#[tokio::test]
async fn no_token_is_a_503_token_unavailable() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    fake.set_failure(Failure::Status(500));
    let up = FakeUpstream::start().await;
    let proxy = Proxy::with_route(&fake, "p", "", "/t", &up.url(""), "").await;
    let resp = proxy.get("/t/x").await;
    assert_eq!(resp.status(), 503);
    let body = json(resp).await;
    assert_eq!(body["error"], "token_unavailable");
    assert_eq!(body["provider"], "p");
    assert_eq!(body["subject"], "app");
    assert_eq!(up.count(), 0);
    let ready = proxy.http.get(proxy.admin_url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let ready = json(ready).await;
    assert_eq!(ready["missing"][0]["provider"], "p");
    proxy.stop().await;
}

#[tokio::test]
async fn user_routes_need_a_user() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start().await;
    let body = format!(
        "{}{}{}",
        provider("p", &fake),
        route("/u", "p", &up.url(""), "token = \"user\""),
        route(
            "/fixed",
            "p",
            &up.url(""),
            "token = \"user\"\nuser = \"streamer\""
        ),
    );
    let proxy = Proxy::start("", &body).await;
    let resp = proxy.get("/u/x").await;
    assert_eq!(resp.status(), 400);
    assert_eq!(json(resp).await["error"], "bad_request");
    let resp = proxy
        .http
        .get(proxy.url("/u/x"))
        .header("x-token-user", "nobody")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let body = json(resp).await;
    assert_eq!(body["error"], "token_unavailable");
    assert_eq!(body["subject"], "nobody");
    assert!(
        body["login_url"]
            .as_str()
            .unwrap()
            .ends_with("/oauth/p/login?user=nobody"),
        "{body}"
    );
    let resp = proxy.get("/fixed/x").await;
    assert_eq!(resp.status(), 503);
    assert_eq!(json(resp).await["subject"], "streamer");
    assert_eq!(up.count(), 0);
    proxy.stop().await;
}

#[tokio::test]
async fn a_malformed_user_name_is_a_400() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start().await;
    let proxy = Proxy::with_route(&fake, "p", "", "/u", &up.url(""), "token = \"user\"").await;
    for bad in ["a/b", "has space", "x?y", &"n".repeat(129)] {
        let resp = proxy
            .http
            .get(proxy.url("/u/x"))
            .header("x-token-user", bad)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{bad}");
        assert_eq!(json(resp).await["error"], "bad_request");
    }
    let login = proxy
        .http
        .get(proxy.admin_url("/oauth/p/login?user=a%2Fb"))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 400);
    proxy.stop().await;
}

#[tokio::test]
async fn http2_clients_are_served() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let proxy = Proxy::with_route(&fake, "p", "", "/t", &up.url("/api"), "").await;
    proxy.ready().await;
    let h2 = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let resp = h2.get(proxy.url("/t/users?id=7")).send().await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    let seen = up.last().unwrap();
    assert_eq!(seen.path, "/api/users");
    assert_eq!(seen.query.as_deref(), Some("id=7"));
    proxy.stop().await;
}
