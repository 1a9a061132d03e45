//! Accepting connections: one loop per listener, HTTP/1.1 (and HTTP/2 by prior knowledge),
//! closing idle keep-alive connections, backing off when descriptors run out, and on
//! shutdown giving in-flight requests `grace` to finish.

mod accept;
pub mod descriptors;
pub mod engine;
pub mod heap;
mod tally;
mod version;
mod watchdog;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use accept::Backoff;
use engine::{Conn, Engine, Rewind};
pub use tally::ends_body;
use tally::{Counted, Exchange, Tally, Tracked};
use version::Version;
use watchdog::Watchdog;

/// Limits on what a client may send before its request is handled, and the shutdown grace.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_header_bytes: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub grace: Duration,
}

/// Serves `handler` on `listener` until `stop` turns true, then waits up to `grace` for the
/// connections under way. `engine`, when given, serves HTTP/1 connections first (see
/// `engine.rs`); hyper serves what it leaves.
pub async fn serve<H, F, B>(
    name: &'static str,
    listener: TcpListener,
    handler: H,
    engine: Option<Arc<dyn Engine>>,
    mut stop: watch::Receiver<bool>,
    limits: Limits,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
    B: Body<Data = bytes::Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // Slow or oversized request heads are cut off before they hold a connection for long.
    // Slow heads are the watchdog's: hyper's own header timer costs a timer per request.
    let mut h1 = http1::Builder::new();
    h1.timer(TokioTimer::new())
        .header_read_timeout(None)
        .max_buf_size(limits.max_header_bytes.max(8192));
    let mut h2 = http2::Builder::new(TokioExecutor::new());
    h2.timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    // Shared by every connection: serving one borrows its builder.
    let (h1, h2) = (Arc::new(h1), Arc::new(h2));
    let watchdog = Arc::new(Watchdog::new(limits.idle_timeout, limits.header_read_timeout));
    let looking = tokio::spawn(Arc::clone(&watchdog).run());
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
        let tally = Arc::new(Tally::default());
        watchdog.watch(&tally);
        let (handler, exchanges) = (handler.clone(), Arc::clone(&tally));
        // A combinator, not an `async` block: the block would move the handler's future
        // (every request's whole state) once more when first polled.
        let service = service_fn(move |req| {
            let exchange = Exchange::begin(&exchanges);
            handler(req).map(move |answer| answer.map(|resp| resp.map(|body| Tracked::new(body, exchange))))
        });
        let (h1, h2) = (Arc::clone(&h1), Arc::clone(&h2));
        let engine = engine.clone();
        connections.spawn(async move {
            // Until the first bytes tell the protocol, either verdict of the watchdog (idle,
            // shutting down, too slow) ends the connection: nothing is under way.
            let version = {
                let mut sniffing = std::pin::pin!(version::sniff(&stream));
                std::future::poll_fn(|cx| {
                    tally.waker.register(cx.waker());
                    if tally.abort.load(Ordering::Acquire) || tally.close.load(Ordering::Acquire) {
                        return std::task::Poll::Ready(None);
                    }
                    sniffing.as_mut().poll(cx).map(Some)
                })
                .await
            };
            let Some(version) = version else { return };
            tally.h2.store(version == Version::Http2, Ordering::Relaxed);
            let counted = Counted::new(stream, Arc::clone(&tally));
            let io = match (version, engine) {
                (Version::Http1, Some(engine)) => {
                    let mut serving = engine.serve(Conn::new(counted, Arc::clone(&tally)));
                    // A slow head (the watchdog's abort) ends it; idleness and shutdown are
                    // the engine's to see between requests.
                    let left = std::future::poll_fn(|cx| {
                        tally.waker.register(cx.waker());
                        if tally.abort.load(Ordering::Acquire) {
                            return std::task::Poll::Ready(None);
                        }
                        serving.as_mut().poll(cx)
                    })
                    .await;
                    let Some(conn) = left else { return };
                    Rewind::new(conn.read.freeze(), conn.io)
                }
                _ => Rewind::new(bytes::Bytes::new(), counted),
            };
            let io = TokioIo::new(io);
            let mut conn = match version {
                Version::Http1 => Serving::Http1(Box::pin(h1.serve_connection(io, service).with_upgrades())),
                Version::Http2 => Serving::Http2(Box::pin(h2.serve_connection(io, service))),
            };
            let mut closing = false;
            // The connection alone is polled on its wake-ups; the watchdog's verdicts are two
            // flags, looked at on the way.
            let ended = std::future::poll_fn(|cx| {
                tally.waker.register(cx.waker());
                if tally.abort.load(Ordering::Acquire) {
                    // A slow head: dropping the connection closes it.
                    return std::task::Poll::Ready(Ok(()));
                }
                if !closing && tally.close.load(Ordering::Acquire) {
                    // Idle, or shutting down: finish what is under way, then close.
                    match &mut conn {
                        Serving::Http1(c) => c.as_mut().graceful_shutdown(),
                        Serving::Http2(c) => c.as_mut().graceful_shutdown(),
                    }
                    closing = true;
                }
                match &mut conn {
                    Serving::Http1(c) => c.as_mut().poll(cx),
                    Serving::Http2(c) => c.as_mut().poll(cx),
                }
            })
            .await;
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    watchdog.close_all();
    looking.abort();
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.grace, drain).await.is_err() {
        tracing::warn!(grace = ?limits.grace, "in-flight requests did not finish within the shutdown grace");
    }
}

/// A connection being served, in the protocol its first bytes told; boxed once per
/// connection, so the two sizes do not make one.
enum Serving<A, B> {
    Http1(Pin<Box<A>>),
    Http2(Pin<Box<B>>),
}
