//! Accepting under descriptor exhaustion. When the process or the system is out of file
//! descriptors, `accept` fails at once, again and again: the loop must back off (not spin
//! and not flood the log), and come back by itself when descriptors are freed.

use std::io;
use std::time::{Duration, Instant};

/// Linux and macOS errno values (std has no `ErrorKind` for them).
const ENFILE: i32 = 23;
const EMFILE: i32 = 24;
const ENOBUFS: i32 = 105;
const ENOMEM: i32 = 12;

const FIRST_PAUSE: Duration = Duration::from_millis(5);
const MAX_PAUSE: Duration = Duration::from_secs(1);
/// At most one log line per this interval while accepts keep failing.
const LOG_EVERY: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct Backoff {
    pause: Option<Duration>,
    failures: u64,
    logged: Option<Instant>,
}

impl Backoff {
    /// A connection was accepted: the next failure starts from the first pause again.
    pub fn reset(&mut self) {
        self.pause = None;
    }

    /// What to wait before the next accept after `e`, logging at most once per interval.
    pub fn failed(&mut self, e: &io::Error, listener: &str) -> Duration {
        self.failures += 1;
        let exhausted = matches!(e.raw_os_error(), Some(ENFILE | EMFILE | ENOBUFS | ENOMEM));
        if self.logged.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
            let failures = std::mem::take(&mut self.failures);
            if exhausted {
                tracing::warn!(listener, error = %e, failures, "accept failed: out of file descriptors or memory; backing off");
            } else {
                tracing::warn!(listener, error = %e, failures, "accept failed");
            }
            self.logged = Some(Instant::now());
        }
        if !exhausted {
            // A connection reset before it was accepted and the like: nothing to wait for.
            return Duration::ZERO;
        }
        let pause = self.pause.map_or(FIRST_PAUSE, |p| (p * 2).min(MAX_PAUSE));
        self.pause = Some(pause);
        pause
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exhaustion_backs_off_exponentially_up_to_a_cap() {
        let mut b = Backoff::default();
        let emfile = io::Error::from_raw_os_error(EMFILE);
        let pauses: Vec<_> = (0..12).map(|_| b.failed(&emfile, "test")).collect();
        assert_eq!(pauses[0], FIRST_PAUSE);
        assert!(pauses.windows(2).all(|w| w[1] >= w[0]));
        assert_eq!(*pauses.last().unwrap(), MAX_PAUSE);
        b.reset();
        assert_eq!(b.failed(&emfile, "test"), FIRST_PAUSE);
    }

    #[test]
    fn other_failures_do_not_wait() {
        let mut b = Backoff::default();
        let reset = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert_eq!(b.failed(&reset, "test"), Duration::ZERO);
    }
}
