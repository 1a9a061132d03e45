//! `/authorize`: the page where the person approves or denies the proxy's login, and the
//! redirect back to the proxy with a code (or `error=access_denied`), as RFC 6749 §4.1 has it.

use std::collections::HashMap;

use http::{Response, StatusCode};
use maud::{html, Markup, DOCTYPE};
use url::Url;

use super::grants::Login;
use super::platform::{page, see_other, Body, Platform, CLIENT_ID, PERSON};

const STYLE: &str =
    "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#222}\
    h1{font-size:1.3rem}code{background:#eee;padding:0 .2rem}\
    button{font-size:1rem;padding:.5rem 1.2rem;margin-right:.5rem;cursor:pointer}\
    .approve{background:#2b7a0b;color:#fff;border:0;border-radius:4px}";

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (maud::PreEscaped(STYLE)) }
            }
            body { h1 { (title) } (body) }
        }
    }
}

fn refused(why: &str) -> Response<Body> {
    let body = html! {
        p { (why) }
        p { "Start the login again from the proxy's status page." }
    };
    page(StatusCode::BAD_REQUEST, layout("This login cannot go on", body))
}

/// GET `/authorize`: checks the request, then asks the person.
pub fn ask(platform: &Platform, query: Option<&str>) -> Response<Body> {
    let q: HashMap<String, String> = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    // Until the client and its redirect URI are known good, errors are shown here: sending
    // the browser to an unchecked redirect URI would make this an open redirector.
    if get("client_id") != CLIENT_ID {
        return refused("This application is not registered at the demo platform.");
    }
    let Some(registered) = platform.redirect_uri() else {
        return refused("The application has no redirect URI registered yet.");
    };
    if get("redirect_uri") != registered {
        return refused("The redirect_uri is not the one registered for this application.");
    }
    let Ok(back) = Url::parse(registered) else {
        return refused("The registered redirect URI is not a URL.");
    };
    let state = q.get("state").cloned();
    let fail = |error: &str, description: &str| {
        redirect_with(
            &back,
            &[("error", error), ("error_description", description)],
            &state,
        )
    };
    if get("response_type") != "code" {
        return fail(
            "unsupported_response_type",
            "only response_type=code is supported",
        );
    }
    if get("code_challenge").is_empty() || get("code_challenge_method") != "S256" {
        return fail(
            "invalid_request",
            "PKCE with code_challenge_method=S256 is required",
        );
    }
    let scope = get("scope").to_string();
    let login = Login::new(
        registered.to_string(),
        state,
        get("code_challenge").to_string(),
        scope.clone(),
    );
    // The login's id is unguessable and good for one answer, so it doubles as the form's
    // protection against cross-site submission.
    let id = platform.grants.await_answer(login);
    let lifetime = platform.token_lifetime.as_secs();
    let body = html! {
        p { "You are signed in as " b { (PERSON) } " (this platform's only account)." }
        p {
            b { "token-sidecar demo" } " asks to act on your behalf"
            @if !scope.is_empty() { " with the scopes " code { (scope) } }
            ". It will get a token that lasts " (lifetime) " seconds and a refresh token to renew it."
        }
        form method="post" action="/authorize" {
            input type="hidden" name="login" value=(id);
            button class="approve" type="submit" name="decision" value="approve" { "Approve" }
            button type="submit" name="decision" value="deny" { "Deny" }
        }
    };
    page(StatusCode::OK, layout("Demo platform: approve access?", body))
}

/// POST `/authorize`: the person's answer, sent back to the proxy's callback.
pub fn answer(platform: &Platform, form: &HashMap<String, String>) -> Response<Body> {
    let id = form.get("login").map(String::as_str).unwrap_or("");
    let Some(login) = platform.grants.answered(id) else {
        return refused("This login was already answered, or waited longer than 10 minutes.");
    };
    let Ok(back) = Url::parse(&login.redirect_uri) else {
        return refused("The registered redirect URI is not a URL.");
    };
    if form.get("decision").map(String::as_str) == Some("approve") {
        let code = platform.grants.code_for(&login);
        tracing::info!(person = PERSON, "demo platform: access approved");
        redirect_with(&back, &[("code", &code)], &login.state)
    } else {
        redirect_with(
            &back,
            &[
                ("error", "access_denied"),
                ("error_description", "the person denied access"),
            ],
            &login.state,
        )
    }
}

fn redirect_with(back: &Url, params: &[(&str, &str)], state: &Option<String>) -> Response<Body> {
    let mut url = back.clone();
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
        if let Some(s) = state {
            q.append_pair("state", s);
        }
    }
    see_other(&url)
}
