//! Raw → validated: defaults filled in, presets applied, paths resolved, cross-field checks.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use url::Url;

use super::problems::{ConfigError, Problems};
use super::providers::provider;
use super::raw::RawConfig;
use super::routes::route;
use super::*;

/// Checks `raw`; relative paths are resolved against `base` (the config file's directory).
pub fn validate(raw: RawConfig, base: &Path) -> Result<Config, ConfigError> {
    let mut p = Problems::default();
    let server = server(&raw, &mut p);
    let store = super::store::store(&raw.store, base, &mut p);
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
    let token_files = super::token_files::token_files(
        &raw.token_files,
        &raw.providers,
        &providers,
        matches!(store.kind, StoreKind::File).then_some(store.path.as_path()),
        base,
        &mut p,
    );
    if p.0.is_empty() {
        Ok(Config {
            server,
            store,
            providers,
            routes,
            token_files,
            source: None,
        })
    } else {
        Err(ConfigError::Invalid(p.0))
    }
}

pub(super) fn server(raw: &RawConfig, p: &mut Problems) -> Server {
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
    let admin_token_set = s.admin_token.as_deref().is_some_and(|t| !t.is_empty());
    if !admin_listen.ip().is_loopback() && !admin_token_set {
        p.add(
            "server.admin_token",
            format!(
                "is required because admin_listen {admin_listen} is not a loopback address: the admin \
                 listener hands out logins and token state. Set admin_token, or keep admin_listen on \
                 127.0.0.1 and use health_listen for probes and metrics"
            ),
        );
    }
    let max_header_bytes = match s.max_header_bytes {
        None => DEFAULT_MAX_HEADER_BYTES,
        Some(n) if n >= 8192 => usize::try_from(n).unwrap_or(usize::MAX),
        Some(n) => {
            p.add(
                "server.max_header_bytes",
                format!("{n} is too small; give at least 8192"),
            );
            DEFAULT_MAX_HEADER_BYTES
        }
    };
    let max_concurrent_requests = match s.max_concurrent_requests {
        None => None,
        Some(0) => {
            p.add("server.max_concurrent_requests", "must be at least 1");
            None
        }
        Some(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
    };
    let retry_buffer = match s.retry_buffer {
        None => DEFAULT_RETRY_BUFFER,
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
    };
    Server {
        listen,
        admin_listen,
        public_url_set: s.public_url.is_some(),
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
        max_header_bytes,
        header_read_timeout: p.duration(
            "server.header_read_timeout",
            s.header_read_timeout.as_deref(),
            DEFAULT_HEADER_READ_TIMEOUT,
        ),
        max_concurrent_requests,
        allowed_hosts: allowed_hosts(s.allowed_hosts.as_deref().unwrap_or_default(), p),
        allowed_origins: allowed_origins(s.allowed_origins.as_deref().unwrap_or_default(), p),
        idle_timeout: p.duration(
            "server.idle_timeout",
            s.idle_timeout.as_deref(),
            DEFAULT_IDLE_TIMEOUT,
        ),
    }
}

/// Host names as a `Host` header carries them, without the port: `token-sidecar`, `app.local`.
fn allowed_hosts(hosts: &[String], p: &mut Problems) -> Vec<String> {
    let mut out = Vec::new();
    for (i, h) in hosts.iter().enumerate() {
        let host = h.trim().to_ascii_lowercase();
        // A port or a path would never match a Host header's name part; an IPv6 literal keeps
        // its brackets, as Host carries it.
        let plain = !host.contains('/') && (host.starts_with('[') || !host.contains(':'));
        match url::Host::parse(&host) {
            Ok(_) if plain => out.push(host),
            _ => p.add(
                format!("server.allowed_hosts[{i}]"),
                format!(
                    "{h:?} is not a host name; write one without scheme or port, such as \"token-sidecar\""
                ),
            ),
        }
    }
    out
}

/// Origins as a browser's `Origin` header carries them: `http://localhost:3000`.
fn allowed_origins(origins: &[String], p: &mut Problems) -> Vec<String> {
    let mut out = Vec::new();
    for (i, o) in origins.iter().enumerate() {
        match Url::parse(o.trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() && u.path() == "/"
                && u.query().is_none() && u.fragment().is_none() && u.username().is_empty() => {
                out.push(u.origin().ascii_serialization());
            }
            _ => p.add(
                format!("server.allowed_origins[{i}]"),
                format!("{o:?} is not an origin; write scheme://host[:port] with no path, such as \"http://localhost:3000\""),
            ),
        }
    }
    out
}

pub(super) fn resolve(base: &Path, path: &str) -> PathBuf {
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
