//! The configuration exactly as a user writes it: one field per key, unknown keys refused.
//! Everything here is optional or defaulted; `validate.rs` turns it into a checked `Config`.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::scalar;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Listeners, timeouts and logging.
    #[serde(default)]
    pub server: RawServer,
    /// Where user tokens are kept.
    #[serde(default)]
    pub store: RawStore,
    /// OAuth clients, by provider name.
    #[serde(default)]
    pub providers: BTreeMap<String, RawProvider>,
    /// Path prefixes and where they go.
    #[serde(default)]
    pub routes: Vec<RawRoute>,
    /// Files kept holding a token, for clients that cannot go through the proxy.
    #[serde(default)]
    pub token_files: Vec<RawTokenFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// The proxy listener, where applications send their API calls.
    #[serde(default, deserialize_with = "scalar::text")]
    pub listen: Option<String>,
    /// The admin listener: metrics, health, login pages, admin API.
    #[serde(default, deserialize_with = "scalar::text")]
    pub admin_listen: Option<String>,
    /// How a browser reaches the admin listener; the base of OAuth redirect URIs.
    #[serde(default, deserialize_with = "scalar::text")]
    pub public_url: Option<String>,
    /// Optional listener serving only /healthz, /readyz and /metrics.
    #[serde(default, deserialize_with = "scalar::text")]
    pub health_listen: Option<String>,
    /// Bearer token required on /admin/* when set.
    #[serde(default, deserialize_with = "scalar::text")]
    pub admin_token: Option<String>,
    /// How long in-flight requests may finish after SIGTERM.
    #[serde(default, deserialize_with = "scalar::text")]
    pub shutdown_grace: Option<String>,
    /// Connect timeout to upstreams and platform endpoints.
    #[serde(default, deserialize_with = "scalar::text")]
    pub connect_timeout: Option<String>,
    /// Time until an upstream's response headers arrive.
    #[serde(default, deserialize_with = "scalar::text")]
    pub request_timeout: Option<String>,
    /// Bytes of request body kept so a request can be replayed once.
    #[serde(default, deserialize_with = "scalar::bytes")]
    pub retry_buffer: Option<u64>,
    /// "text" or "json".
    #[serde(default, deserialize_with = "scalar::text")]
    pub log_format: Option<String>,
    /// Largest request head (request line and headers) a client may send, in bytes.
    #[serde(default, deserialize_with = "scalar::bytes")]
    pub max_header_bytes: Option<u64>,
    /// How long a client may take to send its request head.
    #[serde(default, deserialize_with = "scalar::text")]
    pub header_read_timeout: Option<String>,
    /// Requests served at once by the proxy listener; more get 503.
    #[serde(default, deserialize_with = "scalar::count")]
    pub max_concurrent_requests: Option<u64>,
    /// More `Host` names both listeners answer (loopback and public_url's host always).
    #[serde(default)]
    pub allowed_hosts: Option<Vec<String>>,
    /// Browser origins allowed to call the proxy listener (CORS answered for them).
    #[serde(default)]
    pub allowed_origins: Option<Vec<String>>,
    /// Keep-alive connections idle this long are closed.
    #[serde(default, deserialize_with = "scalar::text")]
    pub idle_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    /// "file" (the default) or "redis".
    #[serde(default, deserialize_with = "scalar::text")]
    pub kind: Option<String>,
    /// The embedded store's JSON file.
    #[serde(default, deserialize_with = "scalar::text")]
    pub path: Option<String>,
    /// kind = "redis": redis://, rediss:// or redis+unix:// (may carry a password).
    #[serde(default, deserialize_with = "scalar::text")]
    pub url: Option<String>,
    /// kind = "redis": a file holding the URL instead.
    #[serde(default, deserialize_with = "scalar::text")]
    pub url_file: Option<String>,
    /// kind = "redis": every key written starts with "{key_prefix}:".
    #[serde(default, deserialize_with = "scalar::text")]
    pub key_prefix: Option<String>,
    /// kind = "redis": the lease of a refresh lock, renewed while the refresh runs.
    #[serde(default, deserialize_with = "scalar::text")]
    pub lock_ttl: Option<String>,
    /// Either kind: a file holding 32 random bytes (base64) that encrypt tokens at rest.
    #[serde(default, deserialize_with = "scalar::text")]
    pub encryption_key_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    /// Platform kind; defaults to the table's name when that is a kind.
    #[serde(default, deserialize_with = "scalar::text")]
    pub kind: Option<String>,
    /// OAuth client id.
    #[serde(default, deserialize_with = "scalar::text")]
    pub client_id: Option<String>,
    /// OAuth client secret.
    #[serde(default, deserialize_with = "scalar::text")]
    pub client_secret: Option<String>,
    /// A file holding the client secret instead.
    #[serde(default, deserialize_with = "scalar::text")]
    pub client_secret_file: Option<String>,
    /// Scopes requested by the login flow.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Scopes requested by client credentials.
    #[serde(default)]
    pub app_scopes: Option<Vec<String>>,
    /// Extra query parameters for the login redirect.
    #[serde(default)]
    pub authorize_params: Option<BTreeMap<String, String>>,
    /// Overrides the preset's authorization endpoint.
    #[serde(default, deserialize_with = "scalar::text")]
    pub authorize_url: Option<String>,
    /// Overrides the preset's token endpoint.
    #[serde(default, deserialize_with = "scalar::text")]
    pub token_url: Option<String>,
    /// Overrides the preset's refresh endpoint.
    #[serde(default, deserialize_with = "scalar::text")]
    pub refresh_url: Option<String>,
    /// Overrides the preset's token validation endpoint.
    #[serde(default, deserialize_with = "scalar::text")]
    pub validate_url: Option<String>,
    /// Overrides the preset's revocation endpoint.
    #[serde(default, deserialize_with = "scalar::text")]
    pub revoke_url: Option<String>,
    /// Overrides the preset's device authorization endpoint (RFC 8628); on an oauth2
    /// provider, setting it offers device-code logins.
    #[serde(default, deserialize_with = "scalar::text")]
    pub device_authorization_url: Option<String>,
    /// Extra trusted roots (PEM) for this provider's endpoints.
    #[serde(default, deserialize_with = "scalar::text")]
    pub ca_file: Option<String>,
    /// "body" (default) or "basic": how an oauth2 provider authenticates the client.
    #[serde(default, deserialize_with = "scalar::text")]
    pub client_auth: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    /// Requests whose path starts with this, at a segment boundary, take this route.
    #[serde(default, deserialize_with = "scalar::text")]
    pub prefix: Option<String>,
    /// Where they go; defaults to the provider kind's API base.
    #[serde(default, deserialize_with = "scalar::text")]
    pub upstream: Option<String>,
    /// The provider whose token is injected.
    #[serde(default, deserialize_with = "scalar::text")]
    pub provider: Option<String>,
    /// "app" (client credentials) or "user" (a stored user token).
    #[serde(default, deserialize_with = "scalar::text")]
    pub token: Option<String>,
    /// With token = "user": whose token; left out, `x-token-user` names it per request.
    #[serde(default, deserialize_with = "scalar::text")]
    pub user: Option<String>,
    /// More headers set on every forwarded request.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    /// Overrides server.request_timeout for this route.
    #[serde(default, deserialize_with = "scalar::text")]
    pub request_timeout: Option<String>,
    /// Extra trusted roots (PEM) for this upstream.
    #[serde(default, deserialize_with = "scalar::text")]
    pub ca_file: Option<String>,
    /// Largest request body accepted on this route, in bytes (413 beyond).
    #[serde(default, deserialize_with = "scalar::bytes")]
    pub max_body_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTokenFile {
    /// The provider whose token is kept in the file.
    #[serde(default, deserialize_with = "scalar::text")]
    pub provider: Option<String>,
    /// Whose token: a user's name, or "app".
    #[serde(default, deserialize_with = "scalar::text")]
    pub user: Option<String>,
    /// Where the file is kept (relative to the config file's directory).
    #[serde(default, deserialize_with = "scalar::text")]
    pub path: Option<String>,
    /// "token" (default), "irc" or "json".
    #[serde(default, deserialize_with = "scalar::text")]
    pub format: Option<String>,
}
