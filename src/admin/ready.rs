//! `/readyz`: ready when every route can be served now — each app token held and fresh, each
//! route's fixed user holding a usable token — and otherwise a list of what is missing.

use http::{Response, StatusCode};
use serde_json::json;

use super::AdminBody;
use crate::config::TokenSpec;
use crate::oauth::{Status, TokenCell, APP_SUBJECT};
use crate::Shared;

pub fn readyz(shared: &Shared) -> Response<AdminBody> {
    let snapshot = shared.snapshot.load();
    let mut missing = Vec::new();
    for route in snapshot.router.routes() {
        let provider = &route.provider;
        let (subject, cell) = match &route.token {
            TokenSpec::App => (APP_SUBJECT, provider.app.clone()),
            TokenSpec::User(Some(user)) => (user.as_str(), provider.user(user)),
            // Users named per request cannot be known in advance.
            TokenSpec::User(None) => continue,
        };
        if let Some(status) = unusable(cell.as_deref()) {
            missing.push(json!({
                "route": route.prefix,
                "provider": provider.name(),
                "subject": subject,
                "status": status,
            }));
        }
    }
    let ready = missing.is_empty();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({ "ready": ready, "missing": missing });
    let mut resp = Response::new(AdminBody::from(serde_json::to_vec(&body).unwrap_or_default()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// Why a slot cannot serve now, or `None` when it can.
fn unusable(cell: Option<&TokenCell>) -> Option<&'static str> {
    let Some(cell) = cell else {
        return Some(Status::NeedsLogin.as_str());
    };
    if cell.fresh().is_some() {
        return None;
    }
    Some(match cell.status() {
        Status::Valid => "expired",
        s => s.as_str(),
    })
}
