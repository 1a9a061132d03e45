//! A tiny HTTP/1.1 server shared by the fakes: binds 127.0.0.1:0, serves every
//! connection (keep-alive, upgrades) with a handler, stops when the handle drops.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
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
}

impl ServerHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
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
    let task = tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            while conns.try_join_next().is_some() {}
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            };
            let _ = stream.set_nodelay(true);
            let handler = handler.clone();
            conns.spawn(async move {
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
    Arc::new(ServerHandle { addr, task })
}
