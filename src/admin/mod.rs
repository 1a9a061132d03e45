//! The admin listener (and the narrower health listener): health, readiness, metrics.

mod api;
mod browser;
mod callback;
mod cookie;
mod device_page;
mod html;
pub mod login;
pub mod logins;
mod ready;
mod status;
mod status_routes;
pub mod view;
pub use view::token_states;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;

use crate::error::json_error;
use crate::Shared;

pub type AdminBody = Full<Bytes>;

/// Which endpoints a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// Everything: health, metrics, login pages, the admin API.
    Admin,
    /// `/healthz`, `/readyz` and `/metrics` only, for probes and scrapers on the pod network.
    Health,
}

pub async fn handle(
    shared: Arc<Shared>,
    surface: Surface,
    req: Request<Incoming>,
) -> Result<Response<AdminBody>, Infallible> {
    if let Some(refused) = policy(&shared, surface, &req) {
        return Ok(refused);
    }
    if surface == Surface::Admin && req.method() == Method::POST {
        let device = oauth_route(req.uri().path()).filter(|(_, action)| *action == "device");
        if let Some((provider, _)) = device {
            return Ok(device_page::start(&shared, &provider, req.into_body()).await);
        }
    }
    let resp = match (req.method(), req.uri().path()) {
        (&Method::GET | &Method::HEAD, "/healthz") => text(StatusCode::OK, "ok\n"),
        (&Method::GET | &Method::HEAD, "/readyz") => ready::readyz(&shared),
        (&Method::GET | &Method::HEAD, "/metrics") => {
            let mut resp = Response::new(Full::new(Bytes::from(shared.metrics.render())));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            resp
        }
        _ if surface == Surface::Health => not_found(),
        (&Method::GET | &Method::HEAD, "/") => {
            let public_url = &shared.snapshot.load().config.server.public_url;
            match browser::public_location(public_url, req.uri(), req.headers()) {
                // The status page is opened where logins come back to, so its links set
                // their cookies on the host the callback is on.
                Some(location) => browser::redirect(&location),
                None => status::page_for(&shared),
            }
        }
        (method, path) if path.starts_with("/admin/") => {
            api::handle(&shared, method, path, req.uri().query(), req.headers()).await
        }
        (&Method::GET, path) => match oauth_route(path) {
            Some((provider, "login")) => login::start(&shared, &provider, req.uri(), req.headers()).await,
            Some((provider, "callback")) => {
                callback::callback(&shared, &provider, req.uri(), req.headers()).await
            }
            Some((provider, "device")) => device_page::show(&shared, &provider, req.uri()),
            _ => not_found(),
        },
        _ => not_found(),
    };
    Ok(resp)
}

/// Host and origin policy, before anything is read or changed. The health listener is
/// exempt: it serves nothing a page could misuse, and the kubelet's probes name the pod IP.
fn policy(shared: &Shared, surface: Surface, req: &Request<Incoming>) -> Option<Response<AdminBody>> {
    if surface == Surface::Health {
        return None;
    }
    let snapshot = shared.snapshot.load();
    if !snapshot.hosts.allows(req) {
        return Some(crate::error::ProxyError::HostNotAllowed.into_response());
    }
    let changes = matches!(
        *req.method(),
        Method::POST | Method::DELETE | Method::PUT | Method::PATCH
    );
    if changes && !snapshot.admin_origin.allows(req) {
        return Some(crate::error::ProxyError::CrossOrigin.into_response());
    }
    None
}

/// `/oauth/{provider}/{login|callback}` → (provider, action).
fn oauth_route(path: &str) -> Option<(String, &str)> {
    let rest = path.strip_prefix("/oauth/")?;
    let (provider, action) = rest.split_once('/')?;
    let provider = percent_encoding::percent_decode_str(provider)
        .decode_utf8()
        .ok()?
        .into_owned();
    Some((provider, action))
}

fn not_found() -> Response<AdminBody> {
    json_error(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such page",
        Default::default(),
    )
}

fn text(status: StatusCode, body: &'static str) -> Response<AdminBody> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}
