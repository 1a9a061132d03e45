//! `/oauth/{provider}/login` and `/oauth/{provider}/callback`: the browser's side of the
//! login flow, with a page for every outcome that says what to do next.

use std::sync::Arc;

use http::{header, HeaderValue, Response, StatusCode};

use super::html::{escape, outcome, query_value};
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
        &format!("No provider named <b>{}</b> is configured.", escape(name)),
        "Check the [providers] tables of the configuration.",
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
            "A user name is 1 to 128 letters, digits or <code>_ . @ : -</code>.",
            "Pick another name and connect again.",
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
            &format!("Provider <b>{}</b> has no authorization endpoint.", escape(name)),
            "Set its authorize_url in the configuration.",
        ),
        Err(e) => {
            tracing::warn!(provider = name, error = %e, "login could not start");
            outcome(
                StatusCode::BAD_GATEWAY,
                false,
                "The platform could not start the login",
                &format!("{} did not hand out a login page.", escape(name)),
                "Try again in a minute; if it keeps failing, check the client id, secret and redirect URI.",
            )
        }
    }
}

pub async fn callback(shared: &Shared, name: &str, query: Option<&str>) -> Response<AdminBody> {
    let again = |user: &str| {
        format!(
            "<a class=\"button\" href=\"/oauth/{}/login?user={}\">Connect again</a>",
            escape(&query_value(name)),
            escape(&query_value(user))
        )
    };
    let Some(state) = param(query, "state").filter(|s| !s.is_empty()) else {
        return refused("The platform's answer carries no state.", &again(DEFAULT_USER));
    };
    let pending = match shared.pending.take(&state) {
        Ok(p) => p,
        Err(StateRefusal::Expired) => {
            return refused("This login took longer than 10 minutes.", &again(DEFAULT_USER));
        }
        Err(StateRefusal::Unknown) => {
            return refused("This login is unknown or was already used.", &again(DEFAULT_USER));
        }
    };
    if pending.provider != name {
        return refused(
            "This login was started for another provider.",
            &again(&pending.user),
        );
    }
    let Some(provider) = provider(shared, name) else {
        return unknown_provider(name);
    };
    if let Some(error) = param(query, "error") {
        let detail = format!(
            "{} answered <b>{}</b>{}; no token was stored for {}.",
            escape(name),
            escape(&error),
            param(query, "error_description")
                .map(|d| format!(" ({})", escape(&d)))
                .unwrap_or_default(),
            escape(&pending.user)
        );
        let title = if error == "access_denied" {
            "Access was denied"
        } else {
            "The login failed"
        };
        return outcome(
            StatusCode::BAD_REQUEST,
            false,
            title,
            &detail,
            &again(&pending.user),
        );
    }
    let Some(code) = param(query, "code").filter(|c| !c.is_empty()) else {
        return refused("The platform's answer carries no code.", &again(&pending.user));
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
                &format!(
                    "The token of <b>{}</b> at {} is stored (scopes: {}); it will be refreshed automatically.",
                    escape(&pending.user),
                    escape(name),
                    escape(&scopes)
                ),
                "You can close this page.",
            )
        }
        Err(e) => {
            tracing::warn!(provider = name, subject = %pending.user, error = %e, "code exchange failed");
            outcome(
                StatusCode::BAD_GATEWAY,
                false,
                "The code exchange failed",
                &format!("{} did not exchange the login for a token.", escape(name)),
                &again(&pending.user),
            )
        }
    }
}

fn refused(why: &str, next: &str) -> Response<AdminBody> {
    outcome(
        StatusCode::BAD_REQUEST,
        false,
        "This login cannot be completed",
        why,
        next,
    )
}
