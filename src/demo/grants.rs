//! What the demo platform remembers: logins waiting for the person's answer, authorization
//! codes, and the tokens it handed out. Access tokens live a short while; refresh tokens
//! rotate: each is good for one refresh, after which only its successor works.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::oauth::pkce::random_token;

/// How long a login may wait for Approve, and a code for its exchange.
const LOGIN_TTL: Duration = Duration::from_secs(600);
const CODE_TTL: Duration = Duration::from_secs(60);
/// Bounds what unfinished logins can hold.
const MAX_LOGINS: usize = 256;

/// Whose token it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// The application, by client credentials.
    App,
    /// The platform's one person, after they approved.
    Person,
}

/// An authorization request the person has not answered yet.
#[derive(Debug, Clone)]
pub struct Login {
    pub redirect_uri: String,
    pub state: Option<String>,
    pub code_challenge: String,
    pub scope: String,
    created: Instant,
}

impl Login {
    pub fn new(redirect_uri: String, state: Option<String>, code_challenge: String, scope: String) -> Login {
        Login {
            redirect_uri,
            state,
            code_challenge,
            scope,
            created: Instant::now(),
        }
    }
}

/// What a code or a refresh token stands for.
#[derive(Debug, Clone)]
struct Grant {
    scope: String,
    redirect_uri: String,
    code_challenge: String,
    created: Instant,
}

/// An access token's holder and end.
#[derive(Debug, Clone)]
pub struct Access {
    pub holder: Holder,
    pub scope: String,
    pub expires: Instant,
}

/// A token answer, before it is written as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: u64,
    pub scope: String,
}

/// Why a code or refresh token is refused (`invalid_grant`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Unknown,
    Expired,
    WrongRedirect,
    WrongVerifier,
}

impl Refused {
    pub fn description(self) -> &'static str {
        match self {
            Refused::Unknown => "unknown, spent or revoked",
            Refused::Expired => "expired",
            Refused::WrongRedirect => "redirect_uri differs from the authorization request's",
            Refused::WrongVerifier => "code_verifier does not match the code_challenge",
        }
    }
}

#[derive(Default)]
struct Books {
    logins: HashMap<String, Login>,
    codes: HashMap<String, Grant>,
    refresh: HashMap<String, Grant>,
    access: HashMap<String, Access>,
}

pub struct Grants {
    lifetime: Duration,
    books: Mutex<Books>,
}

impl Grants {
    pub fn new(lifetime: Duration) -> Grants {
        Grants {
            lifetime,
            books: Mutex::new(Books::default()),
        }
    }

    fn books(&self) -> std::sync::MutexGuard<'_, Books> {
        // The books stay consistent whatever a panicking holder did: every change is one insert
        // or remove.
        self.books.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `login` until the person answers; returns its id for the approval form.
    pub fn await_answer(&self, login: Login) -> String {
        let mut books = self.books();
        books.logins.retain(|_, l| l.created.elapsed() < LOGIN_TTL);
        if books.logins.len() >= MAX_LOGINS {
            let oldest = books
                .logins
                .iter()
                .min_by_key(|(_, l)| l.created)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                books.logins.remove(&k);
            }
        }
        let id = random_token();
        books.logins.insert(id.clone(), login);
        id
    }

    /// The person's answer arrived: the login is taken (each is answered once).
    pub fn answered(&self, id: &str) -> Option<Login> {
        self.books()
            .logins
            .remove(id)
            .filter(|l| l.created.elapsed() < LOGIN_TTL)
    }

    /// The person approved `login`: a single-use code for its redirect.
    pub fn code_for(&self, login: &Login) -> String {
        let code = random_token();
        let grant = Grant {
            scope: login.scope.clone(),
            redirect_uri: login.redirect_uri.clone(),
            code_challenge: login.code_challenge.clone(),
            created: Instant::now(),
        };
        self.books().codes.insert(code.clone(), grant);
        code
    }

    /// The authorization code grant: the code is spent whatever the outcome.
    pub fn exchange(&self, code: &str, redirect_uri: &str, verifier: &str) -> Result<Issued, Refused> {
        let grant = self.books().codes.remove(code).ok_or(Refused::Unknown)?;
        if grant.created.elapsed() >= CODE_TTL {
            return Err(Refused::Expired);
        }
        if grant.redirect_uri != redirect_uri {
            return Err(Refused::WrongRedirect);
        }
        if crate::oauth::pkce::challenge(&crate::secret::CodeVerifier::new(verifier)) != grant.code_challenge
        {
            return Err(Refused::WrongVerifier);
        }
        Ok(self.issue(Holder::Person, Some(grant)))
    }

    /// The refresh token grant: `refresh_token` is spent, and its successor comes back.
    pub fn refresh(&self, refresh_token: &str) -> Result<Issued, Refused> {
        let grant = self
            .books()
            .refresh
            .remove(refresh_token)
            .ok_or(Refused::Unknown)?;
        Ok(self.issue(Holder::Person, Some(grant)))
    }

    /// The client credentials grant: an access token and no refresh token.
    pub fn app_token(&self) -> Issued {
        self.issue(Holder::App, None)
    }

    fn issue(&self, holder: Holder, grant: Option<Grant>) -> Issued {
        let scope = grant.as_ref().map(|g| g.scope.clone()).unwrap_or_default();
        let access_token = random_token();
        let access = Access {
            holder,
            scope: scope.clone(),
            expires: Instant::now() + self.lifetime,
        };
        let mut books = self.books();
        books.access.retain(|_, a| a.expires > Instant::now());
        books.access.insert(access_token.clone(), access);
        let refresh_token = grant.map(|g| {
            let token = random_token();
            books.refresh.insert(token.clone(), g);
            token
        });
        Issued {
            access_token,
            refresh_token,
            expires_in: self.lifetime.as_secs(),
            scope,
        }
    }

    /// The access token's holder while it has not expired.
    pub fn check(&self, access_token: &str) -> Option<Access> {
        self.books()
            .access
            .get(access_token)
            .filter(|a| a.expires > Instant::now())
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::pkce;

    fn approved(grants: &Grants) -> (String, String) {
        let verifier = pkce::verifier();
        let login = Login::new(
            "http://localhost:9090/oauth/demo/callback".into(),
            Some("st".into()),
            pkce::challenge(&verifier),
            "profile".into(),
        );
        let id = grants.await_answer(login);
        let login = grants.answered(&id).expect("pending login");
        (grants.code_for(&login), verifier.secret().to_string())
    }

    #[test]
    fn a_login_is_answered_once() {
        let grants = Grants::new(Duration::from_secs(60));
        let id = grants.await_answer(Login::new("r".into(), None, "c".into(), String::new()));
        assert!(grants.answered(&id).is_some());
        assert!(grants.answered(&id).is_none());
    }

    #[test]
    fn a_code_is_good_once_with_its_verifier_and_redirect() {
        let grants = Grants::new(Duration::from_secs(60));
        let (code, verifier) = approved(&grants);
        let redirect = "http://localhost:9090/oauth/demo/callback";
        let issued = grants.exchange(&code, redirect, &verifier).expect("exchanged");
        assert_eq!(issued.expires_in, 60);
        assert!(issued.refresh_token.is_some());
        assert_eq!(grants.exchange(&code, redirect, &verifier), Err(Refused::Unknown));

        let (code, _) = approved(&grants);
        assert_eq!(
            grants.exchange(&code, redirect, "wrong"),
            Err(Refused::WrongVerifier)
        );
        let (code, verifier) = approved(&grants);
        assert_eq!(
            grants.exchange(&code, "http://elsewhere/", &verifier),
            Err(Refused::WrongRedirect)
        );
    }

    #[test]
    fn refresh_tokens_rotate_and_a_spent_one_is_refused() {
        let grants = Grants::new(Duration::from_secs(60));
        let (code, verifier) = approved(&grants);
        let first = grants
            .exchange(&code, "http://localhost:9090/oauth/demo/callback", &verifier)
            .unwrap();
        let spent = first.refresh_token.unwrap();
        let second = grants.refresh(&spent).expect("refreshed");
        let next = second.refresh_token.expect("a new refresh token");
        assert_ne!(next, spent);
        assert_eq!(grants.refresh(&spent), Err(Refused::Unknown));
        assert!(grants.refresh(&next).is_ok());
        assert_eq!(grants.check(&second.access_token).unwrap().holder, Holder::Person);
    }

    #[test]
    fn access_tokens_expire() {
        let grants = Grants::new(Duration::ZERO);
        let app = grants.app_token();
        assert!(app.refresh_token.is_none());
        assert!(grants.check(&app.access_token).is_none());
        let grants = Grants::new(Duration::from_secs(60));
        let app = grants.app_token();
        assert_eq!(grants.check(&app.access_token).unwrap().holder, Holder::App);
        assert!(grants.check("forged").is_none());
    }
}
