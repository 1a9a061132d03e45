//! The running proxy: no request target leads anywhere but under the route's upstream.

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};

use crate::harness::{raw, Proxy};
use crate::support::{FakePlatform, FakeUpstream, Kind};
use crate::*;

// ---------------------------------------------------------------------------------------
// The running proxy: no request target leads anywhere but under the route's upstream.

/// Path segments a client might use to climb out of a route.
const SEGMENTS: [&str; 12] = [
    "..",
    "..;",
    "%2e%2e;x",
    "..%00",
    "%2e%2e",
    "%2E%2e",
    "%252e%252e",
    ".",
    "a",
    "b%2fc",
    "%5c..",
    "x",
];

#[derive(Debug, Clone)]
enum Target {
    /// `/t/...` (routed) or `/...` (no route).
    Origin {
        routed: bool,
        segs: Vec<&'static str>,
        host: Host,
    },
    /// `http://HOST/t/...`.
    Absolute { at: Host, segs: Vec<&'static str> },
    /// `CONNECT HOST:PORT`.
    Connect { at: Host },
}

#[derive(Debug, Clone, Copy)]
enum Host {
    /// The proxy's own address.
    Proxy,
    /// Another listener on this machine that the proxy must never reach.
    Other,
    Evil,
}

fn host() -> impl Strategy<Value = Host> {
    prop::sample::select(vec![Host::Proxy, Host::Other, Host::Evil])
}

fn target() -> impl Strategy<Value = Target> {
    let segs = prop::collection::vec(prop::sample::select(SEGMENTS.to_vec()), 0..6);
    prop_oneof![
        6 => (any::<bool>(), segs.clone(), host()).prop_map(|(routed, segs, host)| {
            // No segments at all is `/`, which is not routed: covered by `/t` instead.
            Target::Origin { routed: routed || segs.is_empty(), segs, host }
        }),
        2 => (host(), segs).prop_map(|(at, segs)| Target::Absolute { at, segs }),
        1 => host().prop_map(|at| Target::Connect { at }),
    ]
}

struct World {
    proxy: Proxy,
    up: FakeUpstream,
    other: FakeUpstream,
    _fake: FakePlatform,
}

impl World {
    fn authority(&self, h: Host) -> String {
        match h {
            Host::Proxy => self.proxy.addr.to_string(),
            Host::Other => self.other.url("").trim_start_matches("http://").to_string(),
            Host::Evil => "evil.example".to_string(),
        }
    }

    fn path(routed: bool, segs: &[&str]) -> String {
        let joined = segs.join("/");
        match (routed, joined.is_empty()) {
            (true, true) => "/t".to_string(),
            (true, false) => format!("/t/{joined}"),
            (false, _) => format!("/{joined}"),
        }
    }

    /// Sends `t` and checks what came of it.
    async fn check(&self, t: &Target) -> Result<&'static str, TestCaseError> {
        let before = self.up.count();
        // A forward proxy's request forms are refused for their form (400), whatever host
        // they name; otherwise a Host we do not answer is refused before anything else (DNS
        // rebinding).
        let foreign = matches!(t, Target::Origin { host: Host::Evil, .. });
        let (request, path) = match t {
            Target::Origin { routed, segs, host } => {
                let path = Self::path(*routed, segs);
                let host = self.authority(*host);
                (
                    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
                    Some((*routed, path)),
                )
            }
            Target::Absolute { at, segs } => {
                let at = self.authority(*at);
                let path = Self::path(true, segs);
                (
                    format!("GET http://{at}{path} HTTP/1.1\r\nHost: {at}\r\nConnection: close\r\n\r\n"),
                    None,
                )
            }
            Target::Connect { at } => {
                let at = self.authority(*at);
                let at = if at.contains(':') { at } else { format!("{at}:443") };
                (
                    format!("CONNECT {at} HTTP/1.1\r\nHost: {at}\r\nConnection: close\r\n\r\n"),
                    None,
                )
            }
        };
        let answer = raw(self.proxy.addr, &request).await;
        let status = answer.split_whitespace().nth(1).unwrap_or("").to_string();
        let class = match &path {
            _ if foreign => "refused host",
            None => "refused target",
            Some((_, p)) if escapes_at_any_depth(p) => "refused path",
            Some((false, _)) => "no route",
            Some((true, _)) => "forwarded",
        };
        match path {
            _ if foreign => {
                prop_assert_eq!(status.as_str(), "403", "{:?} got {:?}", request, answer);
                prop_assert!(answer.contains("\"error\":\"host_not_allowed\""), "{answer}");
                prop_assert_eq!(self.up.count(), before, "{:?} reached the upstream", request);
            }
            None => {
                prop_assert_eq!(status.as_str(), "400", "{:?} got {:?}", request, answer);
                prop_assert!(answer.contains("\"error\":\"bad_request\""), "{answer}");
                prop_assert_eq!(self.up.count(), before, "{:?} reached the upstream", request);
            }
            Some((_, ref p)) if escapes_at_any_depth(p) => {
                prop_assert_eq!(status.as_str(), "400", "{:?} got {:?}", request, answer);
                prop_assert_eq!(self.up.count(), before, "{:?} reached the upstream", request);
            }
            Some((false, _)) => {
                prop_assert_eq!(status.as_str(), "404", "{:?} got {:?}", request, answer);
                prop_assert_eq!(self.up.count(), before, "{:?} reached the upstream", request);
            }
            Some((true, ref p)) => {
                prop_assert_eq!(status.as_str(), "200", "{:?} got {:?}", request, answer);
                prop_assert_eq!(self.up.count(), before + 1, "{:?}", request);
                let seen = self.up.last().expect("recorded");
                let rest = p.strip_prefix("/t").expect("routed");
                prop_assert_eq!(seen.path, format!("/api{rest}"), "{:?}", request);
                let own = self.up.url("");
                prop_assert_eq!(
                    seen.headers.get("host").and_then(|h| h.to_str().ok()),
                    Some(own.trim_start_matches("http://")),
                    "{:?}",
                    request
                );
            }
        }
        // Whatever was sent, everything the upstream ever saw is under its base path, and
        // nothing reached any other listener.
        for r in self.up.requests() {
            prop_assert!(!escapes_at_any_depth(&r.path), "the upstream saw {:?}", r.path);
            let resolved = resolved(&r.path);
            prop_assert!(
                resolved == "/api" || resolved.starts_with("/api/"),
                "the upstream saw {:?} ({resolved:?}), outside /api",
                r.path
            );
        }
        prop_assert_eq!(self.other.count(), 0, "the proxy connected to another listener");
        Ok(class)
    }
}

#[test]
fn no_request_target_leaves_the_routes_upstream_base_path() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let world = rt.block_on(async {
        let fake = FakePlatform::start(Kind::Twitch).await;
        let up = FakeUpstream::start().await;
        let other = FakeUpstream::start().await;
        let proxy = Proxy::with_route(&fake, "p", "", "/t", &up.url("/api"), "").await;
        proxy.ready().await;
        World {
            proxy,
            up,
            other,
            _fake: fake,
        }
    });
    let config = ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new(config);
    let seen = std::sync::Mutex::new(std::collections::BTreeMap::<&str, usize>::new());
    // One case of each outcome for certain; the random cases come on top.
    for t in [
        Target::Origin {
            routed: true,
            segs: vec!["x"],
            host: Host::Proxy,
        },
        Target::Origin {
            routed: false,
            segs: vec!["x"],
            host: Host::Proxy,
        },
        Target::Origin {
            routed: true,
            segs: vec!["%2e%2e", "x"],
            host: Host::Proxy,
        },
        Target::Absolute {
            at: Host::Other,
            segs: vec!["x"],
        },
        Target::Origin {
            routed: true,
            segs: vec!["x"],
            host: Host::Evil,
        },
    ] {
        let class = rt
            .block_on(world.check(&t))
            .unwrap_or_else(|e| panic!("{t:?}: {e}"));
        *seen.lock().unwrap().entry(class).or_default() += 1;
    }
    let outcome = runner.run(&target(), |t| {
        let class = rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(10), world.check(&t)).await })
            .map_err(|_| TestCaseError::fail(format!("{t:?}: no answer in time")))??;
        *seen.lock().unwrap().entry(class).or_default() += 1;
        Ok(())
    });
    let World { proxy, .. } = world;
    rt.block_on(proxy.stop());
    if let Err(e) = outcome {
        panic!("{e}");
    }
    // The cases covered every outcome.
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.len(), 5, "{seen:?}");
}

#[tokio::test]
async fn a_foreign_host_header_is_refused_and_a_listed_one_sees_the_upstreams_own() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start().await;
    let server = "allowed_hosts = [\"token-sidecar\"]";
    let proxy = Proxy::with_route(&fake, "p", server, "/t", &up.url("/api"), "").await;
    proxy.ready().await;
    let own = up.url("").trim_start_matches("http://").to_string();

    // A DNS-rebinding page's requests carry its own name: refused, nothing forwarded.
    let answer = raw(
        proxy.addr,
        "GET /t/x HTTP/1.1\r\nHost: evil.example\r\nX-Forwarded-Host: evil.example\r\n\
         Connection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(
        answer.contains("host_not_allowed") && answer.contains("server.allowed_hosts"),
        "{answer}"
    );
    assert_eq!(up.count(), 0);

    // A listed name is served, and the upstream sees its own Host, once.
    let answer = raw(
        proxy.addr,
        "GET /t/x HTTP/1.1\r\nHost: token-sidecar:8080\r\nX-Forwarded-Host: evil.example\r\n\
         Connection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(up.count(), 1, "the request went to the configured upstream");
    let seen = up.last().unwrap();
    assert_eq!(seen.path, "/api/x");
    assert_eq!(seen.headers.get_all("host").iter().count(), 1);
    assert_eq!(
        seen.headers["host"].to_str().unwrap(),
        own,
        "the upstream sees its own Host"
    );

    // Absolute-form naming evil.example is refused for its form, and never reaches anyone.
    let answer = raw(
        proxy.addr,
        "GET http://evil.example/t/x HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let answer = raw(
        proxy.addr,
        "GET http://evil.example/t/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(up.count(), 1);
    proxy.stop().await;
}
