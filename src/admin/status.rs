//! `GET /`: the page a streamer opens to see that everything is wired: each route and
//! whether it can be served (and why not), each provider's tokens with their last error and
//! next attempt, connect links for the users the routes need and for `default`, and where to
//! look next.
//! Providers with device-code logins also offer "Connect with a code" (see `device_page`).

use http::{Response, StatusCode};
use maud::{html, Markup};

use super::html::{page, query_value};
use super::login::DEFAULT_USER;
use super::status_routes::routes_card;
use super::view::{named_users, provider_views, TokenView};
use super::AdminBody;
use crate::oauth::Provider;
use crate::snapshot::Snapshot;
use crate::Shared;

pub fn page_for(shared: &Shared) -> Response<AdminBody> {
    let snapshot = shared.snapshot.load();
    let body = html! {
        h1 { "token-sidecar" }
        p.sub {
            "Routes, and the tokens this proxy holds and injects. Values are never shown. "
            a href="/readyz" { "/readyz" } " · " a href="/metrics" { "/metrics" }
        }
        (routes_card(&snapshot))
        @if snapshot.providers.is_empty() {
            div.card.empty { "No providers are configured." }
        }
        @for provider in snapshot.providers.values() {
            (section(&snapshot, provider))
        }
    };
    page(StatusCode::OK, "Tokens", body)
}

/// Where a person connects `user` at `provider`.
pub fn login_link(provider: &str, user: &str) -> String {
    format!(
        "/oauth/{}/login?user={}",
        query_value(provider),
        query_value(user)
    )
}

/// One provider's card: its tokens (and the users its routes name, connected or not), and
/// connect links when it has a login.
fn section(snapshot: &Snapshot, provider: &Provider) -> Markup {
    let name = provider.name();
    let can_login = provider.client.config.has_browser_login();
    let with_code = provider.client.config.has_device_login();
    let rows = provider_views(snapshot, provider);
    // The users the routes name, and `default` (whom a login names when it names no one),
    // each once, that hold no token yet. A connected one is (re)connected from its row.
    let mut missing: Vec<&str> = named_users(snapshot, name);
    if !missing.contains(&DEFAULT_USER) {
        missing.push(DEFAULT_USER);
    }
    missing.retain(|u| provider.user(u).is_none());
    html! {
        section.card {
            div.head {
                h2 { (name) }
                span.kind { (provider.kind()) }
                @if can_login {
                    @for user in &missing {
                        a.button href=(login_link(name, user)) { "Connect " (user) }
                    }
                }
            }
            @if rows.is_empty() {
                p.empty { "No tokens yet." }
            } @else {
                table {
                    tr {
                        th { "Subject" } th { "Kind" } th { "Expires" } th { "Scopes" }
                        th { "Status" } th { "Last error · next attempt" } th {}
                    }
                    @for v in &rows {
                        (row(name, v, can_login))
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

fn row(provider: &str, v: &TokenView, can_login: bool) -> Markup {
    html! {
        tr {
            td { (v.subject) }
            td { (v.kind) }
            td { (v.expires_at.as_deref().unwrap_or("—")) }
            td.scopes { (v.scopes.join(" ")) }
            td { span class={ "badge " (v.status) } { (v.status) } }
            td.why {
                @if let Some(error) = &v.last_error { (error) }
                @if let Some(at) = &v.retry_at { br; "next attempt " (at) }
            }
            td {
                @if v.kind == "user" && can_login {
                    a href=(login_link(provider, &v.subject)) {
                        @match v.status {
                            "needs_login" => "Log in again",
                            "not_connected" => "Connect",
                            _ => "Reconnect",
                        }
                    }
                }
            }
        }
    }
}
