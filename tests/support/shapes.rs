//! The JSON each platform answers with: token answers, refusals and errors,
//! field for field as the platform documents show them.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::kind::Kind;
use super::token::Issued;

/// The name of the access-token field in a kind's token answer.
pub fn access_field(kind: Kind) -> &'static str {
    match kind {
        Kind::Blaze => "accessToken",
        _ => "access_token",
    }
}

/// The successful answer to a token call of `grant_type`.
pub fn token_answer(kind: Kind, issued: &Issued, grant_type: &str) -> Value {
    let app = grant_type == "client_credentials";
    let i = issued;
    let mut v = match kind {
        Kind::Twitch if app => json!({
            "access_token": i.access_token,
            "expires_in": i.expires_in,
            "token_type": "bearer",
        }),
        Kind::Twitch => json!({
            "access_token": i.access_token,
            "refresh_token": i.refresh_token,
            "expires_in": i.expires_in,
            "scope": i.scopes,
            "token_type": "bearer",
        }),
        Kind::Blaze if app => json!({
            "type": "app",
            "tokenType": "Bearer",
            "accessToken": i.access_token,
            "expiresIn": i.expires_in,
        }),
        Kind::Blaze if grant_type == "authorization_code" => json!({
            "type": "user",
            "userId": i.user_id,
            "tokenType": "Bearer",
            "refreshToken": i.refresh_token,
            "accessToken": i.access_token,
            "expiresIn": i.expires_in,
            "scopes": i.scopes,
        }),
        Kind::Blaze => json!({
            "tokenType": "Bearer",
            "accessToken": i.access_token,
            "refreshToken": i.refresh_token,
            "expiresIn": i.expires_in,
            "scopes": i.scopes,
        }),
        Kind::Glimesh => json!({
            "access_token": i.access_token,
            "created_at": timestamp(i.created_at, false),
            "expires_in": i.expires_in,
            "refresh_token": i.refresh_token,
            "scope": i.scopes.join(" "),
            "token_type": "bearer",
        }),
        Kind::Firework => json!({
            "refresh_token": i.refresh_token,
            "scope": i.scopes.join(" "),
            "access_token": i.access_token,
            "token_type": "bearer",
            "created_at": timestamp(i.created_at, true),
            "refresh_token_expires_in": i.refresh_expires_in,
            "token_expires_in": i.expires_in,
        }),
        Kind::StreamerSonglist => json!({
            "access_token": i.access_token,
            "refresh_token": i.refresh_token,
            "expires_in": i.expires_in,
            "scope": i.scopes,
            "token_type": "Bearer",
        }),
        Kind::OAuth2 { .. } => json!({
            "access_token": i.access_token,
            "token_type": "Bearer",
            "expires_in": i.expires_in,
            "refresh_token": i.refresh_token,
            "scope": i.scopes.join(" "),
        }),
    };
    // Fields with no value are left out rather than sent as null; oauth2
    // leaves out an empty scope (RFC 6749 section 5.1).
    if let Value::Object(map) = &mut v {
        let oauth2 = matches!(kind, Kind::OAuth2 { .. });
        map.retain(|_, field| !(field.is_null() || (oauth2 && *field == "")));
    }
    v
}

/// The 400 answer to a malformed request.
pub fn malformed(kind: Kind, reason: &str) -> Value {
    match kind {
        Kind::Twitch => json!({"status": 400, "message": reason}),
        Kind::Blaze => json!({"statusCode": 400, "error": "Bad Request", "message": reason}),
        _ => json!({"error": "invalid_request", "error_description": reason}),
    }
}

/// The 400 answer to a well-formed request whose code or refresh token is no good.
pub fn refused(kind: Kind, grant_type: &str, reason: &str) -> Value {
    match kind {
        Kind::Twitch if grant_type == "refresh_token" => {
            json!({"status": 400, "message": "Invalid refresh token"})
        }
        Kind::Twitch => json!({"status": 400, "message": "Invalid authorization code"}),
        Kind::Blaze => json!({"statusCode": 400, "error": "Bad Request", "message": reason}),
        _ => json!({"error": "invalid_grant", "error_description": reason}),
    }
}

/// The body sent with `Failure::Status(status)`.
pub fn failure(kind: Kind, status: u16) -> Value {
    let code = match status {
        400 => "invalid_grant",
        401 => "invalid_client",
        503 => "temporarily_unavailable",
        _ => "server_error",
    };
    match kind {
        Kind::Twitch => json!({"status": status, "message": "fake failure"}),
        Kind::Blaze => json!({"statusCode": status, "message": "fake failure"}),
        _ => json!({"error": code, "error_description": "fake failure"}),
    }
}

/// ISO 8601 in UTC: "2021-01-21T00:05:31Z" (firework) or, without the zone,
/// "2020-12-14T15:15:29" (glimesh).
pub fn timestamp(at: SystemTime, zulu: bool) -> String {
    let secs = at.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        if zulu { "Z" } else { "" }
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}
