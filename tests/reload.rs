//! Live reload: file changes and SIGHUP swap in a valid configuration without dropping
//! in-flight requests or the tokens of unchanged providers; an invalid one changes nothing.

mod harness;
mod support;

use std::time::Duration;

use harness::{provider, route, Proxy};
use support::{FakePlatform, FakeUpstream, Kind};

const GENERATION: &str = "token_sidecar_config_generation";

#[tokio::test]
async fn a_changed_file_adds_a_route_and_keeps_tokens() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let (a, b) = (
        FakeUpstream::start_checking(fake.clone()).await,
        FakeUpstream::start().await,
    );
    let base = format!("{}{}", provider("tw", &fake), route("/a", "tw", &a.url(""), ""));
    let proxy = Proxy::start("", &base).await;
    proxy.ready().await;
    assert_eq!(proxy.get("/b/x").await.status(), 404);
    a.set_delay(Duration::from_millis(1500));
    let in_flight = {
        let (http, url) = (proxy.http.clone(), proxy.url("/a/slow"));
        tokio::spawn(async move { http.get(url).send().await.map(|r| r.status().as_u16()) })
    };
    assert!(a.wait_count(1, harness::WAIT).await);

    let text = format!("{}{}", proxy.config_text(), route("/b", "tw", &b.url(""), ""));
    std::fs::write(proxy.config_path(), text).unwrap();
    proxy.wait_metric(GENERATION, 2.0).await;
    assert_eq!(proxy.get("/b/x").await.status(), 200);
    assert_eq!(
        in_flight.await.unwrap().unwrap(),
        200,
        "the in-flight request finished"
    );
    assert_eq!(
        fake.requests("client_credentials"),
        1,
        "the unchanged provider kept its token"
    );
    assert_eq!(
        proxy
            .metric("token_sidecar_config_reloads_total{result=\"success\"}")
            .await,
        Some(1.0)
    );
    proxy.stop().await;
}

#[tokio::test]
async fn an_invalid_change_keeps_the_old_configuration() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start().await;
    let proxy = Proxy::with_route(&fake, "tw", "", "/a", &up.url(""), "").await;
    proxy.ready().await;
    let broken = format!(
        "{}\n[[routes]]\nprefix = \"/c\"\nprovider = \"nope\"\n",
        proxy.config_text()
    );
    std::fs::write(proxy.config_path(), broken).unwrap();
    proxy
        .wait_metric("token_sidecar_config_reloads_total{result=\"failure\"}", 1.0)
        .await;
    assert_eq!(proxy.metric(GENERATION).await, Some(1.0));
    assert_eq!(proxy.get("/a/x").await.status(), 200);
    // SIGHUP with the same broken file fails again, and still nothing changes.
    proxy.trigger_reload();
    proxy
        .wait_metric("token_sidecar_config_reloads_total{result=\"failure\"}", 2.0)
        .await;
    assert_eq!(proxy.get("/a/x").await.status(), 200);
    proxy.stop().await;
}

#[tokio::test]
async fn a_changed_client_secret_file_is_read_again() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let dir_secret = "secret.txt";
    let body = format!("{}{}", provider("tw", &fake), route("/a", "tw", &up.url(""), "")).replace(
        "client_secret = \"fake-client-secret\"",
        &format!("client_secret_file = \"{dir_secret}\""),
    );
    // The proxy starts with a wrong secret: the platform refuses it.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(dir_secret), "wrong-secret\n").unwrap();
    let body = body.replace(dir_secret, &dir.path().join(dir_secret).display().to_string());
    let proxy = Proxy::start("", &body).await;
    assert!(fake.wait_attempts(1, harness::WAIT).await);
    assert_eq!(proxy.get("/a/x").await.status(), 503);
    std::fs::write(
        dir.path().join(dir_secret),
        format!("{}\n", support::CLIENT_SECRET),
    )
    .unwrap();
    proxy.wait_metric(GENERATION, 2.0).await;
    proxy.ready().await;
    assert_eq!(proxy.get("/a/x").await.status(), 200);
    proxy.stop().await;
}

#[tokio::test]
async fn a_replaced_provider_hands_its_users_over_without_a_new_login() {
    let fake = FakePlatform::start(Kind::Blaze).await;
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let proxy = Proxy::with_route(
        &fake,
        "bz",
        "",
        "/u",
        &up.url(""),
        "token = \"user\"\nuser = \"alice\"",
    )
    .await;
    assert_eq!(proxy.login(&fake, "bz", "alice").await.status(), 200);
    proxy.ready().await;
    // New scopes: the provider is rebuilt, its tokens come back from the store.
    let text = proxy
        .config_text()
        .replace("[providers.bz]\n", "[providers.bz]\nscopes = [\"users.read\"]\n");
    std::fs::write(proxy.config_path(), text).unwrap();
    proxy.wait_metric(GENERATION, 2.0).await;
    proxy.ready().await;
    assert_eq!(proxy.get("/u/me").await.status(), 200);
    let resp = proxy.refresh_now("bz", "alice").await;
    assert_eq!(resp.status(), 200);
    assert!(fake.refused().is_empty(), "{:?}", fake.refused());
    assert_eq!(fake.requests("authorization_code"), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn a_reload_that_cannot_read_the_store_changes_nothing() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let proxy = Proxy::with_route(&fake, "tw", "", "/a", &up.url(""), "").await;
    proxy.ready().await;
    assert_eq!(fake.requests("client_credentials"), 1);
    // The store is corrupt and the provider changes, so the reload must read the store to
    // hand the provider's tokens to its successor: that last step fails.
    std::fs::write(proxy.dir.path().join("tokens.json"), "{\"version\": 1, \"tok").unwrap();
    let text = proxy
        .config_text()
        .replace("[providers.tw]\n", "[providers.tw]\napp_scopes = [\"a:read\"]\n");
    std::fs::write(proxy.config_path(), text).unwrap();
    proxy
        .wait_metric("token_sidecar_config_reloads_total{result=\"failure\"}", 1.0)
        .await;
    assert_eq!(proxy.metric(GENERATION).await, Some(1.0));

    // The old generation keeps serving, and keeps its token fresh: on demand, and on its
    // schedule once tokens live two seconds.
    fake.set_expires_in(2);
    let resp = proxy.refresh_now("tw", "app").await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    assert_eq!(fake.requests("client_credentials"), 2);
    assert!(fake.wait_requests("client_credentials", 4, harness::WAIT).await);
    assert_eq!(proxy.get("/a/x").await.status(), 200);
    let last = up.last().expect("forwarded");
    let auth = last.headers["authorization"].to_str().unwrap();
    assert!(fake.is_valid(auth.trim_start_matches("Bearer ")));
    assert!(fake.rejected().is_empty(), "{:?}", fake.rejected());
    proxy.stop().await;
}
