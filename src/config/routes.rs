//! Checking one `[[routes]]` entry against the providers and the server defaults.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use http::{HeaderName, HeaderValue};

use super::problems::Problems;
use super::raw::{RawProvider, RawRoute};
use super::suggest::did_you_mean;
use super::validate::resolve;
use super::{Kind, ProviderConfig, RouteConfig, Server, TokenSpec};

pub(super) fn route(
    i: usize,
    rr: &RawRoute,
    raw_providers: &BTreeMap<String, RawProvider>,
    providers: &BTreeMap<String, Arc<ProviderConfig>>,
    server: &Server,
    base: &Path,
    p: &mut Problems,
) -> Option<RouteConfig> {
    let key = |k: &str| format!("routes[{i}].{k}");
    let prefix = match rr.prefix.as_deref() {
        None => {
            p.add(
                key("prefix"),
                "is missing: give the path prefix this route serves, such as \"/twitch\"",
            );
            None
        }
        Some(s)
            if !s.starts_with('/') || s.contains(['?', '#', '%']) || s.split('/').any(|seg| seg == "..") =>
        {
            p.add(
                key("prefix"),
                format!("{s:?} is not a path prefix; write one such as \"/twitch\""),
            );
            None
        }
        Some(s) => Some(match s.trim_end_matches('/') {
            "" => "/".to_string(),
            t => t.to_string(),
        }),
    };
    let Some(provider_name) = rr.provider.as_deref() else {
        p.add(key("provider"), "is missing: name one of the [providers] tables");
        return None;
    };
    if !raw_providers.contains_key(provider_name) {
        let known: Vec<&str> = raw_providers.keys().map(String::as_str).collect();
        let hint = did_you_mean(provider_name, known.iter().copied());
        p.add(
            key("provider"),
            format!(
                "names the unknown provider {provider_name:?}{hint}; configured providers: [{}]",
                known.join(", ")
            ),
        );
        return None;
    }
    let kind = raw_providers[provider_name]
        .kind
        .as_deref()
        .unwrap_or(provider_name)
        .parse::<Kind>()
        .ok();
    let token = match (rr.token.as_deref().unwrap_or("app"), &rr.user) {
        ("app", None) => {
            if kind == Some(Kind::Firework) {
                p.add(
                    key("token"),
                    "is \"app\", but firework has no app tokens (no client credentials grant); use token = \"user\"",
                );
            }
            if providers.get(provider_name).is_some_and(|pc| pc.is_public()) {
                p.add(
                    key("token"),
                    format!(
                        "is \"app\", but provider {provider_name:?} is a public client (no client_secret), \
                         which gets no app tokens; set providers.{provider_name}.client_secret or use token = \"user\""
                    ),
                );
            }
            TokenSpec::App
        }
        ("app", Some(_)) => {
            p.add(
                key("user"),
                "only a route with token = \"user\" names a user; remove it or set token = \"user\"",
            );
            TokenSpec::App
        }
        ("user", user) => {
            // An oauth2 table has no preset login: without authorize_url (or a device
            // endpoint) no one could ever connect the users this route serves.
            let no_login = providers
                .get(provider_name)
                .is_some_and(|pc| !pc.has_browser_login() && !pc.has_device_login());
            if kind == Some(Kind::OAuth2) && no_login {
                p.add(
                    format!("providers.{provider_name}.authorize_url"),
                    format!(
                        "is missing, and {} serves user tokens, which someone must log in to get: \
                         set authorize_url (or device_authorization_url for logins with a code)",
                        key("token")
                    ),
                );
            }
            TokenSpec::User(user.clone().filter(|u| !u.is_empty()))
        }
        (other, _) => {
            p.add(
                key("token"),
                format!("{other:?} is not a token kind; write \"app\" or \"user\""),
            );
            TokenSpec::App
        }
    };
    let upstream_text = rr
        .upstream
        .clone()
        .or_else(|| kind.and_then(|k| k.preset().api_base).map(str::to_string));
    let upstream = match upstream_text {
        // An unknown kind is the provider's problem, reported there; which API base the route
        // would get is unknowable until it is fixed.
        None if kind.is_none() => None,
        Some(text) => p.url(&key("upstream"), &text).filter(|u| {
            let clean = u.query().is_none() && u.fragment().is_none();
            if !clean {
                p.add(
                    key("upstream"),
                    "must not carry a query or fragment; the request's query is passed on",
                );
            }
            clean
        }),
        None => {
            p.add(
                key("upstream"),
                "is missing: an oauth2 provider has no API base, so give the upstream URL",
            );
            None
        }
    };
    let mut headers = Vec::new();
    for (name, value) in rr.headers.iter().flatten() {
        match (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            (Ok(n), Ok(v)) => headers.push((n, v)),
            _ => p.add(
                format!("{}.{name}", key("headers")),
                "is not a valid HTTP header name and value",
            ),
        }
    }
    let request_timeout = p.duration(
        &key("request_timeout"),
        rr.request_timeout.as_deref(),
        server.request_timeout,
    );
    // A provider with its own problems is already reported; the route needs nothing more.
    providers.get(provider_name)?;
    Some(RouteConfig {
        prefix: prefix?,
        upstream: upstream?,
        provider: provider_name.to_string(),
        token,
        headers,
        request_timeout,
        ca_file: rr
            .ca_file
            .as_deref()
            .map(|f| p.ca_file(&key("ca_file"), resolve(base, f))),
        max_body_bytes: rr.max_body_bytes,
    })
}
