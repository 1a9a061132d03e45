//! Reading the sources: built-in defaults, the TOML file, then `TOKEN_SIDECAR_*` variables.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Toml};
use figment::Figment;

use super::problems::Problems;
use super::raw::{RawConfig, RawStore};
use super::{validate, Config, ConfigError, Store};

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
    let figment = sources(path, env)?;
    let raw: RawConfig = figment.extract().map_err(|e| ConfigError::Load(Box::new(e)))?;
    let mut config = validate(raw, base(path))?;
    config.source = Some(path.to_path_buf());
    Ok(config)
}

/// Only `[store]` of the file at `path` (with the environment on top), checked on its own:
/// what `token-sidecar tokens` and `store import` need, whatever the rest says.
pub fn load_store(path: &Path) -> Result<Store, ConfigError> {
    let figment = sources(path, Env::prefixed("TOKEN_SIDECAR_"))?;
    let raw: RawStore = match figment.find_value("store") {
        Ok(_) => figment
            .extract_inner("store")
            .map_err(|e| ConfigError::Load(Box::new(e)))?,
        Err(_) => RawStore::default(),
    };
    let mut p = Problems::default();
    let store = super::store::store(&raw, base(path), &mut p);
    if p.0.is_empty() {
        Ok(store)
    } else {
        Err(ConfigError::Invalid(p.0))
    }
}

/// The config file's directory, against which its relative paths resolve.
fn base(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

fn sources(path: &Path, env: Env) -> Result<Figment, ConfigError> {
    if !path.is_file() {
        return Err(ConfigError::Missing(path.to_path_buf()));
    }
    // `CONFIG` names the file itself and `LOG_FORMAT` is a documented shorthand for
    // `server.log_format`; neither is a key of its own.
    let env = env
        .ignore(&["config"])
        .map(|k| {
            if k.as_str().eq_ignore_ascii_case("log_format") {
                "server.log_format".into()
            } else {
                k.as_str().replace("__", ".").into()
            }
        })
        .lowercase(true);
    Ok(Figment::new().merge(Toml::file(path)).merge(env))
}
