//! `token-sidecar demo` as a newcomer runs it: the real binary, its app-token route, the user
//! `default` connected through the login pages the way a browser does it (redirects followed
//! by hand, cookies kept, the approval form submitted), its user-token route, a refresh seen
//! in /metrics, and Ctrl-C ending it with status 0 and no files left behind.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{header, Method, StatusCode};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The bound on every wait (the demo's start, its end after SIGINT).
const WAIT: Duration = Duration::from_secs(20);

/// What the demo printed: where its parts are.
struct Printed {
    proxy: String,
    status_page: String,
    store: PathBuf,
}

/// The value after `label` on the line that starts with it (`  proxy        http://...`).
fn after(lines: &[String], label: &str) -> Option<String> {
    let line = lines.iter().find(|l| l.trim_start().starts_with(label))?;
    let rest = line.trim_start()[label.len()..].trim_start();
    Some(rest.split_whitespace().next()?.to_string())
}

async fn start() -> (Child, Printed, Arc<Mutex<String>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_token-sidecar"))
        .args(["demo", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let stderr = Arc::new(Mutex::new(String::new()));
    let mut err_lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let log = Arc::clone(&stderr);
    tokio::spawn(async move {
        while let Ok(Some(line)) = err_lines.next_line().await {
            let mut log = log.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    let mut out_lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut printed = Vec::new();
    let read = async {
        while let Ok(Some(line)) = out_lines.next_line().await {
            let done = line.contains("Ctrl-C");
            printed.push(line);
            if done {
                break;
            }
        }
    };
    let in_time = tokio::time::timeout(WAIT, read).await.is_ok();
    let all = printed.join("\n");
    assert!(
        in_time,
        "the demo printed no guide in time:\n{all}\n{}",
        stderr.lock().unwrap()
    );
    assert!(printed.len() <= 20, "a few lines, not {}:\n{all}", printed.len());
    let found = (|| {
        Some(Printed {
            proxy: after(&printed, "proxy")?,
            status_page: after(&printed, "status page")?,
            store: PathBuf::from(after(&printed, "store")?),
        })
    })();
    let printed_info =
        found.unwrap_or_else(|| panic!("the guide names the proxy, status page and store:\n{all}"));
    for route in ["/demo", "/demo-me", "/metrics", "/oauth/demo/login"] {
        assert!(all.contains(route), "the guide mentions {route}:\n{all}");
    }
    (child, printed_info, stderr)
}

/// A browser's cookie jar, as far as these pages need one: cookies by host (not port, as
/// browsers do), sent back on every request to that host.
#[derive(Default)]
struct Browser {
    jar: BTreeMap<String, BTreeMap<String, String>>,
    http: reqwest::Client,
}

impl Browser {
    fn new() -> Browser {
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Browser {
            jar: BTreeMap::new(),
            http,
        }
    }

    async fn send(
        &mut self,
        method: Method,
        url: &str,
        form: Option<&[(&str, &str)]>,
    ) -> (StatusCode, Option<String>, String) {
        let parsed = reqwest::Url::parse(url).expect("a URL");
        let host = parsed.host_str().unwrap_or_default().to_string();
        let mut req = self.http.request(method, parsed);
        let cookies: Vec<String> = self
            .jar
            .get(&host)
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !cookies.is_empty() {
            req = req.header(header::COOKIE, cookies.join("; "));
        }
        if let Some(form) = form {
            req = req.form(form);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
        for set in resp.headers().get_all(header::SET_COOKIE) {
            let pair = set
                .to_str()
                .unwrap_or_default()
                .split(';')
                .next()
                .unwrap_or_default();
            if let Some((k, v)) = pair.split_once('=') {
                self.jar
                    .entry(host.clone())
                    .or_default()
                    .insert(k.trim().into(), v.trim().into());
            }
        }
        let status = resp.status();
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|l| resp.url().join(l).expect("a location").to_string());
        (status, location, resp.text().await.unwrap_or_default())
    }

    async fn get(&mut self, url: &str) -> (StatusCode, Option<String>, String) {
        self.send(Method::GET, url, None).await
    }
}

/// The value of `attr="..."` in each tag of `html` that has it, entities of `&` undone.
fn attrs(html: &str, attr: &str) -> Vec<String> {
    let needle = format!("{attr}=\"");
    html.match_indices(&needle)
        .filter_map(|(i, _)| {
            let rest = &html[i + needle.len()..];
            Some(rest[..rest.find('"')?].replace("&amp;", "&"))
        })
        .collect()
}

/// The `name="login" value="..."` of the approval form.
fn hidden_login(html: &str) -> Option<String> {
    let at = html.find("name=\"login\"")?;
    attrs(&html[at..], "value").into_iter().next()
}

async fn metric_line(http: &reqwest::Client, status_page: &str, needles: &[&str]) -> Option<String> {
    let text = http
        .get(format!("{status_page}metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| {
            l.starts_with("token_sidecar_token_requests_total{") && needles.iter().all(|n| l.contains(n))
        })
        .map(str::to_string)
}

#[tokio::test]
async fn the_demo_shows_app_and_user_tokens_and_refreshes_then_stops_cleanly() {
    let (mut child, at, stderr) = start().await;
    let log = || stderr.lock().unwrap().clone();
    assert!(
        at.store.parent().is_some_and(|d| d.is_dir()),
        "the store's temp dir exists"
    );
    let http = reqwest::Client::builder().no_proxy().build().expect("client");

    // 1. The app-token route.
    let resp = http
        .get(format!("{}/demo/hello", at.proxy))
        .send()
        .await
        .expect("app route");
    assert_eq!(resp.status(), 200, "{}", log());
    let body: serde_json::Value = resp.json().await.expect("JSON");
    assert_eq!(body["token_of"]["kind"], "app", "{body}");

    // Before anyone connected `default`, its route has no token.
    let resp = http
        .get(format!("{}/demo-me/hello", at.proxy))
        .send()
        .await
        .expect("user route");
    assert_eq!(resp.status(), 503);

    // 2. and 3. The status page's connect link, the platform's approval page, Approve.
    let mut browser = Browser::new();
    let (status, _, page) = browser.get(&at.status_page).await;
    assert_eq!(status, 200);
    let connect = attrs(&page, "href")
        .into_iter()
        .find(|h| h.starts_with("/oauth/demo/login") && (h.contains("user=default") || !h.contains("user=")))
        .unwrap_or_else(|| panic!("a connect link for default on the status page:\n{page}"));
    let connect = reqwest::Url::parse(&at.status_page)
        .unwrap()
        .join(&connect)
        .unwrap();
    let (status, to_platform, _) = browser.get(connect.as_str()).await;
    assert_eq!(status, 302, "the login redirects to the platform");
    let to_platform = to_platform.expect("a Location");
    let (status, _, approval) = browser.get(&to_platform).await;
    assert_eq!(status, 200, "{approval}");
    assert!(approval.contains("Approve"), "{approval}");
    let action = attrs(&approval, "action")
        .into_iter()
        .next()
        .expect("a form action");
    let action = reqwest::Url::parse(&to_platform).unwrap().join(&action).unwrap();
    let login = hidden_login(&approval).expect("the form's login field");
    let form = [("login", login.as_str()), ("decision", "approve")];
    let (status, callback, _) = browser.send(Method::POST, action.as_str(), Some(&form)).await;
    assert!(status.is_redirection(), "{status}");
    let callback = callback.expect("back to the proxy");
    assert!(
        callback.contains("/oauth/demo/callback") && callback.contains("code="),
        "{callback}"
    );
    let (status, _, done) = browser.get(&callback).await;
    assert_eq!(status, 200, "{done}\n{}", log());
    assert!(done.contains("Connected"), "{done}");

    // 4. The user-token route.
    let resp = http
        .get(format!("{}/demo-me/hello", at.proxy))
        .send()
        .await
        .expect("user route");
    assert_eq!(resp.status(), 200, "{}", log());
    let body: serde_json::Value = resp.json().await.expect("JSON");
    assert_eq!(body["token_of"]["kind"], "user", "{body}");

    // 5. A refresh (the rotating refresh token is spent and replaced), seen in /metrics.
    let refreshed = http
        .post(format!("{}admin/tokens/demo/default/refresh", at.status_page))
        .send()
        .await
        .expect("refresh now");
    assert_eq!(refreshed.status(), 200, "{}", log());
    let needles = [
        "provider=\"demo\"",
        "grant=\"refresh_token\"",
        "result=\"success\"",
    ];
    let line = metric_line(&http, &at.status_page, &needles)
        .await
        .expect("a refresh_token success counter");
    let count: f64 = line
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a count");
    assert!(count >= 1.0, "{line}");
    let resp = http
        .get(format!("{}/demo-me/hello", at.proxy))
        .send()
        .await
        .expect("user route");
    assert_eq!(resp.status(), 200, "the refreshed token works: {}", log());

    // Ctrl-C: exit 0, the temp dir gone.
    let pid = child.id().expect("a pid");
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("the demo ends within the wait after SIGINT")
        .expect("exit status");
    assert_eq!(status.code(), Some(0), "{}", log());
    let dir = at.store.parent().expect("the store's dir");
    assert!(!dir.exists(), "{} is left behind", dir.display());
}
