//! The `h1` engine's send phase: the request head goes out on a pooled upstream
//! connection, and the answer's head comes back, parsed once and written as the client
//! gets it (what never crosses a proxy left out) straight from the bytes that arrived.

use std::io;
use std::mem::MaybeUninit;
use std::time::Instant;

use bytes::{Buf, BytesMut};
use http::StatusCode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::body::{Framing, READ};
use super::chunked::ChunkedEnd;
use super::head::names;
use super::write;
use crate::proxy::headers::{answer_field, listed_names, AnswerField};
use crate::proxy::route::Route;
use crate::proxy::upstream::{Lent, RawConn, UpstreamError};

/// An answer head longer than this is refused (hyper's client allows about as much).
const MAX_ANSWER_HEAD: usize = 64 * 1024;
const MAX_FIELDS: usize = 100;

/// An answer whose head was read: its status line and fields, as the client gets them,
/// are in the caller's `head`; its first body bytes are in the read buffer.
pub struct Answer {
    pub status: StatusCode,
    pub framing: Framing,
    pub conn: RawConn,
    /// The upstream keeps the connection open after this answer (HTTP/1.1 without
    /// `Connection: close`).
    pub keep: bool,
}

/// What the send phase reads and writes.
pub struct Io<'a> {
    /// The request head to send.
    pub request: &'a [u8],
    /// The answer's head, as the client gets it, but for the respond phase's own fields.
    pub head: &'a mut Vec<u8>,
    /// What the upstream sends.
    pub buf: &'a mut BytesMut,
}

/// Sends the request head to `route`'s upstream and reads the answer's head, within the
/// route's timeout; `None`, unsent, when the upstream speaks HTTP/2. A reused connection
/// that the upstream had closed is retried on another when the request may be sent twice
/// (`idempotent`).
pub async fn send(
    route: &Route,
    io: Io<'_>,
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
        let (stream, timer) = conn.parts(deadline);
        let exchanged = tokio::select! {
            biased;
            exchanged = exchange(stream, io.request, io.buf, |resp, bytes| head(resp, bytes, io.head, head_only, route)) => exchanged,
            () = timer => return Err(UpstreamError::Timeout),
        };
        match exchanged {
            Ok((status, framing, keep)) => {
                conn.quiet();
                return Ok(Some(Answer {
                    status,
                    framing,
                    conn,
                    keep,
                }));
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

/// Writes the request head, then reads until a final answer's head is whole and hands it
/// (and the bytes it was parsed from) to `take`; the head's bytes then leave `buf`.
async fn exchange<S, T>(
    io: &mut S,
    request: &[u8],
    buf: &mut BytesMut,
    mut take: impl FnMut(&httparse::Response<'_, '_>, &[u8]) -> Result<T, &'static str>,
) -> Result<T, Failed>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    buf.clear();
    if let Err(e) = io.write_all(request).await {
        return Err(match e.kind() {
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => Failed::Closed,
            _ => Failed::Io(e),
        });
    }
    let mut answered = false;
    loop {
        if !buf.is_empty() {
            // Uninitialised: a zeroed array would be 3 KiB written per answer for nothing.
            let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_FIELDS];
            let mut resp = httparse::Response::new(&mut []);
            let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
                &mut resp,
                buf,
                &mut fields,
            );
            match parsed {
                // An interim answer (100, 103): not passed on; the final one follows, maybe
                // already read.
                Ok(httparse::Status::Complete(len))
                    if resp.code.is_some_and(|c| (100..200).contains(&c) && c != 101) =>
                {
                    buf.advance(len);
                    continue;
                }
                Ok(httparse::Status::Complete(len)) => {
                    let taken = take(&resp, buf).map_err(Failed::Malformed)?;
                    buf.advance(len);
                    return Ok(taken);
                }
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

/// The answer's status line and fields as the client gets them, into `out`: hop-by-hop
/// fields, those `Connection` lists, and `Access-Control-*` stay behind (the same rules as
/// hyper's path, `headers::remove_hop_by_hop` and `policy::strip_upstream_cors`); rate
/// limits are published on the way. Also how the body is framed, and whether the
/// connection stays open.
fn head(
    resp: &httparse::Response<'_, '_>,
    bytes: &[u8],
    out: &mut Vec<u8>,
    head_only: bool,
    route: &Route,
) -> Result<(StatusCode, Framing, bool), &'static str> {
    let status = resp.code.and_then(|c| StatusCode::from_u16(c).ok());
    let status = status.ok_or("its status is not valid")?;
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return Err("it switched protocols unasked");
    }
    // HTTP/1.0 closes unless asked otherwise, which we never ask.
    let mut keep = resp.version == Some(1);
    let (mut length, mut coded, mut chunked) = (None, false, false);
    // Allocates only for a `Connection` that lists names, which is rare.
    let mut listed = Vec::new();
    let mut kinds = [AnswerField::Pass; MAX_FIELDS];
    for (field, kind) in resp.headers.iter().zip(kinds.iter_mut()) {
        *kind = answer_field(field.name.as_bytes());
        match kind {
            AnswerField::ContentLength => {
                let n = std::str::from_utf8(field.value)
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok());
                let n = n.ok_or("its Content-Length is not a number")?;
                if length.is_some_and(|l| l != n) {
                    return Err("it has two Content-Lengths");
                }
                length = Some(n);
            }
            AnswerField::TransferEncoding => {
                coded = true;
                let last = field.value.rsplit(|b| *b == b',').next();
                chunked = last.is_some_and(|c| c.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            }
            AnswerField::Connection => {
                keep &= !names(field.value, b"close");
                listed.extend(listed_names(field.value));
            }
            _ => {}
        }
    }
    let framing = if head_only || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        Framing::Empty
    } else if coded && chunked {
        Framing::Chunked(ChunkedEnd::default())
    } else if coded {
        Framing::Close
    } else {
        length.map_or(Framing::Close, Framing::Length)
    };
    write::status_line(out, status);
    // Kept lines go out as they came, a run of neighbours in one copy (nginx's answers keep
    // all but their last line).
    let mut lines = Lines::new(bytes, out);
    for (field, kind) in resp.headers.iter().zip(kinds) {
        let name = field.name.as_bytes();
        match kind {
            AnswerField::Drop | AnswerField::Connection | AnswerField::TransferEncoding => continue,
            // Transfer-Encoding overrides Content-Length, which is dropped (RFC 9112 §6.3).
            AnswerField::ContentLength if coded => continue,
            AnswerField::RateLimit { reset } => route.metrics.observe_rate_limit_value(reset, field.value),
            AnswerField::ContentLength | AnswerField::Pass => {}
        }
        if !listed.is_empty() && listed.iter().any(|l: &&[u8]| l.eq_ignore_ascii_case(name)) {
            continue;
        }
        lines.keep(name, field.value);
    }
    lines.flush();
    Ok((status, framing, keep))
}

/// Copies kept field lines from the answer's bytes: neighbouring lines as one run. A line
/// that does not end in CRLF (httparse also takes a bare LF) is written anew instead.
struct Lines<'a> {
    bytes: &'a [u8],
    out: &'a mut Vec<u8>,
    /// The run of lines not yet copied, as a range of `bytes`.
    run: Option<(usize, usize)>,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8], out: &'a mut Vec<u8>) -> Self {
        Lines {
            bytes,
            out,
            run: None,
        }
    }

    fn keep(&mut self, name: &[u8], value: &[u8]) {
        let base = self.bytes.as_ptr() as usize;
        let start = name.as_ptr() as usize - base;
        let value_end = value.as_ptr() as usize - base + value.len();
        // The line ends after the blanks httparse trimmed off the value, at its LF.
        let lf = self.bytes[value_end..].iter().position(|b| *b == b'\n');
        match lf.map(|at| value_end + at + 1) {
            Some(end) if self.bytes[end - 2] == b'\r' => match &mut self.run {
                Some((_, run_end)) if *run_end == start => *run_end = end,
                _ => {
                    self.flush();
                    self.run = Some((start, end));
                }
            },
            _ => {
                self.flush();
                write::field(self.out, name, value);
            }
        }
    }

    fn flush(&mut self) {
        if let Some((start, end)) = self.run.take() {
            self.out.extend_from_slice(&self.bytes[start..end]);
        }
    }
}
