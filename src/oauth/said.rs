//! What a platform says in the answer to a failed call — its `error` code and its
//! `error_description` or `message` — made fit to show an operator: every secret of ours
//! removed, control characters gone, at most 200 characters.

use std::fmt;

use serde_json::Value;

/// The most characters of platform text shown (SPEC, "When something fails, say why").
pub const MAX_SAID: usize = 200;
/// Shorter secrets are not searched for: removing every "ab" would garble the text and
/// protect nothing.
const MIN_SECRET: usize = 4;
const REDACTED: &str = "[redacted]";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlatformSaid {
    /// The `error` code when it is token-shaped (`invalid_grant`): decisions read it.
    pub code: Option<String>,
    /// What it said, as shown: `invalid_grant: The refresh token is invalid`.
    pub text: Option<String>,
}

impl PlatformSaid {
    /// Reads an error answer's body; `secrets`: every secret the call carried.
    pub fn read(body: &[u8], secrets: &[&str]) -> PlatformSaid {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return PlatformSaid::default();
        };
        let field = |v: &Value, k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let error = field(&v, "error");
        let code = error.clone().filter(|e| token_shaped(e));
        // Some platforms nest theirs: {"error": {"message": "..."}}.
        let nested = v.get("error").and_then(|e| field(e, "message"));
        let description = field(&v, "error_description")
            .or_else(|| field(&v, "message"))
            .or(nested);
        let mut parts: Vec<String> = error.into_iter().collect();
        parts.extend(description.filter(|d| !parts.contains(d)));
        let text = (!parts.is_empty()).then(|| shown(&parts.join(": "), secrets));
        PlatformSaid { code, text }
    }
}

impl fmt::Display for PlatformSaid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.text {
            Some(t) => write!(f, ": {t}"),
            None => Ok(()),
        }
    }
}

/// A code such as `invalid_grant`: short, letters, digits and `_`.
fn token_shaped(code: &str) -> bool {
    code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `text` with every secret (as sent, or form-encoded) replaced, control characters and runs
/// of white space made single spaces, cut to `MAX_SAID` characters. Secrets go first, so a
/// cut can never leave part of one behind.
pub fn shown(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for secret in secrets.iter().filter(|s| s.len() >= MIN_SECRET) {
        out = out.replace(secret, REDACTED);
        let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        out = out.replace(&encoded, REDACTED);
    }
    let words: Vec<&str> = out
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect();
    let out = words.join(" ");
    if out.chars().count() <= MAX_SAID {
        return out;
    }
    let mut cut: String = out.chars().take(MAX_SAID - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_descriptions_and_messages() {
        let s = PlatformSaid::read(br#"{"error":"invalid_grant","error_description":"x"}"#, &[]);
        assert_eq!(s.code.as_deref(), Some("invalid_grant"));
        assert_eq!(s.to_string(), ": invalid_grant: x");
        let s = PlatformSaid::read(br#"{"status":403,"message":"invalid client secret"}"#, &[]);
        assert_eq!((s.code, s.text.as_deref()), (None, Some("invalid client secret")));
        // Blaze: an `error` that is a phrase is shown, never taken for a code.
        let s = PlatformSaid::read(br#"{"statusCode":400,"error":"Bad Request","message":"no"}"#, &[]);
        assert_eq!((s.code, s.text.as_deref()), (None, Some("Bad Request: no")));
        let s = PlatformSaid::read(br#"{"error":{"message":"nested"}}"#, &[]);
        assert_eq!(s.text.as_deref(), Some("nested"));
        assert_eq!(
            PlatformSaid::read(b"<html>502</html>", &[]),
            PlatformSaid::default()
        );
        assert_eq!(PlatformSaid::read(b"{}", &[]).to_string(), "");
    }

    #[test]
    fn secrets_are_removed_before_the_cut() {
        let secret = "s3cr3t+value/x";
        let body = serde_json::json!({
            "error": "invalid_client",
            "error_description": format!(
                "client_secret={} does not match {secret}\n\u{1b}[31m{}",
                url::form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>(),
                "y".repeat(400),
            ),
        });
        let s = PlatformSaid::read(body.to_string().as_bytes(), &[secret, "ab"]);
        let text = s.text.unwrap();
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(
            text.starts_with("invalid_client: client_secret=[redacted] does not match [redacted] "),
            "{text}"
        );
        assert!(!text.contains('\u{1b}') && !text.contains('\n'), "{text}");
        assert_eq!(text.chars().count(), MAX_SAID);
    }
}
