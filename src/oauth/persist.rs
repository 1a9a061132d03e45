//! Saving what a refresh or a login obtained: a compare-and-set against the version it
//! started from, then the token is made current (a crash never leaves the store behind a
//! token that was used). A writer that was fenced adopts the stored token; a write that
//! fails is retried in the background while the token serves.

use std::sync::Arc;

use super::cell::{Status, TokenCell};
use super::client::PlatformClient;
use super::error::TokenError;
use super::keep_saving::Retry;
use super::token::Token;
use crate::secret::RefreshToken;
use crate::store::{Expect, Saved, StoreError};

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
                    let retry = Retry {
                        store,
                        stored,
                        expect,
                        spent,
                        generation,
                    };
                    self.keep_saving(retry);
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
