//! A configured provider at run time: its platform client, its app token, its users' tokens,
//! and the refresher tasks that keep them fresh (stopped when the provider is dropped).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tokio::task::AbortHandle;

use super::cell::{TokenCell, TokenKind};
use super::client::{ClientBuildError, PlatformClient};
use super::refresher::keep_fresh;
use crate::config::{ProviderConfig, Server};
use crate::metrics::Metrics;

/// The subject of an app token.
pub const APP_SUBJECT: &str = "app";

pub struct Provider {
    pub client: Arc<PlatformClient>,
    pub app: Option<Arc<TokenCell>>,
    users: ArcSwap<HashMap<String, Arc<TokenCell>>>,
    tasks: Mutex<Vec<AbortHandle>>,
}

impl Provider {
    /// Builds the provider; `app` says whether some route needs its app token.
    pub fn new(
        config: Arc<ProviderConfig>,
        server: &Server,
        metrics: Arc<Metrics>,
        app: bool,
    ) -> Result<Self, ClientBuildError> {
        let name = config.name.clone();
        let client = PlatformClient::new(config, server.connect_timeout, server.request_timeout, metrics)?;
        Ok(Provider {
            client: Arc::new(client),
            app: app.then(|| Arc::new(TokenCell::new(&name, APP_SUBJECT, TokenKind::App))),
            users: ArcSwap::from_pointee(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
        })
    }

    pub fn name(&self) -> &str {
        &self.client.config.name
    }

    /// Starts keeping every token of this provider fresh. Needs a Tokio runtime.
    pub fn start(&self) {
        if let Some(cell) = &self.app {
            self.spawn_refresher(Arc::clone(cell));
        }
        for cell in self.users.load().values() {
            self.spawn_refresher(Arc::clone(cell));
        }
    }

    fn spawn_refresher(&self, cell: Arc<TokenCell>) {
        let task = tokio::spawn(keep_fresh(cell, Arc::clone(&self.client)));
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.push(task.abort_handle());
        }
    }

    /// A user's token slot, if the user has one.
    pub fn user(&self, subject: &str) -> Option<Arc<TokenCell>> {
        self.users.load().get(subject).cloned()
    }

    /// Every user's token slot.
    pub fn users(&self) -> Vec<Arc<TokenCell>> {
        self.users.load().values().cloned().collect()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        if let Ok(tasks) = self.tasks.lock() {
            for t in tasks.iter() {
                t.abort();
            }
        }
    }
}
