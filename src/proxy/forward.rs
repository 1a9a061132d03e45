//! One request's way through the proxy listener, in named phases (pingora's `ProxyHttp`
//! in spirit): admission → host and origin policy → route → token → rewrite → inject →
//! send → replay → respond. Each phase is a small function in its own file; this one only
//! runs them in order, and records the outcome.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;

use super::admission::{Admission, Held, InFlight};
use super::body::ProxyBody;
use super::headers::{is_upgrade, remove_hop_by_hop, Seen};
use super::response::ResponseBody;
use super::route::Route;
use super::send::{replay_on_401, send, Replay};
use super::token::{token_cell, unavailable};
use super::{inject, policy, rewrite, target, upgrade};
use crate::error::ProxyError;
use crate::policy::OriginVerdict;
use crate::snapshot::Snapshot;
use crate::Shared;

/// What the phases found out, for the respond phase and the metrics.
struct Exchange {
    origin: OriginVerdict,
    route: Option<Arc<Route>>,
    in_flight: Option<InFlight>,
}

/// An upstream answer, and the two sides to join when it switched protocols.
struct Forwarded {
    resp: Response<ResponseBody>,
    upgrade: Option<(OnUpgrade, OnUpgrade)>,
}

/// Not `async fn`s, these two: one keeps a second copy of its by-value arguments (the
/// request) in its state, and this state is every request's.
#[allow(clippy::manual_async_fn)] // see above: an `async fn` doubles the request
pub fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> impl Future<Output = Result<Response<ResponseBody>, Infallible>> + Send {
    async move {
        let started = Instant::now();
        let snapshot = shared.snapshot.load_full();
        let method = req.method().clone();
        let max = snapshot.config.server.max_concurrent_requests;
        let max = max.unwrap_or(shared.default_max_concurrent);
        let admission = Admission::enter(shared, max);
        let mut ex = Exchange {
            origin: OriginVerdict::Local,
            route: None,
            in_flight: None,
        };
        let outcome = phases(&snapshot, &mut ex, admission.admitted(), req).await;
        let (mut resp, upgrade) = match outcome {
            Ok(Forwarded { resp, upgrade }) => (resp, upgrade),
            Err(e) => {
                if let Some(route) = &ex.route {
                    if let Some(reason) = e.upstream_reason() {
                        route.metrics.upstream_error(reason);
                    }
                    let cause = std::error::Error::source(&e).map(ToString::to_string);
                    tracing::warn!(route = %route.prefix, error = %e, cause, "request failed");
                }
                (e.into_response(), None)
            }
        };
        // Respond: what the answer may carry to a browser, then the bookkeeping.
        policy::allow_origin(&ex.origin, resp.headers_mut());
        match &ex.route {
            Some(route) => {
                route.metrics.duration.observe(started.elapsed().as_secs_f64());
                route.metrics.requests.inc(&method, resp.status());
            }
            None => snapshot.unrouted.inc(&method, resp.status()),
        }
        let held = Held {
            admission,
            in_flight: ex.in_flight.take(),
        };
        Ok(match (upgrade, ex.route) {
            (Some((client, upstream)), Some(route)) => {
                tokio::spawn(upgrade::tunnel(client, upstream, held, route.prefix.clone()));
                resp
            }
            _ => resp.map(|body| body.hold(held)),
        })
    }
}

#[allow(clippy::manual_async_fn)] // see above: an `async fn` doubles the request
fn phases<'a>(
    snapshot: &'a Snapshot,
    ex: &'a mut Exchange,
    admitted: bool,
    mut req: Request<Incoming>,
) -> impl Future<Output = Result<Forwarded, ProxyError>> + Send + 'a {
    async move {
        // Admission.
        if !admitted {
            return Err(ProxyError::Overloaded);
        }
        // A forward proxy's request forms, whatever host they name.
        target::reverse_proxy_form(&req)?;
        // Host and origin policy, after one look at the names the phases ask about.
        let seen = Seen::of(req.headers());
        ex.origin = policy::check(snapshot, &req, seen)?;
        if let Some(answer) = policy::preflight(&ex.origin, &req) {
            return Ok(Forwarded {
                resp: answer,
                upgrade: None,
            });
        }
        // Route.
        let route = target::select(snapshot, &req)?;
        ex.in_flight = Some(InFlight::enter(&route.metrics.in_flight));
        ex.route = Some(Arc::clone(&route));
        // The length is only looked up for a route with a limit.
        if let Some(max) = route.max_body_bytes {
            if declared_length(req.headers()).is_some_and(|len| len > max) {
                return Err(ProxyError::PayloadTooLarge);
            }
        }
        // Token: parked here while a refresh is under way, holding no upstream connection.
        let cell = token_cell(snapshot, &route, req.headers())?;
        let client = &route.provider.client;
        let token = cell
            .get(client)
            .await
            .map_err(|e| unavailable(snapshot, &cell, e))?;
        // Rewrite and inject.
        let upgrading = is_upgrade(req.headers(), seen);
        let client_upgrade = upgrading.then(|| hyper::upgrade::on(&mut req));
        let (mut parts, body) = req.into_parts();
        // A replay rewrites the client's target again: a copy of that one shares its
        // request head's bytes, where a copy of the rewritten one would allocate.
        let target = (!upgrading).then(|| parts.uri.clone());
        rewrite::to_upstream(&mut parts, &route)?;
        inject::prepare(&mut parts.headers, &route, seen, upgrading);
        let (body, kept) = ProxyBody::prepare(
            body,
            snapshot.config.server.retry_buffer,
            route.max_body_bytes,
            route.timeout,
        )
        .await
        .map_err(ProxyError::from)?;
        let replay = target.map(|target| Replay::keep(&parts, target));
        inject::token(&mut parts.headers, &token.authorization);
        // Send, and replay once on a 401.
        let resp = match send(&route, Request::from_parts(parts, body)).await {
            // The upstream waited for a body the client stopped sending.
            Err(ProxyError::UpstreamTimeout) if !kept.arrived() => Err(ProxyError::RequestTimeout),
            other => other,
        }?;
        let (mut resp, reuse) = if resp.0.status() == StatusCode::UNAUTHORIZED {
            // Boxed: rare, and its refresh and second send would size every request's future.
            Box::pin(replay_on_401(&route, &cell, &token, resp, replay, kept)).await?
        } else {
            resp
        };
        let answer = Seen::of(resp.headers());
        if answer.rate_limit() {
            route.metrics.observe_rate_limit(resp.headers());
        }
        if let (StatusCode::SWITCHING_PROTOCOLS, Some(client_upgrade)) = (resp.status(), client_upgrade) {
            let upstream_upgrade = hyper::upgrade::on(&mut resp);
            return Ok(Forwarded {
                resp: resp.map(|_| ResponseBody::empty()),
                upgrade: Some((client_upgrade, upstream_upgrade)),
            });
        }
        remove_hop_by_hop(resp.headers_mut(), answer, false);
        if answer.cors() {
            policy::strip_upstream_cors(resp.headers_mut());
        }
        Ok(Forwarded {
            resp: resp.map(|body| ResponseBody::upstream(body, reuse)),
            upgrade: None,
        })
    }
}

fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}
