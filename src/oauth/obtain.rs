//! How a refresh obtains its token, when the store may be shared by replicas:
//!
//! 1. take the token's lock in the store (a lease, renewed while the platform call runs);
//! 2. read the stored token: when another replica stored a newer one meanwhile (a refresh,
//!    a login, a refusal), use it instead of calling the platform;
//! 3. present the refresh token only while the lease is surely held;
//! 4. save the answer as a compare-and-set against the version the refresh started from: a
//!    holder that stalled past its lease is refused the write and adopts the stored token.
//!
//! A store that cannot be reached stops user-token refreshes (a rotated refresh token that
//! cannot be stored first would be lost), while app tokens are fetched by each replica on
//! its own. With the file store the lock is free and nothing else writes, so this is the
//! plain refresh it always was.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::cell::{Status, TokenCell, TokenKind};
use super::client::PlatformClient;
use super::dialect::Grant;
use super::error::TokenError;
use super::token::Token;
use crate::store::{Expect, Lease, Saved, Spend, StoreError, Versioned};

fn store_error(e: StoreError) -> TokenError {
    TokenError::Store(Arc::new(e))
}

impl TokenCell {
    /// Obtains the token that replaces `from` (the token current when the refresh began).
    pub(super) async fn obtain(
        &self,
        client: &PlatformClient,
        from: Option<Arc<Token>>,
    ) -> Result<Arc<Token>, TokenError> {
        match self.kind {
            TokenKind::App => self.obtain_app(client, from).await,
            TokenKind::User => {
                let lease = client
                    .store
                    .lock(&self.provider, &self.subject)
                    .await
                    .map_err(store_error)?;
                let result = self.obtain_user(client, &lease, from).await;
                lease.release().await;
                result
            }
        }
    }

    /// The current token, when another replica's replaced `from` while this one waited for
    /// the lock (its notice came, or the store read found it): no call is needed then.
    fn rotated_since(&self, from: &Option<Arc<Token>>) -> Option<Arc<Token>> {
        let current = self.current().clone()?;
        let from = from.as_ref().map_or(0, |t| t.version);
        let usable = current.is_fresh(Instant::now()) && self.status() != Status::NeedsLogin;
        (current.version > from && usable).then_some(current)
    }

    /// App tokens are renewed by client credentials even where a refresh token came; one
    /// call per rotation across replicas while the store answers, one per replica while not.
    async fn obtain_app(
        &self,
        client: &PlatformClient,
        from: Option<Arc<Token>>,
    ) -> Result<Arc<Token>, TokenError> {
        let lease = match client.store.lock(&self.provider, &self.subject).await {
            Ok(lease) => Some(lease),
            // A dead store costs one call per replica, never a stale token. Said, since the
            // token is then neither shared nor stored.
            Err(e) if e.is_unavailable() => {
                tracing::warn!(
                    provider = %self.provider, subject = %self.subject, error = %e,
                    "the token store did not answer for the lock; this replica fetches the app token on its own"
                );
                None
            }
            Err(e) => return Err(store_error(e)),
        };
        let mut base = self.current().as_ref().map_or(0, |t| t.version);
        if lease.is_some() {
            match client.store.load_one(&self.provider, &self.subject).await {
                Ok(Some(stored)) => {
                    self.adopt(&stored);
                    base = stored.version;
                }
                Ok(None) => base = 0,
                Err(_) => {}
            }
        }
        let result = match self.rotated_since(&from) {
            Some(t) => Ok(t),
            None => self.fetch_app(client, base, lease.is_some()).await,
        };
        if let Some(lease) = lease {
            lease.release().await;
        }
        result
    }

    /// One client-credentials call; its answer stored against `base` when `store`.
    async fn fetch_app(
        &self,
        client: &PlatformClient,
        base: u64,
        store: bool,
    ) -> Result<Arc<Token>, TokenError> {
        let (sent, sent_wall) = (Instant::now(), SystemTime::now());
        let answer = client.grant(Grant::ClientCredentials).await?;
        let token = Token::from_answer(answer, sent, sent_wall, self.next_generation()).based_on(base);
        if store {
            self.save_and_install(client, token, Expect::Version(base), None, Status::Valid)
                .await
        } else {
            Ok(self.install_new(token))
        }
    }

    async fn obtain_user(
        &self,
        client: &PlatformClient,
        lease: &Lease,
        from: Option<Arc<Token>>,
    ) -> Result<Arc<Token>, TokenError> {
        let stored = client
            .store
            .load_one(&self.provider, &self.subject)
            .await
            .map_err(store_error)?;
        // The store's word may be newer than the last notice: a refresh, a login, a refusal.
        if let Some(st) = &stored {
            self.adopt(st);
        }
        let held = self.current().clone();
        match &stored {
            // Refused (on another replica, or before a restart): never presented again. Unless
            // this replica holds a newer grant the store could not take yet (a login while
            // the store was down).
            Some(st)
                if st.token.needs_login
                    && !held.as_ref().is_some_and(|t| !t.saved && t.version >= st.version) =>
            {
                let why = st
                    .token
                    .refused
                    .clone()
                    .unwrap_or_else(|| "the platform refused this grant".into());
                return Err(TokenError::RefusedEarlier(why));
            }
            // Removed from the store by another replica; the notice of it retires this slot.
            None if held.as_ref().is_some_and(|t| t.saved) => return Err(TokenError::NotConnected),
            _ => {}
        }
        if let Some(t) = self.rotated_since(&from) {
            return Ok(t);
        }
        let base = held.ok_or(TokenError::NotConnected)?;
        let Some(rt) = base.refresh.clone() else {
            return self
                .store_needs_login(client, &base, TokenError::NoRefreshToken)
                .await;
        };
        let lapsed = || {
            // Stalled (stopped, starved) past the lease before the refresh token was sent:
            // another replica may hold the lock and be presenting it now.
            store_error(StoreError::Unavailable(
                "the refresh lock lapsed before the refresh was sent".into(),
            ))
        };
        if !lease.held() {
            return Err(lapsed());
        }
        // An earlier holder's answer is waited for while the token serves; once it is about
        // to expire, its refresh token is presented anyway (the last resort).
        let now = Instant::now();
        let last_call = base.deadline().checked_sub(base.lifetime / 10).unwrap_or(now);
        match lease
            .spend(base.version, now >= last_call)
            .await
            .map_err(store_error)?
        {
            // Stalled while Redis answered (the likeliest place to stall: waiting): that
            // answer is stale by now, and the lease may be someone else's.
            Spend::Go if !lease.held() => return Err(lapsed()),
            Spend::Go => {}
            Spend::Lost => return Err(lapsed()),
            Spend::Unsettled => {
                let wait = last_call.saturating_duration_since(now);
                let until = humantime::format_rfc3339_seconds(SystemTime::now() + wait).to_string();
                let retry_in = wait.clamp(Duration::from_millis(200), Duration::from_secs(5));
                return Err(store_error(StoreError::Unsettled { until, retry_in }));
            }
        }
        let (sent, sent_wall) = (Instant::now(), SystemTime::now());
        let mut answer = match client.grant(Grant::Refresh(&rt)).await {
            Ok(answer) => answer,
            Err(e) if e.is_rejection() => {
                // Another replica may have rotated the grant meanwhile (this one's lease
                // lapsed during the call): its token is then the one to use.
                if let Ok(Some(st)) = client.store.load_one(&self.provider, &self.subject).await {
                    if st.version > base.version {
                        return self.use_stored(&st)?.fresh();
                    }
                }
                return self.store_needs_login(client, &base, e).await;
            }
            Err(e) => {
                if let TokenError::Call { failure, .. } = &e {
                    if failure.nothing_taken() {
                        // A 5xx, or never connected: the refresh token is not spent, so the
                        // backoff's next attempt (here or on another replica) presents it.
                        lease.settle(base.version).await;
                    }
                }
                return Err(e);
            }
        };
        // A platform that does not rotate keeps the refresh token it was given.
        answer.refresh = answer.refresh.or(Some(rt.clone()));
        if answer.user_id.is_none() {
            answer.user_id = base.user_id.clone();
        }
        let token =
            Token::from_answer(answer, sent, sent_wall, self.next_generation()).based_on(base.version);
        self.save_and_install(
            client,
            token,
            Expect::Version(base.version),
            Some(&rt),
            Status::Valid,
        )
        .await
    }

    /// Takes a newer stored token: an error when it says the grant was refused (on another
    /// replica, or before a restart), else the token, fresh or due for a refresh.
    pub(super) fn use_stored(&self, stored: &Versioned) -> Result<Usable, TokenError> {
        let adopted = self.adopt(stored);
        if stored.token.needs_login {
            let why = stored
                .token
                .refused
                .clone()
                .unwrap_or_else(|| "the platform refused this grant".into());
            return Err(TokenError::RefusedEarlier(why));
        }
        let token = adopted
            .or_else(|| self.current().clone())
            .ok_or(TokenError::NotConnected)?;
        if token.is_fresh(Instant::now()) {
            Ok(Usable::Fresh(token))
        } else {
            Ok(Usable::Stale)
        }
    }

    /// Writes down, durably and before anything else happens, that the platform refused the
    /// grant of `held`: a restart (or another replica) must neither present its refresh
    /// token again (a platform with reuse detection may take that for an attack on the
    /// grant) nor inject it. Returns `Err(why)`; or, when someone stored a newer token
    /// meanwhile, what that one says.
    async fn store_needs_login(
        &self,
        client: &PlatformClient,
        held: &Token,
        why: TokenError,
    ) -> Result<Arc<Token>, TokenError> {
        let text = why.to_string();
        let stored = held.to_stored(&self.provider, &self.subject, self.kind, Some(&text));
        match client.save(stored, Expect::Version(held.version)).await {
            Ok(Saved::Stored(v)) => self.mark_saved(held.generation, v),
            Ok(Saved::Conflict) => {
                if let Ok(Some(st)) = client.store.load_one(&self.provider, &self.subject).await {
                    return self.use_stored(&st)?.fresh();
                }
            }
            Err(e) => {
                tracing::error!(provider = %self.provider, subject = %self.subject, error = %e, "cannot store that the grant was refused")
            }
        }
        Err(why)
    }
}

pub(super) enum Usable {
    Fresh(Arc<Token>),
    /// Due for a refresh, or past its expiry: refresh from it.
    Stale,
}

impl Usable {
    /// The token to inject now: never one past its expiry.
    pub(super) fn fresh(self) -> Result<Arc<Token>, TokenError> {
        match self {
            Usable::Fresh(t) => Ok(t),
            Usable::Stale => Err(store_error(StoreError::Protocol(
                "another replica stored a token that is already expired; refreshing from it".into(),
            ))),
        }
    }
}
