//! Where tokens outlive the process, and how replicas share them. The `TokenStore` trait is
//! what the lifecycle needs from a store, whether one process owns it (`FileStore`) or many
//! share it (`RedisStore`):
//!
//! - every token carries a version that the store assigns, and every write is a
//!   compare-and-set against the version the writer started from, so a writer that stalled
//!   can never overwrite a token written after it looked (it adopts that one instead);
//! - a refresh runs under a lease on the token (`lock`), renewed while the platform call
//!   runs and released only by its owner, so one replica rotates a grant at a time;
//! - other replicas' changes arrive as `Change` notices (names and versions, never values).
//!
//! The request path never calls a store: it reads the token its cell holds.

pub mod commands;
pub mod file;
mod lease;
pub mod open;
pub mod record;
pub mod redis;
pub mod seal;
mod token;

use std::future::Future;
use std::pin::Pin;

use tokio::sync::broadcast;

pub use file::FileStore;
pub use lease::{Lease, LeaseHandle, Spend};
pub use open::open;
pub use token::StoredToken;

pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read the token store {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the token store {path} is not valid JSON ({source}); move it aside to start without it")]
    Corrupt {
        path: std::path::PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write the token store {path}: {source}")]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The shared store does not answer (down, unreachable, or not connected yet).
    #[error("the token store (Redis) is unreachable: {0}")]
    Unavailable(String),
    /// Another replica holds the refresh lock and kept it longer than any refresh takes.
    #[error("another replica has held the refresh lock of {provider}/{subject} for {waited:?}; trying again later")]
    Busy {
        provider: String,
        subject: String,
        waited: std::time::Duration,
    },
    /// The shared store answered, but not as expected (a script error, a foreign value).
    #[error("the token store (Redis) answered unexpectedly: {0}")]
    Protocol(String),
    /// An earlier lock holder presented this token's refresh token and has not stored the
    /// answer: it is waited for, until `until`, before the refresh token is presented again.
    #[error(
        "another replica presented this grant's refresh token and has not stored the answer (it \
         stalled or died mid-call); waiting for that answer until {until} before presenting the \
         refresh token again"
    )]
    Unsettled {
        until: String,
        /// When to look again.
        retry_in: std::time::Duration,
    },
    /// A stored token cannot be decrypted with the configured key, or needs one that is not
    /// configured.
    #[error("{0}")]
    Sealed(String),
}

impl StoreError {
    /// Whether the store could not be reached at all (as opposed to answering "busy").
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// One token and the version the store gave it.
#[derive(Debug, Clone)]
pub struct Versioned {
    /// Assigned by the store from one counter that only grows: a token written later has a
    /// higher version, whichever replica wrote it.
    pub version: u64,
    pub token: StoredToken,
}

/// Everything the store holds, and the version counter as it was when the read began: a
/// token missing from `tokens` was removed unless a holder's version is above `upto`.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub tokens: Vec<Versioned>,
    pub upto: u64,
}

/// What a save may replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Whatever is stored (a new login supersedes any grant before it).
    Any,
    /// Only the token of this version; 0: only when none is stored.
    Version(u64),
}

/// The outcome of a compare-and-set save.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// Stored under this new version.
    Stored(u64),
    /// The stored token is not the expected one: someone wrote since. Nothing was written.
    Conflict,
}

/// A notice that another replica changed the store. Carries names and versions, never a
/// token value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Saved {
        provider: String,
        subject: String,
        version: u64,
    },
    Removed {
        provider: String,
        subject: String,
        version: u64,
    },
    /// Notices may have been missed (the store was unreachable, or this replica fell
    /// behind): read everything again.
    Resync,
}

pub trait TokenStore: Send + Sync {
    /// Every stored token with its version.
    fn load(&self) -> StoreFuture<'_, Loaded>;
    /// One token as stored now, if there is one.
    fn load_one<'a>(&'a self, provider: &'a str, subject: &'a str) -> StoreFuture<'a, Option<Versioned>>;
    /// Durably stores `token` (replacing the one of the same provider and subject) if the
    /// stored one is `expect`; when the future resolves, a crash can no longer lose it.
    fn save(&self, token: StoredToken, expect: Expect) -> StoreFuture<'_, Saved>;
    /// Durably removes the token of `provider`/`subject`, if there is one.
    fn remove<'a>(&'a self, provider: &'a str, subject: &'a str) -> StoreFuture<'a, ()>;
    /// Takes the lock of `provider`/`subject` before a platform call that replaces the
    /// token, waiting while another holder has it. One process owns a file store, and each
    /// token's cell already serializes its refreshes, so by default there is nothing to take.
    fn lock<'a>(&'a self, _provider: &'a str, _subject: &'a str) -> StoreFuture<'a, Lease> {
        Box::pin(async { Ok(Lease::free()) })
    }
    /// Notices of what other processes change, for a store they share.
    fn changes(&self) -> Option<broadcast::Receiver<Change>> {
        None
    }
    /// Whether other processes share this store (and it may be unreachable for a while).
    fn is_shared(&self) -> bool {
        false
    }
}
