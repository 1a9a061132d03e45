//! Logins under way, in Redis: one key per `state` (lapsing by itself), and per provider a
//! sorted set of states by when they lapse, which caps how many may be under way. Any
//! replica may take a login another started: the callback may reach any of them.

use std::sync::Weak;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{scripts, Inner};
use crate::secret::CodeVerifier;
use crate::store::StoreError;

/// A pending login as stored. The verifier is sealed when a key is configured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginRecord {
    pub provider: String,
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verifier: Option<CodeVerifier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
    /// SHA-256 of the binding value the starting browser holds, hex.
    pub binding: String,
    /// Unix seconds when the login started.
    pub created: f64,
}

pub struct RedisLogins {
    inner: Weak<Inner>,
}

fn gone() -> StoreError {
    StoreError::Unavailable("the store was closed".into())
}

fn name(state: &str) -> String {
    format!("login {state}")
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl RedisLogins {
    pub(super) fn new(inner: Weak<Inner>) -> RedisLogins {
        RedisLogins { inner }
    }

    /// Records a login under `state` unless `provider` has `cap` under way already; whether
    /// it was recorded. It lapses after `ttl`, and is kept `keep` so that a late callback
    /// is told it expired.
    pub async fn insert(
        &self,
        state: &str,
        mut record: LoginRecord,
        ttl: Duration,
        keep: Duration,
        cap: usize,
    ) -> Result<bool, StoreError> {
        let inner = self.inner.upgrade().ok_or_else(gone)?;
        if let (Some(sealer), Some(v)) = (&inner.sealer, record.verifier.take()) {
            record.sealed = Some(sealer.seal(&name(state), v.secret().as_bytes()));
        }
        let text = serde_json::to_string(&record).map_err(|e| StoreError::Protocol(e.to_string()))?;
        let mut conn = inner.link.get()?;
        let mut invocation = scripts::LOGIN_INSERT.prepare_invoke();
        invocation
            .key(inner.keys.login(state))
            .key(inner.keys.logins(&record.provider))
            .arg(state)
            .arg(&text)
            .arg(millis(ttl))
            .arg(millis(keep))
            .arg(cap);
        let added: i64 = inner.run("save", invocation.invoke_async(&mut conn)).await?;
        Ok(added == 1)
    }

    /// How many logins of `provider` are under way.
    pub async fn count(&self, provider: &str) -> Result<usize, StoreError> {
        let inner = self.inner.upgrade().ok_or_else(gone)?;
        let mut conn = inner.link.get()?;
        let mut invocation = scripts::LOGIN_COUNT.prepare_invoke();
        invocation.key(inner.keys.logins(provider));
        let n: u64 = inner.run("load", invocation.invoke_async(&mut conn)).await?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    /// The login of `state` as stored (verifier opened), and the raw record to take it by.
    pub async fn get(&self, state: &str) -> Result<Option<(LoginRecord, String)>, StoreError> {
        let inner = self.inner.upgrade().ok_or_else(gone)?;
        let mut conn = inner.link.get()?;
        let raw: Option<String> = inner
            .run(
                "load",
                redis::cmd("GET")
                    .arg(inner.keys.login(state))
                    .query_async(&mut conn),
            )
            .await?;
        let Some(raw) = raw else { return Ok(None) };
        let mut record: LoginRecord = serde_json::from_str(&raw)
            .map_err(|e| StoreError::Protocol(format!("a stored login is not a login record ({e})")))?;
        if let Some(sealed) = record.sealed.take() {
            let sealer = inner
                .sealer
                .as_ref()
                .ok_or_else(|| crate::store::seal::no_key(&name(state)))?;
            let plain = sealer.open(&name(state), &sealed)?;
            let verifier = String::from_utf8(plain)
                .map_err(|_| StoreError::Protocol("a stored login's verifier is not text".into()))?;
            record.verifier = Some(CodeVerifier::new(verifier));
        }
        Ok(Some((record, raw)))
    }

    /// Takes the login of `state` if it is still `raw` (what `get` read): true for the one
    /// caller that gets it.
    pub async fn take(&self, state: &str, provider: &str, raw: &str) -> Result<bool, StoreError> {
        let inner = self.inner.upgrade().ok_or_else(gone)?;
        let mut conn = inner.link.get()?;
        let mut invocation = scripts::LOGIN_TAKE.prepare_invoke();
        invocation
            .key(inner.keys.login(state))
            .key(inner.keys.logins(provider))
            .arg(state)
            .arg(raw);
        let taken: i64 = inner.run("remove", invocation.invoke_async(&mut conn)).await?;
        Ok(taken == 1)
    }
}
