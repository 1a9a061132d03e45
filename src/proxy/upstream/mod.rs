//! The upstream client: our own pool over hyper's connection API. HTTP/1.1 connections are
//! lent to one exchange at a time and come back when the answer was read whole; an
//! upstream that offers HTTP/2 by ALPN gets one multiplexed connection. Compared with
//! hyper-util's legacy client this skips, per request, the pool's keyed map and waiters, a
//! connection-checkout future and a task to return the connection: what the benchmark
//! showed among the proxy's top costs.

mod idle;
mod raw;
mod timer;
mod tls;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use futures_util::FutureExt;
use http::uri::{Authority, Scheme};
use http::{Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::client::legacy::connect::Connection;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tower_service::Service;

pub use idle::Reuse;
pub use raw::{Lent, RawConn};
pub use tls::{ca_certificates, connector, Connector, TlsSetupError};

use super::body::ProxyBody;
use idle::{IdleList, Pooled};

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
    #[error("the upstream did not answer in time")]
    Timeout,
    #[error("the exchange with the upstream failed")]
    Io(#[source] std::io::Error),
    #[error("the upstream's answer is not valid HTTP/1.1: {0}")]
    Malformed(&'static str),
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
    /// The `h1` engine's idle connections.
    raw_idle: IdleList<RawConn>,
    /// The multiplexed connection of an upstream that chose HTTP/2: read without a lock by
    /// every request, replaced when a request finds it closed.
    h2: ArcSwapOption<H2>,
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
            raw_idle: IdleList::new(IDLE_TIMEOUT),
            h2: ArcSwapOption::empty(),
        })
    }

    /// Sends `req` (origin-form target, `Host` set) and returns the answer, with the
    /// connection to give back once its body has been read (none after an upgrade or on
    /// HTTP/2), or `Timeout` when no answer came by `deadline`. A pooled connection the
    /// upstream closed meanwhile hands the request back unsent, and the next one is tried,
    /// as hyper-util's client does.
    ///
    /// Not an `async fn`: one keeps a second copy of its by-value arguments in its state, and
    /// this state is moved into every request's.
    #[allow(clippy::manual_async_fn)] // see above: an `async fn` doubles the request
    pub fn request(
        &self,
        mut req: Request<ProxyBody>,
        now: Instant,
        deadline: Instant,
    ) -> impl Future<Output = Result<(Response<Incoming>, Option<Reuse>), UpstreamError>> + Send + '_ {
        async move {
            while let Some(mut conn) = self.idle.take(now) {
                let (sender, timer) = conn.arm(deadline);
                let tried = tokio::select! {
                    biased;
                    tried = try_send(sender, req) => tried,
                    () = timer => return Err(UpstreamError::Timeout),
                };
                match tried {
                    Tried::Sent(resp) => return Ok(self.lend(resp, conn, now)),
                    // Closed meanwhile: the request came back unsent, for the next one.
                    Tried::Unsent(unsent) => req = unsent,
                    Tried::Failed(e) => return Err(UpstreamError::Exchange(e)),
                }
            }
            if let Some(h2) = self.h2() {
                return within(deadline, self.send_h2(h2, req)).await;
            }
            // Boxed: connecting (TCP, TLS, handshakes) is rare and its state large.
            within(deadline, Box::pin(self.connect_and_send(req, now))).await
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
                Ok(self.lend(resp, Pooled::new(sender), now))
            }
            Fresh::H2(h2) => {
                self.h2.store(Some(Arc::new(h2.clone())));
                self.send_h2(h2, req).await
            }
        }
    }

    /// `now`: when the exchange began, which the pool counts as the connection's last use
    /// (earlier than the true one: a connection ages out sooner, never later).
    fn lend(
        &self,
        resp: Response<Incoming>,
        conn: Pooled,
        now: Instant,
    ) -> (Response<Incoming>, Option<Reuse>) {
        // After `101 Switching Protocols` the connection belongs to the tunnel.
        let reuse = (resp.status() != StatusCode::SWITCHING_PROTOCOLS)
            .then(|| Reuse::new(Arc::clone(&self.idle), conn, now));
        (resp, reuse)
    }

    /// A sender on the HTTP/2 connection, if one is open. hyper's `send_request` takes its
    /// sender by `&mut`, hence the clone (two reference counts).
    fn h2(&self) -> Option<H2> {
        let h2 = self.h2.load();
        match h2.as_deref() {
            Some(s) if !s.is_closed() => Some(s.clone()),
            Some(_) => {
                // Only the closed one goes: not a connection another request stored meanwhile.
                self.h2.compare_and_swap(&h2, None);
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
        if stream.connected().is_negotiated_h2() {
            return Ok(Fresh::H2(start_h2(stream).await?));
        }
        let io = stream;
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

/// The multiplexed connection on a stream whose ALPN chose HTTP/2, driven by a task of its own.
async fn start_h2(stream: raw::Dialed) -> Result<H2, UpstreamError> {
    let (sender, conn) = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .handshake(stream)
        .await
        .map_err(|e| UpstreamError::Connect(e.into()))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "an HTTP/2 upstream connection ended with an error");
        }
    });
    Ok(sender)
}

/// How one try on a pooled connection went.
enum Tried {
    Sent(Response<Incoming>),
    /// The connection was closed before the request went: it comes back.
    Unsent(Request<ProxyBody>),
    Failed(hyper::Error),
}

/// One try on a pooled connection. Not an `async fn`, for the reason `request` gives.
#[allow(clippy::manual_async_fn)] // see `Upstream::request`
fn try_send(sender: &mut idle::H1, req: Request<ProxyBody>) -> impl Future<Output = Tried> + Send + '_ {
    async move {
        if sender.ready().await.is_err() {
            return Tried::Unsent(req);
        }
        match sender.try_send_request(req).await {
            Ok(resp) => Tried::Sent(resp),
            Err(mut e) => match e.take_message() {
                Some(unsent) => Tried::Unsent(unsent),
                None => Tried::Failed(e.into_error()),
            },
        }
    }
}

/// `fut`, or `Timeout` at `deadline`: HTTP/2 and new connections, which have no pooled timer.
fn within<T>(
    deadline: Instant,
    fut: impl Future<Output = Result<T, UpstreamError>>,
) -> impl Future<Output = Result<T, UpstreamError>> {
    tokio::time::timeout_at(deadline.into(), fut).map(|r| r.unwrap_or(Err(UpstreamError::Timeout)))
}

enum Fresh {
    H1(idle::H1),
    H2(H2),
}
