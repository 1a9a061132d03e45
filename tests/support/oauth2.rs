//! Generic RFC 6749 provider: form bodies; client authentication in the body
//! or, with `basic`, only by HTTP Basic (RFC 6749 section 2.3.1: one method
//! per request); PKCE S256 on the code exchange; RFC 7009 revocation.

use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::AUTHORIZATION;
use hyper::http::request::Parts;
use hyper::{Method, Request};

use super::device;
use super::pkce::base64_std_decode;
use super::server::{Reply, Reset};
use super::shapes;
use super::state::Shared;
use super::token::check_client;
use super::token::GrantReq;
use super::wire::{
    bytes_reply, form_params, json, pair, read_body, split_spaces, Fields, PLATFORM_BODY_LIMIT,
};

/// Checks the client's authentication; returns the body fields it requires.
/// `public`: the client has no secret and names itself by `client_id` in the body alone.
fn client_auth(
    parts: &Parts,
    pairs: &[(String, String)],
    basic: bool,
    public: bool,
) -> Result<&'static [&'static str], String> {
    let header = parts.headers.get(AUTHORIZATION);
    if public {
        if header.is_some() {
            return Err("Authorization header sent by a public client".into());
        }
        if pair(pairs, "client_secret").is_some() {
            return Err("client_secret sent by a public client, which has none".into());
        }
        return Ok(&["client_id"]);
    }
    if !basic {
        if header.is_some() {
            return Err("Authorization header sent although the client authenticates in the body".into());
        }
        return Ok(&["client_id", "client_secret"]);
    }
    for name in ["client_id", "client_secret"] {
        if pair(pairs, name).is_some() {
            return Err(format!(
                "{name} in the body although the client authenticates with HTTP Basic"
            ));
        }
    }
    let value = header
        .and_then(|v| v.to_str().ok())
        .ok_or("missing Authorization: Basic header")?;
    let encoded = value
        .strip_prefix("Basic ")
        .ok_or_else(|| format!("Authorization {value:?} is not Basic"))?;
    let decoded = base64_std_decode(encoded).ok_or("Basic credentials are not valid base64")?;
    let text = String::from_utf8(decoded).map_err(|_| "Basic credentials are not UTF-8".to_string())?;
    let (id, secret) = text.split_once(':').ok_or("Basic credentials have no ':'")?;
    // RFC 6749 section 2.3.1: both parts are form-urlencoded before encoding.
    let unform = |s: &str| -> String {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    check_client(&unform(id), Some(&unform(secret)))?;
    Ok(&[])
}

pub fn parse_token(parts: &Parts, body: &[u8], basic: bool, public: bool) -> Result<GrantReq, String> {
    let pairs = form_params(parts, body)?;
    let auth = client_auth(parts, &pairs, basic, public)?;
    let grant_type = pair(&pairs, "grant_type").ok_or("missing parameter \"grant_type\"")?;
    let (required, optional): (&[&str], &[&str]) = match grant_type {
        "client_credentials" if public => {
            return Err("a public client has no client credentials grant".into())
        }
        "client_credentials" => (&["grant_type"], &["scope"]),
        device::GRANT => (&["grant_type", "device_code"], &[]),
        "authorization_code" => (&["grant_type", "code", "redirect_uri", "code_verifier"], &[]),
        "refresh_token" => (&["grant_type", "refresh_token"], &["scope"]),
        other => return Err(format!("unsupported grant_type {other:?}")),
    };
    let f = Fields::check(&pairs, &[required, auth].concat(), optional)?;
    if public || !basic {
        check_client(f.get("client_id"), f.opt("client_secret"))?;
    }
    if f.opt("scope").is_some_and(|s| s.contains(',')) {
        return Err("scope must be space-separated".into());
    }
    Ok(match grant_type {
        device::GRANT => GrantReq::DeviceCode {
            device_code: f.get("device_code").to_string(),
        },
        "client_credentials" => GrantReq::ClientCredentials {
            scopes: split_spaces(f.opt("scope")),
        },
        "authorization_code" => GrantReq::AuthorizationCode {
            code: f.get("code").to_string(),
            redirect_uri: f.get("redirect_uri").to_string(),
            verifier: Some(f.get("code_verifier").to_string()),
        },
        _ => GrantReq::Refresh {
            refresh_token: f.get("refresh_token").to_string(),
            redirect_uri: None,
        },
    })
}

/// POST /revoke (RFC 7009): form `token`, optional `token_type_hint`, client
/// authentication as for the token endpoint. Unknown tokens also get 200.
pub async fn revoke(shared: Arc<Shared>, req: Request<Incoming>, basic: bool) -> Result<Reply, Reset> {
    let what = "POST /revoke";
    let (parts, body) = req.into_parts();
    let public = shared.lock().public;
    let checked = match read_body(body, PLATFORM_BODY_LIMIT).await {
        Ok(body) if parts.method == Method::POST => check_revoke(&parts, &body, basic, public),
        Ok(_) => Err("method must be POST".into()),
        Err(e) => Err(e),
    };
    let token = match checked {
        Ok(token) => token,
        Err(reason) => {
            shared.reject(what, &reason);
            return Ok(json(400, &shapes::malformed(shared.kind, &reason)));
        }
    };
    {
        let mut st = shared.lock();
        st.revoked.push(token.clone());
        st.book.revoke(&token);
    }
    shared.notify();
    Ok(bytes_reply(200, "text/plain", Bytes::new()))
}

fn check_revoke(parts: &Parts, body: &[u8], basic: bool, public: bool) -> Result<String, String> {
    let pairs = form_params(parts, body)?;
    let auth = client_auth(parts, &pairs, basic, public)?;
    let f = Fields::check(&pairs, &[&["token"][..], auth].concat(), &["token_type_hint"])?;
    if public || !basic {
        check_client(f.get("client_id"), f.opt("client_secret"))?;
    }
    if let Some(hint) = f.opt("token_type_hint") {
        if hint != "access_token" && hint != "refresh_token" {
            return Err(format!(
                "token_type_hint {hint:?} is neither access_token nor refresh_token"
            ));
        }
    }
    Ok(f.get("token").to_string())
}

/// RFC 8628 §3.1: a device authorization request, `scope` optional, the client
/// authenticated as at the token endpoint. Returns the scope asked for.
pub fn device_authorization(
    parts: &Parts,
    body: &[u8],
    basic: bool,
    public: bool,
) -> Result<Option<String>, String> {
    let pairs = form_params(parts, body)?;
    let auth = client_auth(parts, &pairs, basic, public)?;
    let f = Fields::check(&pairs, auth, &["scope"])?;
    if public || !basic {
        check_client(f.get("client_id"), f.opt("client_secret"))?;
    }
    Ok(f.opt("scope").map(str::to_string))
}
