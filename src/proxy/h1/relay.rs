//! The `h1` engine's send phase and the answer's way back: the request head goes out on a
//! pooled upstream connection, the answer's head is read and parsed, and its body passes to
//! the client as it arrives, framed as the upstream framed it (RFC 9112 §6.3).

use std::io;
use std::time::Instant;

use bytes::BytesMut;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::chunked::ChunkedEnd;
use super::write::{chunk, write_two};
use crate::proxy::route::Route;
use crate::proxy::upstream::{Lent, RawConn, UpstreamError};

/// An answer head longer than this is refused (hyper's client allows about as much).
const MAX_ANSWER_HEAD: usize = 64 * 1024;
const MAX_FIELDS: usize = 100;
/// What one read of an answer asks for.
const READ: usize = 16 * 1024;

/// How an answer's body ends.
pub enum Framing {
    Empty,
    Length(u64),
    Chunked(ChunkedEnd),
    /// At the end of the connection: passed on chunked, and the connection is not reused.
    Close,
}

/// An answer's head; its first body bytes are left in the read buffer.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub framing: Framing,
    pub conn: RawConn,
    /// The upstream keeps the connection open after this answer (HTTP/1.1 without
    /// `Connection: close`).
    pub keep: bool,
}

/// Sends `head` to `route`'s upstream and reads the answer's head, within the route's
/// timeout; `None`, unsent, when the upstream speaks HTTP/2. A reused connection that the
/// upstream had closed is retried on another when the request may be sent twice
/// (`idempotent`).
pub async fn send(
    route: &Route,
    head: &[u8],
    buf: &mut BytesMut,
    head_only: bool,
    idempotent: bool,
) -> Result<Option<Answer>, UpstreamError> {
    let now = Instant::now();
    let deadline = now + route.timeout;
    loop {
        let mut conn = match route.upstream.lend_raw(now, deadline).await? {
            Lent::Raw(conn) => conn,
            Lent::H2 => return Ok(None),
        };
        let reused = conn.reused;
        let (io, timer) = conn.parts(deadline);
        let exchanged = tokio::select! {
            biased;
            exchanged = exchange(io, head, buf) => exchanged,
            () = timer => return Err(UpstreamError::Timeout),
        };
        match exchanged {
            Ok(len) => {
                conn.quiet();
                return answer(buf, len, head_only, conn).map(Some);
            }
            Err(Failed::Closed) if reused && idempotent => {}
            Err(Failed::Closed) => return Err(UpstreamError::Io(io::ErrorKind::UnexpectedEof.into())),
            Err(Failed::Io(e)) => return Err(UpstreamError::Io(e)),
            Err(Failed::Malformed(why)) => return Err(UpstreamError::Malformed(why)),
        }
    }
}

enum Failed {
    /// The connection ended before a byte of the answer: the upstream closed it.
    Closed,
    Io(io::Error),
    Malformed(&'static str),
}

/// Writes the head and reads until a final answer's head is whole: its length.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    head: &[u8],
    buf: &mut BytesMut,
) -> Result<usize, Failed> {
    buf.clear();
    if let Err(e) = io.write_all(head).await {
        return Err(match e.kind() {
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => Failed::Closed,
            _ => Failed::Io(e),
        });
    }
    let mut answered = false;
    loop {
        if !buf.is_empty() {
            let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
            let mut resp = httparse::Response::new(&mut fields);
            match resp.parse(buf) {
                // An interim answer (100, 103): not passed on; the final one follows, maybe
                // already read.
                Ok(httparse::Status::Complete(len))
                    if resp.code.is_some_and(|c| (100..200).contains(&c) && c != 101) =>
                {
                    let _ = buf.split_to(len);
                    continue;
                }
                Ok(httparse::Status::Complete(len)) => return Ok(len),
                Ok(httparse::Status::Partial) if buf.len() < MAX_ANSWER_HEAD => {}
                Ok(httparse::Status::Partial) => return Err(Failed::Malformed("its head is too long")),
                Err(_) => return Err(Failed::Malformed("its head cannot be parsed")),
            }
        }
        if buf.capacity() - buf.len() < READ / 4 {
            buf.reserve(READ);
        }
        match io.read_buf(buf).await {
            Ok(0) if !answered => return Err(Failed::Closed),
            Ok(0) => return Err(Failed::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(_) => answered = true,
            Err(e) if !answered && e.kind() == io::ErrorKind::ConnectionReset => return Err(Failed::Closed),
            Err(e) => return Err(Failed::Io(e)),
        }
    }
}

/// The answer head of `len` bytes at the start of `buf`, taken out of it.
fn answer(buf: &mut BytesMut, len: usize, head_only: bool, conn: RawConn) -> Result<Answer, UpstreamError> {
    let bad = UpstreamError::Malformed;
    let head = buf.split_to(len).freeze();
    let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut resp = httparse::Response::new(&mut fields);
    resp.parse(&head).map_err(|_| bad("its head cannot be parsed"))?;
    let status = resp.code.and_then(|c| StatusCode::from_u16(c).ok());
    let status = status.ok_or(bad("its status is not valid"))?;
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return Err(bad("it switched protocols unasked"));
    }
    let mut headers = HeaderMap::with_capacity(resp.headers.len());
    let (mut length, mut chunked, mut coded) = (None, false, false);
    // HTTP/1.0 closes unless asked otherwise, which we never ask.
    let mut keep = resp.version == Some(1);
    for field in resp.headers.iter() {
        let name =
            HeaderName::from_bytes(field.name.as_bytes()).map_err(|_| bad("a field name is not valid"))?;
        if name == header::CONTENT_LENGTH {
            let n = std::str::from_utf8(field.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok());
            let n = n.ok_or(bad("its Content-Length is not a number"))?;
            if length.is_some_and(|l| l != n) {
                return Err(bad("it has two Content-Lengths"));
            }
            length = Some(n);
        } else if name == header::CONNECTION {
            keep &= !super::head::names(field.value, b"close");
        } else if name == header::TRANSFER_ENCODING {
            coded = true;
            chunked = field
                .value
                .rsplit(|b| *b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        }
        let value = HeaderValue::from_maybe_shared(head.slice_ref(field.value))
            .map_err(|_| bad("a field value is not valid"))?;
        headers.append(name, value);
    }
    let framing = if head_only || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        Framing::Empty
    } else if coded {
        // Transfer-Encoding overrides Content-Length, which is dropped (RFC 9112 §6.3).
        headers.remove(header::CONTENT_LENGTH);
        if chunked {
            Framing::Chunked(ChunkedEnd::default())
        } else {
            Framing::Close
        }
    } else {
        match length {
            Some(n) => Framing::Length(n),
            None => Framing::Close,
        }
    };
    Ok(Answer {
        status,
        headers,
        framing,
        conn,
        keep,
    })
}

/// How relaying a body ended.
pub struct Relayed {
    /// The upstream connection may serve another exchange.
    pub reusable: bool,
    /// The client got the whole answer and its connection may serve another.
    pub client_ok: bool,
}

/// Writes `head` (the answer's, as the client gets it) and the body after it: what `buf`
/// already holds, then what the upstream sends, until the framing says it ended.
pub async fn body<C: AsyncWrite + Unpin>(
    client: &mut C,
    head: &[u8],
    conn: &mut RawConn,
    buf: &mut BytesMut,
    framing: Framing,
) -> Relayed {
    let broken = Relayed {
        reusable: false,
        client_ok: false,
    };
    match framing {
        Framing::Empty => {
            let ok = write_two(client, head, &[]).await.is_ok();
            Relayed {
                reusable: ok && buf.is_empty(),
                client_ok: ok,
            }
        }
        Framing::Length(mut left) => {
            let mut first = head;
            loop {
                let take = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                if write_two(client, first, &buf[..take]).await.is_err() {
                    return broken;
                }
                first = &[];
                left -= take as u64;
                if left == 0 {
                    return Relayed {
                        reusable: buf.len() == take,
                        client_ok: true,
                    };
                }
                if !read(conn, buf).await {
                    return broken;
                }
            }
        }
        Framing::Chunked(mut scan) => {
            let mut first = head;
            loop {
                let Ok(end) = scan.feed(buf) else { return broken };
                let take = end.unwrap_or(buf.len());
                if write_two(client, first, &buf[..take]).await.is_err() {
                    return broken;
                }
                first = &[];
                if end.is_some() {
                    return Relayed {
                        reusable: buf.len() == take,
                        client_ok: true,
                    };
                }
                if !read(conn, buf).await {
                    return broken;
                }
            }
        }
        Framing::Close => {
            if write_two(client, head, &[]).await.is_err() {
                return broken;
            }
            loop {
                if !buf.is_empty() && chunk(client, buf).await.is_err() {
                    return broken;
                }
                buf.clear();
                if buf.capacity() < READ / 4 {
                    buf.reserve(READ);
                }
                match conn.io.read_buf(buf).await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(_) => return broken,
                }
            }
            let ok = client.write_all(b"0\r\n\r\n").await.is_ok();
            Relayed {
                reusable: false,
                client_ok: ok,
            }
        }
    }
}

/// The next bytes of a body into `buf` (emptied first); `false` if the upstream ended or failed.
async fn read(conn: &mut RawConn, buf: &mut BytesMut) -> bool {
    buf.clear();
    if buf.capacity() < READ / 4 {
        buf.reserve(READ);
    }
    matches!(conn.io.read_buf(buf).await, Ok(n) if n > 0)
}
