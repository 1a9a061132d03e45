//! Routing: the longest prefix that matches at a segment boundary, and the rewrite of the
//! path onto the upstream's. Everything per route is computed once when the snapshot is
//! built: the upstream's parts, `Host`, the static injected headers, metric handles.

use std::sync::Arc;
use std::time::Duration;

use http::uri::PathAndQuery;
use http::{HeaderName, HeaderValue};

pub use super::route_metrics::{RequestCounts, RouteMetrics, RATE_LIMIT_NAMES};
pub use super::target::escapes;
use super::upstream::Upstream;
use crate::config::TokenSpec;
use crate::oauth::Provider;

pub struct Route {
    pub prefix: String,
    pub provider: Arc<Provider>,
    pub token: TokenSpec,
    pub host: HeaderValue,
    /// The upstream URL's path without a trailing slash ("" for the root).
    pub base_path: String,
    /// Set on every forwarded request besides `authorization`.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub timeout: Duration,
    pub max_body_bytes: Option<u64>,
    pub upstream: Arc<Upstream>,
    pub metrics: RouteMetrics,
}

pub struct Router {
    /// Longest prefix first.
    routes: Vec<Arc<Route>>,
}

impl Router {
    pub fn new(mut routes: Vec<Arc<Route>>) -> Self {
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        Router { routes }
    }

    /// The route for `path` and the rest of the path after its prefix.
    pub fn find<'p>(&self, path: &'p str) -> Option<(&Arc<Route>, &'p str)> {
        self.routes
            .iter()
            .find_map(|r| match_prefix(&r.prefix, path).map(|rest| (r, rest)))
    }

    pub fn routes(&self) -> &[Arc<Route>] {
        &self.routes
    }
}

/// The rest of `path` when `prefix` matches it at a segment boundary: `/twitch` matches
/// `/twitch` and `/twitch/users`, not `/twitchy`.
pub fn match_prefix<'p>(prefix: &str, path: &'p str) -> Option<&'p str> {
    if prefix == "/" {
        return Some(path);
    }
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// The upstream request target: the base path, then the rest, then the query.
pub fn rewrite(base_path: &str, rest: &str, query: Option<&str>) -> Result<PathAndQuery, http::Error> {
    let pieces = target_pieces(base_path, rest, query);
    // The exact length: a `String` whose capacity is its length becomes the target's bytes
    // without a second allocation.
    let mut target = String::with_capacity(pieces.iter().map(|p| p.len()).sum());
    for piece in pieces {
        target.push_str(piece);
    }
    Ok(PathAndQuery::try_from(target)?)
}

/// The upstream request target in pieces, in order (the `h1` engine writes them into the
/// request line as they are): the base path, the rest (`/` when both are empty), then `?`
/// and the query when there is one.
pub fn target_pieces<'a>(base_path: &'a str, rest: &'a str, query: Option<&'a str>) -> [&'a str; 4] {
    let rest = if base_path.is_empty() && rest.is_empty() {
        "/"
    } else {
        rest
    };
    match query {
        Some(query) => [base_path, rest, "?", query],
        None => [base_path, rest, "", ""],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_on_segment_boundaries() {
        assert_eq!(match_prefix("/twitch", "/twitch"), Some(""));
        assert_eq!(match_prefix("/twitch", "/twitch/users"), Some("/users"));
        assert_eq!(match_prefix("/twitch", "/twitch/"), Some("/"));
        assert_eq!(match_prefix("/twitch", "/twitchy"), None);
        assert_eq!(match_prefix("/twitch", "/twitc"), None);
        assert_eq!(match_prefix("/", "/anything"), Some("/anything"));
        assert_eq!(match_prefix("/a/b", "/a/b/c"), Some("/c"));
        assert_eq!(match_prefix("/a/b", "/a/bc"), None);
    }

    #[test]
    fn rewrites_onto_the_upstream_path() {
        assert_eq!(
            rewrite("/helix", "/users", Some("id=1")).unwrap(),
            "/helix/users?id=1"
        );
        assert_eq!(rewrite("/helix", "", None).unwrap(), "/helix");
        assert_eq!(rewrite("", "", None).unwrap(), "/");
        assert_eq!(rewrite("", "/v1/x", Some("")).unwrap(), "/v1/x?");
    }
}
