//! Request-parsing and answer-building helpers shared by the fakes. Nothing
//! here panics on request input: every problem comes back as an `Err(reason)`.

use std::collections::HashMap;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, LOCATION};
use hyper::http::request::Parts;
use hyper::{Response, StatusCode};
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::Value;

use super::server::Reply;

/// Token endpoints get small bodies; anything bigger is refused.
pub const PLATFORM_BODY_LIMIT: usize = 64 * 1024;

pub fn json(status: u16, value: &Value) -> Reply {
    bytes_reply(status, "application/json", Bytes::from(value.to_string()))
}

pub fn bytes_reply(status: u16, content_type: &'static str, body: Bytes) -> Reply {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// A redirect (`status` 301 or 302) to `location`.
pub fn redirect(status: u16, location: &str) -> Reply {
    let mut resp = bytes_reply(status, "text/plain", Bytes::new());
    match HeaderValue::from_str(location) {
        Ok(v) => {
            resp.headers_mut().insert(LOCATION, v);
            resp
        }
        Err(_) => json(
            400,
            &serde_json::json!({"error": "invalid_request", "error_description": "bad redirect"}),
        ),
    }
}

/// Reads the whole body, refusing more than `limit` bytes.
pub async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, String> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => Err(format!("could not read the request body: {e}")),
    }
}

/// The media type of the request (lowercase, parameters stripped), if any.
pub fn media_type(parts: &Parts) -> Option<String> {
    let raw = parts.headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let main = raw.split(';').next().unwrap_or("").trim();
    Some(main.to_ascii_lowercase())
}

/// Decodes `application/x-www-form-urlencoded` text (a body or a query).
pub fn decode_form(raw: &[u8]) -> Result<Vec<(String, String)>, String> {
    let text = std::str::from_utf8(raw).map_err(|_| "parameters are not UTF-8".to_string())?;
    if text.trim_start().starts_with('{') || text.trim_start().starts_with('[') {
        return Err("parameters look like JSON, expected form encoding".into());
    }
    for piece in text.split('&').filter(|p| !p.is_empty()) {
        if !piece.contains('=') {
            return Err(format!("parameter without '=': {piece:?}"));
        }
    }
    Ok(url::form_urlencoded::parse(raw)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

/// The query string's parameters (empty when there is no query).
pub fn query_pairs(parts: &Parts) -> Result<Vec<(String, String)>, String> {
    decode_form(parts.uri.query().unwrap_or("").as_bytes())
}

/// Parameters checked against the exact set a platform accepts.
#[derive(Debug, Default, Clone)]
pub struct Fields {
    map: HashMap<String, String>,
}

impl Fields {
    /// Refuses duplicates, missing `required` names, and names in neither list.
    pub fn check(pairs: &[(String, String)], required: &[&str], optional: &[&str]) -> Result<Fields, String> {
        let mut map = HashMap::new();
        for (k, v) in pairs {
            if !required.contains(&k.as_str()) && !optional.contains(&k.as_str()) {
                return Err(format!("unexpected parameter {k:?}"));
            }
            if map.insert(k.clone(), v.clone()).is_some() {
                return Err(format!("parameter {k:?} given twice"));
            }
        }
        for name in required {
            if !map.contains_key(*name) {
                return Err(format!("missing parameter {name:?}"));
            }
        }
        Ok(Fields { map })
    }

    /// A parameter's value ("" when absent; `check` guarantees required ones).
    pub fn get(&self, name: &str) -> &str {
        self.map.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn opt(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }
}

/// The value of one parameter in a list of pairs (the first one).
pub fn pair<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Checks that `value` is an absolute http(s) URL.
pub fn check_redirect_uri(value: &str) -> Result<url::Url, String> {
    let parsed = url::Url::parse(value).map_err(|e| format!("redirect_uri {value:?}: {e}"))?;
    if parsed.scheme() != "http" && parsed.scheme() != "https" {
        return Err(format!("redirect_uri {value:?} is not http(s)"));
    }
    if parsed.fragment().is_some() {
        return Err(format!("redirect_uri {value:?} has a fragment"));
    }
    Ok(parsed)
}

/// `base` with `params` appended to its query.
pub fn with_query(base: &url::Url, params: &[(&str, &str)]) -> String {
    let mut out = base.clone();
    {
        let mut q = out.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    out.to_string()
}

/// Turns a JSON body into an object, refusing anything else.
pub fn json_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("JSON body is not an object".into()),
        Err(e) => Err(format!("body is not JSON: {e}")),
    }
}

/// Checks a JSON object's keys like `Fields::check` and that every value is a
/// string, except the keys in `string_arrays`, which must be arrays of strings.
pub fn check_json(
    map: &serde_json::Map<String, Value>,
    required: &[&str],
    optional: &[&str],
    string_arrays: &[&str],
) -> Result<Fields, String> {
    let mut pairs = Vec::new();
    for (k, v) in map {
        if string_arrays.contains(&k.as_str()) {
            let ok = v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
            if !ok {
                return Err(format!("{k:?} must be an array of strings"));
            }
            pairs.push((k.clone(), String::new()));
        } else if let Some(s) = v.as_str() {
            pairs.push((k.clone(), s.to_string()));
        } else {
            return Err(format!("{k:?} must be a string, got {v}"));
        }
    }
    Fields::check(&pairs, required, optional)
}

/// The parameters of a form-encoded POST body (and none in the query).
pub fn form_params(parts: &Parts, body: &[u8]) -> Result<Vec<(String, String)>, String> {
    match media_type(parts).as_deref() {
        Some("application/x-www-form-urlencoded") => {}
        Some(other) => {
            return Err(format!(
                "content-type {other:?}, expected application/x-www-form-urlencoded"
            ))
        }
        None => return Err("no content-type, expected application/x-www-form-urlencoded".into()),
    }
    if parts.uri.query().is_some_and(|q| !q.is_empty()) {
        return Err("parameters in the query string, expected them in the form body".into());
    }
    decode_form(body)
}

/// The parameters of a POST that carries them all in the query string.
pub fn query_params(parts: &Parts, body: &[u8]) -> Result<Vec<(String, String)>, String> {
    if !body.is_empty() {
        return Err("request has a body, expected every parameter in the query string".into());
    }
    query_pairs(parts)
}

/// Scopes joined by spaces ("+" in a form is already a space here).
pub fn split_spaces(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Scopes joined by commas.
pub fn split_commas(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or("")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// A random alphanumeric string (tokens, codes, states, verifiers).
pub fn random_string(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}
