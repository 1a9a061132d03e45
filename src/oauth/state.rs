//! A token slot's state as the surfaces name it, and the record of its last failure.

use std::time::{Duration, Instant, SystemTime};

use super::error::TokenError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Valid,
    Refreshing,
    NeedsLogin,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Valid => "valid",
            Status::Refreshing => "refreshing",
            Status::NeedsLogin => "needs_login",
            Status::Error => "error",
        }
    }

    pub(super) fn from_u8(v: u8) -> Status {
        match v {
            0 => Status::Valid,
            1 => Status::Refreshing,
            2 => Status::NeedsLogin,
            _ => Status::Error,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    App,
    User,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::App => "app",
            TokenKind::User => "user",
        }
    }
}

/// The outcome of the last failed attempt, and when the next is due.
#[derive(Debug, Clone)]
pub struct Failure {
    pub error: TokenError,
    /// `None` when nothing is retried on its own: a refused grant waits for a new login.
    pub retry: Option<Retry>,
}

/// When the next attempt is due, on both clocks: the monotonic one to wait on, the wall
/// clock to show.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub at: Instant,
    pub wall: SystemTime,
}

impl Failure {
    /// `error`, retried after `wait` from now (`None`: not retried).
    pub fn new(error: TokenError, wait: Option<Duration>) -> Failure {
        let retry = wait.map(|w| Retry {
            at: Instant::now() + w,
            wall: SystemTime::now() + w,
        });
        Failure { error, retry }
    }

    /// RFC 3339, to the second.
    pub fn retry_at(&self) -> Option<String> {
        self.retry
            .map(|r| humantime::format_rfc3339_seconds(r.wall).to_string())
    }
}
