//! Accepting connections: one loop per listener, HTTP/1.1 (and HTTP/2 by prior knowledge),
//! closing idle keep-alive connections, backing off when descriptors run out, and on
//! shutdown giving in-flight requests `grace` to finish.

mod accept;
mod idle;

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use accept::Backoff;
use idle::Counted;

/// Limits on what a client may send before its request is handled, and the shutdown grace.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_header_bytes: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub grace: Duration,
}

/// Serves `handler` on `listener` until `stop` turns true, then waits up to `grace` for the
/// connections under way.
pub async fn serve<H, F, B>(
    name: &'static str,
    listener: TcpListener,
    handler: H,
    mut stop: watch::Receiver<bool>,
    limits: Limits,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
    B: Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Slow or oversized request heads are cut off before they hold a connection for long.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    let mut connections = JoinSet::new();
    let mut backoff = Backoff::default();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|s| *s) => break,
            // Reap finished connections so the set only holds live ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => {
                backoff.reset();
                stream
            }
            Err(e) => {
                let pause = backoff.failed(&e, name);
                // Keep closing idle and finished connections while waiting: that is what
                // frees the descriptors.
                let wait = tokio::time::sleep(pause);
                tokio::pin!(wait);
                loop {
                    tokio::select! {
                        _ = &mut wait => break,
                        Some(_) = connections.join_next(), if !connections.is_empty() => {}
                    }
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (io, mut activity) = Counted::new(stream);
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(io), service_fn(handler.clone()))
            .into_owned();
        let mut stop = stop.clone();
        let idle = limits.idle_timeout;
        connections.spawn(async move {
            tokio::pin!(conn);
            let mut closing = false;
            loop {
                tokio::select! {
                    ended = conn.as_mut() => {
                        if let Err(e) = ended {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                        return;
                    }
                    _ = stop.wait_for(|s| *s), if !closing => {}
                    _ = activity.idle_for(idle), if !closing => {}
                }
                // Shutting down, or idle: finish what is under way, then close.
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
        });
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.grace, drain).await.is_err() {
        tracing::warn!(grace = ?limits.grace, "in-flight requests did not finish within the shutdown grace");
    }
}
