//! A token endpoint that is malformed, huge, slow, failing or resetting: clear 503s and an
//! unready proxy, never a crash or a hang, the current token serving while it lasts, and
//! recovery on its own once the endpoint works again.

mod harness;
mod support;

use std::time::Duration;

use harness::{provider, route, Proxy, WAIT};
use support::{Failure, FakePlatform, FakeUpstream, Kind};

async fn start(fake: &FakePlatform, server: &str) -> (FakeUpstream, Proxy) {
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let body = format!("{}{}", provider("p", fake), route("/t", "p", &up.url(""), ""));
    let proxy = Proxy::start(server, &body).await;
    (up, proxy)
}

async fn refuses_then_recovers(failure: Failure, server: &str) {
    let fake = FakePlatform::start(Kind::Twitch).await;
    fake.set_failure(failure.clone());
    let (up, proxy) = start(&fake, server).await;
    assert!(fake.wait_attempts(1, WAIT).await, "the proxy asked for a token");
    let resp = proxy.get("/t/x").await;
    assert_eq!(resp.status(), 503, "{failure:?}");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "token_unavailable");
    let text = body.to_string();
    assert!(!text.contains("fake-client-secret"));
    let ready = proxy.http.get(proxy.admin_url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let failures =
        "token_sidecar_token_requests_total{grant=\"client_credentials\",provider=\"p\",result=\"failure\"}";
    assert!(proxy.metric(failures).await.unwrap_or(0.0) >= 1.0);
    assert_eq!(up.count(), 0);

    fake.set_failure(Failure::None);
    fake.set_delay(Duration::ZERO);
    proxy.ready().await;
    assert_eq!(proxy.get("/t/x").await.status(), 200);
    proxy.stop().await;
}

#[tokio::test]
async fn garbage_answer() {
    refuses_then_recovers(Failure::Garbage, "").await;
}

#[tokio::test]
async fn huge_answer() {
    refuses_then_recovers(Failure::Huge, "").await;
}

#[tokio::test]
async fn answer_without_access_token() {
    refuses_then_recovers(Failure::MissingField, "").await;
}

#[tokio::test]
async fn connection_reset() {
    refuses_then_recovers(Failure::Reset, "").await;
}

#[tokio::test]
async fn server_error() {
    refuses_then_recovers(Failure::Status(500), "").await;
}

#[tokio::test]
async fn refused_client_credentials() {
    refuses_then_recovers(Failure::Status(401), "").await;
}

#[tokio::test]
async fn slow_endpoint_times_out() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    fake.set_delay(Duration::from_secs(5));
    let (_up, proxy) = start(&fake, "request_timeout = \"300ms\"").await;
    let started = std::time::Instant::now();
    let resp = proxy.get("/t/x").await;
    assert_eq!(resp.status(), 503);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered within the call timeout"
    );
    fake.set_delay(Duration::ZERO);
    proxy.ready().await;
    proxy.stop().await;
}

#[tokio::test]
async fn endpoint_down_entirely() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let up = FakeUpstream::start().await;
    let body = format!(
        "[providers.p]\nkind = \"twitch\"\nclient_id = \"c\"\nclient_secret = \"s\"\n\
         token_url = \"http://{closed}/oauth2/token\"\n{}",
        route("/t", "p", &up.url(""), "")
    );
    let proxy = Proxy::start("", &body).await;
    let resp = proxy.get("/t/x").await;
    assert_eq!(resp.status(), 503);
    proxy.stop().await;
}

#[tokio::test]
async fn the_current_token_serves_through_failures_and_is_never_used_expired() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    fake.set_expires_in(3);
    let (up, proxy) = start(&fake, "").await;
    proxy.ready().await;
    fake.set_failure(Failure::Status(503));
    // The scheduled refresh (at half the lifetime) fails...
    assert!(fake.wait_attempts(2, WAIT).await);
    // ...and the token still serves.
    assert_eq!(proxy.get("/t/x").await.status(), 200);
    // Past its expiry it is not injected: 503, not a request the platform would refuse.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let status = proxy.get("/t/x").await.status();
        if status == 503 {
            break;
        }
        assert_eq!(status, 200);
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = up.count();
    assert!(seen >= 1);
    // Retries back off rather than hammering the endpoint.
    let attempts = fake.attempts();
    assert!(attempts < 10, "{attempts} attempts in a few seconds");
    fake.set_failure(Failure::None);
    proxy.ready().await;
    assert_eq!(proxy.get("/t/x").await.status(), 200);
    proxy.stop().await;
}
