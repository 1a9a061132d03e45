//! A user token that came without a refresh token cannot be renewed: it serves its whole
//! lifetime (SPEC, "Token lifecycle": the current token keeps serving while it has not
//! expired), and only then needs a new login.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::harness::{provider, route, Proxy, WAIT};
use crate::support::{FakePlatform, FakeUpstream, Kind};

#[tokio::test]
async fn a_user_token_without_a_refresh_token_serves_until_it_expires_then_needs_login() {
    let fake = FakePlatform::start(Kind::OAuth2 { basic: false }).await;
    // Any token is fine upstream: this one was planted in the store, not issued by the fake.
    let up = FakeUpstream::start().await;
    let lifetime = Duration::from_secs(4);
    let issued = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970");
    let planted = json!([{
        "provider": "p", "subject": "bob", "kind": "user",
        "access_token": "planted-access-token-of-bob",
        "issued_at": issued.as_secs_f64(), "lifetime": lifetime.as_secs_f64(),
        "scopes": ["a:read"],
    }]);
    let body = format!(
        "{}{}",
        provider("p", &fake),
        route("/bob", "p", &up.url("/api"), "token = \"user\"\nuser = \"bob\""),
    );
    let proxy = Proxy::start_with_stored("", planted, &body).await;
    let started = tokio::time::Instant::now();
    // Past the point where a renewable token of this lifetime is refreshed (half of it, for
    // lifetimes under two minutes), before its end: it still serves.
    tokio::time::sleep_until(started + lifetime * 3 / 4).await;
    assert_eq!(proxy.get("/bob/x").await.status(), 200);
    let tokens = proxy.tokens().await;
    assert_eq!(tokens[0]["status"], "valid", "{tokens}");
    assert_eq!(fake.attempts(), 0, "nothing to refresh with");
    // Once it expired: needs_login, with a way to log in.
    let deadline = started + lifetime + WAIT;
    loop {
        let resp = proxy.get("/bob/x").await;
        if resp.status() == 503 {
            let said: serde_json::Value = resp.json().await.expect("JSON");
            assert_eq!(said["status"], "needs_login", "{said}");
            assert!(said["login_url"].is_string(), "{said}");
            break;
        }
        assert_eq!(resp.status(), 200);
        assert!(
            tokio::time::Instant::now() < deadline,
            "still served past its expiry"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!up.requests().is_empty());
    assert!(
        up.requests()
            .iter()
            .all(|r| r.headers["authorization"] == "Bearer planted-access-token-of-bob"),
        "only the planted token was sent"
    );
    proxy.stop().await;
}
