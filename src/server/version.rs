//! HTTP/1.1, or HTTP/2 by prior knowledge: told from a peek at the first bytes a client
//! sends, so that hyper's reader then gets the stream untouched.
//!
//! hyper-util's auto server reads those bytes itself and hands them back through a
//! `Rewind`: hyper's first read then returns only them, its read buffer is too short for the
//! next read, and it grows to 16 KiB on every connection (8 KiB more per connection, 8 MiB
//! per 1,000; heaptrack). Every later read also goes through that extra layer.

use std::time::Duration;

use tokio::net::TcpStream;

/// The HTTP/2 client connection preface (RFC 9113, section 3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// While what arrived is only the start of the preface, how long until the next peek: a
/// peek returns at once while bytes wait, so waiting for more needs a timer. HTTP/2 clients
/// send the preface in one write, so only a client that sends an HTTP/1 method starting
/// with "P" a few bytes at a time gets here (the watchdog bounds it like any slow head).
const MORE: Duration = Duration::from_millis(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http1,
    Http2,
}

/// Which protocol the client speaks, from the bytes it has sent so far; `None` while they
/// are the start of the preface.
fn classify(first: &[u8]) -> Option<Version> {
    if first.len() >= PREFACE.len() {
        Some(if first.starts_with(PREFACE) {
            Version::Http2
        } else {
            Version::Http1
        })
    } else if !first.is_empty() && PREFACE.starts_with(first) {
        None
    } else {
        // Anything else, an end of stream included: hyper's HTTP/1 reader sees it next.
        Some(Version::Http1)
    }
}

/// Waits for the client's first bytes and tells its protocol. A failed peek is left to
/// hyper's first read, which fails the same way.
pub async fn sniff(stream: &TcpStream) -> Version {
    let mut first = [0u8; PREFACE.len()];
    loop {
        let Ok(n) = stream.peek(&mut first).await else {
            return Version::Http1;
        };
        match classify(&first[..n]) {
            Some(version) => return version,
            None => tokio::time::sleep(MORE).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preface_is_http2_and_anything_else_http1() {
        assert_eq!(classify(PREFACE), Some(Version::Http2));
        let mut more = PREFACE.to_vec();
        more.extend_from_slice(b"\x00\x00\x12\x04");
        assert_eq!(classify(&more), Some(Version::Http2));
        for first in [
            &b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"[..],
            b"POST /x HTTP/1.1\r\n",
            b"PUT",
            b"PRI * HTTP/1.1\r\nHost: x\r\n\r\n",
            b"",
        ] {
            assert_eq!(classify(first), Some(Version::Http1), "{first:?}");
        }
    }

    #[test]
    fn the_start_of_the_preface_waits_for_more() {
        for n in 1..PREFACE.len() {
            assert_eq!(classify(&PREFACE[..n]), None, "{n} bytes");
        }
    }

    #[tokio::test]
    async fn a_preface_sent_in_pieces_is_told_once_whole() {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let mut client = TcpStream::connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        client.write_all(&PREFACE[..3]).await.expect("write");
        let mut told = tokio::spawn(async move { sniff(&server).await });
        // Only the start of the preface: not told yet (a wait that must run out).
        let early = tokio::time::timeout(Duration::from_millis(50), &mut told).await;
        assert!(early.is_err(), "told from 3 bytes: {early:?}");
        client.write_all(&PREFACE[3..]).await.expect("write");
        let told = tokio::time::timeout(Duration::from_secs(10), told).await;
        assert_eq!(told.expect("told in time").expect("sniff"), Version::Http2);
    }
}
