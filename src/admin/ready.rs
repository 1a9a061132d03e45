//! `/readyz`: ready when every route can be served now — each app token held and fresh, each
//! route's fixed user holding a usable token — and otherwise a list of what is missing, with
//! why (the same reason and next attempt as the log and `/admin/tokens`).

use http::{Response, StatusCode};
use serde_json::json;

use super::view::routes;
use super::AdminBody;
use crate::Shared;

pub fn readyz(shared: &Shared) -> Response<AdminBody> {
    let snapshot = shared.snapshot.load();
    let missing: Vec<_> = routes(&snapshot)
        .into_iter()
        .filter(|r| !r.ready)
        .map(|r| {
            let mut entry = json!({
                "route": r.route,
                "provider": r.provider,
                "subject": r.subject,
                "status": r.status,
            });
            for (key, value) in [("reason", r.reason), ("retry_at", r.retry_at)] {
                if let Some(v) = value {
                    entry[key] = json!(v);
                }
            }
            entry
        })
        .collect();
    let ready = missing.is_empty();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({ "ready": ready, "missing": missing });
    let mut resp = Response::new(AdminBody::from(serde_json::to_vec(&body).unwrap_or_default()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}
