//! One request through the `h1` engine, in the same named phases as `forward.rs` (which
//! hyper's requests take): admission, host and origin policy, route and token are the very
//! same functions (`forward::front`); rewrite and inject too. Send, replay and respond
//! write and read HTTP/1.1 bytes here instead of going through hyper's types.

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap};
use http::request::Parts;
use http::{Method, Request, StatusCode};
use tokio::io::AsyncWrite;

use super::relay::{self, Answer};
use super::{body, via_h2, write};
use crate::error::ProxyError;
use crate::proxy::admission::Admission;
use crate::proxy::forward::{self, Exchange, Front};
use crate::proxy::route::Route;
use crate::proxy::send::fresh_after_401;
use crate::proxy::{inject, rewrite};
use crate::snapshot::Snapshot;
use crate::Shared;

/// A connection's buffers, reused by each of its exchanges.
#[derive(Default)]
pub struct Buffers {
    /// The upstream request's head, kept for a replay.
    out: Vec<u8>,
    /// The client's answer's head.
    head: Vec<u8>,
    /// What the upstream sends.
    answer: BytesMut,
    /// The last request's header map, emptied: the next request's fields reuse its memory.
    headers: HeaderMap,
}

impl Buffers {
    pub fn spare_headers(&mut self) -> HeaderMap {
        std::mem::take(&mut self.headers)
    }
}

/// Serves one request and writes its answer; `true` when the client's connection may
/// serve another.
pub async fn serve<C: AsyncWrite + Unpin>(
    shared: &Arc<Shared>,
    client: &mut C,
    parts: Parts,
    bufs: &mut Buffers,
) -> bool {
    let started = Instant::now();
    let snapshot = shared.snapshot.load_full();
    let max = snapshot.config.server.max_concurrent_requests;
    let admission = Admission::enter(Arc::clone(shared), max.unwrap_or(shared.default_max_concurrent));
    let req = Request::from_parts(parts, ());
    let head_only = req.method() == Method::HEAD;
    let mut ex = Exchange::new(req.method().clone(), started);
    let front = forward::front(&snapshot, &mut ex, admission.admitted(), &req).await;
    let (route, cell, token, seen) = match front {
        Ok(Front::Token {
            route,
            cell,
            token,
            seen,
        }) => (route, cell, token, seen),
        Ok(Front::Answer(resp)) => {
            return local(&snapshot, &ex, client, bufs, (*resp).map(|_| Bytes::new())).await;
        }
        Err(e) => return failed(&snapshot, &ex, client, bufs, e).await,
    };
    // Rewrite and inject: the head is written once, the token last, for a replay to replace.
    let (mut parts, ()) = req.into_parts();
    inject::prepare(&mut parts.headers, &route, seen, false);
    let target = rewrite::upstream_target(&parts.uri, &route);
    write::request_head(&mut bufs.out, &parts.method, target, &parts.headers);
    let prefix = bufs.out.len();
    write::authorization(&mut bufs.out, &token.authorization);
    // Send, and replay once with a refreshed token on a 401.
    let mut sent = send(&route, &ex.method, bufs).await;
    if matches!(&sent, Ok(Some(a)) if a.status == StatusCode::UNAUTHORIZED) {
        if let Some(fresh) = fresh_after_401(&route, &cell, &token).await {
            route.metrics.unauthorized_retries.inc();
            // The refused answer's body is not read: its connection closes.
            drop(sent);
            bufs.out.truncate(prefix);
            write::authorization(&mut bufs.out, &fresh.authorization);
            sent = send(&route, &ex.method, bufs).await;
        }
    }
    let kept = match sent {
        Ok(Some(answer)) => {
            bufs.headers = parts.headers;
            bufs.headers.clear();
            // Respond: the answer's head as the client gets it, then its body.
            let Answer {
                status,
                framing,
                mut conn,
                keep,
            } = answer;
            write::allow_origin(&mut bufs.head, &ex.origin);
            write::end_head(&mut bufs.head, framing.chunked());
            ex.record(&snapshot, status);
            let relayed = body::relay(client, &bufs.head, &mut conn, &mut bufs.answer, framing).await;
            if relayed.reusable && keep {
                route.upstream.give_back(conn, started);
            }
            if bufs.answer.capacity() > 2 * body::READ {
                // A long answer was gathered: an idle connection keeps no more than a read's worth.
                bufs.answer = BytesMut::new();
            }
            relayed.client_ok
        }
        Ok(None) => match via_h2::send(&route, &cell, &token, parts).await {
            Ok(mut resp) => {
                let status = resp.status();
                respond(&snapshot, &ex, &route, status, resp.headers_mut());
                let (head, body) = resp.into_parts();
                let empty =
                    head_only || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
                let chunked = !empty && !head.headers.contains_key(header::CONTENT_LENGTH);
                write::answer_head(&mut bufs.head, status, &head.headers, chunked);
                via_h2::body(client, &bufs.head, body, chunked).await
            }
            Err(e) => return failed(&snapshot, &ex, client, bufs, e).await,
        },
        Err(e) => return failed(&snapshot, &ex, client, bufs, e).await,
    };
    drop((admission, ex));
    kept
}

/// The respond phase on an HTTP/2 upstream's answer, as hyper's path has it, then the
/// bookkeeping every answer gets.
fn respond(snapshot: &Snapshot, ex: &Exchange, route: &Route, status: StatusCode, headers: &mut HeaderMap) {
    let seen = forward::publish_rate_limit(route, headers);
    forward::strip_answer(headers, seen);
    ex.respond(snapshot, headers, status);
}

/// Send: the head in `bufs.out` to the route's upstream, and its answer's head back;
/// `None` when the upstream speaks HTTP/2.
async fn send(route: &Route, method: &Method, bufs: &mut Buffers) -> Result<Option<Answer>, ProxyError> {
    let io = relay::Io {
        request: &bufs.out,
        head: &mut bufs.head,
        buf: &mut bufs.answer,
    };
    relay::send(route, io, method == Method::HEAD, method.is_idempotent())
        .await
        .map_err(ProxyError::upstream)
}

/// Respond with the error that ended the exchange.
async fn failed<C: AsyncWrite + Unpin>(
    snapshot: &Snapshot,
    ex: &Exchange,
    client: &mut C,
    bufs: &mut Buffers,
    e: ProxyError,
) -> bool {
    ex.failed(&e);
    local(snapshot, ex, client, bufs, e.into_response()).await
}

/// Respond with an answer the proxy wrote.
async fn local<C: AsyncWrite + Unpin>(
    snapshot: &Snapshot,
    ex: &Exchange,
    client: &mut C,
    bufs: &mut Buffers,
    mut resp: http::Response<Bytes>,
) -> bool {
    let status = resp.status();
    ex.respond(snapshot, resp.headers_mut(), status);
    write::local(client, &mut bufs.out, resp, ex.method == Method::HEAD)
        .await
        .is_ok()
}
