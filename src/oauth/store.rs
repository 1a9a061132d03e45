//! Where tokens outlive the process. The `TokenStore` trait is what the lifecycle needs —
//! load everything at start, save one token before its access token is used, remove one —
//! so a store shared by replicas (Redis, with a lock around each refresh) can stand behind
//! it later without the request path noticing. `FileStore` is the embedded default.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::atomic_write;
use crate::secret::{AccessToken, RefreshToken};

pub type StoreFuture<'a> = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read the token store {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the token store {path} is not valid JSON ({source}); move it aside to start without it")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write the token store {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One token as stored. Holds secrets: the file is mode 0600 and this type has no `Display`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredToken {
    pub provider: String,
    pub subject: String,
    /// `app` or `user`.
    pub kind: String,
    pub access_token: AccessToken,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    /// Unix seconds when the token request was sent.
    pub issued_at: f64,
    /// Seconds of validity from `issued_at`.
    pub lifetime: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_expires_at: Option<f64>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The platform refused this grant's refresh; a new login is needed.
    #[serde(default)]
    pub needs_login: bool,
}

/// Held for the whole of one refresh of a user token: the platform call and the save of
/// its answer.
#[derive(Default)]
pub struct RefreshGuard {
    /// The token as the store holds it now, if another holder (a replica sharing the store)
    /// may have refreshed it since this process last looked.
    pub latest: Option<StoredToken>,
    /// Releases the lock when dropped.
    pub release: Option<Box<dyn Send + Sync>>,
}

pub type LockFuture<'a> = Pin<Box<dyn Future<Output = Result<RefreshGuard, StoreError>> + Send + 'a>>;

pub trait TokenStore: Send + Sync {
    /// Every stored token, once at start.
    fn load(&self) -> Result<Vec<StoredToken>, StoreError>;
    /// Durably saves `token` (replacing the one of the same provider and subject); when the
    /// future resolves, a crash can no longer lose it.
    fn save(&self, token: StoredToken) -> StoreFuture<'_>;
    /// Durably removes the token of `provider`/`subject`, if there is one.
    fn remove<'a>(&'a self, provider: &'a str, subject: &'a str) -> StoreFuture<'a>;
    /// Taken before refreshing a user token. A store shared by replicas (Redis) takes a
    /// lock here, so only one replica rotates a refresh token at a time, and hands back the
    /// token it holds, so a replica that lost the race uses the winner's token instead of
    /// refreshing with a spent refresh token. One process owns the embedded store, and the
    /// token's cell already serializes its refreshes, so by default there is nothing to do.
    fn lock_refresh<'a>(&'a self, _provider: &'a str, _subject: &'a str) -> LockFuture<'a> {
        Box::pin(async { Ok(RefreshGuard::default()) })
    }
}

#[derive(Serialize, Deserialize, Default)]
struct FileShape {
    version: u32,
    tokens: Vec<StoredToken>,
}

/// All tokens in one JSON file, rewritten whole on each change by atomic replace: a temp
/// file written and fsynced, renamed over the old one, then the directory fsynced.
///
/// Writes are group-committed: a change waits until a write that includes it is durable,
/// and one write carries every change made while the previous write was under way, so a
/// burst of refreshes costs a couple of writes, not one per token. The file only ever
/// moves forward.
pub struct FileStore {
    path: PathBuf,
    state: std::sync::Mutex<Pending>,
    /// One writer at a time; holds the sequence number the file on disk has reached.
    writer: tokio::sync::Mutex<u64>,
}

#[derive(Default)]
struct Pending {
    tokens: BTreeMap<(String, String), StoredToken>,
    /// Bumped by every change.
    seq: u64,
}

impl FileStore {
    pub fn open(path: &Path) -> Result<Arc<FileStore>, StoreError> {
        remove_leftovers(path);
        let tokens = read(path)?
            .into_iter()
            .map(|t| ((t.provider.clone(), t.subject.clone()), t))
            .collect();
        Ok(Arc::new(FileStore {
            path: path.to_path_buf(),
            state: std::sync::Mutex::new(Pending { tokens, seq: 0 }),
            writer: tokio::sync::Mutex::new(0),
        }))
    }

    /// Applies `change`, then returns once a write including it is durable.
    async fn commit(
        &self,
        change: impl FnOnce(&mut BTreeMap<(String, String), StoredToken>) -> bool,
    ) -> Result<(), StoreError> {
        let seq = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if !change(&mut state.tokens) {
                return Ok(());
            }
            state.seq += 1;
            state.seq
        };
        let mut written = self.writer.lock().await;
        if *written >= seq {
            // A write that started after this change carried it.
            return Ok(());
        }
        let (shape, upto) = {
            let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let shape = FileShape {
                version: 1,
                tokens: state.tokens.values().cloned().collect(),
            };
            (shape, state.seq)
        };
        let path = self.path.clone();
        match tokio::task::spawn_blocking(move || write_atomic(&path, &shape)).await {
            Ok(Ok(())) => {
                *written = upto;
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(join) => Err(StoreError::Write {
                path: self.path.clone(),
                source: std::io::Error::other(join.to_string()),
            }),
        }
    }
}

impl TokenStore for FileStore {
    fn load(&self) -> Result<Vec<StoredToken>, StoreError> {
        read(&self.path)
    }

    fn save(&self, token: StoredToken) -> StoreFuture<'_> {
        Box::pin(self.commit(move |tokens| {
            tokens.insert((token.provider.clone(), token.subject.clone()), token);
            true
        }))
    }

    fn remove<'a>(&'a self, provider: &'a str, subject: &'a str) -> StoreFuture<'a> {
        Box::pin(self.commit(move |tokens| {
            tokens
                .remove(&(provider.to_string(), subject.to_string()))
                .is_some()
        }))
    }
}

/// Reads the store file; a missing file is an empty store.
pub fn read(path: &Path) -> Result<Vec<StoredToken>, StoreError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(StoreError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let shape: FileShape = serde_json::from_slice(&bytes).map_err(|source| StoreError::Corrupt {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(shape.tokens)
}

/// A crash between writing a temp file and renaming it leaves the temp file behind; it
/// holds tokens, so it does not stay.
fn remove_leftovers(path: &Path) {
    let dir = atomic_write::parent(path);
    let prefix = atomic_write::temp_prefix(path);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if file.starts_with(&prefix) && file.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn write_atomic(path: &Path, shape: &FileShape) -> Result<(), StoreError> {
    let err = |source| StoreError::Write {
        path: path.to_path_buf(),
        source,
    };
    let bytes = serde_json::to_vec_pretty(shape).map_err(|e| err(std::io::Error::other(e)))?;
    atomic_write::write(path, &bytes).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(subject: &str, access: &str) -> StoredToken {
        StoredToken {
            provider: "p".into(),
            subject: subject.into(),
            kind: "user".into(),
            access_token: AccessToken::new(access),
            refresh_token: Some(RefreshToken::new("r")),
            issued_at: 1.0,
            lifetime: 3600.0,
            refresh_expires_at: None,
            scopes: vec!["a".into()],
            user_id: None,
            needs_login: false,
        }
    }

    #[tokio::test]
    async fn saves_replaces_removes_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/tokens.json");
        let store = FileStore::open(&path).unwrap();
        store.save(token("alice", "a1")).await.unwrap();
        store.save(token("bob", "b1")).await.unwrap();
        store.save(token("alice", "a2")).await.unwrap();
        store.remove("p", "bob").await.unwrap();
        let loaded = FileStore::open(&path).unwrap().load().unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].access_token.secret(), "a2");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp files left behind");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_saves_are_all_durable_when_they_return() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        let store = FileStore::open(&path).unwrap();
        let saves: Vec<_> = (0..50)
            .map(|i| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    store
                        .save(token(&format!("user{i}"), &format!("a{i}")))
                        .await
                        .unwrap();
                    // Once `save` returns, this token is on disk.
                    let on_disk = read(&store.path).unwrap();
                    assert!(on_disk.iter().any(|t| t.subject == format!("user{i}")));
                })
            })
            .collect();
        for s in saves {
            s.await.unwrap();
        }
        assert_eq!(read(&path).unwrap().len(), 50);
    }

    #[test]
    fn temp_files_of_a_crashed_write_are_removed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        let stale = dir.path().join(".tokens.json.4242.tmp");
        std::fs::write(&stale, "{}").unwrap();
        let other = dir.path().join("unrelated.tmp");
        std::fs::write(&other, "x").unwrap();
        FileStore::open(&path).unwrap();
        assert!(!stale.exists());
        assert!(other.exists());
    }

    #[test]
    fn a_missing_file_is_empty_and_a_corrupt_one_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(&dir.path().join("none.json")).unwrap().is_empty());
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{not json").unwrap();
        let e = read(&bad).unwrap_err().to_string();
        assert!(e.contains("bad.json") && e.contains("move it aside"), "{e}");
    }
}
