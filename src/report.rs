//! What `token-sidecar check` prints: the resolved configuration, secrets masked.

use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::{Config, TokenSpec};
use crate::oauth::token::unix;
use crate::store::StoredToken;

pub fn resolved(config: &Config) -> String {
    let mut out = String::new();
    let s = &config.server;
    let _ = writeln!(out, "server");
    let _ = writeln!(out, "  listen          {}", s.listen);
    let _ = writeln!(out, "  admin_listen    {}", s.admin_listen);
    let _ = writeln!(out, "  public_url      {}", s.public_url);
    if let Some(h) = s.health_listen {
        let _ = writeln!(out, "  health_listen   {h}");
    }
    let _ = writeln!(
        out,
        "  admin_token     {}",
        if s.admin_token.is_some() {
            "[set]"
        } else {
            "[not set]"
        }
    );
    let _ = writeln!(out, "  store           {}", config.store.describe());
    let _ = writeln!(out, "\nproviders");
    for p in config.providers.values() {
        let _ = writeln!(out, "  {} ({})", p.name, p.kind);
        let _ = writeln!(out, "    client_id     {}", p.client_id);
        let secret_from = match (&p.client_secret_file, &p.client_secret) {
            (Some(f), _) => format!("[redacted, from {}]", f.display()),
            (None, Some(_)) => "[redacted]".to_string(),
            (None, None) => "[none: a public client, device-code logins only]".to_string(),
        };
        let _ = writeln!(out, "    client_secret {secret_from}");
        let e = &p.endpoints;
        let _ = writeln!(out, "    token_url     {}", e.token);
        let _ = writeln!(out, "    refresh_url   {}", e.refresh);
        for (k, v) in [
            ("authorize_url", &e.authorize),
            ("validate_url", &e.validate),
            ("revoke_url", &e.revoke),
            ("device_url", &e.device),
        ] {
            if let Some(u) = v {
                let _ = writeln!(out, "    {k:<13} {u}");
            }
        }
        let _ = writeln!(out, "    redirect_uri  {}", p.redirect_uri);
        if !p.scopes.is_empty() {
            let _ = writeln!(out, "    scopes        {}", p.scopes.join(" "));
        }
    }
    let _ = writeln!(out, "\nroutes");
    for r in &config.routes {
        let token = match &r.token {
            TokenSpec::App => "app token".to_string(),
            TokenSpec::User(Some(u)) => format!("user token of {u}"),
            TokenSpec::User(None) => "user token named by x-token-user".to_string(),
        };
        let _ = writeln!(out, "  {} -> {} ({}, {token})", r.prefix, r.upstream, r.provider);
    }
    out
}

/// What `token-sidecar tokens` prints: one line per stored token, never a value.
pub fn stored(tokens: &[StoredToken]) -> String {
    let mut out = String::new();
    if tokens.is_empty() {
        out.push_str("no tokens are stored\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<16} {:<20} {:<5} {:<21} {:<12} SCOPES",
        "PROVIDER", "SUBJECT", "KIND", "EXPIRES", "STATUS"
    );
    let now = unix(SystemTime::now());
    for t in tokens {
        let expires = t.issued_at + t.lifetime;
        let status = if t.needs_login {
            "needs_login"
        } else if expires <= now {
            "expired"
        } else {
            "valid"
        };
        let when = UNIX_EPOCH + Duration::try_from_secs_f64(expires).unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<16} {:<20} {:<5} {:<21} {:<12} {}",
            t.provider,
            t.subject,
            t.kind,
            humantime::format_rfc3339_seconds(when).to_string(),
            status,
            t.scopes.join(" ")
        );
    }
    out
}
