//! Properties of the library's pure functions (routing, header hygiene, reading token
//! answers), and one property of the running proxy: whatever request target a client sends,
//! the upstream only ever sees paths under its base path, and nothing else is connected to.

mod harness;
mod support;

use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};
use token_sidecar::oauth::{classify, parse_answer};
use token_sidecar::proxy::headers::strip_hop_by_hop;
use token_sidecar::proxy::route::{escapes, match_prefix, rewrite};

use harness::{raw, Proxy};
use support::{FakePlatform, FakeUpstream, Kind};

// ---------------------------------------------------------------------------------------
// A reference model of "has a `..` segment, however often percent-encoded", on bytes.

/// One layer of percent-decoding: `%XX` with two hex digits becomes that byte; anything
/// else (a lone `%`, `%zz`) stays as it is.
fn percent_decode(input: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' && i + 2 < input.len() {
            if let (Some(h), Some(l)) = (hex(input[i + 1]), hex(input[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

/// A `..` segment, with `/` or `\` as separators.
fn has_dot_dot(path: &[u8]) -> bool {
    path.split(|b| *b == b'/' || *b == b'\\').any(|seg| seg == b"..")
}

/// Every distinct layer of `path`: itself, then each percent-decoding until nothing changes.
fn layers(path: &str) -> Vec<Vec<u8>> {
    let mut out = vec![path.as_bytes().to_vec()];
    loop {
        let next = percent_decode(out.last().expect("one layer"));
        if &next == out.last().expect("one layer") {
            return out;
        }
        out.push(next);
    }
}

/// Whether some decoding of `path` (none, once, twice, ...) has a `..` segment.
fn escapes_at_any_depth(path: &str) -> bool {
    layers(path).iter().any(|l| has_dot_dot(l))
}

/// `path` fully decoded, with `.` segments dropped (`..` must not be present).
fn resolved(path: &str) -> String {
    let last = layers(path).pop().expect("one layer");
    let text = String::from_utf8_lossy(&last).replace('\\', "/");
    let segs: Vec<&str> = text.split('/').filter(|s| *s != ".").collect();
    segs.join("/")
}

#[test]
fn the_reference_model_decodes_as_expected() {
    assert!(escapes_at_any_depth("/a/%252e%252e/b"));
    assert!(escapes_at_any_depth("/a/%5c.."));
    assert!(escapes_at_any_depth("/a/.%2E"));
    assert!(!escapes_at_any_depth("/a/..b/%2e/c"));
    assert!(!escapes_at_any_depth("/a/%"));
    assert!(!escapes_at_any_depth("/a/%2"));
    assert_eq!(percent_decode(b"%41%2x%"), b"A%2x%");
    assert_eq!(resolved("/api/./a/%2e/b%2fc"), "/api/a/b/c");
}

// ---------------------------------------------------------------------------------------
// Strategies.

/// Path pieces that make `..` in all the ways a client might try, and near misses.
fn path_piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "/", "\\", ".", "..", "...", "%2e", "%2E", "%2f", "%2F", "%5c", "%5C", "%25", "%", "2", "e", "E",
        "5c", "a", "b", "%ff", "%c0%ae", "é", "%41", ";", "?",
    ])
}

fn tricky_path() -> impl Strategy<Value = String> {
    prop::collection::vec(path_piece(), 0..16).prop_map(|p| p.concat())
}

/// A route's upstream base path as the snapshot keeps it: "" or `/seg/seg` (no trailing
/// slash, no `..`).
fn base_path() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-zA-Z0-9_~.-]{1,6}", 0..4)
        .prop_filter("no .. in a base path", |segs| segs.iter().all(|s| s != ".."))
        .prop_map(|segs| segs.iter().map(|s| format!("/{s}")).collect())
}

/// The rest after a matched prefix: "" or starting with '/', from characters a request
/// target may carry.
fn rest_path() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        prop::collection::vec(
            prop_oneof![
                "[a-zA-Z0-9_~.!$&'()*+,;=:@-]{0,6}",
                Just("%2e".to_string()),
                Just(".".to_string())
            ],
            1..5
        )
        .prop_map(|segs| segs.iter().map(|s| format!("/{s}")).collect()),
    ]
}

fn query() -> impl Strategy<Value = Option<String>> {
    prop::option::of("[a-zA-Z0-9=&%/.?:@+-]{0,12}")
}

fn prefix() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just("/".to_string()),
        6 => prop::collection::vec("[a-z.]{1,4}", 1..4)
            .prop_map(|segs| segs.iter().map(|s| format!("/{s}")).collect()),
    ]
}

// ---------------------------------------------------------------------------------------
// Routing.

proptest! {
    #[test]
    fn escapes_never_panics(path in any::<String>()) {
        let _ = escapes(&path);
    }

    /// What `escapes()` lets through has no `..` segment after any number of decodings.
    #[test]
    fn a_path_escapes_calls_safe_has_no_dot_dot_at_any_depth(path in tricky_path()) {
        if !escapes(&path) {
            for (depth, layer) in layers(&path).iter().enumerate() {
                prop_assert!(
                    !has_dot_dot(layer),
                    "{path:?} passes, but decoded {depth} times it is {:?}",
                    String::from_utf8_lossy(layer)
                );
            }
        }
    }

    /// And it refuses nothing else, except what is encoded four layers deep or more.
    #[test]
    fn escapes_refuses_only_dot_dot_or_absurdly_deep_encodings(path in tricky_path()) {
        let deep = layers(&path).len() > 4;
        prop_assert_eq!(escapes(&path), escapes_at_any_depth(&path) || deep, "{:?}", path);
    }

    /// Plain `..` segments anywhere are always caught, whatever surrounds them.
    #[test]
    fn a_literal_dot_dot_segment_is_always_caught(
        before in prop::collection::vec("[a-z%.]{0,4}", 0..4),
        after in prop::collection::vec("[a-z%.]{0,4}", 0..4),
        sep in prop::sample::select(vec!["/", "\\"]),
    ) {
        let path = format!("/{}{sep}..{sep}{}", before.join("/"), after.join("/"));
        prop_assert!(escapes(&path), "{path:?}");
    }

    /// A base path comes from a parsed URL and a rest from a request path: neither carries
    /// a raw `?` or `#`.
    #[test]
    fn rewrite_never_panics(base in "[^?#]{0,20}", rest in "[^?#]{0,20}", q in prop::option::of(".{0,10}")) {
        if let Ok(target) = rewrite(&base, &rest, q.as_deref()) {
            if rest.is_empty() || rest.starts_with('/') {
                prop_assert!(target.path().starts_with(&base), "{base:?} {rest:?} -> {target}");
            }
        }
    }

    /// The upstream target is the base path, then the rest, then the query: it starts with
    /// the base, and has a `..` only where base or rest already had one.
    #[test]
    fn rewrite_keeps_the_base_and_introduces_no_dot_dot(
        base in base_path(),
        rest in rest_path(),
        q in query(),
    ) {
        let target = rewrite(&base, &rest, q.as_deref());
        prop_assert!(target.is_ok(), "{base:?} {rest:?} {q:?}: {target:?}");
        let target = target.unwrap();
        let path = target.path();
        prop_assert!(path.starts_with(&base), "{path:?} does not start with {base:?}");
        prop_assert!(path.starts_with('/'), "{path:?}");
        let expected = format!("{base}{rest}");
        prop_assert_eq!(path, if expected.is_empty() { "/" } else { expected.as_str() });
        prop_assert_eq!(target.query(), q.as_deref());
        if !escapes_at_any_depth(&base) && !escapes_at_any_depth(&rest) {
            prop_assert!(!escapes_at_any_depth(path), "{path:?} gained a ..");
        }
    }

    #[test]
    fn match_prefix_never_panics(prefix in ".{0,12}", path in ".{0,24}") {
        let _ = match_prefix(&prefix, &path);
    }

    /// A prefix matches only whole segments: `/a` matches `/a` and `/a/...`, never `/ab`.
    #[test]
    fn match_prefix_matches_only_at_segment_boundaries(
        prefix in prefix(),
        tail in "[a-z./]{0,8}",
        other in "[a-z./]{0,12}",
        use_prefix in any::<bool>(),
    ) {
        let path = if use_prefix { format!("{prefix}{tail}") } else { other };
        match match_prefix(&prefix, &path) {
            Some(rest) if prefix == "/" => prop_assert_eq!(rest, path.as_str()),
            Some(rest) => {
                prop_assert_eq!(format!("{prefix}{rest}"), path.clone());
                prop_assert!(rest.is_empty() || rest.starts_with('/'), "{prefix:?} {path:?} -> {rest:?}");
                // The prefix's segments are exactly the path's first segments.
                let want: Vec<&str> = prefix.split('/').collect();
                let got: Vec<&str> = path.split('/').take(want.len()).collect();
                prop_assert_eq!(got, want);
            }
            None => {
                let boundary = path == prefix || path.starts_with(&format!("{prefix}/"));
                prop_assert!(prefix != "/" && !boundary, "{prefix:?} should match {path:?}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Header hygiene.

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
];

fn header_name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "connection",
        "proxy-connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "accept",
        "authorization",
        "x-a",
        "x-b",
        "x-c",
        "content-type",
    ])
}

/// A `Connection` value: names (some in odd case, some not header names at all).
fn connection_value() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            header_name().prop_map(str::to_string),
            header_name().prop_map(str::to_ascii_uppercase),
            Just("close".to_string()),
            Just("".to_string()),
            Just("not a name".to_string()),
        ],
        0..4,
    )
    .prop_map(|names| names.join(", "))
}

fn headers() -> impl Strategy<Value = Vec<(&'static str, String)>> {
    prop::collection::vec(
        prop_oneof![
            3 => (header_name(), "[a-z0-9=;, ]{0,8}".prop_map(String::from)),
            1 => connection_value().prop_map(|v| ("connection", v)),
        ],
        0..10,
    )
}

proptest! {
    #[test]
    fn strip_hop_by_hop_leaves_only_end_to_end_fields(pairs in headers(), keep_upgrade in any::<bool>()) {
        let mut h = HeaderMap::new();
        for (name, value) in &pairs {
            h.append(HeaderName::from_static(name), HeaderValue::from_str(value).unwrap());
        }
        let before = h.clone();
        let named: Vec<String> = before
            .get_all("connection")
            .iter()
            .flat_map(|v| v.to_str().unwrap().split(',').map(str::trim).map(str::to_ascii_lowercase))
            .filter(|n| !n.is_empty())
            .collect();
        strip_hop_by_hop(&mut h, keep_upgrade);

        for name in HOP_BY_HOP {
            prop_assert!(!h.contains_key(name), "{name} kept from {before:?}");
        }
        for name in &named {
            if name != "upgrade" || !keep_upgrade {
                prop_assert!(!h.contains_key(name.as_str()), "{name}, named by Connection, kept: {before:?}");
            }
        }
        prop_assert_eq!(
            h.contains_key("upgrade"),
            keep_upgrade && before.contains_key("upgrade"),
            "upgrade: {:?}", before
        );
        // Every other field is untouched, all of its values in order.
        for name in before.keys() {
            let gone = HOP_BY_HOP.contains(&name.as_str())
                || name == "upgrade"
                || named.iter().any(|n| n == name.as_str());
            if !gone {
                let was: Vec<_> = before.get_all(name).iter().collect();
                let is: Vec<_> = h.get_all(name).iter().collect();
                prop_assert_eq!(was, is, "{}", name);
            }
        }
        // Nothing appears that was not there.
        for name in h.keys() {
            prop_assert!(before.contains_key(name));
        }
        // Idempotent.
        let once = h.clone();
        strip_hop_by_hop(&mut h, keep_upgrade);
        prop_assert_eq!(once, h);
    }
}

// ---------------------------------------------------------------------------------------
// Token answers.

/// A header-safe token: visible ASCII, no space.
fn token() -> impl Strategy<Value = String> {
    "[\\x21-\\x7e]{1,64}"
}

/// Names the answer reader gives a meaning to; extra fields never use them.
const KNOWN: [&str; 14] = [
    "access_token",
    "accessToken",
    "refresh_token",
    "refreshToken",
    "expires_in",
    "expiresIn",
    "token_expires_in",
    "refresh_token_expires_in",
    "scope",
    "scopes",
    "token_type",
    "tokenType",
    "user_id",
    "userId",
];

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,16}".prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A token answer in some platform's dialect, with arbitrary extra fields.
fn answer() -> impl Strategy<Value = (String, Option<String>, Value)> {
    let extras = prop::collection::btree_map(
        "[a-zA-Z_]{1,12}".prop_filter("not a known name", |k| !KNOWN.contains(&k.as_str())),
        json_value(),
        0..6,
    );
    (
        token(),
        prop::option::of(token()),
        any::<bool>(),
        prop::option::of(prop_oneof![
            (0u32..1_000_000_000).prop_map(Value::from),
            (0.0f64..1e9).prop_map(Value::from),
            (0u32..1_000_000).prop_map(|n| Value::from(n.to_string())),
        ]),
        prop::option::of(prop::sample::select(vec!["bearer", "Bearer", "BEARER", "bEaReR"])),
        prop::option::of(prop_oneof![
            "[a-z: ,]{0,20}".prop_map(Value::from),
            prop::collection::vec("[a-z:]{1,8}", 0..4).prop_map(Value::from),
        ]),
        extras,
    )
        .prop_map(|(access, refresh, camel, expires, token_type, scope, extras)| {
            let name = |snake: &'static str, camel_name: &'static str| if camel { camel_name } else { snake };
            let mut m: Map<String, Value> = extras.into_iter().collect();
            m.insert(name("access_token", "accessToken").into(), json!(access));
            if let Some(r) = &refresh {
                m.insert(name("refresh_token", "refreshToken").into(), json!(r));
            }
            if let Some(e) = expires {
                m.insert(name("expires_in", "expiresIn").into(), e);
            }
            if let Some(t) = token_type {
                m.insert(name("token_type", "tokenType").into(), json!(t));
            }
            if let Some(s) = scope {
                m.insert(name("scope", "scopes").into(), s);
            }
            (access, refresh, Value::Object(m))
        })
}

proptest! {
    #[test]
    fn parse_answer_never_panics_on_bytes(body in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_answer(&body);
    }

    #[test]
    fn parse_answer_never_panics_on_json(v in json_value()) {
        let _ = parse_answer(v.to_string().as_bytes());
    }

    /// Any well-formed answer is read, and the tokens come out exactly as they went in.
    #[test]
    fn parse_answer_round_trips_the_tokens((access, refresh, v) in answer()) {
        let body = v.to_string();
        let parsed = parse_answer(body.as_bytes());
        prop_assert!(parsed.is_ok(), "{body}: {parsed:?}");
        let parsed = parsed.unwrap();
        prop_assert_eq!(parsed.access.secret(), access.as_str());
        prop_assert_eq!(parsed.refresh.as_ref().map(|r| r.secret()), refresh.as_deref());
        // Whatever the answer held, its Debug form never shows the tokens.
        let debug = format!("{parsed:?}");
        prop_assert!(!debug.contains(&format!("\"{access}\"")), "{debug}");
    }

    /// A token a header cannot carry is refused, never passed on.
    #[test]
    fn parse_answer_refuses_tokens_with_unsafe_bytes(
        head in "[a-z]{0,8}",
        bad in prop::sample::select(vec![" ", "\t", "\r\n", "\u{7f}", "é", "\u{0}"]),
        tail in "[a-z]{0,8}",
    ) {
        let body = json!({"access_token": format!("{head}{bad}{tail}")}).to_string();
        prop_assert!(parse_answer(body.as_bytes()).is_err(), "{body}");
    }

    #[test]
    fn classify_never_panics(status in any::<u16>(), body in prop::collection::vec(any::<u8>(), 0..128)) {
        let _ = classify(status, &body);
    }

    /// 400 and 401 are refusals of the grant, whatever the body says.
    #[test]
    fn classify_400_and_401_are_rejections(
        status in prop::sample::select(vec![400u16, 401]),
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            json_value().prop_map(|v| v.to_string().into_bytes()),
            answer().prop_map(|(_, _, v)| v.to_string().into_bytes()),
        ],
    ) {
        match classify(status, &body) {
            Ok(a) => prop_assert!(false, "{status} accepted as {a:?}"),
            Err(e) => prop_assert!(e.is_rejection(), "{status}: {e:?}"),
        }
    }

    /// 2xx reads the body as an answer; other statuses fail, and are refusals only with
    /// `invalid_grant`; a server error without it is worth retrying.
    #[test]
    fn classify_follows_the_status(
        status in prop_oneof![200u16..300, 300u16..400, 402u16..600, Just(0u16), Just(u16::MAX)],
        (_, _, v) in answer(),
        invalid_grant in any::<bool>(),
    ) {
        let mut v = v;
        if invalid_grant {
            v["error"] = json!("invalid_grant");
        }
        let body = v.to_string().into_bytes();
        let got = classify(status, &body);
        if (200..300).contains(&status) {
            let direct = parse_answer(&body);
            prop_assert_eq!(got.is_ok(), direct.is_ok());
            if let (Ok(a), Ok(b)) = (&got, &direct) {
                prop_assert_eq!(a, b);
            }
        } else {
            prop_assert!(got.is_err(), "{status} accepted");
            let rejection = got.unwrap_err().is_rejection();
            prop_assert_eq!(rejection, invalid_grant, "{}", status);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The running proxy: no request target leads anywhere but under the route's upstream.

/// Path segments a client might use to climb out of a route.
const SEGMENTS: [&str; 9] = [
    "..",
    "%2e%2e",
    "%2E%2e",
    "%252e%252e",
    ".",
    "a",
    "b%2fc",
    "%5c..",
    "x",
];

#[derive(Debug, Clone)]
enum Target {
    /// `/t/...` (routed) or `/...` (no route).
    Origin {
        routed: bool,
        segs: Vec<&'static str>,
        host: Host,
    },
    /// `http://HOST/t/...`.
    Absolute { at: Host, segs: Vec<&'static str> },
    /// `CONNECT HOST:PORT`.
    Connect { at: Host },
}

#[derive(Debug, Clone, Copy)]
enum Host {
    /// The proxy's own address.
    Proxy,
    /// Another listener on this machine that the proxy must never reach.
    Other,
    Evil,
}

fn host() -> impl Strategy<Value = Host> {
    prop::sample::select(vec![Host::Proxy, Host::Other, Host::Evil])
}

fn target() -> impl Strategy<Value = Target> {
    let segs = prop::collection::vec(prop::sample::select(SEGMENTS.to_vec()), 0..6);
    prop_oneof![
        6 => (any::<bool>(), segs.clone(), host()).prop_map(|(routed, segs, host)| {
            // No segments at all is `/`, which is not routed: covered by `/t` instead.
            Target::Origin { routed: routed || segs.is_empty(), segs, host }
        }),
        2 => (host(), segs).prop_map(|(at, segs)| Target::Absolute { at, segs }),
        1 => host().prop_map(|at| Target::Connect { at }),
    ]
}

struct World {
    proxy: Proxy,
    up: FakeUpstream,
    other: FakeUpstream,
    _fake: FakePlatform,
}

impl World {
    fn authority(&self, h: Host) -> String {
        match h {
            Host::Proxy => self.proxy.addr.to_string(),
            Host::Other => self.other.url("").trim_start_matches("http://").to_string(),
            Host::Evil => "evil.example".to_string(),
        }
    }

    fn path(routed: bool, segs: &[&str]) -> String {
        let joined = segs.join("/");
        match (routed, joined.is_empty()) {
            (true, true) => "/t".to_string(),
            (true, false) => format!("/t/{joined}"),
            (false, _) => format!("/{joined}"),
        }
    }

    /// Sends `t` and checks what came of it.
    async fn check(&self, t: &Target) -> Result<&'static str, TestCaseError> {
        let before = self.up.count();
        let (request, path) = match t {
            Target::Origin { routed, segs, host } => {
                let path = Self::path(*routed, segs);
                let host = self.authority(*host);
                (
                    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
                    Some((*routed, path)),
                )
            }
            Target::Absolute { at, segs } => {
                let at = self.authority(*at);
                let path = Self::path(true, segs);
                (
                    format!("GET http://{at}{path} HTTP/1.1\r\nHost: {at}\r\nConnection: close\r\n\r\n"),
                    None,
                )
            }
            Target::Connect { at } => {
                let at = self.authority(*at);
                let at = if at.contains(':') { at } else { format!("{at}:443") };
                (
                    format!("CONNECT {at} HTTP/1.1\r\nHost: {at}\r\nConnection: close\r\n\r\n"),
                    None,
                )
            }
        };
        let answer = raw(self.proxy.addr, &request).await;
        let status = answer.split_whitespace().nth(1).unwrap_or("").to_string();
        let class = match &path {
            None => "refused target",
            Some((_, p)) if escapes_at_any_depth(p) => "refused path",
            Some((false, _)) => "no route",
            Some((true, _)) => "forwarded",
        };
        match path {
            None => {
                prop_assert_eq!(status.as_str(), "400", "{:?} got {:?}", request, answer);
                prop_assert!(answer.contains("\"error\":\"bad_request\""), "{answer}");
                prop_assert_eq!(self.up.count(), before, "{:?} reached the upstream", request);
            }
            Some((_, ref p)) if escapes_at_any_depth(p) => {
                prop_assert_eq!(status.as_str(), "400", "{:?} got {:?}", request, answer);
                prop_assert_eq!(self.up.count(), before, "{:?} reached the upstream", request);
            }
            Some((false, _)) => {
                prop_assert_eq!(status.as_str(), "404", "{:?} got {:?}", request, answer);
                prop_assert_eq!(self.up.count(), before, "{:?} reached the upstream", request);
            }
            Some((true, ref p)) => {
                prop_assert_eq!(status.as_str(), "200", "{:?} got {:?}", request, answer);
                prop_assert_eq!(self.up.count(), before + 1, "{:?}", request);
                let seen = self.up.last().expect("recorded");
                let rest = p.strip_prefix("/t").expect("routed");
                prop_assert_eq!(seen.path, format!("/api{rest}"), "{:?}", request);
                let own = self.up.url("");
                prop_assert_eq!(
                    seen.headers.get("host").and_then(|h| h.to_str().ok()),
                    Some(own.trim_start_matches("http://")),
                    "{:?}",
                    request
                );
            }
        }
        // Whatever was sent, everything the upstream ever saw is under its base path, and
        // nothing reached any other listener.
        for r in self.up.requests() {
            prop_assert!(!escapes_at_any_depth(&r.path), "the upstream saw {:?}", r.path);
            let resolved = resolved(&r.path);
            prop_assert!(
                resolved == "/api" || resolved.starts_with("/api/"),
                "the upstream saw {:?} ({resolved:?}), outside /api",
                r.path
            );
        }
        prop_assert_eq!(self.other.count(), 0, "the proxy connected to another listener");
        Ok(class)
    }
}

#[test]
fn no_request_target_leaves_the_routes_upstream_base_path() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let world = rt.block_on(async {
        let fake = FakePlatform::start(Kind::Twitch).await;
        let up = FakeUpstream::start().await;
        let other = FakeUpstream::start().await;
        let proxy = Proxy::with_route(&fake, "p", "", "/t", &up.url("/api"), "").await;
        proxy.ready().await;
        World {
            proxy,
            up,
            other,
            _fake: fake,
        }
    });
    let config = ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new(config);
    let seen = std::sync::Mutex::new(std::collections::BTreeMap::<&str, usize>::new());
    // One case of each outcome for certain; the random cases come on top.
    for t in [
        Target::Origin {
            routed: true,
            segs: vec!["x"],
            host: Host::Proxy,
        },
        Target::Origin {
            routed: false,
            segs: vec!["x"],
            host: Host::Proxy,
        },
        Target::Origin {
            routed: true,
            segs: vec!["%2e%2e", "x"],
            host: Host::Proxy,
        },
        Target::Absolute {
            at: Host::Other,
            segs: vec!["x"],
        },
    ] {
        let class = rt
            .block_on(world.check(&t))
            .unwrap_or_else(|e| panic!("{t:?}: {e}"));
        *seen.lock().unwrap().entry(class).or_default() += 1;
    }
    let outcome = runner.run(&target(), |t| {
        let class = rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(10), world.check(&t)).await })
            .map_err(|_| TestCaseError::fail(format!("{t:?}: no answer in time")))??;
        *seen.lock().unwrap().entry(class).or_default() += 1;
        Ok(())
    });
    let World { proxy, .. } = world;
    rt.block_on(proxy.stop());
    if let Err(e) = outcome {
        panic!("{e}");
    }
    // The cases covered every outcome.
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.len(), 4, "{seen:?}");
}

#[tokio::test]
async fn a_foreign_host_header_changes_nothing() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start().await;
    let proxy = Proxy::with_route(&fake, "p", "", "/t", &up.url("/api"), "").await;
    proxy.ready().await;
    let own = up.url("").trim_start_matches("http://").to_string();

    let answer = raw(
        proxy.addr,
        "GET /t/x HTTP/1.1\r\nHost: evil.example\r\nX-Forwarded-Host: evil.example\r\n\
         Connection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(up.count(), 1, "the request went to the configured upstream");
    let seen = up.last().unwrap();
    assert_eq!(seen.path, "/api/x");
    assert_eq!(seen.headers.get_all("host").iter().count(), 1);
    assert_eq!(
        seen.headers["host"].to_str().unwrap(),
        own,
        "the upstream sees its own Host"
    );

    // Through reqwest too, with the header set explicitly.
    let resp = proxy
        .http
        .get(proxy.url("/t/y"))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(up.last().unwrap().headers["host"].to_str().unwrap(), own);

    // Absolute-form naming evil.example is refused, and never reaches anyone.
    let answer = raw(
        proxy.addr,
        "GET http://evil.example/t/x HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(up.count(), 2);
    proxy.stop().await;
}
