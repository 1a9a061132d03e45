//! One request's way: check the target, pick the route and the token, rewrite, inject,
//! stream upstream, and on a 401 refresh the token and replay the kept request once.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use http::{header, HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;

use super::body::{InFlight, ProxyBody, ResponseBody};
use super::headers::{strip_hop_by_hop, strip_injected};
use super::route::{escapes, match_prefix, rewrite, Route};
use crate::config::TokenSpec;
use crate::error::ProxyError;
use crate::oauth::{Status, TokenCell, TokenError, TokenKind, APP_SUBJECT};
use crate::snapshot::Snapshot;
use crate::Shared;

/// Names the user of a user route that has no fixed user; never forwarded.
pub const TOKEN_USER: &str = "x-token-user";

pub async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let started = Instant::now();
    let snapshot = shared.snapshot.load_full();
    let method = method_label(req.method());
    let resp = match select(&snapshot, &req) {
        Err(e) => {
            shared
                .metrics
                .requests
                .with_label_values(&["none", method, e.status().as_str()])
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
            shared
                .metrics
                .requests
                .with_label_values(&[&route.prefix, method, resp.status().as_str()])
                .inc();
            resp
        }
    };
    Ok(resp)
}

/// Refuses what a reverse proxy must never serve, then finds the route.
fn select(snapshot: &Snapshot, req: &Request<Incoming>) -> Result<Arc<Route>, ProxyError> {
    if req.method() == Method::CONNECT {
        return Err(ProxyError::BadRequest(
            "CONNECT is not served: this is a reverse proxy",
        ));
    }
    if req.uri().scheme().is_some() || req.uri().authority().is_some() {
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
    req: Request<Incoming>,
    in_flight: InFlight,
) -> Result<Response<ResponseBody>, ProxyError> {
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
    parts.uri = Uri::from_parts({
        let mut u = http::uri::Parts::default();
        u.scheme = Some(route.scheme.clone());
        u.authority = Some(route.authority.clone());
        u.path_and_query = Some(target);
        u
    })
    .map_err(|_| ProxyError::BadRequest("the request target cannot be rewritten"))?;
    // The upstream connection decides the version (HTTP/2 when ALPN agrees).
    parts.version = Version::HTTP_11;
    prepare_headers(&mut parts.headers, route);
    let retry_buffer = snapshot.config.server.retry_buffer;
    let (body, kept) = ProxyBody::prepare(body, retry_buffer)
        .await
        .map_err(|_| ProxyError::BadRequest("the request body could not be read"))?;
    let replay = (parts.method.clone(), parts.uri.clone(), parts.headers.clone());
    parts
        .headers
        .insert(header::AUTHORIZATION, token.authorization.clone());

    let mut resp = send(route, Request::from_parts(parts, body)).await?;
    if resp.status() == StatusCode::UNAUTHORIZED {
        // Refresh the token that was refused (unless a newer one replaced it meanwhile);
        // replay only if the whole body was kept.
        let fresh = cell.refresh(client, Some(token.generation), true).await;
        let mut kept = kept;
        match (fresh, kept.try_recv()) {
            (Ok(fresh), Ok(chunks)) => {
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
            (Ok(_), Err(_)) => tracing::debug!(route = %route.prefix, "401 with a body too large to replay"),
        }
    }
    strip_hop_by_hop(resp.headers_mut(), false);
    Ok(resp.map(|b| ResponseBody::upstream(b, in_flight)))
}

fn prepare_headers(headers: &mut HeaderMap, route: &Route) {
    strip_hop_by_hop(headers, false);
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
        Ok(Err(e)) => Err(ProxyError::UpstreamUnavailable {
            reason: if e.is_connect() { "connect" } else { "reset" },
            source: Box::new(e),
        }),
        Ok(Ok(resp)) => Ok(resp),
    }
}

/// The token slot this request draws from: the app token, the route's fixed user's, or the
/// one `x-token-user` names.
fn token_cell(snapshot: &Snapshot, route: &Route, headers: &HeaderMap) -> Result<Arc<TokenCell>, ProxyError> {
    let provider = &route.provider;
    let user = match &route.token {
        TokenSpec::App => {
            return provider
                .app
                .clone()
                .ok_or_else(|| missing(snapshot, provider.name(), APP_SUBJECT, false));
        }
        TokenSpec::User(Some(user)) => user.as_str(),
        TokenSpec::User(None) => {
            let value = headers.get(TOKEN_USER).ok_or(ProxyError::BadRequest(
                "this route serves user tokens: name the user in x-token-user",
            ))?;
            value
                .to_str()
                .ok()
                .filter(|u| valid_user(u))
                .ok_or(ProxyError::BadRequest(
                    "x-token-user must be 1 to 128 visible ASCII characters",
                ))?
        }
    };
    provider
        .user(user)
        .ok_or_else(|| missing(snapshot, provider.name(), user, true))
}

pub fn valid_user(u: &str) -> bool {
    !u.is_empty() && u.len() <= 128 && u.bytes().all(|b| b.is_ascii_graphic())
}

fn missing(snapshot: &Snapshot, provider: &str, subject: &str, user: bool) -> ProxyError {
    ProxyError::TokenUnavailable {
        provider: provider.to_string(),
        subject: subject.to_string(),
        login_url: user.then(|| snapshot.login_url(provider, subject)),
        needs_login: user,
        cause: None,
    }
}

fn unavailable(snapshot: &Snapshot, cell: &TokenCell, e: TokenError) -> ProxyError {
    let user = cell.kind == TokenKind::User;
    ProxyError::TokenUnavailable {
        provider: cell.provider.clone(),
        subject: cell.subject.clone(),
        login_url: user.then(|| snapshot.login_url(&cell.provider, &cell.subject)),
        needs_login: cell.status() == Status::NeedsLogin,
        cause: Some(e),
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
