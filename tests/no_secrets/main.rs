//! No secret ever shows: a whole session (app tokens, logins on four platforms, refreshes,
//! 401 replays, failing token endpoints, every kind of error, a revoke) runs with every
//! target logging at TRACE into memory; then the log, the metrics, the admin API, the status
//! page, every login page and every error body are searched for every client secret, access
//! and refresh token, authorization code, code verifier and device code the session used;
//! and every file the session left is searched too: only the store, the configuration and
//! the configured token file may hold one.
//!
//! This file is its own test binary with a single test, because it installs the global
//! tracing subscriber.

#[path = "../harness/mod.rs"]
mod harness;
#[path = "../support/mod.rs"]
mod support;

mod evidence;
mod session;

use evidence::{Capture, Evidence};
use harness::{provider, raw, route, Proxy};
use session::Session;
use support::{Failure, FakePlatform, FakeUpstream, Kind, CLIENT_SECRET};
use tracing_subscriber::EnvFilter;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_log_metrics_admin_api_pages_or_error_bodies() {
    let log = Capture::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new("trace"))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let tw = FakePlatform::start(Kind::Twitch).await;
    let bz = FakePlatform::start(Kind::Blaze).await;
    let o2 = FakePlatform::start(Kind::OAuth2 { basic: false }).await;
    let fw = FakePlatform::start(Kind::Firework).await;
    let up_tw = FakeUpstream::start_checking(tw.clone()).await;
    let up_bz = FakeUpstream::start_checking(bz.clone()).await;
    let up_o2 = FakeUpstream::start_checking(o2.clone()).await;
    let up_fw = FakeUpstream::start_checking(fw.clone()).await;
    let tls = harness::tls::tls_server(r#"{"ok":true}"#).await;
    let (tls_port, tls_pem, tls_seen) = (tls.port, tls.cert_pem, tls.seen);
    let pem_dir = tempfile::tempdir().expect("tempdir");
    let pem = pem_dir.path().join("upstream.pem");
    std::fs::write(&pem, tls_pem).expect("write pem");
    let user = |name: &str| format!("token = \"user\"\nuser = \"{name}\"");
    let files = tempfile::tempdir().expect("tempdir");
    let token_file = files.path().join("alice.irc");
    let body = [
        provider("tw", &tw),
        "scopes = [\"user:read:email\"]\n".into(),
        provider("bz", &bz),
        provider("o2", &o2),
        "scopes = [\"read\"]\n".into(),
        provider("fw", &fw),
        route("/tw-app", "tw", &up_tw.url("/helix"), ""),
        route("/tw", "tw", &up_tw.url("/helix"), &user("alice")),
        route("/tw-any", "tw", &up_tw.url("/helix"), "token = \"user\""),
        route("/bz", "bz", &up_bz.url("/v1"), &user("alice")),
        route("/o2", "o2", &up_o2.url("/api"), &user("alice")),
        route("/fw", "fw", &up_fw.url("/api"), &user("alice")),
        route(
            "/tw-tls",
            "tw",
            &format!("https://localhost:{tls_port}/helix"),
            &format!("ca_file = \"{}\"", pem.display()),
        ),
        format!(
            "[[token_files]]\nprovider = \"tw\"\nuser = \"alice\"\npath = \"{}\"\nformat = \"irc\"\n",
            token_file.display()
        ),
    ]
    .concat();
    let proxy = Proxy::start("", &body).await;
    let mut s = Session {
        proxy: &proxy,
        ev: Evidence::default(),
    };
    s.ev.secret(CLIENT_SECRET);

    // App token; the pages before anyone logged in.
    assert_eq!(s.get("/tw-app/users?login=x", None).await.0, 200);
    s.admin(reqwest::Method::GET, "/").await;
    s.admin(reqwest::Method::GET, "/readyz").await;
    // Over TLS with HTTP/2 upstream, and HTTP/2 (prior knowledge) from the client.
    assert_eq!(s.get("/tw-tls/users", None).await.0, 200);
    let h2 = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .expect("client");
    // (Whatever the proxy listener answers over h2 is searched too; it need not be a 200
    // here, this test is about secrets.)
    let resp = h2
        .get(proxy.url("/tw-tls/users"))
        .send()
        .await
        .expect("h2 answer");
    assert_eq!(resp.version(), http::Version::HTTP_2);
    s.record("GET proxy h2 /tw-tls/users".into(), resp, true).await;
    let resp = h2
        .get(proxy.admin_url("/admin/tokens"))
        .send()
        .await
        .expect("h2 answer");
    assert_eq!(
        s.record("GET admin h2 /admin/tokens".into(), resp, false).await.0,
        200
    );
    let tls_calls = tls_seen.lock().unwrap().clone();
    assert!(!tls_calls.is_empty());
    assert!(
        tls_calls.iter().all(|(v, _)| *v == http::Version::HTTP_2),
        "{tls_calls:?}"
    );
    for (_, auth) in tls_calls {
        s.ev.secret(
            auth.as_deref()
                .and_then(|a| a.strip_prefix("Bearer "))
                .expect("a bearer token"),
        );
    }

    // Logins: twitch, blaze (generate-auth-url, codeVerifier), oauth2 (PKCE), firework.
    s.login(&tw, "tw", "alice").await;
    s.login(&bz, "bz", "alice").await;
    s.login(&o2, "o2", "alice").await;
    s.login(&fw, "fw", "alice").await;
    for v in bz.blaze_code_verifiers() {
        s.ev.secret(&v);
    }
    let bz_verifier = bz
        .last_code_verifier()
        .expect("blaze's exchange carried the codeVerifier");
    assert!(bz.blaze_code_verifiers().contains(&bz_verifier));
    s.ev.secret(&bz_verifier);
    s.ev.secret(&o2.last_code_verifier().expect("oauth2 used PKCE"));

    // A device-code login through the admin API and the status page's waiting page.
    let (status, started) = s.admin(reqwest::Method::POST, "/admin/logins/o2?user=dave").await;
    assert_eq!(status, 200, "{started}");
    let started: serde_json::Value = serde_json::from_str(&started).expect("JSON");
    let id = started["login_id"].as_str().expect("login_id").to_string();
    let page = format!("/oauth/o2/device?login={id}");
    s.admin(reqwest::Method::GET, &page).await;
    assert!(o2.approve_device(started["user_code"].as_str().expect("user_code"), "dave"));
    let (_, done) = s
        .admin(reqwest::Method::GET, &format!("/admin/logins/{id}?wait=10"))
        .await;
    assert!(done.contains("connected"), "{done}");
    s.admin(reqwest::Method::GET, &page).await;
    for code in o2.device_code_values() {
        s.ev.secret(&code);
    }
    s.ev.store(&proxy);

    // Calls with each token, then refreshes (rotations included), then calls again.
    for round in 0..2 {
        for path in ["/tw/me", "/bz/me", "/o2/me", "/fw/me", "/tw-app/users"] {
            let (status, body) = s.get(path, None).await;
            assert_eq!(status, 200, "{path}: {body}");
        }
        assert_eq!(s.get("/tw-any/me", Some("alice")).await.0, 200);
        if round == 0 {
            for (p, subject) in [
                ("tw", "alice"),
                ("bz", "alice"),
                ("o2", "alice"),
                ("fw", "alice"),
                ("tw", "app"),
            ] {
                let (status, body) = s.refresh(p, subject).await;
                assert_eq!(status, 200, "{p}/{subject}: {body}");
            }
        }
    }

    // An upstream 401: one refresh, one replay.
    let before = tw.requests("refresh_token");
    up_tw.reject_next(1);
    assert_eq!(s.get("/tw/me", None).await.0, 200);
    assert_eq!(tw.requests("refresh_token"), before + 1);
    s.ev.store(&proxy);

    // Token endpoints failing: a 5xx, garbage, a missing field, a reset connection, and
    // platforms echoing the request (client secret, refresh token and all) in their
    // error_description, which the reason shown everywhere must not repeat.
    for (fake, p, subject, failure) in [
        (&tw, "tw", "alice", Failure::Echo(500)),
        (&tw, "tw", "app", Failure::Echo(403)),
        (&bz, "bz", "alice", Failure::Echo(503)),
        (&o2, "o2", "alice", Failure::Echo(502)),
        (&fw, "fw", "alice", Failure::Echo(500)),
        (&tw, "tw", "alice", Failure::Status(500)),
        (&tw, "tw", "alice", Failure::Garbage),
        (&tw, "tw", "app", Failure::Status(500)),
        (&bz, "bz", "alice", Failure::Garbage),
        (&o2, "o2", "alice", Failure::Reset),
        (&fw, "fw", "alice", Failure::MissingField),
        (&fw, "fw", "alice", Failure::Reset),
    ] {
        let attempts = fake.attempts();
        fake.fail_next(failure.clone(), 1);
        let (status, body) = s.refresh(p, subject).await;
        assert_ne!(status, 200, "{p}/{subject} {failure:?}: {body}");
        if let Failure::Echo(_) = failure {
            // The echo is shown (so the search below means something), its secrets removed.
            assert!(body.contains("[redacted]"), "{p}/{subject}: {body}");
            s.admin(reqwest::Method::GET, "/admin/tokens").await;
            s.admin(reqwest::Method::GET, "/readyz").await;
            s.admin(reqwest::Method::GET, "/").await;
        }
        assert_eq!(
            fake.attempts(),
            attempts + 1,
            "{p}/{subject} {failure:?} reached the platform"
        );
        // The held token keeps serving.
        let path = if subject == "app" {
            "/tw-app/x".to_string()
        } else {
            format!("/{p}/x")
        };
        assert_eq!(s.get(&path, None).await.0, 200, "{path} after {failure:?}");
    }
    for (p, subject) in [
        ("tw", "alice"),
        ("tw", "app"),
        ("bz", "alice"),
        ("o2", "alice"),
        ("fw", "alice"),
    ] {
        assert_eq!(s.refresh(p, subject).await.0, 200, "{p}/{subject} recovers");
    }

    // The proxy's own error answers.
    assert_eq!(s.get("/nowhere", None).await.0, 404);
    assert_eq!(s.get("/tw-any/me", None).await.0, 400);
    assert_eq!(s.get("/tw-any/me", Some("bob")).await.0, 503);
    assert_eq!(
        s.admin(reqwest::Method::DELETE, "/admin/tokens/tw/nobody")
            .await
            .0,
        404
    );
    assert_eq!(
        s.admin(reqwest::Method::POST, "/admin/tokens/tw/nobody/refresh")
            .await
            .0,
        404
    );
    assert_eq!(s.admin(reqwest::Method::GET, "/no-such-page").await.0, 404);
    let (status, page) = s
        .admin(
            reqwest::Method::GET,
            "/oauth/tw/callback?code=forged-code-123&state=x",
        )
        .await;
    assert_eq!(status, 400, "{page}");
    for req in [
        "GET /tw/../admin HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".to_string(),
        "GET /tw/%252e%252e/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".to_string(),
        format!(
            "GET http://{}/tw/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            proxy.addr
        ),
        "CONNECT evil.example:443 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_string(),
    ] {
        let answer = raw(proxy.addr, &req).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{req:?}: {answer}");
        s.ev.show(format!("raw {req:?}"), answer);
    }

    // A refused refresh: needs_login everywhere, 503 token_unavailable with a login_url.
    o2.fail_next(Failure::Status(400), 1);
    let (status, _) = s.refresh("o2", "alice").await;
    assert_ne!(status, 200);
    let (status, body) = s.get("/o2/me", None).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("token_unavailable") && body.contains("needs_login"),
        "{body}"
    );
    assert!(body.contains("login_url"), "{body}");
    let (status, body) = s.admin(reqwest::Method::GET, "/readyz").await;
    assert_eq!(status, 503);
    assert!(body.contains("needs_login"), "{body}");

    // The token endpoint down for a while (not just for one call).
    tw.set_failure(Failure::Status(503));
    assert_ne!(s.refresh("tw", "app").await.0, 200);
    tw.set_failure(Failure::None);

    // The token file holds alice's current token (and is searched below like every file).
    let deadline = tokio::time::Instant::now() + harness::WAIT;
    let held = loop {
        let now = std::fs::read_to_string(&token_file).unwrap_or_default();
        if let Some(t) = now.strip_prefix("oauth:").filter(|t| tw.is_valid(t)) {
            break t.to_string();
        }
        assert!(tokio::time::Instant::now() < deadline, "token file: {now:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    s.ev.secret(&held);

    // A revoke at the platform.
    let (status, body) = s.admin(reqwest::Method::DELETE, "/admin/tokens/tw/alice").await;
    assert_eq!(status, 200, "{body}");
    assert!(!tw.revoked().is_empty());
    for t in tw.revoked() {
        s.ev.secret(&t);
    }

    // Every view of the state at the end.
    s.admin(reqwest::Method::GET, "/").await;
    s.admin(reqwest::Method::GET, "/metrics").await;
    s.admin(reqwest::Method::GET, "/admin/tokens").await;
    s.admin(reqwest::Method::GET, "/readyz").await;
    s.admin(reqwest::Method::GET, "/healthz").await;

    // Every token the upstreams were sent, every token of every grant we know of.
    for up in [&up_tw, &up_bz, &up_o2, &up_fw] {
        s.ev.upstream(up);
    }
    s.ev.chains(&[&tw, &bz, &o2, &fw]);
    for fake in [&tw, &bz, &o2, &fw] {
        assert!(fake.rejected().is_empty(), "{:?}", fake.rejected());
    }
    let Evidence { shown, secrets } = s.ev;
    let proxy_dir = proxy.dir.path().to_path_buf();
    // Every file the session left (before the proxy and its directory go): only the
    // configured ones may hold a secret.
    let allowed = [
        proxy_dir.join("tokens.json"),
        proxy_dir.join("proxy.toml"),
        token_file.clone(),
    ];
    let file_leaks = evidence::file_leaks(&secrets, &[proxy_dir.as_path(), files.path()], &allowed);
    assert!(file_leaks.is_empty(), "{file_leaks:?}");
    assert!(!token_file.exists(), "revoked: the token file is gone");
    proxy.stop().await;
    // The session did use what it claims to have searched for.
    assert!(
        secrets.len() >= 30,
        "only {} secrets collected: {secrets:?}",
        secrets.len()
    );

    let log = log.text();
    for expected in [
        " TRACE ",
        "token-sidecar listening",
        " h2::",
        " rustls::",
        " hyper_util::",
        " reqwest::",
    ] {
        assert!(
            log.contains(expected),
            "the log was captured at TRACE level, with {expected:?}"
        );
    }
    let leaks = evidence::leaks(&secrets, &shown, &log);
    assert!(leaks.is_empty(), "{} leaks:\n{}", leaks.len(), leaks.join("\n"));
}
