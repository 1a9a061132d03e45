//! The `Host` allow-list. A DNS-rebinding page reaches 127.0.0.1 under a name its attacker
//! controls, and its requests carry that name in `Host`; refusing names we do not know
//! defeats it. IP literals and `localhost` cannot be rebound.

use std::net::Ipv4Addr;

use http::{header, Request};

use crate::config::Server;

/// Which `Host` names a listener answers: loopback always, public_url's host, and
/// `server.allowed_hosts`. Built once per configuration.
#[derive(Debug, Clone, Default)]
pub struct HostPolicy {
    /// Lower-case names without port.
    extra: Vec<String>,
}

impl HostPolicy {
    pub fn new(server: &Server) -> Self {
        let mut extra = server.allowed_hosts.clone();
        if let Some(host) = server.public_url.host_str() {
            extra.push(host.to_ascii_lowercase());
        }
        extra.retain(|h| !is_loopback(h));
        extra.dedup();
        HostPolicy { extra }
    }

    /// Whether `req` names a host we answer. HTTP/2 carries it as `:authority` (in the URI);
    /// HTTP/1.1 in `Host`. A request with neither cannot come from a browser.
    pub fn allows<B>(&self, req: &Request<B>) -> bool {
        let host = match req.headers().get(header::HOST) {
            Some(value) => match value.to_str() {
                Ok(text) => text,
                Err(_) => return false,
            },
            None => match req.uri().authority() {
                Some(authority) => authority.as_str(),
                None => return true,
            },
        };
        self.allows_authority(host)
    }

    /// Whether `authority` (`name[:port]`, as in `Host`) is one we answer.
    pub fn allows_authority(&self, authority: &str) -> bool {
        let name = without_port(authority);
        is_loopback(name) || self.extra.iter().any(|h| h.eq_ignore_ascii_case(name))
    }
}

/// `localhost`, an IPv4 loopback literal, or `[::1]`.
fn is_loopback(name: &str) -> bool {
    // What nearly every request names, before parsing an address.
    name == "127.0.0.1"
        || name.eq_ignore_ascii_case("localhost")
        || name == "[::1]"
        || name.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// `host:port` → `host`; `[v6]:port` → `[v6]`.
fn without_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(end) => &authority[..=end],
            None => authority,
        };
    }
    // Bytes, not `rsplit_once(':')`: every request's `Host` comes through here, and the
    // char searcher costs more than the few bytes of a port.
    let bytes = authority.as_bytes();
    match bytes.iter().rposition(|&b| b == b':') {
        Some(colon) if bytes[colon + 1..].iter().all(u8::is_ascii_digit) => &authority[..colon],
        _ => authority,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(extra: &[&str]) -> HostPolicy {
        HostPolicy {
            extra: extra.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn loopback_names_are_always_answered() {
        let p = policy(&[]);
        for h in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1",
            "127.0.0.1:9090",
            "127.1.2.3:1",
            "[::1]",
            "[::1]:8080",
        ] {
            assert!(p.allows_authority(h), "{h}");
        }
    }

    #[test]
    fn other_names_are_refused_unless_listed() {
        let p = policy(&["token-sidecar"]);
        for h in [
            "evil.example",
            "evil.example:9090",
            "localhost.",
            "localhost.evil.example",
            "10.0.0.1:8080",
            "[::2]",
            "",
        ] {
            assert!(!p.allows_authority(h), "{h}");
        }
        assert!(p.allows_authority("token-sidecar:8080"));
        assert!(p.allows_authority("Token-Sidecar"));
    }

    #[test]
    fn strips_ports_only() {
        assert_eq!(without_port("a:80"), "a");
        assert_eq!(without_port("[::1]:80"), "[::1]");
        assert_eq!(without_port("a"), "a");
        assert_eq!(without_port("a:b"), "a:b");
    }
}
