//! Token-endpoint failures, typed by what they mean for the caller: a transport error or a
//! server error is retried with backoff; a refusal of the grant means the user must log in.

use std::sync::Arc;

#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenError {
    #[error("the token endpoint could not be reached")]
    Transport(#[source] Arc<reqwest::Error>),
    #[error("the token endpoint did not answer in time")]
    Timeout,
    #[error("the token endpoint answered HTTP {status}")]
    Server { status: u16 },
    /// The platform refused the grant (HTTP 400/401, or an `invalid_grant` error).
    #[error("the platform refused the grant (HTTP {status}{})", error.as_deref().map(|e| format!(", {e}")).unwrap_or_default())]
    Rejected { status: u16, error: Option<String> },
    #[error("the token answer could not be read: {0}")]
    Malformed(&'static str),
    #[error("the token needs a new login")]
    NeedsLogin,
    #[error("the token store failed")]
    Store(#[source] Arc<super::store::StoreError>),
    #[error("the token's provider was replaced by a configuration reload")]
    Retired,
    #[error("the last attempt failed; the next is due after a backoff")]
    Backoff(#[source] Box<TokenError>),
}

impl TokenError {
    pub fn from_reqwest(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            TokenError::Timeout
        } else {
            // Glimesh and Firework take the client secret and codes in the query string: the
            // URL never rides along with the error into a log line.
            TokenError::Transport(Arc::new(e.without_url()))
        }
    }

    /// Whether the platform refused the grant itself, so retrying cannot help.
    pub fn is_rejection(&self) -> bool {
        match self {
            TokenError::Rejected { .. } | TokenError::NeedsLogin => true,
            TokenError::Backoff(inner) => inner.is_rejection(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn transport_errors_forget_the_url_and_its_query_secrets() {
        // Nothing listens on port 9 here: the call fails before any answer.
        let client = reqwest::Client::new();
        let e = client
            .post("http://127.0.0.1:9/oauth/token?client_secret=s3cr3t&code=c0de")
            .send()
            .await
            .expect_err("nothing listens");
        let e = TokenError::from_reqwest(e);
        let shown = format!("{e} {e:?} {:?}", std::error::Error::source(&e));
        assert!(!shown.contains("s3cr3t") && !shown.contains("c0de"), "{shown}");
    }
}
