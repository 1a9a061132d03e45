//! One token's slot: the current token behind its own `ArcSwap` (read without a lock on
//! every request), and a single-flight refresh that every waiting caller shares. How a
//! refresh obtains its token (under the store's lock) is in `obtain`.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use arc_swap::{ArcSwapOption, Guard};
use tokio::sync::Notify;

use super::client::PlatformClient;
use super::error::TokenError;
use super::keep_saving::PendingSave;
use super::schedule;
pub use super::state::{Failure, Status, TokenKind};
use super::token::Token;
use crate::store::{Expect, StoreError, Versioned};

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
    pub(super) refresh_lock: tokio::sync::Mutex<()>,
    /// Makes "install unless a newer version is current" one step.
    installing: Mutex<()>,
    /// Wakes the refresher when a token is replaced outside its loop (a 401, a login).
    pub changed: Notify,
    /// This cell, for the tasks it starts (a save retried in the background).
    pub(super) me: Weak<TokenCell>,
    /// The save being retried in the background, if any, for shutdown to finish.
    pub(super) saving: Mutex<Option<PendingSave>>,
}

impl TokenCell {
    pub fn new(provider: &str, subject: &str, kind: TokenKind) -> Arc<Self> {
        Arc::new_cyclic(|me| TokenCell {
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
            installing: Mutex::new(()),
            changed: Notify::new(),
            me: me.clone(),
            saving: Mutex::new(None),
        })
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

    pub(super) fn set_status(&self, s: Status) {
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

    pub(super) fn record(&self, failure: Option<Failure>) {
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
        // Boxed: the refresh's state (a platform call, the store) is large and rare, and an
        // inline one would size every request's future, which hyper keeps per connection.
        Box::pin(self.refresh(client, None, true)).await
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
        let from = self.current.load_full();
        let result = self.obtain(client, from).await;
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
                let retry = (!needs_login).then(|| match &e {
                    // Waiting for another replica's answer: look again soon, not in minutes.
                    TokenError::Store(s) => match &**s {
                        StoreError::Unsettled { retry_in, .. } => *retry_in,
                        _ => schedule::backoff(failures, rand::random()),
                    },
                    _ => schedule::backoff(failures, rand::random()),
                });
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

    /// Replaces the token of `generation` with `adjusted` (the same grant, with a lifetime
    /// the platform corrected), unless a refresh replaced it meanwhile: under the refresh
    /// lock, so the store can never be written back to a refresh token already spent.
    pub async fn adjust(&self, client: &PlatformClient, generation: u64, adjusted: Token) -> bool {
        let _flight = self.refresh_lock.lock().await;
        let current = self.current.load_full();
        let replaced = current.as_ref().map(|t| t.generation) != Some(generation);
        // A refused grant stays refused: storing it again would clear its `needs_login`.
        if replaced || self.is_retired() || self.status() == Status::NeedsLogin {
            return false;
        }
        let expect = Expect::Version(current.map_or(0, |t| t.version));
        let status = self.status();
        self.save_and_install(client, adjusted, expect, None, status)
            .await
            .is_ok()
    }

    pub fn next_generation(&self) -> u64 {
        self.generation.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Installs the token of a fresh login, under the refresh lock so that no refresh under
    /// way can overwrite it with an older grant's outcome. A login supersedes whatever the
    /// store holds; a refresh elsewhere that started from the older grant is then refused
    /// its save.
    pub async fn install_login(
        &self,
        client: &PlatformClient,
        token: Token,
    ) -> Result<Arc<Token>, TokenError> {
        let _flight = self.refresh_lock.lock().await;
        let base = self.current.load().as_ref().map_or(0, |t| t.version);
        let token = token.renumbered(self.next_generation()).based_on(base);
        self.save_and_install(client, token, Expect::Any, None, Status::Valid)
            .await
    }

    /// Makes `token` current with `status`, clearing any failure, and wakes the refresher;
    /// unless a token of a higher version is current already (another replica's, come in
    /// meanwhile), which stays. Returns the token current afterwards.
    pub fn install(&self, token: Arc<Token>, status: Status) -> Arc<Token> {
        let _one = self.installing.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(current) = self.current.load_full() {
            if current.version > token.version {
                return current;
            }
        }
        self.current.store(Some(Arc::clone(&token)));
        self.failures.store(0, Ordering::Release);
        self.record(None);
        self.set_status(status);
        self.changed.notify_waiters();
        token
    }

    /// Puts back a token read from the store. A grant refused before stays `needs_login`
    /// until a new login, with the reason shown then (`refused`, when the store kept it).
    pub fn restore(&self, token: Arc<Token>, needs_login: bool, refused: Option<String>) -> Arc<Token> {
        if !needs_login {
            return self.install(token, Status::Valid);
        }
        let installed = self.install(Arc::clone(&token), Status::NeedsLogin);
        if Arc::ptr_eq(&installed, &token) {
            let why =
                refused.unwrap_or_else(|| "the platform refused this grant before the last restart".into());
            self.record(Some(Failure::new(TokenError::RefusedEarlier(why), None)));
        }
        installed
    }

    /// Takes a stored token that is newer than the one held (another replica's refresh,
    /// login or refusal); `None` when it is not newer or cannot be used.
    pub fn adopt(&self, stored: &Versioned) -> Option<Arc<Token>> {
        let current = self.current.load_full();
        let held = current.as_ref().map_or(0, |t| t.version);
        if stored.version <= held || self.is_retired() {
            return None;
        }
        // A token this replica obtained but could not store yet is a grant in hand: a
        // refusal stored meanwhile (of the refresh token it was rotated from, presented by
        // another replica) does not replace it; its save in the background settles which
        // one stands.
        if stored.token.needs_login && current.as_ref().is_some_and(|t| !t.saved) {
            return None;
        }
        let token = Arc::new(Token::from_versioned(stored, self.next_generation())?);
        let installed = self.restore(
            Arc::clone(&token),
            stored.token.needs_login,
            stored.token.refused.clone(),
        );
        Arc::ptr_eq(&installed, &token).then_some(installed)
    }

    /// Marks the token of `generation`, if still current, as stored under `version`.
    pub fn mark_saved(&self, generation: u64, version: u64) {
        let _one = self.installing.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(current) = self.current.load_full().filter(|t| t.generation == generation) {
            let saved = Token::clone(&current).stored_as(version);
            self.current.store(Some(Arc::new(saved)));
        }
    }

    /// The store answers again: a refresh that waited for it is due now, not at the end of
    /// its backoff.
    pub fn store_recovered(&self) {
        let Some(failure) = self.last_failure() else {
            return;
        };
        if matches!(failure.error, TokenError::Store(_)) && failure.retry.is_some() {
            self.record(Some(Failure::new(failure.error, Some(std::time::Duration::ZERO))));
            self.changed.notify_waiters();
        }
    }

    /// Drops the current token, revoked at the platform, and keeps the slot: nothing injects
    /// the token again, a token file stops holding it, and the next refresh starts from
    /// nothing, as at start (an app token, fetched anew). Under the refresh lock, so a
    /// refresh under way finishes first.
    pub async fn forget(&self) {
        let _flight = self.refresh_lock.lock().await;
        self.current.store(None);
        self.set_status(Status::Error);
        self.changed.notify_waiters();
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
