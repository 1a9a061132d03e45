//! Token-endpoint failures, typed by what they mean for the caller: a transport error or a
//! server error is retried with backoff; a refusal of the grant means the user must log in.
//!
//! The `Display` of a `TokenError` is the whole explanation an operator gets, the same in
//! the log line, the 503 body and `/admin/tokens`: the endpoint's host, the HTTP status or
//! the transport failure with its cause chain, and what the platform said (scrubbed).

use std::sync::Arc;

use url::Url;

use super::said::PlatformSaid;

/// How one call to a platform endpoint failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallFailure {
    /// The whole cause chain (DNS, connect, TLS...), without the URL: Glimesh and Firework
    /// carry the client secret and codes in the query string. `sent`: whether the request
    /// may have reached the platform (false when no connection was made).
    #[error("could not be reached: {reason}")]
    Transport { reason: String, sent: bool },
    #[error("did not answer in time (server.connect_timeout, server.request_timeout)")]
    Timeout { sent: bool },
    #[error("answered HTTP {status}{said}")]
    Server { status: u16, said: PlatformSaid },
    /// The platform refused the grant (HTTP 400/401, or an `invalid_grant` error).
    #[error("refused the grant (HTTP {status}){said}")]
    Rejected { status: u16, said: PlatformSaid },
    #[error("answered with something that is not a usable token: {0}")]
    Malformed(&'static str),
}

impl CallFailure {
    pub fn from_reqwest(e: reqwest::Error) -> Self {
        // A failure to connect (refused, no route, DNS, TLS handshake, connect timeout)
        // sent nothing.
        let sent = !e.is_connect();
        if e.is_timeout() {
            CallFailure::Timeout { sent }
        } else {
            let reason = chain(&e.without_url());
            CallFailure::Transport { reason, sent }
        }
    }

    /// Whether the platform cannot have taken what was sent (a refresh token, say): it
    /// answered 5xx, or no connection was made. After a timeout, a reset or an answer that
    /// does not parse, it may have.
    pub fn nothing_taken(&self) -> bool {
        match self {
            CallFailure::Server { .. } => true,
            CallFailure::Transport { sent, .. } | CallFailure::Timeout { sent } => !sent,
            CallFailure::Rejected { .. } | CallFailure::Malformed(_) => false,
        }
    }

    /// Whether the platform refused the grant itself, so retrying cannot help.
    pub fn is_rejection(&self) -> bool {
        matches!(self, CallFailure::Rejected { .. })
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenError {
    /// A call to the platform at `host` (`host:port` when the URL names a port) failed.
    #[error("{host} {failure}")]
    Call { host: String, failure: CallFailure },
    #[error("the platform refused this grant; the user must log in again")]
    NeedsLogin,
    #[error("the platform gave no refresh token with this grant; the user must log in again")]
    NoRefreshToken,
    /// A refusal recorded before the last restart, as it was shown then.
    #[error("{0}")]
    RefusedEarlier(String),
    #[error("no one has logged this user in")]
    NotConnected,
    #[error("{0}")]
    Store(Arc<crate::store::StoreError>),
    #[error("the token's provider was replaced by a configuration reload")]
    Retired,
    /// The last attempt failed and the next is not due yet: its failure, as it was.
    #[error(transparent)]
    Backoff(Box<TokenError>),
}

impl TokenError {
    /// A failed call to `url`.
    pub fn call(url: &Url, failure: CallFailure) -> Self {
        TokenError::Call {
            host: host(url),
            failure,
        }
    }

    /// Whether the platform refused the grant itself, so retrying cannot help.
    pub fn is_rejection(&self) -> bool {
        match self {
            TokenError::Call { failure, .. } => failure.is_rejection(),
            TokenError::NeedsLogin | TokenError::NoRefreshToken | TokenError::RefusedEarlier(_) => true,
            TokenError::Backoff(inner) => inner.is_rejection(),
            _ => false,
        }
    }
}

/// `host` or `host:port`: never the user-info, path or query of the URL.
pub fn host(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => "the endpoint".to_string(),
    }
}

/// An error and each of its causes, `: `-separated; a cause whose text its parent already
/// shows is not repeated.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn transport_errors_forget_the_url_and_its_query_secrets() {
        // Nothing listens on port 9 here: the call fails before any answer.
        let client = reqwest::Client::new();
        let url = Url::parse("http://127.0.0.1:9/oauth/token?client_secret=s3cr3t&code=c0de").unwrap();
        let e = client
            .post(url.clone())
            .send()
            .await
            .expect_err("nothing listens");
        let e = TokenError::call(&url, CallFailure::from_reqwest(e));
        let shown = format!("{e} {e:?} {:?}", std::error::Error::source(&e));
        assert!(!shown.contains("s3cr3t") && !shown.contains("c0de"), "{shown}");
        assert!(
            e.to_string().starts_with("127.0.0.1:9 could not be reached: "),
            "{e}"
        );
        assert!(
            e.to_string().to_lowercase().contains("refused"),
            "the cause chain: {e}"
        );
    }

    #[tokio::test]
    async fn only_a_call_that_never_connected_or_got_a_5xx_took_nothing() {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_millis(300))
            .build()
            .unwrap();
        let closed = {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap()
        };
        let refused = client.post(format!("http://{closed}/token")).send().await;
        let refused = CallFailure::from_reqwest(refused.expect_err("nothing listens"));
        assert!(
            matches!(refused, CallFailure::Transport { sent: false, .. }),
            "{refused:?}"
        );
        assert!(refused.nothing_taken());
        // A platform that reads the request and then closes, or never answers: the refresh
        // token may have been taken.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut buf = [0u8; 1024];
            let (mut closes, _) = listener.accept().await.unwrap();
            let _ = closes.read(&mut buf).await;
            drop(closes);
            let (mut silent, _) = listener.accept().await.unwrap();
            let _ = silent.read(&mut buf).await;
            // Held open past the client's timeout.
            let _ = silent.read(&mut buf).await;
        });
        for expect_timeout in [false, true] {
            let e = client.post(format!("http://{addr}/token")).body("x").send().await;
            let f = CallFailure::from_reqwest(e.expect_err("no answer"));
            assert_eq!(
                matches!(f, CallFailure::Timeout { sent: true }),
                expect_timeout,
                "{f:?}"
            );
            assert!(!f.nothing_taken(), "{f:?}");
        }
        server.abort();
        let said = PlatformSaid::read(b"{}", &[]);
        assert!(CallFailure::Server {
            status: 503,
            said: said.clone()
        }
        .nothing_taken());
        assert!(!CallFailure::Rejected { status: 400, said }.nothing_taken());
        assert!(!CallFailure::Malformed("not a JSON object").nothing_taken());
    }

    #[test]
    fn the_host_never_carries_credentials_or_the_path() {
        let url = Url::parse("https://user:pw@id.example.tv/oauth2/token?x=1").unwrap();
        assert_eq!(host(&url), "id.example.tv");
        let url = Url::parse("http://[::1]:8080/t").unwrap();
        assert_eq!(host(&url), "[::1]:8080");
    }

    #[test]
    fn refusals_and_backoffs_read_as_their_failure() {
        let said = PlatformSaid::read(br#"{"error":"invalid_grant","error_description":"revoked"}"#, &[]);
        let e = TokenError::Call {
            host: "id.example.tv".into(),
            failure: CallFailure::Rejected { status: 400, said },
        };
        assert_eq!(
            e.to_string(),
            "id.example.tv refused the grant (HTTP 400): invalid_grant: revoked"
        );
        let backoff = TokenError::Backoff(Box::new(e.clone()));
        assert_eq!(backoff.to_string(), e.to_string());
        assert!(backoff.is_rejection());
    }
}
