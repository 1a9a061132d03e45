//! Where a browser's request to the admin listener comes from: another site (Fetch
//! Metadata), and whether it reached the listener by a loopback name other than
//! `public_url`'s, where a login's cookie would not come back to the callback.

use http::uri::Authority;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode, Uri};
use std::net::IpAddr;
use url::Url;

use super::AdminBody;

/// Whether a browser says another site made this request (`Sec-Fetch-Site: cross-site` or
/// `same-site`). `same-origin`, `none` (typed, a bookmark) and no header at all (not a
/// browser, or one too old to say) are not refused.
pub fn from_another_site(headers: &HeaderMap) -> bool {
    headers.get("sec-fetch-site").is_some_and(|v| {
        v.as_bytes().eq_ignore_ascii_case(b"cross-site") || v.as_bytes().eq_ignore_ascii_case(b"same-site")
    })
}

fn is_loopback_name(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Where `public_url` sends this request instead, when a browser navigated to the listener
/// by a loopback name that is not `public_url`'s (say 127.0.0.1 while the platform sends the
/// browser back to localhost): cookies are per host, so a login must start on the host its
/// callback comes back to. Only between loopback names, so no proxy in front that rewrites
/// `Host` can make this loop; and only for a browser's navigation (`Sec-Fetch-Mode:
/// navigate`, which browsers send to loopback): a script, `curl` or a test client gets the
/// page or the platform's 302 where it asked, as the SPEC's table says.
pub fn public_location(public_url: &Url, uri: &Uri, headers: &HeaderMap) -> Option<String> {
    if public_url.scheme() != "http" || !public_url.host_str().is_some_and(is_loopback_name) {
        return None;
    }
    let navigation = headers
        .get("sec-fetch-mode")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"navigate"));
    if !navigation {
        return None;
    }
    let authority = match uri.authority() {
        Some(a) => a.clone(),
        None => {
            let host = headers.get(header::HOST)?.to_str().ok()?;
            host.parse::<Authority>().ok()?
        }
    };
    if !is_loopback_name(authority.host()) {
        return None;
    }
    let same_host = public_url
        .host_str()
        .is_some_and(|h| h.eq_ignore_ascii_case(authority.host()));
    let same_port = authority.port_u16().unwrap_or(80) == public_url.port_or_known_default().unwrap_or(80);
    if same_host && same_port {
        return None;
    }
    let base = public_url.as_str().trim_end_matches('/');
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    Some(format!("{base}{path}"))
}

/// A 302 to `location`.
pub fn redirect(location: &str) -> Response<AdminBody> {
    let mut resp = Response::new(AdminBody::default());
    *resp.status_mut() = StatusCode::FOUND;
    if let Ok(value) = HeaderValue::try_from(location) {
        resp.headers_mut().insert(header::LOCATION, value);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moved(public: &str, host: &str, path: &str) -> Option<String> {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::try_from(host).unwrap());
        headers.insert("sec-fetch-mode", HeaderValue::from_static("navigate"));
        let uri: Uri = path.parse().unwrap();
        public_location(&Url::parse(public).unwrap(), &uri, &headers)
    }

    #[test]
    fn another_loopback_name_goes_to_public_url() {
        let public = "http://localhost:9090";
        assert_eq!(
            moved(public, "127.0.0.1:9090", "/oauth/tw/login?user=a").as_deref(),
            Some("http://localhost:9090/oauth/tw/login?user=a")
        );
        assert_eq!(
            moved(public, "[::1]:9090", "/").as_deref(),
            Some("http://localhost:9090/")
        );
        assert_eq!(moved(public, "LOCALHOST:9090", "/"), None);
        assert_eq!(moved(public, "token-sidecar:9090", "/"), None);
        assert_eq!(moved("https://tokens.example", "127.0.0.1:9090", "/"), None);
        assert_eq!(moved("http://127.0.0.1", "127.0.0.1:80", "/"), None);
        assert_eq!(moved("http://127.0.0.1", "127.0.0.1", "/"), None);
    }

    #[test]
    fn only_a_browsers_navigation_is_moved() {
        let public = Url::parse("http://localhost:9090").unwrap();
        let uri: Uri = "/oauth/tw/login".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:9090"));
        assert_eq!(
            public_location(&public, &uri, &headers),
            None,
            "no Fetch Metadata"
        );
        headers.insert("sec-fetch-mode", HeaderValue::from_static("cors"));
        assert_eq!(
            public_location(&public, &uri, &headers),
            None,
            "a script's fetch()"
        );
        headers.insert("sec-fetch-mode", HeaderValue::from_static("navigate"));
        assert!(public_location(&public, &uri, &headers).is_some());
    }

    #[test]
    fn fetch_metadata_of_other_sites() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert("sec-fetch-site", HeaderValue::from_static(v));
            from_another_site(&h)
        };
        assert!(with("cross-site") && with("same-site"));
        assert!(!with("same-origin") && !with("none"));
        assert!(!from_another_site(&HeaderMap::new()));
    }
}
