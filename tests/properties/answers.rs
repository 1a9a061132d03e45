//! Token answers.

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use token_sidecar::oauth::{classify, parse_answer};

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
        // Whatever the answer held, the tokens' Debug forms never show them.
        prop_assert_eq!(format!("{:?}", parsed.access), "AccessToken([redacted])");
        if let Some(r) = &parsed.refresh {
            prop_assert_eq!(format!("{r:?}"), "RefreshToken([redacted])");
        }
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
        let _ = classify(status, &body, &[]);
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
        match classify(status, &body, &[]) {
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
        let got = classify(status, &body, &[]);
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
