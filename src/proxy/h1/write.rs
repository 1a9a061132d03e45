//! Writing for the `h1` engine: request and answer heads into a reused buffer, answers the
//! proxy wrote itself, and a head with the first body bytes in one system call.

use std::io::{self, IoSlice};
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::policy::OriginVerdict;

/// The request line, with the rewritten `target` in pieces, and every field of `headers` but
/// `Authorization` (the client's, never forwarded; the token goes on with `authorization`,
/// last, so that a replay can replace it).
pub fn request_head(out: &mut Vec<u8>, method: &Method, target: [&str; 4], headers: &HeaderMap) {
    out.clear();
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    for piece in target {
        out.extend_from_slice(piece.as_bytes());
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        if name != header::AUTHORIZATION {
            field(out, name.as_str().as_bytes(), value.as_bytes());
        }
    }
}

/// Ends a request head with the token.
pub fn authorization(out: &mut Vec<u8>, value: &HeaderValue) {
    field(out, b"authorization", value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// An answer's head; `chunked` adds the framing the engine chose for its body.
pub fn answer_head(out: &mut Vec<u8>, status: StatusCode, headers: &HeaderMap, chunked: bool) {
    status_line(out, status);
    for (name, value) in headers {
        field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    end_head(out, chunked);
}

/// Starts an answer's head in `out`, emptied first.
pub fn status_line(out: &mut Vec<u8>, status: StatusCode) {
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The respond phase's part of the policy, as `policy::allow_origin` adds it on hyper's
/// path: a listed origin may read every answer.
pub fn allow_origin(out: &mut Vec<u8>, verdict: &OriginVerdict) {
    if let OriginVerdict::Listed(origin) = verdict {
        field(out, b"access-control-allow-origin", origin.as_bytes());
        field(out, b"vary", b"origin");
    }
}

/// Ends a head; `chunked` adds the framing the engine chose for the body.
pub fn end_head(out: &mut Vec<u8>, chunked: bool) {
    if chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

pub fn field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// An answer the proxy wrote (an error, a preflight): framed by its length, dated as hyper
/// dates what it serves, and without its body for a `HEAD`.
pub async fn local<W: AsyncWrite + Unpin>(
    client: &mut W,
    out: &mut Vec<u8>,
    mut resp: Response<Bytes>,
    head_only: bool,
) -> io::Result<()> {
    let len = resp.body().len();
    let status = resp.status();
    let h = resp.headers_mut();
    // A 204 or a 304 has no body, and no length to say (RFC 9110 §8.6).
    if status != StatusCode::NO_CONTENT && status != StatusCode::NOT_MODIFIED {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    if !h.contains_key(header::DATE) {
        let date = httpdate::fmt_http_date(SystemTime::now());
        if let Ok(date) = HeaderValue::from_str(&date) {
            h.insert(header::DATE, date);
        }
    }
    answer_head(out, resp.status(), resp.headers(), false);
    let body = if head_only { &[][..] } else { &resp.body()[..] };
    write_two(client, out, body).await
}

/// `a` then `b`, in as few writes as the socket takes.
pub async fn write_two<W: AsyncWrite + Unpin>(w: &mut W, mut a: &[u8], mut b: &[u8]) -> io::Result<()> {
    while !a.is_empty() && !b.is_empty() {
        let n = w.write_vectored(&[IoSlice::new(a), IoSlice::new(b)]).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        if n < a.len() {
            a = &a[n..];
        } else {
            b = &b[n - a.len()..];
            a = &[];
        }
    }
    w.write_all(a).await?;
    w.write_all(b).await
}

/// One chunk of a body the engine frames as chunked (an answer read to the end of its
/// connection).
pub async fn chunk<W: AsyncWrite + Unpin>(w: &mut W, data: &[u8]) -> io::Result<()> {
    let size = format!("{:x}\r\n", data.len());
    write_two(w, size.as_bytes(), data).await?;
    w.write_all(b"\r\n").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_goes_last_and_the_clients_never() {
        let mut req = http::Request::get("/x?y=1")
            .header("host", "up")
            .header("authorization", "Bearer client")
            .body(())
            .expect("request");
        req.headers_mut()
            .append("accept", HeaderValue::from_static("*/*"));
        let (parts, ()) = req.into_parts();
        let mut out = Vec::new();
        request_head(&mut out, &parts.method, ["/x", "", "?", "y=1"], &parts.headers);
        authorization(&mut out, &HeaderValue::from_static("Bearer ours"));
        let text = String::from_utf8(out).expect("text");
        assert_eq!(
            text,
            "GET /x?y=1 HTTP/1.1\r\nhost: up\r\naccept: */*\r\nauthorization: Bearer ours\r\n\r\n"
        );
    }

    #[tokio::test]
    async fn a_local_answer_has_its_length_and_a_date() {
        let resp = Response::builder()
            .status(503)
            .body(Bytes::from_static(b"{}"))
            .expect("resp");
        let (mut out, mut sent) = (Vec::new(), Vec::new());
        local(&mut sent, &mut out, resp, false).await.expect("write");
        let text = String::from_utf8(sent).expect("text");
        assert!(text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{text}");
        assert!(
            text.contains("content-length: 2\r\n") && text.contains("date: "),
            "{text}"
        );
        assert!(text.ends_with("\r\n\r\n{}"), "{text}");
        // A preflight's 204 says no length.
        let resp = Response::builder().status(204).body(Bytes::new()).expect("resp");
        let (mut out, mut sent) = (Vec::new(), Vec::new());
        local(&mut sent, &mut out, resp, false).await.expect("write");
        let text = String::from_utf8(sent).expect("text");
        assert!(text.starts_with("HTTP/1.1 204 No Content\r\n"), "{text}");
        assert!(!text.contains("content-length"), "{text}");
    }
}
