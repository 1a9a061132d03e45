//! Saving what a refresh or a login obtained: a compare-and-set against the version it
//! started from, then the token is made current (a crash never leaves the store behind a
//! token that was used). A writer that was fenced adopts the stored token; a write that
//! fails is retried in the background while the token serves.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::cell::{Status, TokenCell};
use super::client::PlatformClient;
use super::error::TokenError;
use super::token::Token;
use crate::secret::RefreshToken;
use crate::store::{Expect, Saved, StoreError, StoredToken, TokenStore};

fn store_error(e: StoreError) -> TokenError {
    TokenError::Store(Arc::new(e))
}

impl TokenCell {
    /// Saves `token` (compare-and-set against `expect`) and then makes it current, so a
    /// crash never leaves the store behind a token that was used. When someone stored a
    /// newer token since (`Conflict`: this holder was fenced), that token is used instead;
    /// unless it is a refusal of the very refresh token this answer rotated (another
    /// replica presented it after this one had), which this answer supersedes. A save that
    /// fails even after retries leaves the token in use, and is retried in the background.
    pub(super) async fn save_and_install(
        &self,
        client: &PlatformClient,
        token: Token,
        expect: Expect,
        spent: Option<&RefreshToken>,
        status: Status,
    ) -> Result<Arc<Token>, TokenError> {
        let stored = token.to_stored(&self.provider, &self.subject, self.kind, None);
        let mut expect = expect;
        for _ in 0..2 {
            match client.save(stored.clone(), expect).await {
                Ok(Saved::Stored(v)) => {
                    let token = Arc::new(token.stored_as(v));
                    return Ok(self.install(Arc::clone(&token), status));
                }
                Ok(Saved::Conflict) => {
                    let now = client
                        .store
                        .load_one(&self.provider, &self.subject)
                        .await
                        .map_err(store_error)?;
                    let Some(now) = now else {
                        // Removed meanwhile (revoked, deleted): this answer is not kept.
                        return Err(TokenError::NotConnected);
                    };
                    let refused_ours =
                        now.token.needs_login && spent.is_some() && now.token.refresh_token.as_ref() == spent;
                    if refused_ours {
                        expect = Expect::Version(now.version);
                        continue;
                    }
                    tracing::info!(
                        provider = %self.provider, subject = %self.subject, version = now.version,
                        "another replica stored a newer token first; using it"
                    );
                    return self.use_stored(&now)?.fresh();
                }
                Err(e) => {
                    tracing::warn!(
                        provider = %self.provider, subject = %self.subject, error = %e,
                        "cannot store a token; it is used, and storing it is retried in the background"
                    );
                    let token = self.install_new(token);
                    let store = Arc::clone(&client.store);
                    let generation = token.generation;
                    let spent = spent.cloned();
                    tokio::spawn(keep_saving(
                        self.me.clone(),
                        store,
                        stored,
                        expect,
                        spent,
                        generation,
                    ));
                    return Ok(token);
                }
            }
        }
        Err(TokenError::Retired)
    }

    /// Makes a token that is not stored current.
    pub(super) fn install_new(&self, token: Token) -> Arc<Token> {
        self.install(Arc::new(token), Status::Valid)
    }
}

/// Stores a token whose save failed, for as long as it is the slot's current token: with
/// backoff, each failure counted by the store. Gives way to a newer stored token.
async fn keep_saving(
    cell: Weak<TokenCell>,
    store: Arc<dyn TokenStore>,
    stored: StoredToken,
    mut expect: Expect,
    spent: Option<RefreshToken>,
    generation: u64,
) {
    let mut delay = Duration::from_secs(1);
    loop {
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(30));
        let Some(cell) = cell.upgrade() else { return };
        if cell.current().as_ref().map(|t| t.generation) != Some(generation) || cell.is_retired() {
            return;
        }
        match store.save(stored.clone(), expect).await {
            Ok(Saved::Stored(v)) => {
                cell.mark_saved(generation, v);
                tracing::info!(provider = %cell.provider, subject = %cell.subject, "the token is stored now");
                return;
            }
            Ok(Saved::Conflict) => {
                let Ok(Some(now)) = store.load_one(&cell.provider, &cell.subject).await else {
                    continue;
                };
                if now.token == stored {
                    cell.mark_saved(generation, now.version);
                    return;
                }
                // Another replica presented the refresh token this answer rotated, was
                // refused, and stored the refusal: this answer is the grant, and replaces it.
                let refused_ours =
                    now.token.needs_login && spent.is_some() && now.token.refresh_token == spent;
                if refused_ours {
                    expect = Expect::Version(now.version);
                    delay = Duration::from_millis(50);
                    continue;
                }
                // Fenced in the background: said as in the foreground, so one line tells
                // every fenced save.
                tracing::info!(
                    provider = %cell.provider, subject = %cell.subject, version = now.version,
                    "another replica stored a newer token first; using it"
                );
                cell.adopt(&now);
                return;
            }
            Err(_) => {}
        }
    }
}
