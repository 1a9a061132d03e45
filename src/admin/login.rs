//! `/oauth/{provider}/login`: the browser's side of starting a login, with a page for every
//! refusal that says what to do next. The callback is in `callback`.

use std::sync::Arc;

use http::{header, HeaderMap, Response, StatusCode, Uri};
use maud::html;

use super::html::outcome;
use super::{browser, cookie, AdminBody};
use crate::oauth::login::{self, LoginError, MAX_PENDING_PER_PROVIDER, STATE_TTL};
use crate::oauth::Provider;
use crate::proxy::token::valid_user;
use crate::Shared;

/// The user a login is for when none is named.
pub const DEFAULT_USER: &str = "default";

pub(super) fn param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub(super) fn provider(shared: &Shared, name: &str) -> Option<Arc<Provider>> {
    shared.snapshot.load().providers.get(name).cloned()
}

pub(super) fn unknown_provider(name: &str) -> Response<AdminBody> {
    outcome(
        StatusCode::NOT_FOUND,
        false,
        "Unknown provider",
        html! { "No provider named " b { (name) } " is configured." },
        html! { "Check the [providers] tables of the configuration." },
    )
}

pub async fn start(shared: &Shared, name: &str, uri: &Uri, headers: &HeaderMap) -> Response<AdminBody> {
    if browser::from_another_site(headers) {
        // A page of another site navigated here: the platform may skip its consent screen
        // for an app it knows, so this would connect a token nobody asked for.
        return outcome(
            StatusCode::FORBIDDEN,
            false,
            "This login was started by another site",
            html! { "A login is only started from this proxy's own status page." },
            html! { "Open the " a href="/" { "status page" } " and connect from there." },
        );
    }
    let Some(provider) = provider(shared, name) else {
        return unknown_provider(name);
    };
    if provider.client.config.is_public() {
        // Exchanging a code needs the client secret a public client does not have.
        return outcome(
            StatusCode::BAD_REQUEST,
            false,
            "No browser login for this provider",
            html! { b { (name) } " is a public client (it has no client_secret): it connects users with a code." },
            html! {
                "Use " b { "Connect with a code" } " on the " a href="/" { "status page" }
                ", or run " code { "token-sidecar login " (name) } "."
            },
        );
    }
    let public_url = shared.snapshot.load().config.server.public_url.clone();
    if let Some(location) = browser::public_location(&public_url, uri, headers) {
        return browser::redirect(&location);
    }
    let user = param(uri.query(), "user")
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_USER.to_string());
    if !valid_user(&user) {
        return outcome(
            StatusCode::BAD_REQUEST,
            false,
            "Invalid user name",
            html! { "A user name is 1 to 128 letters, digits or " code { "_ . @ : -" } "." },
            html! { "Pick another name and connect again." },
        );
    }
    match login::begin(&provider.client, &shared.pending, &user).await {
        Ok(started) => {
            let mut resp = browser::redirect(started.url.as_str());
            let redirect_uri = &provider.client.config.redirect_uri;
            if let Some(set) = cookie::set(redirect_uri, &started.state, &started.binding) {
                resp.headers_mut().insert(header::SET_COOKIE, set);
            }
            resp
        }
        Err(LoginError::NoAuthorizeUrl) => outcome(
            StatusCode::BAD_REQUEST,
            false,
            "No login for this provider",
            html! { "Provider " b { (name) } " has no authorization endpoint." },
            html! { "Set its authorize_url in the configuration." },
        ),
        Err(LoginError::TooMany) => outcome(
            StatusCode::TOO_MANY_REQUESTS,
            false,
            "Too many logins at once",
            html! {
                (name) " has " (MAX_PENDING_PER_PROVIDER)
                " logins waiting for the platform to send the browser back; no more can start now."
            },
            html! {
                "Finish one of them, or wait: each unfinished login lapses "
                (STATE_TTL.as_secs() / 60) " minutes after it started."
            },
        ),
        Err(LoginError::Store(e)) => {
            tracing::warn!(provider = name, error = %e, "login could not start: the token store does not answer");
            outcome(
                StatusCode::SERVICE_UNAVAILABLE,
                false,
                "The login cannot start now",
                html! { "The token store (Redis), which keeps logins under way, does not answer." },
                html! { "Try again in a minute." },
            )
        }
        Err(e) => {
            tracing::warn!(provider = name, error = %e, "login could not start");
            outcome(
                StatusCode::BAD_GATEWAY,
                false,
                "The platform could not start the login",
                html! { (name) " did not hand out a login page." },
                html! { "Try again in a minute; if it keeps failing, check the client id, secret and redirect URI." },
            )
        }
    }
}
