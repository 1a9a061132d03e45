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

/// Only the `[server]` part of the file at `path` (with the environment on top), validated:
/// what a command that talks to a running proxy needs (`login`), which must not fail on a
/// provider whose secret only the proxy's own environment holds.
pub fn load_admin(path: &Path) -> Result<super::Server, ConfigError> {
    let raw = read_raw(path, Env::prefixed("TOKEN_SIDECAR_"))?;
    let mut problems = super::problems::Problems::default();
    let server = super::validate::server(&raw, &mut problems);
    if problems.0.is_empty() {
        Ok(server)
    } else {
        Err(ConfigError::Invalid(problems.0))
    }
}

/// Loads and validates the file at `path` with the process environment on top.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_from(path, Env::prefixed("TOKEN_SIDECAR_"))
}

/// As `load`, with the environment given (tests pass a scoped one).
pub fn load_from(path: &Path, env: Env) -> Result<Config, ConfigError> {
    let raw = read_raw(path, env)?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut config = validate(raw, base)?;
    config.source = Some(path.to_path_buf());
    Ok(config)
}

fn read_raw(path: &Path, env: Env) -> Result<RawConfig, ConfigError> {
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
    Figment::new()
        .merge(Toml::file(path))
        .merge(env)
        .extract()
        .map_err(|e| ConfigError::Load(Box::new(e)))
}
