//! Token files (`[[token_files]]`), for clients that cannot go through the proxy (a Twitch
//! chat bot's IRC `PASS`): each file holds its token while the token may be used, replaced
//! atomically (`atomic_write`: random temp name, `O_EXCL|O_NOFOLLOW`, mode 0600, fsync,
//! rename) whenever the token changes, and removed once there is none to hold (revoked,
//! deleted, `needs_login`, never connected).
//!
//! One task keeps every file. It follows the token slots as the live snapshot has them —
//! slots come and go with logins of new users, revocations and reloads — waking at once
//! when a slot it watches changes, and looking again every `POLL` for what no slot can
//! announce (a slot created, a status turned `needs_login`, a reload). It reads memory only,
//! never the store, and never touches the request path.

mod format;

use std::collections::HashMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::select_all;
use tokio::sync::futures::Notified;
use tokio::sync::watch;

use crate::config::TokenFileConfig;
use crate::oauth::{Status, Token, TokenCell, APP_SUBJECT};
use crate::snapshot::Snapshot;
use crate::Shared;

pub use format::content;

/// The longest a change can wait to reach its file, besides the write itself.
pub const POLL: Duration = Duration::from_millis(200);
/// With no token file configured, how soon one added by a reload is noticed.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// After a failed write or removal, the wait before the next try.
const RETRY: Duration = Duration::from_secs(5);

/// What one file holds, as far as this process knows.
#[derive(Default)]
struct Kept {
    /// The token written last; `None` once removed (or before the first look).
    written: Option<Arc<Token>>,
    /// Whether the file was looked at since start (a stale one is removed at the first look).
    seen: bool,
    retry_at: Option<Instant>,
}

/// Keeps every configured token file current until `stop`.
pub async fn keep(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut kept: HashMap<PathBuf, Kept> = HashMap::new();
    loop {
        let snapshot = shared.snapshot.load_full();
        let files = &snapshot.config.token_files;
        let cells: Vec<Option<Arc<TokenCell>>> = files.iter().map(|f| cell_of(&snapshot, f)).collect();
        // Armed before the slots are read, so a change made while files are written wakes
        // the next wait.
        let mut changes: Vec<Pin<Box<Notified<'_>>>> = cells
            .iter()
            .flatten()
            .map(|c| Box::pin(c.changed.notified()))
            .collect();
        for change in &mut changes {
            change.as_mut().enable();
        }
        for (file, cell) in files.iter().zip(&cells) {
            let entry = kept.entry(file.path.clone()).or_default();
            reconcile(file, cell.as_deref().and_then(usable), entry).await;
        }
        forget_unconfigured(&mut kept, files).await;
        let poll = if files.is_empty() { IDLE_POLL } else { POLL };
        let changed = async move {
            // (`select_all` of nothing would panic.)
            if changes.is_empty() {
                std::future::pending::<()>().await;
            } else {
                select_all(changes).await;
            }
        };
        tokio::select! {
            _ = changed => {}
            _ = tokio::time::sleep(poll) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// The slot whose token `file` holds, in `snapshot`.
fn cell_of(snapshot: &Snapshot, file: &TokenFileConfig) -> Option<Arc<TokenCell>> {
    let provider = snapshot.providers.get(&file.provider)?;
    if file.subject == APP_SUBJECT {
        provider.app.clone()
    } else {
        provider.user(&file.subject)
    }
}

/// The token a file should hold now: one the platform has not refused, of a slot in use.
fn usable(cell: &TokenCell) -> Option<Arc<Token>> {
    if cell.is_retired() || cell.status() == Status::NeedsLogin {
        return None;
    }
    cell.current().clone()
}

async fn reconcile(file: &TokenFileConfig, token: Option<Arc<Token>>, kept: &mut Kept) {
    let same = match (&token, &kept.written) {
        (Some(t), Some(w)) => Arc::ptr_eq(t, w),
        (None, None) => kept.seen,
        _ => false,
    };
    if same || kept.retry_at.is_some_and(|at| Instant::now() < at) {
        return;
    }
    let path = file.path.clone();
    let (provider, subject) = (&file.provider, &file.subject);
    let done = match &token {
        Some(t) => {
            let bytes = content(file.format, t);
            blocking(move || crate::atomic_write::write(&path, &bytes)).await
        }
        None => blocking(move || remove(&path)).await,
    };
    match done {
        Ok(()) => {
            match &token {
                Some(_) => {
                    tracing::debug!(path = %file.path.display(), provider = %provider, subject = %subject, "token file written")
                }
                None if kept.written.is_some() => {
                    tracing::info!(path = %file.path.display(), provider = %provider, subject = %subject, "token file removed: no usable token")
                }
                None => {}
            }
            kept.written = token;
            kept.seen = true;
            kept.retry_at = None;
        }
        Err(e) => {
            tracing::warn!(path = %file.path.display(), provider = %provider, subject = %subject, error = %e, "cannot keep the token file; trying again");
            kept.retry_at = Some(Instant::now() + RETRY);
        }
    }
}

/// Removes the files of entries a reload took out of the configuration.
async fn forget_unconfigured(kept: &mut HashMap<PathBuf, Kept>, files: &[TokenFileConfig]) {
    let gone: Vec<PathBuf> = kept
        .keys()
        .filter(|p| !files.iter().any(|f| &f.path == *p))
        .cloned()
        .collect();
    for path in gone {
        if kept.get(&path).is_some_and(|k| k.written.is_some()) {
            let at = path.clone();
            if let Err(e) = blocking(move || remove(&at)).await {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove a token file no longer configured");
            }
        }
        kept.remove(&path);
    }
}

/// Removes the file (or a symlink planted there: the link, never what it points to).
fn remove(path: &std::path::Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

async fn blocking(f: impl FnOnce() -> std::io::Result<()> + Send + 'static) -> std::io::Result<()> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
}
