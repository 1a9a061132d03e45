//! With an encryption key, nothing secret is in Redis in plain text, and a wrong key is
//! named.

use std::time::Duration;

use token_sidecar::oauth::login::Logins;
use token_sidecar::store::seal::{SealKey, Sealer};
use token_sidecar::store::{Expect, TokenStore};

use crate::harness::redis_server::RedisServer;
use crate::{stored, token, Replica, WAIT};

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
