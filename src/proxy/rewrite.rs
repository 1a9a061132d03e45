//! The rewrite phase: the request target moves from our prefix onto the upstream's path,
//! and the request is addressed to the upstream.

use http::request::Parts;
use http::{Uri, Version};

use super::route::{match_prefix, rewrite, Route};
use crate::error::ProxyError;

pub fn to_upstream(parts: &mut Parts, route: &Route) -> Result<(), ProxyError> {
    let bad = |_| ProxyError::BadRequest("the request target cannot be rewritten");
    let rest = match_prefix(&route.prefix, parts.uri.path()).unwrap_or("");
    let target = rewrite(&route.base_path, rest, parts.uri.query()).map_err(bad)?;
    let mut uri = http::uri::Parts::default();
    uri.scheme = Some(route.scheme.clone());
    uri.authority = Some(route.authority.clone());
    uri.path_and_query = Some(target);
    parts.uri =
        Uri::from_parts(uri).map_err(|_| ProxyError::BadRequest("the request target cannot be rewritten"))?;
    // The upstream connection decides the version (HTTP/2 when ALPN agrees).
    parts.version = Version::HTTP_11;
    Ok(())
}
