//! A held token: the answer, stamped with when it was asked for, and the header value the
//! request path injects, built once here rather than on every request.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::HeaderValue;

use super::answer::Answer;
use super::cell::TokenKind;
use super::schedule::DEFAULT_LIFETIME;
use crate::secret::{AccessToken, RefreshToken};
use crate::store::{StoredToken, Versioned};

#[derive(Clone)]
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
    /// The store's version of this token; for one not stored (yet), the version of the
    /// token it was obtained from (0: none). A stored token with a higher version is newer.
    pub version: u64,
    /// Whether the store holds this very token.
    pub saved: bool,
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
            version: 0,
            saved: false,
        }
    }

    /// Whether it may still be injected at `now`.
    pub fn is_fresh(&self, now: Instant) -> bool {
        now < self.issued + self.lifetime
    }

    /// The same token under another generation number (for the slot it is installed in).
    pub fn renumbered(mut self, generation: u64) -> Token {
        self.generation = generation;
        self
    }

    pub fn deadline(&self) -> Instant {
        self.issued + self.lifetime
    }

    pub fn to_stored(
        &self,
        provider: &str,
        subject: &str,
        kind: TokenKind,
        refused: Option<&str>,
    ) -> StoredToken {
        let issued_wall = self.expires_at.checked_sub(self.lifetime).unwrap_or(UNIX_EPOCH);
        StoredToken {
            provider: provider.to_string(),
            subject: subject.to_string(),
            kind: kind.as_str().to_string(),
            access_token: self.access.clone(),
            refresh_token: self.refresh.clone(),
            issued_at: unix(issued_wall),
            lifetime: self.lifetime.as_secs_f64(),
            refresh_expires_at: self.refresh_expires_at.map(unix),
            scopes: self.scopes.clone(),
            user_id: self.user_id.clone(),
            needs_login: refused.is_some(),
            refused: refused.map(str::to_string),
        }
    }

    /// Rebuilds a stored token with its version (see `from_stored`).
    pub fn from_versioned(v: &Versioned, generation: u64) -> Option<Token> {
        let mut token = Token::from_stored(&v.token, generation)?;
        token.version = v.version;
        token.saved = true;
        Some(token)
    }

    /// The same token, obtained from (not yet stored over) the token of `version`.
    pub fn based_on(mut self, version: u64) -> Token {
        self.version = version;
        self.saved = false;
        self
    }

    /// The same token as stored under `version`.
    pub fn stored_as(mut self, version: u64) -> Token {
        self.version = version;
        self.saved = true;
        self
    }

    /// Rebuilds a token read from the store, placing its issue time on the monotonic clock.
    pub fn from_stored(s: &StoredToken, generation: u64) -> Option<Token> {
        let lifetime = Duration::try_from_secs_f64(s.lifetime).ok()?;
        let issued_wall = UNIX_EPOCH + Duration::try_from_secs_f64(s.issued_at).ok()?;
        let age = SystemTime::now()
            .duration_since(issued_wall)
            .unwrap_or(Duration::ZERO);
        // A token older than the monotonic clock can express is long expired anyway.
        let issued = Instant::now()
            .checked_sub(age)
            .unwrap_or_else(|| Instant::now() - lifetime);
        let answer = Answer {
            access: s.access_token.clone(),
            refresh: s.refresh_token.clone(),
            lifetime: Some(lifetime),
            refresh_lifetime: None,
            scopes: s.scopes.clone(),
            user_id: s.user_id.clone(),
        };
        let mut token = Token::from_answer(answer, issued, issued_wall, generation);
        token.refresh_expires_at = s
            .refresh_expires_at
            .and_then(|t| Duration::try_from_secs_f64(t).ok())
            .map(|d| UNIX_EPOCH + d);
        Some(token)
    }
}

pub fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
