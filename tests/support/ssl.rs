//! StreamerSonglist: form-encoded token calls; client credentials must carry
//! `scope` (possibly empty); scopes are joined by commas.

use super::token::{rfc_grant, ScopeSep};
use hyper::http::request::Parts;

use super::token::check_client;
use super::token::GrantReq;
use super::wire::{form_params, pair, split_commas, Fields};

pub fn parse_token(parts: &Parts, body: &[u8]) -> Result<GrantReq, String> {
    let pairs = form_params(parts, body)?;
    let grant_type = pair(&pairs, "grant_type").ok_or("missing parameter \"grant_type\"")?;
    let base = ["client_id", "client_secret", "grant_type"];
    let f = match grant_type {
        "client_credentials" => Fields::check(&pairs, &[&base[..], &["scope"]].concat(), &[])?,
        "authorization_code" => Fields::check(&pairs, &[&base[..], &["code", "redirect_uri"]].concat(), &[])?,
        // Not documented beyond "grant_type=refresh_token": RFC 6749 section 6
        // with client authentication; redirect_uri and scope tolerated.
        "refresh_token" => Fields::check(
            &pairs,
            &[&base[..], &["refresh_token"]].concat(),
            &["redirect_uri", "scope"],
        )?,
        other => return Err(format!("unsupported grant_type {other:?}")),
    };
    rfc_grant(&f, grant_type, ScopeSep::Commas)
}
