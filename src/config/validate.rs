//! Raw → validated: defaults filled in, presets applied, paths resolved, cross-field checks.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use url::Url;

use super::problems::{ConfigError, Problems};
use super::raw::{RawConfig, RawProvider};
use super::routes::route;
use super::suggest::did_you_mean;
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
        &store.path,
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

/// `[A-Za-z0-9_-]{1,64}`: safe as it is in a URL path segment, a cookie path and a label.
fn valid_provider_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn provider(
    name: &str,
    rp: &RawProvider,
    base: &Path,
    public_url: &Url,
    p: &mut Problems,
) -> Option<ProviderConfig> {
    if !valid_provider_name(name) {
        // The name goes into URL paths (the redirect URI), cookie paths and metric labels.
        p.add(
            format!("providers.{name:?}"),
            "a provider name is 1 to 64 letters, digits, '_' or '-'; rename the table",
        );
        return None;
    }
    let key = |k: &str| format!("providers.{name}.{k}");
    let kind_text = rp.kind.as_deref().unwrap_or(name);
    let Ok(kind) = kind_text.parse::<Kind>() else {
        if rp.kind.is_some() {
            let hint = did_you_mean(kind_text, preset::KINDS.split(", "));
            p.add(
                key("kind"),
                format!(
                    "{kind_text:?} is not a kind{hint}; the kinds are {}",
                    preset::KINDS
                ),
            );
        } else {
            let hint = did_you_mean(name, preset::KINDS.split(", "));
            p.add(
                key("kind"),
                format!(
                    "is missing, and the table's name {name:?} is not a kind{hint}; set kind to one of {}",
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
    // Without either key the client is public (device-code logins only), where the kind
    // can offer those; whether it can is checked once its endpoints are known.
    let client_secret = match (&rp.client_secret, &client_secret_file) {
        (Some(_), Some(_)) => {
            p.add(
                key("client_secret_file"),
                "stands beside client_secret; keep only one of the two",
            );
            Err(())
        }
        (Some(s), None) if !s.trim().is_empty() => Ok(Some(ClientSecret::new(s.trim()))),
        (None, Some(f)) => match std::fs::read_to_string(f) {
            Ok(s) if !s.trim().is_empty() => Ok(Some(ClientSecret::new(s.trim()))),
            Ok(_) => {
                p.add(
                    key("client_secret_file"),
                    format!("{} is empty; put the client secret in it", f.display()),
                );
                Err(())
            }
            Err(e) => {
                p.add(
                    key("client_secret_file"),
                    format!("cannot read {}: {e}", f.display()),
                );
                Err(())
            }
        },
        (None, None) => Ok(None),
        (Some(_), None) => {
            p.add(
                key("client_secret"),
                format!(
                    "is empty: set it, or client_secret_file = \"PATH\", or the environment variable {}",
                    env_var(&key("client_secret"))
                ),
            );
            Err(())
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
    let device = endpoint(
        "device_authorization_url",
        &rp.device_authorization_url,
        preset.device_authorization_url,
    );
    if rp.device_authorization_url.is_some() && !kind.has_device_logins() {
        p.add(
            key("device_authorization_url"),
            format!("{kind} has no device-code logins; only twitch and oauth2 providers take this key"),
        );
    }
    if matches!(client_secret, Ok(None)) {
        public_client(name, kind, device.is_some(), client_auth, p);
    }
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
        client_secret: client_secret.ok()?,
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
            device,
        },
        ca_file: rp.ca_file.as_deref().map(|f| resolve(base, f)),
        client_auth,
        redirect_uri: super::redirect_uri(public_url, name),
    })
}

/// Checks a provider without a client secret: a public client (RFC 6749 §2.1) can only
/// connect users with device codes, so its kind must offer those; it has nothing to
/// authenticate with by HTTP Basic.
fn public_client(name: &str, kind: Kind, device: bool, auth: ClientAuth, p: &mut Problems) {
    let key = |k: &str| format!("providers.{name}.{k}");
    if !device {
        let public = if kind == Kind::OAuth2 {
            "; an oauth2 provider without a secret is a public client, which needs device_authorization_url"
        } else {
            ""
        };
        p.add(
            key("client_secret"),
            format!(
                "is missing: set it, or client_secret_file = \"PATH\", or the environment variable {}{public}",
                env_var(&key("client_secret"))
            ),
        );
    } else if auth == ClientAuth::Basic {
        p.add(
            key("client_auth"),
            "is \"basic\", but this provider has no client_secret (a public client); remove client_auth or set client_secret",
        );
    }
}
