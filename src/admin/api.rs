//! `/admin/tokens`: list, refresh now, revoke and delete; `/admin/logins`: device-code
//! logins. Guarded by `admin_token` when set.

use http::{header, HeaderMap, Method, Response, StatusCode};
use serde_json::json;
use subtle::ConstantTimeEq;

use std::sync::Arc;

use super::logins;
use super::view::{self, view};
use super::AdminBody;
use crate::error::json_error;
use crate::oauth::{revoke, TokenCell, TokenKind, APP_SUBJECT};
use crate::Shared;

pub async fn handle(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response<AdminBody> {
    if let Some(expected) = &shared.snapshot.load().config.server.admin_token {
        // The scheme is case-insensitive (RFC 9110 §11.1); the token is compared in constant
        // time, so the time taken does not tell how much of it matched.
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        if !given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(expected.secret().as_bytes()))) {
            let mut resp = error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send authorization: Bearer <admin_token>",
            );
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
            return resp;
        }
    }
    let parts: Vec<&str> = path.trim_start_matches("/admin/").split('/').collect();
    match (method, parts.as_slice()) {
        (&Method::GET, ["tokens"]) => json(StatusCode::OK, &view::all(&shared.snapshot.load())),
        (&Method::POST, ["tokens", provider, subject, "refresh"]) => refresh(shared, provider, subject).await,
        (&Method::DELETE, ["tokens", provider, subject]) => delete(shared, provider, subject).await,
        (&Method::POST, ["logins", provider]) => logins::post(shared, provider, query).await,
        (&Method::GET, ["logins", id]) => logins::get(shared, id, query).await,
        _ => error(StatusCode::NOT_FOUND, "not_found", "no such admin endpoint"),
    }
}

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

fn cell(shared: &Shared, provider: &str, subject: &str) -> Option<std::sync::Arc<TokenCell>> {
    let snapshot = shared.snapshot.load();
    let p = snapshot.providers.get(&decode(provider))?;
    let subject = decode(subject);
    if subject == APP_SUBJECT {
        p.app.clone()
    } else {
        p.user(&subject)
    }
}

async fn refresh(shared: &Shared, provider: &str, subject: &str) -> Response<AdminBody> {
    let Some(cell) = cell(shared, provider, subject) else {
        return unknown();
    };
    let Some(p) = shared.snapshot.load().providers.get(&cell.provider).cloned() else {
        return unknown();
    };
    let stale = cell.current().as_ref().map(|t| t.generation);
    match cell.refresh(&p.client, stale, false).await {
        Ok(_) => json(StatusCode::OK, &view(&cell)),
        Err(e) => {
            // The attempt, if one was made, logged its failure with its reason.
            tracing::debug!(provider = %cell.provider, subject = %cell.subject, error = %e, "refresh on demand failed");
            let mut body = serde_json::to_value(view(&cell)).unwrap_or_default();
            body["error"] = json!("refresh_failed");
            body["message"] = json!(e.to_string());
            json(StatusCode::BAD_GATEWAY, &body)
        }
    }
}

async fn delete(shared: &Shared, provider: &str, subject: &str) -> Response<AdminBody> {
    let Some(cell) = cell(shared, provider, subject) else {
        return unknown();
    };
    let Some(p) = shared.snapshot.load().providers.get(&cell.provider).cloned() else {
        return unknown();
    };
    let held = cell.current().clone();
    let revoked = match &held {
        Some(token) => revoke::revoke(&p.client, token).await,
        None => None,
    };
    let removed = p.client.store.remove(&cell.provider, &cell.subject).await;
    if let Err(e) = &removed {
        tracing::error!(provider = %cell.provider, subject = %cell.subject, error = %e, "cannot remove a token from the store");
    }
    match cell.kind {
        TokenKind::User => {
            p.remove_user(&cell.subject);
        }
        // The app token is fetched anew: routes keep working with a token not revoked. The
        // revoked one goes first, so it is never injected (or kept in a token file) again,
        // even while the platform cannot hand out another.
        TokenKind::App => {
            cell.forget().await;
            let _ = cell.refresh(&p.client, None, false).await;
        }
    }
    json(
        StatusCode::OK,
        &json!({
            "provider": cell.provider,
            "subject": cell.subject,
            "removed": removed.is_ok(),
            "revoked": revoked.unwrap_or(false),
            "revocation": match revoked {
                Some(true) => "confirmed",
                Some(false) => "not_confirmed",
                None => "not_supported",
            },
        }),
    )
}

fn unknown() -> Response<AdminBody> {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        "no token of that provider and subject",
    )
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<AdminBody> {
    json_error(status, code, message, Default::default())
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<AdminBody> {
    let mut resp = Response::new(AdminBody::from(serde_json::to_vec(value).unwrap_or_default()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}
