//! The response body the client receives: the upstream's, streamed, or one the proxy wrote.
//! Either way it carries what the request holds (`Held`) until it has been sent.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;

use super::admission::Held;
use super::upstream::Reuse;
use crate::server::ends_body;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub struct ResponseBody {
    inner: Inner,
    held: Option<Held>,
    /// The upstream connection, pooled again once this body was read whole.
    reuse: Option<Reuse>,
}

enum Inner {
    Upstream(Incoming),
    Local(Full<Bytes>),
}

impl ResponseBody {
    pub fn upstream(body: Incoming, reuse: Option<Reuse>) -> Self {
        ResponseBody {
            inner: Inner::Upstream(body),
            held: None,
            reuse,
        }
    }

    pub fn empty() -> Self {
        ResponseBody::local(Bytes::new())
    }

    pub fn local(bytes: Bytes) -> Self {
        ResponseBody {
            inner: Inner::Local(Full::new(bytes)),
            held: None,
            reuse: None,
        }
    }

    /// Keeps `held` until this body has been sent or dropped.
    pub fn hold(mut self, held: Held) -> Self {
        self.held = Some(held);
        self
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
        let this = self.get_mut();
        let polled = match &mut this.inner {
            Inner::Upstream(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
            Inner::Local(b) => Pin::new(b).poll_frame(cx).map_err(|never| match never {}),
        };
        if ends_body(&polled, || this.is_end_stream()) {
            // Free the place and the connection now rather than when hyper drops the body.
            this.held = None;
            if let Some(reuse) = this.reuse.take() {
                reuse.done();
            }
        }
        polled
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
