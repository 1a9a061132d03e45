//! Glimesh: every token parameter in the query string of a POST, no body.

use hyper::http::request::Parts;

use super::token::check_client;
use super::token::GrantReq;
use super::wire::{pair, query_params, split_spaces, Fields};

pub fn parse_token(parts: &Parts, body: &[u8]) -> Result<GrantReq, String> {
    let pairs = query_params(parts, body)?;
    let grant_type = pair(&pairs, "grant_type").ok_or("missing parameter \"grant_type\"")?;
    let base = ["grant_type", "client_id", "client_secret"];
    let f = match grant_type {
        "client_credentials" => Fields::check(&pairs, &base, &["scope"])?,
        "authorization_code" => Fields::check(&pairs, &[&base[..], &["code", "redirect_uri"]].concat(), &[])?,
        "refresh_token" => Fields::check(
            &pairs,
            &[&base[..], &["refresh_token"]].concat(),
            &["redirect_uri"],
        )?,
        other => return Err(format!("unsupported grant_type {other:?}")),
    };
    check_client(f.get("client_id"), Some(f.get("client_secret")))?;
    if f.opt("scope").is_some_and(|s| s.contains(',')) {
        return Err("scope must be space-separated".into());
    }
    Ok(match grant_type {
        "client_credentials" => GrantReq::ClientCredentials {
            scopes: split_spaces(f.opt("scope")),
        },
        "authorization_code" => GrantReq::AuthorizationCode {
            code: f.get("code").to_string(),
            redirect_uri: f.get("redirect_uri").to_string(),
            verifier: None,
        },
        // Glimesh documents no redirect_uri check on refresh: accepted, not compared.
        _ => GrantReq::Refresh {
            refresh_token: f.get("refresh_token").to_string(),
            redirect_uri: None,
        },
    })
}
