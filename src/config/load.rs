//! Reading the sources: built-in defaults, the TOML file, then `TOKEN_SIDECAR_*` variables.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Toml};
use figment::Figment;

use super::raw::RawConfig;
use super::{validate, Config, ConfigError};

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
    let raw: RawConfig = Figment::new()
        .merge(Toml::file(path))
        .merge(env)
        .extract()
        .map_err(|e| ConfigError::Load(Box::new(e)))?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut config = validate(raw, base)?;
    config.source = Some(path.to_path_buf());
    Ok(config)
}

/// Loads and validates configuration `text` that no file holds (the demo's), with no
/// environment on top; relative paths are resolved against `base`.
pub fn from_toml(text: &str, base: &Path) -> Result<Config, ConfigError> {
    let raw: RawConfig = Figment::new()
        .merge(Toml::string(text))
        .extract()
        .map_err(|e| ConfigError::Load(Box::new(e)))?;
    validate(raw, base)
}
