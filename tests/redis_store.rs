//! The Redis store against a real `redis-server` (SPEC, "Several replicas: the Redis
//! store"): the lock is a lease with an owner, renewed while held, that lapses when its
//! holder stalls and is then taken over; a stale owner's release is a no-op; a save from a
//! version no longer stored is refused (fenced); a busy lock is told apart from a dead
//! Redis; changes are announced with names and versions only; tokens and logins are
//! sealed at rest when a key is configured.
//!
//! A stalled replica is a store opened on its own current-thread runtime that the test
//! stops driving: none of its tasks run (no renewal, no heartbeat), as under SIGSTOP.

#[path = "harness/mod.rs"]
mod harness;
#[path = "support/mod.rs"]
mod support;

use std::future::Future;
use std::time::{Duration, Instant};

use harness::redis_server::RedisServer;
use token_sidecar::metrics::StoreMetrics;
use token_sidecar::oauth::login::{Logins, StateRefusal};
use token_sidecar::secret::{AccessToken, RedisUrl, RefreshToken};
use token_sidecar::store::redis::{RedisStore, Settings};
use token_sidecar::store::seal::{SealKey, Sealer};
use token_sidecar::store::{Change, Expect, Saved, Spend, StoreError, StoredToken, TokenStore};
use tokio::runtime::Runtime;

const WAIT: Duration = Duration::from_secs(10);

/// A process of its own: a runtime that runs only while the test drives it.
struct Replica {
    rt: Runtime,
    store: RedisStore,
    metrics: StoreMetrics,
}

impl Replica {
    fn open(
        redis: &RedisServer,
        lock_ttl: Duration,
        max_lock_wait: Duration,
        sealer: Option<Sealer>,
    ) -> Replica {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let metrics = StoreMetrics::unregistered();
        let settings = Settings {
            url: RedisUrl::new(redis.url()),
            key_prefix: "t".into(),
            lock_ttl,
            max_lock_wait,
            sealer,
        };
        let store = rt.block_on(async {
            let store = RedisStore::open(settings, metrics.clone()).expect("a usable URL");
            assert!(store.wait_up(WAIT).await, "the store connects");
            store
        });
        Replica { rt, store, metrics }
    }

    /// Drives this replica until `f` is done.
    fn run<T>(&self, f: impl Future<Output = T>) -> T {
        self.rt.block_on(f)
    }

    fn errors(&self, op: &str) -> u64 {
        self.metrics.errors.with_label_values(&[op]).get()
    }
}

fn token(subject: &str, access: &str, refresh: &str) -> StoredToken {
    StoredToken {
        provider: "tw".into(),
        subject: subject.into(),
        kind: "user".into(),
        access_token: AccessToken::new(access),
        refresh_token: Some(RefreshToken::new(refresh)),
        issued_at: 1_700_000_000.0,
        lifetime: 3600.0,
        refresh_expires_at: None,
        scopes: vec!["chat:read".into()],
        user_id: None,
        needs_login: false,
        refused: None,
    }
}

fn stored(r: &Replica, subject: &str) -> Option<(u64, String)> {
    r.run(r.store.load_one("tw", subject))
        .unwrap()
        .map(|v| (v.version, v.token.access_token.secret().to_string()))
}

#[test]
#[ignore = "needs redis-server"]
fn a_lapsed_lease_is_taken_over_its_owner_is_fenced_and_its_release_is_a_no_op() {
    let redis = RedisServer::start();
    let ttl = Duration::from_millis(600);
    let a = Replica::open(&redis, ttl, Duration::from_millis(200), None);
    let b = Replica::open(&redis, ttl, WAIT, None);
    let Saved::Stored(v1) = a
        .run(a.store.save(token("alice", "a1", "r1"), Expect::Version(0)))
        .unwrap()
    else {
        panic!("the first save stores");
    };

    // A holds the lock; while A runs, its lease is renewed past its length.
    let lease_a = a.run(a.store.lock("tw", "alice")).expect("A takes the lock");
    assert!(lease_a.held());
    a.run(async { tokio::time::sleep(ttl * 2).await });
    assert!(lease_a.held(), "renewed while A runs");
    let owner: String = redis.cmd(&["GET", "t:lock:tw:alice"]);
    assert!(
        owner.contains(&format!("/{}/", std::process::id())),
        "the owner names the replica: {owner}"
    );

    // Busy is not dead: a replica that waited its longest is told so, and Redis still answers.
    let busy = b.run(async {
        let short = RedisStore::open(
            Settings {
                url: RedisUrl::new(redis.url()),
                key_prefix: "t".into(),
                lock_ttl: ttl,
                max_lock_wait: Duration::from_millis(150),
                sealer: None,
            },
            StoreMetrics::unregistered(),
        )
        .unwrap();
        assert!(short.wait_up(WAIT).await);
        short.lock("tw", "alice").await.err().expect("busy")
    });
    assert!(matches!(busy, StoreError::Busy { .. }), "{busy}");
    assert!(!busy.is_unavailable());

    // A stalls (nothing of it runs): its lease lapses and B takes the lock over.
    let started = Instant::now();
    let lease_b = b
        .run(b.store.lock("tw", "alice"))
        .expect("B takes the lapsed lock");
    assert!(started.elapsed() < WAIT);
    // A resumes and knows, before presenting anything, that the lease is not its own.
    assert!(!lease_a.held(), "a lapsed lease is not held");

    // B rotates from v1 and stores v2; A's save from v1 is refused and B's token stays.
    let Saved::Stored(v2) = b
        .run(b.store.save(token("alice", "b2", "r2"), Expect::Version(v1)))
        .unwrap()
    else {
        panic!("B stores");
    };
    assert!(v2 > v1);
    let fenced = a
        .run(
            a.store
                .save(token("alice", "a2", "r2-from-a"), Expect::Version(v1)),
        )
        .unwrap();
    assert_eq!(fenced, Saved::Conflict);
    assert_eq!(stored(&a, "alice"), Some((v2, "b2".into())));

    // A's release is a no-op: the lock is still B's, and nobody else gets it.
    let before: String = redis.cmd(&["GET", "t:lock:tw:alice"]);
    a.run(lease_a.release());
    let after: Option<String> = redis.cmd(&["GET", "t:lock:tw:alice"]);
    assert_eq!(after.as_deref(), Some(before.as_str()), "B's lock stays");
    let again = a.run(a.store.lock("tw", "alice"));
    assert!(matches!(again, Err(StoreError::Busy { .. })), "B still holds it");
    assert!(a.errors("lock") >= 1, "the give-up is counted");

    // B's own release frees it at once.
    b.run(lease_b.release());
    let exists: i64 = redis.cmd(&["EXISTS", "t:lock:tw:alice"]);
    assert_eq!(exists, 0);
    let lease = a.run(a.store.lock("tw", "alice")).expect("free again");
    a.run(lease.release());
}

#[test]
#[ignore = "needs redis-server"]
fn saves_are_compare_and_set_and_a_retried_write_is_recognised() {
    let redis = RedisServer::start();
    let a = Replica::open(&redis, Duration::from_secs(5), WAIT, None);
    let t = token("bob", "x1", "y1");
    let Saved::Stored(v1) = a.run(a.store.save(t.clone(), Expect::Version(0))).unwrap() else {
        panic!("stored")
    };
    // The same write again (its first answer lost): recognised, not a conflict.
    assert_eq!(
        a.run(a.store.save(t.clone(), Expect::Version(0))).unwrap(),
        Saved::Stored(v1)
    );
    // Another token against a version that is not stored: refused.
    assert_eq!(
        a.run(a.store.save(token("bob", "x2", "y2"), Expect::Version(0)))
            .unwrap(),
        Saved::Conflict
    );
    assert_eq!(
        a.run(a.store.save(token("bob", "x2", "y2"), Expect::Version(v1 + 100)))
            .unwrap(),
        Saved::Conflict
    );
    // `Any` (a new login) replaces whatever is stored.
    let Saved::Stored(v2) = a
        .run(a.store.save(token("bob", "x3", "y3"), Expect::Any))
        .unwrap()
    else {
        panic!("stored")
    };
    assert!(v2 > v1);
    // Versions never repeat, even for a token removed and stored again.
    a.run(a.store.remove("tw", "bob")).unwrap();
    assert_eq!(stored(&a, "bob"), None);
    let Saved::Stored(v3) = a.run(a.store.save(t, Expect::Version(0))).unwrap() else {
        panic!("stored")
    };
    assert!(v3 > v2 + 1, "the removal took a version too");
    let loaded = a.run(a.store.load()).unwrap();
    assert_eq!(loaded.tokens.len(), 1);
    assert!(loaded.upto >= v3);
    // Every key is under the prefix.
    let keys: Vec<String> = redis.cmd(&["KEYS", "*"]);
    assert!(keys.iter().all(|k| k.starts_with("t:")), "{keys:?}");
}

#[test]
#[ignore = "needs redis-server"]
fn changes_are_announced_with_names_and_versions_only() {
    let redis = RedisServer::start();
    let a = Replica::open(&redis, Duration::from_secs(5), WAIT, None);
    let b = Replica::open(&redis, Duration::from_secs(5), WAIT, None);
    let mut changes = b.store.changes().expect("a shared store announces changes");
    // A raw subscriber sees what goes over the wire.
    let mut raw = redis.connection().unwrap();
    let mut pubsub = raw.as_pubsub();
    pubsub.subscribe("t:changes").unwrap();
    pubsub.set_read_timeout(Some(WAIT)).unwrap();

    let Saved::Stored(v) = a
        .run(
            a.store
                .save(token("carol", "secret-access", "secret-refresh"), Expect::Any),
        )
        .unwrap()
    else {
        panic!("stored")
    };
    let seen = b.run(async { tokio::time::timeout(Duration::from_secs(1), changes.recv()).await });
    let change = seen.expect("announced within a second").unwrap();
    let wanted = Change::Saved {
        provider: "tw".into(),
        subject: "carol".into(),
        version: v,
    };
    // B may first see the resync of its own connection.
    let change = if change == Change::Resync {
        b.run(async { tokio::time::timeout(Duration::from_secs(1), changes.recv()).await })
            .expect("announced")
            .unwrap()
    } else {
        change
    };
    assert_eq!(change, wanted);
    let wire: String = pubsub.get_message().unwrap().get_payload().unwrap();
    assert!(wire.contains("carol") && !wire.contains("secret"), "{wire}");

    a.run(a.store.remove("tw", "carol")).unwrap();
    let removed = b
        .run(async { tokio::time::timeout(Duration::from_secs(1), changes.recv()).await })
        .expect("announced")
        .unwrap();
    assert!(
        matches!(&removed, Change::Removed { subject, version, .. } if subject == "carol" && *version > v),
        "{removed:?}"
    );
}

#[test]
#[ignore = "needs redis-server"]
fn a_dead_redis_is_an_error_at_once_and_a_returning_one_is_followed_by_a_resync() {
    let mut redis = RedisServer::start();
    let a = Replica::open(&redis, Duration::from_secs(5), WAIT, None);
    let mut changes = a.store.changes().unwrap();
    a.run(a.store.save(token("dave", "d1", "e1"), Expect::Any))
        .unwrap();
    redis.kill();
    let started = Instant::now();
    let e = a
        .run(a.store.lock("tw", "dave"))
        .err()
        .expect("no lock without Redis");
    assert!(e.is_unavailable(), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(a.errors("lock") >= 1);
    let e = a
        .run(a.store.save(token("dave", "d2", "e2"), Expect::Any))
        .unwrap_err();
    assert!(e.is_unavailable(), "{e}");
    assert!(a.errors("save") >= 1);
    assert!(a.run(a.store.load()).is_err());
    assert!(a.errors("load") >= 1);
    a.run(async {
        let deadline = Instant::now() + WAIT;
        while a.store.is_up() {
            assert!(Instant::now() < deadline, "the heartbeat notices");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    assert_eq!(a.metrics.up.get(), 0);

    // Back on its append-only file: the replica reconnects by itself and resyncs.
    redis.restart();
    let resynced = a.run(async {
        tokio::time::timeout(WAIT, async {
            loop {
                if let Ok(Change::Resync) = changes.recv().await {
                    return;
                }
            }
        })
        .await
    });
    assert!(resynced.is_ok(), "a resync is announced once Redis answers");
    assert_eq!(a.metrics.up.get(), 1);
    assert_eq!(
        stored(&a, "dave").map(|(_, t)| t),
        Some("d1".into()),
        "kept by the AOF"
    );
}

#[test]
#[ignore = "needs redis-server"]
fn with_a_key_nothing_secret_is_in_redis_in_plain_text_and_a_wrong_key_is_named() {
    let redis = RedisServer::with_password("redis-password-never-logged");
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("store-key");
    let sealer = Sealer::new(&SealKey::from_bytes([5; 32]), &key_file);
    let a = Replica::open(&redis, Duration::from_secs(5), WAIT, Some(sealer));
    a.run(a.store.save(
        token("erin", "plain-access-value", "plain-refresh-value"),
        Expect::Any,
    ))
    .unwrap();
    let logins = Logins::Shared(a.store.logins());
    let binding = a
        .run(logins.insert(
            "state-1".into(),
            "tw",
            "erin",
            Some(token_sidecar::secret::CodeVerifier::new("plain-verifier-value")),
        ))
        .unwrap();
    let dump = redis.dump();
    for secret in [
        "plain-access-value",
        "plain-refresh-value",
        "plain-verifier-value",
        binding.secret(),
    ] {
        assert!(!dump.contains(secret), "{secret} in Redis:\n{dump}");
    }
    assert!(dump.contains("erin"), "{dump}");
    assert_eq!(
        stored(&a, "erin").map(|(_, t)| t),
        Some("plain-access-value".into())
    );
    let pending = a.run(logins.take("state-1", Some(binding.secret()))).unwrap();
    assert_eq!(pending.verifier.unwrap().secret(), "plain-verifier-value");

    let wrong = Replica::open(
        &redis,
        Duration::from_secs(5),
        WAIT,
        Some(Sealer::new(&SealKey::from_bytes([6; 32]), &key_file)),
    );
    let e = wrong.run(wrong.store.load()).unwrap_err().to_string();
    assert!(e.contains(&key_file.display().to_string()), "{e}");
    let none = Replica::open(&redis, Duration::from_secs(5), WAIT, None);
    let e = none.run(none.store.load()).unwrap_err().to_string();
    assert!(e.contains("encryption_key_file"), "{e}");
}

#[test]
#[ignore = "needs redis-server"]
fn a_login_started_on_one_replica_is_taken_on_another_once_and_capped() {
    let redis = RedisServer::start();
    let a = Replica::open(&redis, Duration::from_secs(5), WAIT, None);
    let b = Replica::open(&redis, Duration::from_secs(5), WAIT, None);
    let (la, lb) = (Logins::Shared(a.store.logins()), Logins::Shared(b.store.logins()));
    let binding = a.run(la.insert("s1".into(), "tw", "frank", None)).unwrap();
    assert_eq!(
        b.run(lb.take("s1", Some("guessed"))).unwrap_err(),
        StateRefusal::OtherBrowser
    );
    let got = b.run(lb.take("s1", Some(binding.secret()))).unwrap();
    assert_eq!((got.provider.as_str(), got.user.as_str()), ("tw", "frank"));
    assert_eq!(
        a.run(la.take("s1", Some(binding.secret()))).unwrap_err(),
        StateRefusal::Unknown,
        "single use, across replicas"
    );
    let ttl: i64 = {
        a.run(la.insert("s2".into(), "tw", "frank", None)).unwrap();
        redis.cmd(&["PTTL", "t:login:s2"])
    };
    assert!(ttl > 0 && ttl <= 20 * 60 * 1000, "lapses by itself: {ttl}");
    for i in 0..63 {
        a.run(la.insert(format!("more{i}"), "tw", "frank", None)).unwrap();
    }
    assert!(!b.run(lb.has_room("tw")).unwrap());
    assert!(b
        .run(lb.insert("one-too-many".into(), "tw", "frank", None))
        .is_err());
    assert!(b.run(lb.has_room("other")).unwrap(), "per provider");
}

#[test]
#[ignore = "needs redis-server"]
fn a_refresh_token_a_stalled_holder_presented_is_not_presented_again_while_its_answer_may_come() {
    let redis = RedisServer::start();
    let ttl = Duration::from_millis(600);
    let a = Replica::open(&redis, ttl, WAIT, None);
    let b = Replica::open(&redis, ttl, WAIT, None);
    let Saved::Stored(v1) = a
        .run(a.store.save(token("gus", "g1", "r1"), Expect::Version(0)))
        .unwrap()
    else {
        panic!("stored")
    };
    // A presents r1, then stalls mid-call: its lease lapses and B takes the lock over.
    let lease_a = a.run(a.store.lock("tw", "gus")).unwrap();
    assert_eq!(a.run(lease_a.spend(v1, false)).unwrap(), Spend::Go);
    let lease_b = b.run(b.store.lock("tw", "gus")).unwrap();
    // B must not present r1 lightly: A's answer (r2) may still come.
    assert_eq!(b.run(lease_b.spend(v1, false)).unwrap(), Spend::Unsettled);
    // A's lease is gone by Redis' word too.
    assert_eq!(a.run(lease_a.spend(v1, false)).unwrap(), Spend::Lost);
    // A's answer is stored after all (nobody wrote since v1): that settles it.
    let Saved::Stored(v2) = a
        .run(a.store.save(token("gus", "g2", "r2"), Expect::Version(v1)))
        .unwrap()
    else {
        panic!("A's answer is stored: nothing newer was")
    };
    assert_eq!(b.run(lease_b.spend(v2, false)).unwrap(), Spend::Go);
    // When the token is about to expire, the last resort presents it anyway.
    assert_eq!(b.run(lease_b.spend(v2, false)).unwrap(), Spend::Unsettled);
    assert_eq!(b.run(lease_b.spend(v2, true)).unwrap(), Spend::Go);
    // A platform that answered with a server error did not take it: settled.
    b.run(lease_b.settle(v2));
    assert_eq!(b.run(lease_b.spend(v2, false)).unwrap(), Spend::Go);
    b.run(lease_b.release());
    // A removal clears what is outstanding.
    b.run(b.store.remove("tw", "gus")).unwrap();
    let left: Vec<String> = redis.cmd(&["KEYS", "t:spending:*"]);
    assert!(left.is_empty(), "{left:?}");
}
