//! What a token file holds, per `format`: the bare access token, IRC's `oauth:TOKEN`, or a
//! JSON object with the expiry and scopes for clients that want to know when to re-read.

use serde_json::json;

use crate::config::TokenFileFormat;
use crate::oauth::Token;

/// The file's content for `token`. Holds the secret: it goes nowhere but into the file.
pub fn content(format: TokenFileFormat, token: &Token) -> Vec<u8> {
    let access = token.access.secret();
    match format {
        TokenFileFormat::Token => access.as_bytes().to_vec(),
        TokenFileFormat::Irc => format!("oauth:{access}").into_bytes(),
        TokenFileFormat::Json => {
            let value = json!({
                "access_token": access,
                "expires_at": humantime::format_rfc3339_seconds(token.expires_at).to_string(),
                "scopes": token.scopes,
            });
            let mut bytes = value.to_string().into_bytes();
            bytes.push(b'\n');
            bytes
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::Answer;
    use crate::secret::AccessToken;
    use std::time::{Duration, Instant, UNIX_EPOCH};

    #[test]
    fn each_format_holds_the_token_as_its_clients_read_it() {
        let answer = Answer {
            access: AccessToken::new("abc123"),
            refresh: None,
            lifetime: Some(Duration::from_secs(60)),
            refresh_lifetime: None,
            scopes: vec!["chat:read".into(), "chat:edit".into()],
            user_id: None,
        };
        let token = Token::from_answer(answer, Instant::now(), UNIX_EPOCH, 1);
        assert_eq!(content(TokenFileFormat::Token, &token), b"abc123");
        assert_eq!(content(TokenFileFormat::Irc, &token), b"oauth:abc123");
        let json: serde_json::Value =
            serde_json::from_slice(&content(TokenFileFormat::Json, &token)).unwrap();
        assert_eq!(
            json,
            json!({"access_token": "abc123", "expires_at": "1970-01-01T00:01:00Z", "scopes": ["chat:read", "chat:edit"]})
        );
    }
}
