//! Opening the store `[store]` configures.

use std::sync::Arc;
use std::time::Duration;

use super::redis::{RedisStore, Settings};
use super::seal::Sealer;
use super::{FileStore, StoreError, TokenStore};
use crate::config::{Store, StoreKind};
use crate::metrics::StoreMetrics;

/// The store as opened, for what only one kind has (Redis: its logins, its connection).
#[derive(Clone)]
pub enum Opened {
    File(Arc<FileStore>),
    Redis(Arc<RedisStore>),
}

impl Opened {
    pub fn store(&self) -> Arc<dyn TokenStore> {
        match self {
            Opened::File(f) => Arc::clone(f) as Arc<dyn TokenStore>,
            Opened::Redis(r) => Arc::clone(r) as Arc<dyn TokenStore>,
        }
    }
}

/// Opens the configured store. A file store is read now (a corrupt file or a wrong key is an
/// error); Redis is connected in the background (needs a Tokio runtime), and may be down.
/// `max_lock_wait`: how long a refresh waits for another replica's lock.
pub fn open(config: &Store, max_lock_wait: Duration, metrics: StoreMetrics) -> Result<Opened, StoreError> {
    let sealer = match (&config.encryption_key, &config.encryption_key_file) {
        (Some(key), Some(file)) => Some(Sealer::new(key, file)),
        _ => None,
    };
    match &config.kind {
        StoreKind::File => Ok(Opened::File(FileStore::open(&config.path, sealer, metrics)?)),
        StoreKind::Redis(r) => {
            let settings = Settings {
                url: r.url.clone(),
                key_prefix: r.key_prefix.clone(),
                lock_ttl: r.lock_ttl,
                max_lock_wait,
                sealer,
            };
            Ok(Opened::Redis(Arc::new(RedisStore::open(settings, metrics)?)))
        }
    }
}
