//! Metric series follow the configuration and the tokens: a route removed by a reload, or a
//! user removed, takes its series with it, instead of exporting frozen numbers forever.

mod harness;
mod support;

use harness::{provider, route, Proxy};
use support::{FakePlatform, FakeUpstream, Kind};

#[tokio::test]
async fn a_route_removed_by_a_reload_takes_its_series_with_it() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start().await;
    up.set_header("ratelimit-remaining", "5");
    let keep = format!("{}{}", provider("tw", &fake), route("/a", "tw", &up.url(""), ""));
    let text = format!("{keep}{}", route("/b", "tw", &up.url(""), ""));
    let proxy = Proxy::start("", &text).await;
    proxy.ready().await;
    assert_eq!(proxy.get("/a/x").await.status(), 200);
    assert_eq!(proxy.get("/b/x").await.status(), 200);
    let before = proxy.metrics().await;
    assert!(before.contains("route=\"/b\""), "{before}");
    assert!(
        before.contains("token_sidecar_ratelimit_remaining{route=\"/b\"} 5"),
        "{before}"
    );

    let mut config = proxy.config_text().to_string();
    config.truncate(config.find("[[routes]]\nprefix = \"/b\"").expect("route /b"));
    std::fs::write(proxy.config_path(), config).unwrap();
    proxy.wait_metric("token_sidecar_config_generation", 2.0).await;

    let after = proxy.metrics().await;
    assert!(!after.contains("route=\"/b\""), "{after}");
    assert!(
        after.contains("token_sidecar_requests_total{method=\"GET\",route=\"/a\",status=\"200\"} 1"),
        "the remaining route keeps its counts: {after}"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_user_removed_takes_the_token_series_with_it() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start().await;
    let text = format!(
        "{}{}",
        provider("tw", &fake),
        route("/u", "tw", &up.url(""), "token = \"user\"")
    );
    let proxy = Proxy::start("", &text).await;
    assert_eq!(proxy.login(&fake, "tw", "bob").await.status(), 200);
    let expiry = "token_sidecar_token_expiry_timestamp_seconds{provider=\"tw\",subject=\"bob\"}";
    let before = proxy.metrics().await;
    assert!(before.contains(expiry), "{before}");
    assert!(
        before.contains("token_sidecar_token_needs_login{provider=\"tw\",subject=\"bob\"} 0"),
        "{before}"
    );

    let resp = proxy
        .http
        .delete(proxy.admin_url("/admin/tokens/tw/bob"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let after = proxy.metrics().await;
    assert!(!after.contains("subject=\"bob\""), "{after}");
    proxy.stop().await;
}
