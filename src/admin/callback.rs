//! `/oauth/{provider}/callback`: where the platform sends the browser back. Checks the
//! state and the browser's binding before any code exchange, and answers a page for every
//! outcome that says what to do next.

use http::{header, HeaderMap, Response, StatusCode, Uri};
use maud::{html, Markup};

use super::html::{outcome, query_value};
use super::login::{param, provider, unknown_provider, DEFAULT_USER};
use super::{cookie, AdminBody};
use crate::oauth::login::{self, Pending, StateRefusal};
use crate::secret::AuthorizationCode;
use crate::Shared;

fn connect_again(name: &str, user: &str) -> Markup {
    let href = format!("/oauth/{}/login?user={}", query_value(name), query_value(user));
    html! { a.button href=(href) { "Connect again" } }
}

pub async fn callback(shared: &Shared, name: &str, uri: &Uri, headers: &HeaderMap) -> Response<AdminBody> {
    let query = uri.query();
    let Some(state) = param(query, "state").filter(|s| !s.is_empty()) else {
        // Still say what the platform said, if it said why it sent the browser back.
        let why = match param(query, "error") {
            Some(error) => format!(
                "The platform's answer carries no state; it answered {error}{}.",
                param(query, "error_description").map_or(String::new(), |d| format!(" ({d})"))
            ),
            None => "The platform's answer carries no state.".to_string(),
        };
        return refused(&why, connect_again(name, DEFAULT_USER));
    };
    let binding = cookie::binding(headers, &state);
    let pending = match shared.pending.take(&state, binding.as_deref()).await {
        Ok(p) => p,
        Err(StateRefusal::Expired) => {
            return refused(
                "This login took longer than 10 minutes.",
                connect_again(name, DEFAULT_USER),
            );
        }
        Err(StateRefusal::Unknown) => {
            return refused(
                "This login is unknown or was already used.",
                connect_again(name, DEFAULT_USER),
            );
        }
        Err(StateRefusal::OtherBrowser) => return other_browser(shared),
        Err(StateRefusal::Unavailable) => {
            // The login stays where it is: the same callback may be tried again.
            return outcome(
                StatusCode::SERVICE_UNAVAILABLE,
                false,
                "This login cannot be completed now",
                html! { "The token store (Redis), which keeps logins under way, does not answer." },
                html! { "Reload this page in a minute." },
            );
        }
    };
    let mut resp = finish(shared, name, query, &pending).await;
    // The login is over, whatever its outcome: its cookie goes.
    let public_url = &shared.snapshot.load().config.server.public_url;
    let redirect_uri = crate::config::redirect_uri(public_url, &pending.provider);
    if let Some(clear) = cookie::clear(&redirect_uri, &state) {
        resp.headers_mut().append(header::SET_COOKIE, clear);
    }
    resp
}

/// A callback without the cookie of the browser that started the login: someone else's
/// code may be riding the state, so nothing is exchanged, and the login stays pending for
/// the browser it belongs to.
fn other_browser(shared: &Shared) -> Response<AdminBody> {
    let public_url = shared.snapshot.load().config.server.public_url.to_string();
    outcome(
        StatusCode::BAD_REQUEST,
        false,
        "This login cannot be completed",
        html! {
            "This browser did not start this login: the cookie its start set did not come back. "
            "It was started in another browser, or at another address than " (public_url)
            ", or this browser blocks its cookies."
        },
        html! {
            "Open the status page at " a href=(public_url) { (public_url) }
            " in this browser and connect again."
        },
    )
}

async fn finish(shared: &Shared, name: &str, query: Option<&str>, pending: &Pending) -> Response<AdminBody> {
    let again = |user: &str| connect_again(name, user);
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
    match login::exchange(&provider.client, AuthorizationCode::new(code), pending).await {
        Ok(token) => {
            let cell = provider.user_or_insert(&pending.user);
            let token = match cell.install_login(&provider.client, token).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(provider = name, subject = %pending.user, error = %e, "the login's token was not kept");
                    return outcome(
                        StatusCode::CONFLICT,
                        false,
                        "The login was not kept",
                        html! { "The token of " b { (pending.user) } " was removed while the login was under way." },
                        again(&pending.user),
                    );
                }
            };
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
