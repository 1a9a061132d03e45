//! What a reverse proxy must never serve, whatever the routes: CONNECT and absolute-form
//! targets (checked first of all), paths that climb out of their route; then the route.

use std::borrow::Cow;
use std::sync::Arc;

use http::{Method, Request, Version};
use percent_encoding::percent_decode_str;

use super::route::Route;
use crate::error::ProxyError;
use crate::snapshot::Snapshot;

/// The forward-proxy forms a reverse proxy never serves, refused first, before the host
/// policy: such a request names another host in its `Host` (`curl -x`, a client configured
/// with this as its proxy), and it is a 400 for its form, whatever that host.
pub fn reverse_proxy_form<B>(req: &Request<B>) -> Result<(), ProxyError> {
    if req.method() == Method::CONNECT {
        return Err(ProxyError::BadRequest(
            "CONNECT is not served: this is a reverse proxy",
        ));
    }
    // HTTP/2 always carries scheme and authority pseudo-headers; only HTTP/1 can send an
    // absolute-form target.
    let absolute = req.uri().scheme().is_some() || req.uri().authority().is_some();
    if absolute && req.version() < Version::HTTP_2 {
        return Err(ProxyError::BadRequest(
            "absolute-form request targets are not served: send the path only",
        ));
    }
    Ok(())
}

/// The route for a request in origin form (see `reverse_proxy_form`).
pub fn select<B>(snapshot: &Snapshot, req: &Request<B>) -> Result<Arc<Route>, ProxyError> {
    let path = req.uri().path();
    if !path.starts_with('/') {
        return Err(ProxyError::BadRequest("the request target must be a path"));
    }
    if escapes(path) {
        return Err(ProxyError::BadRequest(
            "the path may not contain `..` segments or NUL bytes",
        ));
    }
    snapshot
        .router
        .find(path)
        .map(|(r, _)| Arc::clone(r))
        .ok_or(ProxyError::NoRoute)
}

/// Whether `path` could leave its route: a `..` segment in plain or percent-encoded form
/// (also encoded more than once, with `\` as a separator, or with `;params` after it, which
/// servlet containers strip: `..;` is `..` to them), or a NUL byte, at which some servers
/// cut the path.
pub fn escapes(path: &str) -> bool {
    // Without a dot, a percent sign or a NUL there is nothing to find: one pass, the common case.
    if !path.bytes().any(|b| matches!(b, b'.' | b'%' | 0)) {
        return false;
    }
    let mut text = Cow::Borrowed(path);
    for _ in 0..4 {
        let dot_dot = text
            .split(['/', '\\'])
            .any(|seg| seg.split(';').next() == Some(".."));
        if dot_dot || text.contains('\0') {
            return true;
        }
        // Nothing left to decode: the common case, answered without allocating.
        if !text.contains('%') {
            return false;
        }
        let decoded = percent_decode_str(&text).decode_utf8_lossy().into_owned();
        if decoded == text {
            return false;
        }
        text = Cow::Owned(decoded);
    }
    // Encoded four layers deep: nobody legitimate does that.
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_dot_dot_escapes_however_encoded() {
        for p in [
            "/twitch/../admin",
            "/twitch/%2e%2e/admin",
            "/twitch/%2E./x",
            "/twitch/.%2e",
            "/twitch/%252e%252e/x",
            "/twitch/..%5cx",
            "/twitch/..",
            "/twitch\\..\\x",
            "/twitch/%2e%2e%2fx",
            "/twitch/..;/admin",
            "/twitch/..;jsessionid=1/x",
            "/twitch/%2e%2e;/admin",
            "/twitch/%2e%2e%3b/admin",
            "/twitch/..%00/x",
            "/twitch/a%00b",
            "/twitch/%2500",
        ] {
            assert!(escapes(p), "{p}");
        }
        for p in [
            "/twitch/users",
            "/twitch/a..b",
            "/twitch/...",
            "/twitch/%41",
            "/twitch/.",
            "/twitch/a;b",
            "/twitch/...;x",
        ] {
            assert!(!escapes(p), "{p}");
        }
    }
}
