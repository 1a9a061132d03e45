//! The answer's body on its way to the client, as it arrives from the upstream, framed as
//! the upstream framed it (RFC 9112 §6.3); a short one is gathered and sent with its head.

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::chunked::ChunkedEnd;
use super::write::{chunk, write_two};
use crate::proxy::upstream::RawConn;

/// What one read of an answer asks for.
pub const READ: usize = 16 * 1024;
/// A body of known length up to this is read whole before it is written.
const GATHER: usize = 64 * 1024;

/// How an answer's body ends.
pub enum Framing {
    Empty,
    Length(u64),
    Chunked(ChunkedEnd),
    /// At the end of the connection: passed on chunked, and the connection is not reused.
    Close,
}

impl Framing {
    /// Whether the client gets the body chunked (as it came, or because only the
    /// connection's end ends it).
    pub fn chunked(&self) -> bool {
        matches!(self, Framing::Chunked(_) | Framing::Close)
    }
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
pub async fn relay<C: AsyncWrite + Unpin>(
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
            // A body this short is gathered first and goes out with its head in one write
            // (nginx buffers the same way): a 16 KiB answer arrives in two or three reads,
            // which would otherwise be as many writes.
            let whole = usize::try_from(left).ok().filter(|n| *n <= GATHER);
            if let Some(n) = whole.filter(|n| buf.len() < *n) {
                buf.reserve(n - buf.len());
                while buf.len() < n {
                    if !matches!(conn.io.read_buf(buf).await, Ok(more) if more > 0) {
                        return broken;
                    }
                }
            }
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
