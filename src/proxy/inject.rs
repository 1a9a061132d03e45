//! The inject phase: what the client sent for headers the proxy sets is dropped with the
//! hop-by-hop fields, then the upstream's `Host`, the route's static headers and the token go on.

use http::{header, HeaderMap, HeaderValue};

use super::headers::{remove_hop_by_hop, Seen};
use super::route::Route;
use super::token::TOKEN_USER;

/// Everything but the token, which a replay replaces. `seen`: the client's names.
pub fn prepare(headers: &mut HeaderMap, route: &Route, seen: Seen, upgrading: bool) {
    remove_hop_by_hop(headers, seen, upgrading);
    if upgrading {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
    // The route's headers and the token are inserted below, which replaces every value the
    // client sent for them: nothing to strip first.
    if seen.token_user() {
        headers.remove(&TOKEN_USER);
    }
    headers.insert(header::HOST, route.host.clone());
    for (name, value) in &route.headers {
        headers.insert(name.clone(), value.clone());
    }
}

pub fn token(headers: &mut HeaderMap, authorization: &HeaderValue) {
    headers.insert(header::AUTHORIZATION, authorization.clone());
}
