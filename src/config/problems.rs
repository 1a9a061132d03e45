//! Collecting configuration problems: each names its key and says how to fix it, and all of
//! them are reported at once so a user fixes a file in one pass.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

/// One thing wrong with the configuration, the key it is about, and where that key was
/// set: `FILE:LINE` (or the file alone), or the environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
    pub at: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(at) = &self.at {
            write!(f, "{at}: ")?;
        }
        write!(f, "{}: {}", self.key, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the configuration file {0} does not exist (pass --config FILE or set TOKEN_SIDECAR_CONFIG)")]
    Missing(PathBuf),
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{at}: this is not valid TOML: {message}")]
    Syntax { at: String, message: String },
    #[error("invalid configuration:\n{}", list(.0))]
    Invalid(Vec<Problem>),
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Default)]
pub(super) struct Problems(pub(super) Vec<Problem>);

impl Problems {
    pub(super) fn add(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            key: key.into(),
            message: message.into(),
            at: None,
        });
    }

    pub(super) fn addr(&mut self, key: &str, value: Option<&str>, default: &str) -> SocketAddr {
        let text = value.unwrap_or(default);
        text.parse().unwrap_or_else(|_| {
            self.add(
                key,
                format!("{text:?} is not an address; write IP:PORT, such as \"{default}\""),
            );
            fallback_addr()
        })
    }

    pub(super) fn duration(&mut self, key: &str, value: Option<&str>, default: Duration) -> Duration {
        let Some(text) = value else { return default };
        humantime::parse_duration(text.trim()).unwrap_or_else(|_| {
            self.add(
                key,
                format!("{text:?} is not a duration; write one such as \"30s\" or \"5m\""),
            );
            default
        })
    }

    /// A `ca_file` (already resolved): it must hold at least one PEM certificate, so that
    /// `check` finds what `run` would otherwise only find at start.
    pub(super) fn ca_file(&mut self, key: &str, path: PathBuf) -> PathBuf {
        if let Err(why) = crate::proxy::upstream::ca_certificates(&path) {
            self.add(key, format!("{}: {why}", path.display()));
        }
        path
    }

    pub(super) fn url(&mut self, key: &str, text: &str) -> Option<Url> {
        match Url::parse(text) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
            _ => {
                self.add(
                    key,
                    format!("{text:?} is not an http(s) URL; write one such as \"https://host/path\""),
                );
                None
            }
        }
    }
}

fn fallback_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}
