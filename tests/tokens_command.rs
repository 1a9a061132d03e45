//! `token-sidecar tokens` needs only a valid `[store]`: an operator lists what is stored
//! without the providers' client secrets, which only the running proxy's environment holds.

use std::path::Path;
use std::process::{Command, Output};

/// A store file holding one user token of `twitch`/`alice` (the documented file shape).
const STORE: &str = r#"{"version": 1, "tokens": [{
  "provider": "twitch", "subject": "alice", "kind": "user",
  "access_token": "access-value-never-shown", "refresh_token": "refresh-value-never-shown",
  "issued_at": 4102444800.0, "lifetime": 3600.0, "scopes": ["user:read:email"]
}]}"#;

fn tokens(dir: &Path, config: &str) -> (Output, String) {
    let path = dir.join("proxy.toml");
    std::fs::write(&path, config).expect("write config");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_token-sidecar"));
    cmd.arg("tokens").arg("--config").arg(&path);
    for (k, _) in std::env::vars() {
        if k.starts_with("TOKEN_SIDECAR_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd.output().expect("run token-sidecar tokens");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, all)
}

#[test]
fn the_stored_tokens_are_listed_without_the_providers_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("state")).expect("mkdir");
    std::fs::write(dir.path().join("state/tokens.json"), STORE).expect("write store");
    // No client secret anywhere, and a route the full check would refuse: neither matters.
    let config = "[store]\npath = \"state/tokens.json\"\n\n\
                  [providers.twitch]\nclient_id = \"c\"\n\n\
                  [[routes]]\nprefix = \"/t\"\nprovider = \"nobody\"\n";
    let (out, all) = tokens(dir.path(), config);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains("twitch") && all.contains("alice") && all.contains("user:read:email"),
        "{all}"
    );
    assert!(!all.contains("never-shown"), "{all}");

    let dir = tempfile::tempdir().expect("tempdir");
    let (out, all) = tokens(dir.path(), "[providers.twitch]\n");
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("no tokens are stored"), "{all}");
}

#[test]
fn an_invalid_store_table_is_still_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, all) = tokens(dir.path(), "[store]\npth = \"tokens.json\"\n");
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("proxy.toml:2: store.pth: unknown key; did you mean `path`?"),
        "{all}"
    );
}
