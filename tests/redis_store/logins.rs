//! A login started on one replica is finished on another, once, and pending logins are
//! capped across replicas.

use std::time::Duration;

use token_sidecar::oauth::login::{Logins, StateRefusal};

use crate::harness::redis_server::RedisServer;
use crate::{Replica, WAIT};

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
