//! The proxy's configuration for the demo: an ordinary TOML file's text, read and checked by
//! the same code as any `proxy.toml`, so what runs is the real thing.

use std::net::SocketAddr;
use std::path::Path;

use crate::config::{self, Config, ConfigError};
use crate::secret::ClientSecret;

use super::platform::CLIENT_ID;

/// The provider's name, and so the path of its login pages (`/oauth/demo/...`).
pub const PROVIDER: &str = "demo";
/// The route served with the app token.
pub const APP_ROUTE: &str = "/demo";
/// The route served with the user `default`'s token.
pub const USER_ROUTE: &str = "/demo-me";

/// Where the proxy listens and where the platform is.
pub struct Places<'a> {
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub platform: &'a str,
    pub store_dir: &'a Path,
}

pub fn text(places: &Places<'_>, secret: &ClientSecret) -> String {
    let Places {
        listen,
        admin_listen,
        platform,
        store_dir,
    } = places;
    let store = toml_string(&store_dir.join("tokens.json").to_string_lossy());
    let secret = toml_string(secret.secret());
    format!(
        r#"[server]
listen = "{listen}"
admin_listen = "{admin_listen}"
shutdown_grace = "2s"

[store]
path = {store}

[providers.{PROVIDER}]
kind = "oauth2"
client_id = "{CLIENT_ID}"
client_secret = {secret}
authorize_url = "{platform}/authorize"
token_url = "{platform}/token"
scopes = ["profile"]

[[routes]]
prefix = "{APP_ROUTE}"
provider = "{PROVIDER}"
upstream = "{platform}/api"
token = "app"

[[routes]]
prefix = "{USER_ROUTE}"
provider = "{PROVIDER}"
upstream = "{platform}/api"
token = "user"
user = "default"
"#
    )
}

/// A TOML basic string holding `s`.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn load(places: &Places<'_>, secret: &ClientSecret) -> Result<Config, ConfigError> {
    config::from_toml(&text(places, secret), places.store_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_configuration_is_valid_and_has_both_routes() {
        let dir = Path::new("/tmp/a \"quoted\" \\ dir");
        let places = Places {
            listen: "127.0.0.1:8080".parse().unwrap(),
            admin_listen: "127.0.0.1:9090".parse().unwrap(),
            platform: "http://127.0.0.1:4000",
            store_dir: dir,
        };
        let config = load(&places, &ClientSecret::new("s\"cret")).expect("valid");
        assert_eq!(config.store.path, dir.join("tokens.json"));
        let prefixes: Vec<&str> = config.routes.iter().map(|r| r.prefix.as_str()).collect();
        assert_eq!(prefixes, [APP_ROUTE, USER_ROUTE]);
        assert_eq!(
            config.providers[PROVIDER]
                .client_secret
                .as_ref()
                .map(|s| s.secret())
                .unwrap_or_default(),
            "s\"cret"
        );
    }
}
