//! A tiny HTTP/1.1 server shared by the fakes: binds 127.0.0.1:0, serves every
//! connection (keep-alive, upgrades) with a handler, stops when the handle drops.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// What every fake answers with.
pub type Reply = Response<Full<Bytes>>;

/// Returned by a handler to close the connection without writing any answer.
#[derive(Debug)]
pub struct Reset;

impl fmt::Display for Reset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection reset on purpose by the fake")
    }
}

impl std::error::Error for Reset {}

/// Keeps a server running; dropping the last clone stops accepting and closes
/// every open connection.
pub struct ServerHandle {
    addr: SocketAddr,
    task: JoinHandle<()>,
    /// Peers of the connections accepted and not yet finished (their handlers included).
    open: Arc<watch::Sender<HashSet<SocketAddr>>>,
}

/// Counts one connection as open until dropped (when its task ends or is aborted).
struct OpenGuard(Arc<watch::Sender<HashSet<SocketAddr>>>, SocketAddr);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.send_modify(|open| {
            open.remove(&self.1);
        });
    }
}

impl ServerHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The peers of the connections open now.
    pub fn peers(&self) -> HashSet<SocketAddr> {
        self.open.borrow().clone()
    }

    /// Waits until every connection made so far has been accepted and has finished (its
    /// requests handled or abandoned); false on timeout. A connection of its own, made first
    /// and accepted after every earlier one (the accept queue is FIFO), shows when none is
    /// left unaccepted; it sends nothing, so no handler sees it.
    pub async fn wait_no_connections(&self, timeout: Duration) -> bool {
        let mut rx = self.open.subscribe();
        let waiting = async {
            let probe = tokio::net::TcpStream::connect(self.addr).await.ok()?;
            let me = probe.local_addr().ok()?;
            rx.wait_for(|open| open.contains(&me)).await.ok()?;
            drop(probe);
            rx.wait_for(|open| open.is_empty()).await.ok()?;
            Some(())
        };
        matches!(tokio::time::timeout(timeout, waiting).await, Ok(Some(())))
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        // The accept task owns the JoinSet of connections: aborting it drops
        // the set, which aborts every connection task.
        self.task.abort();
    }
}

/// Binds 127.0.0.1:0 and serves `handler` on every connection.
pub async fn serve<H, F>(handler: H) -> Arc<ServerHandle>
where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Result<Reply, Reset>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("fake server: bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("fake server: local_addr");
    let handler = Arc::new(handler);
    let open = Arc::new(watch::Sender::new(HashSet::new()));
    let counter = open.clone();
    let task = tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            while conns.try_join_next().is_some() {}
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(_) => continue,
            };
            let _ = stream.set_nodelay(true);
            let handler = handler.clone();
            counter.send_modify(|open| {
                open.insert(peer);
            });
            let guard = OpenGuard(counter.clone(), peer);
            conns.spawn(async move {
                let _guard = guard;
                let svc = service_fn(move |req| handler(req));
                // Errors here are the client going away or a deliberate Reset.
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    Arc::new(ServerHandle { addr, task, open })
}
