//! One token's slot: the current token behind its own `ArcSwap` (read without a lock on
//! every request), and a single-flight refresh that every waiting caller shares.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use arc_swap::{ArcSwapOption, Guard};
use tokio::sync::Notify;

use super::client::PlatformClient;
use super::dialect::Grant;
use super::error::TokenError;
use super::schedule;
pub use super::state::{Failure, Status, TokenKind};
use super::token::{unix, Token};

pub struct TokenCell {
    pub provider: String,
    pub subject: String,
    pub kind: TokenKind,
    current: ArcSwapOption<Token>,
    status: AtomicU8,
    /// Completed refresh attempts; a waiter that sees it move shares that attempt's outcome.
    attempts: AtomicU64,
    failures: AtomicU32,
    generation: AtomicU64,
    retired: AtomicBool,
    /// The outcome of the last failed attempt and when the next may start. Touched only on
    /// the slow path, never while a token is fresh.
    failure: Mutex<Option<Failure>>,
    refresh_lock: tokio::sync::Mutex<()>,
    /// Wakes the refresher when a token is replaced outside its loop (a 401, a login).
    pub changed: Notify,
}

impl TokenCell {
    pub fn new(provider: &str, subject: &str, kind: TokenKind) -> Self {
        TokenCell {
            provider: provider.to_string(),
            subject: subject.to_string(),
            kind,
            current: ArcSwapOption::empty(),
            status: AtomicU8::new(Status::Error as u8),
            attempts: AtomicU64::new(0),
            failures: AtomicU32::new(0),
            generation: AtomicU64::new(0),
            retired: AtomicBool::new(false),
            failure: Mutex::new(None),
            refresh_lock: tokio::sync::Mutex::new(()),
            changed: Notify::new(),
        }
    }

    /// The current token, fresh or not; no lock.
    pub fn current(&self) -> Guard<Option<Arc<Token>>> {
        self.current.load()
    }

    /// The current token if it may be injected now: unexpired, and not of a grant the
    /// platform has refused.
    pub fn fresh(&self) -> Option<Arc<Token>> {
        if self.status() == Status::NeedsLogin {
            return None;
        }
        let now = Instant::now();
        self.current.load().as_ref().filter(|t| t.is_fresh(now)).cloned()
    }

    pub fn status(&self) -> Status {
        Status::from_u8(self.status.load(Ordering::Acquire))
    }

    fn set_status(&self, s: Status) {
        self.status.store(s as u8, Ordering::Release);
    }

    /// When the refresher should next try after a failure, if the last attempt failed and
    /// a retry will follow.
    pub fn retry_at(&self) -> Option<Instant> {
        self.last_failure()?.retry.map(|r| r.at)
    }

    pub fn last_error(&self) -> Option<TokenError> {
        self.last_failure().map(|f| f.error)
    }

    /// The last failure and its next attempt, while the last attempt failed.
    pub fn last_failure(&self) -> Option<Failure> {
        self.failure.lock().ok()?.clone()
    }

    fn record(&self, failure: Option<Failure>) {
        if let Ok(mut f) = self.failure.lock() {
            *f = failure;
        }
    }

    /// The slot's state as every surface names it: `valid`, `refreshing`, `needs_login`,
    /// `error` (also for a token past its expiry that nothing replaced yet), or
    /// `not_connected` for a user no one has logged in.
    pub fn state(&self) -> &'static str {
        let current = self.current.load();
        match (self.status(), current.as_ref()) {
            (Status::NeedsLogin, _) => Status::NeedsLogin.as_str(),
            (_, None) if self.kind == TokenKind::User => "not_connected",
            (Status::Valid, Some(t)) if !t.is_fresh(Instant::now()) => Status::Error.as_str(),
            (Status::Valid, None) => Status::Error.as_str(),
            (s, _) => s.as_str(),
        }
    }

    /// A token to inject: the fresh one, or the outcome of a refresh (shared with everyone
    /// else waiting). Never an expired token.
    pub async fn get(&self, client: &PlatformClient) -> Result<Arc<Token>, TokenError> {
        if let Some(t) = self.fresh() {
            return Ok(t);
        }
        self.refresh(client, None, true).await
    }

    /// Replaces the token unless a token other than generation `stale` is already fresh
    /// (`stale = None`: unless any token is fresh). One call at a time per cell; callers
    /// that waited for another's attempt take its outcome instead of calling again. With
    /// `respect_backoff`, a call inside a failure's backoff returns that failure at once.
    pub async fn refresh(
        &self,
        client: &PlatformClient,
        stale: Option<u64>,
        respect_backoff: bool,
    ) -> Result<Arc<Token>, TokenError> {
        let newer = |t: &Arc<Token>| stale != Some(t.generation);
        let seen_attempts = self.attempts.load(Ordering::Acquire);
        let _flight = self.refresh_lock.lock().await;
        if let Some(t) = self.fresh().filter(newer) {
            return Ok(t);
        }
        if self.is_retired() {
            return Err(TokenError::Retired);
        }
        if self.attempts.load(Ordering::Acquire) != seen_attempts {
            if let Some(e) = self.last_error() {
                return Err(e);
            }
        }
        if self.status() == Status::NeedsLogin {
            return Err(TokenError::NeedsLogin);
        }
        if respect_backoff {
            if let Some(Failure {
                error,
                retry: Some(retry),
            }) = self.last_failure()
            {
                if Instant::now() < retry.at {
                    return Err(TokenError::Backoff(Box::new(error)));
                }
            }
        }
        let before = self.status();
        self.set_status(Status::Refreshing);
        let result = self.obtain(client).await;
        self.attempts.fetch_add(1, Ordering::AcqRel);
        match result {
            Ok(token) => Ok(token),
            Err(TokenError::NotConnected) => {
                // Nothing was tried: a user slot waiting for its first login.
                self.set_status(before);
                Err(TokenError::NotConnected)
            }
            Err(e) => {
                let needs_login = self.kind == TokenKind::User && e.is_rejection();
                let failures = self.failures.fetch_add(1, Ordering::AcqRel).saturating_add(1);
                let retry = (!needs_login).then(|| schedule::backoff(failures, rand::random()));
                let failure = Failure::new(e.clone(), retry);
                self.log(&failure);
                self.record(Some(failure));
                self.set_status(if needs_login {
                    Status::NeedsLogin
                } else {
                    Status::Error
                });
                Err(e)
            }
        }
    }

    /// The one log line of a failed attempt: why, and what happens next.
    fn log(&self, failure: &Failure) {
        let (provider, subject, reason) = (&self.provider, &self.subject, &failure.error);
        match failure.retry_at() {
            Some(retry_at) => tracing::warn!(
                provider = %provider, subject = %subject, kind = self.kind.as_str(), reason = %reason,
                retry_at = %retry_at, "token call failed; next attempt at retry_at"
            ),
            None => tracing::warn!(
                provider = %provider, subject = %subject, status = "needs_login", reason = %reason,
                "the platform refused the grant: no further attempt until the user logs in again"
            ),
        }
    }

    async fn obtain(&self, client: &PlatformClient) -> Result<Arc<Token>, TokenError> {
        match self.kind {
            // App tokens are renewed by client credentials even where a refresh token came.
            TokenKind::App => {
                let (sent, sent_wall) = (Instant::now(), SystemTime::now());
                let answer = client.grant(Grant::ClientCredentials).await?;
                let token = Token::from_answer(answer, sent, sent_wall, self.next_generation());
                Ok(self.persist_and_install(client, token).await)
            }
            TokenKind::User => self.obtain_user(client).await,
        }
    }

    async fn obtain_user(&self, client: &PlatformClient) -> Result<Arc<Token>, TokenError> {
        // The store's lock covers the platform call and the save of its answer.
        let guard = client
            .store
            .lock_refresh(&self.provider, &self.subject)
            .await
            .map_err(|e| TokenError::Store(Arc::new(e)))?;
        let held = self.current.load_full();
        let held_issued = held.as_ref().map_or(0.0, |t| unix(t.expires_at - t.lifetime));
        let newer = guard.latest.as_ref().filter(|l| l.issued_at > held_issued);
        if let Some(token) = newer.and_then(|l| Token::from_stored(l, self.next_generation())) {
            // Another holder of a shared store refreshed first: use its token.
            let token = Arc::new(token);
            self.install(Arc::clone(&token), Status::Valid);
            client.observe_expiry(&self.subject, &token);
            return Ok(token);
        }
        let Some(held_token) = held.as_deref() else {
            return Err(TokenError::NotConnected);
        };
        let Some(rt) = held_token.refresh.clone() else {
            let e = TokenError::NoRefreshToken;
            self.store_needs_login(client, held_token, &e).await;
            return Err(e);
        };
        let (sent, sent_wall) = (Instant::now(), SystemTime::now());
        let mut answer = match client.grant(Grant::Refresh(&rt)).await {
            Ok(answer) => answer,
            Err(e) => {
                if e.is_rejection() {
                    self.store_needs_login(client, held_token, &e).await;
                }
                return Err(e);
            }
        };
        // A platform that does not rotate keeps the refresh token it was given.
        answer.refresh = answer.refresh.or(Some(rt));
        if answer.user_id.is_none() {
            answer.user_id = held.as_ref().and_then(|t| t.user_id.clone());
        }
        let token = Token::from_answer(answer, sent, sent_wall, self.next_generation());
        let token = self.persist_and_install(client, token).await;
        drop(guard);
        Ok(token)
    }

    /// Writes down, durably and before anything else happens, that the platform refused the
    /// grant of `held`: a restart must neither present its refresh token again (a platform
    /// with reuse detection may take that for an attack on the grant) nor inject it. Called
    /// under the store's refresh lock, so no newer token can be overwritten.
    async fn store_needs_login(&self, client: &PlatformClient, held: &Token, why: &TokenError) {
        let why = why.to_string();
        client.persist(&self.subject, self.kind, held, Some(&why)).await;
    }

    /// Replaces the token of `generation` with `adjusted` (the same grant, with a lifetime
    /// the platform corrected), unless a refresh replaced it meanwhile: under the refresh
    /// lock, so the store can never be written back to a refresh token already spent.
    pub async fn adjust(&self, client: &PlatformClient, generation: u64, adjusted: Token) -> bool {
        let _flight = self.refresh_lock.lock().await;
        let replaced = self.current.load().as_ref().map(|t| t.generation) != Some(generation);
        // A refused grant stays refused: storing it again would clear its `needs_login`.
        if replaced || self.is_retired() || self.status() == Status::NeedsLogin {
            return false;
        }
        client.persist(&self.subject, self.kind, &adjusted, None).await;
        client.observe_expiry(&self.subject, &adjusted);
        self.install(Arc::new(adjusted), self.status());
        true
    }

    pub fn next_generation(&self) -> u64 {
        self.generation.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Installs the token of a fresh login, under the refresh lock so that no refresh under
    /// way can overwrite it with an older grant's outcome.
    pub async fn install_login(&self, client: &PlatformClient, token: Token) -> Arc<Token> {
        let _flight = self.refresh_lock.lock().await;
        let token = token.renumbered(self.next_generation());
        self.persist_and_install(client, token).await
    }

    /// Stores `token`, then makes it current: a crash never leaves the store behind a token
    /// that was used.
    pub async fn persist_and_install(&self, client: &PlatformClient, token: Token) -> Arc<Token> {
        client.persist(&self.subject, self.kind, &token, None).await;
        let token = Arc::new(token);
        self.install(Arc::clone(&token), Status::Valid);
        client.observe_expiry(&self.subject, &token);
        token
    }

    /// Makes `token` current with `status`, clearing any failure, and wakes the refresher.
    pub fn install(&self, token: Arc<Token>, status: Status) {
        self.current.store(Some(token));
        self.failures.store(0, Ordering::Release);
        self.record(None);
        self.set_status(status);
        self.changed.notify_waiters();
    }

    /// Puts back a token read from the store. A grant refused before stays `needs_login`
    /// until a new login, with the reason shown then (`refused`, when the store kept it).
    pub fn restore(&self, token: Arc<Token>, needs_login: bool, refused: Option<String>) {
        if !needs_login {
            return self.install(token, Status::Valid);
        }
        self.install(token, Status::NeedsLogin);
        let why = refused.unwrap_or_else(|| "the platform refused this grant before the last restart".into());
        self.record(Some(Failure::new(TokenError::RefusedEarlier(why), None)));
    }

    /// Forgets the token for good (it was revoked or deleted); its refresher stops.
    pub fn retire(&self) {
        self.current.store(None);
        self.retired.store(true, Ordering::Release);
        self.set_status(Status::NeedsLogin);
        self.changed.notify_waiters();
    }

    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    /// Holds this slot's refreshes, once the refresh under way (if any) has finished and
    /// stored its answer, until the pause ends: dropped, refreshing goes on as before;
    /// `hand_over`, it stops for good.
    pub async fn pause(&self) -> Paused<'_> {
        Paused {
            cell: self,
            _flight: self.refresh_lock.lock().await,
        }
    }
}

/// A slot whose refreshes are held (see `TokenCell::pause`).
pub struct Paused<'a> {
    cell: &'a TokenCell,
    _flight: tokio::sync::MutexGuard<'a, ()>,
}

impl Paused<'_> {
    /// Stops all refreshing of the slot, so that another slot can take over the grant from
    /// the store without two of them rotating the same refresh token. The token keeps
    /// serving until it expires. Cannot fail.
    pub fn hand_over(self) {
        self.cell.retired.store(true, Ordering::Release);
        self.cell.changed.notify_waiters();
    }
}
