//! The login flow's platform side: where to send the browser (per platform), the pending
//! logins keyed by their single-use `state`, and the code exchange that ends in a stored
//! user token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;
use url::Url;

use super::client::PlatformClient;
use super::dialect::Grant;
use super::error::{CallFailure, TokenError};
use super::pkce;
use super::said::PlatformSaid;
use super::token::Token;
use crate::config::Kind;
use crate::secret::{AuthorizationCode, CodeVerifier};

/// How long a login may take between the redirect and the callback.
pub const STATE_TTL: Duration = Duration::from_secs(600);
/// Bounds the memory that unfinished logins can take.
const MAX_PENDING: usize = 1024;
/// Blaze applies no default scopes; these are the chat-bot set its documents name.
const BLAZE_DEFAULT_SCOPES: [&str; 4] = ["users.read", "offline.access", "channel.moderate", "users.bot"];

#[derive(Debug)]
pub struct Pending {
    pub provider: String,
    pub user: String,
    pub verifier: Option<CodeVerifier>,
    created: Instant,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("this provider has no authorization endpoint; set authorize_url")]
    NoAuthorizeUrl,
    #[error("the platform could not start the login: {0}")]
    Start(#[source] TokenError),
}

/// Why a callback's `state` is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateRefusal {
    Unknown,
    Expired,
}

/// Unfinished logins by `state`. Touched only by the login pages, never by proxied requests.
#[derive(Default)]
pub struct PendingLogins {
    map: Mutex<HashMap<String, Pending>>,
}

impl PendingLogins {
    pub fn insert(&self, state: String, provider: &str, user: &str, verifier: Option<CodeVerifier>) {
        self.insert_at(state, provider, user, verifier, Instant::now());
    }

    fn insert_at(
        &self,
        state: String,
        provider: &str,
        user: &str,
        verifier: Option<CodeVerifier>,
        now: Instant,
    ) {
        let Ok(mut map) = self.map.lock() else { return };
        map.retain(|_, p| now.duration_since(p.created) < STATE_TTL);
        if map.len() >= MAX_PENDING {
            if let Some(oldest) = map.iter().min_by_key(|(_, p)| p.created).map(|(k, _)| k.clone()) {
                map.remove(&oldest);
            }
        }
        let pending = Pending {
            provider: provider.into(),
            user: user.into(),
            verifier,
            created: now,
        };
        map.insert(state, pending);
    }

    /// Takes the login of `state`: each state is good once, and for `STATE_TTL`.
    pub fn take(&self, state: &str) -> Result<Pending, StateRefusal> {
        self.take_at(state, Instant::now())
    }

    fn take_at(&self, state: &str, now: Instant) -> Result<Pending, StateRefusal> {
        let pending = self
            .map
            .lock()
            .ok()
            .and_then(|mut m| m.remove(state))
            .ok_or(StateRefusal::Unknown)?;
        if now.duration_since(pending.created) >= STATE_TTL {
            return Err(StateRefusal::Expired);
        }
        Ok(pending)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlazeAuthUrl {
    url: String,
    state: String,
    code_verifier: String,
}

/// Starts a login of `user`: records the pending state and returns where the browser goes.
pub async fn begin(client: &PlatformClient, pending: &PendingLogins, user: &str) -> Result<Url, LoginError> {
    let config = &client.config;
    let authorize = config
        .endpoints
        .authorize
        .clone()
        .ok_or(LoginError::NoAuthorizeUrl)?;
    if config.kind == Kind::Blaze {
        let scopes: Vec<&str> = if config.scopes.is_empty() {
            BLAZE_DEFAULT_SCOPES.to_vec()
        } else {
            config.scopes.iter().map(String::as_str).collect()
        };
        let body = serde_json::json!({
            "clientId": config.client_id,
            "clientSecret": config.client_secret.secret(),
            "redirectUri": config.redirect_uri,
            "scopes": scopes,
        });
        let secret = config.client_secret.secret();
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
        pending.insert(answer.state, &config.name, user, Some(verifier));
        return Ok(url);
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
    pending.insert(state, &config.name, user, verifier);
    Ok(url)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_is_good_once() {
        let p = PendingLogins::default();
        p.insert("s1".into(), "twitch", "alice", None);
        let got = p.take("s1").unwrap();
        assert_eq!((got.provider.as_str(), got.user.as_str()), ("twitch", "alice"));
        assert_eq!(p.take("s1").unwrap_err(), StateRefusal::Unknown);
        assert_eq!(p.take("forged").unwrap_err(), StateRefusal::Unknown);
    }

    #[test]
    fn a_state_expires_after_ten_minutes() {
        let p = PendingLogins::default();
        let then = Instant::now();
        p.insert_at("s".into(), "twitch", "a", None, then);
        assert_eq!(
            p.take_at("s", then + STATE_TTL).unwrap_err(),
            StateRefusal::Expired
        );
        p.insert_at("t".into(), "twitch", "a", None, then);
        assert!(p.take_at("t", then + STATE_TTL - Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn unfinished_logins_are_bounded() {
        let p = PendingLogins::default();
        for i in 0..(MAX_PENDING + 10) {
            p.insert(format!("s{i}"), "twitch", "a", None);
        }
        assert!(p.map.lock().unwrap().len() <= MAX_PENDING);
    }
}
