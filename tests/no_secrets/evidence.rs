//! What the session showed, what it captured in the log, and every secret it used.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::harness::Proxy;
use crate::support::{FakePlatform, FakeUpstream};

/// The captured log: everything every subscriber-visible target wrote.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

/// Everything the session showed to someone (what) and every secret it used.
#[derive(Default)]
pub struct Evidence {
    pub shown: Vec<(String, String)>,
    pub secrets: BTreeSet<String>,
}

impl Evidence {
    pub fn show(&mut self, what: impl Into<String>, text: impl Into<String>) {
        self.shown.push((what.into(), text.into()));
    }

    pub fn secret(&mut self, s: &str) {
        assert!(s.len() >= 8, "too short to search for safely: {s:?}");
        self.secrets.insert(s.to_string());
    }

    /// Every access and refresh token in the store file now.
    pub fn store(&mut self, proxy: &Proxy) {
        let text = std::fs::read_to_string(proxy.dir.path().join("tokens.json")).expect("the store");
        let stored: serde_json::Value = serde_json::from_str(&text).expect("JSON store");
        for t in stored["tokens"].as_array().expect("tokens") {
            for key in ["access_token", "refresh_token"] {
                if let Some(v) = t[key].as_str() {
                    self.secret(v);
                }
            }
        }
    }

    /// Every bearer token an upstream was sent.
    pub fn upstream(&mut self, up: &FakeUpstream) {
        for r in up.requests() {
            if let Some(a) = r.headers.get("authorization") {
                let a = a.to_str().expect("ASCII authorization");
                self.secret(a.strip_prefix("Bearer ").expect("a bearer token"));
            }
            for (name, value) in &r.headers {
                if name == "secret" {
                    self.secret(value.to_str().unwrap());
                }
            }
        }
    }

    /// Every token of every grant the fakes know one of our tokens from: the whole rotation
    /// chains, including tokens replaced between two looks at the store.
    pub fn chains(&mut self, fakes: &[&FakePlatform]) {
        let known: Vec<String> = self.secrets.iter().cloned().collect();
        for fake in fakes {
            for t in &known {
                for (access, refresh) in fake.grant_history(t) {
                    self.secret(&access);
                    if let Some(r) = refresh {
                        self.secret(&r);
                    }
                }
            }
        }
    }
}

/// Where a secret shows: in an answer, or on a line of the log.
pub fn leaks(secrets: &BTreeSet<String>, shown: &[(String, String)], log: &str) -> Vec<String> {
    let mut leaks = Vec::new();
    for (what, text) in shown {
        for secret in secrets {
            if text.contains(secret.as_str()) {
                leaks.push(format!("{what} shows {secret:?}:\n{text}\n"));
            }
        }
    }
    for line in log.lines() {
        for secret in secrets {
            if line.contains(secret.as_str()) {
                leaks.push(format!("the log shows {secret:?}: {line}"));
            }
        }
    }
    leaks
}

/// Every file under `dirs` that holds a secret and is not one of the `allowed` files.
pub fn file_leaks(secrets: &BTreeSet<String>, dirs: &[&Path], allowed: &[PathBuf]) -> Vec<String> {
    let mut leaks = Vec::new();
    for dir in dirs {
        for path in walk(dir) {
            let bytes = std::fs::read(&path).expect("readable");
            let text = String::from_utf8_lossy(&bytes);
            for secret in secrets {
                if text.contains(secret.as_str()) && !allowed.contains(&path) {
                    leaks.push(format!("{} holds {secret:?}", path.display()));
                }
            }
        }
    }
    leaks
}

/// Every file under `dir`, recursively.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
