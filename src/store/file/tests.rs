//! The file store alone: versions, fencing, sealing, and what a crashed write leaves.

use super::*;
use crate::secret::{AccessToken, RefreshToken};
use crate::store::seal::SealKey;

fn open(path: &Path) -> Arc<FileStore> {
    FileStore::open(path, None, StoreMetrics::unregistered()).unwrap()
}

fn token(subject: &str, access: &str) -> StoredToken {
    StoredToken {
        provider: "p".into(),
        subject: subject.into(),
        kind: "user".into(),
        access_token: AccessToken::new(access),
        refresh_token: Some(RefreshToken::new("r")),
        issued_at: 1.0,
        lifetime: 3600.0,
        refresh_expires_at: None,
        scopes: vec!["a".into()],
        user_id: None,
        needs_login: false,
        refused: None,
    }
}

#[tokio::test]
async fn saves_replaces_removes_and_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/tokens.json");
    let store = open(&path);
    store.save(token("alice", "a1"), Expect::Any).await.unwrap();
    store.save(token("bob", "b1"), Expect::Any).await.unwrap();
    store.save(token("alice", "a2"), Expect::Any).await.unwrap();
    store.remove("p", "bob").await.unwrap();
    let loaded = read(&path, None).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].access_token.secret(), "a2");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temp files left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_saves_are_all_durable_when_they_return() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let store = open(&path);
    let saves: Vec<_> = (0..50)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .save(token(&format!("user{i}"), &format!("a{i}")), Expect::Any)
                    .await
                    .unwrap();
                // Once `save` returns, this token is on disk.
                let on_disk = read(&store.path, None).unwrap();
                assert!(on_disk.iter().any(|t| t.subject == format!("user{i}")));
            })
        })
        .collect();
    for s in saves {
        s.await.unwrap();
    }
    assert_eq!(read(&path, None).unwrap().len(), 50);
}

#[test]
fn temp_files_of_a_crashed_write_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let stale = dir.path().join(".tokens.json.4242.tmp");
    std::fs::write(&stale, "{}").unwrap();
    let other = dir.path().join("unrelated.tmp");
    std::fs::write(&other, "x").unwrap();
    open(&path);
    assert!(!stale.exists());
    assert!(other.exists());
}

#[test]
fn a_missing_file_is_empty_and_a_corrupt_one_an_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(read(&dir.path().join("none.json"), None).unwrap().is_empty());
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{not json").unwrap();
    let e = read(&bad, None).unwrap_err().to_string();
    assert!(e.contains("bad.json") && e.contains("move it aside"), "{e}");
}

#[tokio::test]
async fn a_save_against_a_version_no_longer_stored_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let store = open(&path);
    let Saved::Stored(v1) = store
        .save(token("alice", "a1"), Expect::Version(0))
        .await
        .unwrap()
    else {
        panic!("the first save stores")
    };
    let Saved::Stored(v2) = store
        .save(token("alice", "a2"), Expect::Version(v1))
        .await
        .unwrap()
    else {
        panic!("a save against the stored version stores")
    };
    assert!(v2 > v1);
    let stale = store
        .save(token("alice", "a3"), Expect::Version(v1))
        .await
        .unwrap();
    assert_eq!(stale, Saved::Conflict);
    let held = store.load_one("p", "alice").await.unwrap().unwrap();
    assert_eq!((held.version, held.token.access_token.secret()), (v2, "a2"));
    // Saving what is stored already (a retry) is not a conflict.
    let again = store
        .save(token("alice", "a2"), Expect::Version(v1))
        .await
        .unwrap();
    assert_eq!(again, Saved::Stored(v2));
    assert_eq!(
        store.save(token("bob", "b"), Expect::Version(7)).await.unwrap(),
        Saved::Conflict
    );
}

#[tokio::test]
async fn a_plain_store_is_read_and_rewritten_sealed_and_a_wrong_key_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    open(&path)
        .save(token("alice", "plain-access"), Expect::Any)
        .await
        .unwrap();
    assert!(std::fs::read_to_string(&path).unwrap().contains("plain-access"));
    let key_file = dir.path().join("store-key");
    let sealer = Sealer::new(&SealKey::from_bytes([9; 32]), &key_file);
    let store = FileStore::open(&path, Some(sealer.clone()), StoreMetrics::unregistered()).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains("plain-access") && text.contains("sealed"),
        "{text}"
    );
    let alice = store.load_one("p", "alice").await.unwrap().unwrap();
    assert_eq!(alice.token.access_token.secret(), "plain-access");
    let wrong = Sealer::new(&SealKey::from_bytes([8; 32]), &key_file);
    let e = FileStore::open(&path, Some(wrong), StoreMetrics::unregistered())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("store-key"), "{e}");
    let e = FileStore::open(&path, None, StoreMetrics::unregistered())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("encryption_key_file"), "{e}");
}
