//! Blaze: camelCase JSON bodies; POST /bapi/oauth2/generate-auth-url hands out
//! `{url, state, codeVerifier}`; the browser's GET /oauth2/authorize?state=...
//! approves; /bapi/oauth2/token and /bapi/oauth2/refresh grant.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::{Method, Request};
use serde_json::{json, Value};

use super::pkce::Pkce;
use super::server::{Reply, Reset};
use super::shapes;
use super::state::{BlazeAuth, Shared};
use super::token::GrantReq;
use super::token::{check_client, Endpoint};
use super::wire::random_string;
use super::wire::{
    check_json, check_redirect_uri, json, json_object, media_type, query_pairs, read_body, redirect,
    with_query, Fields, PLATFORM_BODY_LIMIT,
};

fn json_body(parts: &Parts, body: &[u8]) -> Result<serde_json::Map<String, Value>, String> {
    match media_type(parts).as_deref() {
        Some("application/json") => {}
        other => return Err(format!("content-type {other:?}, expected application/json")),
    }
    if parts.uri.query().is_some_and(|q| !q.is_empty()) {
        return Err("parameters in the query string, expected a JSON body".into());
    }
    json_object(body)
}

pub fn parse_token(parts: &Parts, body: &[u8], endpoint: Endpoint) -> Result<GrantReq, String> {
    let map = json_body(parts, body)?;
    let creds = ["clientId", "clientSecret"];
    if endpoint == Endpoint::Refresh {
        let f = check_json(&map, &[&creds[..], &["refreshToken"]].concat(), &[], &[])?;
        check_client(f.get("clientId"), Some(f.get("clientSecret")))?;
        return Ok(GrantReq::Refresh {
            refresh_token: f.get("refreshToken").to_string(),
            redirect_uri: None,
        });
    }
    let grant_type = match map.get("grantType") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(format!("\"grantType\" must be a string, got {other}")),
        None => return Err("missing field \"grantType\"".into()),
    };
    let f: Fields = match grant_type.as_str() {
        "client_credentials" => check_json(&map, &[&creds[..], &["grantType"]].concat(), &[], &[])?,
        "authorization_code" => {
            let required = [&creds[..], &["code", "codeVerifier", "redirectUri", "grantType"]].concat();
            check_json(&map, &required, &[], &[])?
        }
        "refresh_token" => return Err("refresh goes to /bapi/oauth2/refresh, not the token endpoint".into()),
        other => return Err(format!("unsupported grantType {other:?}")),
    };
    check_client(f.get("clientId"), Some(f.get("clientSecret")))?;
    Ok(if grant_type == "client_credentials" {
        GrantReq::ClientCredentials { scopes: Vec::new() }
    } else {
        GrantReq::AuthorizationCode {
            code: f.get("code").to_string(),
            redirect_uri: f.get("redirectUri").to_string(),
            verifier: Some(f.get("codeVerifier").to_string()),
        }
    })
}

/// POST /bapi/oauth2/generate-auth-url.
pub async fn generate_auth_url(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Reply, Reset> {
    let what = "POST /bapi/oauth2/generate-auth-url";
    let (parts, body) = req.into_parts();
    let checked = match read_body(body, PLATFORM_BODY_LIMIT).await {
        Ok(body) if parts.method == Method::POST => check_generate(&parts, &body),
        Ok(_) => Err("method must be POST".into()),
        Err(e) => Err(e),
    };
    let (redirect_uri, scopes) = match checked {
        Ok(found) => found,
        Err(reason) => {
            shared.reject(what, &reason);
            return Ok(json(400, &shapes::malformed(shared.kind, &reason)));
        }
    };
    let state = random_string(32);
    let code_verifier = random_string(64);
    {
        let mut st = shared.lock();
        let mut query = vec![
            ("clientId".to_string(), super::kind::CLIENT_ID.to_string()),
            ("redirectUri".to_string(), redirect_uri.clone()),
        ];
        query.extend(scopes.iter().map(|s| ("scopes".to_string(), s.clone())));
        st.last_authorize_query = query;
        st.blaze_verifiers.push(code_verifier.clone());
        let auth = BlazeAuth {
            redirect_uri,
            code_verifier: code_verifier.clone(),
            scopes,
        };
        st.blaze_auths.push((state.clone(), auth));
    }
    shared.notify();
    let url = shared.url(&format!("/oauth2/authorize?state={state}"));
    Ok(json(
        200,
        &json!({"url": url, "state": state, "codeVerifier": code_verifier}),
    ))
}

fn check_generate(parts: &Parts, body: &[u8]) -> Result<(String, Vec<String>), String> {
    let map = json_body(parts, body)?;
    let f = check_json(
        &map,
        &["clientId", "clientSecret", "redirectUri"],
        &["scopes"],
        &["scopes"],
    )?;
    check_client(f.get("clientId"), Some(f.get("clientSecret")))?;
    check_redirect_uri(f.get("redirectUri"))?;
    let scopes = map
        .get("scopes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default();
    Ok((f.get("redirectUri").to_string(), scopes))
}

/// GET /oauth2/authorize?state=...: the user approves (or, with `set_deny`,
/// refuses) and is sent back to the redirect URI given to generate-auth-url.
pub async fn authorize(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Reply, Reset> {
    let what = "GET /oauth2/authorize";
    let (parts, _body) = req.into_parts();
    let checked = if parts.method == Method::GET {
        query_pairs(&parts).and_then(|p| Fields::check(&p, &["state"], &[]))
    } else {
        Err("method must be GET".into())
    };
    let state = match checked {
        Ok(f) => f.get("state").to_string(),
        Err(reason) => {
            shared.reject(what, &reason);
            return Ok(json(400, &shapes::malformed(shared.kind, &reason)));
        }
    };
    let found = {
        let mut st = shared.lock();
        let pos = st
            .blaze_auths
            .iter()
            .position(|(s, _)| *s == state && !s.is_empty());
        let auth = pos.map(|i| st.blaze_auths.remove(i).1);
        auth.map(|auth| {
            let code = if st.deny {
                None
            } else {
                let user = st.login_user.clone();
                let pkce = Pkce::Verifier(auth.code_verifier.clone());
                Some(
                    st.book
                        .issue_code(&user, &auth.redirect_uri, auth.scopes.clone(), pkce),
                )
            };
            (auth, code)
        })
    };
    let Some((auth, code)) = found else {
        let reason = "unknown or already used state";
        shared.reject(what, reason);
        return Ok(json(400, &shapes::malformed(shared.kind, reason)));
    };
    shared.notify();
    let Ok(base) = check_redirect_uri(&auth.redirect_uri) else {
        return Ok(json(400, &shapes::malformed(shared.kind, "bad redirect uri")));
    };
    let location = match code {
        Some(code) => with_query(&base, &[("code", &code), ("state", &state)]),
        None => with_query(
            &base,
            &[
                ("error", "access_denied"),
                ("error_description", "The user denied access"),
                ("state", &state),
            ],
        ),
    };
    Ok(redirect(302, &location))
}
