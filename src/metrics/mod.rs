//! Every metric the proxy exports, as typed handles in our own `Registry` (not the global
//! one), so each `run` — and each test — has its own. Names and labels are SPEC.md's.

mod tokens;

pub use tokens::{TokenGauges, TokenState};

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub request_duration: HistogramVec,
    pub upstream_errors: IntCounterVec,
    pub in_flight: IntGaugeVec,
    pub unauthorized_retries: IntCounterVec,
    pub token_requests: IntCounterVec,
    pub ratelimit_remaining: IntGaugeVec,
    pub ratelimit_reset: IntGaugeVec,
    /// `token_expiry_timestamp_seconds` and `token_needs_login`, read at scrape time.
    pub tokens: TokenGauges,
    pub config_generation: IntGauge,
    pub config_reloads: IntCounterVec,
    pub store: StoreMetrics,
}

/// The token store's health: whether it answers, its failed operations, and how long
/// refreshes waited for another replica's lock.
#[derive(Clone)]
pub struct StoreMetrics {
    pub up: IntGauge,
    /// By `op`: `load`, `save`, `remove`, `lock`.
    pub errors: IntCounterVec,
    pub lock_wait: Histogram,
}

impl StoreMetrics {
    fn new() -> StoreMetrics {
        let errors = IntCounterVec::new(
            Opts::new(
                "token_sidecar_store_errors_total",
                "Token store operations that failed (each failed attempt of a retried write counts), by op.",
            ),
            &["op"],
        )
        .expect("static metric definition");
        for op in ["load", "save", "remove", "lock"] {
            errors.with_label_values(&[op]);
        }
        StoreMetrics {
            up: IntGauge::new(
                "token_sidecar_store_up",
                "1 while the token store answers, 0 while it does not.",
            )
            .expect("static metric definition"),
            errors,
            lock_wait: Histogram::with_opts(
                HistogramOpts::new(
                    "token_sidecar_refresh_lock_wait_seconds",
                    "How long a refresh waited for the refresh lock another replica held.",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
            )
            .expect("static metric definition"),
        }
    }

    /// Handles that no registry exports, for the commands that open a store without serving.
    pub fn unregistered() -> StoreMetrics {
        StoreMetrics::new()
    }
}

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let m = Metrics {
            requests: IntCounterVec::new(
                Opts::new(
                    "token_sidecar_requests_total",
                    "Requests answered by the proxy listener.",
                ),
                &["route", "method", "status"],
            )
            .expect("static metric definition"),
            request_duration: HistogramVec::new(
                HistogramOpts::new(
                    "token_sidecar_request_duration_seconds",
                    "Time from a request's arrival until its response headers are sent.",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["route"],
            )
            .expect("static metric definition"),
            upstream_errors: IntCounterVec::new(
                Opts::new(
                    "token_sidecar_upstream_errors_total",
                    "Upstream calls that failed, by reason.",
                ),
                &["route", "reason"],
            )
            .expect("static metric definition"),
            in_flight: IntGaugeVec::new(
                Opts::new("token_sidecar_in_flight_requests", "Requests being served now."),
                &["route"],
            )
            .expect("static metric definition"),
            unauthorized_retries: IntCounterVec::new(
                Opts::new(
                    "token_sidecar_unauthorized_retries_total",
                    "Upstream 401 answers that led to a token refresh and a replay.",
                ),
                &["route"],
            )
            .expect("static metric definition"),
            token_requests: IntCounterVec::new(
                Opts::new(
                    "token_sidecar_token_requests_total",
                    "Calls to platform token and refresh endpoints.",
                ),
                &["provider", "grant", "result"],
            )
            .expect("static metric definition"),
            ratelimit_remaining: IntGaugeVec::new(
                Opts::new(
                    "token_sidecar_ratelimit_remaining",
                    "The upstream's Ratelimit-Remaining on the route's latest answer that carried it.",
                ),
                &["route"],
            )
            .expect("static metric definition"),
            ratelimit_reset: IntGaugeVec::new(
                Opts::new(
                    "token_sidecar_ratelimit_reset_timestamp_seconds",
                    "The upstream's Ratelimit-Reset (Unix time) on the route's latest answer that carried it.",
                ),
                &["route"],
            )
            .expect("static metric definition"),
            tokens: TokenGauges::new(),
            config_generation: IntGauge::new(
                "token_sidecar_config_generation",
                "Which configuration is live: 1 at start, one more for each successful reload.",
            )
            .expect("static metric definition"),
            config_reloads: IntCounterVec::new(
                Opts::new("token_sidecar_config_reloads_total", "Configuration reloads, by result."),
                &["result"],
            )
            .expect("static metric definition"),
            store: StoreMetrics::new(),
            registry,
        };
        for c in [
            Box::new(m.requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.request_duration.clone()),
            Box::new(m.upstream_errors.clone()),
            Box::new(m.in_flight.clone()),
            Box::new(m.unauthorized_retries.clone()),
            Box::new(m.token_requests.clone()),
            Box::new(m.ratelimit_remaining.clone()),
            Box::new(m.ratelimit_reset.clone()),
            Box::new(m.tokens.clone()),
            Box::new(m.config_generation.clone()),
            Box::new(m.config_reloads.clone()),
            Box::new(m.store.up.clone()),
            Box::new(m.store.errors.clone()),
            Box::new(m.store.lock_wait.clone()),
        ] {
            m.registry.register(c).expect("each metric is registered once");
        }
        m
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
