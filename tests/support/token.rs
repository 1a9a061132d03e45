//! The token and refresh endpoints of every kind: count the attempt, check the
//! request's shape, apply the configured delay and failure, then grant or refuse.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::{Method, Request};

use super::kind::{Failure, Kind, CLIENT_ID, CLIENT_SECRET};
use super::server::{Reply, Reset};
use super::state::Shared;
use super::wire::{
    bytes_reply, json, random_string, read_body, split_commas, split_spaces, Fields, PLATFORM_BODY_LIMIT,
};
use super::{blaze, device, firework, glimesh, oauth2, shapes, ssl, twitch};

/// A token request, already checked for its shape by the platform's parser.
#[derive(Debug, Clone)]
pub enum GrantReq {
    ClientCredentials {
        scopes: Vec<String>,
    },
    AuthorizationCode {
        code: String,
        redirect_uri: String,
        verifier: Option<String>,
    },
    Refresh {
        refresh_token: String,
        /// Firework sends its redirect URI along; it must be the grant's.
        redirect_uri: Option<String>,
    },
    /// RFC 8628's device grant (twitch and oauth2).
    DeviceCode {
        device_code: String,
    },
}

impl GrantReq {
    pub fn grant_type(&self) -> &'static str {
        match self {
            GrantReq::ClientCredentials { .. } => "client_credentials",
            GrantReq::AuthorizationCode { .. } => "authorization_code",
            GrantReq::Refresh { .. } => "refresh_token",
            GrantReq::DeviceCode { .. } => "device_code",
        }
    }
}

/// Everything a successful token answer needs.
#[derive(Debug, Clone)]
pub struct Issued {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: u64,
    pub refresh_expires_in: u64,
    pub scopes: Vec<String>,
    pub user: Option<String>,
    pub user_id: Option<String>,
    pub created_at: SystemTime,
}

/// Which of a kind's endpoints was called (only blaze has a separate refresh one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Token,
    Refresh,
}

/// How an RFC 6749 platform joins scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeSep {
    Spaces,
    Commas,
}

/// The grant carried by already-checked RFC 6749 fields with the client id and secret in
/// the request (Twitch, Glimesh, StreamerSonglist): the client must be ours, and scopes
/// joined the platform's way.
pub fn rfc_grant(f: &Fields, grant_type: &str, sep: ScopeSep) -> Result<GrantReq, String> {
    // Callers list client_secret as required, except for a public client (which may not send it).
    check_client(f.get("client_id"), f.opt("client_secret"))?;
    let (wrong, name) = match sep {
        ScopeSep::Spaces => (',', "space-separated"),
        ScopeSep::Commas => (' ', "comma-separated"),
    };
    if f.opt("scope").is_some_and(|s| s.contains(wrong)) {
        return Err(format!("scope must be {name}"));
    }
    Ok(match grant_type {
        "client_credentials" => GrantReq::ClientCredentials {
            scopes: match sep {
                ScopeSep::Spaces => split_spaces(f.opt("scope")),
                ScopeSep::Commas => split_commas(f.opt("scope")),
            },
        },
        "authorization_code" => GrantReq::AuthorizationCode {
            code: f.get("code").to_string(),
            redirect_uri: f.get("redirect_uri").to_string(),
            verifier: None,
        },
        // None of these documents a redirect_uri check on refresh: tolerated, not compared.
        _ => GrantReq::Refresh {
            refresh_token: f.get("refresh_token").to_string(),
            redirect_uri: None,
        },
    })
}

/// Checks the client id and, when given, the secret.
pub fn check_client(id: &str, secret: Option<&str>) -> Result<(), String> {
    if id != CLIENT_ID {
        return Err(format!("unknown client id {id:?}"));
    }
    match secret {
        Some(s) if s != CLIENT_SECRET => Err("wrong client secret".into()),
        _ => Ok(()),
    }
}

fn parse(
    kind: Kind,
    endpoint: Endpoint,
    public: bool,
    parts: &Parts,
    body: &[u8],
) -> Result<GrantReq, String> {
    if parts.method != Method::POST {
        return Err(format!("method {}, expected POST", parts.method));
    }
    match kind {
        Kind::Twitch => twitch::parse_token(parts, body, public),
        Kind::Blaze => blaze::parse_token(parts, body, endpoint),
        Kind::Glimesh => glimesh::parse_token(parts, body),
        Kind::Firework => firework::parse_token(parts, body),
        Kind::StreamerSonglist => ssl::parse_token(parts, body),
        Kind::OAuth2 { basic } => oauth2::parse_token(parts, body, basic, public),
    }
}

pub async fn handle(shared: Arc<Shared>, req: Request<Incoming>, endpoint: Endpoint) -> Result<Reply, Reset> {
    let kind = shared.kind;
    shared.lock().attempts += 1;
    shared.notify();
    let what = format!("{} {}", req.method(), req.uri().path());
    let (parts, body) = req.into_parts();
    let raw = read_body(body, PLATFORM_BODY_LIMIT).await;
    let public = shared.lock().public;
    let parsed = match &raw {
        Ok(body) => parse(kind, endpoint, public, &parts, body),
        Err(e) => Err(e.clone()),
    };
    if let Ok(g) = &parsed {
        let credential = match g {
            GrantReq::Refresh { refresh_token, .. } => refresh_token.as_str(),
            other => other.grant_type(),
        };
        if !shared.gate.pass(g.grant_type(), credential).await {
            return Err(Reset);
        }
    }
    let delay = shared.lock().delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let grant = match parsed {
        Ok(grant) => grant,
        Err(reason) => {
            shared.reject(&what, &reason);
            return Ok(json(400, &shapes::malformed(kind, &reason)));
        }
    };
    if let GrantReq::AuthorizationCode {
        verifier: Some(v), ..
    } = &grant
    {
        shared.lock().last_code_verifier = Some(v.clone());
    }
    let grant_type = grant.grant_type();
    match shared.take_failure() {
        Failure::None => {}
        Failure::Status(status) => return Ok(json(status, &shapes::failure(kind, status))),
        Failure::Garbage => {
            let page = "<html><body><h1>502 Bad Gateway</h1></body></html>";
            return Ok(bytes_reply(200, "text/html", Bytes::from_static(page.as_bytes())));
        }
        Failure::Reset => return Err(Reset),
        Failure::Json(status, body) => {
            return Ok(bytes_reply(status, "application/json", Bytes::from(body)));
        }
        Failure::Echo(status) => {
            let body = raw.as_deref().map(String::from_utf8_lossy).unwrap_or_default();
            let echoed = format!("{} {body}", parts.uri.query().unwrap_or(""));
            let answer = serde_json::json!({"error": "invalid_request", "error_description": echoed});
            return Ok(json(status, &answer));
        }
        Failure::MissingField => {
            let mut answer = shapes::token_answer(kind, &unregistered(), grant_type);
            if let Some(map) = answer.as_object_mut() {
                map.remove(shapes::access_field(kind));
            }
            return Ok(json(200, &answer));
        }
        Failure::Huge => {
            let mut answer = shapes::token_answer(kind, &unregistered(), grant_type);
            if let Some(map) = answer.as_object_mut() {
                map.insert("padding".into(), "x".repeat(10 * 1024 * 1024).into());
            }
            return Ok(json(200, &answer));
        }
    }
    if let GrantReq::DeviceCode { device_code } = &grant {
        let reply = device::redeem(&shared, device_code);
        shared.notify();
        return Ok(reply);
    }
    let result = {
        let mut st = shared.lock();
        let life = shared.lifetimes(&st);
        let result = st.book.process(&grant, life, kind == Kind::Blaze);
        match &result {
            Ok(_) => *st.requests.entry(grant_type.to_string()).or_default() += 1,
            Err(reason) => {
                st.refused.push(format!("{grant_type}: {reason}"));
                if let GrantReq::Refresh { refresh_token, .. } = &grant {
                    st.refused_refresh.push(refresh_token.clone());
                }
            }
        }
        result
    };
    shared.notify();
    match result {
        Ok(issued) => Ok(json(200, &shapes::token_answer(kind, &issued, grant_type))),
        Err(reason) => Ok(json(400, &shapes::refused(kind, grant_type, &reason))),
    }
}

/// A complete-looking answer whose tokens this fake never accepts.
fn unregistered() -> Issued {
    Issued {
        access_token: format!("unregistered-{}", random_string(16)),
        refresh_token: Some(format!("unregistered-{}", random_string(16))),
        expires_in: 3600,
        refresh_expires_in: 600_000,
        scopes: Vec::new(),
        user: Some("fakeuser".into()),
        user_id: Some("0".into()),
        created_at: SystemTime::now(),
    }
}
