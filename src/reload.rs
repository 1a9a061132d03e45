//! Live reload: on SIGHUP, or when the config file or a `client_secret_file` changes, read
//! and validate the configuration again. An invalid one is logged and the old one keeps
//! serving; a valid one is swapped in whole, keeping every provider (and its tokens) whose
//! settings did not change. In-flight requests finish on the snapshot they started with.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use crate::config::{self, Config, ConfigError};
use crate::oauth::{Provider, StoreError, TokenCell};
use crate::snapshot::{BuildError, Snapshot};
use crate::Shared;

/// How often the watched files are compared with what was last loaded.
const POLL: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The bytes of every file the configuration depends on, to notice any change.
fn fingerprint(path: &Path, config: &Config) -> Vec<(PathBuf, Option<Vec<u8>>)> {
    let secret_files = config
        .providers
        .values()
        .filter_map(|p| p.client_secret_file.clone());
    std::iter::once(path.to_path_buf())
        .chain(secret_files)
        .map(|f| {
            let bytes = std::fs::read(&f).ok();
            (f, bytes)
        })
        .collect()
}

/// Reloads on `trigger` and on file changes until `stop`.
pub async fn watch(
    shared: Arc<Shared>,
    path: PathBuf,
    admin_addr: SocketAddr,
    trigger: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut seen = fingerprint(&path, &shared.snapshot.load().config);
    loop {
        tokio::select! {
            _ = trigger.notified() => tracing::info!("reload requested"),
            _ = tokio::time::sleep(POLL) => {
                let now = fingerprint(&path, &shared.snapshot.load().config);
                if now == seen {
                    continue;
                }
                tracing::info!(file = %path.display(), "configuration files changed");
            }
            _ = stop.wait_for(|s| *s) => return,
        }
        match reload(&shared, &path, admin_addr).await {
            Ok(generation) => {
                shared
                    .metrics
                    .config_reloads
                    .with_label_values(&["success"])
                    .inc();
                tracing::info!(
                    generation,
                    "configuration reloaded; generation {generation} is live"
                );
            }
            Err(e) => {
                shared
                    .metrics
                    .config_reloads
                    .with_label_values(&["failure"])
                    .inc();
                let live = shared.generation.load(Ordering::Acquire);
                tracing::error!(error = %e, generation = live, "reload refused; generation {live} keeps serving");
            }
        }
        // Whatever the outcome, wait for the next change rather than retrying this one.
        seen = fingerprint(&path, &shared.snapshot.load().config);
        if let Ok(candidate) = config::load(&path) {
            seen = fingerprint(&path, &candidate);
        }
    }
}

/// Loads, validates and swaps in the configuration at `path`; returns the new generation.
pub async fn reload(shared: &Shared, path: &Path, admin_addr: SocketAddr) -> Result<u64, ReloadError> {
    let mut config = config::load(path)?;
    let old = shared.snapshot.load_full();
    if !config.server.public_url_set {
        // Follow what `run` did at start: the bound admin port.
        if let Ok(url) = url::Url::parse(&format!("http://localhost:{}", admin_addr.port())) {
            config.set_public_url(url);
        }
    }
    warn_on_restart_only_changes(&old.config, &config);
    let next = Snapshot::build(Arc::new(config), &shared.metrics, &shared.store, Some(&old))?;
    let replaced: Vec<&Arc<Provider>> = old
        .providers
        .iter()
        .filter(|(name, p)| !next.providers.get(*name).is_some_and(|n| Arc::ptr_eq(n, p)))
        .map(|(_, p)| p)
        .collect();
    // Prepare: the replaced providers' refreshes are held (after storing any answer under
    // way), so the store read next holds their latest grants. Nothing is retired yet: if the
    // read fails, the pauses end and the running generation goes on as if nothing happened.
    let cells: Vec<Arc<TokenCell>> = replaced.iter().flat_map(|p| p.cells()).collect();
    let mut paused = Vec::with_capacity(cells.len());
    for cell in &cells {
        paused.push(cell.pause().await);
    }
    let stored = shared.store.load().await?.tokens;
    // Commit, with steps that cannot fail: the replaced providers stop for good and their
    // successors take their grants over from what was just read.
    for p in paused {
        p.hand_over();
    }
    for p in &replaced {
        p.stop();
    }
    next.restore(&stored);
    next.start();
    let next = Arc::new(next);
    shared.snapshot.store(Arc::clone(&next));
    next.remove_series_of_gone_routes(&old);
    let generation = shared.generation.fetch_add(1, Ordering::AcqRel) + 1;
    shared
        .metrics
        .config_generation
        .set(i64::try_from(generation).unwrap_or(i64::MAX));
    Ok(generation)
}

fn warn_on_restart_only_changes(old: &Config, new: &Config) {
    let (o, n) = (&old.server, &new.server);
    for (key, changed) in [
        ("server.listen", o.listen != n.listen),
        ("server.admin_listen", o.admin_listen != n.admin_listen),
        ("server.health_listen", o.health_listen != n.health_listen),
        (
            "server.max_header_bytes",
            o.max_header_bytes != n.max_header_bytes,
        ),
        (
            "server.header_read_timeout",
            o.header_read_timeout != n.header_read_timeout,
        ),
        ("server.shutdown_grace", o.shutdown_grace != n.shutdown_grace),
        ("server.idle_timeout", o.idle_timeout != n.idle_timeout),
        ("server.log_format", o.log_format != n.log_format),
        ("store.path", old.store.path != new.store.path),
        (
            "store.kind, url, key_prefix or lock_ttl",
            old.store.kind != new.store.kind,
        ),
        (
            "store.encryption_key_file",
            old.store.encryption_key_file != new.store.encryption_key_file,
        ),
    ] {
        if changed {
            tracing::warn!(key, "changed; this key takes effect at the next restart");
        }
    }
}
