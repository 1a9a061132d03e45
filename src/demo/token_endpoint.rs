//! `/token`: the three grants the proxy uses (client credentials, authorization code with
//! PKCE, refresh token), with RFC 6749 §5 answers and errors.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use super::grants::Issued;
use super::platform::{json, read_form, Body, Platform};

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response<Body> {
    json(status, json!({"error": error, "error_description": description}))
}

/// HTTP Basic client credentials (RFC 6749 §2.3.1: each part form-encoded first).
fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unform = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((unform(id)?, unform(secret)?))
}

pub async fn handle(platform: &Platform, req: Request<Incoming>) -> Response<Body> {
    let from_header = basic(req.headers());
    let Some(form) = read_form(req).await else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body is not a small form",
        );
    };
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let (id, secret) = match &from_header {
        Some((id, secret)) => (id.as_str(), secret.as_str()),
        None => (field("client_id"), field("client_secret")),
    };
    if !platform.authenticates(id, secret) {
        let mut resp = oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client_id or wrong client_secret",
        );
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
        return resp;
    }
    let grants = &platform.grants;
    let outcome = match field("grant_type") {
        "client_credentials" => Ok(grants.app_token()),
        "authorization_code" => grants.exchange(field("code"), field("redirect_uri"), field("code_verifier")),
        "refresh_token" => grants.refresh(field("refresh_token")),
        "" => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is missing",
            );
        }
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "use client_credentials, authorization_code or refresh_token",
            );
        }
    };
    match outcome {
        Ok(issued) => {
            tracing::debug!(grant = field("grant_type"), "demo platform: token issued");
            json(StatusCode::OK, answer(&issued))
        }
        Err(refused) => {
            let what = if field("grant_type") == "refresh_token" {
                "the refresh token"
            } else {
                "the authorization code"
            };
            let description = format!("{what} is {}", refused.description());
            tracing::info!(grant = field("grant_type"), reason = %description, "demo platform: grant refused");
            oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", &description)
        }
    }
}

fn answer(issued: &Issued) -> serde_json::Value {
    let mut body = json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": issued.scope,
    });
    if let Some(rt) = &issued.refresh_token {
        body["refresh_token"] = json!(rt);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let mut headers = HeaderMap::new();
        let encoded = STANDARD.encode("my%20client:s%3Acret");
        headers.insert(header::AUTHORIZATION, format!("Basic {encoded}").parse().unwrap());
        assert_eq!(basic(&headers), Some(("my client".into(), "s:cret".into())));
        headers.insert(header::AUTHORIZATION, "Bearer x".parse().unwrap());
        assert_eq!(basic(&headers), None);
    }
}
