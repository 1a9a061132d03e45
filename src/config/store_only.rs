//! The `[store]` table alone, for commands that only read the store (`token-sidecar
//! tokens`): the rest of the file may be incomplete, such as client secrets that only the
//! running proxy's environment holds.

use std::path::Path;

use figment::providers::Env;
use serde::Deserialize;

use super::load::{base_of, environment, Source};
use super::raw::RawStore;
use super::validate::store;
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
    match figment.extract::<StoreOnly>() {
        Ok(raw) => Ok(store(&raw.store, base_of(path))),
        Err(e) => Err(source.placed(explain::problems(e), &figment)),
    }
}
