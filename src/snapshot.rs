//! Everything a request needs that a reload may replace — routes and providers — built once
//! from a `Config` and published behind one `ArcSwap`, loaded once per request.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use http::uri::{Authority, Scheme};
use http::{HeaderName, HeaderValue};

use crate::config::{Config, Kind, TokenSpec};
use crate::metrics::Metrics;
use crate::oauth::{ClientBuildError, Provider, TokenStore};
use crate::policy::{AdminOrigin, HostPolicy, OriginPolicy};
use crate::proxy::route::{RequestCounts, Route, RouteMetrics, Router};
use crate::proxy::upstream::{self, Connector, TlsSetupError, Upstream};
use crate::store::Versioned;

pub struct Snapshot {
    pub config: Arc<Config>,
    pub router: Router,
    pub providers: BTreeMap<String, Arc<Provider>>,
    /// `requests_total` of requests answered before a route was chosen (`route="none"`).
    pub unrouted: RequestCounts,
    /// `Host` names both listeners answer.
    pub hosts: HostPolicy,
    /// Browser origins the proxy listener serves.
    pub origins: OriginPolicy,
    /// Where the admin listener takes state changes from.
    pub admin_origin: AdminOrigin,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Client(#[from] ClientBuildError),
    #[error("route {prefix}: {source}")]
    Tls {
        prefix: String,
        #[source]
        source: TlsSetupError,
    },
    #[error("route {prefix}: the upstream URL cannot be used: {reason}")]
    Upstream { prefix: String, reason: String },
}

impl Snapshot {
    pub fn build(
        config: Arc<Config>,
        metrics: &Arc<Metrics>,
        store: &Arc<dyn TokenStore>,
        previous: Option<&Snapshot>,
    ) -> Result<Snapshot, BuildError> {
        let mut providers = BTreeMap::new();
        for (name, pc) in &config.providers {
            // An app token is kept for the routes that inject it and the files that hold it.
            let app = config
                .routes
                .iter()
                .any(|r| &r.provider == name && r.token == TokenSpec::App)
                || config
                    .token_files
                    .iter()
                    .any(|f| &f.provider == name && f.subject == crate::oauth::APP_SUBJECT);
            let kept = previous
                .and_then(|s| s.providers.get(name))
                .filter(|old| old.same_as(pc, &config.server, app));
            if let Some(old) = kept {
                providers.insert(name.clone(), Arc::clone(old));
                continue;
            }
            let provider = Provider::new(
                Arc::clone(pc),
                &config.server,
                Arc::clone(metrics),
                Arc::clone(store),
                app,
            )?;
            let grants = if app {
                &["client_credentials", "authorization_code", "refresh_token"][..]
            } else {
                &["authorization_code", "refresh_token"][..]
            };
            for grant in grants {
                for result in ["success", "failure"] {
                    metrics
                        .token_requests
                        .with_label_values(&[name.as_str(), grant, result]);
                }
            }
            providers.insert(name.clone(), Arc::new(provider));
        }
        let mut connectors: HashMap<Option<PathBuf>, Connector> = HashMap::new();
        // Routes to the same origin with the same roots share its connections.
        let mut upstreams: HashMap<(Option<PathBuf>, String), Arc<Upstream>> = HashMap::new();
        let mut routes = Vec::new();
        for rc in &config.routes {
            // Validation guarantees every route's provider exists.
            let Some(provider) = providers.get(&rc.provider) else {
                continue;
            };
            let connector = match connectors.get(&rc.ca_file) {
                Some(c) => c.clone(),
                None => {
                    let c = upstream::connector(config.server.connect_timeout, rc.ca_file.as_deref())
                        .map_err(|source| BuildError::Tls {
                            prefix: rc.prefix.clone(),
                            source,
                        })?;
                    connectors.insert(rc.ca_file.clone(), c.clone());
                    c
                }
            };
            let bad = |reason: &str| BuildError::Upstream {
                prefix: rc.prefix.clone(),
                reason: reason.into(),
            };
            let scheme = Scheme::try_from(rc.upstream.scheme()).map_err(|_| bad("scheme"))?;
            let host = rc.upstream.host_str().ok_or_else(|| bad("no host"))?;
            let authority_text = match rc.upstream.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_string(),
            };
            let authority = Authority::try_from(authority_text.as_str()).map_err(|_| bad("host"))?;
            let host = HeaderValue::try_from(authority_text.as_str()).map_err(|_| bad("host"))?;
            let key = (rc.ca_file.clone(), format!("{scheme}://{authority_text}"));
            let upstream = match upstreams.get(&key) {
                Some(u) => Arc::clone(u),
                None => {
                    let u = Upstream::new(connector, scheme, authority).map_err(|_| bad("host"))?;
                    let u = Arc::new(u);
                    upstreams.insert(key, Arc::clone(&u));
                    u
                }
            };
            let pc = &provider.client.config;
            let mut headers = Vec::new();
            if matches!(pc.kind, Kind::Twitch | Kind::Blaze) {
                let id = HeaderValue::try_from(pc.client_id.as_str())
                    .map_err(|_| bad("client_id is not a header value"))?;
                headers.push((HeaderName::from_static("client-id"), id));
            }
            if pc.kind == Kind::Blaze && matches!(rc.token, TokenSpec::User(_)) {
                let mut secret = HeaderValue::try_from(pc.secret())
                    .map_err(|_| bad("client_secret is not a header value"))?;
                secret.set_sensitive(true);
                headers.push((HeaderName::from_static("secret"), secret));
            }
            headers.extend(rc.headers.iter().cloned());
            routes.push(Arc::new(Route {
                prefix: rc.prefix.clone(),
                provider: Arc::clone(provider),
                token: rc.token.clone(),
                host,
                base_path: rc.upstream.path().trim_end_matches('/').to_string(),
                headers,
                timeout: rc.request_timeout,
                max_body_bytes: rc.max_body_bytes,
                upstream,
                metrics: RouteMetrics::new(&rc.prefix, metrics),
            }));
        }
        Ok(Snapshot {
            unrouted: RequestCounts::new("none", metrics),
            hosts: HostPolicy::new(&config.server),
            origins: OriginPolicy::new(&config.server.allowed_origins),
            admin_origin: AdminOrigin::new(&config.server.public_url),
            config,
            router: Router::new(routes),
            providers,
        })
    }

    /// Puts stored tokens back into the slots of the providers they belong to (providers
    /// already running, kept across a reload, hold them already).
    pub fn restore(&self, stored: &[Versioned]) {
        for s in stored {
            match self.providers.get(&s.token.provider) {
                Some(p) if p.is_started() => {}
                Some(p) => p.restore(s),
                None => {
                    tracing::info!(provider = %s.token.provider, subject = %s.token.subject, "stored token of an unconfigured provider ignored")
                }
            }
        }
    }

    /// Takes the metric series of routes that `previous` had and this snapshot has not out
    /// of the registry, once this snapshot is live.
    pub fn remove_series_of_gone_routes(&self, previous: &Snapshot) {
        for old in previous.router.routes() {
            if !self.router.routes().iter().any(|r| r.prefix == old.prefix) {
                old.metrics.remove();
            }
        }
    }

    /// Starts the refreshers of every provider (those already started are left as they are).
    pub fn start(&self) {
        for p in self.providers.values() {
            p.start();
        }
    }

    /// Where a person logs `user` in at `provider`.
    pub fn login_url(&self, provider: &str, user: &str) -> String {
        let base = self.config.server.public_url.as_str().trim_end_matches('/');
        let user: String = url::form_urlencoded::byte_serialize(user.as_bytes()).collect();
        format!("{base}/oauth/{provider}/login?user={user}")
    }
}
