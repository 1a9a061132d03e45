//! Send and replay to an upstream that chose HTTP/2 by ALPN: through hyper's client, on the
//! one multiplexed connection hyper's path uses too; the answer is then written to the
//! HTTP/1.1 client by the engine.

use http::request::Parts;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::write::{chunk, write_two};
use crate::error::ProxyError;
use crate::oauth::{Token, TokenCell};
use crate::proxy::body::{Kept, ProxyBody};
use crate::proxy::route::Route;
use crate::proxy::send::{replay_on_401, send as send_upstream, Replay};
use crate::proxy::{inject, rewrite};

/// `parts`: prepared, without the token, and still with the client's target, which the
/// rewrite phase moves here (and a replay again).
pub async fn send(
    route: &Route,
    cell: &TokenCell,
    token: &Token,
    mut parts: Parts,
) -> Result<Response<Incoming>, ProxyError> {
    let target = parts.uri.clone();
    rewrite::to_upstream(&mut parts, route)?;
    let replay = Replay::keep(&parts, target);
    inject::token(&mut parts.headers, &token.authorization);
    let answer = send_upstream(route, Request::from_parts(parts, ProxyBody::Empty)).await?;
    let (resp, _multiplexed) = if answer.0.status() == StatusCode::UNAUTHORIZED {
        let none = Kept::Whole(Vec::new());
        replay_on_401(route, cell, token, answer, Some(replay), none).await?
    } else {
        answer
    };
    Ok(resp)
}

/// Writes `head` (the answer's, as the client gets it; `chunked` when it says so) and the
/// body's frames after it; `true` when the client got it all.
pub async fn body<C: AsyncWrite + Unpin>(
    client: &mut C,
    head: &[u8],
    mut body: Incoming,
    chunked: bool,
) -> bool {
    if write_two(client, head, &[]).await.is_err() {
        return false;
    }
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return false };
        // Trailers are not passed on (nor are they by hyper's path to HTTP/1.1 clients).
        let Ok(data) = frame.into_data() else { continue };
        if data.is_empty() {
            // In a chunked body, an empty chunk would be its end.
            continue;
        }
        let written = if chunked {
            chunk(client, &data).await
        } else {
            client.write_all(&data).await
        };
        if written.is_err() {
            return false;
        }
    }
    !chunked || client.write_all(b"0\r\n\r\n").await.is_ok()
}
