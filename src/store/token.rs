//! One token as the lifecycle hands it to a store and gets it back.

use crate::secret::{AccessToken, RefreshToken};

/// One token as stored. Holds secrets: it has no `Display`, and stores write it through
/// `record::Record`, which seals them when a key is configured.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredToken {
    pub provider: String,
    pub subject: String,
    /// `app` or `user`.
    pub kind: String,
    pub access_token: AccessToken,
    pub refresh_token: Option<RefreshToken>,
    /// Unix seconds when the token request was sent.
    pub issued_at: f64,
    /// Seconds of validity from `issued_at`.
    pub lifetime: f64,
    pub refresh_expires_at: Option<f64>,
    pub scopes: Vec<String>,
    pub user_id: Option<String>,
    /// The platform refused this grant's refresh; a new login is needed.
    pub needs_login: bool,
    /// Why, as every surface showed it when it happened (what the platform said, secrets
    /// already removed), so it is still shown after a restart and on every replica.
    pub refused: Option<String>,
}
