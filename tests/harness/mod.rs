//! Starts the real proxy in-process (`token_sidecar::run`) on port 0 against the fakes in
//! `support`, the way linkerd's integration harness starts its proxy.
#![allow(dead_code)]

pub mod binary;
pub mod log;
pub mod redis_server;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::support::{FakePlatform, Kind, CLIENT_ID, CLIENT_SECRET};

pub const WAIT: Duration = Duration::from_secs(10);

pub fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Twitch => "twitch",
        Kind::Blaze => "blaze",
        Kind::Glimesh => "glimesh",
        Kind::Firework => "firework",
        Kind::StreamerSonglist => "streamersonglist",
        Kind::OAuth2 { .. } => "oauth2",
    }
}

/// A `[providers.NAME]` table pointing every endpoint at `fake`.
pub fn provider(name: &str, fake: &FakePlatform) -> String {
    let kind = fake.kind();
    let mut t = format!(
        "[providers.{name}]\nkind = \"{}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n\
         token_url = \"{}\"\nrefresh_url = \"{}\"\nauthorize_url = \"{}\"\n",
        kind_name(kind),
        fake.token_url(),
        fake.refresh_url(),
        fake.authorize_url(),
    );
    if kind == Kind::Twitch {
        t.push_str(&format!("validate_url = \"{}\"\n", fake.validate_url()));
    }
    if matches!(kind, Kind::Twitch | Kind::OAuth2 { .. }) {
        t.push_str(&format!(
            "device_authorization_url = \"{}\"\n",
            fake.device_authorization_url()
        ));
    }
    if matches!(kind, Kind::Twitch | Kind::OAuth2 { .. }) {
        t.push_str(&format!("revoke_url = \"{}\"\n", fake.revoke_url()));
    }
    if kind == (Kind::OAuth2 { basic: true }) {
        t.push_str("client_auth = \"basic\"\n");
    }
    t
}

/// As `provider`, for a public client: no client_secret (set the fake public too).
pub fn public_provider(name: &str, fake: &FakePlatform) -> String {
    provider(name, fake).replace(&format!("client_secret = \"{CLIENT_SECRET}\"\n"), "")
}

/// A `[[routes]]` entry.
pub fn route(prefix: &str, provider: &str, upstream: &str, extra: &str) -> String {
    format!(
        "[[routes]]\nprefix = \"{prefix}\"\nprovider = \"{provider}\"\nupstream = \"{upstream}\"\n{extra}\n"
    )
}

pub struct Proxy {
    text: String,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub health: Option<SocketAddr>,
    pub http: reqwest::Client,
    /// Like a browser: keeps cookies, follows no redirect (the tests follow them).
    browser: reqwest::Client,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    running: Option<token_sidecar::Running>,
}

impl Proxy {
    /// Starts the proxy with `server` lines added to `[server]` and `body` (providers and
    /// routes) after it.
    pub async fn start(server: &str, body: &str) -> Proxy {
        Proxy::start_with_store(server, "path = \"tokens.json\"\n", body).await
    }

    /// As `start`, with the file store already holding `tokens` (its JSON records).
    pub async fn start_with_stored(server: &str, tokens: serde_json::Value, body: &str) -> Proxy {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = serde_json::json!({"version": 1, "tokens": tokens});
        std::fs::write(dir.path().join("tokens.json"), store.to_string()).expect("write the store");
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n{server}\n\
             [store]\npath = \"tokens.json\"\n{body}"
        );
        Proxy::start_in(dir, text).await
    }

    /// As `start`, with `store` as the lines of `[store]`.
    pub async fn start_with_store(server: &str, store: &str, body: &str) -> Proxy {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n{server}\n\
             [store]\n{store}\n{body}"
        );
        Proxy::start_in(dir, text).await
    }

    /// The proxy with one provider `name` on `fake` and one route `prefix` → `upstream`
    /// (`extra`: more lines for the route), `server`: more lines for `[server]`.
    pub async fn with_route(
        fake: &FakePlatform,
        name: &str,
        server: &str,
        prefix: &str,
        upstream: &str,
        extra: &str,
    ) -> Proxy {
        let body = format!("{}{}", provider(name, fake), route(prefix, name, upstream, extra));
        Proxy::start(server, &body).await
    }

    /// Stops this proxy and starts a new one with the same configuration and store, its
    /// admin listener on the same port (so redirect URIs, which name it, stay the same).
    pub async fn restart(mut self) -> Proxy {
        self.halt().await;
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
        let text = self.text.replacen(
            "admin_listen = \"127.0.0.1:0\"",
            &format!("admin_listen = \"{}\"", self.admin),
            1,
        );
        Proxy::start_in(dir, text).await
    }

    async fn start_in(dir: tempfile::TempDir, text: String) -> Proxy {
        let path: PathBuf = dir.path().join("proxy.toml");
        std::fs::write(&path, &text).expect("write config");
        let config = token_sidecar::config::load(&path).expect("valid config");
        let (tx, rx) = oneshot::channel::<()>();
        let running = token_sidecar::run(config, async {
            let _ = rx.await;
        })
        .await
        .expect("proxy starts");
        Proxy {
            text,
            addr: running.proxy_addr,
            admin: running.admin_addr,
            health: running.health_addr,
            http: client(false),
            browser: client(true),
            dir,
            stop: Some(tx),
            running: Some(running),
        }
    }

    /// The configuration file the proxy was started with (and watches).
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("proxy.toml")
    }

    pub fn config_text(&self) -> &str {
        &self.text
    }

    /// Asks for a reload, as SIGHUP does.
    pub fn trigger_reload(&self) {
        if let Some(r) = &self.running {
            r.shared.reload.notify_one();
        }
    }

    /// Waits until `metric` reaches `value`; panics after `WAIT`.
    pub async fn wait_metric(&self, series: &str, value: f64) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.metric(series).await != Some(value) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{series} never reached {value}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// The admin listener at `public_url` (`http://localhost:PORT`), as a browser opens it
    /// and as the platform sends it back: a login's cookie is set for this host.
    pub fn public_url(&self, path: &str) -> String {
        format!("http://localhost:{}{path}", self.admin.port())
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("proxy answers")
    }

    pub async fn metrics(&self) -> String {
        let resp = self
            .http
            .get(self.admin_url("/metrics"))
            .send()
            .await
            .expect("metrics");
        resp.text().await.expect("metrics text")
    }

    /// The value of the metric line starting with `series` (name and labels as rendered).
    pub async fn metric(&self, series: &str) -> Option<f64> {
        let text = self.metrics().await;
        text.lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    /// Logs `user` in at `provider` the way a browser would: the login redirect (setting the
    /// login's cookie), the platform's authorize page (the fake approves), then the callback
    /// with the cookie. Returns the callback page's answer.
    pub async fn login(&self, fake: &FakePlatform, provider: &str, user: &str) -> reqwest::Response {
        let start = self.public_url(&format!("/oauth/{provider}/login?user={user}"));
        let resp = self.no_redirect().get(start).send().await.expect("login answers");
        assert_eq!(resp.status(), 302, "login redirects: {:?}", resp.text().await);
        let location = resp.headers()["location"].to_str().expect("location").to_string();
        let callback = fake
            .follow_authorize(&location)
            .await
            .expect("the platform approves");
        self.no_redirect()
            .get(callback)
            .send()
            .await
            .expect("callback answers")
    }

    /// The browser: one cookie jar for the whole test, no redirects followed.
    pub fn no_redirect(&self) -> reqwest::Client {
        self.browser.clone()
    }

    /// Another browser, with a cookie jar of its own (empty), no redirects followed.
    pub fn other_browser(&self) -> reqwest::Client {
        client(true)
    }

    /// `POST /admin/tokens/{provider}/{subject}/refresh`.
    pub async fn refresh_now(&self, provider: &str, subject: &str) -> reqwest::Response {
        let url = self.admin_url(&format!("/admin/tokens/{provider}/{subject}/refresh"));
        self.http.post(url).send().await.expect("admin refresh answers")
    }

    /// `POST /admin/logins/{provider}?user=USER`: starts a device-code login (or gets the
    /// one pending for the user).
    pub async fn device_login(&self, provider: &str, user: &str) -> reqwest::Response {
        let url = self.admin_url(&format!("/admin/logins/{provider}?user={user}"));
        self.http.post(url).send().await.expect("admin logins answers")
    }

    /// `GET /admin/logins/{id}?wait=SECS`: the login as it is once it ended, or after `wait`.
    pub async fn device_login_status(&self, id: &str, wait: u64) -> serde_json::Value {
        let url = self.admin_url(&format!("/admin/logins/{id}?wait={wait}"));
        let resp = self.http.get(url).send().await.expect("admin logins answers");
        assert_eq!(resp.status(), 200);
        resp.json().await.expect("JSON")
    }

    /// Starts a device login of `user`, has the person approve it at `fake`, and waits
    /// until the proxy holds the token.
    pub async fn device_connect(&self, fake: &FakePlatform, provider: &str, user: &str) {
        let resp = self.device_login(provider, user).await;
        assert_eq!(resp.status(), 200);
        let login: serde_json::Value = resp.json().await.expect("JSON");
        let code = login["user_code"].as_str().expect("a user code");
        assert!(fake.approve_device(code, user), "the fake knows {code}");
        let id = login["login_id"].as_str().expect("a login id");
        let done = self.device_login_status(id, WAIT.as_secs()).await;
        assert_eq!(done["status"], "connected", "{done}");
    }

    /// `GET /admin/tokens`.
    pub async fn tokens(&self) -> serde_json::Value {
        let resp = self
            .http
            .get(self.admin_url("/admin/tokens"))
            .send()
            .await
            .expect("admin/tokens");
        resp.json().await.expect("JSON")
    }

    /// Waits until `/readyz` answers 200; panics after `WAIT`.
    pub async fn ready(&self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let resp = self
                .http
                .get(self.admin_url("/readyz"))
                .send()
                .await
                .expect("readyz");
            if resp.status() == 200 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not ready: {}",
                resp.text().await.unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the proxy and waits for it to finish.
    pub async fn stop(mut self) {
        self.halt().await;
    }

    async fn halt(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(r) = self.running.take() {
            tokio::time::timeout(WAIT, r.wait())
                .await
                .expect("proxy stops in time");
        }
    }
}

/// A client that reaches `localhost` at 127.0.0.1 (no other address is used in tests);
/// `browser`: with a cookie jar and without following redirects.
fn client(browser: bool) -> reqwest::Client {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let builder = reqwest::Client::builder()
        .no_proxy()
        .resolve("localhost", loopback);
    let builder = if browser {
        builder
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
    } else {
        builder
    };
    builder.build().expect("client")
}

/// Sends raw bytes to `addr` and returns everything read until the server closes or 2 s pass.
pub async fn raw(addr: SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(request.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(2), s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => {
                buf.extend_from_slice(&chunk[..n]);
                // One response is enough: stop once its headers and a JSON body have arrived.
                if buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.ends_with(b"}") {
                    break;
                }
            }
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}
