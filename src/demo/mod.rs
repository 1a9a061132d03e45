//! `token-sidecar demo`: the real proxy, with its real login, refresh, store and metrics,
//! against a small OAuth 2.0 platform that runs in the same process on another loopback
//! port. Nothing else is needed: no account, no config file, no network.
//!
//! The platform (`platform`, `approval`, `token_endpoint`, `api`, `grants`) is what any
//! OAuth 2.0 provider offers, reduced to the essentials: an approval page, 60-second tokens,
//! refresh tokens that rotate, client credentials, and an API that wants a valid token.

mod api;
mod approval;
pub mod config;
mod grants;
mod guide;
mod platform;
mod token_endpoint;

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::ConfigError;
use crate::oauth::pkce::random_token;
use crate::secret::ClientSecret;
use crate::server::{self, Limits};
use crate::StartError;

use platform::Platform;

/// How long the platform's access tokens last: long enough to use, short enough to see the
/// proxy refresh them (about every 30 seconds).
const TOKEN_LIFETIME: Duration = Duration::from_secs(60);

pub struct Options {
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot make the demo's temporary directory: {0}")]
    TempDir(#[source] std::io::Error),
    #[error("cannot listen for the demo platform on 127.0.0.1: {0}")]
    Platform(#[source] std::io::Error),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0} (choose other ports with --listen and --admin-listen)")]
    Port(#[source] StartError),
    #[error(transparent)]
    Start(StartError),
    #[error("cannot remove the demo's temporary directory {path}: {source}")]
    Cleanup {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<StartError> for DemoError {
    fn from(e: StartError) -> Self {
        match e {
            StartError::Bind { .. } => DemoError::Port(e),
            e => DemoError::Start(e),
        }
    }
}

/// Runs the demo until `shutdown` resolves, then stops both and removes the store.
pub async fn run(options: Options, shutdown: impl Future<Output = ()>) -> Result<(), DemoError> {
    let dir = tempfile::Builder::new()
        .prefix("token-sidecar-demo-")
        .tempdir()
        .map_err(DemoError::TempDir)?;
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .map_err(DemoError::Platform)?;
    let platform_url = format!("http://{}", listener.local_addr().map_err(DemoError::Platform)?);
    let secret = ClientSecret::new(random_token());
    let platform = Arc::new(Platform::new(secret.clone(), TOKEN_LIFETIME));

    let (stop, stopped) = watch::channel(false);
    let limits = Limits {
        max_header_bytes: 64 * 1024,
        header_read_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        grace: Duration::from_secs(2),
    };
    let p = Arc::clone(&platform);
    let handler = move |req| platform::handle(Arc::clone(&p), req);
    let serving = tokio::spawn(server::serve(
        "demo platform",
        listener,
        handler,
        None,
        stopped.clone(),
        limits,
    ));

    let places = config::Places {
        listen: options.listen,
        admin_listen: options.admin_listen,
        platform: &platform_url,
        store_dir: dir.path(),
    };
    let mut proxy_stopped = stopped.clone();
    let proxy_stop = async move {
        let _ = proxy_stopped.wait_for(|s| *s).await;
    };
    let started = match config::load(&places, &secret) {
        Ok(config) => crate::run(config, proxy_stop).await.map_err(DemoError::from),
        Err(e) => Err(e.into()),
    };
    let running = match started {
        Ok(r) => r,
        Err(e) => {
            let _ = stop.send(true);
            let _ = serving.await;
            return Err(e);
        }
    };

    let live = Arc::clone(&running.shared.snapshot.load().config);
    if let Some(p) = live.providers.get(config::PROVIDER) {
        platform.register_redirect_uri(p.redirect_uri.clone());
    }
    print!(
        "{}",
        guide::text(&guide::Where {
            proxy: running.proxy_addr,
            admin: &live.server.public_url,
            platform: &platform_url,
            store: &live.store.path,
            token_lifetime_secs: TOKEN_LIFETIME.as_secs(),
        })
    );

    shutdown.await;
    let _ = stop.send(true);
    let shared = Arc::clone(&running.shared);
    running.wait().await;
    // Refreshes stop (and finish storing) before their store is removed.
    for provider in shared.snapshot.load().providers.values() {
        provider.shut_down().await;
    }
    let _ = serving.await;
    let path = dir.path().to_path_buf();
    dir.close()
        .map_err(|source| DemoError::Cleanup { path, source })?;
    tracing::info!("demo stopped; its temporary store is removed");
    Ok(())
}
