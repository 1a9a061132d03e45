//! The fake authorization server's books: authorization codes, grants, access
//! and refresh tokens. Single-use codes, rotating single-use refresh tokens.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::pkce::{check_pkce, Pkce};
use super::token::{GrantReq, Issued};
use super::wire::random_string;

/// Lifetimes in force when a token is issued.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub access: u64,
    pub refresh: u64,
    /// Whether refresh tokens expire (firework).
    pub refresh_expires: bool,
    /// Whether client-credentials answers carry a refresh token (streamersonglist).
    pub app_refresh: bool,
}

#[derive(Debug)]
struct Grant {
    user: Option<String>,
    scopes: Vec<String>,
    redirect_uri: Option<String>,
    /// Every (access, refresh) pair issued on this grant, oldest first.
    issued: Vec<(String, Option<String>)>,
}

#[derive(Debug)]
struct Access {
    grant: usize,
    issued: Instant,
    lifetime: Duration,
    revoked: bool,
}

#[derive(Debug)]
struct Refresh {
    grant: usize,
    issued: Instant,
    lifetime: Option<Duration>,
    used: bool,
}

#[derive(Debug)]
struct Code {
    user: String,
    redirect_uri: String,
    scopes: Vec<String>,
    pkce: Pkce,
}

/// The books of one fake platform.
#[derive(Debug)]
pub struct Book {
    prefix: &'static str,
    counter: u64,
    grants: Vec<Grant>,
    access: HashMap<String, Access>,
    refresh: HashMap<String, Refresh>,
    codes: HashMap<String, Code>,
    user_ids: HashMap<String, String>,
}

impl Book {
    pub fn new(prefix: &'static str) -> Book {
        Book {
            prefix,
            counter: 0,
            grants: Vec::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            codes: HashMap::new(),
            user_ids: HashMap::new(),
        }
    }

    /// A unique value such as "tw-at-3-Xy12...".
    pub fn fresh(&mut self, what: &str) -> String {
        self.counter += 1;
        format!("{}-{what}-{}-{}", self.prefix, self.counter, random_string(20))
    }

    /// The platform's id for a user name (stable per fake).
    pub fn user_id(&mut self, user: &str, uuid: bool) -> String {
        let next = self.user_ids.len() as u64 + 1;
        self.user_ids
            .entry(user.to_string())
            .or_insert_with(|| {
                if uuid {
                    format!("2f4c6d9a-8e2b-4d77-9f0d-{:012x}", next)
                } else {
                    (100_000 + next).to_string()
                }
            })
            .clone()
    }

    pub fn issue_code(&mut self, user: &str, redirect_uri: &str, scopes: Vec<String>, pkce: Pkce) -> String {
        let code = self.fresh("code");
        let entry = Code {
            user: user.to_string(),
            redirect_uri: redirect_uri.to_string(),
            scopes,
            pkce,
        };
        self.codes.insert(code.clone(), entry);
        code
    }

    /// Carries out a well-formed token request, or says why the grant is refused.
    pub fn process(&mut self, req: &GrantReq, life: Lifetimes, uuid_ids: bool) -> Result<Issued, String> {
        match req {
            GrantReq::ClientCredentials { scopes } => {
                let grant = self.new_grant(None, scopes.clone(), None);
                Ok(self.issue(grant, life, life.app_refresh, uuid_ids))
            }
            GrantReq::AuthorizationCode {
                code,
                redirect_uri,
                verifier,
            } => {
                let entry = self
                    .codes
                    .remove(code)
                    .ok_or_else(|| "unknown, expired or already used authorization code".to_string())?;
                if &entry.redirect_uri != redirect_uri {
                    return Err(format!(
                        "redirect_uri {redirect_uri:?} differs from the authorization's {:?}",
                        entry.redirect_uri
                    ));
                }
                check_pkce(&entry.pkce, verifier.as_deref())?;
                let grant = self.new_grant(Some(entry.user), entry.scopes, Some(entry.redirect_uri));
                Ok(self.issue(grant, life, true, uuid_ids))
            }
            GrantReq::DeviceCode { .. } => Err("device codes are redeemed by device::redeem".into()),
            GrantReq::Refresh {
                refresh_token,
                redirect_uri,
            } => {
                let now = Instant::now();
                let entry = self
                    .refresh
                    .get_mut(refresh_token)
                    .ok_or_else(|| "unknown refresh token".to_string())?;
                if entry.used {
                    return Err("refresh token already used (it was rotated)".into());
                }
                if entry.lifetime.is_some_and(|l| now >= entry.issued + l) {
                    return Err("refresh token expired".into());
                }
                let grant = entry.grant;
                if let Some(uri) = redirect_uri {
                    let expected = self.grants[grant].redirect_uri.as_deref().unwrap_or("");
                    if uri != expected {
                        return Err(format!(
                            "redirect_uri {uri:?} differs from the grant's {expected:?}"
                        ));
                    }
                }
                if let Some(entry) = self.refresh.get_mut(refresh_token) {
                    entry.used = true;
                }
                Ok(self.issue(grant, life, true, uuid_ids))
            }
        }
    }

    fn new_grant(
        &mut self,
        user: Option<String>,
        scopes: Vec<String>,
        redirect_uri: Option<String>,
    ) -> usize {
        self.grants.push(Grant {
            user,
            scopes,
            redirect_uri,
            issued: Vec::new(),
        });
        self.grants.len() - 1
    }

    fn issue(&mut self, grant: usize, life: Lifetimes, with_refresh: bool, uuid_ids: bool) -> Issued {
        let now = Instant::now();
        let access_token = self.fresh("at");
        self.access.insert(
            access_token.clone(),
            Access {
                grant,
                issued: now,
                lifetime: Duration::from_secs(life.access),
                revoked: false,
            },
        );
        let refresh_token = with_refresh.then(|| {
            let token = self.fresh("rt");
            let lifetime = life.refresh_expires.then(|| Duration::from_secs(life.refresh));
            self.refresh.insert(
                token.clone(),
                Refresh {
                    grant,
                    issued: now,
                    lifetime,
                    used: false,
                },
            );
            token
        });
        self.grants[grant]
            .issued
            .push((access_token.clone(), refresh_token.clone()));
        let user = self.grants[grant].user.clone();
        let user_id = user.clone().map(|u| self.user_id(&u, uuid_ids));
        Issued {
            access_token,
            refresh_token,
            expires_in: life.access,
            refresh_expires_in: life.refresh,
            scopes: self.grants[grant].scopes.clone(),
            user,
            user_id,
            created_at: SystemTime::now(),
        }
    }

    /// Tokens for `user`, who approved a device code asking for `scopes`.
    pub fn issue_device(&mut self, user: &str, scopes: Vec<String>, life: Lifetimes) -> Issued {
        let grant = self.new_grant(Some(user.to_string()), scopes, None);
        self.issue(grant, life, true, false)
    }

    pub fn is_valid(&self, token: &str) -> bool {
        self.access
            .get(token)
            .is_some_and(|a| !a.revoked && Instant::now() < a.issued + a.lifetime)
    }

    /// For twitch's validate: (user, scopes, seconds left) of a valid token.
    pub fn describe(&self, token: &str) -> Option<(Option<String>, Vec<String>, u64)> {
        if !self.is_valid(token) {
            return None;
        }
        let a = self.access.get(token)?;
        let left = (a.issued + a.lifetime).saturating_duration_since(Instant::now());
        let g = &self.grants[a.grant];
        Some((g.user.clone(), g.scopes.clone(), left.as_secs()))
    }

    /// Whether `token` is an access token this platform issued (revoked or not).
    pub fn is_access(&self, token: &str) -> bool {
        self.access.contains_key(token)
    }

    /// Revokes an access token, or a refresh token and every access token of
    /// its grant (RFC 7009 section 2.1). Returns whether the token was known.
    pub fn revoke(&mut self, token: &str) -> bool {
        if let Some(a) = self.access.get_mut(token) {
            a.revoked = true;
            return true;
        }
        let Some(r) = self.refresh.get_mut(token) else {
            return false;
        };
        r.used = true;
        let grant = r.grant;
        for a in self.access.values_mut().filter(|a| a.grant == grant) {
            a.revoked = true;
        }
        true
    }

    pub fn revoke_all_access(&mut self) {
        for a in self.access.values_mut() {
            a.revoked = true;
        }
    }

    /// Every (access, refresh) pair issued on the grant `token` (an access or refresh token)
    /// belongs to, oldest first; empty for an unknown token.
    pub fn history(&self, token: &str) -> Vec<(String, Option<String>)> {
        let grant = match (self.access.get(token), self.refresh.get(token)) {
            (Some(a), _) => a.grant,
            (None, Some(r)) => r.grant,
            (None, None) => return Vec::new(),
        };
        self.grants[grant].issued.clone()
    }

    /// Whether a refresh token is still usable (known, unused, unexpired).
    pub fn refresh_usable(&self, token: &str) -> bool {
        self.refresh.get(token).is_some_and(|r| {
            let unexpired = match r.lifetime {
                Some(l) => Instant::now() < r.issued + l,
                None => true,
            };
            !r.used && unexpired
        })
    }
}
