//! Idle keep-alive connections are closed after `idle_timeout`: an idle connection costs a
//! file descriptor, and a page (or a leaky client) holding hundreds of them would starve
//! the listener. "Idle" is "no byte either way": the socket counts its traffic, and a
//! watchdog in the connection's own task looks at the count a few times per period, so the
//! bytes path pays one relaxed atomic add and no clock read.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A stream that counts the calls that moved bytes.
pub struct Counted<S> {
    inner: S,
    activity: Arc<AtomicU64>,
}

impl<S> Counted<S> {
    pub fn new(inner: S) -> (Self, Activity) {
        let activity = Arc::new(AtomicU64::new(0));
        let watch = Activity {
            count: Arc::clone(&activity),
            seen: 0,
        };
        (Counted { inner, activity }, watch)
    }

    fn moved(&self) {
        self.activity.fetch_add(1, Ordering::Relaxed);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.moved();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.moved();
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
            this.moved();
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

/// The watchdog's side of a connection's count.
pub struct Activity {
    count: Arc<AtomicU64>,
    seen: u64,
}

/// How many looks the watchdog takes per `idle_timeout`: a connection is closed between one
/// and 1 + 1/LOOKS periods after its last byte.
const LOOKS: u32 = 4;

impl Activity {
    /// Resolves once no byte has moved for `idle`.
    pub async fn idle_for(&mut self, idle: Duration) {
        let look = idle / LOOKS;
        let mut quiet = 0;
        loop {
            tokio::time::sleep(look).await;
            let now = self.count.load(Ordering::Relaxed);
            if now == self.seen {
                quiet += 1;
                if quiet >= LOOKS {
                    return;
                }
            } else {
                self.seen = now;
                quiet = 0;
            }
        }
    }
}
