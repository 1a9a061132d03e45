//! `token-sidecar login PROVIDER --user NAME` run as a process against a running proxy, as a
//! person runs it through `kubectl exec`: it prints the code and the URL, waits, and exits 0
//! once connected, 1 when denied, expired or the proxy cannot be reached, 2 on bad usage.

mod harness;
mod support;

use std::path::Path;
use std::process::{ExitStatus, Stdio};

use harness::{provider, route, Proxy, WAIT};
use support::{FakePlatform, FakeUpstream, Kind};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

const ADMIN_TOKEN: &str = "adm-token-for-login";

async fn setup(kind: Kind) -> (FakePlatform, FakeUpstream, Proxy) {
    let fake = FakePlatform::start(kind).await;
    let up = FakeUpstream::start_checking(fake.clone()).await;
    let body = format!(
        "{}scopes = [\"chat:read\"]\n{}",
        provider("p", &fake),
        route("/me", "p", &up.url("/api"), "token = \"user\"\nuser = \"bot\""),
    );
    let proxy = Proxy::start(&format!("admin_token = \"{ADMIN_TOKEN}\""), &body).await;
    (fake, up, proxy)
}

/// `token-sidecar login ARGS --config FILE`, its admin listener at `admin` (the proxy under
/// test binds port 0, so the file's own address is overridden the documented way).
fn login(config: &Path, admin: &str, args: &[&str]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_token-sidecar"));
    cmd.arg("login").args(args).arg("--config").arg(config);
    for (k, _) in std::env::vars() {
        if k.starts_with("TOKEN_SIDECAR_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("TOKEN_SIDECAR_SERVER__ADMIN_LISTEN", admin)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd.spawn().expect("run token-sidecar login")
}

/// Reads the printed lines up to the code, and returns (everything read, the code).
async fn read_code(child: &mut Child) -> (String, String) {
    let stdout = child.stdout.as_mut().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = String::new();
    let mut after_prompt = false;
    let read = async {
        while let Some(line) = lines.next_line().await.expect("stdout") {
            seen.push_str(&line);
            seen.push('\n');
            if after_prompt && !line.trim().is_empty() {
                return Some(line.trim().to_string());
            }
            after_prompt |= line.contains("enter the code");
        }
        None
    };
    let code = tokio::time::timeout(WAIT, read).await.expect("the code in time");
    let code = code.unwrap_or_else(|| panic!("no code in:\n{seen}"));
    (seen, code)
}

async fn finish(mut child: Child) -> (ExitStatus, String, String) {
    let status = tokio::time::timeout(WAIT * 2, child.wait())
        .await
        .expect("login ends in time")
        .expect("wait");
    let (mut out, mut err) = (String::new(), String::new());
    if let Some(s) = child.stdout.as_mut() {
        s.read_to_string(&mut out).await.expect("stdout");
    }
    if let Some(s) = child.stderr.as_mut() {
        s.read_to_string(&mut err).await.expect("stderr");
    }
    (status, out, err)
}

#[tokio::test]
async fn pending_then_approved_connects_and_exits_0() {
    for kind in [Kind::Twitch, Kind::OAuth2 { basic: false }] {
        let (fake, up, proxy) = setup(kind).await;
        let admin = proxy.admin.to_string();
        let mut child = login(&proxy.config_path(), &admin, &["p", "--user", "bot"]);
        let (printed, code) = read_code(&mut child).await;
        assert!(printed.contains("To connect bot at p"), "{printed}");
        assert!(
            printed.contains(&fake.url("/")),
            "the verification URL: {printed}"
        );
        // Pending: the proxy polls, the command waits.
        assert!(fake.wait_device_polls(1, WAIT).await);
        assert!(child.try_wait().expect("try_wait").is_none(), "still waiting");
        assert_eq!(proxy.get("/me/x").await.status(), 503);

        assert!(fake.approve_device(&code, "bot"), "{kind:?}: {code}");
        let (status, out, err) = finish(child).await;
        assert_eq!(status.code(), Some(0), "{kind:?}: {out}{err}");
        assert!(out.contains("Connected"), "{out}");
        assert_eq!(proxy.get("/me/x").await.status(), 200);
        assert_eq!(up.count(), 1);
        assert!(fake.rejected().is_empty(), "{:?}", fake.rejected());
    }
}

#[tokio::test]
async fn denied_and_expired_exit_1() {
    let (fake, _up, proxy) = setup(Kind::Twitch).await;
    let admin = proxy.admin.to_string();
    let mut child = login(&proxy.config_path(), &admin, &["p", "--user", "bot"]);
    let (_, code) = read_code(&mut child).await;
    assert!(fake.deny_device(&code));
    let (status, out, err) = finish(child).await;
    assert_eq!(status.code(), Some(1), "{out}{err}");
    assert!(out.contains("denied"), "{out}");

    fake.set_device_timing(1, 2);
    let child = login(&proxy.config_path(), &admin, &["p", "--user", "bot"]);
    let (status, out, err) = finish(child).await;
    assert_eq!(status.code(), Some(1), "{out}{err}");
    assert!(out.contains("expired"), "{out}");
    assert_eq!(proxy.get("/me/x").await.status(), 503);
    assert!(fake.rejected().is_empty(), "{:?}", fake.rejected());
}

#[tokio::test]
async fn slow_down_is_honoured() {
    let (fake, _up, proxy) = setup(Kind::OAuth2 { basic: false }).await;
    fake.slow_down_next();
    let mut child = login(
        &proxy.config_path(),
        &proxy.admin.to_string(),
        &["p", "--user", "bot"],
    );
    let (_, code) = read_code(&mut child).await;
    assert!(fake.wait_device_polls(1, WAIT).await);
    assert!(fake.approve_device(&code, "bot"));
    let (status, out, err) = finish(child).await;
    assert_eq!(status.code(), Some(0), "{out}{err}");
    assert_eq!(fake.device_polls(), 2, "one slow_down, then the token");
    assert!(
        fake.rejected().is_empty(),
        "no poll came sooner than the grown interval: {:?}",
        fake.rejected()
    );
}

#[tokio::test]
async fn bad_usage_exits_2_and_an_unreachable_proxy_1() {
    let (fake, _up, proxy) = setup(Kind::Twitch).await;
    let admin = proxy.admin.to_string();
    let config = proxy.config_path();
    let (status, _, err) = finish(login(&config, &admin, &["nope"])).await;
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("no provider named \"nope\""), "{err}");
    let (status, _, err) = finish(login(&config, &admin, &["p", "--user", "two words"])).await;
    assert_eq!(status.code(), Some(2), "{err}");
    let (status, _, err) = finish(login(&config, &admin, &[])).await;
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("PROVIDER"), "{err}");

    // The admin token of the file is sent; another one is refused.
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.toml");
    std::fs::write(&other, "[server]\nadmin_token = \"wrong\"\n").unwrap();
    let (status, _, err) = finish(login(&other, &admin, &["p"])).await;
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("admin token"), "{err}");

    // Only the [server] part must be valid: a provider without its secret (which only the
    // proxy's environment holds) does not stop the command; nothing listening does.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    std::fs::write(&other, "[providers.glimesh]\nclient_id = \"c\"\n").unwrap();
    let (status, _, err) = finish(login(&other, &closed, &["glimesh"])).await;
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("cannot reach the proxy's admin listener"), "{err}");
    assert!(err.contains("kubectl exec"), "{err}");
    assert_eq!(fake.device_codes(), 0);
}
