//! A tiny W3C WebDriver client: starts `/usr/bin/chromedriver` and drives headless
//! `/usr/bin/chromium` (install both with `.ci/install-chromium`). Each browser test binary
//! includes this with `mod browser;`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// The W3C key under which an element reference travels.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// Chromium's flags (and a fresh `--user-data-dir`): headless, quiet, nothing fetched on its own.
const ARGS: &str = "--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --disable-quic \
    --no-first-run --disable-background-networking --disable-component-update --disable-sync \
    --no-proxy-server --window-size=1280,900";

/// A found element (its WebDriver reference).
#[derive(Debug, Clone)]
pub struct Element(String);

/// One chromedriver process with one browser session; both end on drop.
pub struct Browser {
    http: reqwest::Client,
    port: u16,
    session: String,
    driver: Child,
    profile: tempfile::TempDir,
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// Starts chromedriver on `port` and waits until `/status` says ready; None if it did not.
async fn start_driver(http: &reqwest::Client, port: u16) -> Option<Child> {
    let mut child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {CHROMEDRIVER} (see .ci/install-chromium): {e}"));
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
        let status = http.get(format!("http://127.0.0.1:{port}/status")).send().await;
        if let Ok(resp) = status {
            let body: Value = resp.json().await.unwrap_or_default();
            if body["value"]["ready"] == true {
                return Some(child);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

impl Browser {
    /// Starts chromedriver (retrying on another port if one was taken) and a headless session.
    pub async fn start() -> Browser {
        Browser::start_with(&[]).await
    }

    /// `start`, with more Chromium flags (say `--host-resolver-rules=...`).
    pub async fn start_with(extra_args: &[&str]) -> Browser {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60));
        let http = http.build().expect("client");
        let mut started = None;
        for _ in 0..3 {
            let port = free_port();
            if let Some(child) = start_driver(&http, port).await {
                started = Some((port, child));
                break;
            }
        }
        let (port, driver) = started.expect("chromedriver did not become ready");
        let profile = tempfile::tempdir().expect("tempdir");
        let mut args: Vec<String> = ARGS.split_whitespace().map(String::from).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.extend(extra_args.iter().map(|a| a.to_string()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let session = String::new();
        let mut browser = Browser {
            http,
            port,
            session,
            driver,
            profile,
        };
        let value = browser.call("/session", Some(caps)).await;
        browser.session = value["sessionId"].as_str().expect("sessionId").to_string();
        browser
    }

    /// One WebDriver command: a POST of `body`, or a GET without; panics with the driver's error.
    async fn call(&self, path: &str, body: Option<Value>) -> Value {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        let req = match &body {
            Some(body) => self.http.post(&url).json(body),
            None => self.http.get(&url),
        };
        let sent = async {
            let resp = req.send().await?;
            Ok::<_, reqwest::Error>((resp.status(), resp.json::<Value>().await?))
        };
        let (status, mut answer) = sent.await.unwrap_or_else(|e| panic!("WebDriver {path}: {e}"));
        let error = &answer["value"];
        assert!(status.is_success(), "WebDriver {path}: {status} {error}");
        answer["value"].take()
    }

    /// A command of this session.
    async fn cmd(&self, path: &str, body: Option<Value>) -> Value {
        self.call(&format!("/session/{}{path}", self.session), body).await
    }

    /// A GET command of this session whose value is a string.
    async fn string(&self, path: &str) -> String {
        let v = self.cmd(path, None).await;
        v.as_str()
            .unwrap_or_else(|| panic!("{path}: not a string: {v}"))
            .to_string()
    }

    pub async fn goto(&self, url: &str) {
        self.cmd("/url", Some(json!({ "url": url }))).await;
    }

    pub async fn current_url(&self) -> String {
        self.string("/url").await
    }

    pub async fn page_source(&self) -> String {
        self.string("/source").await
    }

    async fn find(&self, using: &str, value: &str) -> Element {
        let v = self
            .cmd("/element", Some(json!({ "using": using, "value": value })))
            .await;
        Element(v[ELEMENT_KEY].as_str().expect("element reference").to_string())
    }

    pub async fn find_css(&self, selector: &str) -> Element {
        self.find("css selector", selector).await
    }

    pub async fn find_link_text(&self, text: &str) -> Element {
        self.find("link text", text).await
    }

    pub async fn click(&self, element: &Element) {
        self.cmd(&format!("/element/{}/click", element.0), Some(json!({})))
            .await;
    }

    /// The element's rendered text.
    pub async fn text(&self, element: &Element) -> String {
        self.string(&format!("/element/{}/text", element.0)).await
    }

    /// Runs `script` in the page as an async function body: it calls `arguments[0]` (the
    /// callback WebDriver appends) with its result.
    pub async fn execute_async(&self, script: &str) -> Value {
        self.cmd("/execute/async", Some(json!({ "script": script, "args": [] })))
            .await
    }

    /// Saves a PNG of the viewport to `path` (creating its directory).
    pub async fn screenshot_png(&self, path: impl AsRef<Path>) {
        let png = base64::engine::general_purpose::STANDARD.decode(self.string("/screenshot").await);
        if let Some(dir) = path.as_ref().parent() {
            std::fs::create_dir_all(dir).expect("screenshot directory");
        }
        std::fs::write(path, png.expect("screenshot is base64")).expect("write screenshot");
    }
}

impl Drop for Browser {
    /// Ends the session (closing Chromium) with a blocking DELETE, then kills chromedriver.
    fn drop(&mut self) {
        if !self.session.is_empty() {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let req = format!(
                    "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
                    self.session, self.port
                );
                let _ = s.write_all(req.as_bytes());
                // Chromium is gone once the answer (a JSON object) is in; the driver may keep
                // the connection open, so stop at the body's end rather than at EOF.
                let (mut buf, mut chunk) = (Vec::new(), [0u8; 1024]);
                while let Ok(n @ 1..) = s.read(&mut chunk) {
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.ends_with(b"}") {
                        break;
                    }
                }
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
