//! The idle HTTP/1.1 connections of one upstream. The most recently used goes out first: its
//! buffers are warm, and the least used age out. A connection goes back only once its
//! response body has been read to the end (`Reuse::done`); one dropped earlier closes.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hyper::client::conn::http1;
use tokio::time::Sleep;

use super::super::body::ProxyBody;
use super::timer::ConnTimer;

pub type H1 = http1::SendRequest<ProxyBody>;

/// A connection, and the timer that bounds its exchanges.
pub struct Pooled {
    pub sender: H1,
    timer: ConnTimer,
}

impl Pooled {
    pub fn new(sender: H1) -> Self {
        Pooled {
            sender,
            timer: ConnTimer::default(),
        }
    }

    /// The sender, and the connection's timer set to fire at `deadline`.
    pub fn arm(&mut self, deadline: Instant) -> (&mut H1, Pin<&mut Sleep>) {
        (&mut self.sender, self.timer.arm(deadline))
    }
}

/// A pooled connection of either engine: whether it may still be lent.
pub trait Reusable {
    /// Open, and nothing unasked-for waiting on it.
    fn usable(&mut self) -> bool;
}

impl Reusable for Pooled {
    fn usable(&mut self) -> bool {
        !self.sender.is_closed()
    }
}

struct Idle<T> {
    conn: T,
    since: Instant,
}

pub struct IdleList<T = Pooled> {
    list: Mutex<Vec<Idle<T>>>,
    /// Kept at most this long unused (the upstream may close it sooner: `is_closed`).
    timeout: Duration,
}

impl<T: Reusable> IdleList<T> {
    pub fn new(timeout: Duration) -> Self {
        IdleList {
            list: Mutex::new(Vec::new()),
            timeout,
        }
    }

    /// The most recently used connection still open and not aged out by `now`.
    pub fn take(&self, now: Instant) -> Option<T> {
        let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
        // Those aged out or closed are dropped on the way. (The list is only roughly in
        // order of `since`, which is when an exchange began, and exchanges end out of order.)
        while let Some(mut idle) = list.pop() {
            let fresh = now.saturating_duration_since(idle.since) <= self.timeout;
            if fresh && idle.conn.usable() {
                return Some(idle.conn);
            }
        }
        None
    }

    /// Back to the list, as last used at `since`.
    pub fn put(&self, mut conn: T, since: Instant) {
        if !conn.usable() {
            return;
        }
        let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
        // The oldest are at the front: drop those that aged out while here.
        let aged = list
            .iter()
            .take_while(|i| since.saturating_duration_since(i.since) > self.timeout)
            .count();
        list.drain(..aged);
        list.push(Idle { conn, since });
    }
}

/// An HTTP/1.1 connection lent to one exchange; back to its list when the answer has been
/// read whole.
pub struct Reuse {
    list: Arc<IdleList>,
    conn: Pooled,
    since: Instant,
}

impl Reuse {
    pub fn new(list: Arc<IdleList>, mut conn: Pooled, since: Instant) -> Self {
        conn.timer.quiet();
        Reuse { list, conn, since }
    }

    pub fn done(self) {
        self.list.put(self.conn, self.since);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_list_lends_nothing() {
        let list = IdleList::<Pooled>::new(Duration::from_secs(90));
        assert!(list.take(Instant::now()).is_none());
    }
}
