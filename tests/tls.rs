//! TLS to upstreams and token endpoints: extra roots from `ca_file` (per route and per
//! provider), HTTP/2 when the upstream offers it by ALPN, and refusal of untrusted servers.

mod harness;
mod support;

use harness::tls::tls_server;
use harness::Proxy;

#[tokio::test]
async fn https_upstream_and_token_endpoint_with_extra_roots_and_http2() {
    let platform =
        tls_server(r#"{"access_token":"tls-app-token","expires_in":3600,"token_type":"bearer"}"#).await;
    let api = tls_server(r#"{"ok":true}"#).await;
    let (platform_pem, token_calls) = (&platform.cert_pem, &platform.seen);
    let (api_pem, api_calls) = (&api.cert_pem, &api.seen);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("platform.pem"), platform_pem).unwrap();
    std::fs::write(dir.path().join("api.pem"), api_pem).unwrap();
    let body = format!(
        "[providers.p]\nkind = \"oauth2\"\nclient_id = \"c\"\nclient_secret = \"s\"\n\
         token_url = \"https://localhost:{}/token\"\nca_file = \"{}\"\n\
         [[routes]]\nprefix = \"/api\"\nprovider = \"p\"\nupstream = \"https://localhost:{}/v1\"\nca_file = \"{}\"\n\
         [[routes]]\nprefix = \"/untrusted\"\nprovider = \"p\"\nupstream = \"https://localhost:{}/v1\"\n",
        platform.port,
        dir.path().join("platform.pem").display(),
        api.port,
        dir.path().join("api.pem").display(),
        api.port,
    );
    let proxy = Proxy::start("", &body).await;
    proxy.ready().await;
    assert_eq!(token_calls.lock().unwrap().len(), 1);
    let resp = proxy.get("/api/things").await;
    assert_eq!(resp.status(), 200);
    let calls = api_calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, http::Version::HTTP_2, "ALPN chose HTTP/2");
    assert_eq!(calls[0].1.as_deref(), Some("Bearer tls-app-token"));
    // Later requests, at once or one after another, share that one multiplexed connection.
    let together = futures_util::future::join_all((0..8).map(|_| proxy.get("/api/things"))).await;
    assert!(together.iter().all(|r| r.status() == 200));
    assert_eq!(proxy.get("/api/things").await.status(), 200);
    assert_eq!(api_calls.lock().unwrap().len(), 10);
    assert_eq!(
        api.connections.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one HTTP/2 connection"
    );
    // Without the extra root, the self-signed upstream is not trusted.
    let resp = proxy.get("/untrusted/things").await;
    assert_eq!(resp.status(), 502);
    assert_eq!(api_calls.lock().unwrap().len(), 10);
    proxy.stop().await;
}
