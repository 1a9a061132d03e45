//! Device-code logins (RFC 8628), the platform side: ask the device authorization endpoint
//! for a code, then poll the token endpoint with the device grant, each answer read as what
//! it means for the login. Twitch's dialect names the scopes `scopes` and sends no client
//! secret; a plain oauth2 provider authenticates the client as for its other token calls.

use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;
use serde_json::Value;

use super::answer::{self, Answer};
use super::client::PlatformClient;
use super::dialect::{client_auth, Encoding, TokenRequest};
use super::error::{CallFailure, TokenError};
use super::said::PlatformSaid;
use super::token::Token;
use crate::config::{Kind, ProviderConfig};
use crate::secret::DeviceCode;

pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The `grant` label of `token_sidecar_token_requests_total` for device-grant polls.
pub const GRANT_LABEL: &str = "device_code";
/// RFC 8628 §3.5: each `slow_down` adds 5 seconds to the interval, for good.
pub const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// §3.2: the interval when the platform names none.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// A platform's interval of 0 must not make the proxy poll without pause.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// A code the platform handed out: what the person is shown, and what the proxy polls with.
#[derive(Debug)]
pub struct Issued {
    pub device_code: DeviceCode,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    pub expires_in: Duration,
    pub interval: Duration,
}

#[derive(Deserialize)]
struct Wire {
    device_code: String,
    user_code: String,
    #[serde(alias = "verification_url")]
    verification_uri: String,
    verification_uri_complete: Option<String>,
    expires_in: Value,
    interval: Option<Value>,
}

/// What one poll of the token endpoint says about the login.
pub enum Poll {
    /// The person approved: the token, stamped with when the poll was sent.
    Granted(Box<Token>),
    /// `authorization_pending`: ask again after the interval.
    Pending,
    /// `slow_down`: ask again after the interval grown by `SLOW_DOWN_STEP`.
    SlowDown,
    /// `access_denied`: the person said no.
    Denied(String),
    /// `expired_token` (or a code the platform no longer knows): a new code is needed.
    Expired(String),
    /// Any other refusal: polling on cannot help.
    Refused(TokenError),
    /// A transport failure or a server error: ask again at the next interval.
    Retry(TokenError),
}

impl Poll {
    /// Its `result` label in `token_sidecar_token_requests_total`: waiting on the person is
    /// no failure of the platform, so it is counted apart (`pending`).
    pub fn result_label(&self) -> &'static str {
        match self {
            Poll::Granted(_) => "success",
            Poll::Pending | Poll::SlowDown => "pending",
            _ => "failure",
        }
    }
}

/// Asks the platform for a code.
pub async fn start(client: &PlatformClient) -> Result<Issued, TokenError> {
    let config = &client.config;
    let Some(url) = config.endpoints.device.clone() else {
        return Err(TokenError::call(
            &config.endpoints.token,
            CallFailure::Malformed("this provider has no device authorization endpoint"),
        ));
    };
    let mut fields = Vec::new();
    let scopes = config.scopes.join(" ");
    let basic = match config.kind {
        Kind::Twitch => {
            fields.push(("client_id", config.client_id.clone()));
            fields.push(("scopes", scopes));
            None
        }
        _ => {
            if !scopes.is_empty() {
                fields.push(("scope", scopes));
            }
            client_auth(config, &mut fields)
        }
    };
    let req = TokenRequest {
        url,
        encoding: Encoding::Form,
        fields,
        basic,
    };
    let (status, body) = client.call(&req).await?;
    let at = |failure| TokenError::call(&req.url, failure);
    if !(200..300).contains(&status) {
        let secrets = client.secrets(&req);
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let said = PlatformSaid::read(&body, &secrets);
        return Err(at(CallFailure::Server { status, said }));
    }
    parse_issued(&body).map_err(at)
}

fn parse_issued(body: &[u8]) -> Result<Issued, CallFailure> {
    let bad = CallFailure::Malformed(
        "the device authorization answer lacks device_code, user_code or verification_uri",
    );
    let wire: Wire = serde_json::from_slice(body).map_err(|_| bad.clone())?;
    if wire.device_code.is_empty() || wire.user_code.is_empty() || wire.verification_uri.is_empty() {
        return Err(bad);
    }
    let seconds = |v: &Value| {
        v.as_f64()
            .filter(|n| (0.0..1e7).contains(n))
            .map(Duration::from_secs_f64)
    };
    let expires_in = seconds(&wire.expires_in).ok_or(CallFailure::Malformed(
        "the device code's expires_in is not a number of seconds",
    ))?;
    let interval = wire
        .interval
        .as_ref()
        .and_then(seconds)
        .unwrap_or(DEFAULT_INTERVAL)
        .max(MIN_INTERVAL);
    Ok(Issued {
        device_code: DeviceCode::new(wire.device_code),
        user_code: wire.user_code,
        verification_uri: wire.verification_uri,
        verification_uri_complete: wire.verification_uri_complete,
        expires_in,
        interval,
    })
}

/// The device grant's token request in `config`'s dialect.
fn grant_request(config: &ProviderConfig, code: &DeviceCode) -> TokenRequest {
    let mut fields = vec![
        ("grant_type", DEVICE_GRANT.to_string()),
        ("device_code", code.secret().to_string()),
    ];
    let basic = match config.kind {
        // Twitch: client_id and scopes, never the secret (SPEC, "device codes").
        Kind::Twitch => {
            fields.push(("client_id", config.client_id.clone()));
            fields.push(("scopes", config.scopes.join(" ")));
            None
        }
        _ => client_auth(config, &mut fields),
    };
    TokenRequest {
        url: config.endpoints.token.clone(),
        encoding: Encoding::Form,
        fields,
        basic,
    }
}

/// Polls once; counted in `token_sidecar_token_requests_total` with grant `device_code`.
pub async fn poll(client: &PlatformClient, code: &DeviceCode) -> Poll {
    let req = grant_request(&client.config, code);
    let (sent, sent_wall) = (Instant::now(), SystemTime::now());
    let read = client.call(&req).await.and_then(|(status, body)| {
        let secrets = client.secrets(&req);
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        read_poll(status, &body, &secrets).map_err(|failure| TokenError::call(&req.url, failure))
    });
    let outcome = match read {
        Ok(Ok(answer)) => {
            let answer = client.public_refresh_lifetime(answer);
            Poll::Granted(Box::new(Token::from_answer(answer, sent, sent_wall, 0)))
        }
        Ok(Err(poll)) => poll,
        Err(e) if e.is_rejection() => Poll::Refused(e),
        Err(e) => Poll::Retry(e),
    };
    client.count(GRANT_LABEL, outcome.result_label());
    outcome
}

/// Reads a poll's answer: the granted token's answer, what the login does next, or a
/// failure (read as `classify` reads token answers) to retry or give up on.
fn read_poll(status: u16, body: &[u8], secrets: &[&str]) -> Result<Result<Answer, Poll>, CallFailure> {
    if (200..300).contains(&status) {
        return answer::parse(body).map(Ok);
    }
    let shown = || PlatformSaid::read(body, secrets).text.unwrap_or_default();
    let said = codes(body);
    let is = |names: &[&str]| said.iter().any(|c| names.contains(&c.as_str()));
    let next = if is(&["authorization_pending"]) {
        Poll::Pending
    } else if is(&["slow_down"]) {
        Poll::SlowDown
    } else if is(&["access_denied", "authorization_denied"]) {
        Poll::Denied(shown())
    } else if is(&["expired_token", "invalid device code"]) {
        // Twitch answers a code it no longer knows (expired or used) with this message.
        Poll::Expired(shown())
    } else {
        return super::client::classify(status, body, secrets).map(Ok);
    };
    Ok(Err(next))
}

/// What the answer says, lower-cased: RFC 8628's `error`, and Twitch's `message` (which is
/// where Twitch puts the code, beside an `error` that may be only the status's reason).
fn codes(body: &[u8]) -> Vec<String> {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    ["error", "message"]
        .iter()
        .filter_map(|k| v.get(*k).and_then(Value::as_str))
        .map(|s| s.trim().to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(status: u16, body: &str) -> Result<Poll, CallFailure> {
        read_poll(status, body.as_bytes(), &["dc-secret-1"]).map(|r| match r {
            Ok(answer) => Poll::Granted(Box::new(Token::from_answer(
                answer,
                Instant::now(),
                SystemTime::now(),
                0,
            ))),
            Err(poll) => poll,
        })
    }

    #[test]
    fn rfc_and_twitch_answers_mean_the_same() {
        for body in [
            r#"{"error":"authorization_pending"}"#,
            r#"{"status":400,"message":"authorization_pending"}"#,
        ] {
            assert!(matches!(read(400, body), Ok(Poll::Pending)), "{body}");
        }
        assert!(matches!(
            read(400, r#"{"error":"slow_down"}"#),
            Ok(Poll::SlowDown)
        ));
        assert!(matches!(
            read(400, r#"{"status":400,"message":"slow_down"}"#),
            Ok(Poll::SlowDown)
        ));
        assert!(matches!(
            read(400, r#"{"error":"access_denied"}"#),
            Ok(Poll::Denied(_))
        ));
        assert!(matches!(
            read(400, r#"{"error":"expired_token"}"#),
            Ok(Poll::Expired(_))
        ));
        assert!(matches!(
            read(400, r#"{"status":400,"message":"invalid device code"}"#),
            Ok(Poll::Expired(_))
        ));
        // Helix's error shape: `error` is the status's reason, the code is in `message`.
        assert!(matches!(
            read(
                400,
                r#"{"error":"Bad Request","status":400,"message":"authorization_pending"}"#
            ),
            Ok(Poll::Pending)
        ));
    }

    #[test]
    fn other_failures_are_refusals_or_retries() {
        let refused = read(
            400,
            r#"{"error":"invalid_client","error_description":"dc-secret-1 unknown"}"#,
        );
        match refused {
            Err(f @ CallFailure::Rejected { .. }) => assert!(!f.to_string().contains("dc-secret-1"), "{f}"),
            other => panic!("not a refusal: {:?}", other.err()),
        }
        assert!(matches!(read(503, "oops"), Err(CallFailure::Server { .. })));
        assert!(matches!(
            read(200, r#"{"access_token":"a","refresh_token":"r","expires_in":60}"#),
            Ok(Poll::Granted(_))
        ));
        assert!(read(200, "{}").is_err());
    }

    #[test]
    fn codes_are_read_with_rfc_defaults() {
        let issued = parse_issued(
            br#"{"device_code":"d","user_code":"ABCD","verification_uri":"https://x/activate","expires_in":1800}"#,
        )
        .unwrap();
        assert_eq!(issued.interval, DEFAULT_INTERVAL);
        assert_eq!(issued.expires_in, Duration::from_secs(1800));
        let fast = parse_issued(
            br#"{"device_code":"d","user_code":"A","verification_uri":"u","expires_in":5,"interval":0}"#,
        )
        .unwrap();
        assert_eq!(fast.interval, MIN_INTERVAL);
        assert!(parse_issued(br#"{"user_code":"A","verification_uri":"u","expires_in":5}"#).is_err());
    }
}
