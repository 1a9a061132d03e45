//! `/oauth/{provider}/login` and `/oauth/{provider}/callback`: the browser's side of the
//! login flow, with a page for every outcome that says what to do next.

use std::sync::Arc;

use http::{header, HeaderValue, Response, StatusCode};

use maud::{html, Markup};

use super::html::{outcome, query_value};
use super::AdminBody;
use crate::oauth::login::{self, LoginError, StateRefusal};
use crate::oauth::Provider;
use crate::proxy::token::valid_user;
use crate::secret::AuthorizationCode;
use crate::Shared;

/// The user a login is for when none is named.
pub const DEFAULT_USER: &str = "default";

fn param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn provider(shared: &Shared, name: &str) -> Option<Arc<Provider>> {
    shared.snapshot.load().providers.get(name).cloned()
}

fn unknown_provider(name: &str) -> Response<AdminBody> {
    outcome(
        StatusCode::NOT_FOUND,
        false,
        "Unknown provider",
        html! { "No provider named " b { (name) } " is configured." },
        html! { "Check the [providers] tables of the configuration." },
    )
}

pub async fn start(shared: &Shared, name: &str, query: Option<&str>) -> Response<AdminBody> {
    let Some(provider) = provider(shared, name) else {
        return unknown_provider(name);
    };
    let user = param(query, "user")
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
        Ok(url) => {
            let mut resp = Response::new(AdminBody::default());
            *resp.status_mut() = StatusCode::FOUND;
            if let Ok(location) = HeaderValue::try_from(url.as_str()) {
                resp.headers_mut().insert(header::LOCATION, location);
            }
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(LoginError::NoAuthorizeUrl) => outcome(
            StatusCode::BAD_REQUEST,
            false,
            "No login for this provider",
            html! { "Provider " b { (name) } " has no authorization endpoint." },
            html! { "Set its authorize_url in the configuration." },
        ),
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

pub async fn callback(shared: &Shared, name: &str, query: Option<&str>) -> Response<AdminBody> {
    let again = |user: &str| {
        let href = format!("/oauth/{}/login?user={}", query_value(name), query_value(user));
        html! { a.button href=(href) { "Connect again" } }
    };
    let Some(state) = param(query, "state").filter(|s| !s.is_empty()) else {
        return refused("The platform's answer carries no state.", again(DEFAULT_USER));
    };
    let pending = match shared.pending.take(&state) {
        Ok(p) => p,
        Err(StateRefusal::Expired) => {
            return refused("This login took longer than 10 minutes.", again(DEFAULT_USER));
        }
        Err(StateRefusal::Unknown) => {
            return refused("This login is unknown or was already used.", again(DEFAULT_USER));
        }
    };
    if pending.provider != name {
        return refused(
            "This login was started for another provider.",
            again(&pending.user),
        );
    }
    let Some(provider) = provider(shared, name) else {
        return unknown_provider(name);
    };
    if let Some(error) = param(query, "error") {
        let description = param(query, "error_description");
        let detail = html! {
            (name) " answered " b { (error) }
            @if let Some(d) = description { " (" (d) ")" }
            "; no token was stored for " (pending.user) "."
        };
        let title = if error == "access_denied" {
            "Access was denied"
        } else {
            "The login failed"
        };
        return outcome(
            StatusCode::BAD_REQUEST,
            false,
            title,
            detail,
            again(&pending.user),
        );
    }
    let Some(code) = param(query, "code").filter(|c| !c.is_empty()) else {
        return refused("The platform's answer carries no code.", again(&pending.user));
    };
    match login::exchange(&provider.client, AuthorizationCode::new(code), &pending).await {
        Ok(token) => {
            let cell = provider.user_or_insert(&pending.user);
            let token = cell.install_login(&provider.client, token).await;
            tracing::info!(provider = name, subject = %pending.user, "user connected");
            let scopes = if token.scopes.is_empty() {
                "none reported".to_string()
            } else {
                token.scopes.join(", ")
            };
            outcome(
                StatusCode::OK,
                true,
                "Connected",
                html! {
                    "The token of " b { (pending.user) } " at " (name) " is stored (scopes: " (scopes)
                    "); it will be refreshed automatically."
                },
                html! { "You can close this page." },
            )
        }
        Err(e) => {
            tracing::warn!(provider = name, subject = %pending.user, error = %e, "code exchange failed");
            outcome(
                StatusCode::BAD_GATEWAY,
                false,
                "The code exchange failed",
                html! { (name) " did not exchange the login for a token." },
                again(&pending.user),
            )
        }
    }
}

fn refused(why: &str, next: Markup) -> Response<AdminBody> {
    outcome(
        StatusCode::BAD_REQUEST,
        false,
        "This login cannot be completed",
        html! { (why) },
        next,
    )
}
