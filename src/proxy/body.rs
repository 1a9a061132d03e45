//! The request body on its way upstream. It streams while up to `retry_buffer` bytes of it
//! are kept, so that a request rejected with 401 can be sent once more. It must arrive
//! within the route's `request_timeout`: a client that declares a body and stops sending it
//! must not hold its admission slot (and an upstream connection) for longer.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::oneshot;
use tokio::time::{Instant, Sleep};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body went past its route's `max_body_bytes` while streaming.
#[derive(Debug, thiserror::Error)]
#[error("the request body is larger than the route allows")]
pub struct BodyTooLarge;

/// The client stopped sending its body before `request_timeout` ran out.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within the request timeout")]
pub struct BodyTimeout;

/// The client's body was malformed or cut off: the client's fault, never the upstream's.
#[derive(Debug, thiserror::Error)]
#[error("the request body could not be read: {0}")]
pub struct ClientBodyError(#[source] hyper::Error);

/// Why a body could not be read before it was sent.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Client(#[from] ClientBodyError),
    #[error(transparent)]
    Timeout(#[from] BodyTimeout),
}

/// What goes upstream: the client's body (kept on the side while it fits), or a replay.
pub enum ProxyBody {
    Empty,
    /// Boxed: requests travel to the upstream connection through hyper's channel, whose
    /// blocks hold 32 of them, so every byte here costs 32 per upstream connection.
    Streaming(Box<Tee>),
    Replay(std::vec::IntoIter<Bytes>),
}

pub struct Tee {
    inner: Incoming,
    kept: Option<Vec<Bytes>>,
    kept_len: usize,
    limit: usize,
    seen: u64,
    max: Option<u64>,
    done: Option<oneshot::Sender<Vec<Bytes>>>,
    /// When the whole body must have arrived.
    deadline: Pin<Box<Sleep>>,
    arrived: Arc<AtomicBool>,
}

/// The request body as kept for a replay.
pub enum Kept {
    /// All of it, known before sending (no body, or one read first).
    Whole(Vec<Bytes>),
    /// Arrives once the streamed body has ended, if it fitted in the retry buffer.
    Streamed {
        kept: oneshot::Receiver<Vec<Bytes>>,
        /// Set once the client's body has arrived whole, kept or not.
        arrived: Arc<AtomicBool>,
    },
}

impl Kept {
    /// The whole body, if it was kept.
    pub fn take(self) -> Option<Vec<Bytes>> {
        match self {
            Kept::Whole(chunks) => Some(chunks),
            Kept::Streamed { mut kept, .. } => kept.try_recv().ok(),
        }
    }

    /// Whether the client's whole body has arrived: when the upstream has not answered in
    /// time and this is false, the client's stall is to blame, not the upstream.
    pub fn arrived(&self) -> bool {
        match self {
            Kept::Whole(_) => true,
            Kept::Streamed { arrived, .. } => arrived.load(Ordering::Acquire),
        }
    }
}

impl ProxyBody {
    /// Prepares a client's body for the trip upstream; the receiver yields it whole for a
    /// replay, when it can be kept. A body whose declared length fits in `limit` is read
    /// first, so it can be replayed even if the upstream refuses it before reading it all;
    /// any other body streams, and is kept on the side only while it fits.
    pub async fn prepare(
        inner: Incoming,
        limit: usize,
        max: Option<u64>,
        timeout: Duration,
    ) -> Result<(ProxyBody, Kept), ReadError> {
        // Most requests land here, without a channel, a timer or any allocation for the replay.
        if inner.is_end_stream() {
            return Ok((ProxyBody::Empty, Kept::Whole(Vec::new())));
        }
        let deadline = Instant::now() + timeout;
        if inner.size_hint().exact().is_some_and(|n| n <= limit as u64) {
            let read = tokio::time::timeout_at(deadline, inner.collect());
            let bytes = read
                .await
                .map_err(|_| BodyTimeout)?
                .map_err(ClientBodyError)?
                .to_bytes();
            return Ok((ProxyBody::replay(vec![bytes.clone()]), Kept::Whole(vec![bytes])));
        }
        let (tx, rx) = oneshot::channel();
        let arrived = Arc::new(AtomicBool::new(false));
        let tee = Tee {
            inner,
            kept: Some(Vec::new()),
            kept_len: 0,
            limit,
            seen: 0,
            max,
            done: Some(tx),
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            arrived: Arc::clone(&arrived),
        };
        let kept = Kept::Streamed { kept: rx, arrived };
        Ok((ProxyBody::Streaming(Box::new(tee)), kept))
    }

    pub fn replay(chunks: Vec<Bytes>) -> ProxyBody {
        if chunks.is_empty() {
            ProxyBody::Empty
        } else {
            ProxyBody::Replay(chunks.into_iter())
        }
    }
}

impl Tee {
    /// The body has arrived whole: hands it to the replay side, if all of it was kept.
    fn finish(&mut self) {
        self.arrived.store(true, Ordering::Release);
        if let (Some(kept), Some(done)) = (self.kept.take(), self.done.take()) {
            let _ = done.send(kept);
        }
    }

    fn keep(&mut self, data: &Bytes) {
        if let Some(kept) = &mut self.kept {
            self.kept_len += data.len();
            if self.kept_len <= self.limit {
                kept.push(data.clone());
            } else {
                self.kept = None;
            }
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ProxyBody::Empty => Poll::Ready(None),
            ProxyBody::Replay(chunks) => Poll::Ready(chunks.next().map(|c| Ok(Frame::data(c)))),
            ProxyBody::Streaming(tee) => match Pin::new(&mut tee.inner).poll_frame(cx) {
                Poll::Pending => match tee.deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        tee.kept = None;
                        Poll::Ready(Some(Err(Box::new(BodyTimeout))))
                    }
                    Poll::Pending => Poll::Pending,
                },
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        tee.seen += data.len() as u64;
                        if tee.max.is_some_and(|max| tee.seen > max) {
                            tee.kept = None;
                            return Poll::Ready(Some(Err(Box::new(BodyTooLarge))));
                        }
                    }
                    match frame.data_ref() {
                        Some(data) => tee.keep(data),
                        // Trailers are not kept; such a request is not replayed.
                        None => tee.kept = None,
                    }
                    // A sender that knows the length stops polling after the last byte,
                    // so the end is noticed here rather than at a final `None`.
                    if tee.inner.is_end_stream() {
                        tee.finish();
                    }
                    Poll::Ready(Some(Ok(frame)))
                }
                Poll::Ready(Some(Err(e))) => {
                    tee.kept = None;
                    Poll::Ready(Some(Err(Box::new(ClientBodyError(e)))))
                }
                Poll::Ready(None) => {
                    tee.finish();
                    Poll::Ready(None)
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Empty => true,
            ProxyBody::Replay(chunks) => chunks.len() == 0,
            ProxyBody::Streaming(tee) => tee.inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Empty => SizeHint::with_exact(0),
            ProxyBody::Replay(chunks) => {
                SizeHint::with_exact(chunks.as_slice().iter().map(|c| c.len() as u64).sum())
            }
            ProxyBody::Streaming(tee) => tee.inner.size_hint(),
        }
    }
}
