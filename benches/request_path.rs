//! Micro-benchmarks of the request path's per-request pieces, on a snapshot built from a real
//! configuration: routing, the host and origin policy, header preparation, the token read,
//! and the metrics. `cargo bench`; the whole-proxy comparison with nginx is `bench/run`.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};

use token_sidecar::metrics::Metrics;
use token_sidecar::proxy::{h1, headers, inject, target};
use token_sidecar::secret::AccessToken;
use token_sidecar::snapshot::Snapshot;
use token_sidecar::store::{FileStore, StoredToken, TokenStore, Versioned};

const CONFIG: &str = r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
[providers.twitch]
client_id = "id"
client_secret = "secret"
"#;

fn snapshot(dir: &std::path::Path) -> Snapshot {
    let mut text = CONFIG.to_string();
    for prefix in [
        "/helix",
        "/helix/eventsub",
        "/kraken",
        "/a",
        "/b",
        "/c",
        "/d",
        "/twitch",
    ] {
        text.push_str(&format!(
            "[[routes]]\nprefix = \"{prefix}\"\nprovider = \"twitch\"\ntoken = \"app\"\nupstream = \"http://127.0.0.1:1/api\"\n"
        ));
    }
    let path = dir.join("proxy.toml");
    std::fs::write(&path, text).expect("write config");
    let config = token_sidecar::config::load(&path).expect("valid config");
    let metrics = Arc::new(Metrics::new());
    let store: Arc<dyn TokenStore> =
        FileStore::open(&dir.join("tokens.json"), None, metrics.store.clone()).expect("store");
    let snapshot = Snapshot::build(Arc::new(config), &metrics, &store, None).expect("snapshot");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let stored = StoredToken {
        provider: "twitch".into(),
        subject: "app".into(),
        kind: "app".into(),
        access_token: AccessToken::new("bench-access-token-0123456789"),
        refresh_token: None,
        issued_at: now,
        lifetime: 86400.0,
        refresh_expires_at: None,
        scopes: Vec::new(),
        user_id: None,
        needs_login: false,
        refused: None,
    };
    snapshot.restore(&[Versioned {
        version: 1,
        token: stored,
    }]);
    snapshot
}

fn request() -> Request<()> {
    let mut req = Request::builder()
        .method(Method::GET)
        .uri("/helix/users?login=twitchdev")
        .body(())
        .expect("request");
    let h = req.headers_mut();
    h.insert("host", HeaderValue::from_static("127.0.0.1:8080"));
    h.insert("user-agent", HeaderValue::from_static("bench/1.0"));
    h.insert("accept", HeaderValue::from_static("application/json"));
    h.insert("accept-encoding", HeaderValue::from_static("gzip"));
    h.insert("connection", HeaderValue::from_static("keep-alive"));
    req
}

fn request_path(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let snapshot = snapshot(dir.path());
    let req = request();
    let route = target::select(&snapshot, &req).expect("routed");
    let cell = route.provider.app.clone().expect("app slot");
    let token = cell.fresh().expect("a fresh token");

    c.bench_function("route", |b| b.iter(|| target::select(&snapshot, &req)));
    c.bench_function("host and origin policy", |b| {
        b.iter(|| (snapshot.hosts.allows(&req), snapshot.origins.check(req.headers())))
    });
    c.bench_function("header preparation", |b| {
        b.iter_batched(
            || req.headers().clone(),
            |mut headers: HeaderMap| {
                let seen = headers::Seen::of(&headers);
                inject::prepare(&mut headers, &route, seen, false);
                inject::token(&mut headers, &token.authorization);
                headers
            },
            BatchSize::SmallInput,
        )
    });
    c.bench_function("token read", |b| b.iter(|| cell.fresh()));
    // The h1 engine's wire work: a request head read into the phases' types, and an
    // answer's fields told apart (nginx's five).
    const HEAD: &[u8] = b"GET /helix/users?login=x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\
        User-Agent: bot/1.0\r\nAccept: application/json\r\nAccept-Encoding: gzip\r\n\r\n";
    c.bench_function("h1: request head", |b| {
        b.iter_batched(
            // The map is the connection's last one, emptied, as the engine reuses it.
            || (bytes::BytesMut::from(HEAD), HeaderMap::with_capacity(8)),
            |(mut buf, map)| h1::head::request(&mut buf, 65536, map),
            BatchSize::SmallInput,
        )
    });
    let answer = ["Server", "Date", "Content-Type", "Content-Length", "Connection"];
    c.bench_function("h1: answer fields", |b| {
        b.iter(|| answer.map(|name| headers::answer_field(name.as_bytes())))
    });
    c.bench_function("metrics: resolved handles", |b| {
        b.iter(|| {
            route.metrics.requests.inc(&Method::GET, StatusCode::OK);
            route.metrics.duration.observe(0.000_2);
        })
    });
    let metrics = Metrics::new();
    c.bench_function("metrics: label lookup (before)", |b| {
        b.iter(|| {
            metrics
                .requests
                .with_label_values(&["/helix", "GET", "200"])
                .inc()
        })
    });
}

criterion_group!(benches, request_path);
criterion_main!(benches);
