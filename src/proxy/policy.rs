//! Host and origin policy, the phase after admission: a request named for a host we do not
//! answer, or sent by a web page we were not told to serve, is refused before it is routed.
//! A listed origin's CORS preflight is answered here, and never forwarded with a token.

use http::{header, HeaderValue, Method, Request, Response, StatusCode};

use super::headers::Seen;
use super::response::ResponseBody;
use crate::error::ProxyError;
use crate::policy::OriginVerdict;
use crate::snapshot::Snapshot;

/// How long a browser may cache a preflight's answer.
const PREFLIGHT_MAX_AGE: HeaderValue = HeaderValue::from_static("600");

/// `seen`: the request's names. Without `Origin` or `Sec-Fetch-Site` (an app, a script, a
/// shell) there is no browser to ask about.
pub fn check<B>(snapshot: &Snapshot, req: &Request<B>, seen: Seen) -> Result<OriginVerdict, ProxyError> {
    if !snapshot.hosts.allows(req) {
        return Err(ProxyError::HostNotAllowed);
    }
    if !seen.browser() {
        return Ok(OriginVerdict::Local);
    }
    match snapshot.origins.check(req.headers()) {
        OriginVerdict::Refused => Err(ProxyError::CrossOrigin),
        verdict => Ok(verdict),
    }
}

/// The answer to a listed origin's preflight (`OPTIONS` with `Access-Control-Request-Method`).
pub fn preflight<B>(verdict: &OriginVerdict, req: &Request<B>) -> Option<Response<ResponseBody>> {
    if !matches!(verdict, OriginVerdict::Listed(_)) {
        return None;
    }
    let asked = req.headers();
    let method = asked.get(header::ACCESS_CONTROL_REQUEST_METHOD);
    if req.method() != Method::OPTIONS || method.is_none() {
        return None;
    }
    let mut resp = Response::new(ResponseBody::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    // `Access-Control-Allow-Origin` and `Vary` come from `allow_origin`, as on every answer.
    let h = resp.headers_mut();
    if let Some(method) = method {
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, method.clone());
    }
    if let Some(names) = asked.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, names.clone());
    }
    h.insert(header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE);
    Some(resp)
}

/// The upstream's `Access-Control-*` never reach the client: an upstream's `*` would hand
/// token-bearing answers to any site. (The respond phase calls this only when `Seen` found
/// such a name, so the common answer costs nothing here.)
pub fn strip_upstream_cors(headers: &mut http::HeaderMap) {
    let names: Vec<_> = headers.keys().filter(|n| is_cors(n)).cloned().collect();
    for name in names {
        headers.remove(name);
    }
}

/// The respond phase's part of the policy: a listed origin may read every answer.
pub fn allow_origin(verdict: &OriginVerdict, headers: &mut http::HeaderMap) {
    if let OriginVerdict::Listed(origin) = verdict {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        headers.append(header::VARY, HeaderValue::from_static("origin"));
    }
}

fn is_cors(name: &header::HeaderName) -> bool {
    name.as_str().starts_with("access-control-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_cors_headers_never_pass() {
        let mut h = http::HeaderMap::new();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        strip_upstream_cors(&mut h);
        assert_eq!(h.len(), 1);
        allow_origin(
            &OriginVerdict::Listed(HeaderValue::from_static("http://localhost:3000")),
            &mut h,
        );
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://localhost:3000");
    }
}
