//! The connection to Redis, kept by the `redis` crate's `ConnectionManager` (which
//! reconnects by itself), and watched: a heartbeat says whether Redis answers
//! (`token_sidecar_store_up`), and whenever it answers again after it did not (or the
//! connection was replaced), every replica re-reads what it may have missed.
//!
//! Change notices come over the same connection: RESP3 delivers the channel's messages as
//! pushes, and the manager subscribes again after each reconnect.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{PushInfo, PushKind, RedisError, Value};
use tokio::sync::{broadcast, mpsc, Notify};

use super::Inner;
use crate::store::{Change, StoreError};

/// How often Redis is asked whether it answers.
const HEARTBEAT: Duration = Duration::from_millis(500);
/// How long one command may take before Redis counts as unreachable.
pub const OP_TIMEOUT: Duration = Duration::from_secs(2);

/// The live connection, once there is one, and what the heartbeat last saw.
pub struct Link {
    pub conn: ArcSwapOption<ConnectionManager>,
    pub up: AtomicBool,
    /// Set when notices may have been lost (a disconnection): the next good heartbeat
    /// announces a resync.
    missed: AtomicBool,
    poke: Arc<Notify>,
    /// The password of the URL, removed from any error text.
    password: Option<String>,
}

impl Link {
    pub fn new(password: Option<String>) -> Link {
        Link {
            conn: ArcSwapOption::empty(),
            up: AtomicBool::new(false),
            missed: AtomicBool::new(true),
            poke: Arc::new(Notify::new()),
            password,
        }
    }

    /// The connection, or `Unavailable` when none has been made yet.
    pub fn get(&self) -> Result<ConnectionManager, StoreError> {
        self.conn
            .load_full()
            .map(|c| ConnectionManager::clone(&c))
            .ok_or_else(|| StoreError::Unavailable("not connected yet".into()))
    }

    /// A Redis error as the store reports it: unreachable (I/O, timeouts, a lost
    /// connection) or an unexpected answer; never with the password in it.
    pub fn error(&self, e: &RedisError) -> StoreError {
        let mut text = e.to_string();
        if let Some(p) = self.password.as_deref().filter(|p| !p.is_empty()) {
            text = text.replace(p, "[redacted]");
        }
        if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() {
            StoreError::Unavailable(text)
        } else {
            StoreError::Protocol(text)
        }
    }
}

/// Keeps the connection and the heartbeat for as long as the store lives.
pub async fn supervise(weak: Weak<Inner>) {
    let (push_tx, push_rx) = mpsc::unbounded_channel();
    tokio::spawn(read_pushes(weak.clone(), push_rx));
    let mut delay = Duration::from_millis(200);
    let mut logged = false;
    // The first connection: the manager reconnects by itself after that.
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(OP_TIMEOUT)
            .set_response_timeout(OP_TIMEOUT)
            .set_number_of_retries(1)
            .set_push_sender(push_tx.clone())
            .set_automatic_resubscription();
        match ConnectionManager::new_with_config(inner.client.clone(), config).await {
            Ok(conn) => {
                inner.link.conn.store(Some(Arc::new(conn)));
                break;
            }
            Err(e) => {
                if !logged {
                    let e = inner.link.error(&e);
                    tracing::warn!(error = %e, "the token store (Redis) is unreachable; retrying");
                    logged = true;
                }
                inner.metrics.up.set(0);
            }
        }
        drop(inner);
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
    let mut connected_once = false;
    loop {
        let Some(inner) = weak.upgrade() else { return };
        heartbeat(&inner, &mut connected_once).await;
        let poke = Arc::clone(&inner.link.poke);
        drop(inner);
        tokio::select! {
            _ = tokio::time::sleep(HEARTBEAT) => {}
            _ = poke.notified() => {}
        }
    }
}

/// One heartbeat: PING, and on the first good one after a bad one (or after a lost
/// connection) subscribe again and announce a resync.
async fn heartbeat(inner: &Inner, connected_once: &mut bool) {
    let Ok(mut conn) = inner.link.get() else { return };
    let ping = redis::cmd("PING");
    let ok = matches!(
        tokio::time::timeout(OP_TIMEOUT, ping.query_async::<Value>(&mut conn)).await,
        Ok(Ok(_))
    );
    let was_up = inner.link.up.load(Ordering::Acquire);
    if !ok {
        if was_up {
            inner.link.up.store(false, Ordering::Release);
            inner.link.missed.store(true, Ordering::Release);
            inner.metrics.up.set(0);
            tracing::warn!("the token store (Redis) stopped answering; held tokens serve until they expire");
        }
        return;
    }
    if was_up && !inner.link.missed.load(Ordering::Acquire) {
        return;
    }
    // Subscribing again is harmless when the manager did already; it must hold before the
    // resync reads, so that nothing written after the read goes unnoticed.
    let subscribed = tokio::time::timeout(OP_TIMEOUT, conn.subscribe(inner.keys.channel())).await;
    if !matches!(subscribed, Ok(Ok(()))) {
        return;
    }
    inner.link.missed.store(false, Ordering::Release);
    inner.link.up.store(true, Ordering::Release);
    inner.metrics.up.set(1);
    if !*connected_once {
        *connected_once = true;
        tracing::info!("the token store (Redis) is connected");
        warn_if_not_persistent(&mut conn).await;
    } else if !was_up {
        tracing::info!("the token store (Redis) answers again; reading what changed meanwhile");
    }
    let _ = inner.changes.send(Change::Resync);
}

/// The durability promise holds only as far as Redis keeps its writes: say so when
/// persistence is visibly off (CONFIG may be refused, as on managed Redis: then nothing).
async fn warn_if_not_persistent(conn: &mut ConnectionManager) {
    let mut ask = redis::cmd("CONFIG");
    ask.arg("GET").arg("appendonly");
    let asked = ask.query_async::<Vec<String>>(conn);
    if let Ok(Ok(answer)) = tokio::time::timeout(OP_TIMEOUT, asked).await {
        if answer.get(1).map(String::as_str) == Some("no") {
            tracing::warn!(
                "Redis runs with appendonly no: a refresh token rotated since its last snapshot is \
                 lost if Redis restarts, and with it the grant. Run Redis with appendonly yes \
                 (appendfsync always for the strictest)"
            );
        }
    }
}

/// Turns the channel's messages into `Change`s; a lost connection means notices may have
/// been missed.
async fn read_pushes(weak: Weak<Inner>, mut rx: mpsc::UnboundedReceiver<PushInfo>) {
    while let Some(push) = rx.recv().await {
        let Some(inner) = weak.upgrade() else { return };
        match push.kind {
            PushKind::Disconnection => {
                inner.link.missed.store(true, Ordering::Release);
                inner.link.poke.notify_one();
            }
            PushKind::Message => {
                if let Some(change) = push.data.get(1).and_then(parse) {
                    let _ = inner.changes.send(change);
                }
            }
            _ => {}
        }
    }
}

#[derive(serde::Deserialize)]
struct Notice {
    op: String,
    provider: String,
    subject: String,
    version: u64,
}

fn parse(value: &Value) -> Option<Change> {
    let bytes = match value {
        Value::BulkString(b) => b.as_slice(),
        Value::SimpleString(s) => s.as_bytes(),
        _ => return None,
    };
    let n: Notice = serde_json::from_slice(bytes).ok()?;
    match n.op.as_str() {
        "saved" => Some(Change::Saved {
            provider: n.provider,
            subject: n.subject,
            version: n.version,
        }),
        "removed" => Some(Change::Removed {
            provider: n.provider,
            subject: n.subject,
            version: n.version,
        }),
        _ => None,
    }
}

/// Subscribers see every change; one that fell behind gets `Resync` (see `Inner::changes`).
pub fn channel() -> broadcast::Sender<Change> {
    broadcast::channel(1024).0
}
