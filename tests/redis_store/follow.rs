//! Replicas follow each other: changes announced with names and versions only, and a
//! Redis that died and came back followed by a resync.

use std::time::{Duration, Instant};

use token_sidecar::store::{Change, Expect, Saved, TokenStore};

use crate::harness::redis_server::RedisServer;
use crate::{stored, token, Replica, WAIT};

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
