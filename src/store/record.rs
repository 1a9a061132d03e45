//! How a token is written down, in the file and in Redis alike: every field in the clear
//! except the access and refresh tokens, which are sealed together (`sealed`) when a key is
//! configured, with the token's provider and subject as associated data.

use serde::{Deserialize, Serialize};

use super::seal::{no_key, Sealer};
use super::{StoreError, StoredToken};
use crate::secret::{AccessToken, RefreshToken};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub provider: String,
    pub subject: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<AccessToken>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    /// Both tokens, encrypted (see `seal`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
    pub issued_at: f64,
    pub lifetime: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_expires_at: Option<f64>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default)]
    pub needs_login: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Secrets {
    access_token: AccessToken,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<RefreshToken>,
}

/// What a sealed token is bound to: its provider and subject (a provider name has no `:`).
fn name(provider: &str, subject: &str) -> String {
    format!("token {provider}:{subject}")
}

impl Record {
    /// The record of `t`, its tokens sealed when `sealer` is given.
    pub fn seal(t: &StoredToken, sealer: Option<&Sealer>) -> Record {
        let (access_token, refresh_token, sealed) = match sealer {
            None => (Some(t.access_token.clone()), t.refresh_token.clone(), None),
            Some(s) => {
                let secrets = Secrets {
                    access_token: t.access_token.clone(),
                    refresh_token: t.refresh_token.clone(),
                };
                let plain = serde_json::to_vec(&secrets).unwrap_or_default();
                (None, None, Some(s.seal(&name(&t.provider, &t.subject), &plain)))
            }
        };
        Record {
            provider: t.provider.clone(),
            subject: t.subject.clone(),
            kind: t.kind.clone(),
            access_token,
            refresh_token,
            sealed,
            issued_at: t.issued_at,
            lifetime: t.lifetime,
            refresh_expires_at: t.refresh_expires_at,
            scopes: t.scopes.clone(),
            user_id: t.user_id.clone(),
            needs_login: t.needs_login,
            refused: t.refused.clone(),
        }
    }

    /// Whether its tokens are in the clear.
    pub fn is_plain(&self) -> bool {
        self.sealed.is_none()
    }

    /// The token, its sealed part opened with `sealer`.
    pub fn open(self, sealer: Option<&Sealer>) -> Result<StoredToken, StoreError> {
        let which = name(&self.provider, &self.subject);
        let (access, refresh) = match (&self.sealed, sealer) {
            (None, _) => {
                let access = self
                    .access_token
                    .ok_or_else(|| StoreError::Protocol(format!("the stored {which} has no access_token")))?;
                (access, self.refresh_token)
            }
            (Some(_), None) => return Err(no_key(&which)),
            (Some(sealed), Some(s)) => {
                let plain = s.open(&which, sealed)?;
                let secrets: Secrets = serde_json::from_slice(&plain)
                    .map_err(|_| StoreError::Protocol(format!("the stored {which} does not hold tokens")))?;
                (secrets.access_token, secrets.refresh_token)
            }
        };
        Ok(StoredToken {
            provider: self.provider,
            subject: self.subject,
            kind: self.kind,
            access_token: access,
            refresh_token: refresh,
            issued_at: self.issued_at,
            lifetime: self.lifetime,
            refresh_expires_at: self.refresh_expires_at,
            scopes: self.scopes,
            user_id: self.user_id,
            needs_login: self.needs_login,
            refused: self.refused,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::store::seal::SealKey;

    fn token(subject: &str) -> StoredToken {
        StoredToken {
            provider: "tw".into(),
            subject: subject.into(),
            kind: "user".into(),
            access_token: AccessToken::new("acc-secret"),
            refresh_token: Some(RefreshToken::new("ref-secret")),
            issued_at: 1.0,
            lifetime: 60.0,
            refresh_expires_at: None,
            scopes: vec!["a".into()],
            user_id: Some("42".into()),
            needs_login: false,
            refused: None,
        }
    }

    #[test]
    fn sealed_records_hide_both_tokens_and_open_only_as_themselves() {
        let sealer = Sealer::new(&SealKey::from_bytes([3; 32]), Path::new("key"));
        let record = Record::seal(&token("alice"), Some(&sealer));
        let text = serde_json::to_string(&record).unwrap();
        assert!(
            !text.contains("acc-secret") && !text.contains("ref-secret"),
            "{text}"
        );
        assert!(text.contains("alice") && text.contains("\"scopes\""), "{text}");
        let back = record.clone().open(Some(&sealer)).unwrap();
        assert_eq!(back, token("alice"));
        let mut moved = record.clone();
        moved.subject = "bob".into();
        assert!(moved.open(Some(&sealer)).is_err(), "moved to bob's entry");
        let e = record.open(None).unwrap_err().to_string();
        assert!(e.contains("encryption_key_file"), "{e}");
    }

    #[test]
    fn plain_records_read_with_or_without_a_key() {
        let sealer = Sealer::new(&SealKey::from_bytes([3; 32]), Path::new("key"));
        let record = Record::seal(&token("alice"), None);
        assert!(record.is_plain());
        assert_eq!(record.clone().open(Some(&sealer)).unwrap(), token("alice"));
        assert_eq!(record.open(None).unwrap(), token("alice"));
    }
}
