//! token-sidecar: a reverse proxy that obtains, refreshes and injects OAuth tokens for
//! streaming-platform APIs. `run` starts it and returns the bound addresses, so tests (and
//! `main`) start the real thing.

pub mod admin;
pub mod atomic_write;
pub mod config;
pub mod demo;
pub mod error;
pub mod follow;
pub mod login_command;
pub mod metrics;
pub mod oauth;
pub mod policy;
pub mod proxy;
pub mod reload;
pub mod report;
pub mod secret;
pub mod server;
pub mod snapshot;
pub mod store;
pub mod token_files;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use crate::admin::Surface;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::oauth::device_logins::DeviceLogins;
use crate::oauth::login::{Logins, PendingLogins};
use crate::oauth::{StoreError, TokenStore};
use crate::snapshot::{BuildError, Snapshot};
use crate::store::open::Opened;

/// State shared by every listener: the hot-swapped snapshot and the metrics.
pub struct Shared {
    pub snapshot: ArcSwap<Snapshot>,
    pub metrics: Arc<Metrics>,
    /// Logins between their redirect and their callback; they outlive reloads.
    pub pending: Logins,
    /// Device-code logins waiting for a person to enter their code; they outlive reloads.
    pub device_logins: DeviceLogins,
    /// Requests being served by the proxy listener, against `max_concurrent_requests`.
    pub active: AtomicUsize,
    /// `max_concurrent_requests` when the configuration leaves it out: sized at start from
    /// the file descriptors the process may open.
    pub default_max_concurrent: usize,
    /// The token store, shared by every snapshot.
    pub store: Arc<dyn TokenStore>,
    /// Which configuration is live: 1 at start, one more per successful reload.
    pub generation: AtomicU64,
    /// Wakes the reloader (SIGHUP).
    pub reload: Arc<Notify>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {key} = {addr}: {source}")]
    Bind {
        key: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A started proxy: where it listens, and a handle to wait for its end.
pub struct Running {
    pub proxy_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub health_addr: Option<SocketAddr>,
    pub shared: Arc<Shared>,
    servers: JoinSet<()>,
}

impl Running {
    /// Resolves once every listener has stopped and its in-flight requests have finished
    /// (or the shutdown grace ran out), and refreshes under way have stored their answers.
    pub async fn wait(mut self) {
        while self.servers.join_next().await.is_some() {}
        // A refresh the platform answered, or a token whose save is being retried, holds the
        // rotated refresh token: ending the process before it is stored would cost the
        // grant. Bounded like the requests.
        let snapshot = self.shared.snapshot.load_full();
        let grace = snapshot.config.server.shutdown_grace;
        let providers = futures_util::future::join_all(snapshot.providers.values().map(|p| p.shut_down()));
        if tokio::time::timeout(grace, providers).await.is_err() {
            tracing::warn!(
                ?grace,
                "a refresh under way, or a token's save, did not finish within the shutdown grace"
            );
        }
    }
}

async fn bind(key: &'static str, addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { key, addr, source })
}

/// The tokens to start with. Redis may be down: the proxy starts without its tokens then,
/// and reads them as soon as it answers.
async fn initial_tokens(
    opened: &Opened,
    wait: std::time::Duration,
) -> Result<Vec<store::Versioned>, StartError> {
    let store = opened.store();
    if let Opened::Redis(r) = opened {
        if !r.wait_up(wait).await {
            tracing::warn!(
                "the token store (Redis) is unreachable; starting without its tokens, which are read \
                 as soon as it answers"
            );
            return Ok(Vec::new());
        }
    }
    match store.load().await {
        Ok(loaded) => Ok(loaded.tokens),
        Err(e) if e.is_unavailable() => {
            tracing::warn!(error = %e, "cannot read the token store; starting without its tokens");
            Ok(Vec::new())
        }
        Err(e) => Err(e.into()),
    }
}

/// Starts the proxy with `config` and serves until `shutdown` resolves.
pub async fn run(
    mut config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, StartError> {
    let server = config.server.clone();
    let limits = server::Limits {
        max_header_bytes: server.max_header_bytes,
        header_read_timeout: server.header_read_timeout,
        idle_timeout: server.idle_timeout,
        grace: server.shutdown_grace,
    };
    let proxy = bind("server.listen", server.listen).await?;
    let admin = bind("server.admin_listen", server.admin_listen).await?;
    let health = match server.health_listen {
        Some(addr) => Some(bind("server.health_listen", addr).await?),
        None => None,
    };
    let local = |l: &TcpListener, addr| l.local_addr().unwrap_or(addr);
    let proxy_addr = local(&proxy, server.listen);
    let admin_addr = local(&admin, server.admin_listen);
    let health_addr = health
        .as_ref()
        .zip(server.health_listen)
        .map(|(l, a)| local(l, a));
    if !server.public_url_set && admin_addr.port() != server.admin_listen.port() {
        // Port 0 was asked for: the login flow's redirect URIs name the port actually bound.
        if let Ok(url) = url::Url::parse(&format!("http://localhost:{}", admin_addr.port())) {
            config.set_public_url(url);
        }
    }

    for w in config.warnings(admin_addr.port()) {
        tracing::warn!(key = w.key, "{}", w.message);
    }

    let metrics = Arc::new(Metrics::new());
    let lock_ttl = match &config.store.kind {
        config::StoreKind::Redis(r) => r.lock_ttl,
        config::StoreKind::File => std::time::Duration::ZERO,
    };
    // A refresh waits for another replica's lock at most as long as that replica's refresh
    // can take.
    let max_lock_wait = server.connect_timeout + server.request_timeout + lock_ttl;
    let opened = store::open(&config.store, max_lock_wait, metrics.store.clone())?;
    let store = opened.store();
    // Notices from now on: none is lost between the read below and the follower's start.
    let changes = store.changes();
    tracing::info!(store = %config.store.describe(), "token store");
    let stored = initial_tokens(&opened, server.connect_timeout).await?;
    let pending = match &opened {
        Opened::File(_) => Logins::Memory(PendingLogins::default()),
        Opened::Redis(r) => Logins::Shared(r.logins()),
    };
    let source = config.source.clone();
    let snapshot = Snapshot::build(Arc::new(config), &metrics, &store, None)?;
    snapshot.restore(&stored);
    let shared = Arc::new(Shared {
        snapshot: ArcSwap::from_pointee(snapshot),
        metrics,
        pending,
        device_logins: DeviceLogins::default(),
        active: AtomicUsize::new(0),
        default_max_concurrent: server::descriptors::default_max_concurrent_requests(
            server::descriptors::raise_nofile_limit(),
        ),
        store,
        generation: AtomicU64::new(1),
        reload: Arc::new(Notify::new()),
    });
    shared.metrics.config_generation.set(1);

    let state = Arc::downgrade(&shared);
    shared.metrics.tokens.read_from(move || {
        state
            .upgrade()
            .map(|s| admin::token_states(&s))
            .unwrap_or_default()
    });
    shared.snapshot.load().start();

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let mut servers = JoinSet::new();
    let s = Arc::clone(&shared);
    let engine = proxy::h1::Engine::new(Arc::clone(&shared), limits.max_header_bytes);
    servers.spawn(server::serve(
        "proxy",
        proxy,
        move |req| proxy::handle(Arc::clone(&s), req),
        Some(Arc::new(engine)),
        stop_rx.clone(),
        limits,
    ));
    let listeners = [
        ("admin", Some(admin), Surface::Admin),
        ("health", health, Surface::Health),
    ];
    for (name, listener, surface) in listeners {
        let Some(listener) = listener else { continue };
        let s = Arc::clone(&shared);
        let handler = move |req| admin::handle(Arc::clone(&s), surface, req);
        servers.spawn(server::serve(
            name,
            listener,
            handler,
            None,
            stop_rx.clone(),
            limits,
        ));
    }
    servers.spawn(token_files::keep(Arc::clone(&shared), stop_rx.clone()));
    if let Some(changes) = changes {
        servers.spawn(follow::follow(Arc::clone(&shared), changes, stop_rx.clone()));
    }
    if let Some(path) = source {
        let (s, trigger) = (Arc::clone(&shared), Arc::clone(&shared.reload));
        servers.spawn(reload::watch(s, path, admin_addr, trigger, stop_rx.clone()));
    }
    tracing::info!(%proxy_addr, %admin_addr, health_addr = ?health_addr, "token-sidecar listening");
    Ok(Running {
        proxy_addr,
        admin_addr,
        health_addr,
        shared,
        servers,
    })
}
