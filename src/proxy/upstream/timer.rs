//! The timer that bounds a pooled connection's exchanges, for both engines' pools. It goes
//! with the connection from one exchange to the next: moving a registered timer's deadline
//! later is one atomic write, where a timer per exchange is registered and removed under the
//! timer driver's lock.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Waker};
use std::time::Instant;

use tokio::time::Sleep;

#[derive(Default)]
pub struct ConnTimer(Option<Pin<Box<Sleep>>>);

impl ConnTimer {
    /// The timer, set to fire at `deadline` (made on the connection's first exchange).
    pub fn arm(&mut self, deadline: Instant) -> Pin<&mut Sleep> {
        let timer = match &mut self.0 {
            Some(timer) => {
                timer.as_mut().reset(deadline.into());
                timer
            }
            none => none.insert(Box::pin(tokio::time::sleep_until(deadline.into()))),
        };
        timer.as_mut()
    }

    /// The exchange got its answer: the timer forgets the waiting task, which it would
    /// otherwise keep alive (and wake) while the connection idles.
    pub fn quiet(&mut self) {
        if let Some(timer) = &mut self.0 {
            let _ = timer.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        }
    }
}
