//! Glimesh: every token parameter in the query string of a POST, no body.

use super::token::{rfc_grant, ScopeSep};
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
    rfc_grant(&f, grant_type, ScopeSep::Spaces)
}
