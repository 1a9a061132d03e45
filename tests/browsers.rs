//! A web page on the same machine must never use the proxy's tokens or change its state
//! (SPEC "Browsers, hosts and origins"). Each test is a finding of the security review, sent
//! the way the attack sends it, asserting that nothing was forwarded or changed.

mod harness;
mod support;

use harness::{provider, raw, route, Proxy};
use support::{FakePlatform, FakeUpstream, Kind};

/// One Twitch provider with an app route `/app` and a user route `/me` (alice), alice
/// connected.
async fn world(server: &str) -> (FakePlatform, FakeUpstream, Proxy) {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start().await;
    let body = format!(
        "{}{}{}",
        provider("p", &fake),
        route("/app", "p", &up.url("/api"), "token = \"app\""),
        route("/me", "p", &up.url("/api"), "token = \"user\"\nuser = \"alice\""),
    );
    let proxy = Proxy::start(server, &body).await;
    let login = proxy.login(&fake, "p", "alice").await;
    assert_eq!(login.status(), 200);
    proxy.ready().await;
    (fake, up, proxy)
}

fn status(answer: &str) -> &str {
    answer.split_whitespace().nth(1).unwrap_or("")
}

#[tokio::test]
async fn dns_rebinding_reaches_neither_listener() {
    let (fake, up, proxy) = world("").await;
    let evil_admin = format!("evil.example:{}", proxy.admin.port());
    let evil_proxy = format!("evil.example:{}", proxy.addr.port());

    // The admin API: no listing, no revocation.
    for request in [
        format!("GET /admin/tokens HTTP/1.1\r\nHost: {evil_admin}\r\nConnection: close\r\n\r\n"),
        format!("DELETE /admin/tokens/p/app HTTP/1.1\r\nHost: {evil_admin}\r\nConnection: close\r\n\r\n"),
        format!("DELETE /admin/tokens/p/alice HTTP/1.1\r\nHost: {evil_admin}\r\nConnection: close\r\n\r\n"),
        format!("GET / HTTP/1.1\r\nHost: {evil_admin}\r\nConnection: close\r\n\r\n"),
        format!("GET /oauth/p/login?user=bob HTTP/1.1\r\nHost: {evil_admin}\r\nConnection: close\r\n\r\n"),
    ] {
        let answer = raw(proxy.admin, &request).await;
        assert_eq!(status(&answer), "403", "{request}: {answer}");
        assert!(answer.contains("host_not_allowed"), "{answer}");
        assert!(!answer.contains("alice"), "{answer}");
    }
    assert!(fake.revoked().is_empty(), "nothing was revoked");
    let tokens = proxy.tokens().await;
    assert_eq!(
        tokens.as_array().map(Vec::len),
        Some(2),
        "both tokens are still there: {tokens}"
    );

    // The proxy listener: the user's token is not used.
    let answer = raw(
        proxy.addr,
        &format!("GET /me/users HTTP/1.1\r\nHost: {evil_proxy}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(status(&answer), "403", "{answer}");
    assert_eq!(up.count(), 0, "nothing was forwarded");

    // Loopback names and IP literals are answered.
    for host in ["localhost", "127.0.0.1", "[::1]"] {
        let port = proxy.addr.port();
        let answer = raw(
            proxy.addr,
            &format!("GET /app/x HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert_eq!(status(&answer), "200", "{host}: {answer}");
    }
    proxy.stop().await;
}

#[tokio::test]
async fn allowed_hosts_and_public_url_name_more_hosts_and_health_is_exempt() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start().await;
    let server = "allowed_hosts = [\"token-sidecar\"]\npublic_url = \"http://sidecar.example:9999\"\n\
                  health_listen = \"127.0.0.1:0\"";
    let proxy = Proxy::with_route(&fake, "p", server, "/app", &up.url("/api"), "").await;
    proxy.ready().await;
    for host in ["token-sidecar:8080", "TOKEN-SIDECAR", "sidecar.example:9999"] {
        let answer = raw(
            proxy.addr,
            &format!("GET /app/x HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert_eq!(status(&answer), "200", "{host}: {answer}");
        let answer = raw(
            proxy.admin,
            &format!("GET /admin/tokens HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert_eq!(status(&answer), "200", "{host}: {answer}");
    }
    assert_eq!(up.count(), 3);
    // The kubelet names the pod's IP: the health listener answers whatever the Host.
    let health = proxy.health.expect("health listener");
    let answer = raw(
        health,
        "GET /healthz HTTP/1.1\r\nHost: 10.1.2.3:9091\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status(&answer), "200", "{answer}");
    proxy.stop().await;
}

#[tokio::test]
async fn a_cross_site_post_to_a_user_route_is_not_forwarded() {
    let (_fake, up, proxy) = world("").await;
    // A "simple" request: no preflight, so the browser sends it straight away.
    for headers in [
        "Origin: https://evil.example\r\nSec-Fetch-Site: cross-site\r\n",
        "Origin: https://evil.example\r\n",
        "Origin: null\r\n",
        "Sec-Fetch-Site: cross-site\r\n",
        "Sec-Fetch-Site: same-site\r\n",
    ] {
        let request = format!(
            "POST /me/chat HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Content-Type: text/plain\r\n\
             Content-Length: 5\r\nConnection: close\r\n\r\nhello"
        );
        let answer = raw(proxy.addr, &request).await;
        assert_eq!(status(&answer), "403", "{headers}: {answer}");
        assert!(
            answer.contains("cross_origin") && answer.contains("server.allowed_origins"),
            "{answer}"
        );
    }
    assert_eq!(up.count(), 0, "nothing was forwarded");
    // An app or a shell sends neither header; a page of our own origin says same-origin.
    for headers in ["", "Sec-Fetch-Site: same-origin\r\n", "Sec-Fetch-Site: none\r\n"] {
        let request = format!("GET /me/x HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n");
        assert_eq!(status(&raw(proxy.addr, &request).await), "200", "{headers}");
    }
    proxy.stop().await;
}

#[tokio::test]
async fn preflights_are_answered_by_the_proxy_for_listed_origins_only() {
    let (_fake, up, proxy) = world("allowed_origins = [\"http://localhost:3000\"]").await;
    up.set_header("access-control-allow-origin", "*");
    up.set_header("access-control-allow-credentials", "true");
    let preflight = |origin: &str| {
        format!(
            "OPTIONS /me/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: {origin}\r\n\
             Access-Control-Request-Method: PUT\r\nAccess-Control-Request-Headers: content-type\r\n\
             Sec-Fetch-Site: cross-site\r\nConnection: close\r\n\r\n"
        )
    };
    let answer = raw(proxy.addr, &preflight("https://evil.example")).await;
    assert_eq!(status(&answer), "403", "{answer}");
    let answer = raw(proxy.addr, &preflight("http://localhost:3000"))
        .await
        .to_ascii_lowercase();
    assert_eq!(status(&answer), "204", "{answer}");
    assert!(
        answer.contains("access-control-allow-origin: http://localhost:3000"),
        "{answer}"
    );
    assert!(answer.contains("access-control-allow-methods: put"), "{answer}");
    assert!(
        answer.contains("access-control-allow-headers: content-type"),
        "{answer}"
    );
    assert_eq!(up.count(), 0, "no preflight was forwarded with a token");

    // The listed origin's request is served with its own CORS answer, not the upstream's.
    let answer = raw(
        proxy.addr,
        "GET /me/x HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://localhost:3000\r\n\
         Sec-Fetch-Site: cross-site\r\nConnection: close\r\n\r\n",
    )
    .await
    .to_ascii_lowercase();
    assert_eq!(status(&answer), "200", "{answer}");
    assert!(
        answer.contains("access-control-allow-origin: http://localhost:3000"),
        "{answer}"
    );
    assert!(!answer.contains("access-control-allow-origin: *"), "{answer}");
    assert!(!answer.contains("access-control-allow-credentials"), "{answer}");
    assert_eq!(up.count(), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn an_upstreams_wildcard_cors_never_reaches_the_client() {
    let (_fake, up, proxy) = world("").await;
    up.set_header("access-control-allow-origin", "*");
    up.set_header("access-control-expose-headers", "*");
    let resp = proxy.get("/me/x").await;
    assert_eq!(resp.status(), 200);
    let names: Vec<_> = resp.headers().keys().map(|k| k.as_str().to_string()).collect();
    assert!(
        !names.iter().any(|n| n.starts_with("access-control-")),
        "{names:?}"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn the_admin_api_takes_changes_only_from_its_own_pages() {
    let (fake, _up, proxy) = world("").await;
    let refreshes = fake.requests("refresh_token");
    let admin_port = proxy.admin.port();
    for headers in [
        "Origin: https://evil.example\r\nSec-Fetch-Site: cross-site\r\n".to_string(),
        "Origin: https://evil.example\r\n".to_string(),
        "Sec-Fetch-Site: same-site\r\n".to_string(),
    ] {
        for (method, path) in [
            ("POST", "/admin/tokens/p/alice/refresh"),
            ("DELETE", "/admin/tokens/p/alice"),
        ] {
            let request = format!(
                "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{admin_port}\r\n{headers}\
                 Content-Type: text/plain\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let answer = raw(proxy.admin, &request).await;
            assert_eq!(status(&answer), "403", "{request}: {answer}");
            assert!(answer.contains("cross_origin"), "{answer}");
        }
    }
    assert_eq!(fake.requests("refresh_token"), refreshes, "no refresh ran");
    assert!(fake.revoked().is_empty(), "nothing was revoked");
    // The admin's own page (public_url's origin, or the origin it was served from) may.
    let request = format!(
        "POST /admin/tokens/p/alice/refresh HTTP/1.1\r\nHost: 127.0.0.1:{admin_port}\r\n\
         Origin: http://localhost:{admin_port}\r\nSec-Fetch-Site: same-origin\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    );
    let answer = raw(proxy.admin, &request).await;
    assert_eq!(status(&answer), "200", "{answer}");
    assert_eq!(fake.requests("refresh_token"), refreshes + 1);
    proxy.stop().await;
}
