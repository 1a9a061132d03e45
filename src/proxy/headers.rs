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
    remove_hop_by_hop(headers, Seen::of(headers), keep_upgrade);
}

/// `strip_hop_by_hop` for a message whose names were already looked at: only the fixed
/// names `seen` found are looked up again to be removed (most requests carry none, most
/// answers only `Connection: keep-alive`).
pub fn remove_hop_by_hop(headers: &mut HeaderMap, seen: Seen, keep_upgrade: bool) {
    let mut present = seen.0 & HOP_BY_HOP_BITS;
    if !keep_upgrade {
        present |= seen.0 & UPGRADE_BIT;
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

/// Which of the names the phases ask about a message carries, found in one pass over its
/// names before any phase looks (nginx keeps the same kind of summary, `headers_in`). A
/// `HeaderMap` lookup hashes and probes whether or not the name is there, and most messages
/// carry none of these: the phases skip the lookups `Seen` rules out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen(u32);

/// Bit `i` is `HOP_BY_HOP[i]` (8 names; a `const` array's `len` would need its destructor
/// evaluated at compile time); the rest follow.
const HOP_BY_HOP_BITS: u32 = (1 << 8) - 1;
const UPGRADE_BIT: u32 = 1 << 8;
const ORIGIN_BIT: u32 = 1 << 9;
const SEC_FETCH_SITE_BIT: u32 = 1 << 10;
const TOKEN_USER_BIT: u32 = 1 << 11;
const CORS_BIT: u32 = 1 << 12;
const RATE_LIMIT_BIT: u32 = 1 << 13;
#[cfg(test)]
const TRANSFER_ENCODING_BIT: u32 = 1 << 7;

impl Seen {
    pub fn of(headers: &HeaderMap) -> Seen {
        Seen(headers.keys().fold(0, |bits, name| bits | bit(name.as_str())))
    }

    /// `Upgrade`, which a protocol switch needs (with `Connection: upgrade`).
    pub fn upgrade(self) -> bool {
        self.0 & UPGRADE_BIT != 0
    }

    /// `Origin` or `Sec-Fetch-Site`: a browser may have sent it.
    pub fn browser(self) -> bool {
        self.0 & (ORIGIN_BIT | SEC_FETCH_SITE_BIT) != 0
    }

    /// `x-token-user`, which is never forwarded.
    pub fn token_user(self) -> bool {
        self.0 & TOKEN_USER_BIT != 0
    }

    /// An `Access-Control-*` field, which an answer never passes on.
    pub fn cors(self) -> bool {
        self.0 & CORS_BIT != 0
    }

    /// `Ratelimit-Remaining` or `Ratelimit-Reset`, published as gauges.
    pub fn rate_limit(self) -> bool {
        self.0 & RATE_LIMIT_BIT != 0
    }
}

/// A name's bit. Names are lowercase; a `match` on the text compares lengths first, so most
/// names cost one or two short comparisons.
fn bit(name: &str) -> u32 {
    match name {
        "connection" => 1,
        "proxy-connection" => 1 << 1,
        "keep-alive" => 1 << 2,
        "proxy-authenticate" => 1 << 3,
        "proxy-authorization" => 1 << 4,
        "te" => 1 << 5,
        "trailer" => 1 << 6,
        "transfer-encoding" => 1 << 7,
        "upgrade" => UPGRADE_BIT,
        "origin" => ORIGIN_BIT,
        "sec-fetch-site" => SEC_FETCH_SITE_BIT,
        "x-token-user" => TOKEN_USER_BIT,
        "ratelimit-remaining" | "ratelimit-reset" => RATE_LIMIT_BIT,
        n if n.starts_with("access-control-") => CORS_BIT,
        _ => 0,
    }
}

/// What the `h1` engine does with an upstream answer's field, from its name as it came
/// off the wire (any case): the same rules as `remove_hop_by_hop` and the CORS strip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerField {
    Pass,
    /// Hop-by-hop, `Upgrade`, or `Access-Control-*`.
    Drop,
    /// Dropped, after its value was read.
    Connection,
    TransferEncoding,
    /// Passed on unless a transfer coding frames the body.
    ContentLength,
    /// Passed on, and published as a gauge.
    RateLimit {
        reset: bool,
    },
}

/// Told by length first, as `bit` is: most names are none of these and cost one compare.
/// (A test checks this against `bit`, which hyper's path uses.)
pub fn answer_field(name: &[u8]) -> AnswerField {
    use AnswerField::*;
    let is = |known: &[u8]| name.eq_ignore_ascii_case(known);
    match name.len() {
        2 if is(b"te") => Drop,
        7 if is(b"trailer") || is(b"upgrade") => Drop,
        10 if is(b"connection") => Connection,
        10 if is(b"keep-alive") => Drop,
        14 if is(b"content-length") => ContentLength,
        15 if is(b"ratelimit-reset") => RateLimit { reset: true },
        16 if is(b"proxy-connection") => Drop,
        17 if is(b"transfer-encoding") => TransferEncoding,
        18 if is(b"proxy-authenticate") => Drop,
        19 if is(b"proxy-authorization") => Drop,
        19 if is(b"ratelimit-remaining") => RateLimit { reset: false },
        n if n > 15 && name[..15].eq_ignore_ascii_case(b"access-control-") => Drop,
        _ => Pass,
    }
}

/// The names a `Connection` value lists for removal (not `keep-alive` or `close`, which
/// name no field), as the engine reads them off the wire.
pub fn listed_names(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|b| *b == b',').map(<[u8]>::trim_ascii).filter(|t| {
        !t.is_empty() && !t.eq_ignore_ascii_case(b"keep-alive") && !t.eq_ignore_ascii_case(b"close")
    })
}

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
pub fn is_upgrade(headers: &HeaderMap, seen: Seen) -> bool {
    seen.upgrade()
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
    fn one_pass_finds_each_name_the_phases_ask_about() {
        let seen = |name: &HeaderName| {
            let mut h = map(&[("accept", "*/*")]);
            h.append(name.clone(), HeaderValue::from_static("x"));
            Seen::of(&h)
        };
        for (i, name) in HOP_BY_HOP.iter().enumerate() {
            assert_eq!(seen(name), Seen(1 << i), "{name}");
        }
        assert!(seen(&header::UPGRADE).upgrade());
        assert!(seen(&header::ORIGIN).browser());
        // Names are lowercased when parsed, so a shouted one is seen too.
        assert!(seen(&HeaderName::from_bytes(b"Sec-Fetch-SITE").unwrap()).browser());
        assert!(seen(&HeaderName::from_bytes(b"X-Token-User").unwrap()).token_user());
        assert!(seen(&HeaderName::from_static("sec-fetch-site")).browser());
        assert!(seen(&crate::proxy::TOKEN_USER).token_user());
        assert!(seen(&header::ACCESS_CONTROL_ALLOW_ORIGIN).cors());
        assert!(seen(&HeaderName::from_static("access-control-max-age")).cors());
        for name in crate::proxy::route::RATE_LIMIT_NAMES {
            assert!(seen(&name).rate_limit(), "{name}");
        }
        let plain = map(&[("accept", "*/*"), ("host", "localhost"), ("x-request-id", "1")]);
        assert_eq!(Seen::of(&plain), Seen::default());
    }

    #[test]
    fn an_answer_field_is_told_in_any_case_as_the_map_rules_tell_it() {
        use AnswerField::*;
        for (name, field) in [
            (&b"Content-Type"[..], Pass),
            (b"Content-Length", ContentLength),
            (b"Connection", Connection),
            (b"Transfer-Encoding", TransferEncoding),
            (b"Keep-Alive", Drop),
            (b"Upgrade", Drop),
            (b"Proxy-Authenticate", Drop),
            (b"Access-Control-Allow-Origin", Drop),
            (b"access-control-allow-credentials-and-then-some-more", Drop),
            (b"RateLimit-Remaining", RateLimit { reset: false }),
            (b"Ratelimit-Reset", RateLimit { reset: true }),
            (b"X-A-Very-Long-Field-Name-That-Means-Nothing-Here", Pass),
        ] {
            assert_eq!(answer_field(name), field, "{}", String::from_utf8_lossy(name));
        }
        // The same verdict as the map rules' `bit`, for every name those know, in any case.
        let hop_by_hop = HOP_BY_HOP;
        let known = hop_by_hop
            .iter()
            .map(HeaderName::as_str)
            .chain([
                "upgrade",
                "origin",
                "sec-fetch-site",
                "x-token-user",
                "content-length",
            ])
            .chain([
                "ratelimit-remaining",
                "ratelimit-reset",
                "access-control-max-age",
                "date",
            ]);
        for name in known {
            let expected = match bit(name) {
                0 | ORIGIN_BIT | SEC_FETCH_SITE_BIT | TOKEN_USER_BIT if name == "content-length" => {
                    ContentLength
                }
                0 | ORIGIN_BIT | SEC_FETCH_SITE_BIT | TOKEN_USER_BIT => Pass,
                1 => Connection,
                TRANSFER_ENCODING_BIT => TransferEncoding,
                RATE_LIMIT_BIT => RateLimit {
                    reset: name.ends_with("reset"),
                },
                _ => Drop,
            };
            assert_eq!(answer_field(name.as_bytes()), expected, "{name}");
            assert_eq!(answer_field(name.to_uppercase().as_bytes()), expected, "{name}");
        }
        let listed: Vec<_> = listed_names(b"keep-alive, X-Secret ,close,,x-other").collect();
        assert_eq!(listed, [&b"X-Secret"[..], b"x-other"]);
    }

    #[test]
    fn keeps_upgrade_for_a_websocket_handshake() {
        let mut h = map(&[("connection", "upgrade"), ("upgrade", "websocket")]);
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h.get("upgrade").unwrap(), "websocket");
    }
}
