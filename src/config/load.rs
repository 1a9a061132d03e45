//! Reading the sources: built-in defaults, the TOML file, then `TOKEN_SIDECAR_*` variables.
//! Every problem found on the way names where its key was set: the file and line, or the
//! environment variable.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use toml_edit::ImDocument;

use super::env::environment;
use super::raw::RawConfig;
use super::validate::env_var;
use super::{explain, locate, validate, Config, ConfigError, Problem};

/// `--config`, else `$TOKEN_SIDECAR_CONFIG`, else `proxy.toml` in the working directory.
pub fn config_path(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| std::env::var_os("TOKEN_SIDECAR_CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("proxy.toml"))
}

/// Loads and validates the file at `path` with the process environment on top.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_from(path, Env::prefixed("TOKEN_SIDECAR_"))
}

/// As `load`, with the environment given (tests pass a scoped one).
pub fn load_from(path: &Path, env: Env) -> Result<Config, ConfigError> {
    let source = Source::read(path)?;
    let figment = source.figment().merge(environment(env));
    let mut config = source.check(&figment, base_of(path))?;
    config.source = Some(path.to_path_buf());
    Ok(config)
}

/// Loads and validates configuration `text` that no file holds (the demo's), with no
/// environment on top; relative paths are resolved against `base`.
pub fn from_toml(text: &str, base: &Path) -> Result<Config, ConfigError> {
    let source = Source::parse("the demo's configuration".into(), text.to_string())?;
    source.check(&source.figment(), base)
}

/// The directory relative paths in the file at `path` are resolved against.
pub(super) fn base_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A configuration text, parsed once to find the lines of the keys problems are about.
pub(super) struct Source {
    /// How messages name it: the file's path.
    label: String,
    doc: ImDocument<String>,
}

impl Source {
    pub(super) fn read(path: &Path) -> Result<Source, ConfigError> {
        if !path.is_file() {
            return Err(ConfigError::Missing(path.to_path_buf()));
        }
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Source::parse(path.display().to_string(), text)
    }

    fn parse(label: String, text: String) -> Result<Source, ConfigError> {
        // The text is kept for the error's line; a config file is small.
        match ImDocument::parse(text.clone()) {
            Ok(doc) => Ok(Source { label, doc }),
            Err(e) => {
                let at = match e.span() {
                    Some(span) => format!("{label}:{}", line_column(&text, span.start)),
                    None => label,
                };
                let message = e.message().trim().replace('\n', "; ");
                Err(ConfigError::Syntax { at, message })
            }
        }
    }

    pub(super) fn figment(&self) -> Figment {
        Figment::new().merge(Toml::string(self.doc.raw()))
    }

    /// Extracts and validates, and places every problem at its line or variable.
    fn check(&self, figment: &Figment, base: &Path) -> Result<Config, ConfigError> {
        let problems = match figment.extract::<RawConfig>() {
            Ok(raw) => match validate(later_secret_wins(raw, figment), base) {
                Ok(config) => return Ok(config),
                Err(ConfigError::Invalid(problems)) => problems,
                Err(other) => return Err(other),
            },
            Err(e) => explain::problems(e),
        };
        Err(self.placed(problems, figment))
    }

    pub(super) fn placed(&self, mut problems: Vec<Problem>, figment: &Figment) -> ConfigError {
        for p in problems.iter_mut().filter(|p| p.at.is_none()) {
            let from_env = figment
                .find_metadata(&p.key)
                .is_some_and(|m| m.name.contains("environment"));
            p.at = Some(if from_env {
                env_var(&p.key)
            } else {
                match locate::line(&self.doc, &p.key) {
                    Some(n) => format!("{}:{n}", self.label),
                    None => self.label.clone(),
                }
            });
        }
        ConfigError::Invalid(problems)
    }
}

/// Where one source gives a provider's `client_secret` and a later one its
/// `client_secret_file` (or the other way round), the later one is the secret, as for every
/// other key: the environment overrides the file. Both from one source stays a problem.
fn later_secret_wins(mut raw: RawConfig, figment: &Figment) -> RawConfig {
    let from_env = |key: String| {
        figment
            .find_metadata(&key)
            .is_some_and(|m| m.name.contains("environment"))
    };
    for (name, rp) in raw.providers.iter_mut() {
        if rp.client_secret.is_none() || rp.client_secret_file.is_none() {
            continue;
        }
        let secret = from_env(format!("providers.{name}.client_secret"));
        let file = from_env(format!("providers.{name}.client_secret_file"));
        match (secret, file) {
            (true, false) => rp.client_secret_file = None,
            (false, true) => rp.client_secret = None,
            _ => {}
        }
    }
    raw
}

/// `LINE:COLUMN`, both 1-based, of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> String {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{line}:{column}")
}
