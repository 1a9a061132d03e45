//! One table alone, for commands that need only it: `[store]` for `token-sidecar tokens`,
//! `[server]` for `token-sidecar login` (which talks to a running proxy). The rest of the
//! file may be incomplete, such as client secrets that only the running proxy's environment
//! holds.

use std::path::Path;

use figment::providers::Env;
use serde::Deserialize;

use super::load::{base_of, environment, Source};
use super::problems::Problems;
use super::raw::{RawConfig, RawServer, RawStore};
use super::validate::store;
use super::{explain, ConfigError, Server, Store};

/// Everything but `[store]` is ignored, neither read nor checked.
#[derive(Deserialize)]
struct StoreOnly {
    #[serde(default)]
    store: RawStore,
}

/// Reads and checks the `[store]` table of the file at `path`, with the environment on top.
pub fn load_store(path: &Path) -> Result<Store, ConfigError> {
    let source = Source::read(path)?;
    let figment = source
        .figment()
        .merge(environment(Env::prefixed("TOKEN_SIDECAR_")));
    match figment.extract::<StoreOnly>() {
        Ok(raw) => Ok(store(&raw.store, base_of(path))),
        Err(e) => Err(source.placed(explain::problems(e), &figment)),
    }
}

/// Everything but `[server]` is ignored.
#[derive(Deserialize)]
struct ServerOnly {
    #[serde(default)]
    server: RawServer,
}

/// Reads and checks the `[server]` table of the file at `path`, with the environment on top.
pub fn load_admin(path: &Path) -> Result<Server, ConfigError> {
    let source = Source::read(path)?;
    let figment = source
        .figment()
        .merge(environment(Env::prefixed("TOKEN_SIDECAR_")));
    let raw = match figment.extract::<ServerOnly>() {
        Ok(raw) => raw,
        Err(e) => return Err(source.placed(explain::problems(e), &figment)),
    };
    let raw = RawConfig {
        server: raw.server,
        ..RawConfig::default()
    };
    let mut problems = Problems::default();
    let server = super::validate::server(&raw, &mut problems);
    if problems.0.is_empty() {
        Ok(server)
    } else {
        Err(source.placed(problems.0, &figment))
    }
}
