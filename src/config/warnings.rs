//! What is valid but probably not what was meant: `check` prints it, and the proxy logs it at
//! start.

use std::fmt;

use url::Host;

use super::Config;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub key: &'static str,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl Config {
    /// The warnings for this configuration, with the admin listener on `admin_port` (the
    /// bound port once listening; 0, unknown, checks nothing that depends on it).
    pub fn warnings(&self, admin_port: u16) -> Vec<Warning> {
        let mut out = Vec::new();
        let s = &self.server;
        let url = &s.public_url;
        let loopback = match url.host() {
            Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(Host::Ipv4(ip)) => ip.is_loopback(),
            Some(Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        let port = url.port_or_known_default();
        if s.public_url_set && loopback && admin_port != 0 && port != Some(admin_port) {
            let fixed = {
                let mut u = url.clone();
                let _ = u.set_port(Some(admin_port));
                u.as_str().trim_end_matches('/').to_string()
            };
            out.push(Warning {
                key: "server.public_url",
                message: format!(
                    "{} is this machine's port {}, but the admin listener is on port {admin_port}: logins \
                     would send the browser back to the wrong port. Set public_url = \"{fixed}\", or \
                     remove it to follow admin_listen (unless a port-forward maps one to the other)",
                    url.as_str().trim_end_matches('/'),
                    port.map_or_else(|| "?".to_string(), |p| p.to_string()),
                ),
            });
        }
        if self.store.path_unread {
            out.push(Warning {
                key: "store.path",
                message: format!(
                    "is not read with kind = \"redis\": the tokens live in Redis. Remove it, or copy \
                     that file's tokens into Redis with `token-sidecar store import {}`",
                    self.store.path.display()
                ),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::config::from_toml;

    fn warnings(server: &str, port: u16) -> Vec<String> {
        let config = from_toml(&format!("[server]\n{server}\n"), std::path::Path::new(".")).expect("valid");
        config.warnings(port).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_loopback_public_url_on_another_port_is_warned_about() {
        let w = warnings(
            "admin_listen = \"127.0.0.1:9091\"\npublic_url = \"http://localhost:9090\"",
            9091,
        );
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("server.public_url: http://localhost:9090 "),
            "{w:?}"
        );
        assert!(w[0].contains("\"http://localhost:9091\""), "{w:?}");
        let w = warnings("public_url = \"http://127.0.0.1\"", 9090);
        assert_eq!(w.len(), 1, "port 80 is not 9090: {w:?}");
    }

    #[test]
    fn matching_ports_other_hosts_and_the_default_are_fine() {
        assert!(warnings(
            "admin_listen = \"127.0.0.1:9091\"\npublic_url = \"http://localhost:9091/\"",
            9091
        )
        .is_empty());
        assert!(warnings("public_url = \"https://sidecar.example.com\"", 9090).is_empty());
        assert!(warnings("admin_listen = \"127.0.0.1:9091\"", 9091).is_empty());
        assert!(warnings("public_url = \"http://localhost:9090\"", 0).is_empty());
    }

    #[test]
    fn a_store_path_beside_kind_redis_is_warned_about_not_refused() {
        let store = |extra: &str| -> Vec<String> {
            let text = format!("[store]\nkind = \"redis\"\nurl = \"redis://127.0.0.1:6379/0\"\n{extra}");
            let config = from_toml(&text, std::path::Path::new("/etc/sidecar")).expect("valid");
            config.warnings(9090).iter().map(ToString::to_string).collect()
        };
        let w = store("path = \"tokens.json\"\n");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("store.path: is not read with kind = \"redis\""),
            "{w:?}"
        );
        assert!(w[0].contains("store import /etc/sidecar/tokens.json"), "{w:?}");
        assert!(store("").is_empty());
        let file = from_toml("[store]\npath = \"tokens.json\"\n", std::path::Path::new(".")).expect("valid");
        assert!(file.warnings(9090).is_empty());
    }
}
