//! Header hygiene as small pure functions: what never crosses a proxy (RFC 9110 §7.6.1 and
//! whatever `Connection` names).

use http::header::{self, HeaderMap, HeaderName};

/// The connection-specific fields of RFC 9110 §7.6.1, plus `proxy-authorization` (meant
/// for us, not the upstream) and the de-facto `proxy-connection` and `keep-alive`.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("proxy-connection"),
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Removes hop-by-hop fields and every field that `Connection` names. `Upgrade` is kept only
/// when `keep_upgrade` (a WebSocket handshake being passed through).
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // Most messages carry none: one pass over their few names instead of nine lookups. Only
    // `Connection` can name more, and it is one of them.
    let hop = |n: &HeaderName| HOP_BY_HOP.contains(n) || *n == header::UPGRADE;
    if !headers.keys().any(hop) {
        return;
    }
    // Then only the names present are removed (an upstream's `Connection: keep-alive`
    // is one name, not nine lookups and a parsed header name).
    let connection = headers.get_all(header::CONNECTION);
    let named = |n: &HeaderName| {
        connection
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case(n.as_str()))
    };
    let gone: Vec<HeaderName> = headers
        .keys()
        .filter(|n| {
            let upgrade = *n == header::UPGRADE;
            HOP_BY_HOP.contains(n) || (upgrade && !keep_upgrade) || (!upgrade && named(n))
        })
        .cloned()
        .collect();
    for name in gone {
        headers.remove(name);
    }
}

/// Whether the request asks to switch protocols (`Connection: upgrade` with `Upgrade`).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn removes_the_standard_hop_by_hop_fields() {
        let mut h = map(&[
            ("connection", "keep-alive"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("proxy-authorization", "Basic x"),
            ("upgrade", "h2c"),
            ("accept", "application/json"),
        ]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("accept"));
    }

    #[test]
    fn removes_what_connection_names() {
        let mut h = map(&[
            ("connection", "x-secret, X-Other"),
            ("x-secret", "1"),
            ("x-other", "2"),
            ("x-kept", "3"),
        ]);
        strip_hop_by_hop(&mut h, false);
        assert!(!h.contains_key("x-secret") && !h.contains_key("x-other"));
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn keeps_upgrade_for_a_websocket_handshake() {
        let mut h = map(&[("connection", "upgrade"), ("upgrade", "websocket")]);
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h.get("upgrade").unwrap(), "websocket");
    }
}
