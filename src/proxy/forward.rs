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
use crate::oauth::{Token, TokenCell};
use crate::policy::OriginVerdict;
use crate::snapshot::Snapshot;
use crate::Shared;

/// What the phases found out, for the respond phase and the metrics.
pub(super) struct Exchange {
    pub origin: OriginVerdict,
    pub route: Option<Arc<Route>>,
    pub in_flight: Option<InFlight>,
    /// The request's method and arrival, for the count and the duration.
    pub method: http::Method,
    pub started: Instant,
}

impl Exchange {
    pub fn new(method: http::Method, started: Instant) -> Self {
        Exchange {
            origin: OriginVerdict::Local,
            route: None,
            in_flight: None,
            method,
            started,
        }
    }

    /// A failed exchange's upstream reason counted, and the failure logged.
    pub fn failed(&self, e: &ProxyError) {
        if let Some(route) = &self.route {
            if let Some(reason) = e.upstream_reason() {
                route.metrics.upstream_error(reason);
            }
            let cause = std::error::Error::source(e).map(ToString::to_string);
            tracing::warn!(route = %route.prefix, error = %e, cause, "request failed");
        }
    }

    /// The respond phase's bookkeeping: what the answer may carry to a browser, then the
    /// route's (or the unrouted) duration and count.
    pub fn respond(&self, snapshot: &Snapshot, headers: &mut http::HeaderMap, status: StatusCode) {
        policy::allow_origin(&self.origin, headers);
        self.record(snapshot, status);
    }

    /// The route's (or the unrouted) duration and count.
    pub fn record(&self, snapshot: &Snapshot, status: StatusCode) {
        match &self.route {
            Some(route) => {
                route
                    .metrics
                    .duration
                    .observe(self.started.elapsed().as_secs_f64());
                route.metrics.requests.inc(&self.method, status);
            }
            None => snapshot.unrouted.inc(&self.method, status),
        }
    }
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
        let max = snapshot.config.server.max_concurrent_requests;
        let max = max.unwrap_or(shared.default_max_concurrent);
        let admission = Admission::enter(shared, max);
        let mut ex = Exchange::new(req.method().clone(), started);
        let outcome = phases(&snapshot, &mut ex, admission.admitted(), req).await;
        let (mut resp, upgrade) = match outcome {
            Ok(Forwarded { resp, upgrade }) => (resp, upgrade),
            Err(e) => {
                ex.failed(&e);
                (e.into_response(), None)
            }
        };
        let status = resp.status();
        ex.respond(&snapshot, resp.headers_mut(), status);
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

/// What the phases before rewriting decided: an answer of their own (a preflight), or the
/// route's token. Both engines (hyper's and `h1`'s) run these same phases.
pub(super) enum Front {
    /// Boxed: a preflight's answer is rare, and an inline one would size every request's state.
    Answer(Box<Response<ResponseBody>>),
    Token {
        route: Arc<Route>,
        cell: Arc<TokenCell>,
        token: Arc<Token>,
        seen: Seen,
    },
}

/// Admission → host and origin policy → route → token. Not an `async fn`, for the reason
/// `handle` gives: the request is borrowed, and only the token wait is a future.
pub(super) fn front<'a, B>(
    snapshot: &'a Snapshot,
    ex: &'a mut Exchange,
    admitted: bool,
    req: &Request<B>,
) -> impl Future<Output = Result<Front, ProxyError>> + Send + 'a {
    let decided = decide(snapshot, ex, admitted, req);
    async move {
        let (route, cell, seen) = match decided? {
            Decided::Answer(resp) => return Ok(Front::Answer(resp)),
            Decided::Route(route, cell, seen) => (route, cell, seen),
        };
        // Token: parked here while a refresh is under way, holding no upstream connection.
        let token = cell
            .get(&route.provider.client)
            .await
            .map_err(|e| unavailable(snapshot, &cell, e))?;
        Ok(Front::Token {
            route,
            cell,
            token,
            seen,
        })
    }
}

enum Decided {
    Answer(Box<Response<ResponseBody>>),
    Route(Arc<Route>, Arc<TokenCell>, Seen),
}

/// The phases that need no waiting, up to the token's cell.
fn decide<B>(
    snapshot: &Snapshot,
    ex: &mut Exchange,
    admitted: bool,
    req: &Request<B>,
) -> Result<Decided, ProxyError> {
    // Admission.
    if !admitted {
        return Err(ProxyError::Overloaded);
    }
    // A forward proxy's request forms, whatever host they name.
    target::reverse_proxy_form(req)?;
    // Host and origin policy, after one look at the names the phases ask about.
    let seen = Seen::of(req.headers());
    ex.origin = policy::check(snapshot, req, seen)?;
    if let Some(answer) = policy::preflight(&ex.origin, req) {
        return Ok(Decided::Answer(Box::new(answer)));
    }
    // Route.
    let route = target::select(snapshot, req)?;
    ex.in_flight = Some(InFlight::enter(&route.metrics.in_flight));
    ex.route = Some(Arc::clone(&route));
    // The length is only looked up for a route with a limit.
    if let Some(max) = route.max_body_bytes {
        if declared_length(req.headers()).is_some_and(|len| len > max) {
            return Err(ProxyError::PayloadTooLarge);
        }
    }
    let cell = token_cell(snapshot, &route, req.headers())?;
    Ok(Decided::Route(route, cell, seen))
}

#[allow(clippy::manual_async_fn)] // see above: an `async fn` doubles the request
fn phases<'a>(
    snapshot: &'a Snapshot,
    ex: &'a mut Exchange,
    admitted: bool,
    mut req: Request<Incoming>,
) -> impl Future<Output = Result<Forwarded, ProxyError>> + Send + 'a {
    async move {
        let (route, cell, token, seen) = match front(snapshot, ex, admitted, &req).await? {
            Front::Answer(resp) => {
                return Ok(Forwarded {
                    resp: *resp,
                    upgrade: None,
                })
            }
            Front::Token {
                route,
                cell,
                token,
                seen,
            } => (route, cell, token, seen),
        };
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
        let answer = publish_rate_limit(&route, resp.headers());
        if let (StatusCode::SWITCHING_PROTOCOLS, Some(client_upgrade)) = (resp.status(), client_upgrade) {
            let upstream_upgrade = hyper::upgrade::on(&mut resp);
            return Ok(Forwarded {
                resp: resp.map(|_| ResponseBody::empty()),
                upgrade: Some((client_upgrade, upstream_upgrade)),
            });
        }
        strip_answer(resp.headers_mut(), answer);
        Ok(Forwarded {
            resp: resp.map(|body| ResponseBody::upstream(body, reuse)),
            upgrade: None,
        })
    }
}

/// The respond phase on an upstream's answer in hyper's types (both engines: the `h1`
/// engine's HTTP/2 way too), first: its rate limit published. Returns the answer's names.
pub(super) fn publish_rate_limit(route: &Route, headers: &http::HeaderMap) -> Seen {
    let seen = Seen::of(headers);
    if seen.rate_limit() {
        route.metrics.observe_rate_limit(headers);
    }
    seen
}

/// Then what never passes on is removed: hop-by-hop fields (an upgrade's are kept, by not
/// coming here) and the upstream's `Access-Control-*`.
pub(super) fn strip_answer(headers: &mut http::HeaderMap, seen: Seen) {
    remove_hop_by_hop(headers, seen, false);
    if seen.cors() {
        policy::strip_upstream_cors(headers);
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
