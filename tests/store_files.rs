//! The store's file against another local user who can write to its directory: a temp file
//! planted where the old predictable name was, and a symlink planted there, before a write.

mod harness;
mod support;

use std::os::unix::fs::{symlink, PermissionsExt};

use harness::Proxy;
use support::{FakePlatform, FakeUpstream, Kind};

#[tokio::test]
async fn planted_temp_files_and_symlinks_neither_loosen_nor_redirect_the_store() {
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start().await;
    let proxy = Proxy::with_route(
        &fake,
        "p",
        "",
        "/t",
        &up.url("/api"),
        "token = \"user\"\nuser = \"alice\"",
    )
    .await;
    let dir = proxy.dir.path().to_path_buf();
    let pid = std::process::id();
    // What the review planted: a world-writable file at the temp name of this process...
    let planted = dir.join(format!(".tokens.json.{pid}.tmp"));
    std::fs::write(&planted, "").unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o666)).unwrap();
    // ...and symlinks at the names a writer might pick, pointing at a file of the victim's.
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, "untouched").unwrap();
    for n in 1..=3 {
        symlink(&victim, dir.join(format!(".tokens.json.{}.tmp", pid + n))).unwrap();
    }

    assert_eq!(proxy.login(&fake, "p", "alice").await.status(), 200);
    assert_eq!(proxy.refresh_now("p", "alice").await.status(), 200);

    let store = dir.join("tokens.json");
    let meta = std::fs::symlink_metadata(&store).unwrap();
    assert!(meta.file_type().is_file());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "the store is 0600");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
    assert_eq!(
        std::fs::read_to_string(&planted).unwrap(),
        "",
        "the planted file was not used"
    );
    let text = std::fs::read_to_string(&store).unwrap();
    assert!(text.contains("alice"), "the login is stored");
    proxy.stop().await;
}
