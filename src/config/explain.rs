//! figment's errors in a user's words: the key as written (`routes[0].prefix`, no profile
//! prefix), what was expected and what was found, the closest valid key for an unknown one,
//! and the environment variable when the value came from one.

use figment::error::{Actual, Kind};

use super::problems::Problem;
use super::suggest;
use super::validate::env_var;

pub fn problems(error: figment::Error) -> Vec<Problem> {
    error.into_iter().map(problem).collect()
}

fn problem(e: figment::Error) -> Problem {
    let key = key(&e.path);
    let message = match &e.kind {
        Kind::UnknownField(found, valid) => unknown(&e.path, found, valid),
        Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
            format!("expected {}; found {}", plain(expected), found(actual))
        }
        Kind::InvalidLength(n, expected) => format!("expected {}; found {n} items", plain(expected)),
        other => other.to_string(),
    };
    let from_env = e
        .metadata
        .as_ref()
        .is_some_and(|m| m.name.contains("environment"));
    let at = (from_env && !key.is_empty()).then(|| env_var(&key));
    Problem { key, message, at }
}

/// figment's path (`["routes", "0", "prefix"]`) as the key is written (`routes[0].prefix`).
fn key(path: &[String]) -> String {
    let mut out = String::new();
    for step in path {
        if !step.is_empty() && step.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{step}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(step);
        }
    }
    out
}

fn unknown(path: &[String], found: &str, valid: &[&str]) -> String {
    if let Some(k) = suggest::closest(found, valid.iter().copied()) {
        return format!("unknown key; did you mean `{k}`?");
    }
    let parent = &path[..path.len().saturating_sub(1)];
    let table = match parent {
        [] => "the top level".to_string(),
        [head @ .., last] if last.bytes().all(|b| b.is_ascii_digit()) => format!("[[{}]]", head.join(".")),
        _ => format!("[{}]", parent.join(".")),
    };
    format!("unknown key; {table} takes {}", valid.join(", "))
}

/// serde's names of types, in the words of a TOML file.
fn plain(expected: &str) -> String {
    let integer = [
        "u8", "u16", "u32", "u64", "usize", "i8", "i16", "i32", "i64", "isize",
    ];
    match expected {
        "a sequence" => "a list, such as [\"a\", \"b\"]".to_string(),
        "a map" => "a table, such as { name = \"value\" }".to_string(),
        e if integer.contains(&e) => "a whole number".to_string(),
        e => e.to_string(),
    }
}

fn found(actual: &Actual) -> String {
    match actual {
        Actual::Str(s) => format!("the string {s:?}"),
        Actual::Unsigned(n) => format!("the number {n}"),
        Actual::Signed(n) => format!("the number {n}"),
        Actual::Float(n) => format!("the number {n}"),
        Actual::Bool(b) => format!("{b}"),
        Actual::Seq => "a list".to_string(),
        Actual::Map => "a table".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_as_written() {
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(key(&path(&["server", "lisen"])), "server.lisen");
        assert_eq!(key(&path(&["routes", "0", "prefix"])), "routes[0].prefix");
        assert_eq!(
            unknown(&path(&["routes", "0", "zzz"]), "zzz", &["prefix", "provider"]),
            "unknown key; [[routes]] takes prefix, provider"
        );
        assert_eq!(
            unknown(&path(&["server", "lisen"]), "lisen", &["listen", "admin_listen"]),
            "unknown key; did you mean `listen`?"
        );
    }
}
