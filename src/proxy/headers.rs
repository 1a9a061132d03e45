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
    // One pass over the message's few names finds which fixed ones are present (most
    // requests carry none; most answers only `Connection: keep-alive`), so only those are
    // looked up again to be removed.
    let mut present = 0u16;
    for name in headers.keys() {
        if let Some(i) = HOP_BY_HOP.iter().position(|h| h == name) {
            present |= 1 << i;
        } else if !keep_upgrade && name == header::UPGRADE {
            present |= UPGRADE_BIT;
        }
    }
    if present == 0 {
        return;
    }
    // `Connection` is HOP_BY_HOP[0]; what it names is parsed once.
    let named = if present & 1 == 0 {
        Vec::new()
    } else {
        connection_names(headers, keep_upgrade)
    };
    for (i, name) in HOP_BY_HOP.iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(name);
        }
    }
    if present & UPGRADE_BIT != 0 {
        headers.remove(header::UPGRADE);
    }
    for name in named {
        headers.remove(name);
    }
}

/// `Upgrade`'s bit, after the fixed names' (a `const` array's `len` would need a destructor
/// evaluated at compile time).
const UPGRADE_BIT: u16 = 1 << 8;

/// The field names `Connection` lists, but `keep-alive` (a fixed hop-by-hop name already,
/// and the usual value: no name to parse) and, when kept, `upgrade`.
fn connection_names(headers: &HeaderMap, keep_upgrade: bool) -> Vec<HeaderName> {
    let values = headers.get_all(header::CONNECTION);
    let mut each = values.iter();
    if let (Some(only), None) = (each.next(), each.next()) {
        if only.as_bytes().eq_ignore_ascii_case(b"keep-alive") {
            return Vec::new();
        }
    }
    values
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("keep-alive"))
        .filter(|t| !(keep_upgrade && t.eq_ignore_ascii_case("upgrade")))
        .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
        .collect()
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
    fn an_answer_with_only_connection_keep_alive_loses_just_that() {
        let mut h = map(&[
            ("server", "nginx"),
            ("connection", "Keep-Alive"),
            ("content-length", "2"),
        ]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 2);
        assert!(!h.contains_key("connection"));
    }

    #[test]
    fn keeps_upgrade_for_a_websocket_handshake() {
        let mut h = map(&[("connection", "upgrade"), ("upgrade", "websocket")]);
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h.get("upgrade").unwrap(), "websocket");
    }
}
