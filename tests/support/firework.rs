//! Firework: token parameters in the query string of a POST; no client
//! credentials grant; refresh carries `redirect_uri` and no client secret.

use hyper::http::request::Parts;

use super::token::check_client;
use super::token::GrantReq;
use super::wire::{pair, query_params, Fields};

pub fn parse_token(parts: &Parts, body: &[u8]) -> Result<GrantReq, String> {
    let pairs = query_params(parts, body)?;
    let grant_type = pair(&pairs, "grant_type").ok_or("missing parameter \"grant_type\"")?;
    match grant_type {
        "authorization_code" => {
            let required = ["grant_type", "redirect_uri", "client_id", "client_secret", "code"];
            let f = Fields::check(&pairs, &required, &[])?;
            check_client(f.get("client_id"), Some(f.get("client_secret")))?;
            Ok(GrantReq::AuthorizationCode {
                code: f.get("code").to_string(),
                redirect_uri: f.get("redirect_uri").to_string(),
                verifier: None,
            })
        }
        "refresh_token" => {
            if pair(&pairs, "client_secret").is_some() {
                return Err("client_secret must not be sent with grant_type=refresh_token".into());
            }
            let required = ["grant_type", "redirect_uri", "client_id", "refresh_token"];
            let f = Fields::check(&pairs, &required, &[])?;
            check_client(f.get("client_id"), None)?;
            Ok(GrantReq::Refresh {
                refresh_token: f.get("refresh_token").to_string(),
                redirect_uri: Some(f.get("redirect_uri").to_string()),
            })
        }
        "client_credentials" => Err("firework has no client credentials grant".into()),
        other => Err(format!("unsupported grant_type {other:?}")),
    }
}
