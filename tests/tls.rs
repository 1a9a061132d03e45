//! TLS to upstreams and token endpoints: extra roots from `ca_file` (per route and per
//! provider), HTTP/2 when the upstream offers it by ALPN, and refusal of untrusted servers.

mod harness;
mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use harness::Proxy;

/// A TLS server on 127.0.0.1 for `localhost`, answering every request with `body`, and
/// recording each request's HTTP version and authorization.
async fn tls_server(
    body: &'static str,
) -> (
    SocketAddr,
    String,
    Arc<Mutex<Vec<(http::Version, Option<String>)>>>,
) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let cert_pem = certified.cert.pem();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .expect("server config");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, record) = (acceptor.clone(), Arc::clone(&record));
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let auth = req
                        .headers()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(String::from);
                    record.lock().unwrap().push((req.version(), auth));
                    async move {
                        let resp = http::Response::builder()
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from_static(body.as_bytes())))
                            .unwrap();
                        Ok::<_, Infallible>(resp)
                    }
                });
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = builder.serve_connection(TokioIo::new(tls), service).await;
            });
        }
    });
    (addr, cert_pem, seen)
}

#[tokio::test]
async fn https_upstream_and_token_endpoint_with_extra_roots_and_http2() {
    let (platform, platform_pem, token_calls) =
        tls_server(r#"{"access_token":"tls-app-token","expires_in":3600,"token_type":"bearer"}"#).await;
    let (api, api_pem, api_calls) = tls_server(r#"{"ok":true}"#).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("platform.pem"), &platform_pem).unwrap();
    std::fs::write(dir.path().join("api.pem"), &api_pem).unwrap();
    let body = format!(
        "[providers.p]\nkind = \"oauth2\"\nclient_id = \"c\"\nclient_secret = \"s\"\n\
         token_url = \"https://localhost:{}/token\"\nca_file = \"{}\"\n\
         [[routes]]\nprefix = \"/api\"\nprovider = \"p\"\nupstream = \"https://localhost:{}/v1\"\nca_file = \"{}\"\n\
         [[routes]]\nprefix = \"/untrusted\"\nprovider = \"p\"\nupstream = \"https://localhost:{}/v1\"\n",
        platform.port(),
        dir.path().join("platform.pem").display(),
        api.port(),
        dir.path().join("api.pem").display(),
        api.port(),
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
    // Without the extra root, the self-signed upstream is not trusted.
    let resp = proxy.get("/untrusted/things").await;
    assert_eq!(resp.status(), 502);
    assert_eq!(api_calls.lock().unwrap().len(), 1);
    proxy.stop().await;
}
