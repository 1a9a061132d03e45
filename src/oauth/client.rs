//! Sends token calls to one provider's endpoints and reads the answers, bounded in size and
//! time; every call is counted in `token_sidecar_token_requests_total`.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};

use super::answer::{self, Answer};
use super::dialect::{token_request, Encoding, Grant, TokenRequest};
use super::error::{CallFailure, TokenError};
use super::said::PlatformSaid;
use crate::config::ProviderConfig;
use crate::metrics::Metrics;
use crate::store::{Expect, Saved, StoreError, StoredToken, TokenStore};

/// How long a public client's refresh token lasts unused (Twitch: 30 days).
pub const PUBLIC_REFRESH_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// Token answers are small; anything larger is refused rather than buffered.
const MAX_ANSWER: usize = 64 * 1024;

/// A provider's link to the outside: its platform's endpoints, and the store that must hold
/// every token answer before the token is used.
pub struct PlatformClient {
    pub config: Arc<ProviderConfig>,
    pub http: reqwest::Client,
    pub store: Arc<dyn TokenStore>,
    /// (connect, call) timeouts the HTTP client was built with.
    pub timeouts: (Duration, Duration),
    metrics: Arc<Metrics>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client for provider {provider}: {reason}")]
pub struct ClientBuildError {
    pub provider: String,
    pub reason: String,
}

impl PlatformClient {
    pub fn new(
        config: Arc<ProviderConfig>,
        connect_timeout: Duration,
        call_timeout: Duration,
        metrics: Arc<Metrics>,
        store: Arc<dyn TokenStore>,
    ) -> Result<Self, ClientBuildError> {
        let err = |reason: String| ClientBuildError {
            provider: config.name.clone(),
            reason,
        };
        let mut builder = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(call_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("token-sidecar/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|e| err(format!("ca_file {}: {e}", path.display())))?;
            for cert in
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| err(format!("ca_file: {e}")))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|e| err(e.to_string()))?;
        Ok(PlatformClient {
            config,
            http,
            store,
            timeouts: (connect_timeout, call_timeout),
            metrics,
        })
    }

    /// Calls the token (or refresh) endpoint with `grant` and reads the answer.
    pub async fn grant(&self, grant: Grant<'_>) -> Result<Answer, TokenError> {
        let result = self
            .send(token_request(&self.config, grant))
            .await
            .map(|answer| self.public_refresh_lifetime(answer));
        self.count(grant.label(), if result.is_ok() { "success" } else { "failure" });
        // The caller logs a failure once, with what it decided (retry at, needs_login).
        match &result {
            Ok(_) => {
                tracing::debug!(provider = %self.config.name, grant = grant.label(), "token call succeeded")
            }
            Err(e) => {
                tracing::debug!(provider = %self.config.name, grant = grant.label(), error = %e, "token call failed")
            }
        }
        result
    }

    /// A public client's refresh tokens lapse after some time unused (Twitch: 30 days) and
    /// its answers do not say so: the lapse is assumed, so the refresher renews the grant
    /// before it (as for Firework's `refresh_token_expires_in`).
    pub(super) fn public_refresh_lifetime(&self, mut answer: Answer) -> Answer {
        if self.config.is_public() && answer.refresh.is_some() && answer.refresh_lifetime.is_none() {
            answer.refresh_lifetime = Some(PUBLIC_REFRESH_LIFETIME);
        }
        answer
    }

    /// Writes `stored` if the stored token is `expect`; resolves once it is durable. A
    /// conflict with a write of this very token (an earlier attempt whose answer was lost)
    /// is its success. The store retries a failed write itself and counts each failure.
    pub async fn save(&self, stored: StoredToken, expect: Expect) -> Result<Saved, StoreError> {
        match self.store.save(stored.clone(), expect).await? {
            Saved::Conflict => {
                let now = self.store.load_one(&stored.provider, &stored.subject).await?;
                Ok(match now {
                    Some(now) if now.token == stored => Saved::Stored(now.version),
                    _ => Saved::Conflict,
                })
            }
            saved => Ok(saved),
        }
    }

    async fn send(&self, req: TokenRequest) -> Result<Answer, TokenError> {
        let (status, body) = self.call(&req).await?;
        let secrets = self.secrets(&req);
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        classify(status, &body, &secrets).map_err(|failure| TokenError::call(&req.url, failure))
    }

    /// Every secret `req` carries, the client secret included: what must never be shown
    /// of what the platform answers.
    pub(super) fn secrets(&self, req: &TokenRequest) -> Vec<String> {
        let mut secrets = req.secrets();
        secrets.extend(self.config.client_secret.as_ref().map(|s| s.secret().to_string()));
        secrets
    }

    /// Counts one call in `token_sidecar_token_requests_total`.
    pub(super) fn count(&self, grant: &str, result: &str) {
        self.metrics
            .token_requests
            .with_label_values(&[&self.config.name, grant, result])
            .inc();
    }

    /// Sends `req` and reads the answer's status and body (bounded), whatever the status.
    pub(super) async fn call(&self, req: &TokenRequest) -> Result<(u16, Vec<u8>), TokenError> {
        let at = |failure| TokenError::call(&req.url, failure);
        let mut url = req.url.clone();
        let mut builder = match req.encoding {
            Encoding::Query => {
                url.query_pairs_mut()
                    .extend_pairs(req.fields.iter().map(|(k, v)| (*k, v.as_str())));
                self.http.post(url)
            }
            Encoding::Form => {
                let body = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(req.fields.iter().map(|(k, v)| (*k, v.as_str())))
                    .finish();
                self.http
                    .post(url)
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body)
            }
            Encoding::Json => {
                let map: serde_json::Map<String, serde_json::Value> = req
                    .fields
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.as_str().into()))
                    .collect();
                self.http.post(url).json(&map)
            }
        };
        if let Some((user, pass)) = &req.basic {
            builder = builder.basic_auth(form_encode(user), Some(form_encode(pass)));
        }
        let resp = builder
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| at(CallFailure::from_reqwest(e)))?;
        let status = resp.status().as_u16();
        let body = read_capped(resp).await.map_err(at)?;
        Ok((status, body))
    }
}

/// RFC 6749 §2.3.1: client credentials are form-encoded before Basic encoding.
pub(super) fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn read_capped(mut resp: reqwest::Response) -> Result<Vec<u8>, CallFailure> {
    if resp.content_length().is_some_and(|n| n > MAX_ANSWER as u64) {
        return Err(CallFailure::Malformed("the answer is too large"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(CallFailure::from_reqwest)? {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(CallFailure::Malformed("the answer is too large"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Maps an answer to its meaning: 2xx parses, 400/401 or `invalid_grant` is a refusal,
/// anything else is a server failure worth retrying. What the platform said comes along,
/// with `secrets` (those the call carried) removed.
pub fn classify(status: u16, body: &[u8], secrets: &[&str]) -> Result<Answer, CallFailure> {
    if (200..300).contains(&status) {
        return answer::parse(body);
    }
    let said = PlatformSaid::read(body, secrets);
    match status {
        400 | 401 => Err(CallFailure::Rejected { status, said }),
        _ if said.code.as_deref() == Some("invalid_grant") => Err(CallFailure::Rejected { status, said }),
        _ => Err(CallFailure::Server { status, said }),
    }
}
