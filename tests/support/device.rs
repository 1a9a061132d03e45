//! Device-code logins (RFC 8628) as Twitch (`POST /oauth2/device`, form `client_id` and
//! `scopes`; errors as `{"status": 400, "message": CODE}`) and a plain oauth2 server
//! (`POST /device`, RFC 8628 names and errors) run them: codes that expire, a person who
//! approves or denies (steered by the test), and a token endpoint that answers
//! `authorization_pending`, `slow_down` (also to a poll sooner than the interval, which it
//! records as a rejected request), `access_denied`, `expired_token`, and refuses a
//! `device_code` it does not know or already redeemed.

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Method, Request};
use serde_json::{json, Value};
use tokio::time::Instant;

use super::kind::Kind;
use super::oauth2;
use super::server::{Reply, Reset};
use super::shapes;
use super::state::{Shared, St};
use super::token::check_client;
use super::wire::{form_params, json, random_string, read_body, split_spaces, Fields, PLATFORM_BODY_LIMIT};

pub const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// RFC 8628 §3.5.
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Pending,
    Approved(String),
    Denied,
    Redeemed,
}

#[derive(Debug, Clone)]
pub struct Device {
    pub user_code: String,
    pub scopes: Vec<String>,
    pub issued: Instant,
    pub expires_in: Duration,
    /// The interval the client must keep now (grown by each `slow_down`).
    pub interval: Duration,
    pub last_poll: Option<Instant>,
    pub answer: Answer,
}

pub fn path(kind: Kind) -> &'static str {
    match kind {
        Kind::Twitch => "/oauth2/device",
        _ => "/device",
    }
}

/// The device authorization endpoint.
pub async fn authorize(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Reply, Reset> {
    let what = format!("{} {}", req.method(), req.uri().path());
    let (parts, body) = req.into_parts();
    let public = shared.lock().public;
    let checked = match read_body(body, PLATFORM_BODY_LIMIT).await {
        Ok(body) if parts.method == Method::POST => match shared.kind {
            Kind::Twitch => form_params(&parts, &body)
                .and_then(|p| Fields::check(&p, &["client_id", "scopes"], &[]))
                .and_then(|f| {
                    check_client(f.get("client_id"), None)?;
                    scopes(f.opt("scopes"))
                }),
            Kind::OAuth2 { basic } => oauth2::device_authorization(&parts, &body, basic, public)
                .and_then(|scope| scopes(scope.as_deref())),
            _ => Err("no device authorization endpoint".into()),
        },
        Ok(_) => Err("method must be POST".into()),
        Err(e) => Err(e),
    };
    let scopes = match checked {
        Ok(s) => s,
        Err(reason) => {
            shared.reject(&what, &reason);
            return Ok(json(400, &error(shared.kind, "invalid_request", &reason)));
        }
    };
    let device_code = format!("dc-{}", random_string(24));
    let user_code = random_string(8).to_uppercase();
    let (interval, expires_in) = {
        let mut st = shared.lock();
        let device = Device {
            user_code: user_code.clone(),
            scopes,
            issued: Instant::now(),
            expires_in: Duration::from_secs(st.device_expires_in),
            interval: Duration::from_secs(st.device_interval),
            last_poll: None,
            answer: Answer::Pending,
        };
        st.devices.insert(device_code.clone(), device);
        (st.device_interval, st.device_expires_in)
    };
    shared.notify();
    let mut answer = json!({
        "device_code": device_code,
        "user_code": user_code,
        "expires_in": expires_in,
        "interval": interval,
    });
    if shared.kind == Kind::Twitch {
        let uri = shared.url(&format!("/activate?public=true&device-code={user_code}"));
        answer["verification_uri"] = json!(uri);
    } else {
        answer["verification_uri"] = json!(shared.url("/device/verify"));
        answer["verification_uri_complete"] =
            json!(shared.url(&format!("/device/verify?user_code={user_code}")));
    }
    Ok(json(200, &answer))
}

fn scopes(scope: Option<&str>) -> Result<Vec<String>, String> {
    if scope.is_some_and(|s| s.contains(',')) {
        return Err("scopes must be space-separated".into());
    }
    Ok(split_spaces(scope))
}

enum Step {
    Unknown,
    Used,
    Expired,
    SlowDown { early: bool, interval: Duration },
    Pending,
    Denied,
    Issue(String, Vec<String>),
}

/// Answers a device-grant poll (the request's shape is already checked).
pub fn redeem(shared: &Shared, device_code: &str) -> Reply {
    let kind = shared.kind;
    let mut st = shared.lock();
    st.device_polls += 1;
    let now = Instant::now();
    let forced = st.slow_down_next;
    let step = match st.devices.get_mut(device_code) {
        None => Step::Unknown,
        Some(d) => {
            let early = d
                .last_poll
                .is_some_and(|last| now.duration_since(last) < d.interval);
            d.last_poll = Some(now);
            if d.answer == Answer::Redeemed {
                Step::Used
            } else if now >= d.issued + d.expires_in {
                Step::Expired
            } else if early || forced {
                d.interval += SLOW_DOWN_STEP;
                Step::SlowDown {
                    early,
                    interval: d.interval,
                }
            } else {
                match d.answer.clone() {
                    Answer::Pending => Step::Pending,
                    Answer::Denied => Step::Denied,
                    Answer::Redeemed => Step::Used,
                    Answer::Approved(user) => {
                        d.answer = Answer::Redeemed;
                        Step::Issue(user, d.scopes.clone())
                    }
                }
            }
        }
    };
    let says = |code: &str, description: &str| json(400, &error(kind, code, description));
    match step {
        Step::Unknown | Step::Used => {
            let why = if matches!(step, Step::Unknown) {
                "unknown device_code"
            } else {
                "device_code already redeemed"
            };
            st.refused.push(format!("{GRANT}: {why}"));
            refused(kind)
        }
        Step::Expired => says("expired_token", "the device code expired"),
        Step::SlowDown { early, interval } => {
            st.slow_down_next = false;
            if early {
                st.rejected.push(format!(
                    "POST token ({GRANT}): polled sooner than the interval, which is {}s now",
                    interval.as_secs()
                ));
            }
            says("slow_down", "poll less often")
        }
        Step::Pending => says("authorization_pending", "not yet approved"),
        Step::Denied => says("access_denied", "the user denied the request"),
        Step::Issue(user, scopes) => {
            let life = shared.lifetimes(&st);
            *st.requests.entry("device_code".to_string()).or_default() += 1;
            let issued = st.book.issue_device(&user, scopes, life);
            json(200, &shapes::token_answer(kind, &issued, "device_code"))
        }
    }
}

/// The answer to a device_code the platform does not know (or no longer).
fn refused(kind: Kind) -> Reply {
    match kind {
        Kind::Twitch => json(400, &json!({"status": 400, "message": "invalid device code"})),
        _ => json(400, &error(kind, "invalid_grant", "unknown or used device_code")),
    }
}

fn error(kind: Kind, code: &str, description: &str) -> Value {
    match kind {
        Kind::Twitch => json!({"status": 400, "message": code}),
        _ => json!({"error": code, "error_description": description}),
    }
}
