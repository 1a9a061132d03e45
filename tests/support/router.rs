//! Which handler answers which path, per kind (the real platforms' paths).

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::Request;

use super::kind::Kind;
use super::server::{Reply, Reset};
use super::state::Shared;
use super::token::Endpoint;
use super::wire::json;
use super::{authorize, blaze, device, oauth2, token, twitch};

pub fn token_path(kind: Kind) -> &'static str {
    match kind {
        Kind::Twitch | Kind::StreamerSonglist => "/oauth2/token",
        Kind::Blaze => "/bapi/oauth2/token",
        Kind::Glimesh => "/api/oauth/token",
        Kind::Firework => "/oauth/token",
        Kind::OAuth2 { .. } => "/token",
    }
}

pub fn authorize_path(kind: Kind) -> &'static str {
    match kind {
        Kind::Twitch | Kind::StreamerSonglist => "/oauth2/authorize",
        Kind::Blaze => "/bapi/oauth2/generate-auth-url",
        Kind::Glimesh | Kind::Firework => "/oauth/authorize",
        Kind::OAuth2 { .. } => "/authorize",
    }
}

pub async fn route(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Reply, Reset> {
    let kind = shared.kind;
    let path = req.uri().path().to_string();
    match (kind, path.as_str()) {
        (_, p) if p == token_path(kind) => token::handle(shared, req, Endpoint::Token).await,
        (Kind::Blaze, "/bapi/oauth2/refresh") => token::handle(shared, req, Endpoint::Refresh).await,
        (Kind::Blaze, "/bapi/oauth2/generate-auth-url") => blaze::generate_auth_url(shared, req).await,
        (Kind::Blaze, "/oauth2/authorize") => blaze::authorize(shared, req).await,
        (_, p) if p == authorize_path(kind) => authorize::handle(shared, req).await,
        (Kind::Twitch | Kind::OAuth2 { .. }, p) if p == device::path(kind) => {
            device::authorize(shared, req).await
        }
        (Kind::Twitch, "/oauth2/validate") => twitch::validate(shared, req).await,
        (Kind::Twitch, "/oauth2/revoke") => twitch::revoke(shared, req).await,
        (Kind::OAuth2 { basic }, "/revoke") => oauth2::revoke(shared, req, basic).await,
        _ => {
            shared.reject(&format!("{} {path}", req.method()), "no such endpoint");
            Ok(json(
                404,
                &serde_json::json!({"error": "not_found", "path": path}),
            ))
        }
    }
}
