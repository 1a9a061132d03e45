//! Admission, the first phase: a request counts against `max_concurrent_requests` from its
//! arrival until its response body has ended (or the client went away), so streaming
//! answers count as long as they stream.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use prometheus::IntGauge;

use crate::Shared;

/// One request's place among those being served. Dropping it frees the place.
pub struct Admission {
    shared: Arc<Shared>,
    admitted: bool,
}

impl Admission {
    /// Takes a place; `admitted()` says whether one was free. A refused request still
    /// holds its count until its (error) answer is sent, which keeps the arithmetic simple.
    pub fn enter(shared: Arc<Shared>, max: usize) -> Self {
        let before = shared.active.fetch_add(1, Ordering::AcqRel);
        Admission {
            shared,
            admitted: before < max,
        }
    }

    pub fn admitted(&self) -> bool {
        self.admitted
    }

    pub fn shared(&self) -> &Shared {
        &self.shared
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.shared.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Holds a route's in-flight gauge up until the response body is done (or dropped).
pub struct InFlight(IntGauge);

impl InFlight {
    pub fn enter(gauge: &IntGauge) -> Self {
        gauge.inc();
        InFlight(gauge.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// What a response keeps alive until its body ends: the admission, and the route's
/// in-flight count once a route was chosen.
pub struct Held {
    pub admission: Admission,
    pub in_flight: Option<InFlight>,
}
