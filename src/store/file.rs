//! The embedded default store: all tokens in one JSON file, mode 0600, rewritten whole on
//! each change by atomic replace. One process owns it, so its versions are counters kept in
//! memory and its lock is free (each token's cell already serializes its refreshes).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::record::Record;
use super::seal::Sealer;
use super::{Expect, Loaded, Saved, StoreError, StoreFuture, StoredToken, TokenStore, Versioned};
use crate::atomic_write;
use crate::metrics::StoreMetrics;

#[derive(Serialize, Deserialize, Default)]
struct FileShape {
    version: u32,
    tokens: Vec<Record>,
}

type Key = (String, String);

/// All tokens in one JSON file, rewritten whole on each change by atomic replace: a temp
/// file written and fsynced, renamed over the old one, then the directory fsynced.
///
/// Writes are group-committed: a change waits until a write that includes it is durable,
/// and one write carries every change made while the previous write was under way, so a
/// burst of refreshes costs a couple of writes, not one per token. The file only ever
/// moves forward.
pub struct FileStore {
    path: PathBuf,
    sealer: Option<Sealer>,
    state: std::sync::Mutex<Pending>,
    /// One writer at a time; holds the sequence number the file on disk has reached.
    writer: tokio::sync::Mutex<u64>,
    metrics: StoreMetrics,
}

#[derive(Default)]
struct Pending {
    tokens: BTreeMap<Key, Versioned>,
    /// Bumped by every change.
    seq: u64,
    /// The last version given out.
    version: u64,
}

/// What a change did to the tokens in memory.
enum Applied {
    Changed(Saved),
    /// Nothing to change; the file must still hold what memory holds.
    Unchanged(Saved),
}

impl FileStore {
    /// Opens the store at `path`, reading every token (sealed ones with `sealer`). A store
    /// with tokens in the clear is rewritten sealed at once when `sealer` is given.
    pub fn open(
        path: &Path,
        sealer: Option<Sealer>,
        metrics: StoreMetrics,
    ) -> Result<Arc<FileStore>, StoreError> {
        remove_leftovers(path);
        let records = read_records(path)?;
        let rewrite = sealer.is_some() && records.iter().any(Record::is_plain);
        let mut tokens = BTreeMap::new();
        let mut version = 0;
        for r in records {
            let token = r.open(sealer.as_ref())?;
            version += 1;
            tokens.insert(
                (token.provider.clone(), token.subject.clone()),
                Versioned { version, token },
            );
        }
        metrics.up.set(1);
        let store = FileStore {
            path: path.to_path_buf(),
            sealer,
            state: std::sync::Mutex::new(Pending {
                tokens,
                seq: u64::from(rewrite),
                version,
            }),
            writer: tokio::sync::Mutex::new(0),
            metrics,
        };
        if rewrite {
            let shape = store.shape(&store.lock_state());
            write_atomic(path, &shape)?;
            tracing::info!(path = %path.display(), "the token store was rewritten encrypted");
        }
        Ok(Arc::new(store))
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn shape(&self, state: &Pending) -> FileShape {
        FileShape {
            version: 1,
            tokens: state
                .tokens
                .values()
                .map(|v| Record::seal(&v.token, self.sealer.as_ref()))
                .collect(),
        }
    }

    /// Applies `change` in memory, then returns once a write including it is durable.
    async fn commit(
        &self,
        op: &'static str,
        change: impl FnOnce(&mut Pending) -> Applied,
    ) -> Result<Saved, StoreError> {
        let (seq, saved) = {
            let mut state = self.lock_state();
            match change(&mut state) {
                Applied::Changed(saved) => {
                    state.seq += 1;
                    (state.seq, saved)
                }
                Applied::Unchanged(saved) => (state.seq, saved),
            }
        };
        if saved == Saved::Conflict {
            return Ok(saved);
        }
        let mut written = self.writer.lock().await;
        if *written >= seq {
            // A write that started after this change carried it.
            return Ok(saved);
        }
        let (shape, upto) = {
            let state = self.lock_state();
            (self.shape(&state), state.seq)
        };
        let path = self.path.clone();
        let result = match tokio::task::spawn_blocking(move || write_atomic(&path, &shape)).await {
            Ok(Ok(())) => {
                *written = upto;
                Ok(saved)
            }
            Ok(Err(e)) => Err(e),
            Err(join) => Err(StoreError::Write {
                path: self.path.clone(),
                source: std::io::Error::other(join.to_string()),
            }),
        };
        if result.is_err() {
            self.metrics.errors.with_label_values(&[op]).inc();
        }
        result
    }
}

impl TokenStore for FileStore {
    /// What memory holds, which is what the file holds once the writes under way are done.
    /// The file is read too, so that a file that can no longer be read fails what needs the
    /// store now (a reload) rather than going unnoticed until the next start.
    fn load(&self) -> StoreFuture<'_, Loaded> {
        Box::pin(async move {
            let path = self.path.clone();
            let readable = tokio::task::spawn_blocking(move || read_records(&path).map(|_| ())).await;
            if let Ok(Err(e)) = readable {
                self.metrics.errors.with_label_values(&["load"]).inc();
                return Err(e);
            }
            let state = self.lock_state();
            Ok(Loaded {
                tokens: state.tokens.values().cloned().collect(),
                upto: state.version,
            })
        })
    }

    fn load_one<'a>(&'a self, provider: &'a str, subject: &'a str) -> StoreFuture<'a, Option<Versioned>> {
        let found = self
            .lock_state()
            .tokens
            .get(&(provider.to_string(), subject.to_string()))
            .cloned();
        Box::pin(async move { Ok(found) })
    }

    fn save(&self, token: StoredToken, expect: Expect) -> StoreFuture<'_, Saved> {
        Box::pin(self.commit("save", move |state| {
            let key = (token.provider.clone(), token.subject.clone());
            let current = state.tokens.get(&key);
            if let Some(c) = current.filter(|c| c.token == token) {
                // Saved already (a retry after a failed write): the write below makes it durable.
                return Applied::Unchanged(Saved::Stored(c.version));
            }
            if let Expect::Version(v) = expect {
                if current.map_or(0, |c| c.version) != v {
                    return Applied::Unchanged(Saved::Conflict);
                }
            }
            state.version += 1;
            let version = state.version;
            state.tokens.insert(key, Versioned { version, token });
            Applied::Changed(Saved::Stored(version))
        }))
    }

    fn remove<'a>(&'a self, provider: &'a str, subject: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.commit("remove", move |state| {
                let key = (provider.to_string(), subject.to_string());
                match state.tokens.remove(&key) {
                    Some(_) => {
                        state.version += 1;
                        Applied::Changed(Saved::Stored(state.version))
                    }
                    None => Applied::Unchanged(Saved::Stored(0)),
                }
            })
            .await
            .map(|_| ())
        })
    }
}

/// Reads the store file (sealed tokens opened with `sealer`); a missing file is an empty
/// store.
pub fn read(path: &Path, sealer: Option<&Sealer>) -> Result<Vec<StoredToken>, StoreError> {
    read_records(path)?.into_iter().map(|r| r.open(sealer)).collect()
}

fn read_records(path: &Path) -> Result<Vec<Record>, StoreError> {
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
mod tests;
