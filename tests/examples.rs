//! Every configuration in examples/ is valid: `token-sidecar check` accepts it with the
//! client credentials given in the environment, as each file's comments say to.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The examples there must be: one per platform, and one with several.
const EXPECTED: [&str; 7] = [
    "blaze.toml",
    "firework.toml",
    "glimesh.toml",
    "oauth2.toml",
    "several.toml",
    "streamersonglist.toml",
    "twitch.toml",
];

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/ exists")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// The names of the `[providers.NAME]` tables in `text`.
fn providers(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("[providers.")?.split(']').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn one_example_per_platform_and_one_with_several() {
    let names: Vec<String> = examples()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for name in EXPECTED {
        assert!(
            names.iter().any(|n| n == name),
            "examples/{name} is missing: {names:?}"
        );
    }
}

#[test]
fn every_example_passes_check_with_secrets_from_the_environment() {
    for path in examples() {
        let text = std::fs::read_to_string(&path).expect("read example");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_token-sidecar"));
        cmd.arg("check").arg("--config").arg(&path);
        for (k, _) in std::env::vars() {
            if k.starts_with("TOKEN_SIDECAR_") {
                cmd.env_remove(k);
            }
        }
        let names = providers(&text);
        assert!(!names.is_empty(), "{} configures no provider", path.display());
        for name in &names {
            let var = |key: &str| format!("TOKEN_SIDECAR_PROVIDERS__{}__{key}", name.to_uppercase());
            cmd.env(var("CLIENT_ID"), format!("{name}-client-id"));
            cmd.env(var("CLIENT_SECRET"), "example-secret-value");
        }
        let out = cmd.output().expect("run check");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(0), "{}:\n{all}", path.display());
        assert!(!all.contains("warning"), "{}:\n{all}", path.display());
        assert!(
            !all.contains("example-secret-value"),
            "{}:\n{all}",
            path.display()
        );
        for name in &names {
            let callback = format!("http://localhost:9090/oauth/{name}/callback");
            assert!(
                all.contains(&callback),
                "{} names {callback} in its comments; check prints it:\n{all}",
                path.display()
            );
            assert!(
                text.contains(&callback),
                "{} tells which redirect URL to register",
                path.display()
            );
        }
    }
}
