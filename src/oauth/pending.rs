//! Logins between their redirect and their callback, keyed by their single-use `state` and
//! bound to the browser that started them: each holds the hash of a random value that only
//! that browser was given (in a cookie), so a callback from anywhere else is refused and
//! leaves the login in place for the browser it belongs to.
//!
//! They are kept in memory with the file store, and in Redis with the Redis store, so that
//! a callback may reach another replica than the one that started the login.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::pkce;
use super::token::unix;
use crate::secret::{CodeVerifier, LoginBinding};
use crate::store::redis::logins::{LoginRecord, RedisLogins};
use crate::store::StoreError;

/// How long a login may take between the redirect and the callback.
pub const STATE_TTL: Duration = Duration::from_secs(600);
/// Unfinished logins per provider. A person finishes a login in a minute or two, so this is
/// far above what people do at once, and it bounds what a flood of logins can hold; past it
/// new logins are refused rather than older ones dropped, so a flood cannot evict a real one.
pub const MAX_PENDING_PER_PROVIDER: usize = 64;

#[derive(Debug)]
pub struct Pending {
    pub provider: String,
    pub user: String,
    pub verifier: Option<CodeVerifier>,
    /// SHA-256 of the binding value the starting browser holds.
    binding: [u8; 32],
    created: Instant,
}

/// Why a callback's `state` is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateRefusal {
    Unknown,
    Expired,
    /// The callback did not bring the binding of the browser that started the login.
    OtherBrowser,
    /// The store that keeps logins (Redis) does not answer.
    Unavailable,
}

/// The provider has `MAX_PENDING_PER_PROVIDER` unfinished logins already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyLogins;

/// Why a login could not be recorded.
#[derive(Debug)]
pub enum InsertRefusal {
    TooMany,
    Store(StoreError),
}

/// Where the logins under way are kept: this process, or the store replicas share.
pub enum Logins {
    Memory(PendingLogins),
    Shared(RedisLogins),
}

impl Logins {
    /// Whether `provider` may start another login now (checked before asking a platform to
    /// start one; `insert` checks again).
    pub async fn has_room(&self, provider: &str) -> Result<bool, StoreError> {
        match self {
            Logins::Memory(m) => Ok(m.has_room(provider)),
            Logins::Shared(r) => Ok(r.count(provider).await? < MAX_PENDING_PER_PROVIDER),
        }
    }

    /// Records a login of `user` at `provider`; returns the value the starting browser must
    /// bring back to the callback.
    pub async fn insert(
        &self,
        state: String,
        provider: &str,
        user: &str,
        verifier: Option<CodeVerifier>,
    ) -> Result<LoginBinding, InsertRefusal> {
        let r = match self {
            Logins::Memory(m) => {
                return m
                    .insert(state, provider, user, verifier)
                    .map_err(|_| InsertRefusal::TooMany)
            }
            Logins::Shared(r) => r,
        };
        let binding = LoginBinding::new(pkce::random_token());
        let record = LoginRecord {
            provider: provider.into(),
            user: user.into(),
            verifier,
            sealed: None,
            binding: hex(&digest(binding.secret())),
            created: unix(SystemTime::now()),
        };
        // Kept past its lapse, so that a late callback is told it expired.
        let added = r
            .insert(&state, record, STATE_TTL, STATE_TTL * 2, MAX_PENDING_PER_PROVIDER)
            .await
            .map_err(InsertRefusal::Store)?;
        if added {
            Ok(binding)
        } else {
            Err(InsertRefusal::TooMany)
        }
    }

    /// Takes the login of `state` if `binding` is the one its browser was given: each state
    /// is good once, and for `STATE_TTL`. A wrong or missing binding leaves it in place.
    pub async fn take(&self, state: &str, binding: Option<&str>) -> Result<Pending, StateRefusal> {
        let r = match self {
            Logins::Memory(m) => return m.take(state, binding),
            Logins::Shared(r) => r,
        };
        let unavailable = |e: StoreError| {
            tracing::warn!(error = %e, "cannot read a login from the store");
            StateRefusal::Unavailable
        };
        let (record, raw) = r
            .get(state)
            .await
            .map_err(unavailable)?
            .ok_or(StateRefusal::Unknown)?;
        let age = Duration::try_from_secs_f64(unix(SystemTime::now()) - record.created).unwrap_or_default();
        if age >= STATE_TTL {
            let _ = r.take(state, &record.provider, &raw).await;
            return Err(StateRefusal::Expired);
        }
        let matches =
            binding.is_some_and(|b| bool::from(hex(&digest(b)).as_bytes().ct_eq(record.binding.as_bytes())));
        if !matches {
            return Err(StateRefusal::OtherBrowser);
        }
        if !r.take(state, &record.provider, &raw).await.map_err(unavailable)? {
            // Another callback with the same state took it first.
            return Err(StateRefusal::Unknown);
        }
        Ok(Pending {
            binding: digest(binding.unwrap_or_default()),
            created: Instant::now().checked_sub(age).unwrap_or_else(Instant::now),
            provider: record.provider,
            user: record.user,
            verifier: record.verifier,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Unfinished logins by `state`. Touched only by the login pages, never by proxied requests.
#[derive(Default)]
pub struct PendingLogins {
    map: Mutex<HashMap<String, Pending>>,
}

fn digest(binding: &str) -> [u8; 32] {
    Sha256::digest(binding.as_bytes()).into()
}

impl PendingLogins {
    /// Records a login of `user` at `provider`; returns the value the starting browser must
    /// bring back to the callback.
    pub fn insert(
        &self,
        state: String,
        provider: &str,
        user: &str,
        verifier: Option<CodeVerifier>,
    ) -> Result<LoginBinding, TooManyLogins> {
        self.insert_at(state, provider, user, verifier, Instant::now())
    }

    /// Whether `provider` may start another login now (checked before asking a platform to
    /// start one; `insert` checks again).
    pub fn has_room(&self, provider: &str) -> bool {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        prune(&mut map, Instant::now());
        count(&map, provider) < MAX_PENDING_PER_PROVIDER
    }

    fn insert_at(
        &self,
        state: String,
        provider: &str,
        user: &str,
        verifier: Option<CodeVerifier>,
        now: Instant,
    ) -> Result<LoginBinding, TooManyLogins> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        prune(&mut map, now);
        if count(&map, provider) >= MAX_PENDING_PER_PROVIDER {
            return Err(TooManyLogins);
        }
        let binding = LoginBinding::new(pkce::random_token());
        let pending = Pending {
            provider: provider.into(),
            user: user.into(),
            verifier,
            binding: digest(binding.secret()),
            created: now,
        };
        map.insert(state, pending);
        Ok(binding)
    }

    /// Takes the login of `state` if `binding` is the one its browser was given: each state
    /// is good once, and for `STATE_TTL`. A wrong or missing binding leaves it in place.
    pub fn take(&self, state: &str, binding: Option<&str>) -> Result<Pending, StateRefusal> {
        self.take_at(state, binding, Instant::now())
    }

    fn take_at(&self, state: &str, binding: Option<&str>, now: Instant) -> Result<Pending, StateRefusal> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let pending = map.get(state).ok_or(StateRefusal::Unknown)?;
        if now.duration_since(pending.created) >= STATE_TTL {
            map.remove(state);
            return Err(StateRefusal::Expired);
        }
        let matches = binding.is_some_and(|b| bool::from(digest(b).ct_eq(&pending.binding)));
        if !matches {
            return Err(StateRefusal::OtherBrowser);
        }
        map.remove(state).ok_or(StateRefusal::Unknown)
    }
}

fn prune(map: &mut HashMap<String, Pending>, now: Instant) {
    map.retain(|_, p| now.duration_since(p.created) < STATE_TTL);
}

fn count(map: &HashMap<String, Pending>, provider: &str) -> usize {
    map.values().filter(|p| p.provider == provider).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_is_good_once_and_only_with_its_binding() {
        let p = PendingLogins::default();
        let b = p.insert("s1".into(), "twitch", "alice", None).unwrap();
        assert_eq!(p.take("s1", None).unwrap_err(), StateRefusal::OtherBrowser);
        assert_eq!(
            p.take("s1", Some("guess")).unwrap_err(),
            StateRefusal::OtherBrowser
        );
        let got = p.take("s1", Some(b.secret())).unwrap();
        assert_eq!((got.provider.as_str(), got.user.as_str()), ("twitch", "alice"));
        assert_eq!(p.take("s1", Some(b.secret())).unwrap_err(), StateRefusal::Unknown);
        assert_eq!(
            p.take("forged", Some(b.secret())).unwrap_err(),
            StateRefusal::Unknown
        );
    }

    #[test]
    fn a_state_expires_after_ten_minutes() {
        let p = PendingLogins::default();
        let then = Instant::now();
        let b = p.insert_at("s".into(), "twitch", "a", None, then).unwrap();
        let late = p.take_at("s", Some(b.secret()), then + STATE_TTL);
        assert_eq!(late.unwrap_err(), StateRefusal::Expired);
        let b = p.insert_at("t".into(), "twitch", "a", None, then).unwrap();
        let soon = then + STATE_TTL - Duration::from_secs(1);
        assert!(p.take_at("t", Some(b.secret()), soon).is_ok());
    }

    #[test]
    fn past_the_cap_new_logins_are_refused_and_pending_ones_kept() {
        let p = PendingLogins::default();
        let then = Instant::now();
        let first = p.insert_at("s0".into(), "twitch", "a", None, then).unwrap();
        for i in 1..MAX_PENDING_PER_PROVIDER {
            p.insert_at(format!("s{i}"), "twitch", "a", None, then).unwrap();
        }
        assert_eq!(
            p.insert_at("x".into(), "twitch", "a", None, then).unwrap_err(),
            TooManyLogins
        );
        assert!(!p.has_room("twitch"));
        assert!(
            p.insert_at("y".into(), "other", "a", None, then).is_ok(),
            "per provider"
        );
        assert!(p.take_at("s0", Some(first.secret()), then).is_ok());
        // Expired logins make room.
        let later = then + STATE_TTL;
        assert!(p.insert_at("z".into(), "twitch", "a", None, later).is_ok());
    }
}
