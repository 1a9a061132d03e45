//! The store replicas share: Redis, the system of record for their tokens and their logins
//! under way. Each token is a hash (`v`, its version; `d`, its record) written only by the
//! scripts in `scripts`, so every save is a compare-and-set inside Redis and announces
//! itself on the channel in the same step. Nothing here is on the request path.

mod keys;
mod link;
mod lock;
pub mod logins;
mod scripts;

use std::sync::Arc;
use std::time::Duration;

use redis::{IntoConnectionInfo, ProtocolVersion};
use tokio::sync::broadcast;

use self::keys::{member, split, Keys};
use self::link::{Link, OP_TIMEOUT};
use super::record::Record;
use super::seal::Sealer;
use super::{
    Change, Expect, Lease, Loaded, Saved, StoreError, StoreFuture, StoredToken, TokenStore, Versioned,
};
use crate::metrics::StoreMetrics;
use crate::secret::RedisUrl;

pub use logins::RedisLogins;

/// Why `url` is not a Redis URL this proxy can use; never repeats the URL (it may hold a
/// password).
pub fn check_url(url: &str) -> Result<(), String> {
    let schemes = "write redis://HOST:PORT/DB, rediss://HOST:PORT/DB (TLS) or redis+unix:///PATH.sock";
    match redis::parse_redis_url(url) {
        Some(u) if matches!(u.scheme(), "redis" | "rediss" | "redis+unix" | "unix") => {}
        _ => return Err(format!("is not a Redis URL; {schemes}")),
    }
    url.into_connection_info().map(|_| ()).map_err(|e| {
        format!(
            "is not a usable Redis URL ({}); {schemes}",
            e.detail().unwrap_or("invalid")
        )
    })
}

/// How the store is set up (from `[store]`).
pub struct Settings {
    pub url: RedisUrl,
    pub key_prefix: String,
    pub lock_ttl: Duration,
    /// How long a refresh may wait for another replica's lock before it gives up for now.
    pub max_lock_wait: Duration,
    pub sealer: Option<Sealer>,
}

pub struct RedisStore {
    inner: Arc<Inner>,
}

pub struct Inner {
    client: redis::Client,
    keys: Keys,
    link: Link,
    changes: broadcast::Sender<Change>,
    sealer: Option<Sealer>,
    lock_ttl: Duration,
    max_lock_wait: Duration,
    /// `{host}/{pid}`: which replica holds a lock, for whoever looks at Redis.
    owner: String,
    metrics: StoreMetrics,
}

impl RedisStore {
    /// Sets the store up and starts connecting in the background: Redis may be down now
    /// and come later. Fails only on a URL that cannot be used.
    pub fn open(settings: Settings, metrics: StoreMetrics) -> Result<RedisStore, StoreError> {
        let mut info = settings
            .url
            .secret()
            .into_connection_info()
            .map_err(|_| StoreError::Protocol("store.url is not a usable Redis URL".into()))?;
        // Change notices arrive as pushes on the one connection, which needs RESP3.
        info.redis.protocol = ProtocolVersion::RESP3;
        let password = info.redis.password.clone();
        let client = redis::Client::open(info)
            .map_err(|_| StoreError::Protocol("store.url is not a usable Redis URL".into()))?;
        metrics.up.set(0);
        let inner = Arc::new(Inner {
            client,
            keys: Keys::new(&settings.key_prefix),
            link: Link::new(password),
            changes: link::channel(),
            sealer: settings.sealer,
            lock_ttl: settings.lock_ttl,
            max_lock_wait: settings.max_lock_wait,
            owner: owner(),
            metrics,
        });
        tokio::spawn(link::supervise(Arc::downgrade(&inner)));
        Ok(RedisStore { inner })
    }

    /// Waits until Redis has answered, at most `timeout`; whether it did.
    pub async fn wait_up(&self, timeout: Duration) -> bool {
        let mut changes = self.inner.changes.subscribe();
        let up = async {
            while !self.is_up() {
                if let Err(broadcast::error::RecvError::Closed) = changes.recv().await {
                    return;
                }
            }
        };
        tokio::time::timeout(timeout, up).await.is_ok()
    }

    pub fn is_up(&self) -> bool {
        self.inner.link.up.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The store's pending logins.
    pub fn logins(&self) -> RedisLogins {
        RedisLogins::new(Arc::downgrade(&self.inner))
    }
}

impl Inner {
    /// Runs one Redis operation with a deadline; a failure is counted under `op`.
    async fn run<T>(
        &self,
        op: &'static str,
        f: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        let result = match tokio::time::timeout(OP_TIMEOUT, f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.link.error(&e)),
            Err(_) => Err(StoreError::Unavailable(format!(
                "no answer within {OP_TIMEOUT:?}"
            ))),
        };
        if result.is_err() {
            self.metrics.errors.with_label_values(&[op]).inc();
        }
        result
    }

    fn decode(&self, version: u64, data: &str) -> Result<Versioned, StoreError> {
        let record: Record = serde_json::from_str(data)
            .map_err(|e| StoreError::Protocol(format!("a stored token is not a token record ({e})")))?;
        Ok(Versioned {
            version,
            token: record.open(self.sealer.as_ref())?,
        })
    }

    async fn load(&self) -> Result<Loaded, StoreError> {
        let mut conn = self.link.get()?;
        let (upto, members): (Option<u64>, Vec<String>) = self
            .run(
                "load",
                redis::pipe()
                    .get(self.keys.version())
                    .smembers(self.keys.index())
                    .query_async(&mut conn),
            )
            .await?;
        let mut pipe = redis::pipe();
        let mut names = Vec::new();
        for m in &members {
            if let Some((provider, subject)) = split(m) {
                pipe.hget(self.keys.token(provider, subject), &["v", "d"][..]);
                names.push(m);
            }
        }
        let rows: Vec<(Option<u64>, Option<String>)> = if names.is_empty() {
            Vec::new()
        } else {
            self.run("load", pipe.query_async(&mut conn)).await?
        };
        let mut tokens = Vec::with_capacity(rows.len());
        for (version, data) in rows {
            // Removed between the two reads: not stored any more.
            if let (Some(version), Some(data)) = (version, data) {
                tokens.push(self.decode(version, &data)?);
            }
        }
        Ok(Loaded {
            tokens,
            upto: upto.unwrap_or(0),
        })
    }

    async fn load_one(&self, provider: &str, subject: &str) -> Result<Option<Versioned>, StoreError> {
        let mut conn = self.link.get()?;
        let (version, data): (Option<u64>, Option<String>) = self
            .run(
                "load",
                redis::cmd("HMGET")
                    .arg(self.keys.token(provider, subject))
                    .arg("v")
                    .arg("d")
                    .query_async(&mut conn),
            )
            .await?;
        match (version, data) {
            (Some(v), Some(d)) => self.decode(v, &d).map(Some),
            _ => Ok(None),
        }
    }

    async fn save(&self, token: StoredToken, expect: Expect) -> Result<Saved, StoreError> {
        let (provider, subject) = (token.provider.clone(), token.subject.clone());
        // Sealed once: a retry sends the very bytes, which the script recognises if the
        // first attempt landed although its answer was lost.
        let record = serde_json::to_string(&Record::seal(&token, self.sealer.as_ref()))
            .map_err(|e| StoreError::Protocol(e.to_string()))?;
        let expected = match expect {
            Expect::Any => "*".to_string(),
            Expect::Version(v) => v.to_string(),
        };
        let mut last = None;
        for attempt in 0..3u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100) * 3u32.pow(attempt - 1)).await;
            }
            let mut conn = match self.link.get() {
                Ok(c) => c,
                Err(e) => {
                    self.metrics.errors.with_label_values(&["save"]).inc();
                    last = Some(e);
                    continue;
                }
            };
            let mut invocation = scripts::SAVE.prepare_invoke();
            invocation
                .key(self.keys.token(&provider, &subject))
                .key(self.keys.index())
                .key(self.keys.version())
                .key(self.keys.spending(&provider, &subject))
                .arg(&expected)
                .arg(&record)
                .arg(member(&provider, &subject))
                .arg(self.keys.channel())
                .arg(&provider)
                .arg(&subject);
            match self.run("save", invocation.invoke_async::<u64>(&mut conn)).await {
                Ok(0) => return Ok(Saved::Conflict),
                Ok(v) => return Ok(Saved::Stored(v)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| StoreError::Unavailable("not connected".into())))
    }

    async fn remove(&self, provider: &str, subject: &str) -> Result<(), StoreError> {
        let mut conn = self.link.get().inspect_err(|_| {
            self.metrics.errors.with_label_values(&["remove"]).inc();
        })?;
        let mut invocation = scripts::REMOVE.prepare_invoke();
        invocation
            .key(self.keys.token(provider, subject))
            .key(self.keys.index())
            .key(self.keys.version())
            .key(self.keys.spending(provider, subject))
            .arg(member(provider, subject))
            .arg(self.keys.channel())
            .arg(provider)
            .arg(subject);
        self.run("remove", invocation.invoke_async::<u64>(&mut conn))
            .await
            .map(|_| ())
    }
}

impl TokenStore for RedisStore {
    fn load(&self) -> StoreFuture<'_, Loaded> {
        Box::pin(self.inner.load())
    }

    fn load_one<'a>(&'a self, provider: &'a str, subject: &'a str) -> StoreFuture<'a, Option<Versioned>> {
        Box::pin(self.inner.load_one(provider, subject))
    }

    fn save(&self, token: StoredToken, expect: Expect) -> StoreFuture<'_, Saved> {
        Box::pin(self.inner.save(token, expect))
    }

    fn remove<'a>(&'a self, provider: &'a str, subject: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(self.inner.remove(provider, subject))
    }

    fn lock<'a>(&'a self, provider: &'a str, subject: &'a str) -> StoreFuture<'a, Lease> {
        Box::pin(lock::acquire(&self.inner, provider, subject))
    }

    fn changes(&self) -> Option<broadcast::Receiver<Change>> {
        Some(self.inner.changes.subscribe())
    }

    fn is_shared(&self) -> bool {
        true
    }
}

/// `{host}/{pid}`, so an operator (or a test) reading a lock sees which replica holds it.
fn owner() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into());
    format!("{host}/{}", std::process::id())
}
