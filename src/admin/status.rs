//! `GET /`: each provider and each token (subject, expiry, scopes, status), with links to
//! (re)connect — the page a streamer opens to see that everything is wired. Providers with
//! device-code logins also offer "Connect with a code" (see `device_page`).

use http::{Response, StatusCode};
use maud::{html, Markup};

use super::html::{page, query_value};
use super::login::DEFAULT_USER;
use super::view::view;
use super::AdminBody;
use crate::oauth::Provider;
use crate::Shared;

pub fn page_for(shared: &Shared) -> Response<AdminBody> {
    let snapshot = shared.snapshot.load();
    let body = html! {
        h1 { "token-sidecar" }
        p.sub { "Tokens this proxy holds and injects. Values are never shown." }
        @if snapshot.providers.is_empty() {
            div.card.empty { "No providers are configured." }
        }
        @for provider in snapshot.providers.values() {
            (section(provider))
        }
    };
    page(StatusCode::OK, "Tokens", body)
}

/// One provider's card: its tokens, and its connect links when it has a login.
fn section(provider: &Provider) -> Markup {
    let name = provider.name();
    let can_login = provider.client.config.has_browser_login();
    let with_code = provider.client.config.has_device_login();
    let login = |user: &str| format!("/oauth/{}/login?user={}", query_value(name), query_value(user));
    let rows: Vec<_> = provider.cells().iter().map(|c| view(c)).collect();
    html! {
        section.card {
            div.head {
                h2 { (name) }
                span.kind { (provider.kind()) }
                @if can_login {
                    a.button href=(login(DEFAULT_USER)) { "Connect " (DEFAULT_USER) }
                }
            }
            @if rows.is_empty() {
                p.empty { "No tokens yet." }
            } @else {
                table {
                    tr {
                        th { "Subject" } th { "Kind" } th { "Expires" } th { "Scopes" }
                        th { "Status" } th {}
                    }
                    @for v in &rows {
                        tr {
                            td { (v.subject) }
                            td { (v.kind) }
                            td { (v.expires_at.as_deref().unwrap_or("—")) }
                            td.scopes { (v.scopes.join(" ")) }
                            td { span class={ "badge " (v.status) } { (v.status) } }
                            td {
                                @if v.kind == "user" && can_login {
                                    a href=(login(&v.subject)) {
                                        @if v.status == "needs_login" { "Log in again" } @else { "Reconnect" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if can_login {
                form.connect method="get" action={ "/oauth/" (query_value(name)) "/login" } {
                    input name="user" placeholder="user name" required maxlength="128";
                    button type="submit" { "Connect a user" }
                }
            }
            @if with_code {
                // A POST: it asks the platform for a code, so no other site may start one.
                form.connect method="post" action={ "/oauth/" (query_value(name)) "/device" } {
                    input name="user" value=(DEFAULT_USER) required maxlength="128";
                    button type="submit" { "Connect with a code" }
                }
            }
        }
    }
}
