//! Firework, StreamerSonglist and oauth2 fakes, and login denial.

use serde_json::json;

use crate::support::{FakePlatform, Kind, CLIENT_ID as ID, CLIENT_SECRET as SECRET};
use crate::*;

#[tokio::test]
async fn firework_refresh_without_secret_and_expiring_refresh_tokens() {
    let p = FakePlatform::start(Kind::Firework).await;
    let cc = [
        ("grant_type", "client_credentials"),
        ("client_id", ID),
        ("client_secret", SECRET),
    ];
    assert_eq!(query(&p.token_url(), &cc).await.0, 400);
    let q = enc(&[
        ("response_type", "code"),
        ("redirect_uri", CB),
        ("client_id", ID),
        ("state", "s"),
        ("scope", "openid"),
    ]);
    let resp = client()
        .get(format!("{}?{q}", p.authorize_url()))
        .send()
        .await
        .expect("authorize");
    assert_eq!(resp.status(), 301);
    let code = param(resp.headers()["location"].to_str().expect("location"), "code");
    let ex = [
        ("grant_type", "authorization_code"),
        ("redirect_uri", CB),
        ("client_id", ID),
        ("client_secret", SECRET),
        ("code", &code),
    ];
    let (st, user) = query(&p.token_url(), &ex).await;
    assert_eq!(
        (st, s(&user, "scope"), user["token_expires_in"].clone()),
        (200, "openid".into(), json!(3600)),
        "{user}"
    );
    assert_eq!(user["refresh_token_expires_in"], json!(600000));
    assert!(s(&user, "created_at").ends_with('Z') && user.get("expires_in").is_none());
    let rt = s(&user, "refresh_token");
    let with_secret = [
        ("grant_type", "refresh_token"),
        ("redirect_uri", CB),
        ("client_id", ID),
        ("refresh_token", &rt),
        ("client_secret", SECRET),
    ];
    assert_eq!(query(&p.token_url(), &with_secret).await.0, 400);
    p.set_refresh_expires_in(0);
    let (st, fresh) = query(&p.token_url(), &with_secret[..4]).await;
    assert_eq!(st, 200, "{fresh}");
    let rt2 = s(&fresh, "refresh_token");
    assert_ne!(rt, rt2);
    let refresh = [
        ("grant_type", "refresh_token"),
        ("redirect_uri", CB),
        ("client_id", ID),
        ("refresh_token", &rt2),
    ];
    let (st, err) = query(&p.token_url(), &refresh).await;
    assert_eq!((st, s(&err, "error")), (400, "invalid_grant".into()));
    assert!(p.refused()[0].contains("expired"), "{:?}", p.refused());
    assert_eq!(p.rejected().len(), 2, "{:?}", p.rejected());
}

#[tokio::test]
async fn streamersonglist_needs_scope_on_client_credentials() {
    let p = FakePlatform::start(Kind::StreamerSonglist).await;
    let cc = [
        ("client_id", ID),
        ("client_secret", SECRET),
        ("grant_type", "client_credentials"),
        ("scope", ""),
    ];
    assert_eq!(form(&p.token_url(), &cc[..3]).await.0, 400);
    let (st, app) = form(&p.token_url(), &cc).await;
    assert_eq!(
        (st, app["scope"].clone(), s(&app, "token_type")),
        (200, json!([]), "Bearer".into())
    );
    assert!(app["refresh_token"].is_string());
    let q = enc(&[
        ("client_id", ID),
        ("redirect_uri", CB),
        ("response_type", "code"),
        ("state", "s"),
        ("scope", "queue:edit song:edit"),
    ]);
    assert!(p
        .follow_authorize(&format!("{}?{q}", p.authorize_url()))
        .await
        .is_err());
    let q = enc(&[
        ("client_id", ID),
        ("redirect_uri", CB),
        ("response_type", "code"),
        ("state", "s"),
        ("scope", "queue:edit,song:edit"),
    ]);
    let loc = p
        .follow_authorize(&format!("{}?{q}", p.authorize_url()))
        .await
        .expect("redirect");
    let ex = [
        ("client_id", ID),
        ("client_secret", SECRET),
        ("redirect_uri", CB),
        ("grant_type", "authorization_code"),
        ("code", &param(&loc, "code")),
    ];
    let (st, user) = form(&p.token_url(), &ex).await;
    assert_eq!(
        (st, user["scope"].clone()),
        (200, json!(["queue:edit", "song:edit"]))
    );
    assert_eq!(p.rejected().len(), 2, "{:?}", p.rejected());
}

#[tokio::test]
async fn oauth2_pkce_body_and_basic_client_auth() {
    let verifier = "v".repeat(50);
    let challenge = support::pkce::s256_challenge(&verifier);
    for basic in [false, true] {
        let p = FakePlatform::start(Kind::OAuth2 { basic }).await;
        let q = enc(&[
            ("response_type", "code"),
            ("client_id", ID),
            ("redirect_uri", CB),
            ("state", "s"),
            ("scope", "read write"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]);
        let loc = p
            .follow_authorize(&format!("{}?{q}", p.authorize_url()))
            .await
            .expect("redirect");
        let code = param(&loc, "code");
        let send = |pairs: Vec<(&str, &str)>| {
            let mut all: Vec<(&str, &str)> = if basic {
                vec![]
            } else {
                vec![("client_id", ID), ("client_secret", SECRET)]
            };
            all.extend(pairs);
            let mut req = client()
                .post(p.token_url())
                .header("content-type", "application/x-www-form-urlencoded");
            if basic {
                req = req.basic_auth(ID, Some(SECRET));
            }
            req.body(enc(&all)).send()
        };
        let wrong = "w".repeat(43);
        let ex = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CB),
            ("code_verifier", wrong.as_str()),
        ];
        assert_eq!(
            answer(send(ex.to_vec()).await.expect("send")).await.1["error"],
            "invalid_grant"
        );
        assert_eq!(p.last_code_verifier().as_deref(), Some(wrong.as_str()));
        let code = p.issue_user_code_with_challenge("u", CB, &challenge);
        let ex = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CB),
            ("code_verifier", verifier.as_str()),
        ];
        let (st, user) = answer(send(ex.to_vec()).await.expect("send")).await;
        assert_eq!((st, s(&user, "token_type")), (200, "Bearer".into()), "{user}");
        let rt = s(&user, "refresh_token");
        let (st, _) = answer(
            send(vec![("grant_type", "refresh_token"), ("refresh_token", &rt)])
                .await
                .expect("send"),
        )
        .await;
        assert_eq!(st, 200);
        let (st, _) = answer(
            send(vec![("grant_type", "client_credentials")])
                .await
                .expect("send"),
        )
        .await;
        assert_eq!(st, 200);
        assert!(p.rejected().is_empty(), "{:?}", p.rejected());
        // The other client-auth method is refused.
        let other = [
            ("client_id", ID),
            ("client_secret", SECRET),
            ("grant_type", "client_credentials"),
        ];
        let req = client()
            .post(p.token_url())
            .header("content-type", "application/x-www-form-urlencoded");
        let req = if basic {
            req
        } else {
            req.basic_auth(ID, Some(SECRET))
        };
        assert_eq!(req.body(enc(&other)).send().await.expect("send").status(), 400);
        let (st, _) = if basic {
            let req = client().post(p.revoke_url()).basic_auth(ID, Some(SECRET));
            let req = req.header("content-type", "application/x-www-form-urlencoded");
            answer(
                req.body(enc(&[("token", &rt), ("token_type_hint", "refresh_token")]))
                    .send()
                    .await
                    .expect("send"),
            )
            .await
        } else {
            form(
                &p.revoke_url(),
                &[("token", &rt), ("client_id", ID), ("client_secret", SECRET)],
            )
            .await
        };
        assert_eq!(st, 200);
        assert_eq!((p.rejected().len(), p.revoked()), (1, vec![rt]));
        assert_eq!(
            (p.requests("authorization_code"), p.requests("refresh_token")),
            (1, 1)
        );
    }
}

#[tokio::test]
async fn denied_login_redirects_with_access_denied() {
    let p = FakePlatform::start(Kind::Glimesh).await;
    p.set_deny(true);
    let q = enc(&[
        ("response_type", "code"),
        ("client_id", ID),
        ("redirect_uri", CB),
        ("state", "s9"),
        ("scope", "public"),
    ]);
    let loc = p
        .follow_authorize(&format!("{}?{q}", p.authorize_url()))
        .await
        .expect("redirect");
    assert_eq!(
        (param(&loc, "error"), param(&loc, "state"), param(&loc, "code")),
        ("access_denied".into(), "s9".into(), String::new())
    );
}
