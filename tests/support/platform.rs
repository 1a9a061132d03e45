//! `FakePlatform`: a strict in-process stand-in for one platform's OAuth
//! endpoints, and the handle tests use to steer and inspect it.

use std::sync::Arc;
use std::time::Duration;

use super::kind::{Failure, Kind, CLIENT_ID, CLIENT_SECRET};
use super::pkce::Pkce;
use super::router::{authorize_path, route, token_path};
use super::server::{serve, ServerHandle};
use super::state::{Shared, St};

#[derive(Clone)]
pub struct FakePlatform {
    shared: Arc<Shared>,
    server: Arc<ServerHandle>,
}

impl FakePlatform {
    pub const CLIENT_ID: &'static str = CLIENT_ID;
    pub const CLIENT_SECRET: &'static str = CLIENT_SECRET;

    /// Binds 127.0.0.1:0 and serves until the last clone is dropped.
    pub async fn start(kind: Kind) -> FakePlatform {
        let shared = Arc::new(Shared::new(kind));
        let for_server = shared.clone();
        let server = serve(move |req| route(for_server.clone(), req)).await;
        let _ = shared.base.set(format!("http://{}", server.addr()));
        FakePlatform { shared, server }
    }

    pub fn kind(&self) -> Kind {
        self.shared.kind
    }

    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// Where it listens (for a test that puts something in between).
    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.addr()
    }

    pub fn token_url(&self) -> String {
        self.url(token_path(self.kind()))
    }

    pub fn refresh_url(&self) -> String {
        match self.kind() {
            Kind::Blaze => self.url("/bapi/oauth2/refresh"),
            _ => self.token_url(),
        }
    }

    /// For blaze the generate-auth-url endpoint (POST JSON).
    pub fn authorize_url(&self) -> String {
        self.url(authorize_path(self.kind()))
    }

    /// Twitch's; other kinds have none (the path answers 404).
    pub fn validate_url(&self) -> String {
        self.url("/oauth2/validate")
    }

    /// Twitch's /oauth2/revoke, oauth2's /revoke; others have none (404).
    pub fn revoke_url(&self) -> String {
        match self.kind() {
            Kind::Twitch => self.url("/oauth2/revoke"),
            _ => self.url("/revoke"),
        }
    }

    /// Twitch's /oauth2/device, oauth2's /device; others have none (404).
    pub fn device_authorization_url(&self) -> String {
        self.url(super::device::path(self.kind()))
    }

    /// Makes the client public (no secret): a client_secret sent anywhere is refused, and
    /// there are no app tokens (twitch, oauth2).
    pub fn set_public(&self, public: bool) {
        self.with(|st| st.public = public)
    }

    /// `interval` and `expires_in` (seconds) of device codes handed out from now on
    /// (defaults 1 and 1800).
    pub fn set_device_timing(&self, interval: u64, expires_in: u64) {
        self.with(|st| {
            st.device_interval = interval;
            st.device_expires_in = expires_in;
        })
    }

    /// The person enters `user_code` and approves as `user`; false for an unknown code.
    pub fn approve_device(&self, user_code: &str, user: &str) -> bool {
        let answer = super::device::Answer::Approved(user.to_string());
        self.answer_device(user_code, answer)
    }

    /// The person enters `user_code` and denies; false for an unknown code.
    pub fn deny_device(&self, user_code: &str) -> bool {
        self.answer_device(user_code, super::device::Answer::Denied)
    }

    fn answer_device(&self, user_code: &str, answer: super::device::Answer) -> bool {
        self.with(|st| {
            let found = st.devices.values_mut().find(|d| d.user_code == user_code);
            found.map(|d| d.answer = answer).is_some()
        })
    }

    /// The next device-grant poll is answered `slow_down` (and the interval grows by 5 s),
    /// as a platform under load does.
    pub fn slow_down_next(&self) {
        self.with(|st| st.slow_down_next = true)
    }

    /// The `device_code` values handed out so far (secrets the proxy must keep to itself).
    pub fn device_code_values(&self) -> Vec<String> {
        self.shared.lock().devices.keys().cloned().collect()
    }

    /// Device codes handed out so far.
    pub fn device_codes(&self) -> usize {
        self.shared.lock().devices.len()
    }

    /// Device-grant polls so far, whatever came of them.
    pub fn device_polls(&self) -> usize {
        self.shared.lock().device_polls
    }

    /// Waits until at least `n` device-grant polls arrived; false on timeout.
    pub async fn wait_device_polls(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |st| st.device_polls >= n).await
    }

    fn with<R>(&self, f: impl FnOnce(&mut St) -> R) -> R {
        let out = f(&mut self.shared.lock());
        self.shared.notify();
        out
    }

    /// Lifetime of access tokens issued from now on (default 3600 s).
    pub fn set_expires_in(&self, secs: u64) {
        self.with(|st| st.expires_in = secs)
    }

    /// Lifetime of refresh tokens issued from now on (firework only; default 600000 s).
    pub fn set_refresh_expires_in(&self, secs: u64) {
        self.with(|st| st.refresh_expires_in = secs)
    }

    /// Parks the next call with `grant` (`refresh_token`, `client_credentials`) before it is
    /// looked at, until `release_held`.
    pub fn hold_next(&self, grant: &str) {
        self.shared.gate.arm(grant);
    }

    /// Waits until a call is parked; its refresh token (or grant type).
    pub async fn held(&self, timeout: Duration) -> Option<String> {
        self.shared.gate.parked(timeout).await
    }

    /// Lets the parked call through, or (`drop`) resets it unread: the platform never saw it.
    pub fn release_held(&self, drop: bool) {
        self.shared.gate.release(drop);
    }

    /// Delay before answering token and refresh calls.
    pub fn set_delay(&self, d: Duration) {
        self.with(|st| st.delay = d)
    }

    /// How every token and refresh call fails from now on.
    pub fn set_failure(&self, f: Failure) {
        self.with(|st| {
            st.failure = f;
            st.fail_next = None;
        })
    }

    /// Fails only the next `n` token and refresh calls with `f`.
    pub fn fail_next(&self, f: Failure, n: usize) {
        self.with(|st| st.fail_next = Some((f, n)))
    }

    /// The refresh tokens of refused refresh calls (used, unknown or expired), in order.
    pub fn refused_refresh_tokens(&self) -> Vec<String> {
        self.shared.lock().refused_refresh.clone()
    }

    /// Every (access token, refresh token) pair issued on the grant that `token` (an access
    /// or a refresh token) belongs to, oldest first: the grant's rotation chain. Empty for a
    /// token this fake never issued.
    pub fn grant_history(&self, token: &str) -> Vec<(String, Option<String>)> {
        self.shared.lock().book.history(token)
    }

    /// How far `refresh_token` is behind the newest refresh token of its grant: 0 for the
    /// newest, 1 for the one before it, and so on; None for a token this fake never issued.
    pub fn refresh_token_age(&self, refresh_token: &str) -> Option<usize> {
        let history = self.grant_history(refresh_token);
        let at = history
            .iter()
            .position(|(_, r)| r.as_deref() == Some(refresh_token))?;
        let newer = history[at + 1..].iter().filter(|(_, r)| r.is_some()).count();
        Some(newer)
    }

    /// Waits until no connection to this fake is open any more, so every request a client
    /// managed to send has been handled (or abandoned); false on timeout.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        self.server.wait_no_connections(timeout).await
    }

    /// The authorize page redirects with `error=access_denied` while set.
    pub fn set_deny(&self, deny: bool) {
        self.with(|st| st.deny = deny)
    }

    /// Who "logs in" at the authorize page (default "fakeuser").
    pub fn set_login_user(&self, user: &str) {
        self.with(|st| st.login_user = user.to_string())
    }

    /// Successful token calls with this grant type.
    pub fn requests(&self, grant: &str) -> usize {
        self.shared.lock().requests.get(grant).copied().unwrap_or(0)
    }

    /// Every call to the token or refresh endpoints, whatever came of it.
    pub fn attempts(&self) -> usize {
        self.shared.lock().attempts
    }

    /// Requests refused for their shape (tests assert this is empty).
    pub fn rejected(&self) -> Vec<String> {
        self.shared.lock().rejected.clone()
    }

    /// Well-formed token calls refused for their grant (bad, used or expired
    /// code or refresh token): "grant_type: reason".
    pub fn refused(&self) -> Vec<String> {
        self.shared.lock().refused.clone()
    }

    /// Tokens sent to the revoke endpoint, in order.
    pub fn revoked(&self) -> Vec<String> {
        self.shared.lock().revoked.clone()
    }

    /// Calls to twitch's validate endpoint.
    pub fn validations(&self) -> usize {
        self.shared.lock().validations
    }

    pub fn is_valid(&self, access_token: &str) -> bool {
        self.shared.lock().book.is_valid(access_token)
    }

    /// Whether a refresh token would be accepted now (issued, unused, unexpired).
    pub fn refresh_token_valid(&self, refresh_token: &str) -> bool {
        self.shared.lock().book.refresh_usable(refresh_token)
    }

    /// The platform's id for `user` (twitch: numeric; blaze: UUID-shaped).
    pub fn user_id(&self, user: &str) -> String {
        let uuid = self.kind() == Kind::Blaze;
        self.with(|st| st.book.user_id(user, uuid))
    }

    /// A one-time code for `user`, as if they had approved at the authorize page.
    /// Blaze: bound to the codeVerifier and scopes of the latest generate-auth-url
    /// call with this redirect URI (panics if there was none). oauth2: any
    /// well-formed code_verifier is accepted (see `issue_user_code_with_challenge`).
    pub fn issue_user_code(&self, user: &str, redirect_uri: &str) -> String {
        let scopes: &[&str] = match self.kind() {
            Kind::Twitch => &["user:read:email"],
            Kind::Glimesh => &["public"],
            Kind::Firework => &["openid"],
            _ => &[],
        };
        self.issue_user_code_with(user, redirect_uri, scopes)
    }

    /// As `issue_user_code`, granting these scopes (blaze: ignored, see above).
    pub fn issue_user_code_with(&self, user: &str, redirect_uri: &str, scopes: &[&str]) -> String {
        let kind = self.kind();
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        self.with(|st| {
            let (pkce, scopes) = match kind {
                Kind::Blaze => {
                    let found = st.blaze_auths.iter().rev().find(|(_, a)| a.redirect_uri == redirect_uri);
                    let (_, auth) = found.unwrap_or_else(|| {
                        panic!("blaze issue_user_code: no generate-auth-url call with redirectUri {redirect_uri:?}")
                    });
                    (Pkce::Verifier(auth.code_verifier.clone()), auth.scopes.clone())
                }
                Kind::OAuth2 { .. } => (Pkce::WellFormed, scopes),
                _ => (Pkce::None, scopes),
            };
            st.book.issue_code(user, redirect_uri, scopes, pkce)
        })
    }

    /// oauth2: a code whose exchange needs a verifier matching this S256 challenge.
    pub fn issue_user_code_with_challenge(&self, user: &str, redirect_uri: &str, challenge: &str) -> String {
        let pkce = Pkce::Challenge(challenge.to_string());
        self.with(|st| st.book.issue_code(user, redirect_uri, Vec::new(), pkce))
    }

    /// The user disconnects the app in the platform's settings: the grant of this refresh
    /// token ends, its access tokens with it. Returns whether the token was known.
    pub fn disconnect(&self, refresh_token: &str) -> bool {
        self.with(|st| st.book.revoke(refresh_token))
    }

    /// Invalidates every access token issued so far (refresh tokens stay good).
    pub fn revoke_all(&self) {
        self.with(|st| st.book.revoke_all_access())
    }

    /// The query of the latest authorize request (blaze: the fields of the
    /// latest generate-auth-url call, one ("scopes", s) pair per scope).
    pub fn last_authorize_query(&self) -> Vec<(String, String)> {
        self.shared.lock().last_authorize_query.clone()
    }

    /// The code verifier of the latest code exchange (oauth2 `code_verifier`,
    /// blaze `codeVerifier`).
    pub fn last_code_verifier(&self) -> Option<String> {
        self.shared.lock().last_code_verifier.clone()
    }

    /// Blaze: every codeVerifier generate-auth-url handed out, oldest first.
    pub fn blaze_code_verifiers(&self) -> Vec<String> {
        self.shared.lock().blaze_verifiers.clone()
    }

    async fn wait_until(&self, timeout: Duration, cond: impl Fn(&St) -> bool) -> bool {
        let mut rx = self.shared.events.subscribe();
        let waiting = async {
            loop {
                let done = {
                    let st = self.shared.lock();
                    cond(&st)
                };
                if done {
                    return true;
                }
                if rx.changed().await.is_err() {
                    return false;
                }
            }
        };
        tokio::time::timeout(timeout, waiting).await.unwrap_or(false)
    }

    /// Waits until at least `n` token/refresh calls arrived; false on timeout.
    pub async fn wait_attempts(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |st| st.attempts >= n).await
    }

    /// Waits until twitch's validate endpoint was called at least `n` times; false on timeout.
    pub async fn wait_validations(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |st| st.validations >= n).await
    }

    /// Waits until at least `n` calls with `grant` succeeded; false on timeout.
    pub async fn wait_requests(&self, grant: &str, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |st| st.requests.get(grant).copied().unwrap_or(0) >= n)
            .await
    }

    /// GETs an authorize URL (as the user's browser would) and returns the
    /// Location it redirects to: the callback with `code` (or `error`) and `state`.
    pub async fn follow_authorize(&self, url: &str) -> Result<String, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        let resp = client.get(url).send().await.map_err(|e| e.to_string())?;
        let status = resp.status();
        match resp.headers().get(reqwest::header::LOCATION) {
            Some(loc) if status.is_redirection() => loc.to_str().map(String::from).map_err(|e| e.to_string()),
            _ => Err(format!("{status}: {}", resp.text().await.unwrap_or_default())),
        }
    }
}
