//! `token-sidecar check` as a user runs it: valid files print the resolved routes with
//! secrets masked and exit 0; each kind of mistake exits 1 with a message naming the key.

mod messages;

use std::path::PathBuf;
use std::process::{Command, Output};

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write config");
    path
}

fn check_with(text: &str, env: &[(&str, &str)]) -> (Output, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, "proxy.toml", text);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_token-sidecar"));
    cmd.arg("check").arg("--config").arg(&path);
    for (k, _) in std::env::vars() {
        if k.starts_with("TOKEN_SIDECAR_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run token-sidecar");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, all)
}

fn check(text: &str) -> (Output, String) {
    check_with(text, &[])
}

fn assert_invalid(text: &str, needles: &[&str]) {
    let (out, all) = check(text);
    assert_eq!(out.status.code(), Some(1), "{all}");
    for n in needles {
        assert!(all.contains(n), "expected {n:?} in:\n{all}");
    }
}

const TWITCH: &str = r#"
[providers.twitch]
client_id = "cid"
client_secret = "very-secret-value"
"#;

#[test]
fn a_valid_file_prints_routes_and_masks_secrets() {
    let (out, all) = check(&format!(
        "{TWITCH}\n[[routes]]\nprefix = \"/twitch\"\nprovider = \"twitch\"\n"
    ));
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("/twitch -> https://api.twitch.tv/helix"), "{all}");
    assert!(all.contains("client_secret [redacted]"), "{all}");
    assert!(!all.contains("very-secret-value"), "{all}");
}

#[test]
fn credentials_may_come_from_the_environment_even_when_numeric() {
    let text = "[providers.twitch]\n[[routes]]\nprefix = \"/t\"\nprovider = \"twitch\"\n";
    let (out, all) = check_with(
        text,
        &[
            ("TOKEN_SIDECAR_PROVIDERS__TWITCH__CLIENT_ID", "12345"),
            ("TOKEN_SIDECAR_PROVIDERS__TWITCH__CLIENT_SECRET", "s3cr3t-env"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("client_id     12345"), "{all}");
    assert!(!all.contains("s3cr3t-env"), "{all}");
}

#[test]
fn a_secret_from_the_environment_overrides_the_files_secret_file_and_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret_file = write(&dir, "secret.txt", "from-a-file\n");
    // The file names a secret file that does not exist; the environment's secret wins, so
    // it is not read.
    let (out, all) = check_with(
        "[providers.twitch]\nclient_id = \"c\"\nclient_secret_file = \"nope.txt\"\n",
        &[("TOKEN_SIDECAR_PROVIDERS__TWITCH__CLIENT_SECRET", "from-the-env")],
    );
    assert_eq!(out.status.code(), Some(0), "{all}");
    // The file has the secret; the environment names a secret file: the file's secret yields.
    let (out, all) = check_with(
        "[providers.twitch]\nclient_id = \"c\"\nclient_secret = \"in-the-file\"\n",
        &[(
            "TOKEN_SIDECAR_PROVIDERS__TWITCH__CLIENT_SECRET_FILE",
            &secret_file.display().to_string(),
        )],
    );
    assert_eq!(out.status.code(), Some(0), "{all}");
    // Both in one source: which one was meant is not known.
    assert_invalid(
        "[providers.twitch]\nclient_id = \"c\"\nclient_secret = \"s\"\nclient_secret_file = \"f\"\n",
        &["providers.twitch.client_secret_file", "keep only one"],
    );
}

#[test]
fn environment_values_keep_their_text_where_a_number_would_change_it() {
    // Digits with a leading zero, and more digits than any integer holds: taken as they are.
    let long = "98765432109876543210987654321";
    let (out, all) = check_with(
        "[providers.twitch]\n",
        &[
            ("TOKEN_SIDECAR_PROVIDERS__TWITCH__CLIENT_ID", "0071"),
            ("TOKEN_SIDECAR_PROVIDERS__TWITCH__CLIENT_SECRET", long),
            ("TOKEN_SIDECAR_SERVER__RETRY_BUFFER", "0100"),
        ],
    );
    // Valid: the number key took its digits too.
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("client_id     0071"), "{all}");
}

#[test]
fn client_secret_file_is_read_relative_to_the_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(&dir, "secret.txt", "  from-file-secret \n");
    let path = write(
        &dir,
        "proxy.toml",
        "[providers.twitch]\nclient_id = \"c\"\nclient_secret_file = \"secret.txt\"\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_token-sidecar"))
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .expect("run");
    let all = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(!all.contains("from-file-secret"));
}

#[test]
fn a_missing_client_id_or_secret_names_the_key_and_the_variable() {
    assert_invalid(
        "[providers.glimesh]\n",
        &[
            "providers.glimesh.client_id",
            "TOKEN_SIDECAR_PROVIDERS__GLIMESH__CLIENT_ID",
            "providers.glimesh.client_secret",
            "TOKEN_SIDECAR_PROVIDERS__GLIMESH__CLIENT_SECRET",
        ],
    );
    // An oauth2 provider may go without a secret only as a public client with device logins.
    assert_invalid(
        "[providers.o]\nkind = \"oauth2\"\nclient_id = \"c\"\ntoken_url = \"https://id.example/token\"\n",
        &["providers.o.client_secret", "device_authorization_url"],
    );
}

#[test]
fn a_provider_without_a_secret_is_a_public_client_with_device_logins_only() {
    let public = "[providers.twitch]\nclient_id = \"cid\"\n";
    let user_route = "[[routes]]\nprefix = \"/t\"\nprovider = \"twitch\"\ntoken = \"user\"\nuser = \"bot\"\n";
    let (out, all) = check(&format!("{public}{user_route}"));
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("public client"), "{all}");
    assert!(all.contains("https://id.twitch.tv/oauth2/device"), "{all}");
    assert_invalid(
        &format!("{public}[[routes]]\nprefix = \"/t\"\nprovider = \"twitch\"\n"),
        &[
            "routes[0].token",
            "public client",
            "providers.twitch.client_secret",
        ],
    );
    assert_invalid(
        &format!("{public}[[token_files]]\nprovider = \"twitch\"\nuser = \"app\"\npath = \"/run/t\"\n"),
        &["token_files[0].user", "public client"],
    );
    assert_invalid(
        "[providers.o]\nkind = \"oauth2\"\nclient_id = \"c\"\ntoken_url = \"https://id.example/token\"\n\
         device_authorization_url = \"https://id.example/device\"\nclient_auth = \"basic\"\n",
        &["providers.o.client_auth", "public client"],
    );
    assert_invalid(
        "[providers.glimesh]\nclient_id = \"c\"\nclient_secret = \"s\"\ndevice_authorization_url = \"https://g/d\"\n",
        &["providers.glimesh.device_authorization_url", "only twitch and oauth2"],
    );
}

#[test]
fn token_files_name_the_key_of_each_mistake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("data/tokens.json");
    let entry = |provider: &str, user: &str, path: &str, format: &str| {
        format!(
            "[[token_files]]\nprovider = \"{provider}\"\nuser = \"{user}\"\npath = \"{path}\"\nformat = \"{format}\"\n"
        )
    };
    let head = format!("[store]\npath = \"{}\"\n{TWITCH}", store.display());
    // The store's own file, spelled another way.
    let the_store = dir.path().join("data/sub/../tokens.json");
    // Beside the store is fine: the store touches only its file and that file's temp files.
    let beside = dir.path().join("data/bot-token");
    let elsewhere = dir.path().join("run/bot-token");
    let text = [
        head.clone(),
        entry("twitch", "bot", &the_store.display().to_string(), "irc"),
        entry("nope", "bot", "/run/x", "token"),
        entry("twitch", "bot", "/run/y", "yaml"),
        entry("twitch", "bot", &elsewhere.display().to_string(), "json"),
        entry("twitch", "other", &elsewhere.display().to_string(), "token"),
    ]
    .concat();
    assert_invalid(
        &text,
        &[
            "token_files[0].path",
            "is the token store's file (store.path)",
            "token_files[1].provider",
            "\"nope\"",
            "token_files[2].format",
            "\"yaml\"",
            "token_files[4].path",
            "another token file",
        ],
    );
    let (out, all) = check(&format!(
        "{head}{}{}",
        entry("twitch", "bot", &elsewhere.display().to_string(), "irc"),
        entry("twitch", "app", &beside.display().to_string(), "token"),
    ));
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(!all.contains("token_files["), "{all}");
}

#[test]
fn a_ca_file_that_holds_no_certificate_is_named_by_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").expect("write");
    let route = |ca: &str| {
        format!(
            "{TWITCH}[[routes]]\nprefix = \"/t\"\nprovider = \"twitch\"\nupstream = \"https://api.example\"\nca_file = \"{ca}\"\n"
        )
    };
    assert_invalid(&route("missing.pem"), &["routes[0].ca_file", "missing.pem"]);
    assert_invalid(
        &route(&empty.display().to_string()),
        &["routes[0].ca_file", "holds no PEM certificate"],
    );
    assert_invalid(
        &format!("{TWITCH}ca_file = \"nope.pem\"\n"),
        &["providers.twitch.ca_file", "nope.pem"],
    );
}

#[test]
fn an_unreadable_client_secret_file_is_named() {
    assert_invalid(
        "[providers.twitch]\nclient_id = \"c\"\nclient_secret_file = \"nope.txt\"\n",
        &["providers.twitch.client_secret_file", "nope.txt"],
    );
}

#[test]
fn unknown_keys_are_refused() {
    assert_invalid(&format!("{TWITCH}\nclient_secert = \"x\"\n"), &["client_secert"]);
    assert_invalid("[server]\nlisten_addr = \"x\"\n", &["listen_addr"]);
}

#[test]
fn a_route_naming_an_unknown_provider() {
    assert_invalid(
        &format!("{TWITCH}\n[[routes]]\nprefix = \"/b\"\nprovider = \"blaze\"\n"),
        &["routes[0].provider", "\"blaze\"", "twitch"],
    );
}

#[test]
fn a_provider_name_unsafe_in_a_url_is_refused() {
    // It would become the redirect URI http://localhost:9090/oauth/a/b?c#d/callback.
    let bad = "[providers.\"a/b?c#d\"]\nkind = \"twitch\"\nclient_id = \"cid\"\nclient_secret = \"s\"\n";
    assert_invalid(bad, &["providers.\"a/b?c#d\"", "1 to 64 letters"]);
    let long = format!("[providers.{}]\nkind = \"twitch\"\n", "x".repeat(65));
    assert_invalid(&long, &["1 to 64 letters"]);
    let (out, all) =
        check(&TWITCH.replace("[providers.twitch]", "[providers.My_twitch-2]\nkind = \"twitch\""));
    assert_eq!(out.status.code(), Some(0), "{all}");
}

#[test]
fn an_app_route_for_firework() {
    assert_invalid(
        "[providers.firework]\nclient_id = \"c\"\nclient_secret = \"s\"\n\
         [[routes]]\nprefix = \"/fw\"\nprovider = \"firework\"\ntoken = \"app\"\n",
        &["routes[0].token", "firework", "token = \"user\""],
    );
}

#[test]
fn an_oauth2_provider_without_token_url() {
    assert_invalid(
        "[providers.mine]\nkind = \"oauth2\"\nclient_id = \"c\"\nclient_secret = \"s\"\n",
        &["providers.mine.token_url"],
    );
}

#[test]
fn an_oauth2_provider_serving_users_needs_a_login() {
    let provider = "[providers.mine]\nkind = \"oauth2\"\nclient_id = \"c\"\nclient_secret = \"s\"\n\
                    token_url = \"https://id.example/token\"\n";
    let route = |token: &str| {
        format!("[[routes]]\nprefix = \"/api\"\nupstream = \"https://api.example\"\nprovider = \"mine\"\ntoken = \"{token}\"\n")
    };
    assert_invalid(
        &format!("{provider}{}", route("user")),
        &[
            "providers.mine.authorize_url",
            "routes[0].token",
            "device_authorization_url",
        ],
    );
    // App tokens need no login: token_url alone serves them.
    let (out, all) = check(&format!("{provider}{}", route("app")));
    assert_eq!(out.status.code(), Some(0), "{all}");
    let with_login = format!(
        "{provider}authorize_url = \"https://id.example/authorize\"\n{}",
        route("user")
    );
    let (out, all) = check(&with_login);
    assert_eq!(out.status.code(), Some(0), "{all}");
}

#[test]
fn an_unknown_kind() {
    assert_invalid(
        "[providers.mine]\nclient_id = \"c\"\nclient_secret = \"s\"\n",
        &["providers.mine.kind"],
    );
    assert_invalid(
        "[providers.x]\nkind = \"kick\"\nclient_id = \"c\"\nclient_secret = \"s\"\n",
        &["providers.x.kind", "\"kick\""],
    );
}

#[test]
fn bad_urls_are_named() {
    assert_invalid(
        &format!("{TWITCH}token_url = \"not a url\"\n"),
        &["providers.twitch.token_url", "not a url"],
    );
    assert_invalid(
        &format!("{TWITCH}\n[[routes]]\nprefix = \"/t\"\nprovider = \"twitch\"\nupstream = \"ftp://x\"\n"),
        &["routes[0].upstream"],
    );
    assert_invalid("[server]\npublic_url = \"localhost\"\n", &["server.public_url"]);
}

#[test]
fn duplicate_prefixes() {
    assert_invalid(
        &format!(
            "{TWITCH}\n[[routes]]\nprefix = \"/t\"\nprovider = \"twitch\"\n\
             [[routes]]\nprefix = \"/t/\"\nprovider = \"twitch\"\n"
        ),
        &["routes[1].prefix", "\"/t\""],
    );
}

#[test]
fn bad_durations_addresses_and_prefixes() {
    assert_invalid(
        "[server]\nrequest_timeout = \"soon\"\n",
        &["server.request_timeout", "\"30s\""],
    );
    assert_invalid("[server]\nlisten = \"8080\"\n", &["server.listen"]);
    assert_invalid(
        &format!("{TWITCH}\n[[routes]]\nprefix = \"twitch\"\nprovider = \"twitch\"\n"),
        &["routes[0].prefix"],
    );
    assert_invalid("[server]\nlog_format = \"xml\"\n", &["server.log_format"]);
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_token-sidecar"))
        .args(["check", "--config", "/nonexistent/proxy.toml"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/proxy.toml"));
}

#[test]
fn bad_usage_exits_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_token-sidecar"))
        .arg("--no-such-flag")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_admin_listener_off_loopback_needs_an_admin_token() {
    assert_invalid(
        "[server]\nadmin_listen = \"0.0.0.0:9090\"\n",
        &["server.admin_token", "0.0.0.0:9090", "health_listen"],
    );
    let (out, all) = check("[server]\nadmin_listen = \"0.0.0.0:9090\"\nadmin_token = \"t0k3n-value\"\n");
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(!all.contains("t0k3n-value"));
}

#[test]
fn limits_are_checked() {
    assert_invalid("[server]\nmax_header_bytes = 100\n", &["server.max_header_bytes"]);
    assert_invalid(
        "[server]\nmax_concurrent_requests = 0\n",
        &["server.max_concurrent_requests"],
    );
    assert_invalid(
        "[server]\nheader_read_timeout = \"x\"\n",
        &["server.header_read_timeout"],
    );
}
