//! The commands that work on the store alone, with only `[store]` configured:
//! `token-sidecar tokens` and `token-sidecar store import FILE`.

use std::fmt::Write;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use super::open::{open, Opened};
use super::seal::Sealer;
use super::{Expect, Saved, StoreError, StoredToken, TokenStore};
use crate::config::Store;
use crate::metrics::StoreMetrics;

/// How long a command waits for Redis to answer.
const CONNECT: Duration = Duration::from_secs(5);

async fn connect(config: &Store) -> Result<Opened, StoreError> {
    let opened = open(config, Duration::ZERO, StoreMetrics::unregistered())?;
    if let Opened::Redis(r) = &opened {
        if !r.wait_up(CONNECT).await {
            return Err(StoreError::Unavailable(format!("no answer within {CONNECT:?}")));
        }
    }
    Ok(opened)
}

/// Every stored token, one line each (never a value).
pub async fn tokens(config: &Store) -> Result<String, StoreError> {
    let opened = connect(config).await?;
    let mut tokens: Vec<StoredToken> = opened
        .store()
        .load()
        .await?
        .tokens
        .into_iter()
        .map(|v| v.token)
        .collect();
    tokens.sort_by(|a, b| (&a.provider, &a.subject).cmp(&(&b.provider, &b.subject)));
    Ok(crate::report::stored(&tokens))
}

/// Copies the tokens of the file store `file` into the configured store; a token already
/// there that was issued later is kept. Says, per token, which happened.
pub async fn import(config: &Store, file: &Path) -> Result<String, StoreError> {
    let sealer = match (&config.encryption_key, &config.encryption_key_file) {
        (Some(key), Some(f)) => Some(Sealer::new(key, f)),
        _ => None,
    };
    let from = super::file::read(file, sealer.as_ref())?;
    let opened = connect(config).await?;
    let store = opened.store();
    let mut out = String::new();
    let (mut copied, mut kept) = (0, 0);
    for token in from {
        let name = format!("{}/{}", token.provider, token.subject);
        let issued = when(token.issued_at);
        match copy(store.as_ref(), token).await? {
            None => {
                copied += 1;
                let _ = writeln!(out, "copied  {name} (issued {issued})");
            }
            Some(there) => {
                kept += 1;
                let _ = writeln!(
                    out,
                    "kept    {name}: the store holds a newer token (issued {}, the file's {issued})",
                    when(there)
                );
            }
        }
    }
    let _ = writeln!(out, "{copied} copied, {kept} kept");
    Ok(out)
}

/// Stores `token` unless a token issued later is stored: `Some(when that one was issued)`.
async fn copy(store: &dyn TokenStore, token: StoredToken) -> Result<Option<f64>, StoreError> {
    loop {
        let there = store.load_one(&token.provider, &token.subject).await?;
        let expect = match &there {
            Some(t) if t.token.issued_at >= token.issued_at => return Ok(Some(t.token.issued_at)),
            Some(t) => Expect::Version(t.version),
            None => Expect::Version(0),
        };
        // A replica may store a token meanwhile: look again.
        if let Saved::Stored(_) = store.save(token.clone(), expect).await? {
            return Ok(None);
        }
    }
}

fn when(unix: f64) -> String {
    let at = UNIX_EPOCH + Duration::try_from_secs_f64(unix).unwrap_or_default();
    humantime::format_rfc3339_seconds(at).to_string()
}
