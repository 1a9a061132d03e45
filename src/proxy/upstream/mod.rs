//! The upstream client: our own pool over hyper's connection API. HTTP/1.1 connections are
//! lent to one exchange at a time and come back when the answer was read whole; an
//! upstream that offers HTTP/2 by ALPN gets one multiplexed connection. Compared with
//! hyper-util's legacy client this skips, per request, the pool's keyed map and waiters, a
//! connection-checkout future and a task to return the connection: what the benchmark
//! showed among the proxy's top costs.

mod idle;
mod tls;

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::uri::{Authority, Scheme};
use http::{Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::client::legacy::connect::Connection;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tower_service::Service;

pub use idle::Reuse;
pub use tls::{connector, Connector, TlsSetupError};

use super::body::ProxyBody;
use idle::{IdleList, H1};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type H2 = http2::SendRequest<ProxyBody>;

/// How long an idle connection is kept (hyper-util's default, which this replaces).
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot connect to the upstream")]
    Connect(#[source] BoxError),
    #[error("the exchange with the upstream failed")]
    Exchange(#[source] hyper::Error),
}

impl UpstreamError {
    pub fn is_connect(&self) -> bool {
        matches!(self, UpstreamError::Connect(_))
    }
}

/// One upstream origin (scheme, host, port, trusted roots) and its connections.
pub struct Upstream {
    connector: Connector,
    scheme: Scheme,
    authority: Authority,
    /// `scheme://authority/`: what the connector dials.
    origin: Uri,
    idle: Arc<IdleList>,
    h2: Mutex<Option<H2>>,
}

impl Upstream {
    pub fn new(connector: Connector, scheme: Scheme, authority: Authority) -> Result<Self, http::Error> {
        let origin = Uri::builder()
            .scheme(scheme.clone())
            .authority(authority.clone())
            .path_and_query("/")
            .build()?;
        Ok(Upstream {
            connector,
            scheme,
            authority,
            origin,
            idle: Arc::new(IdleList::new(IDLE_TIMEOUT)),
            h2: Mutex::new(None),
        })
    }

    /// Sends `req` (origin-form target, `Host` set) and returns the answer, with the
    /// connection to give back once its body has been read (none after an upgrade or on
    /// HTTP/2). A pooled connection the upstream closed meanwhile hands the request back
    /// unsent, and the next one is tried, as hyper-util's client does.
    ///
    /// Not an `async fn`: one keeps a second copy of its by-value arguments in its state, and
    /// this state is moved into every request's.
    #[allow(clippy::manual_async_fn)] // see above: an `async fn` doubles the request
    pub fn request(
        &self,
        mut req: Request<ProxyBody>,
        now: Instant,
    ) -> impl Future<Output = Result<(Response<Incoming>, Option<Reuse>), UpstreamError>> + Send + '_ {
        async move {
            while let Some(mut sender) = self.idle.take(now) {
                if sender.ready().await.is_err() {
                    continue;
                }
                match sender.try_send_request(req).await {
                    Ok(resp) => return Ok(self.lend(resp, sender, now)),
                    Err(mut e) => match e.take_message() {
                        Some(unsent) => req = unsent,
                        None => return Err(UpstreamError::Exchange(e.into_error())),
                    },
                }
            }
            if let Some(h2) = self.h2() {
                return self.send_h2(h2, req).await;
            }
            // Boxed: connecting (TCP, TLS, handshakes) is rare and its state large.
            Box::pin(self.connect_and_send(req, now)).await
        }
    }

    /// No usable connection: a new one, HTTP/2 when ALPN says so.
    async fn connect_and_send(
        &self,
        req: Request<ProxyBody>,
        now: Instant,
    ) -> Result<(Response<Incoming>, Option<Reuse>), UpstreamError> {
        match self.connect().await? {
            Fresh::H1(mut sender) => {
                sender.ready().await.map_err(UpstreamError::Exchange)?;
                let resp = sender.send_request(req).await.map_err(UpstreamError::Exchange)?;
                Ok(self.lend(resp, sender, now))
            }
            Fresh::H2(h2) => {
                *self.h2.lock().unwrap_or_else(PoisonError::into_inner) = Some(h2.clone());
                self.send_h2(h2, req).await
            }
        }
    }

    /// `now`: when the exchange began, which the pool counts as the connection's last use
    /// (earlier than the true one: a connection ages out sooner, never later).
    fn lend(
        &self,
        resp: Response<Incoming>,
        sender: H1,
        now: Instant,
    ) -> (Response<Incoming>, Option<Reuse>) {
        // After `101 Switching Protocols` the connection belongs to the tunnel.
        let reuse = (resp.status() != StatusCode::SWITCHING_PROTOCOLS)
            .then(|| Reuse::new(Arc::clone(&self.idle), sender, now));
        (resp, reuse)
    }

    fn h2(&self) -> Option<H2> {
        let mut h2 = self.h2.lock().unwrap_or_else(PoisonError::into_inner);
        match &*h2 {
            Some(s) if !s.is_closed() => Some(s.clone()),
            Some(_) => {
                *h2 = None;
                None
            }
            None => None,
        }
    }

    /// The target is set before the future is made, and the future is an `async move`
    /// block, not an `async fn`: every request to an HTTP/2 upstream carries this state.
    fn send_h2(
        &self,
        mut h2: H2,
        mut req: Request<ProxyBody>,
    ) -> impl Future<Output = Result<(Response<Incoming>, Option<Reuse>), UpstreamError>> + Send {
        // HTTP/2 names the target by scheme and authority (`:scheme`, `:authority`).
        let mut parts = req.uri().clone().into_parts();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
        async move {
            h2.ready().await.map_err(UpstreamError::Exchange)?;
            let resp = h2.send_request(req).await.map_err(UpstreamError::Exchange)?;
            Ok((resp, None))
        }
    }

    async fn connect(&self) -> Result<Fresh, UpstreamError> {
        let stream = self
            .connector
            .clone()
            .call(self.origin.clone())
            .await
            .map_err(UpstreamError::Connect)?;
        let h2 = stream.connected().is_negotiated_h2();
        let io = stream;
        if h2 {
            let (sender, conn) = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .handshake(io)
                .await
                .map_err(|e| UpstreamError::Connect(e.into()))?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "an HTTP/2 upstream connection ended with an error");
                }
            });
            return Ok(Fresh::H2(sender));
        }
        let (sender, conn) = http1::handshake(io)
            .await
            .map_err(|e| UpstreamError::Connect(e.into()))?;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(error = %e, "an upstream connection ended with an error");
            }
        });
        Ok(Fresh::H1(sender))
    }
}

enum Fresh {
    H1(H1),
    H2(H2),
}
