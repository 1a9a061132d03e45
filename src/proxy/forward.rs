//! One request's way: check the target, pick the route and the token, rewrite, inject,
//! stream upstream, and on a 401 refresh the token and replay the kept request once.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;

use super::body::{InFlight, ProxyBody, ResponseBody};
use super::headers::{is_upgrade, strip_hop_by_hop, strip_injected};
use super::route::{escapes, match_prefix, rewrite, Route};
use super::token::{token_cell, unavailable, TOKEN_USER};
use super::upgrade;
use crate::error::ProxyError;
use crate::snapshot::Snapshot;
use crate::Shared;

pub async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let started = Instant::now();
    let snapshot = shared.snapshot.load_full();
    let method = method_label(req.method());
    let admitted = Admission::enter(&shared, snapshot.config.server.max_concurrent_requests);
    let selected = match admitted {
        Some(_) => select(&snapshot, &req),
        None => Err(ProxyError::Overloaded),
    };
    let resp = match selected {
        Err(e) => {
            let status = e.status();
            shared
                .metrics
                .requests
                .with_label_values(&["none", method, status.as_str()])
                .inc();
            e.into_response()
        }
        Ok(route) => {
            let in_flight = InFlight::enter(&route.metrics.in_flight);
            let resp = match forward(&snapshot, &route, req, in_flight).await {
                Ok(resp) => resp,
                Err(e) => {
                    if let Some(reason) = e.upstream_reason() {
                        shared
                            .metrics
                            .upstream_errors
                            .with_label_values(&[&route.prefix, reason])
                            .inc();
                    }
                    let cause = std::error::Error::source(&e).map(ToString::to_string);
                    tracing::warn!(route = %route.prefix, error = %e, cause, "request failed");
                    e.into_response()
                }
            };
            route.metrics.duration.observe(started.elapsed().as_secs_f64());
            let status = resp.status();
            shared
                .metrics
                .requests
                .with_label_values(&[&route.prefix, method, status.as_str()])
                .inc();
            resp
        }
    };
    drop(admitted);
    Ok(resp)
}

/// Counts a request against `max_concurrent_requests` for as long as it is held.
struct Admission<'a>(&'a Shared);

impl<'a> Admission<'a> {
    fn enter(shared: &'a Shared, max: usize) -> Option<Self> {
        let before = shared.active.fetch_add(1, Ordering::AcqRel);
        let admitted = Admission(shared);
        (before < max).then_some(admitted)
    }
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Refuses what a reverse proxy must never serve, then finds the route.
fn select(snapshot: &Snapshot, req: &Request<Incoming>) -> Result<Arc<Route>, ProxyError> {
    if req.method() == Method::CONNECT {
        return Err(ProxyError::BadRequest(
            "CONNECT is not served: this is a reverse proxy",
        ));
    }
    // HTTP/2 always carries scheme and authority pseudo-headers; only HTTP/1 can send an
    // absolute-form target.
    let absolute = req.uri().scheme().is_some() || req.uri().authority().is_some();
    if absolute && req.version() < Version::HTTP_2 {
        return Err(ProxyError::BadRequest(
            "absolute-form request targets are not served: send the path only",
        ));
    }
    let path = req.uri().path();
    if !path.starts_with('/') {
        return Err(ProxyError::BadRequest("the request target must be a path"));
    }
    if escapes(path) {
        return Err(ProxyError::BadRequest("the path may not contain `..` segments"));
    }
    snapshot
        .router
        .find(path)
        .map(|(r, _)| Arc::clone(r))
        .ok_or(ProxyError::NoRoute)
}

async fn forward(
    snapshot: &Snapshot,
    route: &Arc<Route>,
    mut req: Request<Incoming>,
    in_flight: InFlight,
) -> Result<Response<ResponseBody>, ProxyError> {
    if let (Some(max), Some(len)) = (route.max_body_bytes, declared_length(req.headers())) {
        if len > max {
            return Err(ProxyError::PayloadTooLarge);
        }
    }
    let upgrading = is_upgrade(req.headers());
    let client_upgrade = upgrading.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    let cell = token_cell(snapshot, route, &parts.headers)?;
    let client = &route.provider.client;
    let token = cell
        .get(client)
        .await
        .map_err(|e| unavailable(snapshot, &cell, e))?;

    let rest = match_prefix(&route.prefix, parts.uri.path()).unwrap_or("");
    let target = rewrite(&route.base_path, rest, parts.uri.query())
        .map_err(|_| ProxyError::BadRequest("the request target cannot be rewritten"))?;
    let mut uri = http::uri::Parts::default();
    uri.scheme = Some(route.scheme.clone());
    uri.authority = Some(route.authority.clone());
    uri.path_and_query = Some(target);
    parts.uri =
        Uri::from_parts(uri).map_err(|_| ProxyError::BadRequest("the request target cannot be rewritten"))?;
    // The upstream connection decides the version (HTTP/2 when ALPN agrees).
    parts.version = Version::HTTP_11;
    prepare_headers(&mut parts.headers, route, upgrading);
    let retry_buffer = snapshot.config.server.retry_buffer;
    let (body, kept) = ProxyBody::prepare(body, retry_buffer, route.max_body_bytes)
        .await
        .map_err(|e| ProxyError::body(&e))?;
    let replay = (parts.method.clone(), parts.uri.clone(), parts.headers.clone());
    parts
        .headers
        .insert(header::AUTHORIZATION, token.authorization.clone());

    let mut resp = send(route, Request::from_parts(parts, body)).await?;
    if resp.status() == StatusCode::UNAUTHORIZED {
        // Refresh the token that was refused (unless a newer one replaced it meanwhile);
        // replay only if the whole body was kept.
        let fresh = cell.refresh(client, Some(token.generation), true).await;
        match (fresh, kept.take()) {
            (Ok(fresh), Some(chunks)) if !upgrading => {
                route.metrics.unauthorized_retries.inc();
                let (method, uri, mut headers) = replay;
                headers.insert(header::AUTHORIZATION, fresh.authorization.clone());
                let mut again = Request::new(ProxyBody::replay(chunks));
                *again.method_mut() = method;
                *again.uri_mut() = uri;
                *again.headers_mut() = headers;
                drop(resp);
                resp = send(route, again).await?;
            }
            (Err(e), _) => tracing::warn!(route = %route.prefix, error = %e, "refresh after 401 failed"),
            _ => tracing::debug!(route = %route.prefix, "a 401 to a request that cannot be replayed"),
        }
    }
    route.observe_rate_limit(resp.headers());
    if let (StatusCode::SWITCHING_PROTOCOLS, Some(client_upgrade)) = (resp.status(), client_upgrade) {
        let upstream_upgrade = hyper::upgrade::on(&mut resp);
        tokio::spawn(upgrade::tunnel(
            client_upgrade,
            upstream_upgrade,
            in_flight,
            route.prefix.clone(),
        ));
        return Ok(resp.map(|_| ResponseBody::empty()));
    }
    strip_hop_by_hop(resp.headers_mut(), false);
    Ok(resp.map(|b| ResponseBody::upstream(b, in_flight)))
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

fn prepare_headers(headers: &mut HeaderMap, route: &Route, upgrading: bool) {
    strip_hop_by_hop(headers, upgrading);
    if upgrading {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
    strip_injected(headers, &route.injected);
    headers.remove(TOKEN_USER);
    headers.insert(header::HOST, route.host.clone());
    for (name, value) in &route.headers {
        headers.insert(name.clone(), value.clone());
    }
}

async fn send(route: &Route, req: Request<ProxyBody>) -> Result<Response<Incoming>, ProxyError> {
    match tokio::time::timeout(route.timeout, route.client.request(req)).await {
        Err(_) => Err(ProxyError::UpstreamTimeout),
        Ok(Err(e)) => Err(ProxyError::upstream(e)),
        Ok(Ok(resp)) => Ok(resp),
    }
}

/// A bounded `method` label: the standard methods by name, anything else as `OTHER`.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}
