//! Where a chunked body ends (RFC 9112 §7.1), found while its bytes pass to the client
//! unchanged: the engine forwards chunked answers as they are, and only needs to know when
//! the connection is free again.

/// A line longer than this (a chunk's size and extensions, or a trailer field) is refused.
const MAX_LINE: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

#[derive(Debug, Default)]
pub struct ChunkedEnd {
    state: State,
    /// The start of a line that a read cut.
    line: Vec<u8>,
}

#[derive(Debug, Default, Clone, Copy)]
enum State {
    #[default]
    Size,
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    Trailer,
}

impl ChunkedEnd {
    /// Looks at the body's next bytes: `Some(n)` when it ends after the first `n` of them.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Option<usize>, Malformed> {
        let mut at = 0;
        while at < bytes.len() {
            if let State::Data(left) = self.state {
                let take = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len() - at);
                at += take;
                let left = left - take as u64;
                self.state = if left == 0 {
                    State::DataEnd
                } else {
                    State::Data(left)
                };
                continue;
            }
            let Some(nl) = bytes[at..].iter().position(|b| *b == b'\n') else {
                self.line.extend_from_slice(&bytes[at..]);
                if self.line.len() > MAX_LINE {
                    return Err(Malformed);
                }
                return Ok(None);
            };
            let end = at + nl + 1;
            let ended = if self.line.is_empty() {
                self.line_done(&bytes[at..end])?
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(&bytes[at..end]);
                self.line_done(&line)?
            };
            at = end;
            if ended {
                return Ok(Some(at));
            }
        }
        Ok(None)
    }

    /// One whole line, its `\n` included; `true` when it ended the body.
    fn line_done(&mut self, line: &[u8]) -> Result<bool, Malformed> {
        if line.len() > MAX_LINE {
            return Err(Malformed);
        }
        let empty = matches!(line, b"\r\n" | b"\n");
        match self.state {
            State::Size => match httparse::parse_chunk_size(line) {
                Ok(httparse::Status::Complete((_, 0))) => self.state = State::Trailer,
                Ok(httparse::Status::Complete((_, size))) => self.state = State::Data(size),
                _ => return Err(Malformed),
            },
            State::DataEnd if empty => self.state = State::Size,
            State::DataEnd => return Err(Malformed),
            State::Trailer => return Ok(empty),
            State::Data(_) => unreachable!("data is counted, not read as lines"),
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n";

    #[test]
    fn the_end_is_found_in_one_piece() {
        let mut more = BODY.to_vec();
        more.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        assert_eq!(ChunkedEnd::default().feed(&more), Ok(Some(BODY.len())));
    }

    #[test]
    fn the_end_is_found_whatever_the_reads_cut() {
        for cut in 1..BODY.len() {
            let mut scan = ChunkedEnd::default();
            assert_eq!(scan.feed(&BODY[..cut]), Ok(None), "cut at {cut}");
            assert_eq!(
                scan.feed(&BODY[cut..]),
                Ok(Some(BODY.len() - cut)),
                "cut at {cut}"
            );
        }
        let mut scan = ChunkedEnd::default();
        let ends: Vec<_> = BODY.iter().map(|b| scan.feed(&[*b])).collect();
        assert_eq!(ends.last(), Some(&Ok(Some(1))));
        assert!(ends[..ends.len() - 1].iter().all(|e| *e == Ok(None)));
    }

    #[test]
    fn what_is_not_chunked_is_refused() {
        assert_eq!(ChunkedEnd::default().feed(b"zz\r\n"), Err(Malformed));
        assert_eq!(ChunkedEnd::default().feed(b"2\r\nabXY\r\n"), Err(Malformed));
        assert_eq!(ChunkedEnd::default().feed(&[b'1'; MAX_LINE + 2]), Err(Malformed));
    }
}
