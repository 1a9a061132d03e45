//! Twitch, Blaze and Glimesh fakes.

use serde_json::json;

use crate::support::{FakePlatform, Kind, CLIENT_ID as ID, CLIENT_SECRET as SECRET};
use crate::*;

#[tokio::test]
async fn twitch_login_refresh_validate_revoke() {
    let p = FakePlatform::start(Kind::Twitch).await;
    let c = [("client_id", ID), ("client_secret", SECRET)];
    let (st, app) = form(
        &p.token_url(),
        &[c[0], c[1], ("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(st, 200, "{app}");
    assert!(app.get("refresh_token").is_none() && app["token_type"] == "bearer");
    assert!(p.is_valid(&s(&app, "access_token")));
    let auth = format!(
        "{}?{}",
        p.authorize_url(),
        enc(&[
            ("response_type", "code"),
            ("client_id", ID),
            ("redirect_uri", CB),
            ("scope", "a:b c:d"),
            ("state", "st1")
        ])
    );
    let loc = p.follow_authorize(&auth).await.expect("redirect");
    assert!(loc.starts_with(CB) && param(&loc, "state") == "st1");
    assert_eq!(p.last_authorize_query().len(), 5);
    let code = param(&loc, "code");
    let exchange = [
        c[0],
        c[1],
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", CB),
    ];
    let (st, user) = form(&p.token_url(), &exchange).await;
    assert_eq!(st, 200, "{user}");
    assert_eq!(user["scope"], json!(["a:b", "c:d"]));
    let (st, again) = form(&p.token_url(), &exchange).await;
    assert_eq!(
        (st, s(&again, "message")),
        (400, "Invalid authorization code".to_string())
    );
    let rt = s(&user, "refresh_token");
    let refresh = [
        c[0],
        c[1],
        ("grant_type", "refresh_token"),
        ("refresh_token", &rt),
    ];
    let (st, fresh) = form(&p.token_url(), &refresh).await;
    assert_eq!(st, 200, "{fresh}");
    assert_ne!(s(&fresh, "refresh_token"), rt);
    let (st, reused) = form(&p.token_url(), &refresh).await;
    assert_eq!(
        (st, reused),
        (400, json!({"status": 400, "message": "Invalid refresh token"}))
    );
    assert_eq!(
        (p.requests("authorization_code"), p.requests("refresh_token")),
        (1, 1)
    );
    assert_eq!(p.refused().len(), 2);
    let at = s(&fresh, "access_token");
    let v = client()
        .get(p.validate_url())
        .header("authorization", format!("OAuth {at}"));
    let (st, info) = answer(v.send().await.expect("validate")).await;
    assert_eq!(
        (st, s(&info, "login"), info["scopes"].clone()),
        (200, "fakeuser".into(), json!(["a:b", "c:d"]))
    );
    assert_eq!(s(&info, "user_id"), p.user_id("fakeuser"));
    assert!(p.rejected().is_empty(), "{:?}", p.rejected());
    // Twitch's revoke takes an access token: a refresh token is "Invalid token".
    let new_rt = s(&fresh, "refresh_token");
    let (st, said) = form(&p.revoke_url(), &[("client_id", ID), ("token", &new_rt)]).await;
    assert_eq!((st, s(&said, "message")), (400, "Invalid token".to_string()));
    assert_eq!(p.rejected().len(), 1, "{:?}", p.rejected());
    assert!(p.revoked().is_empty() && p.is_valid(&at));
    let (st, _) = form(&p.revoke_url(), &[("client_id", ID), ("token", &at)]).await;
    assert_eq!(st, 200);
    assert!(!p.is_valid(&at) && p.revoked() == vec![at.clone()]);
    let v = client()
        .get(p.validate_url())
        .header("authorization", format!("OAuth {at}"));
    assert_eq!(v.send().await.expect("validate").status(), 401);
}

#[tokio::test]
async fn twitch_rejects_malformed_requests() {
    let p = FakePlatform::start(Kind::Twitch).await;
    let cc = json!({"client_id": ID, "client_secret": SECRET, "grant_type": "client_credentials"});
    assert_eq!(post_json(&p.token_url(), cc).await.0, 400);
    let bad_secret = [
        ("client_id", ID),
        ("client_secret", "nope"),
        ("grant_type", "client_credentials"),
    ];
    assert_eq!(form(&p.token_url(), &bad_secret).await.0, 400);
    let extra = [
        ("client_id", ID),
        ("client_secret", SECRET),
        ("grant_type", "client_credentials"),
        ("x", "1"),
    ];
    assert_eq!(form(&p.token_url(), &extra).await.0, 400);
    assert_eq!(query(&p.token_url(), &extra[..3]).await.0, 400);
    let at = "tw-at-nothing";
    let v = client()
        .get(p.validate_url())
        .header("authorization", format!("Bearer {at}"));
    assert_eq!(v.send().await.expect("validate").status(), 401);
    let no_state = enc(&[
        ("response_type", "code"),
        ("client_id", ID),
        ("redirect_uri", CB),
        ("scope", "x"),
    ]);
    assert!(p
        .follow_authorize(&format!("{}?{no_state}", p.authorize_url()))
        .await
        .is_err());
    assert_eq!(p.rejected().len(), 6, "{:?}", p.rejected());
    assert_eq!((p.attempts(), p.requests("client_credentials")), (4, 0));
}

#[tokio::test]
async fn blaze_pkce_login_and_rotating_refresh() {
    let p = FakePlatform::start(Kind::Blaze).await;
    let gen = json!({"clientId": ID, "clientSecret": SECRET, "redirectUri": CB, "scopes": ["users.read", "users.bot"]});
    let (st, auth) = post_json(&p.authorize_url(), gen).await;
    assert_eq!(st, 200, "{auth}");
    let loc = p.follow_authorize(&s(&auth, "url")).await.expect("redirect");
    assert_eq!(param(&loc, "state"), s(&auth, "state"));
    let code = param(&loc, "code");
    let ex = |code: &str, verifier: &str| {
        json!({"clientId": ID, "clientSecret": SECRET, "code": code, "codeVerifier": verifier,
               "redirectUri": CB, "grantType": "authorization_code"})
    };
    assert_eq!(post_json(&p.token_url(), ex(&code, "wrong")).await.0, 400);
    assert_eq!(
        post_json(&p.token_url(), ex(&code, &s(&auth, "codeVerifier")))
            .await
            .0,
        400
    );
    assert_eq!(p.refused().len(), 2, "{:?}", p.refused());
    let gen = json!({"clientId": ID, "clientSecret": SECRET, "redirectUri": CB, "scopes": ["users.read", "users.bot"]});
    let (_, auth) = post_json(&p.authorize_url(), gen).await;
    let code = p.issue_user_code("bob", CB);
    let ex = ex(&code, &s(&auth, "codeVerifier"));
    let (st, user) = post_json(&p.token_url(), ex).await;
    assert_eq!(st, 200, "{user}");
    assert_eq!(
        (s(&user, "type"), s(&user, "tokenType")),
        ("user".into(), "Bearer".into())
    );
    assert_eq!(
        (s(&user, "userId"), user["scopes"].clone()),
        (p.user_id("bob"), json!(["users.read", "users.bot"]))
    );
    let rt = s(&user, "refreshToken");
    let refresh = json!({"clientId": ID, "clientSecret": SECRET, "refreshToken": rt});
    let (st, fresh) = post_json(&p.refresh_url(), refresh.clone()).await;
    assert_eq!(st, 200, "{fresh}");
    assert!(fresh.get("userId").is_none() && p.is_valid(&s(&fresh, "accessToken")));
    assert_eq!(post_json(&p.refresh_url(), refresh).await.0, 400);
    let cc = json!({"clientId": ID, "clientSecret": SECRET, "grantType": "client_credentials"});
    let (st, app) = post_json(&p.token_url(), cc).await;
    assert_eq!(
        (st, s(&app, "type"), app.get("refreshToken")),
        (200, "app".into(), None)
    );
    assert!(p.rejected().is_empty(), "{:?}", p.rejected());
    let snake = json!({"client_id": ID, "client_secret": SECRET, "grant_type": "client_credentials"});
    assert_eq!(post_json(&p.token_url(), snake).await.0, 400);
    assert_eq!(form(&p.token_url(), &[("clientId", ID)]).await.0, 400);
    assert_eq!(p.rejected().len(), 2);
}

#[tokio::test]
async fn glimesh_takes_parameters_in_the_query_string() {
    let p = FakePlatform::start(Kind::Glimesh).await;
    let cc = [
        ("grant_type", "client_credentials"),
        ("client_id", ID),
        ("client_secret", SECRET),
        ("scope", "public"),
    ];
    let (st, app) = query(&p.token_url(), &cc).await;
    assert_eq!((st, s(&app, "scope")), (200, "public".to_string()), "{app}");
    assert!(app.get("refresh_token").is_none());
    assert_eq!(form(&p.token_url(), &cc).await.0, 400);
    let code = p.issue_user_code_with("ann", CB, &["public", "chat"]);
    let ex = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", "http://other/cb"),
        ("client_id", ID),
        ("client_secret", SECRET),
    ];
    let (st, err) = query(&p.token_url(), &ex).await;
    assert_eq!((st, s(&err, "error")), (400, "invalid_grant".to_string()));
    let code = p.issue_user_code_with("ann", CB, &["public", "chat"]);
    let ex = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", CB),
        ("client_id", ID),
        ("client_secret", SECRET),
    ];
    let (st, user) = query(&p.token_url(), &ex).await;
    assert_eq!(
        (st, s(&user, "scope"), s(&user, "token_type")),
        (200, "public chat".into(), "bearer".into())
    );
    let created = s(&user, "created_at");
    assert!(created.len() == 19 && created.as_bytes()[10] == b'T', "{created}");
    let rt = s(&user, "refresh_token");
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", &rt),
        ("client_id", ID),
        ("client_secret", SECRET),
    ];
    assert_eq!(query(&p.token_url(), &refresh).await.0, 200);
    assert_eq!(
        s(&query(&p.token_url(), &refresh).await.1, "error"),
        "invalid_grant"
    );
    assert_eq!(p.rejected().len(), 1, "{:?}", p.rejected());
}
