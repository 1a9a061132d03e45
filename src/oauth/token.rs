//! A held token: the answer, stamped with when it was asked for, and the header value the
//! request path injects, built once here rather than on every request.

use std::time::{Duration, Instant, SystemTime};

use http::HeaderValue;

use super::answer::Answer;
use super::schedule::DEFAULT_LIFETIME;
use crate::secret::{AccessToken, RefreshToken};

pub struct Token {
    pub access: AccessToken,
    /// `Bearer <access>`, marked sensitive.
    pub authorization: HeaderValue,
    pub refresh: Option<RefreshToken>,
    pub scopes: Vec<String>,
    pub user_id: Option<String>,
    /// When the call that produced it was sent: lifetimes count from here.
    pub issued: Instant,
    pub lifetime: Duration,
    /// Wall-clock expiry, for the admin API, the store and metrics.
    pub expires_at: SystemTime,
    pub refresh_expires_at: Option<SystemTime>,
    /// Distinguishes this token from the one it replaced, so a 401 refreshes only once.
    pub generation: u64,
}

impl Token {
    /// Stamps an answer to a call sent at `sent` (monotonic) / `sent_wall` (wall clock).
    pub fn from_answer(answer: Answer, sent: Instant, sent_wall: SystemTime, generation: u64) -> Token {
        let lifetime = answer.lifetime.unwrap_or(DEFAULT_LIFETIME);
        let mut authorization = HeaderValue::try_from(format!("Bearer {}", answer.access.secret()))
            .unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
        authorization.set_sensitive(true);
        Token {
            authorization,
            access: answer.access,
            refresh: answer.refresh,
            scopes: answer.scopes,
            user_id: answer.user_id,
            issued: sent,
            lifetime,
            expires_at: sent_wall + lifetime,
            refresh_expires_at: answer.refresh_lifetime.map(|l| sent_wall + l),
            generation,
        }
    }

    /// Whether it may still be injected at `now`.
    pub fn is_fresh(&self, now: Instant) -> bool {
        now < self.issued + self.lifetime
    }

    pub fn deadline(&self) -> Instant {
        self.issued + self.lifetime
    }
}
