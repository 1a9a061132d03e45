//! The demo platform's front door: who it is (one registered client), which path goes where,
//! and the few kinds of answer it gives.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use sha2::{Digest, Sha256};

use super::grants::Grants;
use super::{api, approval, token_endpoint};
use crate::secret::ClientSecret;

pub type Body = Full<Bytes>;

/// The one application registered at the demo platform: the proxy.
pub const CLIENT_ID: &str = "token-sidecar-demo";
/// The platform's one account, who approves logins.
pub const PERSON: &str = "demo-viewer";
/// Forms and token requests are small; anything larger is refused.
const MAX_FORM_BYTES: usize = 16 * 1024;

pub struct Platform {
    client_secret: ClientSecret,
    /// Where the platform may send the browser back: the proxy's callback, known once the
    /// proxy's admin listener is bound.
    redirect_uri: OnceLock<String>,
    pub grants: Grants,
    pub token_lifetime: Duration,
}

impl Platform {
    pub fn new(client_secret: ClientSecret, token_lifetime: Duration) -> Platform {
        Platform {
            client_secret,
            redirect_uri: OnceLock::new(),
            grants: Grants::new(token_lifetime),
            token_lifetime,
        }
    }

    /// Registers the client's redirect URI (once, as at a platform's developer console).
    pub fn register_redirect_uri(&self, uri: String) {
        let _ = self.redirect_uri.set(uri);
    }

    pub fn redirect_uri(&self) -> Option<&str> {
        self.redirect_uri.get().map(String::as_str)
    }

    /// Whether `id` and `secret` are the registered client's credentials.
    pub fn authenticates(&self, id: &str, secret: &str) -> bool {
        // Comparing digests takes the same time wherever the secrets differ.
        id == CLIENT_ID && Sha256::digest(secret) == Sha256::digest(self.client_secret.secret())
    }
}

pub async fn handle(platform: Arc<Platform>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let resp = match (req.method().clone(), path.as_str()) {
        (Method::GET, "/authorize") => approval::ask(&platform, req.uri().query()),
        (Method::POST, "/authorize") => match read_form(req).await {
            Some(form) => approval::answer(&platform, &form),
            None => json(
                StatusCode::BAD_REQUEST,
                serde_json::json!({"error": "invalid_request"}),
            ),
        },
        (Method::POST, "/token") => token_endpoint::handle(&platform, req).await,
        (_, p) if p == "/api" || p.starts_with("/api/") => api::handle(&platform, &req),
        _ => json(StatusCode::NOT_FOUND, serde_json::json!({"error": "not_found"})),
    };
    Ok(resp)
}

/// A form-encoded request body, or `None` when it is too large or unreadable.
pub async fn read_form(req: Request<Incoming>) -> Option<HashMap<String, String>> {
    let body = Limited::new(req.into_body(), MAX_FORM_BYTES)
        .collect()
        .await
        .ok()?
        .to_bytes();
    Some(url::form_urlencoded::parse(&body).into_owned().collect())
}

pub fn json(status: StatusCode, value: serde_json::Value) -> Response<Body> {
    let mut resp = Response::new(Body::from(value.to_string()));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

pub fn page(status: StatusCode, markup: maud::Markup) -> Response<Body> {
    let mut resp = Response::new(Body::from(markup.into_string()));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // An approval page inside another site's frame could be clicked through unseen. (No
    // form-action: the approval's redirect goes to the proxy, another origin.)
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
    );
    resp
}

/// A 303: the browser follows it with a GET, as a redirect after a form POST should.
pub fn see_other(location: &url::Url) -> Response<Body> {
    let mut resp = Response::new(Body::default());
    *resp.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::try_from(location.as_str()) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}
