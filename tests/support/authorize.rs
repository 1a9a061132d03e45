//! The user-facing GET authorize page of twitch, glimesh, firework,
//! streamersonglist and oauth2: checks the query as the platform would and
//! answers as a user who approves (or, with `set_deny`, refuses).

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request};

use super::kind::{Kind, CLIENT_ID};
use super::pkce::check_challenge;
use super::pkce::Pkce;
use super::server::{Reply, Reset};
use super::shapes;
use super::state::Shared;
use super::wire::{
    check_redirect_uri, json, pair, query_pairs, redirect, split_commas, split_spaces, with_query,
};

/// What a valid authorize query asks for.
struct Ask {
    redirect_uri: url::Url,
    redirect_raw: String,
    state: String,
    scopes: Vec<String>,
    pkce: Pkce,
}

fn check(kind: Kind, pairs: &[(String, String)]) -> Result<Ask, String> {
    let known = [
        "response_type",
        "client_id",
        "redirect_uri",
        "state",
        "scope",
        "code_challenge",
        "code_challenge_method",
    ];
    for name in known {
        if pairs.iter().filter(|(k, _)| k == name).count() > 1 {
            return Err(format!("parameter {name:?} given twice"));
        }
    }
    let get = |name: &str| pair(pairs, name);
    match get("response_type") {
        Some("code") => {}
        other => return Err(format!("response_type must be \"code\", got {other:?}")),
    }
    match get("client_id") {
        Some(CLIENT_ID) => {}
        other => return Err(format!("unknown client_id {other:?}")),
    }
    let redirect_raw = get("redirect_uri").ok_or("missing redirect_uri")?.to_string();
    let redirect_uri = check_redirect_uri(&redirect_raw)?;
    let state = match get("state") {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => return Err("missing or empty state".into()),
    };
    let scope = get("scope");
    let scopes = match kind {
        Kind::Firework => match scope {
            Some("openid") => vec!["openid".to_string()],
            other => return Err(format!("scope must be exactly \"openid\", got {other:?}")),
        },
        Kind::StreamerSonglist => {
            let s = scope.ok_or("missing scope (comma-separated)")?;
            if s.contains(' ') {
                return Err(format!("scope {s:?} must be comma-separated"));
            }
            split_commas(Some(s))
        }
        _ => {
            if kind == Kind::Twitch && scope.is_none() {
                return Err("missing scope (space-separated)".into());
            }
            if scope.is_some_and(|s| s.contains(',')) {
                return Err(format!("scope {scope:?} must be space-separated"));
            }
            split_spaces(scope)
        }
    };
    let pkce = if let Kind::OAuth2 { .. } = kind {
        if get("code_challenge_method") != Some("S256") {
            return Err("code_challenge_method must be S256".into());
        }
        let challenge = get("code_challenge").ok_or("missing code_challenge")?;
        check_challenge(challenge)?;
        Pkce::Challenge(challenge.to_string())
    } else {
        for name in ["code_challenge", "code_challenge_method"] {
            if get(name).is_some() {
                return Err(format!("{name} is not a parameter of this platform"));
            }
        }
        Pkce::None
    };
    Ok(Ask {
        redirect_uri,
        redirect_raw,
        state,
        scopes,
        pkce,
    })
}

/// GET on the kind's authorize path.
pub async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Reply, Reset> {
    let kind = shared.kind;
    let what = format!("{} {}", req.method(), req.uri().path());
    let (parts, _body) = req.into_parts();
    let checked = if parts.method == Method::GET {
        query_pairs(&parts).and_then(|pairs| {
            shared.lock().last_authorize_query = pairs.clone();
            check(kind, &pairs)
        })
    } else {
        Err("method must be GET".into())
    };
    let ask = match checked {
        Ok(ask) => ask,
        Err(reason) => {
            shared.reject(&what, &reason);
            return Ok(json(400, &shapes::malformed(kind, &reason)));
        }
    };
    let code = {
        let mut st = shared.lock();
        if st.deny {
            None
        } else {
            let user = st.login_user.clone();
            Some(st.book.issue_code(&user, &ask.redirect_raw, ask.scopes, ask.pkce))
        }
    };
    shared.notify();
    let location = match code {
        Some(code) => with_query(&ask.redirect_uri, &[("code", &code), ("state", &ask.state)]),
        None => with_query(
            &ask.redirect_uri,
            &[
                ("error", "access_denied"),
                ("error_description", "The user denied access"),
                ("state", &ask.state),
            ],
        ),
    };
    // Firework documents a 301; the others answer 302.
    let status = if kind == Kind::Firework { 301 } else { 302 };
    Ok(redirect(status, &location))
}
