//! `FakeUpstream`: a platform API stand-in that records every request and
//! answers with a JSON echo, a fixed answer, or 401 for tokens it refuses.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONNECTION, UPGRADE, WWW_AUTHENTICATE};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::sync::watch;

use super::platform::FakePlatform;
use super::server::{serve, Reply, Reset, ServerHandle};
use super::wire::{bytes_reply, json, read_body};

/// Request bodies up to this size are recorded whole.
const UPSTREAM_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// One request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

#[derive(Default)]
struct UpSt {
    recorded: Vec<Recorded>,
    reject_next: usize,
    response: Option<(u16, &'static str)>,
    delay: Duration,
    /// Set on every answer.
    headers: Vec<(&'static str, &'static str)>,
}

struct UpShared {
    st: Mutex<UpSt>,
    checking: Option<FakePlatform>,
    events: watch::Sender<u64>,
}

impl UpShared {
    fn lock(&self) -> MutexGuard<'_, UpSt> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Clone)]
pub struct FakeUpstream {
    shared: Arc<UpShared>,
    server: Arc<ServerHandle>,
}

fn unauthorized() -> Reply {
    let mut resp = json(401, &json!({"error": "invalid token"}));
    resp.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    resp
}

async fn handle(shared: Arc<UpShared>, req: Request<Incoming>) -> Result<Reply, Reset> {
    let mut reply = answer(&shared, req).await?;
    for (name, value) in shared.lock().headers.clone() {
        reply.headers_mut().insert(name, HeaderValue::from_static(value));
    }
    Ok(reply)
}

async fn answer(shared: &UpShared, mut req: Request<Incoming>) -> Result<Reply, Reset> {
    let on_upgrade = req
        .headers()
        .contains_key(UPGRADE)
        .then(|| hyper::upgrade::on(&mut req));
    let (parts, body) = req.into_parts();
    let (body, body_error) = match read_body(body, UPSTREAM_BODY_LIMIT).await {
        Ok(b) => (b, None),
        Err(e) => (Bytes::new(), Some(e)),
    };
    let authorization = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(String::from),
        headers: parts.headers.clone(),
        body: body.to_vec(),
    };
    let (rejected, response, delay) = {
        let mut st = shared.lock();
        st.recorded.push(recorded);
        let rejected = st.reject_next > 0;
        st.reject_next = st.reject_next.saturating_sub(1);
        (rejected, st.response, st.delay)
    };
    shared.events.send_modify(|n| *n += 1);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(e) = body_error {
        return Ok(json(400, &json!({"error": "bad body", "message": e})));
    }
    let token_ok = match &shared.checking {
        None => true,
        Some(platform) => authorization
            .as_deref()
            .and_then(|a| a.strip_prefix("Bearer "))
            .is_some_and(|t| platform.is_valid(t)),
    };
    if rejected || !token_ok {
        return Ok(unauthorized());
    }
    if let Some(on_upgrade) = on_upgrade {
        // Switch protocols and echo raw bytes back (a stand-in for a WebSocket).
        tokio::spawn(async move {
            if let Ok(upgraded) = on_upgrade.await {
                let (mut r, mut w) = tokio::io::split(TokioIo::new(upgraded));
                let _ = tokio::io::copy(&mut r, &mut w).await;
            }
        });
        let mut resp = bytes_reply(101, "application/octet-stream", Bytes::new());
        resp.headers_mut().remove(hyper::header::CONTENT_TYPE);
        if let Some(proto) = parts.headers.get(UPGRADE) {
            resp.headers_mut().insert(UPGRADE, proto.clone());
        }
        resp.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("upgrade"));
        return Ok(resp);
    }
    if let Some((status, body)) = response {
        return Ok(bytes_reply(
            status,
            "application/json",
            Bytes::from_static(body.as_bytes()),
        ));
    }
    Ok(json(
        200,
        &json!({
            "method": parts.method.as_str(),
            "path": parts.uri.path(),
            "query": parts.uri.query(),
            "authorization": authorization,
        }),
    ))
}

impl FakeUpstream {
    async fn start_with(checking: Option<FakePlatform>) -> FakeUpstream {
        let shared = Arc::new(UpShared {
            st: Mutex::new(UpSt::default()),
            checking,
            events: watch::Sender::new(0),
        });
        let for_server = shared.clone();
        let server = serve(move |req| handle(for_server.clone(), req)).await;
        FakeUpstream { shared, server }
    }

    /// Answers every request (200 JSON echo unless told otherwise).
    pub async fn start() -> FakeUpstream {
        Self::start_with(None).await
    }

    /// Answers 401 {"error":"invalid token"} unless `Authorization: Bearer T`
    /// carries a token `platform` considers valid.
    pub async fn start_checking(platform: FakePlatform) -> FakeUpstream {
        Self::start_with(Some(platform)).await
    }

    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// The proxy's connections open now, by their local address.
    pub fn peers(&self) -> std::collections::HashSet<std::net::SocketAddr> {
        self.server.peers()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().recorded.clone()
    }

    pub fn last(&self) -> Option<Recorded> {
        self.shared.lock().recorded.last().cloned()
    }

    pub fn count(&self) -> usize {
        self.shared.lock().recorded.len()
    }

    /// Answers 401 to the next `n` requests whatever their token.
    pub fn reject_next(&self, n: usize) {
        self.shared.lock().reject_next = n;
    }

    /// Answers every later (authorized) request with this status and JSON body.
    pub fn set_response(&self, status: u16, body: &'static str) {
        self.shared.lock().response = Some((status, body));
    }

    /// Sets this header on every later answer.
    pub fn set_header(&self, name: &'static str, value: &'static str) {
        self.shared.lock().headers.push((name, value));
    }

    /// Back to the JSON echo.
    pub fn clear_response(&self) {
        self.shared.lock().response = None;
    }

    /// Waits this long before answering each request (after recording it).
    pub fn set_delay(&self, d: Duration) {
        self.shared.lock().delay = d;
    }

    /// Waits until no connection to this upstream is open any more, so every request a
    /// client managed to send has been recorded; false on timeout.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        self.server.wait_no_connections(timeout).await
    }

    /// Waits until at least `n` requests arrived; false on timeout.
    pub async fn wait_count(&self, n: usize, timeout: Duration) -> bool {
        let mut rx = self.shared.events.subscribe();
        let waiting = async {
            loop {
                if self.count() >= n {
                    return true;
                }
                if rx.changed().await.is_err() {
                    return false;
                }
            }
        };
        tokio::time::timeout(timeout, waiting).await.unwrap_or(false)
    }
}
