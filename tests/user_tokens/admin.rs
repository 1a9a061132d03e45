//! What the admin surfaces do with user tokens: a delete revokes and forgets, `admin_token`
//! guards the API, the status page lists tokens and connect links, and `token-sidecar
//! tokens` lists the store, none of them showing a value.

use crate::harness::{provider, Proxy};
use crate::setup;
use crate::support::{FakePlatform, Kind};

#[tokio::test]
async fn delete_revokes_at_the_platform_and_forgets() {
    let (fake, _up, proxy) = setup(Kind::Twitch).await;
    assert_eq!(proxy.login(&fake, "p", "alice").await.status(), 200);
    let resp = proxy
        .http
        .delete(proxy.admin_url("/admin/tokens/p/alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["revoked"], true, "{body}");
    assert!(!fake.revoked().is_empty());
    // Alice holds no token now: /admin/tokens no longer lists her (the status page still
    // offers to connect her, since a route names her).
    let tokens = proxy.tokens().await;
    assert_eq!(tokens.as_array().unwrap().len(), 0, "{tokens}");
    let page = proxy.http.get(proxy.admin_url("/")).send().await.unwrap();
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("href=\"/oauth/p/login?user=alice\""));
    let resp = proxy
        .http
        .delete(proxy.admin_url("/admin/tokens/p/alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    // Gone from the store too: a restart does not bring it back.
    let proxy = proxy.restart().await;
    let tokens = proxy.tokens().await;
    assert_eq!(tokens.as_array().unwrap().len(), 0, "{tokens}");
    proxy.stop().await;
}

#[tokio::test]
async fn admin_token_guards_the_admin_api() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let proxy = Proxy::start("admin_token = \"letmein\"", &provider("p", &fake)).await;
    let url = proxy.admin_url("/admin/tokens");
    assert_eq!(proxy.http.get(&url).send().await.unwrap().status(), 401);
    let wrong = proxy.http.get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let right = proxy.http.get(&url).bearer_auth("letmein").send().await.unwrap();
    assert_eq!(right.status(), 200);
    // The scheme's name is case-insensitive; another scheme or a longer token is not it.
    for (header, status) in [
        ("bearer letmein", 200),
        ("BEARER letmein", 200),
        ("Basic letmein", 401),
        ("Bearer letmein2", 401),
        ("Bearer", 401),
    ] {
        let resp = proxy
            .http
            .get(&url)
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "{header}");
    }
    // Health and metrics stay open.
    assert_eq!(
        proxy
            .http
            .get(proxy.admin_url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    proxy.stop().await;
}

#[tokio::test]
async fn the_status_page_lists_providers_tokens_and_connect_links() {
    let (fake, _up, proxy) = setup(Kind::Twitch).await;
    assert_eq!(proxy.login(&fake, "p", "alice").await.status(), 200);
    let resp = proxy.http.get(proxy.admin_url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = resp.text().await.unwrap();
    // `default` (whom a login names when it names no one) has a connect link though no
    // route names it (SPEC, admin listener: "for each provider a connect link for the user
    // `default`"); the form connects anyone else.
    assert!(page.contains("href=\"/oauth/p/login?user=default\""), "{page}");
    assert!(page.contains("Connect a user"), "{page}");
    assert!(page.contains("href=\"/oauth/p/login?user=alice\""), "{page}");
    assert!(page.contains("alice") && page.contains("valid") && page.contains("a:read"));
    assert!(!page.contains("<script"));
    let store = std::fs::read_to_string(proxy.dir.path().join("tokens.json")).unwrap();
    let stored: serde_json::Value = serde_json::from_str(&store).unwrap();
    let access = stored["tokens"][0]["access_token"].as_str().unwrap();
    assert!(!page.contains(access));
    proxy.stop().await;
}

#[tokio::test]
async fn the_tokens_command_lists_stored_tokens_without_values() {
    let (fake, _up, proxy) = setup(Kind::Twitch).await;
    assert_eq!(proxy.login(&fake, "p", "alice").await.status(), 200);
    let config = proxy.dir.path().join("proxy.toml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_token-sidecar"))
        .arg("tokens")
        .arg("--config")
        .arg(&config)
        .output()
        .expect("run tokens");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("alice") && text.contains("user") && text.contains("valid"),
        "{text}"
    );
    let store = std::fs::read_to_string(proxy.dir.path().join("tokens.json")).unwrap();
    let stored: serde_json::Value = serde_json::from_str(&store).unwrap();
    for key in ["access_token", "refresh_token"] {
        let value = stored["tokens"][0][key].as_str().unwrap();
        assert!(!text.contains(value), "{key} printed");
    }
    proxy.stop().await;
}
