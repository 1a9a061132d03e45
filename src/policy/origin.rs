//! Origins. A page's `fetch()` or form carries `Origin` (and, in current browsers,
//! `Sec-Fetch-Site`); a request from an app or a shell carries neither. The proxy listener
//! serves browsers only from origins the operator listed; the admin listener takes state
//! changes only from its own pages.

use http::header::{HeaderMap, HeaderValue, ORIGIN};
use http::Request;

const SEC_FETCH_SITE: http::HeaderName = http::HeaderName::from_static("sec-fetch-site");

/// What `Sec-Fetch-Site` says about where a request comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowserContext {
    /// Not a browser, an old browser, a typed URL or bookmark (`none`), or our own page.
    Local,
    /// `cross-site` or `same-site`: another site's page sent it.
    OtherSite,
}

impl BrowserContext {
    pub fn of(headers: &HeaderMap) -> Self {
        match headers.get(SEC_FETCH_SITE).map(HeaderValue::as_bytes) {
            Some(b"cross-site" | b"same-site") => BrowserContext::OtherSite,
            _ => BrowserContext::Local,
        }
    }
}

/// The proxy listener's answer to a request's origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginVerdict {
    /// No browser origin involved: an app, a script, a shell.
    Local,
    /// A page of a listed origin: served, with CORS answered for that origin.
    Listed(HeaderValue),
    /// Any other page: refused before anything is forwarded.
    Refused,
}

/// `server.allowed_origins`, as browsers serialize origins. Built once per configuration.
#[derive(Debug, Clone, Default)]
pub struct OriginPolicy {
    allowed: Vec<HeaderValue>,
}

impl OriginPolicy {
    pub fn new(allowed: &[String]) -> Self {
        OriginPolicy {
            allowed: allowed
                .iter()
                .filter_map(|o| HeaderValue::try_from(o.as_str()).ok())
                .collect(),
        }
    }

    /// A listed `Origin` is served whatever its `Sec-Fetch-Site`; any other `Origin` is
    /// refused; without one, a request another site's page sent is refused.
    pub fn check(&self, headers: &HeaderMap) -> OriginVerdict {
        match headers.get(ORIGIN) {
            Some(origin) => self
                .allowed
                .iter()
                .find(|a| a.as_bytes().eq_ignore_ascii_case(origin.as_bytes()))
                .map_or(OriginVerdict::Refused, |a| OriginVerdict::Listed(a.clone())),
            None if BrowserContext::of(headers) == BrowserContext::OtherSite => OriginVerdict::Refused,
            None => OriginVerdict::Local,
        }
    }
}

/// The admin listener's own origin: `public_url`'s, and the origin of the `Host` a request
/// was addressed to (already checked against the host allow-list, so a page served there
/// is ours).
#[derive(Debug, Clone)]
pub struct AdminOrigin {
    public: String,
}

impl AdminOrigin {
    pub fn new(public_url: &url::Url) -> Self {
        AdminOrigin {
            public: public_url.origin().ascii_serialization(),
        }
    }

    /// Whether a state-changing request (POST, DELETE) may come from where it came from.
    pub fn allows<B>(&self, req: &Request<B>) -> bool {
        let headers = req.headers();
        if BrowserContext::of(headers) == BrowserContext::OtherSite {
            return false;
        }
        let Some(origin) = headers.get(ORIGIN).and_then(|o| o.to_str().ok()) else {
            return true;
        };
        if origin.eq_ignore_ascii_case(&self.public) {
            return true;
        }
        let host = headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()));
        host.is_some_and(|h| {
            origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                .is_some_and(|rest| rest.eq_ignore_ascii_case(h))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn apps_without_origin_are_local() {
        let p = OriginPolicy::new(&[]);
        assert_eq!(p.check(&headers(&[])), OriginVerdict::Local);
        assert_eq!(
            p.check(&headers(&[("sec-fetch-site", "same-origin")])),
            OriginVerdict::Local
        );
        assert_eq!(
            p.check(&headers(&[("sec-fetch-site", "none")])),
            OriginVerdict::Local
        );
    }

    #[test]
    fn other_sites_are_refused() {
        let p = OriginPolicy::new(&["http://localhost:3000".into()]);
        assert_eq!(
            p.check(&headers(&[("origin", "https://evil.example")])),
            OriginVerdict::Refused
        );
        assert_eq!(p.check(&headers(&[("origin", "null")])), OriginVerdict::Refused);
        assert_eq!(
            p.check(&headers(&[("sec-fetch-site", "cross-site")])),
            OriginVerdict::Refused
        );
        assert_eq!(
            p.check(&headers(&[("sec-fetch-site", "same-site")])),
            OriginVerdict::Refused
        );
    }

    #[test]
    fn listed_origins_are_served_whatever_sec_fetch_site() {
        let p = OriginPolicy::new(&["http://localhost:3000".into()]);
        let h = headers(&[
            ("origin", "http://localhost:3000"),
            ("sec-fetch-site", "cross-site"),
        ]);
        assert!(matches!(p.check(&h), OriginVerdict::Listed(o) if o == "http://localhost:3000"));
    }

    #[test]
    fn admin_changes_come_from_its_own_pages_only() {
        let a = AdminOrigin::new(&url::Url::parse("http://localhost:9090").unwrap());
        let req = |pairs: &[(&'static str, &'static str)]| {
            let mut r = Request::new(());
            *r.headers_mut() = headers(pairs);
            r
        };
        assert!(a.allows(&req(&[])));
        assert!(a.allows(&req(&[("origin", "http://localhost:9090")])));
        assert!(a.allows(&req(&[
            ("origin", "http://127.0.0.1:9091"),
            ("host", "127.0.0.1:9091")
        ])));
        assert!(!a.allows(&req(&[("origin", "https://evil.example")])));
        assert!(!a.allows(&req(&[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:9090")
        ])));
        assert!(!a.allows(&req(&[("sec-fetch-site", "cross-site")])));
        assert!(!a.allows(&req(&[
            ("sec-fetch-site", "same-site"),
            ("origin", "http://localhost:9090")
        ])));
    }
}
