//! The send and replay phases: one call upstream, bounded by the route's timeout; on a 401,
//! the token that was refused is refreshed (unless a newer one replaced it meanwhile) and
//! the kept request goes once more.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use futures_util::FutureExt;
use http::request::Parts;
use http::{HeaderName, HeaderValue, Request, Response};
use hyper::body::Incoming;

use super::body::{Kept, ProxyBody};
use super::route::Route;
use super::upstream::Reuse;
use super::{inject, rewrite};
use crate::error::ProxyError;
use crate::oauth::{Token, TokenCell};

/// An upstream answer, and its connection to give back once the body was read.
pub type Answer = (Response<Incoming>, Option<Reuse>);

/// Not an `async fn`, whose state would add a copy of `req` to the exchange's own. The one
/// clock reading serves the deadline and the pool (when its connections were last used).
pub fn send(
    route: &Route,
    req: Request<ProxyBody>,
) -> impl Future<Output = Result<Answer, ProxyError>> + Send + '_ {
    let now = Instant::now();
    let answer = route.upstream.request(req, now, now + route.timeout);
    answer.map(|sent| sent.map_err(ProxyError::upstream))
}

/// What a replay needs of the request: its prepared headers without the token, and the
/// client's target, which the replay rewrites again.
pub struct Replay {
    method: http::Method,
    target: http::Uri,
    /// As pairs: one allocation, where a copy of the `HeaderMap` makes two and copies its
    /// index; every request pays for this copy, and only a 401 reads it.
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Replay {
    pub fn keep(parts: &Parts, target: http::Uri) -> Self {
        let headers = parts.headers.iter().map(|(n, v)| (n.clone(), v.clone()));
        Replay {
            method: parts.method.clone(),
            target,
            headers: headers.collect(),
        }
    }
}

/// After a 401 (the caller checked): refresh `used` and send the kept request again, or
/// hand back the 401.
pub async fn replay_on_401(
    route: &Route,
    cell: &TokenCell,
    used: &Token,
    answer: Answer,
    replay: Option<Replay>,
    kept: Kept,
) -> Result<Answer, ProxyError> {
    let fresh = fresh_after_401(route, cell, used).await;
    match (fresh, replay, kept.take()) {
        (Some(fresh), Some(replay), Some(chunks)) => {
            route.metrics.unauthorized_retries.inc();
            let (mut again, body) = Request::new(ProxyBody::replay(chunks)).into_parts();
            again.method = replay.method;
            again.uri = replay.target;
            // `collect` appends: every value of a repeated name, in its order.
            again.headers = replay.headers.into_iter().collect();
            rewrite::to_upstream(&mut again, route)?;
            inject::token(&mut again.headers, &fresh.authorization);
            // The refused answer's body is not read: its connection closes.
            drop(answer);
            send(route, Request::from_parts(again, body)).await
        }
        (None, _, _) => Ok(answer),
        _ => {
            tracing::debug!(route = %route.prefix, "a 401 to a request that cannot be replayed");
            Ok(answer)
        }
    }
}

/// The token to send again with after a 401: `used` refreshed, unless a newer one replaced
/// it meanwhile; `None` (logged) when the refresh failed. Both engines replay with it.
pub async fn fresh_after_401(route: &Route, cell: &TokenCell, used: &Token) -> Option<Arc<Token>> {
    match cell
        .refresh(&route.provider.client, Some(used.generation), true)
        .await
    {
        Ok(fresh) => Some(fresh),
        Err(e) => {
            tracing::warn!(route = %route.prefix, error = %e, "refresh after 401 failed");
            None
        }
    }
}
