//! `/api/...`: the demo platform's API. It answers only a request that carries a valid access
//! token, and says whose token it was, so a caller sees which token the proxy injected.

use std::time::Instant;

use http::{header, HeaderValue, Request, Response, StatusCode};
use serde_json::json;

use super::grants::Holder;
use super::platform::{json, Body, Platform, PERSON};

pub fn handle<B>(platform: &Platform, req: &Request<B>) -> Response<Body> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some(access) = token.and_then(|t| platform.grants.check(t)) else {
        let mut resp = json(
            StatusCode::UNAUTHORIZED,
            json!({
                "error": "invalid_token",
                "message": "this API needs Authorization: Bearer <a valid, unexpired access token>",
            }),
        );
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        return resp;
    };
    let caller = match access.holder {
        Holder::App => json!({"kind": "app", "name": "token-sidecar demo"}),
        Holder::Person => json!({"kind": "user", "name": PERSON, "scope": access.scope}),
    };
    json(
        StatusCode::OK,
        json!({
            "message": "hello from the demo platform",
            "path": req.uri().path(),
            "token_of": caller,
            "token_expires_in": access.expires.saturating_duration_since(Instant::now()).as_secs(),
        }),
    )
}
