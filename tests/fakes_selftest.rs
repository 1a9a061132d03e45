//! Exercises the test fakes in tests/support against the platform documents.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{Failure, FakePlatform, FakeUpstream, Kind, CLIENT_ID as ID, CLIENT_SECRET as SECRET};

const CB: &str = "http://127.0.0.1:9/oauth/p/callback";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn enc(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

async fn answer(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn form(url: &str, pairs: &[(&str, &str)]) -> (u16, Value) {
    let req = client()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded");
    answer(req.body(enc(pairs)).send().await.expect("send")).await
}

async fn query(url: &str, pairs: &[(&str, &str)]) -> (u16, Value) {
    answer(
        client()
            .post(format!("{url}?{}", enc(pairs)))
            .send()
            .await
            .expect("send"),
    )
    .await
}

async fn post_json(url: &str, body: Value) -> (u16, Value) {
    answer(client().post(url).json(&body).send().await.expect("send")).await
}

fn param(location: &str, name: &str) -> String {
    let url = url::Url::parse(location).expect("location");
    let found = url.query_pairs().find(|(k, _)| k == name);
    found.map(|(_, v)| v.into_owned()).unwrap_or_default()
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

#[test]
fn sha256_and_base64_match_known_vectors() {
    let hex: String = support::pkce::sha256(b"abc")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        hex,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let hex = |d: [u8; 32]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let a = |n: usize| support::pkce::sha256("a".repeat(n).as_bytes());
    assert_eq!(
        hex(a(55)),
        "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"
    );
    assert_eq!(
        hex(a(56)),
        "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"
    );
    assert_eq!(
        hex(a(1000)),
        "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"
    );
    let challenge = support::pkce::s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU2p9-4jn2Cr26Ui2iY");
    assert_eq!(challenge, "NyoF0fcRGqj5eX4SQwpYUyzGavdV2fjfkw6FNIThMws");
    for data in [
        &b""[..],
        b"f",
        b"fo",
        b"foo",
        b"fake-client-id:fake-client-secret",
    ] {
        let enc = support::pkce::base64_std(data);
        assert_eq!(support::pkce::base64_std_decode(&enc).as_deref(), Some(data));
    }
    assert_eq!(support::pkce::base64_std(b"foob"), "Zm9vYg==");
}

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

#[tokio::test]
async fn failure_modes_delay_and_waiting() {
    let p = FakePlatform::start(Kind::Twitch).await;
    let cc = [
        ("client_id", ID),
        ("client_secret", SECRET),
        ("grant_type", "client_credentials"),
    ];
    p.set_failure(Failure::Status(503));
    assert_eq!(
        form(&p.token_url(), &cc).await,
        (503, json!({"status": 503, "message": "fake failure"}))
    );
    p.set_failure(Failure::Garbage);
    let (st, body) = form(&p.token_url(), &cc).await;
    assert!(st == 200 && body.is_string());
    p.set_failure(Failure::MissingField);
    let (st, body) = form(&p.token_url(), &cc).await;
    assert!(st == 200 && body.get("access_token").is_none() && body["expires_in"].is_u64());
    p.set_failure(Failure::Huge);
    let (st, body) = form(&p.token_url(), &cc).await;
    assert!(st == 200 && body.to_string().len() > 10_000_000 && !p.is_valid(&s(&body, "access_token")));
    p.set_failure(Failure::Reset);
    let req = client()
        .post(p.token_url())
        .header("content-type", "application/x-www-form-urlencoded");
    assert!(req.body(enc(&cc)).send().await.is_err());
    p.set_failure(Failure::None);
    p.fail_next(Failure::Status(500), 1);
    assert_eq!(form(&p.token_url(), &cc).await.0, 500);
    assert_eq!(form(&p.token_url(), &cc).await.0, 200);
    assert_eq!((p.attempts(), p.requests("client_credentials")), (7, 1));
    p.set_expires_in(0);
    assert!(!p.is_valid(&s(&form(&p.token_url(), &cc).await.1, "access_token")));
    p.set_delay(Duration::from_millis(300));
    let slow = tokio::spawn({
        let url = p.token_url();
        async move { form(&url, &cc).await.0 }
    });
    let waiter = tokio::spawn({
        let p = p.clone();
        async move { p.wait_attempts(9, Duration::from_secs(5)).await }
    });
    assert!(waiter.await.expect("join"));
    assert_eq!(p.requests("client_credentials"), 2);
    assert!(!p.wait_attempts(10, Duration::from_millis(50)).await);
    assert!(
        p.wait_requests("client_credentials", 3, Duration::from_secs(5))
            .await
    );
    assert_eq!(slow.await.expect("join"), 200);
    assert!(p.rejected().is_empty(), "{:?}", p.rejected());
}

#[tokio::test]
async fn upstream_records_echoes_and_checks_tokens() {
    let up = FakeUpstream::start().await;
    let resp = client()
        .post(up.url("/v1/x?y=1"))
        .header("authorization", "Bearer t")
        .body("hello")
        .send()
        .await
        .expect("send");
    let (st, echo) = answer(resp).await;
    assert_eq!(
        (st, echo),
        (
            200,
            json!({"method": "POST", "path": "/v1/x", "query": "y=1", "authorization": "Bearer t"})
        )
    );
    let rec = up.requests().remove(0);
    assert_eq!(
        (
            rec.body.as_slice(),
            rec.query.as_deref(),
            rec.headers["authorization"].to_str().ok()
        ),
        (&b"hello"[..], Some("y=1"), Some("Bearer t"))
    );
    up.set_response(418, r#"{"teapot":true}"#);
    assert_eq!(
        answer(client().get(up.url("/t")).send().await.expect("send")).await,
        (418, json!({"teapot": true}))
    );
    up.reject_next(1);
    assert_eq!(
        client().get(up.url("/t")).send().await.expect("send").status(),
        401
    );
    assert_eq!(
        client().get(up.url("/t")).send().await.expect("send").status(),
        418
    );
    assert!(up.wait_count(4, Duration::from_secs(1)).await && up.count() == 4);

    let p = FakePlatform::start(Kind::Twitch).await;
    let checking = FakeUpstream::start_checking(p.clone()).await;
    let cc = [
        ("client_id", ID),
        ("client_secret", SECRET),
        ("grant_type", "client_credentials"),
    ];
    let at = s(&form(&p.token_url(), &cc).await.1, "access_token");
    let get = |auth: String| {
        client()
            .get(checking.url("/helix/users"))
            .header("authorization", auth)
            .send()
    };
    assert_eq!(
        answer(get("Bearer nope".into()).await.expect("send")).await,
        (401, json!({"error": "invalid token"}))
    );
    assert_eq!(get(format!("Bearer {at}")).await.expect("send").status(), 200);
    assert_eq!(get(format!("OAuth {at}")).await.expect("send").status(), 401);
    p.revoke_all();
    assert_eq!(get(format!("Bearer {at}")).await.expect("send").status(), 401);
}

#[tokio::test]
async fn upstream_switches_protocols_and_echoes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let up = FakeUpstream::start().await;
    let addr = up.url("").trim_start_matches("http://").to_string();
    let mut sock = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let head =
        format!("GET /ws HTTP/1.1\r\nhost: {addr}\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n");
    sock.write_all(head.as_bytes()).await.expect("write");
    let mut buf = vec![0u8; 1024];
    let n = sock.read(&mut buf).await.expect("read");
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(
        text.starts_with("HTTP/1.1 101") && text.ends_with("\r\n\r\n"),
        "{text}"
    );
    sock.write_all(b"ping").await.expect("write");
    let mut got = [0u8; 4];
    sock.read_exact(&mut got).await.expect("echo");
    assert_eq!(&got, b"ping");
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_server() {
    let p = FakePlatform::start(Kind::Twitch).await;
    let url = p.token_url();
    let clone = p.clone();
    drop(p);
    assert_eq!(form(&url, &[]).await.0, 400);
    drop(clone);
    let mut stopped = false;
    for _ in 0..100 {
        tokio::task::yield_now().await;
        if client().post(&url).send().await.is_err() {
            stopped = true;
            break;
        }
    }
    assert!(stopped);
}
