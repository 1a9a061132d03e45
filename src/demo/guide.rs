//! What the demo prints once it runs: where things are, and five things to try.

use std::fmt::Write;
use std::net::SocketAddr;
use std::path::Path;

use url::Url;

use super::config::{APP_ROUTE, PROVIDER, USER_ROUTE};

pub struct Where<'a> {
    pub proxy: SocketAddr,
    /// The admin listener as a browser reaches it (`public_url`).
    pub admin: &'a Url,
    pub platform: &'a str,
    pub store: &'a Path,
    pub token_lifetime_secs: u64,
}

pub fn text(w: &Where<'_>) -> String {
    let admin = w.admin.as_str().trim_end_matches('/');
    let proxy = format!("http://{}", w.proxy);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "token-sidecar demo: the real proxy, and a local OAuth 2.0 platform to try it on\n"
    );
    let _ = writeln!(out, "  proxy        {proxy}");
    let _ = writeln!(out, "  status page  {admin}/");
    let _ = writeln!(out, "  platform     {}", w.platform);
    let _ = writeln!(
        out,
        "  store        {} (removed when the demo stops)",
        w.store.display()
    );
    let _ = writeln!(out, "\nTry:");
    let steps = [
        ("an app-token route", format!("curl {proxy}{APP_ROUTE}/hello")),
        ("the status page", format!("{admin}/ (in a browser)")),
        (
            "connect `default`",
            format!("{admin}/oauth/{PROVIDER}/login, then Approve"),
        ),
        ("a user-token route", format!("curl {proxy}{USER_ROUTE}/hello")),
        (
            "refreshes",
            format!("curl -s {admin}/metrics | grep token_requests_total"),
        ),
    ];
    for (i, (what, command)) in steps.iter().enumerate() {
        let _ = writeln!(out, "  {}. {:<20} {command}", i + 1, format!("{what}:"));
    }
    let _ = writeln!(
        out,
        "\nTokens last {} s and are refreshed about halfway. Ctrl-C stops the demo.",
        w.token_lifetime_secs
    );
    out
}
