//! Checking the `[[token_files]]` entries: a known provider and format, a subject that has a
//! token to keep, and a path of its own: never the file store's own file, which the next
//! write would replace, and never shared with another entry. Beside the store, as in the
//! config's own directory, is fine: the store only ever touches its file and that file's
//! temporary siblings (`.tokens.json.*.tmp`).

use std::collections::{BTreeMap, HashSet};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::problems::Problems;
use super::raw::{RawProvider, RawTokenFile};
use super::validate::resolve;
use super::{Kind, ProviderConfig, TokenFileConfig, TokenFileFormat};
use crate::proxy::token::valid_user;

const FORMATS: &str = "\"token\", \"irc\" or \"json\"";

pub(super) fn token_files(
    raw: &[RawTokenFile],
    raw_providers: &BTreeMap<String, RawProvider>,
    providers: &BTreeMap<String, Arc<ProviderConfig>>,
    store_file: Option<&Path>,
    base: &Path,
    p: &mut Problems,
) -> Vec<TokenFileConfig> {
    let store_file = store_file.map(normalized);
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, rf) in raw.iter().enumerate() {
        let key = |k: &str| format!("token_files[{i}].{k}");
        let provider = match rf.provider.as_deref() {
            None => {
                p.add(key("provider"), "is missing: name one of the [providers] tables");
                None
            }
            Some(name) if !raw_providers.contains_key(name) => {
                let known: Vec<&str> = raw_providers.keys().map(String::as_str).collect();
                p.add(
                    key("provider"),
                    format!(
                        "names the unknown provider {name:?}; configured providers: [{}]",
                        known.join(", ")
                    ),
                );
                None
            }
            Some(name) => Some(name.to_string()),
        };
        let subject = match rf.user.as_deref() {
            None => {
                p.add(
                    key("user"),
                    "is missing: name the user whose token the file keeps, or \"app\"",
                );
                None
            }
            Some(u) if !valid_user(u) => {
                p.add(
                    key("user"),
                    format!("{u:?} is not a user name: 1 to 128 letters, digits or _ . @ : -"),
                );
                None
            }
            Some(u) => Some(u.to_string()),
        };
        if let (Some(name), Some("app")) = (&provider, subject.as_deref()) {
            app_token_check(&key("user"), name, raw_providers, providers, p);
        }
        let format = match rf.format.as_deref().unwrap_or("token") {
            "token" => Some(TokenFileFormat::Token),
            "irc" => Some(TokenFileFormat::Irc),
            "json" => Some(TokenFileFormat::Json),
            other => {
                p.add(
                    key("format"),
                    format!("{other:?} is not a token file format; write {FORMATS}"),
                );
                None
            }
        };
        let path = match rf.path.as_deref().filter(|s| !s.trim().is_empty()) {
            None => {
                p.add(
                    key("path"),
                    "is missing: give the file's path, such as \"/run/tokens/twitch-bot\"",
                );
                None
            }
            Some(text) => {
                let path = resolve(base, text);
                let at = normalized(&path);
                if store_file.as_ref() == Some(&at) {
                    p.add(
                        key("path"),
                        format!(
                            "{} is the token store's file (store.path); give the token file a \
                             path of its own, such as /run/tokens/twitch-bot",
                            path.display()
                        ),
                    );
                    None
                } else if !seen.insert(at) {
                    p.add(
                        key("path"),
                        format!(
                            "{} is the path of another token file; each file may appear once",
                            path.display()
                        ),
                    );
                    None
                } else {
                    Some(path)
                }
            }
        };
        if let (Some(provider), Some(subject), Some(path), Some(format)) = (provider, subject, path, format) {
            out.push(TokenFileConfig {
                provider,
                subject,
                path,
                format,
            });
        }
    }
    out
}

/// An app token's file needs a provider that gets app tokens.
fn app_token_check(
    key: &str,
    name: &str,
    raw_providers: &BTreeMap<String, RawProvider>,
    providers: &BTreeMap<String, Arc<ProviderConfig>>,
    p: &mut Problems,
) {
    let kind = raw_providers[name]
        .kind
        .as_deref()
        .unwrap_or(name)
        .parse::<Kind>()
        .ok();
    if kind.is_some_and(|k| !k.has_app_tokens()) {
        p.add(
            key,
            format!("is \"app\", but {name} is a firework provider, which has no app tokens"),
        );
    } else if providers.get(name).is_some_and(|pc| pc.is_public()) {
        p.add(
            key,
            format!("is \"app\", but provider {name:?} is a public client (no client_secret), which gets no app tokens"),
        );
    }
}

/// `path` made absolute and free of `.` and `..`, with its longest existing ancestor
/// resolved through symlinks, so two spellings of one place compare equal.
fn normalized(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut clean = PathBuf::new();
    for c in absolute.components() {
        match c {
            Component::ParentDir => {
                clean.pop();
            }
            Component::CurDir => {}
            other => clean.push(other),
        }
    }
    let mut existing = clean.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            return rest.iter().rev().fold(real, |acc, part| acc.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return clean,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_place_compare_equal() {
        let dir = tempfile::tempdir().unwrap();
        let a = normalized(&dir.path().join("x/../store/./f"));
        let b = normalized(&dir.path().join("store/f"));
        assert_eq!(a, b);
        assert!(b.starts_with(normalized(dir.path())));
    }
}
