//! Clients that hold resources without finishing: a body that never arrives, idle
//! keep-alive connections by the hundred, malformed or abandoned bodies. Each is sent the way
//! the security review sent it.

mod harness;
mod support;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use harness::{Proxy, WAIT};
use support::{FakePlatform, FakeUpstream, Kind};

async fn world(server: &str) -> (FakePlatform, FakeUpstream, Proxy) {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start().await;
    let proxy = Proxy::with_route(&fake, "p", server, "/t", &up.url("/api"), "").await;
    proxy.ready().await;
    (fake, up, proxy)
}

/// Reads until the server closes the connection; what it said, or None if it held the
/// connection open past `WAIT`.
async fn read_to_close(s: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut buf))
        .await
        .ok()?
        .ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

async fn head_then_stall(proxy: &Proxy, head: &str, body_part: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body_part).await.unwrap();
    s
}

#[tokio::test]
async fn a_declared_body_that_never_arrives_is_answered_408_within_request_timeout() {
    let server = "request_timeout = \"1s\"\nmax_concurrent_requests = 1";
    let (_fake, up, proxy) = world(server).await;
    // Small enough to be read whole before sending (retry_buffer is 64 KiB).
    let mut s = head_then_stall(
        &proxy,
        "POST /t/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n",
        b"0123456789",
    )
    .await;
    let answer = read_to_close(&mut s).await.expect("answered and closed in time");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert_eq!(up.count(), 0, "nothing was forwarded");
    // Its slot is free again: the cap of one admits the next request.
    assert_eq!(proxy.get("/t/y").await.status(), 200);
    proxy.stop().await;
}

#[tokio::test]
async fn a_streamed_body_that_stops_ends_within_request_timeout_and_frees_its_slot() {
    let server = "request_timeout = \"1s\"\nmax_concurrent_requests = 1\nretry_buffer = 16";
    let (_fake, _up, proxy) = world(server).await;
    // Larger than retry_buffer: it streams upstream as it comes.
    let mut s = head_then_stall(
        &proxy,
        "POST /t/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n",
        &[b'x'; 100],
    )
    .await;
    let answer = read_to_close(&mut s).await.expect("answered or closed in time");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    assert_eq!(proxy.get("/t/y").await.status(), 200);
    let timeouts = "token_sidecar_upstream_errors_total{reason=\"timeout\",route=\"/t\"}";
    assert_eq!(
        proxy.metric(timeouts).await,
        Some(0.0),
        "the client's stall is not the upstream's"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_after_idle_timeout() {
    let (_fake, _up, proxy) = world("idle_timeout = \"1s\"").await;
    for addr in [proxy.addr, proxy.admin] {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        // The answer comes, then, with no further request, the server closes.
        let answer = read_to_close(&mut s).await.expect("closed when idle");
        assert!(answer.starts_with("HTTP/1.1 "), "{answer}");
    }
    // A connection that never sent anything is closed too (by the header read timeout or
    // the idle timeout, whichever is shorter).
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    assert_eq!(read_to_close(&mut s).await.as_deref(), Some(""));
    proxy.stop().await;
}

#[tokio::test]
async fn malformed_or_abandoned_client_bodies_are_the_clients_error() {
    let (_fake, up, proxy) = world("retry_buffer = 16").await;
    let bodies: [&[u8]; 3] = [
        // A bare LF where the chunk's CRLF belongs.
        b"POST /t/x HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n",
        // A chunk size that overflows.
        b"POST /t/x HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\nx",
        // A chunked body whose client goes away mid-stream.
        b"POST /t/x HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n0123456789012345678901234567890123456789012345678901234567890123\r\n",
    ];
    for body in bodies {
        let mut s = TcpStream::connect(proxy.addr).await.unwrap();
        s.write_all(body).await.unwrap();
        s.shutdown().await.unwrap();
        let answer = read_to_close(&mut s).await.expect("closed in time");
        let text = String::from_utf8_lossy(body);
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
            "{text:?} got {answer}"
        );
    }
    // Every upstream connection the proxy opened for them is done before counting.
    assert!(up.wait_idle(WAIT).await);
    for reason in ["reset", "connect", "timeout"] {
        let series = format!("token_sidecar_upstream_errors_total{{reason=\"{reason}\",route=\"/t\"}}");
        assert_eq!(
            proxy.metric(&series).await,
            Some(0.0),
            "{reason}: no false upstream error"
        );
    }
    let bad = "token_sidecar_requests_total{method=\"POST\",route=\"/t\",status=\"400\"}";
    assert!(
        proxy.metric(bad).await.unwrap_or(0.0) >= 1.0,
        "counted as bad requests"
    );
    proxy.stop().await;
}
