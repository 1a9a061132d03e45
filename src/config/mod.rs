//! Configuration: figment sources (`load`) → the raw serde shape (`raw`) → a validated
//! `Config` (`validate`) that the rest of the program trusts without checking again.

mod env;
mod explain;
mod load;
mod locate;
mod preset;
mod problems;
mod providers;
mod raw;
mod routes;
mod scalar;
mod store;
mod store_only;
mod suggest;
mod token_files;
mod validate;
mod warnings;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use url::Url;

use crate::secret::{AdminToken, ClientSecret};

pub use load::{config_path, from_toml, load, load_from};
pub use preset::{Kind, Preset};
pub use problems::{ConfigError, Problem};
pub use store::{RedisStore, Store, StoreKind, DEFAULT_KEY_PREFIX, DEFAULT_LOCK_TTL};
pub use store_only::{load_admin, load_store};
pub use validate::{env_var, validate};
pub use warnings::Warning;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9090";
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_RETRY_BUFFER: usize = 64 * 1024;
pub const DEFAULT_STORE_PATH: &str = "tokens.json";
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct Config {
    pub server: Server,
    pub store: Store,
    pub providers: BTreeMap<String, Arc<ProviderConfig>>,
    pub routes: Vec<RouteConfig>,
    /// Files kept holding a token, for clients that cannot go through the proxy.
    pub token_files: Vec<TokenFileConfig>,
    /// The file it was read from, watched for live reload.
    pub source: Option<PathBuf>,
}

impl Config {
    /// Sets `public_url` and the redirect URIs derived from it.
    pub fn set_public_url(&mut self, url: Url) {
        for p in self.providers.values_mut() {
            Arc::make_mut(p).redirect_uri = redirect_uri(&url, &p.name);
        }
        self.server.public_url = url;
    }
}

/// `{public_url}/oauth/{provider}/callback`.
pub fn redirect_uri(public_url: &Url, provider: &str) -> String {
    format!(
        "{}/oauth/{provider}/callback",
        public_url.as_str().trim_end_matches('/')
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Server {
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub public_url: Url,
    /// Whether `public_url` was configured; when not, it follows the bound admin port.
    pub public_url_set: bool,
    pub health_listen: Option<SocketAddr>,
    pub admin_token: Option<AdminToken>,
    pub shutdown_grace: Duration,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub retry_buffer: usize,
    pub log_format: LogFormat,
    pub max_header_bytes: usize,
    pub header_read_timeout: Duration,
    /// `None`: sized from the file descriptor limit at start.
    pub max_concurrent_requests: Option<usize>,
    /// Lower-case host names (no port) answered besides loopback and public_url's host.
    pub allowed_hosts: Vec<String>,
    /// Serialized origins (`scheme://host[:port]`) allowed to call the proxy listener.
    pub allowed_origins: Vec<String>,
    pub idle_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_id` and `client_secret` in the request.
    Body,
    /// HTTP Basic (oauth2 `client_auth = "basic"`).
    Basic,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub authorize: Option<Url>,
    pub token: Url,
    pub refresh: Url,
    pub validate: Option<Url>,
    pub revoke: Option<Url>,
    /// RFC 8628 device authorization endpoint: device-code logins are offered when set.
    pub device: Option<Url>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    pub name: String,
    pub kind: Kind,
    pub client_id: String,
    /// `None` for a public client: device-code logins only, no app tokens.
    pub client_secret: Option<ClientSecret>,
    pub client_secret_file: Option<PathBuf>,
    pub scopes: Vec<String>,
    pub app_scopes: Vec<String>,
    pub authorize_params: BTreeMap<String, String>,
    pub endpoints: Endpoints,
    pub ca_file: Option<PathBuf>,
    pub client_auth: ClientAuth,
    /// `{public_url}/oauth/{name}/callback`: what the platform must have registered.
    pub redirect_uri: String,
}

impl ProviderConfig {
    /// A client without a secret (RFC 6749 §2.1): it identifies itself by `client_id` alone.
    pub fn is_public(&self) -> bool {
        self.client_secret.is_none()
    }

    /// The client secret's value, or "" for a public client (which never sends one).
    pub fn secret(&self) -> &str {
        self.client_secret.as_ref().map_or("", ClientSecret::secret)
    }

    /// Whether a person can connect a user through the browser login (redirect and code).
    pub fn has_browser_login(&self) -> bool {
        self.endpoints.authorize.is_some() && !self.is_public()
    }

    /// Whether a person can connect a user with a device code (RFC 8628).
    pub fn has_device_login(&self) -> bool {
        self.endpoints.device.is_some()
    }
}

/// How a token file holds its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFileFormat {
    /// The bare access token.
    Token,
    /// `oauth:TOKEN`, as IRC's `PASS` carries it (Twitch chat).
    Irc,
    /// `{"access_token", "expires_at", "scopes"}`.
    Json,
}

/// One `[[token_files]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFileConfig {
    pub provider: String,
    /// A user's name, or `app` for the provider's app token.
    pub subject: String,
    pub path: PathBuf,
    pub format: TokenFileFormat,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSpec {
    App,
    /// A user token: a fixed user, or `None` for the `x-token-user` header's.
    User(Option<String>),
}

#[derive(Debug, Clone)]
pub struct RouteConfig {
    pub prefix: String,
    pub upstream: Url,
    pub provider: String,
    pub token: TokenSpec,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub request_timeout: Duration,
    pub ca_file: Option<PathBuf>,
    pub max_body_bytes: Option<u64>,
}
