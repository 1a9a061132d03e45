//! `/admin/logins`: device-code logins through the admin API (the `login` command uses it),
//! and the start that the status page's "Connect with a code" shares with it.

use std::sync::{Arc, Weak};
use std::time::Duration;

use http::{Response, StatusCode};
use serde_json::{json, Value};

use super::login::{param, DEFAULT_USER};
use super::AdminBody;
use crate::error::json_error;
use crate::oauth::device_logins::{DeviceLogin, Install, StartError, MAX_PENDING_PER_PROVIDER};
use crate::proxy::token::valid_user;
use crate::Shared;

/// The longest `?wait=` a status request may hold the connection for.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// Why a device login could not start, as both the API and the page tell it.
pub enum Refusal {
    UnknownProvider,
    InvalidUser,
    Unsupported,
    TooMany,
    Platform(String),
}

impl Refusal {
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::UnknownProvider => StatusCode::NOT_FOUND,
            Refusal::InvalidUser | Refusal::Unsupported => StatusCode::BAD_REQUEST,
            Refusal::TooMany => StatusCode::TOO_MANY_REQUESTS,
            Refusal::Platform(_) => StatusCode::BAD_GATEWAY,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Refusal::UnknownProvider => "not_found",
            Refusal::InvalidUser => "bad_request",
            Refusal::Unsupported => "no_device_login",
            Refusal::TooMany => "too_many_logins",
            Refusal::Platform(_) => "login_failed",
        }
    }

    pub fn message(&self, provider: &str) -> String {
        match self {
            Refusal::UnknownProvider => format!("no provider named {provider:?} is configured"),
            Refusal::InvalidUser => "a user name is 1 to 128 letters, digits or _ . @ : -".into(),
            Refusal::Unsupported => format!(
                "provider {provider:?} has no device-code login: twitch has one; an oauth2 provider \
                 needs device_authorization_url"
            ),
            Refusal::TooMany => format!(
                "{provider} has {MAX_PENDING_PER_PROVIDER} device logins waiting already; finish one or wait until their codes expire"
            ),
            Refusal::Platform(why) => format!("{provider} did not hand out a code: {why}"),
        }
    }
}

/// Starts a device login of `user` at `provider`, or returns the one pending for them.
pub async fn start(shared: &Arc<Shared>, provider: &str, user: &str) -> Result<Arc<DeviceLogin>, Refusal> {
    let Some(p) = shared.snapshot.load().providers.get(provider).cloned() else {
        return Err(Refusal::UnknownProvider);
    };
    if !valid_user(user) {
        return Err(Refusal::InvalidUser);
    }
    let install = installer(Arc::downgrade(shared), provider, user);
    match shared
        .device_logins
        .begin(Arc::clone(&p.client), user, install)
        .await
    {
        Ok(login) => Ok(login),
        Err(StartError::Unsupported) => Err(Refusal::Unsupported),
        Err(StartError::TooMany) => Err(Refusal::TooMany),
        Err(StartError::Platform(e)) => {
            tracing::warn!(provider, subject = user, error = %e, "device login could not start");
            Err(Refusal::Platform(e.to_string()))
        }
    }
}

/// Installs an approved login's token as the callback does, in the provider that is
/// configured when the token arrives.
fn installer(shared: Weak<Shared>, provider: &str, user: &str) -> Install {
    let (provider, user) = (provider.to_string(), user.to_string());
    Box::new(move |token| {
        Box::pin(async move {
            let shared = shared.upgrade().ok_or("the proxy is shutting down")?;
            let snapshot = shared.snapshot.load_full();
            let Some(p) = snapshot.providers.get(&provider) else {
                return Err(format!("provider {provider:?} is no longer configured"));
            };
            let cell = p.user_or_insert(&user);
            // As the callback: a save that fails is retried in the background; the error
            // here is what the store could not recover from at all.
            cell.install_login(&p.client, token)
                .await
                .map(|_| ())
                .map_err(|e| format!("the token could not be stored: {e}"))
        })
    })
}

/// What the API says about a login.
pub fn describe(login: &DeviceLogin) -> Value {
    let outcome = login.outcome();
    let mut v = json!({
        "login_id": login.id,
        "provider": login.provider,
        "user": login.user,
        "status": outcome.state.as_str(),
        "user_code": login.user_code,
        "verification_uri": login.verification_uri,
        "expires_at": humantime::format_rfc3339_seconds(login.expires_at).to_string(),
    });
    if let Some(complete) = &login.verification_uri_complete {
        v["verification_uri_complete"] = json!(complete);
    }
    if let Some(reason) = outcome.reason {
        v["reason"] = json!(reason);
    }
    v
}

/// `POST /admin/logins/{provider}?user=NAME`.
pub async fn post(shared: &Arc<Shared>, provider: &str, query: Option<&str>) -> Response<AdminBody> {
    let provider = decode(provider);
    let user = param(query, "user")
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_USER.to_string());
    match start(shared, &provider, &user).await {
        Ok(login) => json(StatusCode::OK, &describe(&login)),
        Err(refusal) => json_error(
            refusal.status(),
            refusal.code(),
            &refusal.message(&provider),
            Default::default(),
        ),
    }
}

/// `GET /admin/logins/{login_id}[?wait=SECONDS]`: with `wait`, answers once the login has
/// ended or the wait is over, so a waiting client needs no polling rhythm of its own.
pub async fn get(shared: &Shared, id: &str, query: Option<&str>) -> Response<AdminBody> {
    let Some(login) = shared.device_logins.get(&decode(id)) else {
        return json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no device login with that id (an ended login is forgotten after 10 minutes)",
            Default::default(),
        );
    };
    let wait = param(query, "wait")
        .and_then(|w| w.parse::<u64>().ok())
        .map_or(Duration::ZERO, |s| Duration::from_secs(s).min(MAX_WAIT));
    if !wait.is_zero() {
        login.wait_ended(wait).await;
    }
    json(StatusCode::OK, &describe(&login))
}

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

fn json(status: StatusCode, value: &Value) -> Response<AdminBody> {
    let mut resp = Response::new(AdminBody::from(value.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}
