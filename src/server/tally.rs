//! What a connection's watchdog needs to know of it, kept on the bytes path with relaxed
//! atomics only: no clock read, no timer and no lock per read, write or request. The
//! watchdog (`watchdog.rs`) looks at the counts a few times per period.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[derive(Default)]
pub struct Tally {
    /// Reads that brought bytes.
    pub reads: AtomicU64,
    /// Reads and writes that moved bytes: what "idle" is measured by.
    pub moves: AtomicU64,
    /// Exchanges under way: from a parsed request head until its response body ended.
    pub open: AtomicU32,
    /// Exchanges begun since the connection opened.
    pub begun: AtomicU64,
    /// `reads` when the last exchange ended: any read after it, with none open, is the
    /// start of the next request head.
    pub rest_reads: AtomicU64,
    /// HTTP/2 keeps a connection open between requests by design: no head to time. Set once
    /// the first bytes told the protocol.
    pub h2: AtomicBool,
    /// Set by the watchdog: finish what is under way, then close.
    pub close: AtomicBool,
    /// Set by the watchdog: close now (a head that never completes; nothing is under way).
    pub abort: AtomicBool,
    pub waker: AtomicWaker,
}

impl Tally {
    /// Asks the connection to close once what is under way is done.
    pub fn close(&self) {
        self.close.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Closes the connection at once: hyper's graceful close waits for a head to complete.
    pub fn abort(&self) {
        self.abort.store(true, Ordering::Release);
        self.waker.wake();
    }
}

/// A stream that keeps its connection's tally.
pub struct Counted<S> {
    inner: S,
    tally: Arc<Tally>,
}

impl<S> Counted<S> {
    pub fn new(inner: S, tally: Arc<Tally>) -> Self {
        Counted { inner, tally }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        let got = &buf.filled()[before..];
        if !got.is_empty() {
            this.tally.reads.fetch_add(1, Ordering::Relaxed);
            this.tally.moves.fetch_add(1, Ordering::Relaxed);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.tally.moves.fetch_add(1, Ordering::Relaxed);
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.tally.moves.fetch_add(1, Ordering::Relaxed);
        }
        polled
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

/// Whether `polled` ended its body: the end itself, or a data frame after which the body
/// says it ended (hyper stops polling such a body, so its end is never seen).
pub fn ends_body<D, E>(
    polled: &Poll<Option<Result<Frame<D>, E>>>,
    end_stream: impl FnOnce() -> bool,
) -> bool {
    match polled {
        Poll::Ready(None) => true,
        Poll::Ready(Some(Ok(_))) => end_stream(),
        _ => false,
    }
}

/// One exchange's place in the tally, from its parsed head until its response body ended,
/// or until whatever holds it was dropped (a client gone before the answer).
pub struct Exchange(Option<Arc<Tally>>);

impl Exchange {
    pub fn begin(tally: &Arc<Tally>) -> Self {
        tally.open.fetch_add(1, Ordering::Relaxed);
        tally.begun.fetch_add(1, Ordering::Relaxed);
        Exchange(Some(Arc::clone(tally)))
    }

    fn end(&mut self) {
        if let Some(tally) = self.0.take() {
            let reads = tally.reads.load(Ordering::Relaxed);
            tally.rest_reads.store(reads, Ordering::Relaxed);
            tally.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        self.end();
    }
}

/// A response body that ends its exchange when it has been sent.
pub struct Tracked<B> {
    inner: B,
    exchange: Exchange,
}

impl<B> Tracked<B> {
    pub fn new(inner: B, exchange: Exchange) -> Self {
        Tracked { inner, exchange }
    }
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if ends_body(&polled, || this.inner.is_end_stream()) {
            this.exchange.end();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
