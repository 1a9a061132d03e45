//! The proxy's own answers: one error enum, one exhaustive mapping to status codes, one
//! builder for the JSON bodies. Messages are written for the client; causes stay in
//! `#[source]` for the log and never reach a body.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use serde_json::{json, Map, Value};

use crate::oauth::TokenError;
use crate::proxy::body::{BodyTimeout, BodyTooLarge, ClientBodyError, ReadError};

impl From<ReadError> for ProxyError {
    /// A client body that could not be read before it was sent.
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Timeout(_) => ProxyError::RequestTimeout,
            ReadError::Client(_) => ProxyError::BadRequest("the request body could not be read"),
        }
    }
}

fn caused_by<E: std::error::Error + 'static>(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if err.is::<E>() {
            return true;
        }
        next = err.source();
    }
    false
}

/// Why no token could be given: what the 503 `token_unavailable` body says.
#[derive(Debug, thiserror::Error)]
#[error("no usable token for {provider}/{subject}")]
pub struct Unavailable {
    pub provider: String,
    pub subject: String,
    /// Where a person can log the user in, for user tokens.
    pub login_url: Option<String>,
    /// What keeps the token from serving, as every surface names it: `needs_login`,
    /// `not_connected`, `error`, `refreshing`.
    pub status: &'static str,
    /// Why the last attempt failed (the text of the log line and `/admin/tokens`).
    pub reason: Option<String>,
    /// RFC 3339: when the next attempt is due, if one will be made.
    pub retry_at: Option<String>,
    #[source]
    pub cause: Option<TokenError>,
}

impl Unavailable {
    /// What a person reads: the state, why, and what to do.
    fn message(&self) -> String {
        let Unavailable {
            provider,
            subject,
            status,
            reason,
            retry_at,
            ..
        } = self;
        let because = reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
        match *status {
            "needs_login" => format!(
                "the token of {provider}/{subject} needs_login{because}; log the user in again at login_url"
            ),
            "not_connected" => format!(
                "{provider}/{subject} is not_connected: no one has logged this user in; log in at login_url"
            ),
            _ => {
                let next = retry_at
                    .as_deref()
                    .map(|at| format!("; next attempt at {at}"))
                    .unwrap_or_default();
                format!("no usable token for {provider}/{subject}{because}{next}")
            }
        }
    }

    fn fields(&self) -> Map<String, Value> {
        let mut extra = Map::new();
        extra.insert("provider".into(), json!(self.provider));
        extra.insert("subject".into(), json!(self.subject));
        extra.insert("status".into(), json!(self.status));
        for (key, value) in [
            ("reason", &self.reason),
            ("retry_at", &self.retry_at),
            ("login_url", &self.login_url),
        ] {
            if let Some(v) = value {
                extra.insert(key.into(), json!(v));
            }
        }
        extra
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("no route matches this path")]
    NoRoute,
    #[error("{0}")]
    BadRequest(&'static str),
    #[error(transparent)]
    TokenUnavailable(Box<Unavailable>),
    #[error("the upstream could not be reached")]
    UpstreamUnavailable {
        /// `connect` when no connection was made, `reset` when one failed mid-request.
        reason: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the upstream did not answer in time")]
    UpstreamTimeout,
    #[error("the request body is larger than this route accepts")]
    PayloadTooLarge,
    #[error("too many requests are in flight; try again shortly")]
    Overloaded,
    #[error("this Host is not served here: add it to server.allowed_hosts if it should be")]
    HostNotAllowed,
    #[error("requests from this web page's origin are not served: list it in server.allowed_origins if it should be")]
    CrossOrigin,
    #[error("the request body did not arrive within the request timeout")]
    RequestTimeout,
}

impl ProxyError {
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::NoRoute => StatusCode::NOT_FOUND,
            ProxyError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ProxyError::TokenUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::UpstreamUnavailable { .. } => StatusCode::BAD_GATEWAY,
            ProxyError::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::HostNotAllowed | ProxyError::CrossOrigin => StatusCode::FORBIDDEN,
            ProxyError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ProxyError::NoRoute => "no_route",
            ProxyError::BadRequest(_) => "bad_request",
            ProxyError::TokenUnavailable(_) => "token_unavailable",
            ProxyError::UpstreamUnavailable { .. } => "upstream_unavailable",
            ProxyError::UpstreamTimeout => "upstream_timeout",
            ProxyError::PayloadTooLarge => "payload_too_large",
            ProxyError::Overloaded => "overloaded",
            ProxyError::HostNotAllowed => "host_not_allowed",
            ProxyError::CrossOrigin => "cross_origin",
            ProxyError::RequestTimeout => "request_timeout",
        }
    }

    /// Classifies a failed upstream call: the client's body (too large, too slow, malformed
    /// or cut off: the client's doing, not the upstream's), a connection never made, or one
    /// that broke.
    pub fn upstream(e: crate::proxy::upstream::UpstreamError) -> Self {
        if matches!(e, crate::proxy::upstream::UpstreamError::Timeout) {
            return ProxyError::UpstreamTimeout;
        }
        if caused_by::<BodyTooLarge>(&e) {
            return ProxyError::PayloadTooLarge;
        }
        if caused_by::<BodyTimeout>(&e) {
            return ProxyError::RequestTimeout;
        }
        if caused_by::<ClientBodyError>(&e) {
            return ProxyError::BadRequest("the request body could not be read");
        }
        let reason = if e.is_connect() { "connect" } else { "reset" };
        ProxyError::UpstreamUnavailable {
            reason,
            source: Box::new(e),
        }
    }

    /// The `reason` label of `token_sidecar_upstream_errors_total`, where this is one.
    pub fn upstream_reason(&self) -> Option<&'static str> {
        match self {
            ProxyError::UpstreamUnavailable { reason, .. } => Some(reason),
            ProxyError::UpstreamTimeout => Some("timeout"),
            _ => None,
        }
    }

    fn fields(&self) -> Map<String, Value> {
        match self {
            ProxyError::TokenUnavailable(u) => u.fields(),
            _ => Map::new(),
        }
    }

    fn message(&self) -> String {
        match self {
            ProxyError::TokenUnavailable(u) => u.message(),
            other => other.to_string(),
        }
    }

    pub fn into_response<B: From<Bytes>>(self) -> Response<B> {
        json_error(self.status(), self.code(), &self.message(), self.fields())
    }
}

/// Builds `{"error": CODE, "message": TEXT, ...extra}` with `status`.
pub fn json_error<B: From<Bytes>>(
    status: StatusCode,
    code: &str,
    message: &str,
    extra: Map<String, Value>,
) -> Response<B> {
    let mut body = Map::new();
    body.insert("error".into(), json!(code));
    body.insert("message".into(), json!(message));
    body.extend(extra);
    let bytes = serde_json::to_vec(&Value::Object(body)).unwrap_or_default();
    let mut resp = Response::new(B::from(Bytes::from(bytes)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}
