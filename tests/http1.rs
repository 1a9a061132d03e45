//! The proxy listener's HTTP/1.1 on the wire, as its own engine (`proxy::h1`) speaks it:
//! every way an upstream may frame an answer reaches the client whole, connections are kept
//! on both sides, and a request the engine leaves to hyper is served on the same connection.

mod harness;
mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::Proxy;
use support::{FakePlatform, Kind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the scripted upstream answers a request head with, and whether it then closes.
type Script = fn(&str) -> (Vec<u8>, bool);

/// An upstream that answers each request head with bytes from a script, written as they
/// are: framings hyper's servers would not produce.
struct Scripted {
    addr: SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
    connections: Arc<Mutex<usize>>,
}

impl Scripted {
    async fn start(script: Script) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let heads = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(0));
        let (h, c) = (Arc::clone(&heads), Arc::clone(&connections));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                *c.lock().unwrap() += 1;
                tokio::spawn(answer(stream, script, Arc::clone(&h)));
            }
        });
        Scripted {
            addr,
            heads,
            connections,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }

    fn connections(&self) -> usize {
        *self.connections.lock().unwrap()
    }
}

async fn answer(mut stream: TcpStream, script: Script, heads: Arc<Mutex<Vec<String>>>) {
    let mut buf = Vec::new();
    loop {
        while let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
            buf.drain(..end + 4);
            heads.lock().unwrap().push(head.clone());
            let (bytes, close) = script(&head);
            if stream.write_all(&bytes).await.is_err() || close {
                return;
            }
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn proxy_to(fake: &FakePlatform, up: &Scripted) -> Proxy {
    let proxy = Proxy::with_route(fake, "p", "", "/t", &up.url(), "").await;
    proxy.ready().await;
    proxy
}

/// Reads from `s` until `done` says the bytes so far are a whole answer (bounded).
async fn read_until(s: &mut TcpStream, done: impl Fn(&[u8]) -> bool) -> String {
    let mut got = Vec::new();
    let read = async {
        while !done(&got) {
            let mut chunk = [0u8; 4096];
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    };
    // Out of time, what arrived is returned, for the caller's assertion to show.
    let _ = tokio::time::timeout(Duration::from_secs(10), read).await;
    String::from_utf8_lossy(&got).into_owned()
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[tokio::test]
async fn a_chunked_answer_passes_whole_and_its_connection_serves_the_next() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = Scripted::start(|_| {
        let text =
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        (text.as_bytes().to_vec(), false)
    })
    .await;
    let proxy = proxy_to(&fake, &up).await;
    for _ in 0..3 {
        let resp = proxy.get("/t/x").await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().await.expect("body"), "hello world");
    }
    assert_eq!(up.connections(), 1, "the upstream connection is reused");
    proxy.stop().await;
}

#[tokio::test]
async fn an_answer_that_ends_with_its_connection_reaches_the_client_whole() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = Scripted::start(|_| {
        (
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end".to_vec(),
            true,
        )
    })
    .await;
    let proxy = proxy_to(&fake, &up).await;
    for _ in 0..2 {
        let resp = proxy.get("/t/x").await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().await.expect("body"), "until the end");
    }
    assert_eq!(
        up.connections(),
        2,
        "a connection that ended its answer is not reused"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = Scripted::start(|head| {
        let path = head.split(' ').nth(1).unwrap_or("").to_string();
        (
            format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{path}", path.len()).into_bytes(),
            false,
        )
    })
    .await;
    let proxy = proxy_to(&fake, &up).await;
    let mut s = TcpStream::connect(proxy.addr).await.expect("connect");
    let two = "GET /t/one HTTP/1.1\r\nhost: localhost\r\n\r\nGET /t/two HTTP/1.1\r\nhost: localhost\r\n\r\n";
    s.write_all(two.as_bytes()).await.expect("write");
    let got = read_until(&mut s, |g| g.ends_with(b"/two")).await;
    let (one, two) = (got.find("\r\n\r\n/one"), got.find("\r\n\r\n/two"));
    assert!(one.is_some() && two.is_some() && one < two, "{got}");
    proxy.stop().await;
}

#[tokio::test]
async fn a_request_with_a_body_after_plain_ones_is_served_on_the_same_connection() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = Scripted::start(|_| (b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec(), false)).await;
    let proxy = proxy_to(&fake, &up).await;
    let mut s = TcpStream::connect(proxy.addr).await.expect("connect");
    s.write_all(b"GET /t/a HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .expect("write");
    let first = read_until(&mut s, |g| g.ends_with(b"ok")).await;
    assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
    // A body: the engine hands the connection to hyper, which serves it.
    s.write_all(b"POST /t/b HTTP/1.1\r\nhost: localhost\r\ncontent-length: 5\r\n\r\nhello")
        .await
        .expect("write");
    let second = read_until(&mut s, |g| g.ends_with(b"ok")).await;
    assert!(second.starts_with("HTTP/1.1 200 OK\r\n"), "{second}");
    let heads = up.heads();
    assert!(heads[0].starts_with("GET /a HTTP/1.1\r\n"), "{heads:?}");
    assert!(heads[1].starts_with("POST /b HTTP/1.1\r\n"), "{heads:?}");
    // The token went with both, once each.
    for head in &heads {
        assert_eq!(
            count(&head.to_ascii_lowercase(), "\r\nauthorization: bearer "),
            1,
            "{head}"
        );
    }
    proxy.stop().await;
}

#[tokio::test]
async fn head_and_interim_answers_leave_the_connection_in_step() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = Scripted::start(|head| {
        let text = if head.starts_with("HEAD") {
            // A HEAD answer names the length of a body it does not send.
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"
        } else {
            "HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfinal"
        };
        (text.as_bytes().to_vec(), false)
    })
    .await;
    let proxy = proxy_to(&fake, &up).await;
    let mut s = TcpStream::connect(proxy.addr).await.expect("connect");
    s.write_all(b"HEAD /t/a HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .expect("write");
    let head = read_until(&mut s, |g| g.ends_with(b"\r\n\r\n")).await;
    assert!(
        head.starts_with("HTTP/1.1 200 OK\r\n") && head.contains("content-length: 5\r\n"),
        "{head}"
    );
    s.write_all(b"GET /t/b HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .expect("write");
    let got = read_until(&mut s, |g| g.ends_with(b"final")).await;
    assert!(
        got.starts_with("HTTP/1.1 200 OK\r\n"),
        "the interim answer is not passed on: {got}"
    );
    assert_eq!(count(&got, "HTTP/1.1"), 1, "{got}");
    assert_eq!(up.connections(), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn a_pooled_connection_the_upstream_closed_is_replaced() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    // Each answer says it keeps the connection, and the upstream closes it anyway.
    let up = Scripted::start(|_| (b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec(), true)).await;
    let proxy = proxy_to(&fake, &up).await;
    for _ in 0..3 {
        let resp = proxy.get("/t/x").await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().await.expect("body"), "ok");
    }
    assert_eq!(up.connections(), 3);
    proxy.stop().await;
}

#[tokio::test]
async fn an_answer_that_is_not_http_is_a_502() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = Scripted::start(|_| (b"SSH-2.0-OpenSSH_9.2\r\n\r\n".to_vec(), true)).await;
    let proxy = proxy_to(&fake, &up).await;
    let resp = proxy.get("/t/x").await;
    assert_eq!(resp.status(), 502);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["error"], "upstream_unavailable");
    proxy.stop().await;
}

#[tokio::test]
async fn what_never_crosses_a_proxy_is_left_out_of_an_answer_in_any_case() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = Scripted::start(|_| {
        let text = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive, X-Secret\r\n\
                    X-SECRET: hop\r\nKeep-Alive: timeout=5\r\nACCESS-CONTROL-ALLOW-ORIGIN: *\r\n\
                    Proxy-Authenticate: Basic\r\nRatelimit-Remaining: 7\r\nX-Kept: yes\r\n\
                    Content-Length: 2\r\n\r\nok";
        (text.as_bytes().to_vec(), false)
    })
    .await;
    let proxy = proxy_to(&fake, &up).await;
    let resp = proxy.get("/t/x").await;
    assert_eq!(resp.status(), 200);
    let names: Vec<String> = resp.headers().keys().map(|n| n.to_string()).collect();
    for gone in [
        "connection",
        "x-secret",
        "keep-alive",
        "access-control-allow-origin",
        "proxy-authenticate",
    ] {
        assert!(!names.iter().any(|n| n == gone), "{gone} passed: {names:?}");
    }
    for kept in ["content-type", "x-kept", "ratelimit-remaining", "content-length"] {
        assert!(names.iter().any(|n| n == kept), "{kept} missing: {names:?}");
    }
    assert_eq!(resp.text().await.expect("body"), "ok");
    let series = "token_sidecar_ratelimit_remaining{route=\"/t\"}";
    assert_eq!(proxy.metric(series).await, Some(7.0));
    proxy.stop().await;
}

#[tokio::test]
async fn an_answer_with_bare_line_feeds_reaches_the_client_with_crlf_lines() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = Scripted::start(|_| {
        let text = "HTTP/1.1 200 OK\r\nX-A: 1\nX-B: 2   \r\nX-C: 3\nContent-Length: 2\r\n\r\nok";
        (text.as_bytes().to_vec(), false)
    })
    .await;
    let proxy = proxy_to(&fake, &up).await;
    let mut s = TcpStream::connect(proxy.addr).await.expect("connect");
    s.write_all(b"GET /t/a HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .expect("write");
    let got = read_until(&mut s, |g| g.ends_with(b"ok")).await;
    let head = got.split("\r\n\r\n").next().unwrap_or("");
    assert!(
        !head.replace("\r\n", "").contains('\n'),
        "a bare LF passed: {got:?}"
    );
    for line in [
        "\r\nX-A: 1\r\n",
        "\r\nX-B: 2   \r\n",
        "\r\nX-C: 3\r\n",
        "\r\nContent-Length: 2",
    ] {
        assert!(got.contains(line), "{line:?} missing: {got:?}");
    }
    proxy.stop().await;
}
