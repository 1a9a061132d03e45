//! Properties of the library's pure functions (routing, header hygiene, reading token
//! answers), and one property of the running proxy: whatever request target a client sends,
//! the upstream only ever sees paths under its base path, and nothing else is connected to.

#[path = "../harness/mod.rs"]
mod harness;
#[path = "../support/mod.rs"]
mod support;

mod answers;
mod headers;
mod open_proxy;
mod routing;

use proptest::prelude::*;

// ---------------------------------------------------------------------------------------
// A reference model of "has a `..` segment, however often percent-encoded", on bytes.

/// One layer of percent-decoding: `%XX` with two hex digits becomes that byte; anything
/// else (a lone `%`, `%zz`) stays as it is.
pub(crate) fn percent_decode(input: &[u8]) -> Vec<u8> {
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

/// A `..` segment, with `/` or `\` as separators, also with `;params` after it (servlet
/// containers strip them), or a NUL byte anywhere.
pub(crate) fn has_dot_dot(path: &[u8]) -> bool {
    path.contains(&0)
        || path
            .split(|b| *b == b'/' || *b == b'\\')
            .any(|seg| seg.split(|b| *b == b';').next() == Some(&b".."[..]))
}

/// Every distinct layer of `path`: itself, then each percent-decoding until nothing changes.
pub(crate) fn layers(path: &str) -> Vec<Vec<u8>> {
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
pub(crate) fn escapes_at_any_depth(path: &str) -> bool {
    layers(path).iter().any(|l| has_dot_dot(l))
}

/// `path` fully decoded, with `.` segments dropped (`..` must not be present).
pub(crate) fn resolved(path: &str) -> String {
    let last = layers(path).pop().expect("one layer");
    let text = String::from_utf8_lossy(&last).replace('\\', "/");
    let segs: Vec<&str> = text.split('/').filter(|s| *s != ".").collect();
    segs.join("/")
}

#[test]
pub(crate) fn the_reference_model_decodes_as_expected() {
    assert!(escapes_at_any_depth("/a/%252e%252e/b"));
    assert!(escapes_at_any_depth("/a/%5c.."));
    assert!(escapes_at_any_depth("/a/.%2E"));
    assert!(!escapes_at_any_depth("/a/..b/%2e/c"));
    assert!(escapes_at_any_depth("/a/..;/b"));
    assert!(escapes_at_any_depth("/a/%2e%2e;x/b"));
    assert!(escapes_at_any_depth("/a/..%00/b"));
    assert!(!escapes_at_any_depth("/a/...;x/b"));
    assert!(!escapes_at_any_depth("/a/%"));
    assert!(!escapes_at_any_depth("/a/%2"));
    assert_eq!(percent_decode(b"%41%2x%"), b"A%2x%");
    assert_eq!(resolved("/api/./a/%2e/b%2fc"), "/api/a/b/c");
}

// ---------------------------------------------------------------------------------------
// Strategies.

/// Path pieces that make `..` in all the ways a client might try, and near misses.
pub(crate) fn path_piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "/", "\\", ".", "..", "...", "%2e", "%2E", "%2f", "%2F", "%5c", "%5C", "%25", "%", "2", "e", "E",
        "5c", "a", "b", "%ff", "%c0%ae", "é", "%41", ";", "?",
    ])
}

pub(crate) fn tricky_path() -> impl Strategy<Value = String> {
    prop::collection::vec(path_piece(), 0..16).prop_map(|p| p.concat())
}

/// A route's upstream base path as the snapshot keeps it: "" or `/seg/seg` (no trailing
/// slash, no `..`).
pub(crate) fn base_path() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-zA-Z0-9_~.-]{1,6}", 0..4)
        .prop_filter("no .. in a base path", |segs| segs.iter().all(|s| s != ".."))
        .prop_map(|segs| segs.iter().map(|s| format!("/{s}")).collect())
}

/// The rest after a matched prefix: "" or starting with '/', from characters a request
/// target may carry.
pub(crate) fn rest_path() -> impl Strategy<Value = String> {
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

pub(crate) fn query() -> impl Strategy<Value = Option<String>> {
    prop::option::of("[a-zA-Z0-9=&%/.?:@+-]{0,12}")
}

pub(crate) fn prefix() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just("/".to_string()),
        6 => prop::collection::vec("[a-z.]{1,4}", 1..4)
            .prop_map(|segs| segs.iter().map(|s| format!("/{s}")).collect()),
    ]
}
