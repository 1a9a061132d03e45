//! Revoking a grant at the platform, where the platform has a revoke endpoint: Twitch's
//! (`client_id` and `token`, form; its documents take an access token only, and answer 400
//! "Invalid token" to anything else) and RFC 7009's for `oauth2` (`token`,
//! `token_type_hint`, client authentication as for the token endpoint).

use reqwest::header::CONTENT_TYPE;

use super::client::{form_encode, PlatformClient};
use super::token::Token;
use crate::config::{ClientAuth, Kind};

/// Revokes the refresh token (RFC 7009 §2.1: which ends the grant's access tokens too), then
/// the access token; at Twitch, the access token only, the one token its endpoint takes.
/// `Some(true)` when the platform confirmed each, `Some(false)` when it did not, `None` when
/// it has no revoke endpoint.
pub async fn revoke(client: &PlatformClient, token: &Token) -> Option<bool> {
    let url = client.config.endpoints.revoke.clone()?;
    let mut confirmed = true;
    let refresh = token
        .refresh
        .as_ref()
        .filter(|_| client.config.kind != Kind::Twitch);
    let secrets = refresh
        .map(|r| (r.secret(), "refresh_token"))
        .into_iter()
        .chain([(token.access.secret(), "access_token")]);
    for (value, hint) in secrets {
        let config = &client.config;
        let mut request = client.http.post(url.clone());
        if let (false, ClientAuth::Basic, Some(secret)) = (
            config.kind == Kind::Twitch,
            config.client_auth,
            &config.client_secret,
        ) {
            // Encoded as for the token endpoint (RFC 6749 §2.3.1: form-encoded, then Basic).
            request = request.basic_auth(form_encode(&config.client_id), Some(form_encode(secret.secret())));
        }
        let body = form_body(client, value, hint);
        let sent = request
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await;
        let ok = sent.as_ref().is_ok_and(|r| r.status().is_success());
        if !ok {
            tracing::warn!(provider = %config.name, hint, status = ?sent.map(|r| r.status().as_u16()).ok(), "revocation not confirmed");
        }
        confirmed &= ok;
    }
    Some(confirmed)
}

fn form_body(client: &PlatformClient, value: &str, hint: &str) -> String {
    let config = &client.config;
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    if config.kind == Kind::Twitch {
        form.append_pair("client_id", &config.client_id)
            .append_pair("token", value);
    } else {
        form.append_pair("token", value)
            .append_pair("token_type_hint", hint);
        match (&config.client_secret, config.client_auth) {
            (Some(_), ClientAuth::Basic) => {}
            (Some(secret), ClientAuth::Body) => {
                form.append_pair("client_id", &config.client_id)
                    .append_pair("client_secret", secret.secret());
            }
            // A public client names itself (RFC 7009 §2.1, RFC 6749 §2.3).
            (None, _) => {
                form.append_pair("client_id", &config.client_id);
            }
        }
    }
    form.finish()
}
