//! The loop that keeps one token fresh: sleep until the schedule says, refresh, and on
//! failure back off while the current token keeps serving (linkerd's `certify` shape).

use std::sync::Arc;
use std::time::Instant;

use tokio::time::sleep_until;

use super::cell::{Status, TokenCell, TokenKind};
use super::client::PlatformClient;
use super::schedule;

/// Runs until the task is aborted (its provider is dropped) .
pub async fn keep_fresh(cell: Arc<TokenCell>, client: Arc<PlatformClient>) {
    // One jitter per cell, so tokens issued together do not refresh together.
    let jitter: f64 = rand::random();
    loop {
        if cell.is_retired() {
            return;
        }
        let changed = cell.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();

        let current = cell.current().clone();
        let due = match (&current, cell.retry_at()) {
            // A refused user grant waits for a new login.
            _ if cell.status() == Status::NeedsLogin => None,
            (_, Some(retry)) => Some(retry),
            // A user slot without a token has nothing to refresh with: wait for a login.
            (None, None) if cell.kind == TokenKind::User => None,
            (None, None) => Some(Instant::now()),
            (Some(t), None) => {
                let grant_life = t
                    .refresh_expires_at
                    .and_then(|at| at.duration_since(t.expires_at - t.lifetime).ok());
                // App tokens are renewed by client credentials; a user token only with its
                // refresh token.
                let renewable = cell.kind != TokenKind::User || t.refresh.is_some();
                Some(t.issued + schedule::renew_after(t.lifetime, grant_life, renewable, jitter))
            }
        };
        match due {
            Some(at) => {
                tokio::select! {
                    _ = sleep_until(at.into()) => {}
                    _ = &mut changed => continue,
                }
            }
            None => {
                changed.await;
                continue;
            }
        }
        let stale = current.as_ref().map(|t| t.generation);
        // A failed attempt is logged where it is decided, with its reason and next attempt.
        let _ = cell.refresh(&client, stale, false).await;
    }
}
