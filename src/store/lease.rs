//! A held refresh lock. A shared store's lease expires unless renewed, so a holder that
//! stalls cannot keep others from a token forever; `held` tells the holder whether it may
//! still act as the only one, before it presents a refresh token to the platform.

use std::future::Future;
use std::pin::Pin;

use super::{StoreError, StoreFuture};

/// Whether a lock holder may present the refresh token of the token it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spend {
    Go,
    /// An earlier holder presented this very refresh token and stored no answer since: it
    /// stalled or died after its call, and the token may be spent. Its answer may still come.
    Unsettled,
    /// The lease lapsed: another replica may hold the lock now.
    Lost,
}

/// What a store's lock hands back besides `held`: how to give the lock back.
pub trait LeaseHandle: Send + Sync {
    /// Whether the lease is still this holder's for sure: its deadline, on the monotonic
    /// clock (which keeps counting while the process is stopped), has not passed, and no
    /// renewal found it taken.
    fn held(&self) -> bool;
    /// Gives the lock back, only if it is still this holder's.
    fn release(self: Box<Self>) -> Pin<Box<dyn Future<Output = ()> + Send>>;
    /// Records, if the lease is still this holder's by the store's word, that the refresh
    /// token of the stored token of `version` is about to be presented (see `Spend`);
    /// `force` presents it even when an earlier holder's answer is outstanding.
    fn spend(&self, version: u64, force: bool) -> StoreFuture<'_, Spend>;
    /// The platform answered without taking the refresh token of `version` (a server
    /// error): it is not spent after all.
    fn settle(&self, version: u64) -> StoreFuture<'_, ()>;
}

/// The lock of one token, until `release` (or drop, which releases in the background).
pub struct Lease {
    handle: Option<Box<dyn LeaseHandle>>,
}

impl Lease {
    /// A lease of a store no one else writes: always held, nothing to give back.
    pub fn free() -> Lease {
        Lease { handle: None }
    }

    pub fn new(handle: Box<dyn LeaseHandle>) -> Lease {
        Lease { handle: Some(handle) }
    }

    pub fn held(&self) -> bool {
        self.handle.as_ref().is_none_or(|h| h.held())
    }

    pub async fn spend(&self, version: u64, force: bool) -> Result<Spend, StoreError> {
        match &self.handle {
            Some(h) => h.spend(version, force).await,
            None => Ok(Spend::Go),
        }
    }

    pub async fn settle(&self, version: u64) {
        if let Some(h) = &self.handle {
            let _ = h.settle(version).await;
        }
    }

    pub async fn release(mut self) {
        if let Some(h) = self.handle.take() {
            h.release().await;
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(h) = self.handle.take() else { return };
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(h.release());
        }
    }
}
