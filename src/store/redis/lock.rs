//! A token's refresh lock in Redis: `SET NX PX` with a random owner string, renewed at a
//! third of its lease while the holder works, released by compare-and-delete. A holder
//! whose lease lapsed (stalled, stopped) finds out from its own clock before it presents a
//! refresh token, and its save is refused by the version check anyway.
//!
//! Waiting for a busy lock (another replica refreshes) is told apart from a dead Redis: the
//! first is a wait, woken by the holder's change notice; the second an error at once.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use tokio::task::AbortHandle;

use super::{scripts, Inner};
use crate::store::{Change, Lease, LeaseHandle, Spend, StoreError, StoreFuture};

/// How long a spending marker outlives its holder's silence: far longer than any token
/// waits for it (a save or a removal clears it).
const SPENDING_TTL_MS: u64 = 24 * 3600 * 1000;

/// How often a waiter asks again when no change notice wakes it sooner.
const POLL: Duration = Duration::from_millis(50);

/// Takes the lock of `provider`/`subject`, waiting while another holder has it (at most
/// `max_lock_wait`).
pub async fn acquire(inner: &Arc<Inner>, provider: &str, subject: &str) -> Result<Lease, StoreError> {
    let key = inner.keys.lock(provider, subject);
    let owner = format!("{}/{:032x}", inner.owner, rand::random::<u128>());
    let ttl_ms = u64::try_from(inner.lock_ttl.as_millis()).unwrap_or(u64::MAX);
    let started = Instant::now();
    let mut changes = inner.changes.subscribe();
    loop {
        let mut conn = inner.link.get().inspect_err(|_| {
            inner.metrics.errors.with_label_values(&["lock"]).inc();
        })?;
        let sent = Instant::now();
        let taken: Option<String> = inner
            .run(
                "lock",
                redis::cmd("SET")
                    .arg(&key)
                    .arg(&owner)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async(&mut conn),
            )
            .await?;
        if taken.is_some() {
            inner.metrics.lock_wait.observe(started.elapsed().as_secs_f64());
            let spending = inner.keys.spending(provider, subject);
            return Ok(Lease::new(Box::new(RedisLease::start(
                Arc::clone(inner),
                key,
                spending,
                owner,
                sent + inner.lock_ttl,
            ))));
        }
        let waited = started.elapsed();
        if waited >= inner.max_lock_wait {
            inner.metrics.errors.with_label_values(&["lock"]).inc();
            return Err(StoreError::Busy {
                provider: provider.to_string(),
                subject: subject.to_string(),
                waited,
            });
        }
        // Busy: the holder's save wakes this wait; a holder that gives up or dies is
        // noticed by asking again shortly.
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = changed(&mut changes, provider, subject) => {}
        }
    }
}

async fn changed(changes: &mut broadcast::Receiver<Change>, provider: &str, subject: &str) {
    loop {
        match changes.recv().await {
            Ok(Change::Saved {
                provider: p,
                subject: s,
                ..
            })
            | Ok(Change::Removed {
                provider: p,
                subject: s,
                ..
            }) if p == provider && s == subject => return,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => return,
            Err(broadcast::error::RecvError::Closed) => return std::future::pending().await,
        }
    }
}

struct LeaseState {
    /// Until when the lease is surely this holder's, by the monotonic clock.
    deadline: Mutex<Instant>,
    lost: AtomicBool,
}

struct RedisLease {
    inner: Arc<Inner>,
    key: String,
    spending: String,
    owner: String,
    state: Arc<LeaseState>,
    renewer: AbortHandle,
}

impl RedisLease {
    fn start(
        inner: Arc<Inner>,
        key: String,
        spending: String,
        owner: String,
        deadline: Instant,
    ) -> RedisLease {
        let state = Arc::new(LeaseState {
            deadline: Mutex::new(deadline),
            lost: AtomicBool::new(false),
        });
        let renewer = tokio::spawn(renew(
            Arc::clone(&inner),
            key.clone(),
            owner.clone(),
            Arc::clone(&state),
        ))
        .abort_handle();
        RedisLease {
            inner,
            key,
            spending,
            owner,
            state,
            renewer,
        }
    }
}

/// Renews the lease at a third of its length for as long as the holder holds it; stops
/// when Redis says the lock is someone else's.
async fn renew(inner: Arc<Inner>, key: String, owner: String, state: Arc<LeaseState>) {
    let ttl = inner.lock_ttl;
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    loop {
        tokio::time::sleep(ttl / 3).await;
        let Ok(mut conn) = inner.link.get() else {
            continue;
        };
        let sent = Instant::now();
        let mut invocation = scripts::RENEW.prepare_invoke();
        invocation.key(&key).arg(&owner).arg(ttl_ms);
        match inner.run("lock", invocation.invoke_async::<i64>(&mut conn)).await {
            Ok(1) => {
                if let Ok(mut d) = state.deadline.lock() {
                    *d = sent + ttl;
                }
            }
            Ok(_) => {
                state.lost.store(true, Ordering::Release);
                return;
            }
            // Unreachable for now: the deadline stands, and lapses if this goes on.
            Err(_) => {}
        }
    }
}

impl LeaseHandle for RedisLease {
    fn held(&self) -> bool {
        if self.state.lost.load(Ordering::Acquire) {
            return false;
        }
        // A third of the lease is kept in hand: a holder past that has missed renewals (or
        // was stopped), and another replica may take the lock any moment.
        let margin = self.inner.lock_ttl / 3;
        self.state
            .deadline
            .lock()
            .map(|d| Instant::now() + margin < *d)
            .unwrap_or(false)
    }

    fn spend(&self, version: u64, force: bool) -> StoreFuture<'_, Spend> {
        Box::pin(async move {
            let mut conn = self.inner.link.get()?;
            let mut invocation = scripts::SPEND.prepare_invoke();
            invocation
                .key(&self.key)
                .key(&self.spending)
                .arg(&self.owner)
                .arg(version)
                .arg(SPENDING_TTL_MS)
                .arg(if force { "1" } else { "0" });
            let said: i64 = self.inner.run("lock", invocation.invoke_async(&mut conn)).await?;
            Ok(match said {
                1 => Spend::Go,
                0 => Spend::Unsettled,
                _ => {
                    self.state.lost.store(true, Ordering::Release);
                    Spend::Lost
                }
            })
        })
    }

    fn settle(&self, version: u64) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut conn = self.inner.link.get()?;
            let mut invocation = scripts::SETTLE.prepare_invoke();
            invocation.key(&self.spending).arg(version);
            self.inner
                .run("save", invocation.invoke_async::<i64>(&mut conn))
                .await
                .map(|_| ())
        })
    }

    fn release(self: Box<Self>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        self.renewer.abort();
        Box::pin(async move {
            let Ok(mut conn) = self.inner.link.get() else {
                return;
            };
            let mut invocation = scripts::RELEASE.prepare_invoke();
            invocation.key(&self.key).arg(&self.owner);
            // Not ours any more (it lapsed): someone else's lock is left alone. Unreachable:
            // it lapses by itself.
            let _ = self
                .inner
                .run("lock", invocation.invoke_async::<i64>(&mut conn))
                .await;
        })
    }
}

impl Drop for RedisLease {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}
