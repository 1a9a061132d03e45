//! `token-sidecar login PROVIDER [--user NAME]`: asks the running proxy (its admin API) to
//! start a device-code login, shows the person at the terminal the code and where to enter
//! it, and waits for the outcome. Made for `kubectl exec POD -c token-sidecar -- ...`: plain
//! lines, no colours or cursor tricks (there may be no TTY), and an exit status a script
//! can read: 0 connected, 1 not connected (denied, expired, the proxy unreachable or
//! refusing), 2 bad usage (no such provider, no device login there, a bad user name).

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::config::{self, Server};

/// How long one status request may wait on the proxy for the login to end.
const WAIT_SECONDS: u64 = 25;
/// Status requests that may fail in a row (a proxy restarting) before giving up.
const TRIES: u32 = 3;

pub const CONNECTED: u8 = 0;
pub const NOT_CONNECTED: u8 = 1;
pub const BAD_USAGE: u8 = 2;

/// Runs the command; returns the exit status.
pub fn run(config_path: &Path, provider: &str, user: &str) -> u8 {
    let server = match config::load_admin(config_path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("token-sidecar: {e}");
            return NOT_CONNECTED;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("token-sidecar: cannot start the runtime: {e}");
            return NOT_CONNECTED;
        }
    };
    runtime.block_on(Session::new(&server).login(provider, user))
}

/// Where the admin listener is reached from inside its own container.
fn admin_base(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, listen.port()))
}

fn segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

struct Session {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

enum Failure {
    /// The proxy could not be reached, or answered something that is not its admin API.
    Unreachable(String),
    /// It answered with an error: the HTTP status and its message.
    Refused(u16, String),
}

impl Session {
    fn new(server: &Server) -> Session {
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(WAIT_SECONDS + 30))
            .build()
            .unwrap_or_default();
        Session {
            base: admin_base(server.admin_listen),
            token: server.admin_token.as_ref().map(|t| t.secret().to_string()),
            http,
        }
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Value, Failure> {
        let request = match &self.token {
            Some(t) => request.bearer_auth(t),
            None => request,
        };
        let resp = request
            .send()
            .await
            .map_err(|e| Failure::Unreachable(crate::oauth::error_chain(&e.without_url())))?;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.map_err(|_| {
            Failure::Unreachable(format!(
                "it answered HTTP {status} with something that is not JSON"
            ))
        })?;
        if status == 200 {
            return Ok(body);
        }
        let message = body["message"].as_str().unwrap_or("no reason given").to_string();
        Err(Failure::Refused(status, message))
    }

    async fn login(&self, provider: &str, user: &str) -> u8 {
        let url = format!(
            "{}/admin/logins/{}?user={}",
            self.base,
            segment(provider),
            segment(user)
        );
        let login = match self.call(self.http.post(url)).await {
            Ok(login) => login,
            Err(failure) => return self.explain(failure),
        };
        show(&login);
        let Some(id) = login["login_id"].as_str() else {
            eprintln!("token-sidecar: the proxy's answer has no login_id");
            return NOT_CONNECTED;
        };
        let url = format!("{}/admin/logins/{}?wait={WAIT_SECONDS}", self.base, segment(id));
        let mut failed = 0;
        loop {
            let status = match self.call(self.http.get(&url)).await {
                Ok(status) => status,
                Err(failure) => {
                    failed += 1;
                    if failed >= TRIES {
                        return self.explain(failure);
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            failed = 0;
            let reason = status["reason"].as_str().unwrap_or("");
            let (code, text) = match status["status"].as_str().unwrap_or("") {
                "pending" => continue,
                "connected" => (
                    CONNECTED,
                    format!("Connected: the token of {user} at {provider} is stored, and the proxy keeps it fresh."),
                ),
                "denied" => (
                    NOT_CONNECTED,
                    format!("Access was denied ({reason}); nothing was stored. Run the command again to retry."),
                ),
                "expired" => (
                    NOT_CONNECTED,
                    "The code expired before it was entered. Run the command again for a new code.".to_string(),
                ),
                other => (NOT_CONNECTED, format!("The login ended ({other}): {reason}")),
            };
            println!("{text}");
            return code;
        }
    }

    fn explain(&self, failure: Failure) -> u8 {
        match failure {
            Failure::Unreachable(why) => {
                eprintln!(
                    "token-sidecar: cannot reach the proxy's admin listener at {} ({why}).\n\
                     Is token-sidecar running with this configuration? In Kubernetes, run this command \
                     in the sidecar's container: kubectl exec POD -c token-sidecar -- token-sidecar login PROVIDER",
                    self.base
                );
                NOT_CONNECTED
            }
            Failure::Refused(401, _) => {
                eprintln!(
                    "token-sidecar: the proxy refused the admin token: give this command the proxy's \
                     server.admin_token (in the file or TOKEN_SIDECAR_SERVER__ADMIN_TOKEN)"
                );
                NOT_CONNECTED
            }
            Failure::Refused(status, message) => {
                eprintln!("token-sidecar: {message}");
                if matches!(status, 400 | 404) {
                    BAD_USAGE
                } else {
                    NOT_CONNECTED
                }
            }
        }
    }
}

/// The code and where to enter it, for a person reading a terminal.
fn show(login: &Value) {
    let text = |k: &str| login[k].as_str().unwrap_or("?").to_string();
    let mut out = format!(
        "\nTo connect {} at {}, open this page on any device where you can sign in:\n\n    {}\n\n\
         and enter the code:\n\n    {}\n\n",
        text("user"),
        text("provider"),
        text("verification_uri"),
        text("user_code"),
    );
    if let Some(complete) = login["verification_uri_complete"].as_str() {
        out.push_str(&format!("(or open {complete}, which has the code filled in)\n"));
    }
    out.push_str(&format!(
        "The code expires at {}. Waiting for you to approve... (Ctrl-C stops waiting; the code stays valid)\n",
        text("expires_at")
    ));
    print!("{out}");
    let _ = std::io::stdout().flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_listen_address_is_reached_on_loopback() {
        assert_eq!(
            admin_base("0.0.0.0:9090".parse().unwrap()),
            "http://127.0.0.1:9090"
        );
        assert_eq!(admin_base("[::]:9090".parse().unwrap()), "http://[::1]:9090");
        assert_eq!(admin_base("127.0.0.1:1".parse().unwrap()), "http://127.0.0.1:1");
    }
}
