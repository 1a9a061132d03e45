//! Bodies on the way through. A request body streams upstream while up to `retry_buffer`
//! bytes of it are kept, so that a request rejected with 401 can be sent once more; the
//! response body streams back and keeps the route's in-flight gauge up until it ends.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use prometheus::IntGauge;
use tokio::sync::oneshot;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body went past its route's `max_body_bytes` while streaming.
#[derive(Debug, thiserror::Error)]
#[error("the request body is larger than the route allows")]
pub struct BodyTooLarge;

/// What goes upstream: the client's body (kept on the side while it fits), or a replay.
pub enum ProxyBody {
    Empty,
    Streaming(Tee),
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
}

/// The request body as kept for a replay.
pub enum Kept {
    /// All of it, known before sending (no body, or one read first).
    Whole(Vec<Bytes>),
    /// Arrives once the streamed body has ended, if it fitted in the retry buffer.
    Streamed(oneshot::Receiver<Vec<Bytes>>),
}

impl Kept {
    /// The whole body, if it was kept.
    pub fn take(self) -> Option<Vec<Bytes>> {
        match self {
            Kept::Whole(chunks) => Some(chunks),
            Kept::Streamed(mut rx) => rx.try_recv().ok(),
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
    ) -> Result<(ProxyBody, Kept), hyper::Error> {
        // Most requests land here, without a channel or any allocation for the replay.
        if inner.is_end_stream() {
            return Ok((ProxyBody::Empty, Kept::Whole(Vec::new())));
        }
        if inner.size_hint().exact().is_some_and(|n| n <= limit as u64) {
            let bytes = inner.collect().await?.to_bytes();
            return Ok((ProxyBody::replay(vec![bytes.clone()]), Kept::Whole(vec![bytes])));
        }
        let (tx, rx) = oneshot::channel();
        let tee = Tee {
            inner,
            kept: Some(Vec::new()),
            kept_len: 0,
            limit,
            seen: 0,
            max,
            done: Some(tx),
        };
        Ok((ProxyBody::Streaming(tee), Kept::Streamed(rx)))
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
    /// Hands the kept body to the replay side, if all of it was kept.
    fn finish(&mut self) {
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
                Poll::Pending => Poll::Pending,
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
                    Poll::Ready(Some(Err(e.into())))
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

/// What goes back to the client: the upstream's body, or one the proxy wrote.
pub struct ResponseBody {
    inner: Inner,
    _in_flight: Option<InFlight>,
}

enum Inner {
    Upstream(Incoming),
    Local(Full<Bytes>),
}

impl ResponseBody {
    pub fn upstream(body: Incoming, in_flight: InFlight) -> Self {
        ResponseBody {
            inner: Inner::Upstream(body),
            _in_flight: Some(in_flight),
        }
    }

    pub fn empty() -> Self {
        ResponseBody::local(Bytes::new())
    }

    pub fn local(bytes: Bytes) -> Self {
        ResponseBody {
            inner: Inner::Local(Full::new(bytes)),
            _in_flight: None,
        }
    }
}

impl From<Bytes> for ResponseBody {
    fn from(bytes: Bytes) -> Self {
        ResponseBody::local(bytes)
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().inner {
            Inner::Upstream(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
            Inner::Local(b) => Pin::new(b).poll_frame(cx).map_err(|never| match never {}),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Upstream(b) => b.is_end_stream(),
            Inner::Local(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Upstream(b) => b.size_hint(),
            Inner::Local(b) => b.size_hint(),
        }
    }
}

/// Holds a route's in-flight gauge up until the response body is done (or dropped).
pub struct InFlight(IntGauge);

impl InFlight {
    pub fn enter(gauge: &IntGauge) -> Self {
        gauge.inc();
        InFlight(gauge.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}
