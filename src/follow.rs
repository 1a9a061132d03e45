//! Following a store that replicas share: what the others change — logins, refreshes,
//! refusals, revocations and removals — arrives as notices that carry names and versions;
//! the token itself is read from the store. After the store was unreachable (or this
//! replica fell behind), everything is read again, and a refresh that waited for the store
//! is due at once. Nothing here is on the request path.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::{broadcast, watch};

use crate::oauth::APP_SUBJECT;
use crate::store::Change;
use crate::Shared;

/// Runs until `stop`.
pub async fn follow(
    shared: Arc<Shared>,
    mut changes: broadcast::Receiver<Change>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let change = tokio::select! {
            c = changes.recv() => c,
            _ = stop.wait_for(|s| *s) => return,
        };
        match change {
            Ok(Change::Saved {
                provider,
                subject,
                version,
            }) => saved(&shared, &provider, &subject, version).await,
            Ok(Change::Removed {
                provider,
                subject,
                version,
            }) => removed(&shared, &provider, &subject, version),
            Ok(Change::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => resync(&shared).await,
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// The version this replica holds of `provider`/`subject` (0: none).
fn held(shared: &Shared, provider: &str, subject: &str) -> u64 {
    let snapshot = shared.snapshot.load();
    let Some(p) = snapshot.providers.get(provider) else {
        return u64::MAX;
    };
    let cells = [p.user(subject), p.app.clone().filter(|_| subject == APP_SUBJECT)];
    cells
        .iter()
        .flatten()
        .filter_map(|c| c.current().as_ref().map(|t| t.version))
        .max()
        .unwrap_or(0)
}

async fn saved(shared: &Shared, provider: &str, subject: &str, version: u64) {
    // Its own writes, and what it read already, are known.
    if held(shared, provider, subject) >= version {
        return;
    }
    match shared.store.load_one(provider, subject).await {
        Ok(Some(stored)) => {
            let snapshot = shared.snapshot.load();
            if let Some(p) = snapshot.providers.get(provider) {
                p.restore(&stored);
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(provider, subject, error = %e, "cannot read a token another replica stored"),
    }
}

fn removed(shared: &Shared, provider: &str, subject: &str, version: u64) {
    let snapshot = shared.snapshot.load();
    let Some(p) = snapshot.providers.get(provider) else {
        return;
    };
    if let Some(cell) = p.user(subject) {
        if cell.current().as_ref().map_or(0, |t| t.version) < version {
            p.remove_user(subject);
            tracing::info!(provider, subject, "removed on another replica");
        }
    }
    if let Some(cell) = p.app.clone().filter(|_| subject == APP_SUBJECT) {
        let current = cell.current().clone();
        if current.as_ref().map_or(0, |t| t.version) < version {
            // Revoked elsewhere: fetch a new one (another replica may have stored it already).
            let client = Arc::clone(&p.client);
            let stale = current.map(|t| t.generation);
            tokio::spawn(async move {
                let _ = cell.refresh(&client, stale, false).await;
            });
        }
    }
}

async fn resync(shared: &Shared) {
    let loaded = match shared.store.load().await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the token store");
            return;
        }
    };
    let snapshot = shared.snapshot.load();
    let mut present = HashSet::new();
    for stored in &loaded.tokens {
        present.insert((stored.token.provider.as_str(), stored.token.subject.as_str()));
        if let Some(p) = snapshot.providers.get(&stored.token.provider) {
            p.restore(stored);
        }
    }
    for p in snapshot.providers.values() {
        for cell in p.users() {
            // Stored before the read began and gone now: removed while this replica missed it.
            let gone = cell
                .current()
                .as_ref()
                .is_some_and(|t| t.saved && t.version <= loaded.upto)
                && !present.contains(&(p.name(), cell.subject.as_str()));
            if gone {
                p.remove_user(&cell.subject);
                tracing::info!(provider = p.name(), subject = %cell.subject, "removed on another replica");
            }
        }
        for cell in p.cells() {
            cell.store_recovered();
        }
    }
}
