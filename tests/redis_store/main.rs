//! The Redis store against a real `redis-server` (SPEC, "Several replicas: the Redis
//! store"): the lock is a lease with an owner, renewed while held, that lapses when its
//! holder stalls and is then taken over; a stale owner's release is a no-op; a save from a
//! version no longer stored is refused (fenced); a busy lock is told apart from a dead
//! Redis; changes are announced with names and versions only; tokens and logins are
//! sealed at rest when a key is configured.
//!
//! A stalled replica is a store opened on its own current-thread runtime that the test
//! stops driving: none of its tasks run (no renewal, no heartbeat), as under SIGSTOP.

#[path = "../harness/mod.rs"]
mod harness;
#[path = "../support/mod.rs"]
mod support;

mod at_rest;
mod follow;
mod logins;

use std::future::Future;
use std::time::{Duration, Instant};

use harness::redis_server::RedisServer;
use token_sidecar::metrics::StoreMetrics;
use token_sidecar::secret::{AccessToken, RedisUrl, RefreshToken};
use token_sidecar::store::redis::{RedisStore, Settings};
use token_sidecar::store::seal::Sealer;
use token_sidecar::store::{Expect, Saved, Spend, StoreError, StoredToken, TokenStore};
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
