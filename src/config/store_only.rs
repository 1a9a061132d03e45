//! One table alone, for commands that need only it: `[store]` for `token-sidecar tokens`
//! and `store import`, `[server]` for `token-sidecar login` (which talks to a running
//! proxy). The rest of the file may be incomplete, such as client secrets that only the
//! running proxy's environment holds.

use std::path::Path;

use figment::providers::Env;
use serde::Deserialize;

use super::env::environment;
use super::load::{base_of, Source};
use super::problems::Problems;
use super::raw::{RawConfig, RawServer, RawStore};
use super::store::store;
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
    let raw = figment
        .extract::<StoreOnly>()
        .map_err(|e| source.placed(explain::problems(e), &figment))?;
    let mut p = Problems::default();
    let store = store(&raw.store, base_of(path), &mut p);
    if p.0.is_empty() {
        Ok(store)
    } else {
        Err(source.placed(p.0, &figment))
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
