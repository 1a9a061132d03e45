//! The session's requests, each answer recorded as shown.

use crate::evidence::Evidence;
use crate::harness::Proxy;
use crate::support::FakePlatform;

/// Answers of the admin listener and the proxy, each recorded as shown.
pub struct Session<'a> {
    pub proxy: &'a Proxy,
    pub ev: Evidence,
}

impl Session<'_> {
    /// `upstream_body`: a proxied answer's body, which is the upstream's own (the fake echoes
    /// the Authorization it got) and so not searched when it is a success.
    pub async fn record(
        &mut self,
        what: String,
        resp: reqwest::Response,
        upstream_body: bool,
    ) -> (u16, String) {
        let status = resp.status().as_u16();
        let mut shown = format!("{status}\n");
        for (name, value) in resp.headers() {
            shown.push_str(&format!(
                "{name}: {}\n",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        let body = resp.text().await.expect("a body");
        if !(upstream_body && (200..300).contains(&status)) {
            shown.push_str(&body);
        }
        self.ev.show(what, shown);
        (status, body)
    }

    pub async fn admin(&mut self, method: reqwest::Method, path: &str) -> (u16, String) {
        let url = self.proxy.admin_url(path);
        self.browse(method, path, url).await
    }

    /// As `admin`, at `public_url`, where a login's pages are (and its cookie is kept).
    pub async fn public(&mut self, path: &str) -> (u16, String) {
        let url = self.proxy.public_url(path);
        self.browse(reqwest::Method::GET, path, url).await
    }

    async fn browse(&mut self, method: reqwest::Method, path: &str, url: String) -> (u16, String) {
        let resp = self
            .proxy
            .no_redirect()
            .request(method.clone(), url)
            .send()
            .await
            .expect("the admin listener answers");
        self.record(format!("{method} admin {path}"), resp, false).await
    }

    pub async fn get(&mut self, path: &str, user: Option<&str>) -> (u16, String) {
        let mut req = self.proxy.http.get(self.proxy.url(path));
        if let Some(u) = user {
            req = req.header("x-token-user", u);
        }
        let resp = req.send().await.expect("the proxy answers");
        self.record(format!("GET proxy {path}"), resp, true).await
    }

    pub async fn refresh(&mut self, provider: &str, subject: &str) -> (u16, String) {
        let path = format!("/admin/tokens/{provider}/{subject}/refresh");
        let got = self.admin(reqwest::Method::POST, &path).await;
        self.ev.store(self.proxy);
        got
    }

    /// The login the way a browser goes through it, keeping the code and every page.
    pub async fn login(&mut self, fake: &FakePlatform, provider: &str, user: &str) {
        let (status, _) = self.public(&format!("/oauth/{provider}/login?user={user}")).await;
        assert_eq!(status, 302, "{provider}: login redirects");
        let (_, location) = self.ev.shown.last().expect("recorded");
        let location = location
            .lines()
            .find_map(|l| l.strip_prefix("location: "))
            .expect("a location")
            .to_string();
        let callback = fake
            .follow_authorize(&location)
            .await
            .expect("the platform approves");
        let url = url::Url::parse(&callback).expect("a callback URL");
        let code = url
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .expect("a code in the callback");
        self.ev.secret(&code);
        let path = format!("{}?{}", url.path(), url.query().unwrap_or(""));
        let (status, page) = self.public(&path).await;
        assert_eq!(status, 200, "{provider}: {page}");
        assert!(page.contains("Connected"), "{page}");
        // Replaying the callback is refused, with a page of its own.
        let (status, _) = self.public(&path).await;
        assert_eq!(status, 400);
        self.ev.store(self.proxy);
    }
}
