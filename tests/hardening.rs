//! What makes the proxy safe in front of production traffic: streaming answers chunk by
//! chunk, WebSocket pass-through, inbound limits, 429s untouched, rate-limit gauges, and
//! the narrow health listener.

mod harness;
mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::StreamBody;
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use harness::{raw, Proxy, WAIT};
use support::{FakePlatform, FakeUpstream, Kind};

type Chunks = StreamBody<tokio_stream_shim::Receiver>;

/// A channel-fed body: what the test sends is what the upstream streams.
mod tokio_stream_shim {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use bytes::Bytes;
    use hyper::body::Frame;

    pub struct Receiver(pub tokio::sync::mpsc::Receiver<Bytes>);

    impl futures_util::Stream for Receiver {
        type Item = Result<Frame<Bytes>, std::convert::Infallible>;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.0.poll_recv(cx).map(|c| c.map(|b| Ok(Frame::data(b))))
        }
    }
}

/// An upstream whose every answer is a chunked stream fed through the returned sender,
/// with Twitch's rate-limit headers.
async fn streaming_upstream() -> (SocketAddr, mpsc::Receiver<mpsc::Sender<Bytes>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (feeds_tx, feeds_rx) = mpsc::channel(8);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let feeds = feeds_tx.clone();
            let service = hyper::service::service_fn(move |_req| {
                let feeds = feeds.clone();
                async move {
                    let (tx, rx) = mpsc::channel(8);
                    let _ = feeds.send(tx).await;
                    let body: Chunks = StreamBody::new(tokio_stream_shim::Receiver(rx));
                    let resp = http::Response::builder()
                        .header("content-type", "text/event-stream")
                        .header("ratelimit-remaining", "797")
                        .header("ratelimit-reset", "1700000000")
                        .body(body)
                        .unwrap();
                    Ok::<_, Infallible>(resp)
                }
            });
            tokio::spawn(async move {
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = builder.serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    (addr, feeds_rx)
}

#[tokio::test]
async fn server_sent_events_arrive_chunk_by_chunk() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let (addr, mut feeds) = streaming_upstream().await;
    let proxy = Proxy::with_route(&fake, "twitch", "", "/t", &format!("http://{addr}"), "").await;
    proxy.ready().await;
    let resp = proxy.get("/t/events").await;
    assert_eq!(resp.status(), 200);
    let feed = tokio::time::timeout(WAIT, feeds.recv()).await.unwrap().unwrap();
    let mut body = resp.into_body_stream();
    feed.send(Bytes::from_static(b"data: one\n\n")).await.unwrap();
    // The first chunk arrives while the upstream has not sent the last.
    let first = tokio::time::timeout(WAIT, body.next_data())
        .await
        .expect("first chunk in time");
    assert_eq!(first.as_deref(), Some(&b"data: one\n\n"[..]));
    feed.send(Bytes::from_static(b"data: two\n\n")).await.unwrap();
    let second = tokio::time::timeout(WAIT, body.next_data())
        .await
        .expect("second chunk in time");
    assert_eq!(second.as_deref(), Some(&b"data: two\n\n"[..]));
    drop(feed);
    assert_eq!(tokio::time::timeout(WAIT, body.next_data()).await.unwrap(), None);
    // Twitch's rate-limit headers became per-route gauges.
    assert_eq!(
        proxy
            .metric("token_sidecar_ratelimit_remaining{route=\"/t\"}")
            .await,
        Some(797.0)
    );
    assert_eq!(
        proxy
            .metric("token_sidecar_ratelimit_reset_timestamp_seconds{route=\"/t\"}")
            .await,
        Some(1_700_000_000.0)
    );
    proxy.stop().await;
}

/// Reads a response body frame by frame.
trait NextData {
    fn into_body_stream(self) -> BodyReader;
}

struct BodyReader(reqwest::Response);

impl NextData for reqwest::Response {
    fn into_body_stream(self) -> BodyReader {
        BodyReader(self)
    }
}

impl BodyReader {
    async fn next_data(&mut self) -> Option<Bytes> {
        self.0.chunk().await.ok().flatten()
    }
}

#[tokio::test]
async fn websocket_upgrades_pass_through_with_the_token_injected() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let proxy = Proxy::with_route(&fake, "twitch", "", "/ws", &up.url("/socket"), "").await;
    proxy.ready().await;
    let mut s = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(
        b"GET /ws/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        tokio::time::timeout(WAIT, s.read_exact(&mut byte))
            .await
            .unwrap()
            .unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    s.write_all(b"ping over the tunnel").await.unwrap();
    let mut echo = [0u8; 20];
    tokio::time::timeout(WAIT, s.read_exact(&mut echo))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&echo, b"ping over the tunnel");
    let seen = up.last().unwrap();
    assert_eq!(seen.path, "/socket/chat");
    let auth = seen.headers["authorization"].to_str().unwrap();
    assert!(fake.is_valid(auth.trim_start_matches("Bearer ")));
    assert_eq!(seen.headers["upgrade"], "websocket");
    proxy.stop().await;
}

#[tokio::test]
async fn oversized_and_slow_request_heads_are_cut_off() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start().await;
    let proxy = Proxy::with_route(
        &fake,
        "twitch",
        "max_header_bytes = 8192\nheader_read_timeout = \"300ms\"",
        "/t",
        &up.url(""),
        "",
    )
    .await;
    proxy.ready().await;
    let big = format!(
        "GET /t/x HTTP/1.1\r\nHost: 127.0.0.1\r\nx-big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let answer = raw(proxy.addr, &big).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");

    let mut s = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(b"GET /t/x HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(WAIT, s.read_to_end(&mut buf))
        .await
        .expect("the proxy closes");
    assert!(read.is_ok());
    assert!(started.elapsed() < Duration::from_secs(5));
    // Only the start of the HTTP/2 preface (the protocol is not told yet), or nothing at all:
    // closed the same way.
    for first in [&b"PRI * HT"[..], b""] {
        let mut s = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
        s.write_all(first).await.unwrap();
        let mut buf = Vec::new();
        let read = tokio::time::timeout(WAIT, s.read_to_end(&mut buf))
            .await
            .expect("the proxy closes");
        // Bytes the proxy never read make the kernel close with a reset rather than a FIN.
        let closed = match read {
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        };
        assert!(closed, "{first:?}");
        assert!(buf.is_empty(), "{first:?}: {buf:?}");
    }
    assert_eq!(up.count(), 0);
    proxy.stop().await;
}

#[tokio::test]
async fn concurrency_beyond_the_cap_gets_a_clear_503() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start().await;
    up.set_delay(Duration::from_millis(800));
    let proxy = Proxy::with_route(
        &fake,
        "twitch",
        "max_concurrent_requests = 2",
        "/t",
        &up.url(""),
        "",
    )
    .await;
    proxy.ready().await;
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let (http, url) = (proxy.http.clone(), proxy.url("/t/slow"));
            tokio::spawn(async move { http.get(url).send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    assert!(up.wait_count(2, WAIT).await);
    let resp = proxy.get("/t/more").await;
    assert_eq!(resp.status(), 503);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "overloaded");
    for t in slow {
        assert_eq!(t.await.unwrap().unwrap(), 200);
    }
    assert_eq!(proxy.get("/t/after").await.status(), 200, "capacity returns");
    proxy.stop().await;
}

#[tokio::test]
async fn route_body_limits_answer_413() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start().await;
    let proxy = Proxy::with_route(
        &fake,
        "twitch",
        "retry_buffer = 100",
        "/t",
        &up.url(""),
        "max_body_bytes = 1000",
    )
    .await;
    proxy.ready().await;
    let resp = proxy
        .http
        .post(proxy.url("/t/x"))
        .body(vec![b'a'; 1001])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "payload_too_large");
    assert_eq!(up.count(), 0);
    // Without a declared length the limit still holds while streaming.
    let chunks = futures_util::stream::iter(
        (0..20).map(|_| Ok::<_, std::io::Error>(Frame::data(Bytes::from(vec![b'b'; 100])))),
    );
    let resp = proxy
        .http
        .post(proxy.url("/t/y"))
        .body(reqwest::Body::wrap(StreamBody::new(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let ok = proxy
        .http
        .post(proxy.url("/t/z"))
        .body(vec![b'c'; 1000])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    proxy.stop().await;
}

#[tokio::test]
async fn a_429_passes_through_untouched() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start().await;
    up.set_response(429, r#"{"error":"Too Many Requests","status":429}"#);
    let proxy = Proxy::with_route(&fake, "twitch", "", "/t", &up.url(""), "").await;
    proxy.ready().await;
    let resp = proxy.get("/t/x").await;
    assert_eq!(resp.status(), 429);
    assert_eq!(
        resp.text().await.unwrap(),
        r#"{"error":"Too Many Requests","status":429}"#
    );
    assert_eq!(up.count(), 1, "not retried");
    proxy.stop().await;
}

#[tokio::test]
async fn the_health_listener_serves_only_health_and_metrics() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start().await;
    let proxy = Proxy::with_route(
        &fake,
        "twitch",
        "health_listen = \"127.0.0.1:0\"",
        "/t",
        &up.url(""),
        "",
    )
    .await;
    proxy.ready().await;
    let health = proxy.health.expect("health listener bound");
    for (path, status) in [
        ("/healthz", 200),
        ("/readyz", 200),
        ("/metrics", 200),
        ("/", 404),
        ("/admin/tokens", 404),
        ("/oauth/twitch/login", 404),
    ] {
        let resp = proxy
            .http
            .get(format!("http://{health}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "{path}");
    }
    proxy.stop().await;
}

#[tokio::test]
async fn an_upstream_that_resets_is_a_502() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            drop(s);
        }
    });
    let fake = FakePlatform::start(Kind::Twitch).await;
    let proxy = Proxy::with_route(&fake, "twitch", "", "/t", &format!("http://{addr}"), "").await;
    proxy.ready().await;
    let resp = proxy.get("/t/x").await;
    assert_eq!(resp.status(), 502);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "upstream_unavailable");
    proxy.stop().await;
}
