//! A listener's own HTTP/1 engine, tried before hyper on each HTTP/1 connection (the proxy
//! listener's is `proxy::h1`). It serves the requests it can serve simply and hands the
//! connection to hyper, with the bytes it read, at the first one it cannot.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;

use super::tally::{Counted, Exchange, Tally};

/// A client's first read asks for this much; more only for longer heads.
const FIRST_READ: usize = 4096;

pub type Serving = Pin<Box<dyn Future<Output = Option<Conn>> + Send>>;

pub trait Engine: Send + Sync + 'static {
    /// Serves `conn` until it ends (`None`), or gives it back for hyper to go on with.
    fn serve(self: Arc<Self>, conn: Conn) -> Serving;
}

/// A client connection as an engine sees it: the stream (counted for the watchdog), and
/// the bytes read but not yet used.
pub struct Conn {
    pub io: Counted<TcpStream>,
    pub read: BytesMut,
    tally: Arc<Tally>,
}

impl Conn {
    pub(super) fn new(io: Counted<TcpStream>, tally: Arc<Tally>) -> Self {
        Conn {
            io,
            read: BytesMut::new(),
            tally,
        }
    }

    /// Reads more of the client's bytes into `read`; `Ok(0)` at the end of the stream, or
    /// when the watchdog asked the connection to close and no head has begun.
    pub async fn read_more(&mut self) -> io::Result<usize> {
        if self.read.capacity() - self.read.len() < 512 {
            self.read.reserve(FIRST_READ.max(self.read.len()));
        }
        let Conn { io, read, tally } = self;
        let fresh = read.is_empty();
        let mut reading = std::pin::pin!(io.read_buf(read));
        std::future::poll_fn(|cx: &mut Context<'_>| {
            // Checked on each wake-up: the watchdog wakes the connection when it decides.
            if fresh && tally.close.load(Ordering::Acquire) {
                return Poll::Ready(Ok(0));
            }
            reading.as_mut().poll(cx)
        })
        .await
    }

    /// One exchange under way, from its parsed head until the returned guard drops.
    pub fn begin(&self) -> Exchange {
        Exchange::begin(&self.tally)
    }

    /// Whether the watchdog asked the connection to close once what is under way is done.
    pub fn closing(&self) -> bool {
        self.tally.close.load(Ordering::Acquire)
    }

    pub fn io(&mut self) -> &mut (impl AsyncRead + AsyncWrite + Unpin) {
        &mut self.io
    }
}

/// A stream whose first reads return bytes already read from it: an engine's leftovers,
/// for hyper to go on with.
pub struct Rewind<S> {
    first: bytes::Bytes,
    inner: S,
}

impl<S> Rewind<S> {
    pub fn new(first: bytes::Bytes, inner: S) -> Self {
        Rewind { first, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.first.is_empty() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let n = this.first.len().min(buf.remaining());
        buf.put_slice(&this.first.split_to(n));
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn a_rewound_stream_reads_its_first_bytes_then_the_rest() {
        let rest: &[u8] = b" world";
        let mut r = Rewind::new(bytes::Bytes::from_static(b"hello"), rest);
        let mut all = String::new();
        r.read_to_string(&mut all).await.expect("read");
        assert_eq!(all, "hello world");
    }
}
