//! An HTTPS server on 127.0.0.1 for `localhost` offering HTTP/2 and HTTP/1.1 by ALPN,
//! answering every request with a fixed JSON body and recording each request's version and
//! authorization, and how many connections it accepted. Its certificate is self-signed, or issued by a throwaway CA.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub type Seen = Arc<Mutex<Vec<(http::Version, Option<String>)>>>;

pub struct TlsServer {
    pub port: u16,
    /// The certificate to trust (PEM), for a `ca_file`.
    pub cert_pem: String,
    pub seen: Seen,
    /// TLS connections accepted (handshake done).
    pub connections: Arc<AtomicUsize>,
}

/// How the server's certificate is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cert {
    /// Self-signed for `localhost`: trusted as its own root.
    SelfSigned,
    /// A leaf for `localhost` issued by a throwaway CA, whose certificate is the one to trust.
    SignedByCa,
    /// The throwaway CA's own certificate, served as the server's: refused by webpki as
    /// CaUsedAsEndEntity even when trusted.
    CaAsServer,
}

/// The chain to serve, its key, and the PEM to trust.
fn certificates(kind: Cert) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>, String) {
    let key_der = |k: &KeyPair| PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(k.serialize_der()));
    if kind == Cert::SelfSigned {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
        let key = key_der(&certified.key_pair);
        return (vec![certified.cert.der().clone()], key, certified.cert.pem());
    }
    let mut ca = CertificateParams::new(vec!["localhost".to_string()]).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "token-sidecar throwaway test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().expect("CA key");
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    if kind == Cert::CaAsServer {
        return (vec![ca_cert.der().clone()], key_der(&ca_key), ca_cert.pem());
    }
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .expect("leaf params")
        .signed_by(&leaf_key, &ca_cert, &ca_key)
        .expect("leaf certificate");
    (vec![leaf.der().clone()], key_der(&leaf_key), ca_cert.pem())
}

pub async fn tls_server(body: &'static str) -> TlsServer {
    tls_server_with(body, Cert::SelfSigned).await
}

pub async fn tls_server_with(body: &'static str, cert: Cert) -> TlsServer {
    let (chain, key, cert_pem) = certificates(cert);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server config");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen: Seen = Arc::default();
    let connections = Arc::new(AtomicUsize::new(0));
    let (record, accepted) = (Arc::clone(&seen), Arc::clone(&connections));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, record) = (acceptor.clone(), Arc::clone(&record));
            let accepted = Arc::clone(&accepted);
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                accepted.fetch_add(1, Ordering::SeqCst);
                let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let auth = req
                        .headers()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(String::from);
                    record
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((req.version(), auth));
                    async move {
                        let resp = http::Response::builder()
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from_static(body.as_bytes())))
                            .expect("response");
                        Ok::<_, Infallible>(resp)
                    }
                });
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = builder.serve_connection(TokioIo::new(tls), service).await;
            });
        }
    });
    TlsServer {
        port,
        cert_pem,
        seen,
        connections,
    }
}
