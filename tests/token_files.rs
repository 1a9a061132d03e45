//! `[[token_files]]` kept current for clients that are not HTTP: the content after a login,
//! after a refresh and after a revoke or a refused refresh (removed), in each format; mode
//! 0600; a symlink planted at the path is replaced, never followed.

mod harness;
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::{provider, route, Proxy, WAIT};
use support::{Failure, FakePlatform, FakeUpstream, Kind};

/// Waits until `read(path)` gives what `want` accepts; panics with the last content after WAIT.
async fn wait_file(path: &Path, want: impl Fn(Option<&str>) -> bool) -> Option<String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = std::fs::read_to_string(path).ok();
        if want(now.as_deref()) {
            return now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}: {now:?}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn entry(provider: &str, user: &str, path: &Path, format: &str) -> String {
    format!(
        "[[token_files]]\nprovider = \"{provider}\"\nuser = \"{user}\"\npath = \"{}\"\nformat = \"{format}\"\n",
        path.display()
    )
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

struct Setup {
    fake: FakePlatform,
    proxy: Proxy,
    files: tempfile::TempDir,
    _up: FakeUpstream,
}

impl Setup {
    async fn start() -> Setup {
        let fake = FakePlatform::start(Kind::Twitch).await;
        let up = FakeUpstream::start_checking(fake.clone()).await;
        let files = tempfile::tempdir().unwrap();
        let body = [
            provider("tw", &fake),
            "scopes = [\"chat:read\", \"chat:edit\"]\n".into(),
            route("/me", "tw", &up.url("/helix"), "token = \"user\"\nuser = \"bot\""),
            entry("tw", "bot", &files.path().join("bot.irc"), "irc"),
            entry("tw", "bot", &files.path().join("run/bot.json"), "json"),
            entry("tw", "app", &files.path().join("app.token"), "token"),
        ]
        .concat();
        let proxy = Proxy::start("", &body).await;
        Setup {
            fake,
            proxy,
            files,
            _up: up,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.files.path().join(name)
    }
}

#[tokio::test]
async fn files_follow_logins_refreshes_and_revocations() {
    let s = Setup::start().await;
    let (irc, json) = (s.path("bot.irc"), s.path("run/bot.json"));
    // The app token is held from the start; its file is its bare value.
    let app = wait_file(&s.path("app.token"), |c| c.is_some()).await.unwrap();
    assert!(s.fake.is_valid(&app), "{app}");
    assert_eq!(mode(&s.path("app.token")), 0o600);
    // Nobody logged the bot in yet: no file.
    assert!(!irc.exists() && !json.exists());

    // A symlink planted where the file goes is replaced, and what it points to is untouched.
    let victim = s.path("victim");
    std::fs::write(&victim, "keep me").unwrap();
    std::os::unix::fs::symlink(&victim, &irc).unwrap();

    s.proxy.device_connect(&s.fake, "tw", "bot").await;
    let first = wait_file(&irc, |c| c.is_some_and(|c| c.starts_with("oauth:")))
        .await
        .unwrap();
    let token = first.strip_prefix("oauth:").unwrap().to_string();
    assert!(s.fake.is_valid(&token));
    assert!(!std::fs::symlink_metadata(&irc).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    assert_eq!(mode(&irc), 0o600);
    let text = wait_file(&json, |c| c.is_some()).await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["access_token"], token.as_str());
    assert_eq!(v["scopes"], serde_json::json!(["chat:read", "chat:edit"]));
    assert!(
        humantime::parse_rfc3339(v["expires_at"].as_str().unwrap()).is_ok(),
        "{v}"
    );
    assert_eq!(mode(&json), 0o600);
    assert!(s.proxy.tokens().await.to_string().contains("bot"));

    // A refresh replaces the file with the new token.
    assert_eq!(s.proxy.refresh_now("tw", "bot").await.status(), 200);
    let newest = s.fake.grant_history(&token).last().unwrap().0.clone();
    assert_ne!(newest, token);
    wait_file(&irc, |c| c == Some(format!("oauth:{newest}").as_str())).await;
    wait_file(&json, |c| c.is_some_and(|c| c.contains(&newest))).await;
    let leftovers: Vec<_> = std::fs::read_dir(s.files.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Revoked: the files go.
    let resp = s
        .proxy
        .http
        .delete(s.proxy.admin_url("/admin/tokens/tw/bot"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    wait_file(&irc, |c| c.is_none()).await;
    wait_file(&json, |c| c.is_none()).await;
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
}

#[tokio::test]
async fn a_refused_refresh_removes_the_file() {
    let s = Setup::start().await;
    let irc = s.path("bot.irc");
    s.proxy.device_connect(&s.fake, "tw", "bot").await;
    wait_file(&irc, |c| c.is_some()).await;
    s.fake.fail_next(Failure::Status(400), 1);
    assert_ne!(s.proxy.refresh_now("tw", "bot").await.status(), 200);
    wait_file(&irc, |c| c.is_none()).await;
    // A new login brings it back.
    s.proxy.device_connect(&s.fake, "tw", "bot").await;
    let back = wait_file(&irc, |c| c.is_some()).await.unwrap();
    assert!(s.fake.is_valid(back.strip_prefix("oauth:").unwrap()));
}

#[tokio::test]
async fn a_revoked_app_token_leaves_its_file_and_is_never_injected_again() {
    let s = Setup::start().await;
    let path = s.path("app.token");
    let first = wait_file(&path, |c| c.is_some()).await.unwrap();
    // Revoked while the platform can hand out another: the file holds the new one.
    let delete = || async {
        let url = s.proxy.admin_url("/admin/tokens/tw/app");
        s.proxy.http.delete(url).send().await.unwrap()
    };
    assert_eq!(delete().await.status(), 200);
    let second = wait_file(&path, |c| c.is_some_and(|c| c != first)).await.unwrap();
    assert!(!s.fake.is_valid(&first) && s.fake.is_valid(&second));
    // Revoked while it cannot: the file goes, and the revoked token is not injected.
    s.fake.set_failure(Failure::Status(503));
    assert_eq!(delete().await.status(), 200);
    assert!(!s.fake.is_valid(&second));
    wait_file(&path, |c| c.is_none()).await;
    let tokens = s.proxy.tokens().await;
    let app = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["subject"] == "app")
        .cloned()
        .unwrap_or_default();
    // No token held (its refresher may be trying again right now).
    assert!(app["expires_at"].is_null(), "{tokens}");
    assert!(
        matches!(app["status"].as_str(), Some("error" | "refreshing")),
        "{tokens}"
    );
    assert!(
        app["last_error"].as_str().is_some_and(|e| e.contains("503")),
        "{tokens}"
    );
}
