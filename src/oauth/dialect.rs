//! How each platform wants its token calls written: which endpoint, which encoding, which
//! field names. Pure: builds a `TokenRequest` that `client.rs` sends.

use url::Url;

use crate::config::{ClientAuth, Kind, ProviderConfig};
use crate::secret::{AuthorizationCode, CodeVerifier, RefreshToken};

#[derive(Clone, Copy)]
pub enum Grant<'a> {
    ClientCredentials,
    AuthorizationCode {
        code: &'a AuthorizationCode,
        redirect_uri: &'a str,
        verifier: Option<&'a CodeVerifier>,
    },
    Refresh(&'a RefreshToken),
}

impl Grant<'_> {
    /// The `grant` label of `token_sidecar_token_requests_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Grant::ClientCredentials => "client_credentials",
            Grant::AuthorizationCode { .. } => "authorization_code",
            Grant::Refresh(_) => "refresh_token",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-www-form-urlencoded` body.
    Form,
    /// Parameters in the query string of a POST with no body (Glimesh, Firework).
    Query,
    /// A JSON object of strings (Blaze; the names are already camelCase).
    Json,
}

/// One call to a token endpoint. Holds secrets, so it has no `Debug`.
pub struct TokenRequest {
    pub url: Url,
    pub encoding: Encoding,
    pub fields: Vec<(&'static str, String)>,
    /// HTTP Basic credentials, for oauth2 with `client_auth = "basic"`.
    pub basic: Option<(String, String)>,
}

/// The fields whose values are secrets, in every platform's spelling.
const SECRET_FIELDS: [&str; 8] = [
    "client_secret",
    "device_code",
    "clientSecret",
    "code",
    "code_verifier",
    "codeVerifier",
    "refresh_token",
    "refreshToken",
];

impl TokenRequest {
    /// Every secret this call carries, so that nothing the platform echoes back of them is
    /// ever shown.
    pub fn secrets(&self) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(k, _)| SECRET_FIELDS.contains(k))
            .map(|(_, v)| v.clone())
            .chain(self.basic.iter().map(|(_, pass)| pass.clone()))
            .collect()
    }
}

pub fn token_request(p: &ProviderConfig, grant: Grant<'_>) -> TokenRequest {
    match p.kind {
        Kind::Blaze => blaze(p, grant),
        Kind::Firework => firework(p, grant),
        _ => standard(p, grant),
    }
}

fn blaze(p: &ProviderConfig, grant: Grant<'_>) -> TokenRequest {
    let mut fields = vec![
        ("clientId", p.client_id.clone()),
        ("clientSecret", p.secret().to_string()),
    ];
    let url = match grant {
        Grant::ClientCredentials => {
            fields.push(("grantType", "client_credentials".into()));
            p.endpoints.token.clone()
        }
        Grant::AuthorizationCode {
            code,
            redirect_uri,
            verifier,
        } => {
            fields.push(("code", code.secret().into()));
            fields.push((
                "codeVerifier",
                verifier.map(|v| v.secret().to_string()).unwrap_or_default(),
            ));
            fields.push(("redirectUri", redirect_uri.into()));
            fields.push(("grantType", "authorization_code".into()));
            p.endpoints.token.clone()
        }
        Grant::Refresh(rt) => {
            fields.push(("refreshToken", rt.secret().into()));
            p.endpoints.refresh.clone()
        }
    };
    TokenRequest {
        url,
        encoding: Encoding::Json,
        fields,
        basic: None,
    }
}

/// Firework: query-string parameters; a refresh carries `redirect_uri` and no client secret.
fn firework(p: &ProviderConfig, grant: Grant<'_>) -> TokenRequest {
    let mut fields = Vec::new();
    let url = match grant {
        // Refused by validation (no app routes for firework); kept total for safety.
        Grant::ClientCredentials => {
            fields.push(("grant_type", "client_credentials".into()));
            fields.push(("client_id", p.client_id.clone()));
            fields.push(("client_secret", p.secret().into()));
            p.endpoints.token.clone()
        }
        Grant::AuthorizationCode {
            code, redirect_uri, ..
        } => {
            fields.push(("grant_type", "authorization_code".into()));
            fields.push(("redirect_uri", redirect_uri.into()));
            fields.push(("client_id", p.client_id.clone()));
            fields.push(("client_secret", p.secret().into()));
            fields.push(("code", code.secret().into()));
            p.endpoints.token.clone()
        }
        Grant::Refresh(rt) => {
            fields.push(("grant_type", "refresh_token".into()));
            fields.push(("redirect_uri", p.redirect_uri.clone()));
            fields.push(("client_id", p.client_id.clone()));
            fields.push(("refresh_token", rt.secret().into()));
            p.endpoints.refresh.clone()
        }
    };
    TokenRequest {
        url,
        encoding: Encoding::Query,
        fields,
        basic: None,
    }
}

/// Twitch, Glimesh, StreamerSonglist and plain oauth2: RFC 6749 names, form or query.
fn standard(p: &ProviderConfig, grant: Grant<'_>) -> TokenRequest {
    let encoding = if p.kind == Kind::Glimesh {
        Encoding::Query
    } else {
        Encoding::Form
    };
    let mut fields = Vec::new();
    let url = match grant {
        Grant::ClientCredentials => {
            fields.push(("grant_type", "client_credentials".into()));
            // StreamerSonglist requires `scope` even when empty; elsewhere it is optional.
            if p.kind == Kind::StreamerSonglist || !p.app_scopes.is_empty() {
                fields.push(("scope", p.app_scopes.join(p.kind.scope_separator())));
            }
            p.endpoints.token.clone()
        }
        Grant::AuthorizationCode {
            code,
            redirect_uri,
            verifier,
        } => {
            fields.push(("grant_type", "authorization_code".into()));
            fields.push(("code", code.secret().into()));
            fields.push(("redirect_uri", redirect_uri.into()));
            if let Some(v) = verifier {
                fields.push(("code_verifier", v.secret().into()));
            }
            p.endpoints.token.clone()
        }
        Grant::Refresh(rt) => {
            fields.push(("grant_type", "refresh_token".into()));
            fields.push(("refresh_token", rt.secret().into()));
            p.endpoints.refresh.clone()
        }
    };
    let basic = client_auth(p, &mut fields);
    TokenRequest {
        url,
        encoding,
        fields,
        basic,
    }
}

/// Authenticates the client as the provider says: HTTP Basic, or `client_id` and
/// `client_secret` in the fields; a public client only names itself (RFC 6749 §2.3, §3.2.1).
pub(super) fn client_auth(
    p: &ProviderConfig,
    fields: &mut Vec<(&'static str, String)>,
) -> Option<(String, String)> {
    match (&p.client_secret, p.client_auth) {
        (Some(secret), ClientAuth::Basic) => Some((p.client_id.clone(), secret.secret().to_string())),
        (secret, _) => {
            fields.push(("client_id", p.client_id.clone()));
            if let Some(secret) = secret {
                fields.push(("client_secret", secret.secret().into()));
            }
            None
        }
    }
}
