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

    /// The most recently used connection still open and not aged out.
    pub fn take(&self) -> Option<H1> {
        let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(idle) = list.pop() {
            if idle.since.elapsed() > self.timeout {
                // The newest aged out, so did every older one.
                list.clear();
                return None;
            }
            if !idle.sender.is_closed() {
                return Some(idle.sender);
            }
        }
        None
    }

    pub fn put(&self, sender: H1) {
        if sender.is_closed() {
            return;
        }
        let now = Instant::now();
        let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
        // The oldest are at the front: drop those that aged out while here.
        let aged = list
            .iter()
            .take_while(|i| now.duration_since(i.since) > self.timeout)
            .count();
        list.drain(..aged);
        list.push(Idle { sender, since: now });
    }
}

/// An HTTP/1.1 connection lent to one exchange; back to its list when the answer has been
/// read whole.
pub struct Reuse {
    list: Arc<IdleList>,
    sender: H1,
}

impl Reuse {
    pub fn new(list: Arc<IdleList>, sender: H1) -> Self {
        Reuse { list, sender }
    }

    pub fn done(self) {
        self.list.put(self.sender);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_list_lends_nothing() {
        let list = IdleList::new(Duration::from_secs(90));
        assert!(list.take().is_none());
    }
}
