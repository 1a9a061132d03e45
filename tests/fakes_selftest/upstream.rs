//! Failure modes and the fake upstream.

use serde_json::json;

use crate::support::FakeUpstream;
use crate::support::{Failure, FakePlatform, Kind, CLIENT_ID as ID, CLIENT_SECRET as SECRET};
use crate::*;

#[tokio::test]
async fn failure_modes_delay_and_waiting() {
    let p = FakePlatform::start(Kind::Twitch).await;
    let cc = [
        ("client_id", ID),
        ("client_secret", SECRET),
        ("grant_type", "client_credentials"),
    ];
    p.set_failure(Failure::Status(503));
    assert_eq!(
        form(&p.token_url(), &cc).await,
        (503, json!({"status": 503, "message": "fake failure"}))
    );
    p.set_failure(Failure::Garbage);
    let (st, body) = form(&p.token_url(), &cc).await;
    assert!(st == 200 && body.is_string());
    p.set_failure(Failure::MissingField);
    let (st, body) = form(&p.token_url(), &cc).await;
    assert!(st == 200 && body.get("access_token").is_none() && body["expires_in"].is_u64());
    p.set_failure(Failure::Huge);
    let (st, body) = form(&p.token_url(), &cc).await;
    assert!(st == 200 && body.to_string().len() > 10_000_000 && !p.is_valid(&s(&body, "access_token")));
    p.set_failure(Failure::Reset);
    let req = client()
        .post(p.token_url())
        .header("content-type", "application/x-www-form-urlencoded");
    assert!(req.body(enc(&cc)).send().await.is_err());
    p.set_failure(Failure::None);
    p.fail_next(Failure::Status(500), 1);
    assert_eq!(form(&p.token_url(), &cc).await.0, 500);
    assert_eq!(form(&p.token_url(), &cc).await.0, 200);
    assert_eq!((p.attempts(), p.requests("client_credentials")), (7, 1));
    p.set_expires_in(0);
    assert!(!p.is_valid(&s(&form(&p.token_url(), &cc).await.1, "access_token")));
    p.set_delay(Duration::from_millis(300));
    let slow = tokio::spawn({
        let url = p.token_url();
        async move { form(&url, &cc).await.0 }
    });
    let waiter = tokio::spawn({
        let p = p.clone();
        async move { p.wait_attempts(9, Duration::from_secs(5)).await }
    });
    assert!(waiter.await.expect("join"));
    assert_eq!(p.requests("client_credentials"), 2);
    assert!(!p.wait_attempts(10, Duration::from_millis(50)).await);
    assert!(
        p.wait_requests("client_credentials", 3, Duration::from_secs(5))
            .await
    );
    assert_eq!(slow.await.expect("join"), 200);
    assert!(p.rejected().is_empty(), "{:?}", p.rejected());
}

#[tokio::test]
async fn upstream_records_echoes_and_checks_tokens() {
    let up = FakeUpstream::start().await;
    let resp = client()
        .post(up.url("/v1/x?y=1"))
        .header("authorization", "Bearer t")
        .body("hello")
        .send()
        .await
        .expect("send");
    let (st, echo) = answer(resp).await;
    assert_eq!(
        (st, echo),
        (
            200,
            json!({"method": "POST", "path": "/v1/x", "query": "y=1", "authorization": "Bearer t"})
        )
    );
    let rec = up.requests().remove(0);
    assert_eq!(
        (
            rec.body.as_slice(),
            rec.query.as_deref(),
            rec.headers["authorization"].to_str().ok()
        ),
        (&b"hello"[..], Some("y=1"), Some("Bearer t"))
    );
    up.set_response(418, r#"{"teapot":true}"#);
    assert_eq!(
        answer(client().get(up.url("/t")).send().await.expect("send")).await,
        (418, json!({"teapot": true}))
    );
    up.reject_next(1);
    assert_eq!(
        client().get(up.url("/t")).send().await.expect("send").status(),
        401
    );
    assert_eq!(
        client().get(up.url("/t")).send().await.expect("send").status(),
        418
    );
    assert!(up.wait_count(4, Duration::from_secs(1)).await && up.count() == 4);

    let p = FakePlatform::start(Kind::Twitch).await;
    let checking = FakeUpstream::start_checking(p.clone()).await;
    let cc = [
        ("client_id", ID),
        ("client_secret", SECRET),
        ("grant_type", "client_credentials"),
    ];
    let at = s(&form(&p.token_url(), &cc).await.1, "access_token");
    let get = |auth: String| {
        client()
            .get(checking.url("/helix/users"))
            .header("authorization", auth)
            .send()
    };
    assert_eq!(
        answer(get("Bearer nope".into()).await.expect("send")).await,
        (401, json!({"error": "invalid token"}))
    );
    assert_eq!(get(format!("Bearer {at}")).await.expect("send").status(), 200);
    assert_eq!(get(format!("OAuth {at}")).await.expect("send").status(), 401);
    p.revoke_all();
    assert_eq!(get(format!("Bearer {at}")).await.expect("send").status(), 401);
}

#[tokio::test]
async fn upstream_switches_protocols_and_echoes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let up = FakeUpstream::start().await;
    let addr = up.url("").trim_start_matches("http://").to_string();
    let mut sock = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let head =
        format!("GET /ws HTTP/1.1\r\nhost: {addr}\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n");
    sock.write_all(head.as_bytes()).await.expect("write");
    let mut buf = vec![0u8; 1024];
    let n = sock.read(&mut buf).await.expect("read");
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(
        text.starts_with("HTTP/1.1 101") && text.ends_with("\r\n\r\n"),
        "{text}"
    );
    sock.write_all(b"ping").await.expect("write");
    let mut got = [0u8; 4];
    sock.read_exact(&mut got).await.expect("echo");
    assert_eq!(&got, b"ping");
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_server() {
    let p = FakePlatform::start(Kind::Twitch).await;
    let url = p.token_url();
    let clone = p.clone();
    drop(p);
    assert_eq!(form(&url, &[]).await.0, 400);
    drop(clone);
    let mut stopped = false;
    for _ in 0..100 {
        tokio::task::yield_now().await;
        if client().post(&url).send().await.is_err() {
            stopped = true;
            break;
        }
    }
    assert!(stopped);
}
