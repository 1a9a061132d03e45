//! What the admin API, the status page and `/readyz` say about a token — never its value.

use serde::Serialize;

use crate::oauth::{Status, TokenCell};
use crate::snapshot::Snapshot;
use crate::Shared;

#[derive(Debug, Serialize)]
pub struct TokenView {
    pub provider: String,
    pub subject: String,
    pub kind: &'static str,
    /// RFC 3339, or null when no token is held.
    pub expires_at: Option<String>,
    pub scopes: Vec<String>,
    pub has_refresh_token: bool,
    pub status: &'static str,
}

pub fn view(cell: &TokenCell) -> TokenView {
    let current = cell.current();
    let token = current.as_ref();
    let status = match (cell.status(), token) {
        // An unexpired token serves while a refresh is retried; past expiry it is an error.
        (Status::Valid, Some(t)) if !t.is_fresh(std::time::Instant::now()) => Status::Error,
        (Status::Valid, None) => Status::Error,
        (s, _) => s,
    };
    TokenView {
        provider: cell.provider.clone(),
        subject: cell.subject.clone(),
        kind: cell.kind.as_str(),
        expires_at: token.map(|t| humantime::format_rfc3339_seconds(t.expires_at).to_string()),
        scopes: token.map(|t| t.scopes.clone()).unwrap_or_default(),
        has_refresh_token: token.is_some_and(|t| t.refresh.is_some()),
        status: status.as_str(),
    }
}

pub fn all(snapshot: &Snapshot) -> Vec<TokenView> {
    snapshot
        .providers
        .values()
        .flat_map(|p| p.cells())
        .map(|c| view(&c))
        .collect()
}

/// Sets `token_sidecar_token_needs_login` from the slots as they are now (at scrape time,
/// so removed tokens drop out and no transition can be missed).
pub fn publish_status(shared: &Shared) {
    let gauge = &shared.metrics.token_needs_login;
    gauge.reset();
    let snapshot = shared.snapshot.load();
    for cell in snapshot.providers.values().flat_map(|p| p.cells()) {
        let needs_login = cell.status() == Status::NeedsLogin;
        gauge
            .with_label_values(&[&cell.provider, &cell.subject])
            .set(i64::from(needs_login));
    }
}
