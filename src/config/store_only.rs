//! The `[store]` table alone, for commands that only work on the store (`token-sidecar
//! tokens`, `store import`): the rest of the file may be incomplete, such as client secrets that only the
//! running proxy's environment holds.

use std::path::Path;

use figment::providers::Env;
use serde::Deserialize;

use super::load::{base_of, environment, Source};
use super::problems::Problems;
use super::raw::RawStore;
use super::store::store;
use super::{explain, ConfigError, Store};

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
