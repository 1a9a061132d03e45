//! "Connect with a code" on the status page: `POST /oauth/{provider}/device` (a same-origin
//! form) starts a device login, or finds the one pending for that user, and sends the
//! browser to `GET /oauth/{provider}/device?login=ID`, which shows the code and the URL and
//! reloads itself until the person has answered.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Response, StatusCode, Uri};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use maud::{html, Markup};

use super::html::{outcome, query_value, refreshing_page};
use super::login::{param, DEFAULT_USER};
use super::logins;
use super::{browser, AdminBody};
use crate::oauth::device_logins::{DeviceLogin, State};
use crate::Shared;

/// A form body is a user name; anything longer is not one.
const MAX_FORM: usize = 4096;
const FORM_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the waiting page reloads.
const REFRESH_SECONDS: u32 = 3;

fn again(name: &str, user: &str) -> Markup {
    html! {
        form method="post" action={ "/oauth/" (query_value(name)) "/device" } {
            input type="hidden" name="user" value=(user);
            button type="submit" { "Get a new code" }
        }
    }
}

/// `POST /oauth/{provider}/device`, form `user`.
pub async fn start(shared: &Arc<Shared>, name: &str, body: Incoming) -> Response<AdminBody> {
    let form = tokio::time::timeout(FORM_TIMEOUT, Limited::new(body, MAX_FORM).collect()).await;
    let Ok(Ok(form)) = form else {
        return outcome(
            StatusCode::BAD_REQUEST,
            false,
            "This form could not be read",
            html! { "The form's content did not arrive whole." },
            html! { "Go back to the " a href="/" { "status page" } " and try again." },
        );
    };
    let form: Bytes = form.to_bytes();
    let user = url::form_urlencoded::parse(&form)
        .find(|(k, _)| k == "user")
        .map(|(_, v)| v.trim().to_string())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_USER.to_string());
    match logins::start(shared, name, &user).await {
        Ok(login) => {
            let mut resp = browser::redirect(&format!(
                "/oauth/{}/device?login={}",
                query_value(name),
                query_value(&login.id)
            ));
            // After a POST, the browser fetches the page with GET.
            *resp.status_mut() = StatusCode::SEE_OTHER;
            resp
        }
        Err(refusal) => outcome(
            refusal.status(),
            false,
            "No code could be had",
            html! { (refusal.message(name)) },
            html! { "Go back to the " a href="/" { "status page" } "." },
        ),
    }
}

/// `GET /oauth/{provider}/device?login=ID`.
pub fn show(shared: &Shared, name: &str, uri: &Uri) -> Response<AdminBody> {
    let login = param(uri.query(), "login").and_then(|id| shared.device_logins.get(&id));
    let Some(login) = login.filter(|l| l.provider == name) else {
        return outcome(
            StatusCode::NOT_FOUND,
            false,
            "This code login is unknown",
            html! { "It was never started here, or it ended more than 10 minutes ago." },
            html! { "Start one from the " a href="/" { "status page" } "." },
        );
    };
    let outcome_now = login.outcome();
    let reason = outcome_now.reason.unwrap_or_default();
    let user = login.user.as_str();
    match outcome_now.state {
        State::Pending => waiting(&login),
        State::Connected => outcome(
            StatusCode::OK,
            true,
            "Connected",
            html! { "The token of " b { (user) } " at " (name) " is stored; it will be refreshed automatically." },
            html! { "You can close this page." },
        ),
        State::Denied => outcome(
            StatusCode::OK,
            false,
            "Access was denied",
            html! { (name) " says: " (reason) ". No token was stored for " (user) "." },
            again(name, user),
        ),
        State::Expired => outcome(
            StatusCode::OK,
            false,
            "The code expired",
            html! { "Nobody entered the code in time (" (reason) "). No token was stored for " (user) "." },
            again(name, user),
        ),
        State::Failed => outcome(
            StatusCode::OK,
            false,
            "The login failed",
            html! { (reason) },
            html! { "Check the provider's client_id and settings, then " (again(name, user)) },
        ),
    }
}

/// The code, where to enter it, and how long it lasts; reloads until the login ends.
fn waiting(login: &DeviceLogin) -> Response<AdminBody> {
    let left = login
        .expires_at
        .duration_since(SystemTime::now())
        .unwrap_or_default()
        .as_secs();
    let body = html! {
        div.card.result {
            h1 { "Connect " (login.user) " at " (login.provider) }
            p { "Open " a href=(login.verification_uri) target="_blank" rel="noopener noreferrer" { (login.verification_uri) }
                " on any device, sign in as the account to connect, and enter this code:" }
            p.code { (login.user_code) }
            @if let Some(complete) = &login.verification_uri_complete {
                p { "Or open " a href=(complete) target="_blank" rel="noopener noreferrer" { "this link" } ", which has the code filled in." }
            }
            p.sub {
                "The code expires in " (left / 60) " min " (left % 60) " s. This page updates itself every "
                (REFRESH_SECONDS) " seconds until you have answered."
            }
            p { a href="/" { "Back to the token overview" } }
        }
    };
    refreshing_page(StatusCode::OK, "Connect with a code", body, REFRESH_SECONDS)
}
