//! Twitch requires apps to validate user tokens at start and hourly (`GET /oauth2/validate`,
//! `Authorization: OAuth <token>`). A 200 tells the token's real remaining lifetime; a 401
//! means the token is gone: refresh, and a refused refresh means a new login.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::AUTHORIZATION;
use serde::Deserialize;

use super::cell::{Status, TokenCell};
use super::client::PlatformClient;
use super::provider::Provider;
use super::token::Token;

pub const VALIDATE_EVERY: Duration = Duration::from_secs(3600);

#[derive(Deserialize)]
struct Validation {
    expires_in: Option<u64>,
}

/// Validates every user token of `provider` now and then every hour, for as long as the
/// provider lives (the task holds it weakly).
pub async fn keep_validating(provider: std::sync::Weak<Provider>) {
    loop {
        let Some(p) = provider.upgrade() else { return };
        for cell in p.users() {
            validate(&p.client, &cell).await;
        }
        drop(p);
        tokio::time::sleep(VALIDATE_EVERY).await;
    }
}

pub async fn validate(client: &PlatformClient, cell: &Arc<TokenCell>) {
    let Some(url) = client.config.endpoints.validate.clone() else {
        return;
    };
    // A refused grant is left alone until a new login: its token is not sent anywhere.
    if cell.status() == Status::NeedsLogin {
        return;
    }
    let Some(token) = cell.current().clone() else {
        return;
    };
    let header = format!("OAuth {}", token.access.secret());
    let resp = match client.http.get(url).header(AUTHORIZATION, header).send().await {
        Ok(r) => r,
        Err(e) => {
            let e = e.without_url();
            tracing::warn!(provider = %cell.provider, subject = %cell.subject, error = %e, "validation call failed");
            return;
        }
    };
    match resp.status().as_u16() {
        200 => {
            let Ok(v) = resp.json::<Validation>().await else {
                return;
            };
            let Some(secs) = v.expires_in else { return };
            // The platform's word on the remaining lifetime replaces our estimate.
            let mut adjusted = Token::clone(&token);
            adjusted.issued = Instant::now();
            adjusted.lifetime = Duration::from_secs(secs);
            adjusted.expires_at = SystemTime::now() + adjusted.lifetime;
            if adjusted.expires_at < token.expires_at || token.lifetime == super::schedule::DEFAULT_LIFETIME {
                cell.adjust(client, token.generation, adjusted).await;
            }
        }
        401 => {
            tracing::info!(provider = %cell.provider, subject = %cell.subject, "token no longer valid; refreshing");
            if let Err(e) = cell.refresh(client, Some(token.generation), false).await {
                tracing::warn!(provider = %cell.provider, subject = %cell.subject, error = %e, "refresh after failed validation failed");
            }
        }
        status => {
            tracing::warn!(provider = %cell.provider, subject = %cell.subject, status, "unexpected validation answer")
        }
    }
}
