//! Reading heads for the `h1` engine: httparse finds where a head ends, then the `http` types
//! the phases take are built over the head's own bytes (one shared buffer, no copy per value).
//!
//! The engine serves only what it can serve simply: an HTTP/1.1 request without a body, an
//! upgrade or an `Expect`, in origin form. Anything else (and anything malformed or too
//! large) goes to hyper with every byte read so far, so hyper's answers stay the answers.

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Uri, Version};

/// More fields than this: hyper's business (it answers 431 past its own limit of 100).
const MAX_FIELDS: usize = 64;

/// A whole request head.
#[allow(clippy::large_enum_variant)] // `Served` is nearly every head: boxing it would allocate per request
pub enum Head {
    /// One the engine serves: its parts, and whether the client asked to close after it.
    Served {
        parts: http::request::Parts,
        close: bool,
    },
    /// One for hyper (every byte read so far stays in the buffer).
    Other,
}

/// Where a field's name and value lie in the head (a head is at most `max` bytes, which
/// `u32` holds: the limits are far below 4 GiB).
#[derive(Clone, Copy, Default)]
struct Span {
    name: (u32, u32),
    value: (u32, u32),
}

/// What one parse found, as places in the head rather than borrows of it, so that the
/// head can then be frozen and shared by the values without a second parse.
struct Found {
    len: usize,
    method: (usize, usize),
    path: (usize, usize),
    version: Option<u8>,
    fields: usize,
}

/// The head at the start of `buf`, taken out of it; `None` while it is incomplete and
/// shorter than `max` bytes. `headers`: an empty map whose memory the head's fields reuse.
pub fn request(buf: &mut BytesMut, max: usize, headers: HeaderMap) -> Option<Head> {
    let mut spans = [Span::default(); MAX_FIELDS];
    let found = {
        // Uninitialised: a zeroed array would be 2 KiB written per request for nothing.
        let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_FIELDS];
        let mut req = httparse::Request::new(&mut []);
        match req.parse_with_uninit_headers(buf, &mut fields) {
            Ok(httparse::Status::Complete(len)) if len <= max => {
                // A complete head has both; `Other` is only for the type's sake.
                let (Some(method), Some(path)) = (req.method, req.path) else {
                    return Some(Head::Other);
                };
                let at = |s: &[u8]| (s.as_ptr() as usize - buf.as_ptr() as usize, s.len());
                let at32 = |s: &[u8]| {
                    let (at, len) = at(s);
                    (at as u32, len as u32)
                };
                for (span, field) in spans.iter_mut().zip(req.headers.iter()) {
                    *span = Span {
                        name: at32(field.name.as_bytes()),
                        value: at32(field.value),
                    };
                }
                Found {
                    len,
                    method: at(method.as_bytes()),
                    path: at(path.as_bytes()),
                    version: req.version,
                    fields: req.headers.len(),
                }
            }
            Ok(httparse::Status::Partial) if buf.len() < max => return None,
            _ => return Some(Head::Other),
        }
    };
    // Whole: the head is frozen (no copy) and every value becomes a slice of it.
    let head = buf.split_to(found.len).freeze();
    match served(&head, &found, &spans[..found.fields], headers) {
        Some(served) => Some(served),
        None => {
            // Hyper reads the head again: it goes back in front of what follows.
            let rest = buf.split();
            buf.extend_from_slice(&head);
            buf.unsplit(rest);
            Some(Head::Other)
        }
    }
}

fn served(head: &Bytes, found: &Found, spans: &[Span], mut headers: HeaderMap) -> Option<Head> {
    let bytes = |(at, len): (usize, usize)| &head[at..at + len];
    let field = |(at, len): (u32, u32)| bytes((at as usize, len as usize));
    if found.version != Some(1) {
        return None;
    }
    let path = bytes(found.path);
    if !path.starts_with(b"/") {
        return None;
    }
    let method = Method::from_bytes(bytes(found.method)).ok()?;
    let uri = Uri::from_maybe_shared(head.slice_ref(path)).ok()?;
    headers.reserve(spans.len());
    let mut close = false;
    for span in spans {
        let value = field(span.value);
        let name = HeaderName::from_bytes(field(span.name)).ok()?;
        match name {
            // A body, a protocol switch or an interim answer: hyper's.
            header::TRANSFER_ENCODING | header::UPGRADE | header::EXPECT => return None,
            header::CONTENT_LENGTH if value != b"0" => return None,
            header::CONNECTION => close |= names(value, b"close"),
            _ => {}
        }
        let value = HeaderValue::from_maybe_shared(head.slice_ref(value)).ok()?;
        headers.append(name, value);
    }
    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method = method;
    parts.uri = uri;
    parts.version = Version::HTTP_11;
    parts.headers = headers;
    Some(Head::Served { parts, close })
}

/// Whether a comma-separated list of tokens (a `Connection` value) holds `token`.
pub fn names(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|b| *b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Option<Head> {
        request(&mut BytesMut::from(text), 8192, HeaderMap::new())
    }

    #[test]
    fn a_plain_request_is_served_with_its_fields_in_order() {
        let text = "GET /api/x?y=1 HTTP/1.1\r\nHost: localhost\r\nX-A: 1\r\nx-a: 2\r\n\r\n";
        let Some(Head::Served { parts, close }) = parse(text) else {
            panic!("not served");
        };
        assert_eq!(parts.method, Method::GET);
        assert_eq!(parts.uri, "/api/x?y=1");
        assert_eq!(parts.headers["host"], "localhost");
        let a: Vec<_> = parts.headers.get_all("x-a").iter().collect();
        assert_eq!(a, ["1", "2"]);
        assert!(!close);
    }

    #[test]
    fn a_client_that_closes_says_so() {
        let text = "GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n";
        assert!(matches!(parse(text), Some(Head::Served { close: true, .. })));
    }

    #[test]
    fn bodies_upgrades_old_versions_and_other_forms_go_to_hyper() {
        for text in [
            "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
            "PUT / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            "GET / HTTP/1.0\r\n\r\n",
            "GET http://example.com/ HTTP/1.1\r\n\r\n",
            "OPTIONS * HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
        ] {
            let mut buf = BytesMut::from(text);
            assert!(
                matches!(request(&mut buf, 8192, HeaderMap::new()), Some(Head::Other)),
                "{text:?}"
            );
            // Every byte is still there for hyper.
            assert_eq!(&buf[..], text.as_bytes(), "{text:?}");
        }
    }

    #[test]
    fn an_incomplete_head_waits_until_it_is_too_long() {
        let mut buf = BytesMut::from("GET / HTTP/1.1\r\nHost: x\r\n");
        assert!(request(&mut buf, 8192, HeaderMap::new()).is_none());
        assert!(matches!(
            request(&mut buf, 16, HeaderMap::new()),
            Some(Head::Other)
        ));
    }

    #[test]
    fn waiting_for_the_rest_of_a_head_keeps_the_buffer() {
        let mut buf = BytesMut::with_capacity(4096);
        assert!(request(&mut buf, 8192, HeaderMap::new()).is_none());
        assert_eq!(buf.capacity(), 4096, "an empty buffer is left alone");
        buf.extend_from_slice(b"GET / HTTP/1.1\r\nHo");
        assert!(request(&mut buf, 8192, HeaderMap::new()).is_none());
        assert_eq!(&buf[..], b"GET / HTTP/1.1\r\nHo");
        assert_eq!(buf.capacity(), 4096, "the room to read the rest stays");
    }

    #[test]
    fn what_follows_a_head_stays_for_the_next() {
        let mut buf = BytesMut::from("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
        assert!(matches!(
            request(&mut buf, 8192, HeaderMap::new()),
            Some(Head::Served { .. })
        ));
        assert_eq!(&buf[..], b"GET /b HTTP/1.1\r\n\r\n");
    }
}
