//! `rediss://` is Redis over TLS by rustls (no OpenSSL), trusting a private CA the way a
//! deployment adds one: `SSL_CERT_FILE`. Against a real `redis-server` with TLS on a free
//! port (Debian's is built with TLS). Its own binary: it sets a process environment variable.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use token_sidecar::metrics::StoreMetrics;
use token_sidecar::secret::{AccessToken, RedisUrl};
use token_sidecar::store::redis::{RedisStore, Settings};
use token_sidecar::store::{Expect, Saved, StoredToken, TokenStore};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
#[ignore = "needs redis-server"]
async fn a_rediss_url_is_tls_by_rustls_trusting_ssl_cert_file() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _server = Server(
        Command::new("redis-server")
            .args(["--port", "0", "--save", "", "--tls-auth-clients", "no"])
            .arg("--tls-port")
            .arg(port.to_string())
            .arg("--tls-cert-file")
            .arg(&cert)
            .arg("--tls-key-file")
            .arg(&key)
            .arg("--tls-ca-cert-file")
            .arg(&cert)
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server does not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The one thing this process's TLS trusts beyond the system's roots.
    std::env::set_var("SSL_CERT_FILE", &cert);
    let settings = Settings {
        url: RedisUrl::new(format!("rediss://localhost:{port}/0")),
        key_prefix: "tls".into(),
        lock_ttl: Duration::from_secs(5),
        max_lock_wait: Duration::from_secs(5),
        sealer: None,
    };
    let store = RedisStore::open(settings, StoreMetrics::unregistered()).unwrap();
    assert!(store.wait_up(Duration::from_secs(10)).await, "connects over TLS");
    let token = StoredToken {
        provider: "tw".into(),
        subject: "app".into(),
        kind: "app".into(),
        access_token: AccessToken::new("over-tls"),
        refresh_token: None,
        issued_at: 1.0,
        lifetime: 60.0,
        refresh_expires_at: None,
        scopes: Vec::new(),
        user_id: None,
        needs_login: false,
        refused: None,
    };
    assert!(matches!(
        store.save(token, Expect::Version(0)).await.unwrap(),
        Saved::Stored(_)
    ));
    let back = store.load_one("tw", "app").await.unwrap().unwrap();
    assert_eq!(back.token.access_token.secret(), "over-tls");
}
