//! The rewrite phase: the request target moves from our prefix onto the upstream's path, in
//! origin form; the upstream's `Host` is set by the inject phase, and an HTTP/2 connection
//! adds scheme and authority itself.

use http::request::Parts;
use http::{Uri, Version};

use super::route::{match_prefix, rewrite, target_pieces, Route};
use crate::error::ProxyError;

pub fn to_upstream(parts: &mut Parts, route: &Route) -> Result<(), ProxyError> {
    let bad = |_| ProxyError::BadRequest("the request target cannot be rewritten");
    let rest = match_prefix(&route.prefix, parts.uri.path()).unwrap_or("");
    let target = rewrite(&route.base_path, rest, parts.uri.query()).map_err(bad)?;
    parts.uri = Uri::from(target);
    // The upstream connection decides the version (HTTP/2 when ALPN agrees).
    parts.version = Version::HTTP_11;
    Ok(())
}

/// The same target as `to_upstream`'s, in pieces that borrow the client's target and the
/// route (the `h1` engine writes them straight into its request line: no allocation, and no
/// parse of a target whose parts were each valid already).
pub fn upstream_target<'a>(uri: &'a Uri, route: &'a Route) -> [&'a str; 4] {
    let rest = match_prefix(&route.prefix, uri.path()).unwrap_or("");
    target_pieces(&route.base_path, rest, uri.query())
}
