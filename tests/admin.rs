//! The admin listener: health, readiness and the seven metrics of SPEC.md with their labels.

mod harness;
mod support;

use harness::{provider, Proxy};
use support::{FakePlatform, FakeUpstream, Kind};

#[tokio::test]
async fn healthz_readyz_and_every_metric() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let proxy = Proxy::with_route(&fake, "twitch", "", "/twitch", &up.url(""), "").await;
    let health = proxy.http.get(proxy.admin_url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    proxy.ready().await;
    let ready: serde_json::Value = proxy
        .http
        .get(proxy.admin_url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["ready"], true);

    up.reject_next(1);
    assert_eq!(proxy.get("/twitch/users").await.status(), 200);
    assert_eq!(proxy.get("/nowhere").await.status(), 404);

    let resp = proxy.http.get(proxy.admin_url("/metrics")).send().await.unwrap();
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = resp.text().await.unwrap();
    for series in [
        "token_sidecar_requests_total{method=\"GET\",route=\"/twitch\",status=\"200\"} 1",
        "token_sidecar_requests_total{method=\"GET\",route=\"none\",status=\"404\"} 1",
        "token_sidecar_request_duration_seconds_bucket{route=\"/twitch\",le=\"+Inf\"} 1",
        "token_sidecar_request_duration_seconds_count{route=\"/twitch\"} 1",
        "token_sidecar_in_flight_requests{route=\"/twitch\"} 0",
        "token_sidecar_unauthorized_retries_total{route=\"/twitch\"} 1",
        "token_sidecar_token_requests_total{grant=\"client_credentials\",provider=\"twitch\",result=\"success\"} 2",
        "# TYPE token_sidecar_upstream_errors_total counter",
        "# TYPE token_sidecar_token_expiry_timestamp_seconds gauge",
        "token_sidecar_token_expiry_timestamp_seconds{provider=\"twitch\",subject=\"app\"}",
    ] {
        assert!(text.contains(series), "missing {series:?} in:\n{text}");
    }
    let expiry = proxy
        .metric("token_sidecar_token_expiry_timestamp_seconds{provider=\"twitch\",subject=\"app\"}")
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(expiry > now && expiry < now + 3700.0, "{expiry} vs {now}");
    proxy.stop().await;
}

#[tokio::test]
async fn unknown_admin_paths_are_404() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let proxy = Proxy::start("", &provider("twitch", &fake)).await;
    let resp = proxy.http.get(proxy.admin_url("/nope")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    proxy.stop().await;
}
