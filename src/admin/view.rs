//! What the admin API, the status page and `/readyz` say about tokens and routes — never a
//! token's value. One place decides each state and its explanation, so every surface says
//! the same.

use serde::Serialize;

use crate::config::TokenSpec;
use crate::oauth::{Provider, Status, TokenCell, TokenKind, APP_SUBJECT};
use crate::snapshot::Snapshot;
use crate::Shared;

#[derive(Debug, Serialize)]
pub struct TokenView {
    pub provider: String,
    pub subject: String,
    pub kind: &'static str,
    /// RFC 3339, or null when no token is held.
    pub expires_at: Option<String>,
    pub scopes: Vec<String>,
    pub has_refresh_token: bool,
    /// `valid`, `refreshing`, `needs_login`, `error`; on the status page also
    /// `not_connected` (a user a route names whom no one has logged in).
    pub status: &'static str,
    /// Why the last attempt failed: the endpoint's host, the HTTP status or transport
    /// failure, what the platform said. Present while the last attempt failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// RFC 3339: when the next attempt is due. Absent when none will be made on its own
    /// (a refused grant waits for a new login).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<String>,
}

/// A user a route names (or a request named) whom no one has logged in.
pub const NOT_CONNECTED: &str = "not_connected";

pub fn view(cell: &TokenCell) -> TokenView {
    let current = cell.current();
    let token = current.as_ref();
    let failure = cell.last_failure();
    TokenView {
        provider: cell.provider.clone(),
        subject: cell.subject.clone(),
        kind: cell.kind.as_str(),
        expires_at: token.map(|t| humantime::format_rfc3339_seconds(t.expires_at).to_string()),
        scopes: token.map(|t| t.scopes.clone()).unwrap_or_default(),
        has_refresh_token: token.is_some_and(|t| t.refresh.is_some()),
        status: cell.state(),
        last_error: failure.as_ref().map(|f| f.error.to_string()),
        retry_at: failure.and_then(|f| f.retry_at()),
    }
}

/// A user a route names whom no one has logged in: listed so a person sees whom to connect.
pub fn not_connected(provider: &str, subject: &str) -> TokenView {
    TokenView {
        provider: provider.to_string(),
        subject: subject.to_string(),
        kind: TokenKind::User.as_str(),
        expires_at: None,
        scopes: Vec::new(),
        has_refresh_token: false,
        status: NOT_CONNECTED,
        last_error: None,
        retry_at: None,
    }
}

/// The users the routes of `provider` name (`user = "..."`), in route order, once each.
pub fn named_users<'a>(snapshot: &'a Snapshot, provider: &str) -> Vec<&'a str> {
    let mut users: Vec<&str> = Vec::new();
    for route in snapshot.router.routes() {
        if let TokenSpec::User(Some(user)) = &route.token {
            if route.provider.name() == provider && !users.contains(&user.as_str()) {
                users.push(user);
            }
        }
    }
    users
}

/// Every token of `provider`, then the users its routes name that have no slot yet.
pub fn provider_views(snapshot: &Snapshot, provider: &Provider) -> Vec<TokenView> {
    let mut views: Vec<TokenView> = provider.cells().iter().map(|c| view(c)).collect();
    for user in named_users(snapshot, provider.name()) {
        if provider.user(user).is_none() {
            views.push(not_connected(provider.name(), user));
        }
    }
    views
}

/// What `GET /admin/tokens` lists: the tokens held (and slots in trouble), each with one of
/// the SPEC's four statuses. A user no one has connected holds no token, so is not listed
/// there; the status page and `/readyz` name them `not_connected`.
pub fn all(snapshot: &Snapshot) -> Vec<TokenView> {
    snapshot
        .providers
        .values()
        .flat_map(|p| p.cells())
        .map(|c| view(&c))
        .filter(|v| v.status != NOT_CONNECTED)
        .collect()
}

/// Whether a route can be served now, and if not, why.
#[derive(Debug, Serialize)]
pub struct RouteView {
    pub route: String,
    pub provider: String,
    /// `app`, the route's fixed user, or null when each request names its user.
    pub subject: Option<String>,
    pub ready: bool,
    /// `valid`, or what keeps it from serving: `not_connected`, `needs_login`, `expired`,
    /// `refreshing`, `error`; `per_request` when each request names its user.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<String>,
}

pub fn routes(snapshot: &Snapshot) -> Vec<RouteView> {
    snapshot
        .router
        .routes()
        .iter()
        .map(|route| {
            let provider = &route.provider;
            let (subject, cell) = match &route.token {
                TokenSpec::App => (Some(APP_SUBJECT.to_string()), provider.app.clone()),
                TokenSpec::User(Some(user)) => (Some(user.clone()), provider.user(user)),
                TokenSpec::User(None) => (None, None),
            };
            let failure = cell.as_ref().and_then(|c| c.last_failure());
            let status = match (&subject, &cell) {
                (None, _) => "per_request",
                (Some(_), None) if route.token == TokenSpec::App => Status::Error.as_str(),
                (Some(_), None) => "not_connected",
                (Some(_), Some(c)) if c.fresh().is_some() => Status::Valid.as_str(),
                (Some(_), Some(c)) if c.status() == Status::Valid && c.current().is_some() => "expired",
                (Some(_), Some(c)) => c.state(),
            };
            RouteView {
                route: route.prefix.clone(),
                provider: provider.name().to_string(),
                subject,
                ready: matches!(status, "valid" | "per_request"),
                status,
                reason: failure.as_ref().map(|f| f.error.to_string()),
                retry_at: failure.and_then(|f| f.retry_at()),
            }
        })
        .collect()
}

/// Every slot's state for the per-token gauges, read when Prometheus scrapes.
pub fn token_states(shared: &Shared) -> Vec<crate::metrics::TokenState> {
    let snapshot = shared.snapshot.load();
    snapshot
        .providers
        .values()
        .flat_map(|p| p.cells())
        .map(|cell| crate::metrics::TokenState {
            expires_at: cell.current().as_ref().map(|t| {
                t.expires_at
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64())
            }),
            needs_login: cell.status() == Status::NeedsLogin,
            provider: cell.provider.clone(),
            subject: cell.subject.clone(),
        })
        .collect()
}
