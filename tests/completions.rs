//! `token-sidecar completions SHELL` prints a completion script for bash, zsh and fish that
//! knows the subcommands.

use std::process::Command;

fn completions(shell: &str) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_token-sidecar"))
        .args(["completions", shell])
        .output()
        .expect("run token-sidecar completions");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn each_shell_gets_a_script_that_knows_the_subcommands() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef token-sidecar"),
        ("fish", "complete -c token-sidecar"),
    ] {
        let (code, script) = completions(shell);
        assert_eq!(code, Some(0), "{shell}");
        assert!(script.contains(marker), "{shell}: no {marker:?} in\n{script}");
        for sub in ["check", "tokens", "demo", "completions"] {
            assert!(script.contains(sub), "{shell}: {sub} not completed");
        }
    }
}

#[test]
fn an_unknown_shell_is_bad_usage() {
    let (code, _) = completions("tcsh");
    assert_eq!(code, Some(2));
}
