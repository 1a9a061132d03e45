//! The `h1` engine's upstream connections: HTTP/1.1 byte streams (TCP, or TLS that agreed
//! on HTTP/1.1 by ALPN), lent whole to one exchange and pooled between exchanges. The engine
//! writes the request head and reads the answer itself, so a request costs no channel, no
//! task and no hyper connection state on this side.

use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use hyper_rustls::MaybeHttpsStream;
use hyper_util::client::legacy::connect::Connection;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tower_service::Service;

use super::idle::Reusable;
use super::timer::ConnTimer;
use super::{Upstream, UpstreamError};

/// What the connector dials.
pub type Dialed = MaybeHttpsStream<TokioIo<TcpStream>>;
/// The same, with tokio's I/O traits.
pub type Stream = TokioIo<Dialed>;

/// What an exchange of the `h1` engine goes out on.
pub enum Lent {
    Raw(RawConn),
    /// The upstream chose HTTP/2 by ALPN: hyper's multiplexed connection serves it (one
    /// connection for every request, as on hyper's path).
    H2,
}

/// One connection, and the timer that bounds its exchanges (moved from one exchange to the
/// next, as `idle::Pooled` does, rather than registered per request).
pub struct RawConn {
    /// Boxed: a TLS stream holds rustls's whole state (over a kilobyte), and the connection
    /// moves into and out of the pool on every exchange.
    pub io: Box<Stream>,
    timer: ConnTimer,
    /// Whether an exchange was already served on it: a reused connection the upstream
    /// closed meanwhile may be retried on a fresh one.
    pub reused: bool,
}

impl RawConn {
    fn new(io: Stream) -> Self {
        RawConn {
            io: Box::new(io),
            timer: ConnTimer::default(),
            reused: false,
        }
    }

    /// The stream, and the timer set to fire at `deadline`.
    pub fn parts(&mut self, deadline: Instant) -> (&mut Box<Stream>, Pin<&mut Sleep>) {
        (&mut self.io, self.timer.arm(deadline))
    }

    /// The answer's head arrived: see `ConnTimer::quiet`.
    pub fn quiet(&mut self) {
        self.timer.quiet();
    }
}

impl Reusable for RawConn {
    /// An idle HTTP/1.1 connection has nothing to say: a byte, an end of stream or an error
    /// waiting on it means the upstream closed it (or broke the protocol).
    fn usable(&mut self) -> bool {
        let mut byte = [0u8; 1];
        let mut buf = ReadBuf::new(&mut byte);
        let mut cx = Context::from_waker(Waker::noop());
        matches!(Pin::new(&mut self.io).poll_read(&mut cx, &mut buf), Poll::Pending)
    }
}

impl Upstream {
    /// A connection for one exchange: the most recently used idle one, or a new one, which
    /// must be made by `deadline`; or word that the upstream speaks HTTP/2.
    pub async fn lend_raw(&self, now: Instant, deadline: Instant) -> Result<Lent, UpstreamError> {
        if let Some(conn) = self.raw_idle.take(now) {
            return Ok(Lent::Raw(conn));
        }
        if self.h2().is_some() {
            return Ok(Lent::H2);
        }
        // Boxed: dialing (TCP, TLS, maybe an HTTP/2 handshake) is rare and its state large.
        let dialed = Box::pin(async {
            let stream = self.connector.clone().call(self.origin.clone()).await;
            let stream = stream.map_err(UpstreamError::Connect)?;
            if !stream.connected().is_negotiated_h2() {
                return Ok(Lent::Raw(RawConn::new(TokioIo::new(stream))));
            }
            let h2 = super::start_h2(stream).await?;
            self.h2.store(Some(std::sync::Arc::new(h2)));
            Ok(Lent::H2)
        });
        tokio::time::timeout_at(deadline.into(), dialed)
            .await
            .unwrap_or(Err(UpstreamError::Timeout))
    }

    /// Back to the pool once its answer was read whole, as last used at `since`.
    pub fn give_back(&self, mut conn: RawConn, since: Instant) {
        conn.reused = true;
        self.raw_idle.put(conn, since);
    }
}
