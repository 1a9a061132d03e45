//! `GET /`: each provider and each token (subject, expiry, scopes, status), with links to
//! (re)connect — the page a streamer opens to see that everything is wired.

use std::fmt::Write;

use http::{Response, StatusCode};

use super::html::{escape, page, query_value};
use super::login::DEFAULT_USER;
use super::view::{cells, view};
use super::AdminBody;
use crate::Shared;

pub fn page_for(shared: &Shared) -> Response<AdminBody> {
    let snapshot = shared.snapshot.load();
    let mut body = String::from(
        "<h1>token-sidecar</h1><p class=\"sub\">Tokens this proxy holds and injects. \
         Values are never shown.</p>",
    );
    if snapshot.providers.is_empty() {
        body.push_str("<div class=\"card empty\">No providers are configured.</div>");
    }
    for provider in snapshot.providers.values() {
        let name = provider.name();
        let can_login = provider.client.config.endpoints.authorize.is_some();
        let login = |user: &str| format!("/oauth/{}/login?user={}", query_value(name), query_value(user));
        let _ = write!(
            body,
            "<section class=\"card\"><div class=\"head\"><h2>{}</h2><span class=\"kind\">{}</span>",
            escape(name),
            provider.kind()
        );
        if can_login {
            let _ = write!(
                body,
                "<a class=\"button\" href=\"{}\">Connect {DEFAULT_USER}</a>",
                escape(&login(DEFAULT_USER))
            );
        }
        body.push_str("</div>");
        let rows: Vec<_> = cells(provider).iter().map(|c| view(c)).collect();
        if rows.is_empty() {
            body.push_str("<p class=\"empty\">No tokens yet.</p>");
        } else {
            body.push_str(
                "<table><tr><th>Subject</th><th>Kind</th><th>Expires</th><th>Scopes</th>\
                 <th>Status</th><th></th></tr>",
            );
            for v in rows {
                let action = if v.kind == "user" && can_login {
                    let label = if v.status == "needs_login" {
                        "Log in again"
                    } else {
                        "Reconnect"
                    };
                    format!("<a href=\"{}\">{label}</a>", escape(&login(&v.subject)))
                } else {
                    String::new()
                };
                let _ = write!(
                    body,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"scopes\">{}</td>\
                     <td><span class=\"badge {}\">{}</span></td><td>{action}</td></tr>",
                    escape(&v.subject),
                    v.kind,
                    escape(v.expires_at.as_deref().unwrap_or("—")),
                    escape(&v.scopes.join(" ")),
                    v.status,
                    v.status,
                );
            }
            body.push_str("</table>");
        }
        if can_login {
            let _ = write!(
                body,
                "<form class=\"connect\" method=\"get\" action=\"/oauth/{}/login\">\
                 <input name=\"user\" placeholder=\"user name\" required maxlength=\"128\">\
                 <button type=\"submit\">Connect a user</button></form>",
                escape(&query_value(name))
            );
        }
        body.push_str("</section>");
    }
    page(StatusCode::OK, "Tokens", &body)
}
