//! Raw → validated. Every problem names the key it is about and says how to fix it; all of
//! them are reported at once so a user fixes a file in one pass.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use url::Url;

use super::raw::{RawConfig, RawProvider, RawRoute};
use super::*;

/// One thing wrong with the configuration, and the key it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration: {0}")]
    Load(#[source] Box<figment::Error>),
    #[error("the configuration file {0} does not exist (pass --config FILE or set TOKEN_SIDECAR_CONFIG)")]
    Missing(PathBuf),
    #[error("invalid configuration:\n{}", list(.0))]
    Invalid(Vec<Problem>),
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            key: key.into(),
            message: message.into(),
        });
    }

    fn addr(&mut self, key: &str, value: Option<&str>, default: &str) -> SocketAddr {
        let text = value.unwrap_or(default);
        text.parse().unwrap_or_else(|_| {
            self.add(
                key,
                format!("{text:?} is not an address; write IP:PORT, such as \"{default}\""),
            );
            fallback_addr()
        })
    }

    fn duration(&mut self, key: &str, value: Option<&str>, default: Duration) -> Duration {
        let Some(text) = value else { return default };
        humantime::parse_duration(text.trim()).unwrap_or_else(|_| {
            self.add(
                key,
                format!("{text:?} is not a duration; write one such as \"30s\" or \"5m\""),
            );
            default
        })
    }

    fn url(&mut self, key: &str, text: &str) -> Option<Url> {
        match Url::parse(text) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
            _ => {
                self.add(
                    key,
                    format!("{text:?} is not an http(s) URL; write one such as \"https://host/path\""),
                );
                None
            }
        }
    }
}

fn fallback_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Checks `raw`; relative paths are resolved against `base` (the config file's directory).
pub fn validate(raw: RawConfig, base: &Path) -> Result<Config, ConfigError> {
    let mut p = Problems::default();
    let server = server(&raw, &mut p);
    let store = Store {
        path: resolve(base, raw.store.path.as_deref().unwrap_or(DEFAULT_STORE_PATH)),
    };
    let mut providers = BTreeMap::new();
    for (name, rp) in &raw.providers {
        if let Some(pc) = provider(name, rp, base, &server.public_url, &mut p) {
            providers.insert(name.clone(), Arc::new(pc));
        }
    }
    let mut routes = Vec::new();
    let mut prefixes = HashSet::new();
    for (i, rr) in raw.routes.iter().enumerate() {
        if let Some(rc) = route(i, rr, &raw.providers, &providers, &server, base, &mut p) {
            if !prefixes.insert(rc.prefix.clone()) {
                p.add(
                    format!("routes[{i}].prefix"),
                    format!(
                        "{:?} is used by another route already; each prefix may appear once",
                        rc.prefix
                    ),
                );
            }
            routes.push(rc);
        }
    }
    if p.0.is_empty() {
        Ok(Config {
            server,
            store,
            providers,
            routes,
        })
    } else {
        Err(ConfigError::Invalid(p.0))
    }
}

fn server(raw: &RawConfig, p: &mut Problems) -> Server {
    let s = &raw.server;
    let listen = p.addr("server.listen", s.listen.as_deref(), DEFAULT_LISTEN);
    let admin_listen = p.addr(
        "server.admin_listen",
        s.admin_listen.as_deref(),
        DEFAULT_ADMIN_LISTEN,
    );
    let health_listen = s
        .health_listen
        .as_deref()
        .map(|h| p.addr("server.health_listen", Some(h), "0.0.0.0:9091"));
    let default_public = format!("http://localhost:{}", admin_listen.port());
    let public_text = s.public_url.clone().unwrap_or(default_public);
    let public_url = p
        .url("server.public_url", &public_text)
        .unwrap_or_else(|| Url::parse("http://localhost/").expect("a literal URL parses"));
    let admin_token = s
        .admin_token
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(AdminToken::new);
    let log_format = match s.log_format.as_deref().unwrap_or("text") {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => {
            p.add(
                "server.log_format",
                format!("{other:?} is not a log format; write \"text\" or \"json\""),
            );
            LogFormat::Text
        }
    };
    let retry_buffer = match s.retry_buffer {
        None => DEFAULT_RETRY_BUFFER,
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
    };
    Server {
        listen,
        admin_listen,
        public_url,
        health_listen,
        admin_token,
        shutdown_grace: p.duration(
            "server.shutdown_grace",
            s.shutdown_grace.as_deref(),
            DEFAULT_SHUTDOWN_GRACE,
        ),
        connect_timeout: p.duration(
            "server.connect_timeout",
            s.connect_timeout.as_deref(),
            DEFAULT_CONNECT_TIMEOUT,
        ),
        request_timeout: p.duration(
            "server.request_timeout",
            s.request_timeout.as_deref(),
            DEFAULT_REQUEST_TIMEOUT,
        ),
        retry_buffer,
        log_format,
    }
}

fn resolve(base: &Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// The environment variable that sets `key` (`providers.twitch.client_secret` →
/// `TOKEN_SIDECAR_PROVIDERS__TWITCH__CLIENT_SECRET`).
pub fn env_var(key: &str) -> String {
    format!("TOKEN_SIDECAR_{}", key.replace('.', "__").to_uppercase())
}

fn provider(
    name: &str,
    rp: &RawProvider,
    base: &Path,
    public_url: &Url,
    p: &mut Problems,
) -> Option<ProviderConfig> {
    let key = |k: &str| format!("providers.{name}.{k}");
    let kind_text = rp.kind.as_deref().unwrap_or(name);
    let Ok(kind) = kind_text.parse::<Kind>() else {
        if rp.kind.is_some() {
            p.add(
                key("kind"),
                format!("{kind_text:?} is not a kind; use one of {}", preset::KINDS),
            );
        } else {
            p.add(
                key("kind"),
                format!(
                    "is missing, and the table's name {name:?} is not a kind; set kind to one of {}",
                    preset::KINDS
                ),
            );
        }
        return None;
    };
    let client_id = rp.client_id.clone().filter(|s| !s.trim().is_empty());
    if client_id.is_none() {
        p.add(
            key("client_id"),
            format!(
                "is missing: set it in the file or with the environment variable {}",
                env_var(&key("client_id"))
            ),
        );
    }
    let client_secret_file = rp.client_secret_file.as_deref().map(|f| resolve(base, f));
    let client_secret = match (&rp.client_secret, &client_secret_file) {
        (Some(_), Some(_)) => {
            p.add(
                key("client_secret_file"),
                "stands beside client_secret; keep only one of the two",
            );
            None
        }
        (Some(s), None) if !s.trim().is_empty() => Some(ClientSecret::new(s.trim())),
        (None, Some(f)) => match std::fs::read_to_string(f) {
            Ok(s) if !s.trim().is_empty() => Some(ClientSecret::new(s.trim())),
            Ok(_) => {
                p.add(
                    key("client_secret_file"),
                    format!("{} is empty; put the client secret in it", f.display()),
                );
                None
            }
            Err(e) => {
                p.add(
                    key("client_secret_file"),
                    format!("cannot read {}: {e}", f.display()),
                );
                None
            }
        },
        _ => {
            p.add(
                key("client_secret"),
                format!(
                    "is missing: set it, or client_secret_file = \"PATH\", or the environment variable {}",
                    env_var(&key("client_secret"))
                ),
            );
            None
        }
    };
    let client_auth = match rp.client_auth.as_deref() {
        None | Some("body") => ClientAuth::Body,
        Some("basic") if kind == Kind::OAuth2 => ClientAuth::Basic,
        Some("basic") => {
            p.add(
                key("client_auth"),
                format!("only an oauth2 provider takes client_auth; {kind} has its own way"),
            );
            ClientAuth::Body
        }
        Some(other) => {
            p.add(
                key("client_auth"),
                format!("{other:?} is not a client_auth; write \"body\" or \"basic\""),
            );
            ClientAuth::Body
        }
    };
    let preset = kind.preset();
    let mut endpoint = |k: &str, given: &Option<String>, default: Option<&str>| -> Option<Url> {
        match given.as_deref().or(default) {
            Some(text) => p.url(&key(k), text),
            None => None,
        }
    };
    let authorize = endpoint("authorize_url", &rp.authorize_url, preset.authorize_url);
    let token = endpoint("token_url", &rp.token_url, preset.token_url);
    let refresh = endpoint("refresh_url", &rp.refresh_url, preset.refresh_url);
    let validate = endpoint("validate_url", &rp.validate_url, preset.validate_url);
    let revoke = endpoint("revoke_url", &rp.revoke_url, preset.revoke_url);
    if kind == Kind::OAuth2 && rp.token_url.is_none() {
        p.add(
            key("token_url"),
            "is missing: an oauth2 provider has no preset, so set token_url (and authorize_url for logins)",
        );
    }
    let token = token?;
    Some(ProviderConfig {
        name: name.to_string(),
        kind,
        client_id: client_id?,
        client_secret: client_secret?,
        client_secret_file,
        scopes: rp.scopes.clone().unwrap_or_default(),
        app_scopes: rp.app_scopes.clone().unwrap_or_default(),
        authorize_params: rp.authorize_params.clone().unwrap_or_default(),
        endpoints: Endpoints {
            authorize,
            refresh: refresh.unwrap_or_else(|| token.clone()),
            token,
            validate,
            revoke,
        },
        ca_file: rp.ca_file.as_deref().map(|f| resolve(base, f)),
        client_auth,
        redirect_uri: format!(
            "{}/oauth/{name}/callback",
            public_url.as_str().trim_end_matches('/')
        ),
    })
}

fn route(
    i: usize,
    rr: &RawRoute,
    raw_providers: &BTreeMap<String, RawProvider>,
    providers: &BTreeMap<String, Arc<ProviderConfig>>,
    server: &Server,
    base: &Path,
    p: &mut Problems,
) -> Option<RouteConfig> {
    let key = |k: &str| format!("routes[{i}].{k}");
    let prefix = match rr.prefix.as_deref() {
        None => {
            p.add(
                key("prefix"),
                "is missing: give the path prefix this route serves, such as \"/twitch\"",
            );
            None
        }
        Some(s)
            if !s.starts_with('/') || s.contains(['?', '#', '%']) || s.split('/').any(|seg| seg == "..") =>
        {
            p.add(
                key("prefix"),
                format!("{s:?} is not a path prefix; write one such as \"/twitch\""),
            );
            None
        }
        Some(s) => Some(match s.trim_end_matches('/') {
            "" => "/".to_string(),
            t => t.to_string(),
        }),
    };
    let Some(provider_name) = rr.provider.as_deref() else {
        p.add(key("provider"), "is missing: name one of the [providers] tables");
        return None;
    };
    if !raw_providers.contains_key(provider_name) {
        let known: Vec<&str> = raw_providers.keys().map(String::as_str).collect();
        p.add(
            key("provider"),
            format!(
                "names the unknown provider {provider_name:?}; configured providers: [{}]",
                known.join(", ")
            ),
        );
        return None;
    }
    let kind = raw_providers[provider_name]
        .kind
        .as_deref()
        .unwrap_or(provider_name)
        .parse::<Kind>()
        .ok();
    let token = match (rr.token.as_deref().unwrap_or("app"), &rr.user) {
        ("app", None) => {
            if kind == Some(Kind::Firework) {
                p.add(
                    key("token"),
                    "is \"app\", but firework has no app tokens (no client credentials grant); use token = \"user\"",
                );
            }
            TokenSpec::App
        }
        ("app", Some(_)) => {
            p.add(
                key("user"),
                "only a route with token = \"user\" names a user; remove it or set token = \"user\"",
            );
            TokenSpec::App
        }
        ("user", user) => TokenSpec::User(user.clone().filter(|u| !u.is_empty())),
        (other, _) => {
            p.add(
                key("token"),
                format!("{other:?} is not a token kind; write \"app\" or \"user\""),
            );
            TokenSpec::App
        }
    };
    let upstream_text = rr
        .upstream
        .clone()
        .or_else(|| kind.and_then(|k| k.preset().api_base).map(str::to_string));
    let upstream = match upstream_text {
        Some(text) => p.url(&key("upstream"), &text).filter(|u| {
            let clean = u.query().is_none() && u.fragment().is_none();
            if !clean {
                p.add(
                    key("upstream"),
                    "must not carry a query or fragment; the request's query is passed on",
                );
            }
            clean
        }),
        None => {
            p.add(
                key("upstream"),
                "is missing: an oauth2 provider has no API base, so give the upstream URL",
            );
            None
        }
    };
    let mut headers = Vec::new();
    for (name, value) in rr.headers.iter().flatten() {
        match (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            (Ok(n), Ok(v)) => headers.push((n, v)),
            _ => p.add(
                format!("{}.{name}", key("headers")),
                "is not a valid HTTP header name and value",
            ),
        }
    }
    let request_timeout = p.duration(
        &key("request_timeout"),
        rr.request_timeout.as_deref(),
        server.request_timeout,
    );
    // A provider with its own problems is already reported; the route needs nothing more.
    providers.get(provider_name)?;
    Some(RouteConfig {
        prefix: prefix?,
        upstream: upstream?,
        provider: provider_name.to_string(),
        token,
        headers,
        request_timeout,
        ca_file: rr.ca_file.as_deref().map(|f| resolve(base, f)),
    })
}
