//! The status page's first card: each route, whether it can be served now, and if not, why
//! and when the next attempt is due; the same verdicts `/readyz` gives.

use maud::{html, Markup};

use super::status::login_link;
use super::view::routes;
use crate::snapshot::Snapshot;

pub fn routes_card(snapshot: &Snapshot) -> Markup {
    let routes = routes(snapshot);
    html! {
        section.card {
            div.head { h2 { "Routes" } }
            @if routes.is_empty() {
                p.empty { "No routes are configured." }
            } @else {
                table {
                    tr {
                        th { "Route" } th { "Provider" } th { "Token" } th { "Served" }
                        th { "Why not · next attempt" }
                    }
                    @for r in &routes {
                        tr {
                            td { code { (r.route) } }
                            td { (r.provider) }
                            td {
                                @match r.subject.as_deref() {
                                    Some("app") => "app token",
                                    Some(user) => { "user " (user) },
                                    None => "user named by x-token-user",
                                }
                            }
                            td {
                                @if r.ready {
                                    span.badge.valid { "yes" }
                                } @else {
                                    span class={ "badge " (r.status) } { (r.status) }
                                }
                            }
                            td.why {
                                @if let Some(reason) = &r.reason { (reason) }
                                @if let Some(at) = &r.retry_at { br; "next attempt " (at) }
                                @if let (false, Some(user), "not_connected" | "needs_login") =
                                    (r.ready, r.subject.as_deref(), r.status)
                                {
                                    " " a href=(login_link(&r.provider, user)) { "Connect " (user) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
