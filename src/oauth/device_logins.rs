//! Device-code logins under way: one per provider and user (asking again gets the same
//! code), each driven by a task that polls at the platform's pace until the person approved
//! or denied, or the code expired. An ended login's outcome stays readable for a while, for
//! whoever is waiting on it (the `login` command, the status page).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;
use tokio::time::sleep_until;

use super::client::PlatformClient;
use super::device::{self, Poll, SLOW_DOWN_STEP};
use super::error::TokenError;
use super::pkce;
use super::schedule;
use super::token::Token;
use crate::secret::DeviceCode;

/// Device logins waiting for a person, per provider: one per user, so this bounds what a
/// flood of start requests can hold (past it, new ones are refused, pending ones kept).
pub const MAX_PENDING_PER_PROVIDER: usize = 64;
/// How long an ended login's outcome can still be read.
pub const KEEP_ENDED: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Connected,
    Denied,
    Expired,
    /// The platform refused the login for another reason (a wrong client id, say), or its
    /// token could not be kept: a new code will not help until that is fixed.
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Connected => "connected",
            State::Denied => "denied",
            State::Expired => "expired",
            State::Failed => "failed",
        }
    }
}

/// Where a login stands, and why it ended the way it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub state: State,
    pub reason: Option<String>,
}

/// One device login: what the person is shown, and its outcome so far.
pub struct DeviceLogin {
    /// Random and unguessable: it names the login in `/admin/logins/{id}` and on its page.
    pub id: String,
    pub provider: String,
    pub user: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    pub expires_at: SystemTime,
    deadline: Instant,
    outcome: watch::Sender<Outcome>,
    ended: Mutex<Option<Instant>>,
}

impl DeviceLogin {
    pub fn outcome(&self) -> Outcome {
        self.outcome.borrow().clone()
    }

    /// The outcome once the login has ended, or as it is after `wait`.
    pub async fn wait_ended(&self, wait: Duration) -> Outcome {
        let mut rx = self.outcome.subscribe();
        let ended = rx.wait_for(|o| o.state != State::Pending);
        let _ = tokio::time::timeout(wait, ended).await;
        self.outcome()
    }

    fn finish(&self, state: State, reason: Option<String>) {
        if let Ok(mut ended) = self.ended.lock() {
            *ended = Some(Instant::now());
        }
        self.outcome.send_replace(Outcome { state, reason });
    }

    fn forgettable(&self, now: Instant) -> bool {
        let ended = self.ended.lock().ok().and_then(|e| *e);
        ended.is_some_and(|at| now.duration_since(at) >= KEEP_ENDED)
    }
}

/// Keeps the token of an approved login: where it goes is decided when it arrives (a reload
/// may have replaced the provider meanwhile). Err: why it could not be kept.
pub type Install = Box<dyn FnOnce(Token) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send>;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("this provider has no device-code login")]
    Unsupported,
    #[error("this provider has {MAX_PENDING_PER_PROVIDER} device logins waiting already")]
    TooMany,
    #[error("the platform could not start the login: {0}")]
    Platform(#[source] TokenError),
}

/// Every device login this process started (and still remembers), by id.
#[derive(Default)]
pub struct DeviceLogins {
    logins: Mutex<Vec<Arc<DeviceLogin>>>,
    /// One start at a time, so two requests for one user cannot both ask the platform.
    starting: tokio::sync::Mutex<()>,
}

impl DeviceLogins {
    fn all(&self) -> std::sync::MutexGuard<'_, Vec<Arc<DeviceLogin>>> {
        let mut logins = self.logins.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        logins.retain(|l| !l.forgettable(now));
        logins
    }

    pub fn get(&self, id: &str) -> Option<Arc<DeviceLogin>> {
        self.all().iter().find(|l| l.id == id).cloned()
    }

    /// The pending login of `user` at `provider`, if there is one.
    pub fn pending(&self, provider: &str, user: &str) -> Option<Arc<DeviceLogin>> {
        self.all()
            .iter()
            .find(|l| l.provider == provider && l.user == user && l.outcome().state == State::Pending)
            .cloned()
    }

    /// Starts a device login of `user` with `client`'s provider, or hands back the one that
    /// is pending for them already. `install` keeps the token once the person approves.
    pub async fn begin(
        &self,
        client: Arc<PlatformClient>,
        user: &str,
        install: Install,
    ) -> Result<Arc<DeviceLogin>, StartError> {
        let provider = client.config.name.clone();
        if !client.config.has_device_login() {
            return Err(StartError::Unsupported);
        }
        let _one = self.starting.lock().await;
        if let Some(login) = self.pending(&provider, user) {
            return Ok(login);
        }
        let waiting = self
            .all()
            .iter()
            .filter(|l| l.provider == provider && l.outcome().state == State::Pending)
            .count();
        if waiting >= MAX_PENDING_PER_PROVIDER {
            return Err(StartError::TooMany);
        }
        let issued = device::start(&client).await.map_err(StartError::Platform)?;
        let login = Arc::new(DeviceLogin {
            id: pkce::random_token(),
            provider,
            user: user.to_string(),
            user_code: issued.user_code,
            verification_uri: issued.verification_uri,
            verification_uri_complete: issued.verification_uri_complete,
            expires_at: SystemTime::now() + issued.expires_in,
            deadline: Instant::now() + issued.expires_in,
            outcome: watch::Sender::new(Outcome {
                state: State::Pending,
                reason: None,
            }),
            ended: Mutex::new(None),
        });
        // Not the user code: whoever reads the log could enter it first, with their account.
        tracing::info!(
            provider = %login.provider, subject = %login.user,
            expires_at = %humantime::format_rfc3339_seconds(login.expires_at),
            "device login started; waiting for the person to enter the code"
        );
        self.all().push(Arc::clone(&login));
        let driven = Arc::clone(&login);
        tokio::spawn(drive(
            driven,
            client,
            issued.device_code,
            issued.interval,
            install,
        ));
        Ok(login)
    }
}

/// How long to wait before the next poll: the interval, or longer after failed calls
/// (RFC 8628 §3.5: back off exponentially on errors).
pub fn poll_wait(interval: Duration, failures: u32, jitter: f64) -> Duration {
    if failures == 0 {
        interval
    } else {
        interval.max(schedule::backoff(failures, jitter))
    }
}

/// Polls until the login ends, then records how.
async fn drive(
    login: Arc<DeviceLogin>,
    client: Arc<PlatformClient>,
    code: DeviceCode,
    interval: Duration,
    install: Install,
) {
    let (state, reason) = poll_until_done(&login, &client, &code, interval, install).await;
    let (provider, subject) = (&login.provider, &login.user);
    match state {
        State::Connected => {
            tracing::info!(provider = %provider, subject = %subject, "user connected with a device code")
        }
        _ => tracing::warn!(
            provider = %provider, subject = %subject, status = state.as_str(),
            reason = reason.as_deref().unwrap_or(""), "device login ended without a token"
        ),
    }
    login.finish(state, reason);
}

async fn poll_until_done(
    login: &DeviceLogin,
    client: &PlatformClient,
    code: &DeviceCode,
    mut interval: Duration,
    install: Install,
) -> (State, Option<String>) {
    let mut failures = 0u32;
    loop {
        let at = Instant::now() + poll_wait(interval, failures, rand::random());
        if at >= login.deadline {
            sleep_until(login.deadline.into()).await;
            return (
                State::Expired,
                Some("the code expired before it was approved".into()),
            );
        }
        sleep_until(at.into()).await;
        match device::poll(client, code).await {
            Poll::Granted(token) => {
                return match install(*token).await {
                    Ok(()) => (State::Connected, None),
                    Err(why) => (State::Failed, Some(why)),
                };
            }
            Poll::Pending => failures = 0,
            Poll::SlowDown => {
                failures = 0;
                interval += SLOW_DOWN_STEP;
            }
            Poll::Denied(why) => return (State::Denied, Some(said_or(why, "the person denied access"))),
            Poll::Expired(why) => return (State::Expired, Some(said_or(why, "the code expired"))),
            Poll::Refused(e) => return (State::Failed, Some(e.to_string())),
            Poll::Retry(e) => {
                failures = failures.saturating_add(1);
                tracing::warn!(provider = %login.provider, subject = %login.user, reason = %e, "device login poll failed; trying again");
            }
        }
    }
}

fn said_or(said: String, default: &str) -> String {
    if said.is_empty() {
        default.to_string()
    } else {
        said
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_at_the_interval_and_back_off_after_failures() {
        let five = Duration::from_secs(5);
        assert_eq!(poll_wait(five, 0, 0.5), five);
        assert_eq!(poll_wait(five, 1, 1.0), five, "never sooner than the interval");
        assert_eq!(poll_wait(five, 5, 1.0), Duration::from_secs(16));
        assert_eq!(poll_wait(five, 30, 1.0), Duration::from_secs(300));
    }
}
