//! One provider's table, checked: its kind, client credentials, endpoints (the preset's,
//! or the table's own) and whether a public client can connect anyone at all.

use std::path::Path;

use url::Url;

use super::problems::Problems;
use super::raw::RawProvider;
use super::suggest::did_you_mean;
use super::validate::{env_var, resolve};
use super::*;

/// `[A-Za-z0-9_-]{1,64}`: safe as it is in a URL path segment, a cookie path and a label.
fn valid_provider_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub(super) fn provider(
    name: &str,
    rp: &RawProvider,
    base: &Path,
    public_url: &Url,
    p: &mut Problems,
) -> Option<ProviderConfig> {
    if !valid_provider_name(name) {
        // The name goes into URL paths (the redirect URI), cookie paths and metric labels.
        p.add(
            format!("providers.{name:?}"),
            "a provider name is 1 to 64 letters, digits, '_' or '-'; rename the table",
        );
        return None;
    }
    let key = |k: &str| format!("providers.{name}.{k}");
    let kind_text = rp.kind.as_deref().unwrap_or(name);
    let Ok(kind) = kind_text.parse::<Kind>() else {
        if rp.kind.is_some() {
            let hint = did_you_mean(kind_text, preset::KINDS.split(", "));
            p.add(
                key("kind"),
                format!(
                    "{kind_text:?} is not a kind{hint}; the kinds are {}",
                    preset::KINDS
                ),
            );
        } else {
            let hint = did_you_mean(name, preset::KINDS.split(", "));
            p.add(
                key("kind"),
                format!(
                    "is missing, and the table's name {name:?} is not a kind{hint}; set kind to one of {}",
                    preset::KINDS
                ),
            );
        }
        return None;
    };
    let client_id = rp.client_id.clone().filter(|s| !s.trim().is_empty());
    if client_id.is_none() {
        p.add(
            key("client_id"),
            format!(
                "is missing: set it in the file or with the environment variable {}",
                env_var(&key("client_id"))
            ),
        );
    }
    let client_secret_file = rp.client_secret_file.as_deref().map(|f| resolve(base, f));
    // Without either key the client is public (device-code logins only), where the kind
    // can offer those; whether it can is checked once its endpoints are known.
    let client_secret = match (&rp.client_secret, &client_secret_file) {
        (Some(_), Some(_)) => {
            p.add(
                key("client_secret_file"),
                "stands beside client_secret; keep only one of the two",
            );
            Err(())
        }
        (Some(s), None) if !s.trim().is_empty() => Ok(Some(ClientSecret::new(s.trim()))),
        (None, Some(f)) => match std::fs::read_to_string(f) {
            Ok(s) if !s.trim().is_empty() => Ok(Some(ClientSecret::new(s.trim()))),
            Ok(_) => {
                p.add(
                    key("client_secret_file"),
                    format!("{} is empty; put the client secret in it", f.display()),
                );
                Err(())
            }
            Err(e) => {
                p.add(
                    key("client_secret_file"),
                    format!("cannot read {}: {e}", f.display()),
                );
                Err(())
            }
        },
        (None, None) => Ok(None),
        (Some(_), None) => {
            p.add(
                key("client_secret"),
                format!(
                    "is empty: set it, or client_secret_file = \"PATH\", or the environment variable {}",
                    env_var(&key("client_secret"))
                ),
            );
            Err(())
        }
    };
    let client_auth = match rp.client_auth.as_deref() {
        None | Some("body") => ClientAuth::Body,
        Some("basic") if kind == Kind::OAuth2 => ClientAuth::Basic,
        Some("basic") => {
            p.add(
                key("client_auth"),
                format!("only an oauth2 provider takes client_auth; {kind} has its own way"),
            );
            ClientAuth::Body
        }
        Some(other) => {
            p.add(
                key("client_auth"),
                format!("{other:?} is not a client_auth; write \"body\" or \"basic\""),
            );
            ClientAuth::Body
        }
    };
    let preset = kind.preset();
    let mut endpoint = |k: &str, given: &Option<String>, default: Option<&str>| -> Option<Url> {
        match given.as_deref().or(default) {
            Some(text) => p.url(&key(k), text),
            None => None,
        }
    };
    let authorize = endpoint("authorize_url", &rp.authorize_url, preset.authorize_url);
    let token = endpoint("token_url", &rp.token_url, preset.token_url);
    let refresh = endpoint("refresh_url", &rp.refresh_url, preset.refresh_url);
    let validate = endpoint("validate_url", &rp.validate_url, preset.validate_url);
    let revoke = endpoint("revoke_url", &rp.revoke_url, preset.revoke_url);
    let device = endpoint(
        "device_authorization_url",
        &rp.device_authorization_url,
        preset.device_authorization_url,
    );
    if rp.device_authorization_url.is_some() && !kind.has_device_logins() {
        p.add(
            key("device_authorization_url"),
            format!("{kind} has no device-code logins; only twitch and oauth2 providers take this key"),
        );
    }
    if matches!(client_secret, Ok(None)) {
        public_client(name, kind, device.is_some(), client_auth, p);
    }
    if kind == Kind::OAuth2 && rp.token_url.is_none() {
        p.add(
            key("token_url"),
            "is missing: an oauth2 provider has no preset, so set token_url (and authorize_url for logins)",
        );
    }
    let token = token?;
    Some(ProviderConfig {
        name: name.to_string(),
        kind,
        client_id: client_id?,
        client_secret: client_secret.ok()?,
        client_secret_file,
        scopes: rp.scopes.clone().unwrap_or_default(),
        app_scopes: rp.app_scopes.clone().unwrap_or_default(),
        authorize_params: rp.authorize_params.clone().unwrap_or_default(),
        endpoints: Endpoints {
            authorize,
            refresh: refresh.unwrap_or_else(|| token.clone()),
            token,
            validate,
            revoke,
            device,
        },
        ca_file: rp
            .ca_file
            .as_deref()
            .map(|f| p.ca_file(&key("ca_file"), resolve(base, f))),
        client_auth,
        redirect_uri: super::redirect_uri(public_url, name),
    })
}

/// Checks a provider without a client secret: a public client (RFC 6749 §2.1) can only
/// connect users with device codes, so its kind must offer those; it has nothing to
/// authenticate with by HTTP Basic.
fn public_client(name: &str, kind: Kind, device: bool, auth: ClientAuth, p: &mut Problems) {
    let key = |k: &str| format!("providers.{name}.{k}");
    if !device {
        let public = if kind == Kind::OAuth2 {
            "; an oauth2 provider without a secret is a public client, which needs device_authorization_url"
        } else {
            ""
        };
        p.add(
            key("client_secret"),
            format!(
                "is missing: set it, or client_secret_file = \"PATH\", or the environment variable {}{public}",
                env_var(&key("client_secret"))
            ),
        );
    } else if auth == ClientAuth::Basic {
        p.add(
            key("client_auth"),
            "is \"basic\", but this provider has no client_secret (a public client); remove client_auth or set client_secret",
        );
    }
}
