//! Header hygiene.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use token_sidecar::proxy::headers::strip_hop_by_hop;

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
