//! A configured provider at run time: its platform client, its app token, its users' tokens,
//! and the refresher tasks that keep them fresh (stopped when the provider is dropped).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tokio::task::AbortHandle;

use super::cell::{TokenCell, TokenKind};
use super::client::{ClientBuildError, PlatformClient};
use super::refresher::keep_fresh;
use super::validate::keep_validating;
use crate::config::{Kind, ProviderConfig, Server};
use crate::metrics::Metrics;
use crate::store::{TokenStore, Versioned};

/// The subject of an app token.
pub const APP_SUBJECT: &str = "app";

pub struct Provider {
    pub client: Arc<PlatformClient>,
    pub app: Option<Arc<TokenCell>>,
    users: ArcSwap<HashMap<String, Arc<TokenCell>>>,
    started: AtomicBool,
    tasks: Mutex<Vec<AbortHandle>>,
}

impl Provider {
    /// Builds the provider; `app` says whether some route needs its app token.
    pub fn new(
        config: Arc<ProviderConfig>,
        server: &Server,
        metrics: Arc<Metrics>,
        store: Arc<dyn TokenStore>,
        app: bool,
    ) -> Result<Self, ClientBuildError> {
        let name = config.name.clone();
        let client = PlatformClient::new(
            config,
            server.connect_timeout,
            server.request_timeout,
            metrics,
            store,
        )?;
        Ok(Provider {
            client: Arc::new(client),
            app: app.then(|| TokenCell::new(&name, APP_SUBJECT, TokenKind::App)),
            users: ArcSwap::from_pointee(HashMap::new()),
            started: AtomicBool::new(false),
            tasks: Mutex::new(Vec::new()),
        })
    }

    pub fn name(&self) -> &str {
        &self.client.config.name
    }

    pub fn kind(&self) -> Kind {
        self.client.config.kind
    }

    /// The slot a stored token belongs in (created for a user new to this process); `None`
    /// for an app token no route asks for.
    pub fn slot_for(&self, stored: &Versioned) -> Option<Arc<TokenCell>> {
        if stored.token.kind == TokenKind::App.as_str() {
            self.app.clone()
        } else {
            Some(self.user_or_insert(&stored.token.subject))
        }
    }

    /// Puts a token read from the store in its slot, when it is newer than the one held.
    pub fn restore(&self, stored: &Versioned) {
        let Some(cell) = self.slot_for(stored) else { return };
        cell.adopt(stored);
    }

    /// Starts keeping every token of this provider fresh (and, for Twitch, validated).
    /// Idempotent; needs a Tokio runtime.
    pub fn start(self: &Arc<Self>) {
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(cell) = &self.app {
            self.spawn(keep_fresh(Arc::clone(cell), Arc::clone(&self.client)));
        }
        for cell in self.users.load().values() {
            self.spawn(keep_fresh(Arc::clone(cell), Arc::clone(&self.client)));
        }
        if self.kind() == Kind::Twitch && self.client.config.endpoints.validate.is_some() {
            self.spawn(keep_validating(Arc::downgrade(self)));
        }
    }

    pub fn is_started(&self) -> bool {
        self.started.load(Ordering::Acquire)
    }

    /// Whether `config` would build this very provider (same credentials, endpoints and
    /// settings), so a reload can keep it and its tokens as they are.
    pub fn same_as(&self, config: &ProviderConfig, server: &Server, app: bool) -> bool {
        *self.client.config == *config
            && self.app.is_some() == app
            && self.client.timeouts == (server.connect_timeout, server.request_timeout)
    }

    /// Every token slot: the app token first, then users by name.
    pub fn cells(&self) -> Vec<Arc<TokenCell>> {
        self.app.iter().cloned().chain(self.users()).collect()
    }

    /// Stops this provider for good, before the process exits: refreshes under way store
    /// their answers first, every slot is retired, a token whose save is being retried is
    /// saved (tried at once), and the provider's tasks end. The caller bounds the wait.
    pub async fn shut_down(&self) {
        let cells = self.cells();
        for cell in &cells {
            cell.pause().await.hand_over();
        }
        futures_util::future::join_all(cells.iter().map(|c| c.saved_before_exit())).await;
        self.stop();
    }

    pub fn stop(&self) {
        if let Ok(tasks) = self.tasks.lock() {
            for t in tasks.iter() {
                t.abort();
            }
        }
    }

    /// Runs `task` for as long as this provider lives.
    pub fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(task).abort_handle();
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.push(handle);
        }
    }

    /// A user's token slot, if the user has one.
    pub fn user(&self, subject: &str) -> Option<Arc<TokenCell>> {
        self.users.load().get(subject).cloned()
    }

    /// Every user's token slot, by subject.
    pub fn users(&self) -> Vec<Arc<TokenCell>> {
        let mut cells: Vec<_> = self.users.load().values().cloned().collect();
        cells.sort_by(|a, b| a.subject.cmp(&b.subject));
        cells
    }

    /// The slot of `subject`, created (with its refresher, once started) when new.
    pub fn user_or_insert(&self, subject: &str) -> Arc<TokenCell> {
        if let Some(cell) = self.user(subject) {
            return cell;
        }
        let fresh = TokenCell::new(self.name(), subject, TokenKind::User);
        let mut inserted = false;
        let users = self.users.rcu(|users| {
            let mut next = HashMap::clone(users);
            inserted = !next.contains_key(subject);
            next.entry(subject.to_string())
                .or_insert_with(|| Arc::clone(&fresh));
            next
        });
        drop(users);
        let cell = self.user(subject).unwrap_or(fresh);
        if inserted && self.started.load(Ordering::Acquire) {
            self.spawn(keep_fresh(Arc::clone(&cell), Arc::clone(&self.client)));
        }
        cell
    }

    /// Drops `subject`'s slot (its refresher then idles until the provider is dropped).
    pub fn remove_user(&self, subject: &str) -> Option<Arc<TokenCell>> {
        let cell = self.user(subject)?;
        self.users.rcu(|users| {
            let mut next = HashMap::clone(users);
            next.remove(subject);
            next
        });
        cell.retire();
        Some(cell)
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
