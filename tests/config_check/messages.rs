//! What a user reads when the configuration is wrong: the file and line (or the environment
//! variable), the key as written, what was expected, the closest valid key; and the warning
//! for a loopback `public_url` on another port than the admin listener's.

use std::process::Command;

use super::write;

/// Writes `text` as `name` and runs `check` on it, with `env` on top.
fn check_file(name: &str, text: &str, env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, name, text);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_token-sidecar"));
    cmd.arg("check").arg("--config").arg(&path);
    for (k, _) in std::env::vars() {
        if k.starts_with("TOKEN_SIDECAR_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().expect("run token-sidecar");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), stderr, path.display().to_string())
}

/// No message quotes a quote: a backtick-quoted word never holds another backtick.
fn assert_no_nested_backticks(message: &str) {
    for line in message.lines() {
        assert!(
            line.matches('`').count() % 2 == 0,
            "unbalanced backticks in {line:?}"
        );
        assert!(!line.contains("``"), "nested backticks in {line:?}");
        assert!(!line.contains("one of `"), "serde's list in {line:?}");
    }
}

#[test]
fn a_misspelt_key_names_the_file_line_and_the_closest_key() {
    let (code, err, path) = check_file(
        "typo_server.toml",
        "[server]\n\nlisen = \"127.0.0.1:8080\"\n",
        &[],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("{path}:3: server.lisen: unknown key")),
        "{err}"
    );
    assert!(err.contains("did you mean `listen`?"), "{err}");
    assert!(!err.contains("default."), "no profile prefix: {err}");
    assert_no_nested_backticks(&err);

    let text = "[providers.twitch]\nclient_id = \"c\"\nclient_secret = \"s\"\n[[routes]]\nprefix = \"/t\"\nprovder = \"twitch\"\n";
    let (_, err, path) = check_file("proxy.toml", text, &[]);
    assert!(
        err.contains(&format!(
            "{path}:6: routes[0].provder: unknown key; did you mean `provider`?"
        )),
        "{err}"
    );

    // With nothing close, the table's keys are listed instead.
    let (_, err, _) = check_file("proxy.toml", "[store]\ncolour = \"x\"\n", &[]);
    assert!(
        err.contains("store.colour: unknown key; [store] takes kind, path, url, url_file"),
        "{err}"
    );
    assert_no_nested_backticks(&err);
}

#[test]
fn a_key_from_the_environment_names_the_variable() {
    let (code, err, _) = check_file("proxy.toml", "", &[("TOKEN_SIDECAR_SERVER__LISEN", "x")]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("TOKEN_SIDECAR_SERVER__LISEN: server.lisen: unknown key; did you mean `listen`?"),
        "{err}"
    );
    let (_, err, _) = check_file("proxy.toml", "", &[("TOKEN_SIDECAR_SERVER__LISTEN", "8080")]);
    assert!(
        err.contains("TOKEN_SIDECAR_SERVER__LISTEN: server.listen:"),
        "{err}"
    );
}

#[test]
fn a_wrong_type_says_what_was_expected() {
    let (code, err, path) = check_file("proxy.toml", "[server]\nretry_buffer = \"64k\"\n", &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&format!("{path}:2: server.retry_buffer:")), "{err}");
    assert!(err.contains("an integer number of bytes"), "{err}");
    assert!(err.contains("\"64k\""), "{err}");
    assert!(!err.contains("u64"), "no Rust type names: {err}");

    let text = "[providers.twitch]\nclient_id = \"c\"\nclient_secret = \"s\"\nscopes = \"a b\"\n";
    let (_, err, _) = check_file("proxy.toml", text, &[]);
    assert!(err.contains("providers.twitch.scopes: expected a list"), "{err}");
    assert!(!err.contains("sequence"), "{err}");
}

#[test]
fn a_wrong_kind_is_one_error_naming_the_kinds() {
    let text = "[providers.x]\nkind = \"twich\"\nclient_id = \"c\"\nclient_secret = \"s\"\n\
                [[routes]]\nprefix = \"/x\"\nprovider = \"x\"\n";
    let (code, err, path) = check_file("proxy.toml", text, &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&format!("{path}:2: providers.x.kind:")), "{err}");
    assert!(err.contains("did you mean `twitch`?"), "{err}");
    assert!(
        err.contains("twitch, blaze, glimesh, firework, streamersonglist, oauth2"),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.contains(&path)).count(),
        1,
        "one error:\n{err}"
    );
    assert!(!err.contains("upstream"), "{err}");
}

#[test]
fn a_missing_key_is_placed_at_its_table() {
    let (_, err, path) = check_file(
        "proxy.toml",
        // (Without client_secret it is a public client; without client_id it is nothing.)
        "# twitch\n\n[providers.twitch]\nclient_secret = \"s\"\n",
        &[],
    );
    assert!(
        err.contains(&format!("{path}:3: providers.twitch.client_id: is missing")),
        "{err}"
    );
}

#[test]
fn a_toml_syntax_error_names_the_line_and_column() {
    let (code, err, path) = check_file("proxy.toml", "[server]\nlisten = \"x\n", &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&format!("{path}:2:")), "{err}");
    assert!(err.contains("not valid TOML"), "{err}");
}

#[test]
fn a_loopback_public_url_on_another_port_than_the_admin_listener_is_warned_about() {
    let text = "[server]\nadmin_listen = \"127.0.0.1:9091\"\npublic_url = \"http://localhost:9090\"\n";
    let (code, err, _) = check_file("proxy.toml", text, &[]);
    assert_eq!(code, Some(0), "a warning, not an error: {err}");
    assert!(
        err.contains("warning: server.public_url: http://localhost:9090"),
        "{err}"
    );
    assert!(err.contains("port 9091"), "{err}");

    let (code, err, _) = check_file("proxy.toml", "[server]\nadmin_listen = \"127.0.0.1:9091\"\n", &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        !err.contains("warning"),
        "public_url follows admin_listen by default: {err}"
    );
}

#[cfg(unix)]
#[test]
fn the_same_warning_is_logged_at_start() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::Duration;

    let dir = tempfile::tempdir().expect("tempdir");
    let text = "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n\
                public_url = \"http://localhost:1\"\n";
    let path = write(&dir, "proxy.toml", text);
    let mut child = Command::new(env!("CARGO_BIN_EXE_token-sidecar"))
        .args(["run", "--config"])
        .arg(&path)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .env_remove("TOKEN_SIDECAR_LOG_FORMAT")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut log = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            log.push_str(&line);
            log.push('\n');
            if line.contains("token-sidecar listening") {
                break;
            }
        }
        let _ = tx.send(log);
    });
    let log = rx.recv_timeout(Duration::from_secs(20));
    let _ = child.kill();
    let _ = child.wait();
    let log = log.expect("the proxy started and logged within the wait");
    let warning = log
        .lines()
        .find(|l| l.contains("WARN") && l.contains("public_url"))
        .unwrap_or_else(|| panic!("no public_url warning at start:\n{log}"));
    assert!(warning.contains("http://localhost:1 "), "{warning}");
}
