//! One watchdog per listener closes the connections that overstay: keep-alive connections
//! idle for `idle_timeout` (no byte either way: each costs a descriptor, and a page or a
//! leaky client holding hundreds would starve the listener), and clients whose request head
//! has not arrived `header_read_timeout` after its first byte (or after connecting). It
//! looks at every connection's tally `LOOKS` times per period, so requests pay no timer of
//! their own; a verdict lands between one and 1 + 1/LOOKS periods late.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use super::tally::Tally;

const LOOKS: u32 = 4;

enum Verdict {
    Keep,
    /// No byte either way for `idle_timeout`: close once what is under way is done.
    Idle,
    /// A head started (or a connection opened) `header_read_timeout` ago and is not
    /// complete: nothing is under way, close now.
    SlowHead,
}

struct Watched {
    tally: Weak<Tally>,
    moves: u64,
    quiet: u32,
    begun: u64,
    waiting: u32,
}

pub struct Watchdog {
    conns: Mutex<Vec<Watched>>,
    tick: Duration,
    idle_looks: u32,
    head_looks: u32,
}

/// How many looks of `tick` make `period`, at least one.
fn looks(period: Duration, tick: Duration) -> u32 {
    let n = period.as_nanos().div_ceil(tick.as_nanos().max(1));
    u32::try_from(n).unwrap_or(u32::MAX).max(1)
}

impl Watchdog {
    pub fn new(idle: Duration, head: Duration) -> Self {
        let tick = (idle.min(head) / LOOKS).max(Duration::from_millis(1));
        Watchdog {
            conns: Mutex::new(Vec::new()),
            tick,
            idle_looks: looks(idle, tick),
            head_looks: looks(head, tick),
        }
    }

    pub fn watch(&self, tally: &Arc<Tally>) {
        let watched = Watched {
            tally: Arc::downgrade(tally),
            moves: 0,
            quiet: 0,
            begun: 0,
            waiting: 0,
        };
        self.lock().push(watched);
    }

    /// Looks every `tick` until dropped (the listener's loop aborts it).
    pub async fn run(self: Arc<Self>) {
        let mut every = tokio::time::interval(self.tick);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            self.look();
        }
    }

    /// One look at every connection; those gone are forgotten.
    pub fn look(&self) {
        self.lock().retain_mut(|w| {
            let Some(tally) = w.tally.upgrade() else {
                return false;
            };
            match self.verdict(w, &tally) {
                Verdict::Keep => {}
                Verdict::Idle => tally.close(),
                Verdict::SlowHead => tally.abort(),
            }
            true
        });
    }

    fn verdict(&self, w: &mut Watched, tally: &Tally) -> Verdict {
        if tally.abort.load(Ordering::Acquire) {
            return Verdict::Keep;
        }
        let moves = tally.moves.load(Ordering::Relaxed);
        if moves == w.moves {
            w.quiet += 1;
        } else {
            (w.moves, w.quiet) = (moves, 0);
        }
        let begun = tally.begun.load(Ordering::Relaxed);
        if begun != w.begun {
            (w.begun, w.waiting) = (begun, 0);
        }
        let open = tally.open.load(Ordering::Relaxed);
        let reads = tally.reads.load(Ordering::Relaxed);
        let head_pending = open == 0
            && !tally.h2.load(Ordering::Relaxed)
            && (begun == 0 || reads > tally.rest_reads.load(Ordering::Relaxed));
        w.waiting = if head_pending { w.waiting + 1 } else { 0 };
        if w.waiting >= self.head_looks {
            Verdict::SlowHead
        } else if w.quiet >= self.idle_looks && !tally.close.load(Ordering::Acquire) {
            Verdict::Idle
        } else {
            Verdict::Keep
        }
    }

    /// Shutting down: every connection finishes what it has under way, then closes.
    pub fn close_all(&self) {
        for w in self.lock().iter() {
            if let Some(tally) = w.tally.upgrade() {
                tally.close();
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Watched>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::tally::Exchange;

    fn dog() -> Watchdog {
        Watchdog::new(Duration::from_secs(8), Duration::from_secs(4))
    }

    #[test]
    fn a_connection_that_sends_nothing_is_closed_after_the_head_timeout() {
        let (dog, tally) = (dog(), Arc::new(Tally::default()));
        dog.watch(&tally);
        for _ in 0..3 {
            dog.look();
            assert!(!tally.abort.load(Ordering::Relaxed));
        }
        dog.look();
        assert!(
            tally.abort.load(Ordering::Relaxed),
            "4 looks of 1 s make the 4 s head timeout"
        );
    }

    #[test]
    fn an_exchange_under_way_is_not_a_slow_head_and_moving_bytes_are_not_idle() {
        let (dog, tally) = (dog(), Arc::new(Tally::default()));
        dog.watch(&tally);
        let exchange = Exchange::begin(&tally);
        for _ in 0..20 {
            tally.moves.fetch_add(1, Ordering::Relaxed);
            tally.reads.fetch_add(1, Ordering::Relaxed);
            dog.look();
        }
        assert!(!tally.close.load(Ordering::Relaxed));
        drop(exchange);
        // Kept alive after the answer, quiet: idle after 8 looks, not a slow head.
        for _ in 0..7 {
            dog.look();
            assert!(!tally.close.load(Ordering::Relaxed));
        }
        dog.look();
        assert!(tally.close.load(Ordering::Relaxed));
    }

    #[test]
    fn bytes_of_a_next_head_that_never_completes_are_a_slow_head() {
        let (dog, tally) = (dog(), Arc::new(Tally::default()));
        dog.watch(&tally);
        drop(Exchange::begin(&tally));
        for look in 0..4 {
            // A byte now and then keeps it from being idle.
            tally.moves.fetch_add(1, Ordering::Relaxed);
            tally.reads.fetch_add(1, Ordering::Relaxed);
            assert!(!tally.abort.load(Ordering::Relaxed), "look {look}");
            dog.look();
        }
        assert!(tally.abort.load(Ordering::Relaxed));
    }

    #[test]
    fn connections_gone_are_forgotten() {
        let dog = dog();
        dog.watch(&Arc::new(Tally::default()));
        dog.look();
        assert!(dog.lock().is_empty());
    }
}
