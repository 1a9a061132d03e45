//! The per-token gauges (`token_sidecar_token_expiry_timestamp_seconds`,
//! `token_sidecar_token_needs_login`) are read from the live slots when Prometheus scrapes,
//! by a `Collector`: nothing to keep in step on every refresh, nothing to clear and refill
//! per scrape, and a user removed (or a provider reloaded away) leaves no series behind.

use std::sync::{Arc, OnceLock};

use prometheus::core::{Collector, Desc, Describer};
use prometheus::proto::MetricFamily;
use prometheus::{GaugeVec, IntGaugeVec, Opts};

/// One slot's state at scrape time.
pub struct TokenState {
    pub provider: String,
    pub subject: String,
    /// When the held token expires (Unix seconds), if one is held.
    pub expires_at: Option<f64>,
    pub needs_login: bool,
}

type Source = Box<dyn Fn() -> Vec<TokenState> + Send + Sync>;

/// Cloned into the registry; the clones share their source.
#[derive(Clone)]
pub struct TokenGauges {
    expiry: Opts,
    needs_login: Opts,
    descs: Vec<Desc>,
    source: Arc<OnceLock<Source>>,
}

const LABELS: [&str; 2] = ["provider", "subject"];

impl TokenGauges {
    pub fn new() -> Self {
        let expiry = Opts::new(
            "token_sidecar_token_expiry_timestamp_seconds",
            "When each held token expires, as a Unix timestamp.",
        );
        let needs_login = Opts::new(
            "token_sidecar_token_needs_login",
            "1 for each token whose grant the platform refused: a person must log in again.",
        );
        let descs = [&expiry, &needs_login]
            .into_iter()
            .filter_map(|o| {
                o.clone()
                    .variable_labels(LABELS.map(String::from).to_vec())
                    .describe()
                    .ok()
            })
            .collect();
        TokenGauges {
            expiry,
            needs_login,
            descs,
            source: Arc::new(OnceLock::new()),
        }
    }

    /// Where the slots are read from; set once the proxy's state exists.
    pub fn read_from(&self, source: impl Fn() -> Vec<TokenState> + Send + Sync + 'static) {
        let _ = self.source.set(Box::new(source));
    }
}

impl Default for TokenGauges {
    fn default() -> Self {
        TokenGauges::new()
    }
}

impl Collector for TokenGauges {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let (Ok(expiry), Ok(needs_login)) = (
            GaugeVec::new(self.expiry.clone(), &LABELS),
            IntGaugeVec::new(self.needs_login.clone(), &LABELS),
        ) else {
            return Vec::new();
        };
        for s in self.source.get().map(|read| read()).unwrap_or_default() {
            let labels = [s.provider.as_str(), s.subject.as_str()];
            if let Some(at) = s.expires_at {
                expiry.with_label_values(&labels).set(at);
            }
            needs_login
                .with_label_values(&labels)
                .set(i64::from(s.needs_login));
        }
        let mut families = expiry.collect();
        families.extend(needs_login.collect());
        families
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gauges_are_what_the_slots_are_at_scrape_time() {
        let gauges = TokenGauges::new();
        assert!(gauges.collect().iter().all(|f| f.get_metric().is_empty()));
        gauges.read_from(|| {
            vec![
                TokenState {
                    provider: "twitch".into(),
                    subject: "alice".into(),
                    expires_at: Some(1.5e9),
                    needs_login: false,
                },
                TokenState {
                    provider: "twitch".into(),
                    subject: "bob".into(),
                    expires_at: None,
                    needs_login: true,
                },
            ]
        });
        let families = gauges.collect();
        let expiry = &families[0];
        assert_eq!(expiry.name(), "token_sidecar_token_expiry_timestamp_seconds");
        assert_eq!(expiry.get_metric().len(), 1, "bob holds no token");
        let needs = &families[1];
        assert_eq!(needs.get_metric().len(), 2);
        let bob = needs
            .get_metric()
            .iter()
            .find(|m| m.get_label().iter().any(|l| l.value() == "bob"))
            .expect("bob's series");
        assert_eq!(bob.get_gauge().get_value(), 1.0);
    }
}
