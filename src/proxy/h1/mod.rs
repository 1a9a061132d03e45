//! The proxy listener's own HTTP/1.1 engine, for the requests nearly every app sends: no
//! body, no upgrade, origin form. It runs the same phases as hyper's path (`forward.rs`),
//! but reads and writes the bytes itself, on pooled upstream connections of its own
//! (`upstream::raw`), as pingora does over httparse. Per request that skips hyper's
//! connection state machines on both sides, its request channel to the upstream
//! connection's task, and the body channel back: the bench showed those as most of the
//! proxy's user time, and hyper alone above nginx's whole cost per request.
//!
//! The first request it cannot serve simply hands the connection to hyper, with the bytes
//! read so far (`head::Head::Other`): hyper's path stays the one for bodies, upgrades,
//! HTTP/1.0, and every malformed or oversized head, so those keep hyper's answers.

mod body;
mod chunked;
mod exchange;
pub mod head;
mod relay;
mod via_h2;
mod write;

use std::sync::Arc;

use tokio::io::AsyncWriteExt;

use crate::server::engine::{self, Conn, Serving};
use crate::Shared;
use head::Head;

pub struct Engine {
    shared: Arc<Shared>,
    max_head: usize,
}

impl Engine {
    pub fn new(shared: Arc<Shared>, max_head: usize) -> Self {
        Engine { shared, max_head }
    }
}

impl engine::Engine for Engine {
    fn serve(self: Arc<Self>, conn: Conn) -> Serving {
        Box::pin(connection(self, conn))
    }
}

/// Serves requests on `conn` until it ends (`None`) or one is hyper's.
async fn connection(engine: Arc<Engine>, mut conn: Conn) -> Option<Conn> {
    let mut bufs = exchange::Buffers::default();
    loop {
        let head = loop {
            if let Some(head) = head::request(&mut conn.read, engine.max_head, bufs.spare_headers()) {
                break head;
            }
            match conn.read_more().await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        };
        let (parts, close) = match head {
            Head::Served { parts, close } => (parts, close),
            Head::Other => return Some(conn),
        };
        let exchange = conn.begin();
        let keep = exchange::serve(&engine.shared, conn.io(), parts, &mut bufs).await;
        drop(exchange);
        if !keep || close || conn.closing() {
            let _ = conn.io().shutdown().await;
            return None;
        }
    }
}
