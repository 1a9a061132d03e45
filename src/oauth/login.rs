//! The login flow's platform side: where to send the browser (per platform), and the code
//! exchange that ends in a stored user token. The pending logins are in `pending`.

use std::time::{Instant, SystemTime};

use serde::Deserialize;
use url::Url;

use super::client::PlatformClient;
use super::dialect::Grant;
use super::error::{CallFailure, TokenError};
use super::pkce;
use super::said::PlatformSaid;
use super::token::Token;
use crate::config::Kind;
use crate::secret::{AuthorizationCode, CodeVerifier, LoginBinding};

pub use super::pending::{
    InsertRefusal, Logins, Pending, PendingLogins, StateRefusal, TooManyLogins, MAX_PENDING_PER_PROVIDER,
    STATE_TTL,
};

/// Blaze applies no default scopes; these are the chat-bot set its documents name.
const BLAZE_DEFAULT_SCOPES: [&str; 4] = ["users.read", "offline.access", "channel.moderate", "users.bot"];

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("this provider has no authorization endpoint; set authorize_url")]
    NoAuthorizeUrl,
    #[error("this provider has too many unfinished logins")]
    TooMany,
    #[error("the platform could not start the login: {0}")]
    Start(#[source] TokenError),
    #[error("{0}")]
    Store(#[source] crate::store::StoreError),
}

impl From<InsertRefusal> for LoginError {
    fn from(r: InsertRefusal) -> Self {
        match r {
            InsertRefusal::TooMany => LoginError::TooMany,
            InsertRefusal::Store(e) => LoginError::Store(e),
        }
    }
}

/// A started login: where the browser goes, and what it must bring back to the callback.
pub struct Started {
    pub url: Url,
    pub state: String,
    pub binding: LoginBinding,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlazeAuthUrl {
    url: String,
    state: String,
    code_verifier: String,
}

/// Starts a login of `user`: records the pending state and returns where the browser goes.
pub async fn begin(client: &PlatformClient, pending: &Logins, user: &str) -> Result<Started, LoginError> {
    let config = &client.config;
    let authorize = config
        .endpoints
        .authorize
        .clone()
        .ok_or(LoginError::NoAuthorizeUrl)?;
    if !pending.has_room(&config.name).await.map_err(LoginError::Store)? {
        return Err(LoginError::TooMany);
    }
    if config.kind == Kind::Blaze {
        let scopes: Vec<&str> = if config.scopes.is_empty() {
            BLAZE_DEFAULT_SCOPES.to_vec()
        } else {
            config.scopes.iter().map(String::as_str).collect()
        };
        let body = serde_json::json!({
            "clientId": config.client_id,
            "clientSecret": config.secret(),
            "redirectUri": config.redirect_uri,
            "scopes": scopes,
        });
        let secret = config.secret();
        let failed = |failure| LoginError::Start(TokenError::call(&authorize, failure));
        let resp = client.http.post(authorize.clone()).json(&body).send().await;
        let resp = resp.map_err(|e| failed(CallFailure::from_reqwest(e)))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| failed(CallFailure::from_reqwest(e)))?;
        if !(200..300).contains(&status) {
            let said = PlatformSaid::read(&bytes, &[secret]);
            return Err(failed(CallFailure::Server { status, said }));
        }
        let malformed = || {
            failed(CallFailure::Malformed(
                "the generate-auth-url answer has no url, state and codeVerifier",
            ))
        };
        let answer: BlazeAuthUrl = serde_json::from_slice(&bytes).map_err(|_| malformed())?;
        let url = Url::parse(&answer.url).map_err(|_| malformed())?;
        let verifier = CodeVerifier::new(answer.code_verifier);
        let binding = pending
            .insert(answer.state.clone(), &config.name, user, Some(verifier))
            .await?;
        return Ok(Started {
            url,
            state: answer.state,
            binding,
        });
    }
    let state = pkce::random_token();
    let mut url = authorize;
    let verifier = (config.kind == Kind::OAuth2).then(pkce::verifier);
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code");
        q.append_pair("client_id", &config.client_id);
        q.append_pair("redirect_uri", &config.redirect_uri);
        match config.kind {
            Kind::Firework => {
                q.append_pair("scope", "openid");
            }
            kind => {
                let scope = config.scopes.join(kind.scope_separator());
                if !scope.is_empty() || matches!(kind, Kind::Twitch | Kind::StreamerSonglist) {
                    q.append_pair("scope", &scope);
                }
            }
        }
        q.append_pair("state", &state);
        if let Some(v) = &verifier {
            q.append_pair("code_challenge", &pkce::challenge(v));
            q.append_pair("code_challenge_method", "S256");
        }
        for (k, v) in &config.authorize_params {
            q.append_pair(k, v);
        }
    }
    let binding = pending
        .insert(state.clone(), &config.name, user, verifier)
        .await?;
    Ok(Started { url, state, binding })
}

/// Exchanges a callback's code for a token (not yet stored or installed).
pub async fn exchange(
    client: &PlatformClient,
    code: AuthorizationCode,
    pending: &Pending,
) -> Result<Token, TokenError> {
    let sent = Instant::now();
    let sent_wall = SystemTime::now();
    let grant = Grant::AuthorizationCode {
        code: &code,
        redirect_uri: &client.config.redirect_uri,
        verifier: pending.verifier.as_ref(),
    };
    let answer = client.grant(grant).await?;
    Ok(Token::from_answer(answer, sent, sent_wall, 0))
}
