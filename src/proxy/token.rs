//! Which token a request gets: the route's app token, its fixed user's, or the one the
//! `x-token-user` header names; and the 503s when there is none to give.

use std::sync::Arc;

use http::HeaderMap;

use super::route::Route;
use crate::config::TokenSpec;
use crate::error::{ProxyError, Unavailable};
use crate::oauth::{TokenCell, TokenError, TokenKind, APP_SUBJECT};
use crate::snapshot::Snapshot;

/// Names the user of a user route that has no fixed user; never forwarded.
pub const TOKEN_USER: http::HeaderName = http::HeaderName::from_static("x-token-user");

/// The token slot this request draws from: the app token, the route's fixed user's, or the
/// one `x-token-user` names.
pub fn token_cell(
    snapshot: &Snapshot,
    route: &Route,
    headers: &HeaderMap,
) -> Result<Arc<TokenCell>, ProxyError> {
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
            let value = headers.get(&TOKEN_USER).ok_or(ProxyError::BadRequest(
                "this route serves user tokens: name the user in x-token-user",
            ))?;
            value
                .to_str()
                .ok()
                .filter(|u| valid_user(u))
                .ok_or(ProxyError::BadRequest(
                    "x-token-user must be 1 to 128 letters, digits or _ . @ : -",
                ))?
        }
    };
    provider
        .user(user)
        .ok_or_else(|| missing(snapshot, provider.name(), user, true))
}

/// A user name: 1 to 128 of letters, digits and `_ . @ : -`, so it is safe in a path
/// segment, a query value and a log line as it is.
pub fn valid_user(u: &str) -> bool {
    !u.is_empty()
        && u.len() <= 128
        && u.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'@' | b':' | b'-'))
}

/// No slot at all: a user no one has logged in (or an app token no route asked for).
fn missing(snapshot: &Snapshot, provider: &str, subject: &str, user: bool) -> ProxyError {
    ProxyError::TokenUnavailable(Box::new(Unavailable {
        provider: provider.to_string(),
        subject: subject.to_string(),
        login_url: user.then(|| snapshot.login_url(provider, subject)),
        status: if user { "not_connected" } else { "error" },
        reason: None,
        retry_at: None,
        cause: None,
    }))
}

/// The 503 for a slot that could not give a token: its state, and the reason and next
/// attempt it recorded (so the body says what the log line and `/admin/tokens` say).
pub fn unavailable(snapshot: &Snapshot, cell: &TokenCell, e: TokenError) -> ProxyError {
    let user = cell.kind == TokenKind::User;
    let failure = cell.last_failure();
    let reason = match (&failure, &e) {
        (Some(f), _) => Some(f.error.to_string()),
        (None, TokenError::NeedsLogin | TokenError::NotConnected) => None,
        (None, e) => Some(e.to_string()),
    };
    ProxyError::TokenUnavailable(Box::new(Unavailable {
        provider: cell.provider.clone(),
        subject: cell.subject.clone(),
        login_url: user.then(|| snapshot.login_url(&cell.provider, &cell.subject)),
        status: cell.state(),
        reason,
        retry_at: failure.and_then(|f| f.retry_at()),
        cause: Some(e),
    }))
}
