//! A route's metric handles. Everything the request path counts is resolved once: the
//! fixed series when the snapshot is built, the `requests_total` series of each method and
//! status on first use into a table of `OnceLock`s. After that a count is an atomic add, with
//! no label hashing and no lock in the prometheus crate. When a route disappears in a reload,
//! its series go with it.

use std::sync::OnceLock;

use http::{HeaderName, Method, StatusCode};
use prometheus::{Histogram, IntCounter, IntCounterVec, IntGauge, IntGaugeVec};

use crate::metrics::Metrics;

/// The `method` label's values; anything else counts as `OTHER`.
const METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE", "OTHER",
];
/// Status codes 100..=599.
const STATUSES: usize = 500;

/// `token_sidecar_requests_total` for one `route` label, by method and status.
pub struct RequestCounts {
    route: String,
    vec: IntCounterVec,
    cells: Box<[OnceLock<IntCounter>]>,
}

impl RequestCounts {
    pub fn new(route: &str, metrics: &Metrics) -> Self {
        RequestCounts {
            route: route.to_string(),
            vec: metrics.requests.clone(),
            cells: (0..METHODS.len() * STATUSES).map(|_| OnceLock::new()).collect(),
        }
    }

    pub fn inc(&self, method: &Method, status: StatusCode) {
        let m = method_index(method);
        let s = usize::from(status.as_u16()).saturating_sub(100).min(STATUSES - 1);
        self.cells[m * STATUSES + s]
            .get_or_init(|| {
                self.vec
                    .with_label_values(&[&self.route, METHODS[m], status.as_str()])
            })
            .inc();
    }

    /// Removes every series this route created.
    fn remove(&self) {
        for (i, cell) in self.cells.iter().enumerate() {
            if cell.get().is_some() {
                let status = (i % STATUSES + 100).to_string();
                let _ = self
                    .vec
                    .remove_label_values(&[&self.route, METHODS[i / STATUSES], &status]);
            }
        }
    }
}

fn method_index(m: &Method) -> usize {
    match *m {
        Method::GET => 0,
        Method::POST => 1,
        Method::PUT => 2,
        Method::PATCH => 3,
        Method::DELETE => 4,
        Method::HEAD => 5,
        Method::OPTIONS => 6,
        Method::CONNECT => 7,
        Method::TRACE => 8,
        _ => 9,
    }
}

/// A gauge resolved on first use, so routes whose upstream never sends the header export no
/// misleading zeros.
struct LazyGauge {
    vec: IntGaugeVec,
    cell: OnceLock<IntGauge>,
}

impl LazyGauge {
    fn set(&self, route: &str, value: i64) {
        self.cell
            .get_or_init(|| self.vec.with_label_values(&[route]))
            .set(value);
    }
}

/// Twitch-style rate-limit answer fields, published per route.
pub const RATE_LIMIT_NAMES: [HeaderName; 2] = [
    HeaderName::from_static("ratelimit-remaining"),
    HeaderName::from_static("ratelimit-reset"),
];

/// Reasons of `token_sidecar_upstream_errors_total`.
const UPSTREAM_REASONS: [&str; 3] = ["connect", "reset", "timeout"];

pub struct RouteMetrics {
    route: String,
    pub requests: RequestCounts,
    pub duration: Histogram,
    pub in_flight: IntGauge,
    pub unauthorized_retries: IntCounter,
    upstream_errors: [IntCounter; 3],
    ratelimit_remaining: LazyGauge,
    ratelimit_reset: LazyGauge,
    vecs: Vecs,
}

/// What `remove` needs to take the fixed series out again.
struct Vecs {
    duration: prometheus::HistogramVec,
    in_flight: IntGaugeVec,
    unauthorized_retries: IntCounterVec,
    upstream_errors: IntCounterVec,
}

impl RouteMetrics {
    pub fn new(route: &str, m: &Metrics) -> Self {
        let label = [route];
        RouteMetrics {
            route: route.to_string(),
            requests: RequestCounts::new(route, m),
            duration: m.request_duration.with_label_values(&label),
            in_flight: m.in_flight.with_label_values(&label),
            unauthorized_retries: m.unauthorized_retries.with_label_values(&label),
            // Series start at zero so that rates and alerts see them before the first event.
            upstream_errors: UPSTREAM_REASONS.map(|r| m.upstream_errors.with_label_values(&[route, r])),
            ratelimit_remaining: LazyGauge {
                vec: m.ratelimit_remaining.clone(),
                cell: OnceLock::new(),
            },
            ratelimit_reset: LazyGauge {
                vec: m.ratelimit_reset.clone(),
                cell: OnceLock::new(),
            },
            vecs: Vecs {
                duration: m.request_duration.clone(),
                in_flight: m.in_flight.clone(),
                unauthorized_retries: m.unauthorized_retries.clone(),
                upstream_errors: m.upstream_errors.clone(),
            },
        }
    }

    pub fn upstream_error(&self, reason: &str) {
        if let Some(i) = UPSTREAM_REASONS.iter().position(|r| *r == reason) {
            self.upstream_errors[i].inc();
        }
    }

    /// Publishes Twitch-style `Ratelimit-Remaining` / `Ratelimit-Reset` answer headers.
    /// One `Ratelimit-Reset` (`reset`) or `Ratelimit-Remaining` value, as the `h1` engine
    /// reads it off the wire.
    pub fn observe_rate_limit_value(&self, reset: bool, value: &[u8]) {
        let Some(n) = std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
        else {
            return;
        };
        let gauge = if reset {
            &self.ratelimit_reset
        } else {
            &self.ratelimit_remaining
        };
        gauge.set(&self.route, n);
    }

    pub fn observe_rate_limit(&self, headers: &http::HeaderMap) {
        let [remaining, reset] = &RATE_LIMIT_NAMES;
        let number = |name: &HeaderName| headers.get(name)?.to_str().ok()?.trim().parse::<i64>().ok();
        if let Some(n) = number(remaining) {
            self.ratelimit_remaining.set(&self.route, n);
        }
        if let Some(n) = number(reset) {
            self.ratelimit_reset.set(&self.route, n);
        }
    }

    /// Takes every series of this route out of the registry: the route is gone.
    pub fn remove(&self) {
        let label = [self.route.as_str()];
        self.requests.remove();
        let _ = self.vecs.duration.remove_label_values(&label);
        let _ = self.vecs.in_flight.remove_label_values(&label);
        let _ = self.vecs.unauthorized_retries.remove_label_values(&label);
        for reason in UPSTREAM_REASONS {
            let _ = self
                .vecs
                .upstream_errors
                .remove_label_values(&[&self.route, reason]);
        }
        let _ = self.ratelimit_remaining.vec.remove_label_values(&label);
        let _ = self.ratelimit_reset.vec.remove_label_values(&label);
    }
}
