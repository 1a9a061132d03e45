//! The cookie that binds a login to the browser that started it: set by
//! `/oauth/{provider}/login`, brought back to the callback (SameSite=Lax lets it ride the
//! platform's top-level redirect), sent nowhere else (Path), unreadable by scripts (HttpOnly).
//! Each login has its own cookie, named after its state, so several logins can run at once in
//! one browser.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use cookie::{Cookie, SameSite};
use http::{header, HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};
use url::Url;

use crate::oauth::login::STATE_TTL;
use crate::secret::LoginBinding;

/// The cookie name of the login of `state`: a state can hold any character (Blaze makes its
/// own), a cookie name cannot.
fn name(state: &str) -> String {
    let hash = Sha256::digest(state.as_bytes());
    format!("login-{}", URL_SAFE_NO_PAD.encode(&hash[..12]))
}

/// The directory of the provider's callback, `{public_url's path}/oauth/{provider}/`.
fn path(callback: &Url) -> String {
    match callback.path().rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/"),
        None => "/".into(),
    }
}

fn build(redirect_uri: &str, state: &str, value: &str, max_age: i64) -> Option<HeaderValue> {
    let callback = Url::parse(redirect_uri).ok()?;
    let cookie = Cookie::build((name(state), value.to_string()))
        .path(path(&callback))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(callback.scheme() == "https")
        .max_age(cookie::time::Duration::seconds(max_age))
        .build();
    HeaderValue::try_from(cookie.to_string()).ok()
}

/// `Set-Cookie` for a login just started; `redirect_uri` is its provider's callback.
pub fn set(redirect_uri: &str, state: &str, binding: &LoginBinding) -> Option<HeaderValue> {
    let ttl = i64::try_from(STATE_TTL.as_secs()).unwrap_or(600);
    build(redirect_uri, state, binding.secret(), ttl)
}

/// `Set-Cookie` that removes the cookie of a login that is over.
pub fn clear(redirect_uri: &str, state: &str) -> Option<HeaderValue> {
    build(redirect_uri, state, "", 0)
}

/// The binding the request brings back for the login of `state`, if any.
pub fn binding(headers: &HeaderMap, state: &str) -> Option<String> {
    let wanted = name(state);
    // HTTP/2 may split cookies over several header fields.
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == wanted)
        .map(|c| c.value().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_cookie_comes_back_and_only_for_its_state() {
        let callback = "https://sidecar.example/base/oauth/tw/callback";
        let value = LoginBinding::new("b1nd");
        let header = set(callback, "st/ate;1", &value).unwrap();
        let text = header.to_str().unwrap();
        for part in [
            "=b1nd",
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Path=/base/oauth/tw/",
            "Max-Age=600",
        ] {
            assert!(text.contains(part), "{part} in {text}");
        }
        let pair = text.split(';').next().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("other=1"));
        headers.append(
            header::COOKIE,
            HeaderValue::try_from(format!("x=2; {pair}")).unwrap(),
        );
        assert_eq!(binding(&headers, "st/ate;1").as_deref(), Some("b1nd"));
        assert_eq!(binding(&headers, "another"), None);
        let http = set("http://localhost:9090/oauth/tw/callback", "s", &value).unwrap();
        assert!(!http.to_str().unwrap().contains("Secure"), "{http:?}");
        let gone = clear(callback, "st/ate;1").unwrap();
        assert!(gone.to_str().unwrap().contains("Max-Age=0"), "{gone:?}");
    }
}
