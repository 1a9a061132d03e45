//! A token whose save failed serves from memory while its save is retried in the background.
//! Until the save lands, that token may hold the only refresh token the platform still
//! honours (it rotated the stored one), so shutting down tries the save at once and waits
//! for it, within the shutdown grace, instead of exiting with the grant in memory.

use std::sync::{Arc, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::cell::TokenCell;
use crate::secret::RefreshToken;
use crate::store::{Expect, Saved, StoredToken, TokenStore};

/// Between attempts once shutting down: the grace bounds them, not a backoff.
const HURRIED: Duration = Duration::from_millis(200);
/// After taking over from a stored refusal of the refresh token this answer rotated.
const TAKE_OVER: Duration = Duration::from_millis(50);
const FIRST: Duration = Duration::from_secs(1);
const LONGEST: Duration = Duration::from_secs(30);

/// What a background save writes, and what it checks against.
pub(super) struct Retry {
    pub store: Arc<dyn TokenStore>,
    pub stored: StoredToken,
    pub expect: Expect,
    /// The refresh token the answer rotated: a refusal of it stored by another replica is
    /// superseded by this answer.
    pub spent: Option<RefreshToken>,
    /// The token's generation: the save ends once another token is current.
    pub generation: u64,
}

/// A background save under way, for shutdown to hurry and wait for.
pub(super) struct PendingSave {
    hurry: Arc<Notify>,
    task: JoinHandle<()>,
}

impl TokenCell {
    /// Retries `retry` in the background until it lands or another token is current.
    pub(super) fn keep_saving(&self, retry: Retry) {
        let hurry = Arc::new(Notify::new());
        let task = tokio::spawn(retry.run(self.me.clone(), Arc::clone(&hurry)));
        let pending = PendingSave { hurry, task };
        // A save replaced here was of an older token: it ends by itself.
        *self.saving.lock().unwrap_or_else(PoisonError::into_inner) = Some(pending);
    }

    /// Shutting down: a save being retried is tried at once and then every `HURRIED` until
    /// it lands; resolves then, or at once when none is under way. The caller bounds the wait
    /// (the shutdown grace).
    pub async fn saved_before_exit(&self) {
        let pending = self.saving.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(pending) = pending {
            pending.hurry.notify_one();
            // A task that panicked has nothing left to save.
            let _ = pending.task.await;
        }
    }
}

impl Retry {
    /// With backoff, each failure counted by the store. Gives way to a newer stored token.
    /// Holds the cell weakly: a slot dropped by a reload ends the retries.
    async fn run(mut self, cell: Weak<TokenCell>, hurry: Arc<Notify>) {
        let mut delay = FIRST;
        let mut hurried = false;
        let mut said = false;
        loop {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = hurry.notified(), if !hurried => hurried = true,
            }
            delay = if hurried {
                HURRIED
            } else {
                (delay * 2).min(LONGEST)
            };
            let Some(cell) = cell.upgrade() else { return };
            // A slot handed over (shutdown, reload) still holds this token: only another
            // token's arrival (or a revocation, which clears it) ends the retries.
            if cell.current().as_ref().map(|t| t.generation) != Some(self.generation) {
                return;
            }
            match self.store.save(self.stored.clone(), self.expect).await {
                Ok(Saved::Stored(v)) => {
                    cell.mark_saved(self.generation, v);
                    tracing::info!(provider = %cell.provider, subject = %cell.subject, "the token is stored now");
                    return;
                }
                Ok(Saved::Conflict) => match self.conflict(&cell).await {
                    Conflict::Settled => return,
                    Conflict::TakeOver => delay = delay.min(TAKE_OVER),
                    Conflict::Unread => {}
                },
                // Said once: the attempts go on, each counted by the store.
                Err(e) if hurried && !said => {
                    said = true;
                    tracing::error!(
                        provider = %cell.provider, subject = %cell.subject, error = %e,
                        "shutting down with a token the store has not taken; retrying until the \
                         shutdown grace ends, after which its refresh token is lost and the grant \
                         may need a new login"
                    );
                }
                Err(_) => {}
            }
        }
    }

    /// Another write came first: settles which token stands.
    async fn conflict(&mut self, cell: &TokenCell) -> Conflict {
        let Ok(Some(now)) = self.store.load_one(&cell.provider, &cell.subject).await else {
            return Conflict::Unread;
        };
        if now.token == self.stored {
            cell.mark_saved(self.generation, now.version);
            return Conflict::Settled;
        }
        // Another replica presented the refresh token this answer rotated, was refused, and
        // stored the refusal: this answer is the grant, and replaces it.
        let refused_ours =
            now.token.needs_login && self.spent.is_some() && now.token.refresh_token == self.spent;
        if refused_ours {
            self.expect = Expect::Version(now.version);
            return Conflict::TakeOver;
        }
        // Fenced in the background: said as in the foreground, so one line tells every
        // fenced save.
        tracing::info!(
            provider = %cell.provider, subject = %cell.subject, version = now.version,
            "another replica stored a newer token first; using it"
        );
        cell.adopt(&now);
        Conflict::Settled
    }
}

enum Conflict {
    /// This token is stored after all, or a newer one was adopted: the retries end.
    Settled,
    /// The stored token is a refusal of the refresh token this answer rotated: it is
    /// written over, soon.
    TakeOver,
    /// The stored token could not be read: retried as a failed write.
    Unread,
}
