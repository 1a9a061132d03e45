//! Reading a token answer. Platforms disagree on names (`access_token`, `accessToken`), on
//! lifetimes (`expires_in`, `expiresIn`, `token_expires_in`), and on scopes (an array, or one
//! string): one tolerant reader takes them all, and refuses what cannot be used.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::error::CallFailure;
use crate::secret::{AccessToken, RefreshToken};

/// What a token endpoint granted, before it is stamped into a `Token`.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub access: AccessToken,
    pub refresh: Option<RefreshToken>,
    pub lifetime: Option<Duration>,
    pub refresh_lifetime: Option<Duration>,
    pub scopes: Vec<String>,
    pub user_id: Option<String>,
}

#[derive(Deserialize)]
struct Wire {
    #[serde(alias = "accessToken")]
    access_token: Option<String>,
    #[serde(alias = "refreshToken")]
    refresh_token: Option<String>,
    #[serde(alias = "expiresIn", alias = "token_expires_in")]
    expires_in: Option<Value>,
    refresh_token_expires_in: Option<Value>,
    #[serde(alias = "scopes")]
    scope: Option<Value>,
    #[serde(alias = "tokenType")]
    token_type: Option<String>,
    #[serde(alias = "userId")]
    user_id: Option<Value>,
}

/// Parses a successful answer's body.
pub fn parse(body: &[u8]) -> Result<Answer, CallFailure> {
    let wire: Wire = serde_json::from_slice(body).map_err(|_| CallFailure::Malformed("not a JSON object"))?;
    let access = wire
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or(CallFailure::Malformed("no access token in the answer"))?;
    if access.bytes().any(|b| !(0x21..0x7f).contains(&b)) {
        return Err(CallFailure::Malformed(
            "the access token has characters a header cannot carry",
        ));
    }
    if let Some(tt) = &wire.token_type {
        if !tt.eq_ignore_ascii_case("bearer") {
            return Err(CallFailure::Malformed("the token type is not bearer"));
        }
    }
    Ok(Answer {
        access: AccessToken::new(access),
        refresh: wire
            .refresh_token
            .filter(|t| !t.is_empty())
            .map(RefreshToken::new),
        lifetime: seconds(wire.expires_in.as_ref())?,
        refresh_lifetime: seconds(wire.refresh_token_expires_in.as_ref())?,
        scopes: scopes(wire.scope.as_ref()),
        user_id: wire.user_id.and_then(|v| match v {
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }),
    })
}

fn seconds(v: Option<&Value>) -> Result<Option<Duration>, CallFailure> {
    let n = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if (0.0..1e10).contains(&n) => Ok(Some(Duration::from_secs_f64(n))),
        _ => Err(CallFailure::Malformed("the lifetime is not a number of seconds")),
    }
}

fn scopes(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => s
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twitch_shape() {
        let a = parse(br#"{"access_token":"at","refresh_token":"rt","expires_in":3600,"scope":["a","b"],"token_type":"bearer"}"#).unwrap();
        assert_eq!(a.access.secret(), "at");
        assert_eq!(a.refresh.unwrap().secret(), "rt");
        assert_eq!(a.lifetime, Some(Duration::from_secs(3600)));
        assert_eq!(a.scopes, ["a", "b"]);
    }

    #[test]
    fn blaze_shape() {
        let a = parse(br#"{"type":"user","userId":"u-1","tokenType":"Bearer","refreshToken":"r","accessToken":"a","expiresIn":86400,"scopes":["users.read"]}"#).unwrap();
        assert_eq!(a.user_id.as_deref(), Some("u-1"));
        assert_eq!(a.lifetime, Some(Duration::from_secs(86400)));
        assert_eq!(a.scopes, ["users.read"]);
    }

    #[test]
    fn glimesh_and_firework_shapes() {
        let g = parse(br#"{"access_token":"a","expires_in":21600,"scope":"public email chat","token_type":"bearer","created_at":"2020-12-14T15:15:29"}"#).unwrap();
        assert_eq!(g.scopes, ["public", "email", "chat"]);
        let f = parse(br#"{"access_token":"a","refresh_token":"r","token_type":"bearer","scope":"openid","token_expires_in":7200,"refresh_token_expires_in":600000}"#).unwrap();
        assert_eq!(f.lifetime, Some(Duration::from_secs(7200)));
        assert_eq!(f.refresh_lifetime, Some(Duration::from_secs(600000)));
    }

    #[test]
    fn bearer_in_any_case_and_missing_lifetime() {
        let a = parse(br#"{"access_token":"a","token_type":"BEARER"}"#).unwrap();
        assert_eq!(a.lifetime, None);
        assert!(parse(br#"{"access_token":"a","token_type":"mac"}"#).is_err());
    }

    #[test]
    fn refuses_what_cannot_be_used() {
        for bad in [
            &b"not json"[..],
            b"[]",
            b"{}",
            br#"{"access_token":""}"#,
            br#"{"access_token":"a b"}"#,
            br#"{"access_token":"a","expires_in":-5}"#,
            br#"{"access_token":"a","expires_in":"soon"}"#,
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
