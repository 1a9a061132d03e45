//! The state one fake platform shares between its handlers and its test-facing
//! handle: settings, books, counters and what it saw.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::sync::watch;

use super::device::Device;
use super::gate::Gate;
use super::grants::{Book, Lifetimes};
use super::kind::{Failure, Kind};

/// What blaze's generate-auth-url handed out, keyed by its `state`.
#[derive(Debug, Clone)]
pub struct BlazeAuth {
    pub redirect_uri: String,
    pub code_verifier: String,
    pub scopes: Vec<String>,
}

#[derive(Debug)]
pub struct St {
    pub expires_in: u64,
    pub refresh_expires_in: u64,
    pub delay: Duration,
    pub failure: Failure,
    /// A failure for the next N token calls only (then back to `failure`).
    pub fail_next: Option<(Failure, usize)>,
    pub deny: bool,
    pub login_user: String,
    pub book: Book,
    pub attempts: usize,
    pub requests: HashMap<String, usize>,
    pub rejected: Vec<String>,
    pub refused: Vec<String>,
    /// The refresh tokens of refused refresh calls, in order.
    pub refused_refresh: Vec<String>,
    pub last_authorize_query: Vec<(String, String)>,
    pub last_code_verifier: Option<String>,
    pub revoked: Vec<String>,
    pub validations: usize,
    /// Oldest first: (state, what was handed out).
    pub blaze_auths: Vec<(String, BlazeAuth)>,
    /// Every codeVerifier blaze's generate-auth-url handed out, oldest first.
    pub blaze_verifiers: Vec<String>,
    /// The client is public: it has no secret, and sending one is refused.
    pub public: bool,
    /// `interval` and `expires_in` of device codes handed out from now on (seconds).
    pub device_interval: u64,
    pub device_expires_in: u64,
    /// Device codes handed out, by `device_code`.
    pub devices: HashMap<String, Device>,
    /// The next device-grant poll is answered `slow_down`, whatever its timing.
    pub slow_down_next: bool,
    /// Device-grant polls, whatever came of them.
    pub device_polls: usize,
}

pub struct Shared {
    pub kind: Kind,
    pub base: OnceLock<String>,
    st: Mutex<St>,
    /// Bumped on every change tests may wait for.
    pub events: watch::Sender<u64>,
    /// Parks a token call when a test asks.
    pub gate: Gate,
}

impl Shared {
    pub fn new(kind: Kind) -> Shared {
        let prefix = match kind {
            Kind::Twitch => "tw",
            Kind::Blaze => "bz",
            Kind::Glimesh => "gl",
            Kind::Firework => "fw",
            Kind::StreamerSonglist => "ssl",
            Kind::OAuth2 { .. } => "o2",
        };
        let st = St {
            expires_in: 3600,
            refresh_expires_in: 600_000,
            delay: Duration::ZERO,
            failure: Failure::None,
            fail_next: None,
            deny: false,
            login_user: "fakeuser".into(),
            book: Book::new(prefix),
            attempts: 0,
            requests: HashMap::new(),
            rejected: Vec::new(),
            refused: Vec::new(),
            refused_refresh: Vec::new(),
            last_authorize_query: Vec::new(),
            last_code_verifier: None,
            revoked: Vec::new(),
            validations: 0,
            blaze_auths: Vec::new(),
            blaze_verifiers: Vec::new(),
            public: false,
            device_interval: 1,
            device_expires_in: 1800,
            devices: HashMap::new(),
            slow_down_next: false,
            device_polls: 0,
        };
        Shared {
            kind,
            base: OnceLock::new(),
            st: Mutex::new(st),
            events: watch::Sender::new(0),
            gate: Gate::default(),
        }
    }

    /// The state, even if a panicking test thread poisoned the lock.
    pub fn lock(&self) -> MutexGuard<'_, St> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells waiters that something changed.
    pub fn notify(&self) {
        self.events.send_modify(|n| *n += 1);
    }

    /// Records a request refused for its shape.
    pub fn reject(&self, what: &str, reason: &str) {
        self.lock().rejected.push(format!("{what}: {reason}"));
        self.notify();
    }

    /// This fake's own URL for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base.get().map(String::as_str).unwrap_or(""), path)
    }

    pub fn lifetimes(&self, st: &St) -> Lifetimes {
        Lifetimes {
            access: st.expires_in,
            refresh: st.refresh_expires_in,
            // Public clients' refresh tokens lapse unused (Twitch: after 30 days).
            refresh_expires: self.kind == Kind::Firework || st.public,
            app_refresh: self.kind == Kind::StreamerSonglist,
        }
    }

    /// The failure to apply to the current token call, if any.
    pub fn take_failure(&self) -> Failure {
        let mut st = self.lock();
        if let Some((f, n)) = st.fail_next.take() {
            if n > 1 {
                st.fail_next = Some((f.clone(), n - 1));
            }
            if n > 0 {
                return f;
            }
        }
        st.failure.clone()
    }
}
