//! Twitch (id.twitch.tv): form-encoded token calls, GET /oauth2/validate with
//! `Authorization: OAuth T`, POST /oauth2/revoke with `client_id` and `token`.

use super::token::{rfc_grant, ScopeSep};
use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::{Method, Request};
use serde_json::json;

use super::device;
use super::kind::CLIENT_ID;
use super::server::{Reply, Reset};
use super::state::Shared;
use super::token::check_client;
use super::token::GrantReq;
use super::wire::{
    bytes_reply, form_params, json, pair, read_body, split_spaces, Fields, PLATFORM_BODY_LIMIT,
};

/// `public`: the client has no secret; it may only refresh and redeem device codes, and
/// never sends a client_secret.
pub fn parse_token(parts: &Parts, body: &[u8], public: bool) -> Result<GrantReq, String> {
    let pairs = form_params(parts, body)?;
    let grant_type = pair(&pairs, "grant_type").ok_or("missing parameter \"grant_type\"")?;
    let base: &[&str] = if public {
        &["client_id", "grant_type"]
    } else {
        &["client_id", "client_secret", "grant_type"]
    };
    let f = match grant_type {
        device::GRANT => {
            // The device grant carries no client secret, public client or not.
            let f = Fields::check(&pairs, &["client_id", "device_code", "grant_type", "scopes"], &[])?;
            check_client(f.get("client_id"), None)?;
            return Ok(GrantReq::DeviceCode {
                device_code: f.get("device_code").to_string(),
            });
        }
        "client_credentials" | "authorization_code" if public => {
            return Err(format!("a public client cannot use grant_type {grant_type:?}"))
        }
        "client_credentials" => Fields::check(&pairs, base, &["scope"])?,
        "authorization_code" => Fields::check(&pairs, &[base, &["code", "redirect_uri"]].concat(), &[])?,
        "refresh_token" => Fields::check(&pairs, &[base, &["refresh_token"]].concat(), &[])?,
        other => return Err(format!("unsupported grant_type {other:?}")),
    };
    rfc_grant(&f, grant_type, ScopeSep::Spaces)
}

/// GET /oauth2/validate.
pub async fn validate(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Reply, Reset> {
    let what = "GET /oauth2/validate";
    shared.lock().validations += 1;
    shared.notify();
    if req.method() != Method::GET {
        shared.reject(what, "method must be GET");
        return Ok(json(
            400,
            &json!({"status": 400, "message": "method must be GET"}),
        ));
    }
    let header = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(token) = header.strip_prefix("OAuth ") else {
        shared.reject(
            what,
            &format!("Authorization {header:?} does not use the OAuth scheme"),
        );
        return Ok(json(
            401,
            &json!({"status": 401, "message": "missing authorization token"}),
        ));
    };
    let info = shared.lock().book.describe(token);
    let Some((user, scopes, expires_in)) = info else {
        return Ok(json(
            401,
            &json!({"status": 401, "message": "invalid access token"}),
        ));
    };
    let answer = match user {
        Some(login) => {
            let user_id = shared.lock().book.user_id(&login, false);
            json!({
                "client_id": CLIENT_ID,
                "login": login.to_lowercase(),
                "scopes": scopes,
                "user_id": user_id,
                "expires_in": expires_in,
            })
        }
        None => json!({"client_id": CLIENT_ID, "scopes": scopes, "expires_in": expires_in}),
    };
    Ok(json(200, &answer))
}

/// POST /oauth2/revoke, form `client_id` and `token`.
pub async fn revoke(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Reply, Reset> {
    let what = "POST /oauth2/revoke";
    let (parts, body) = req.into_parts();
    let checked = match read_body(body, PLATFORM_BODY_LIMIT).await {
        Ok(body) if parts.method == Method::POST => form_params(&parts, &body)
            .and_then(|p| Fields::check(&p, &["client_id", "token"], &[]))
            .and_then(|f| check_client(f.get("client_id"), None).map(|_| f)),
        Ok(_) => Err("method must be POST".into()),
        Err(e) => Err(e),
    };
    let f = match checked {
        Ok(f) => f,
        Err(reason) => {
            shared.reject(what, &reason);
            return Ok(json(400, &json!({"status": 400, "message": reason})));
        }
    };
    let token = f.get("token").to_string();
    // Twitch's endpoint takes an access token ("the access token to revoke"); anything else,
    // a refresh token included, is a 400 "Invalid token".
    let known = {
        let mut st = shared.lock();
        let access = st.book.is_access(&token);
        if access {
            st.revoked.push(token.clone());
            st.book.revoke(&token);
        }
        access
    };
    shared.notify();
    if known {
        Ok(bytes_reply(200, "text/plain", Bytes::new()))
    } else {
        shared.reject(what, "token is not an access token this platform issued");
        Ok(json(400, &json!({"status": 400, "message": "Invalid token"})))
    }
}
