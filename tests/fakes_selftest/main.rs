//! Exercises the test fakes in tests/support against the platform documents.

#[path = "../support/mod.rs"]
mod support;

mod login_platforms;
mod more_platforms;
mod upstream;

use std::time::Duration;

use serde_json::Value;

pub(crate) const CB: &str = "http://127.0.0.1:9/oauth/p/callback";

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

pub(crate) fn enc(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

pub(crate) async fn answer(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

pub(crate) async fn form(url: &str, pairs: &[(&str, &str)]) -> (u16, Value) {
    let req = client()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded");
    answer(req.body(enc(pairs)).send().await.expect("send")).await
}

pub(crate) async fn query(url: &str, pairs: &[(&str, &str)]) -> (u16, Value) {
    answer(
        client()
            .post(format!("{url}?{}", enc(pairs)))
            .send()
            .await
            .expect("send"),
    )
    .await
}

pub(crate) async fn post_json(url: &str, body: Value) -> (u16, Value) {
    answer(client().post(url).json(&body).send().await.expect("send")).await
}

pub(crate) fn param(location: &str, name: &str) -> String {
    let url = url::Url::parse(location).expect("location");
    let found = url.query_pairs().find(|(k, _)| k == name);
    found.map(|(_, v)| v.into_owned()).unwrap_or_default()
}

pub(crate) fn s(v: &Value, k: &str) -> String {
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
