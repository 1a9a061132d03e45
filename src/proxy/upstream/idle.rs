//! The idle HTTP/1.1 connections of one upstream. The most recently used goes out first: its
//! buffers are warm, and the least used age out. A connection goes back only once its
//! response body has been read to the end (`Reuse::done`); one dropped earlier closes.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hyper::client::conn::http1;

use super::super::body::ProxyBody;

pub type H1 = http1::SendRequest<ProxyBody>;

struct Idle {
    sender: H1,
    since: Instant,
}

pub struct IdleList {
    list: Mutex<Vec<Idle>>,
    /// Kept at most this long unused (the upstream may close it sooner: `is_closed`).
    timeout: Duration,
}

impl IdleList {
    pub fn new(timeout: Duration) -> Self {
        IdleList {
            list: Mutex::new(Vec::new()),
            timeout,
        }
    }

    /// The most recently used connection still open and not aged out by `now`.
    pub fn take(&self, now: Instant) -> Option<H1> {
        let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
        // Those aged out or closed are dropped on the way. (The list is only roughly in
        // order of `since`, which is when an exchange began, and exchanges end out of order.)
        while let Some(idle) = list.pop() {
            let fresh = now.saturating_duration_since(idle.since) <= self.timeout;
            if fresh && !idle.sender.is_closed() {
                return Some(idle.sender);
            }
        }
        None
    }

    /// Back to the list, as last used at `since`.
    pub fn put(&self, sender: H1, since: Instant) {
        if sender.is_closed() {
            return;
        }
        let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
        // The oldest are at the front: drop those that aged out while here.
        let aged = list
            .iter()
            .take_while(|i| since.saturating_duration_since(i.since) > self.timeout)
            .count();
        list.drain(..aged);
        list.push(Idle { sender, since });
    }
}

/// An HTTP/1.1 connection lent to one exchange; back to its list when the answer has been
/// read whole.
pub struct Reuse {
    list: Arc<IdleList>,
    sender: H1,
    since: Instant,
}

impl Reuse {
    pub fn new(list: Arc<IdleList>, sender: H1, since: Instant) -> Self {
        Reuse { list, sender, since }
    }

    pub fn done(self) {
        self.list.put(self.sender, self.since);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_list_lends_nothing() {
        let list = IdleList::new(Duration::from_secs(90));
        assert!(list.take(Instant::now()).is_none());
    }
}
