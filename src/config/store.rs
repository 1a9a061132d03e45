//! `[store]`: which store keeps the tokens (a file, or Redis shared by replicas), and the key
//! that encrypts them at rest. Checked on its own too: `token-sidecar tokens` and `store
//! import` need only this part of the configuration to be valid.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::problems::Problems;
use super::raw::RawStore;
use super::validate::resolve;
use super::DEFAULT_STORE_PATH;
use crate::secret::RedisUrl;
use crate::store::seal::SealKey;

pub const DEFAULT_KEY_PREFIX: &str = "token-sidecar";
pub const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(15);

#[derive(Debug, Clone)]
pub struct Store {
    pub kind: StoreKind,
    /// The file store's path (also set, unused, with Redis).
    pub path: PathBuf,
    /// `path` was written with `kind = "redis"`, where nothing reads it: a warning, since
    /// switching a file store to Redis by adding `kind` and `url` is the natural edit.
    pub path_unread: bool,
    /// Where the key came from, for errors that name it.
    pub encryption_key_file: Option<PathBuf>,
    pub encryption_key: Option<SealKey>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    File,
    Redis(RedisStore),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisStore {
    /// May hold a password: never logged, printed or shown.
    pub url: RedisUrl,
    pub url_file: Option<PathBuf>,
    pub key_prefix: String,
    pub lock_ttl: Duration,
}

impl Store {
    /// The file store at its default path, unencrypted.
    pub fn file(path: PathBuf) -> Store {
        Store {
            kind: StoreKind::File,
            path,
            path_unread: false,
            encryption_key_file: None,
            encryption_key: None,
        }
    }

    /// What a log line or `check` may say about it: the kind, and the file or the key prefix.
    pub fn describe(&self) -> String {
        let encrypted = if self.encryption_key.is_some() {
            ", encrypted"
        } else {
            ""
        };
        match &self.kind {
            StoreKind::File => format!("file {}{encrypted}", self.path.display()),
            StoreKind::Redis(r) => format!("redis (key_prefix {:?}{encrypted})", r.key_prefix),
        }
    }
}

pub(super) fn store(raw: &RawStore, base: &Path, p: &mut Problems) -> Store {
    let path = resolve(base, raw.path.as_deref().unwrap_or(DEFAULT_STORE_PATH));
    let encryption_key_file = raw.encryption_key_file.as_deref().map(|f| resolve(base, f));
    let encryption_key = encryption_key_file
        .as_deref()
        .and_then(|f| match SealKey::read(f) {
            Ok(k) => Some(k),
            Err(e) => {
                p.add("store.encryption_key_file", e);
                None
            }
        });
    let kind = match raw.kind.as_deref().unwrap_or("file") {
        "file" => {
            for (key, set) in [
                ("url", raw.url.is_some()),
                ("url_file", raw.url_file.is_some()),
                ("key_prefix", raw.key_prefix.is_some()),
                ("lock_ttl", raw.lock_ttl.is_some()),
            ] {
                if set {
                    p.add(
                        format!("store.{key}"),
                        "is only read with kind = \"redis\"; set kind = \"redis\" or remove it",
                    );
                }
            }
            StoreKind::File
        }
        "redis" => match redis(raw, base, p) {
            Some(r) => StoreKind::Redis(r),
            None => StoreKind::File,
        },
        other => {
            p.add(
                "store.kind",
                format!("{other:?} is not a store kind; write \"file\" or \"redis\""),
            );
            StoreKind::File
        }
    };
    Store {
        path_unread: raw.path.is_some() && matches!(kind, StoreKind::Redis(_)),
        kind,
        path,
        encryption_key_file,
        encryption_key,
    }
}

fn redis(raw: &RawStore, base: &Path, p: &mut Problems) -> Option<RedisStore> {
    let url_file = raw.url_file.as_deref().map(|f| resolve(base, f));
    let text = match (&raw.url, &url_file) {
        (Some(_), Some(_)) => {
            p.add("store.url_file", "give either url or url_file, not both");
            return None;
        }
        (Some(url), None) => url.trim().to_string(),
        (None, Some(file)) => match std::fs::read_to_string(file) {
            Ok(text) => text.trim().to_string(),
            Err(e) => {
                p.add("store.url_file", format!("cannot read {}: {e}", file.display()));
                return None;
            }
        },
        (None, None) => {
            p.add(
                "store.url",
                "is required with kind = \"redis\": write one such as \"redis://127.0.0.1:6379/0\", \
                 or set url_file",
            );
            return None;
        }
    };
    let key = if url_file.is_some() {
        "store.url_file"
    } else {
        "store.url"
    };
    if let Err(why) = crate::store::redis::check_url(&text) {
        // The URL may hold a password: the message says what is wrong, never the URL.
        p.add(key, why);
        return None;
    }
    let key_prefix = raw
        .key_prefix
        .clone()
        .unwrap_or_else(|| DEFAULT_KEY_PREFIX.to_string());
    let prefix_ok =
        !key_prefix.is_empty() && key_prefix.len() <= 128 && key_prefix.bytes().all(|b| b.is_ascii_graphic());
    if !prefix_ok {
        p.add(
            "store.key_prefix",
            format!("{key_prefix:?} is not a key prefix; write 1 to 128 printable characters without spaces"),
        );
    }
    let lock_ttl = p.duration("store.lock_ttl", raw.lock_ttl.as_deref(), DEFAULT_LOCK_TTL);
    if lock_ttl < Duration::from_millis(100) {
        p.add(
            "store.lock_ttl",
            "is too short to hold a lock across a network round trip; give at least \"100ms\"",
        );
    }
    Some(RedisStore {
        url: RedisUrl::new(text),
        url_file,
        key_prefix,
        lock_ttl,
    })
}
