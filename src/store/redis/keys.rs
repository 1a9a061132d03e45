//! Every key and channel the Redis store uses, all under `{key_prefix}:`.

/// Names under one prefix. A provider name has no `:`, so `{provider}:{subject}` splits
/// back at its first `:` whatever the subject holds.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Keys {
        Keys {
            prefix: prefix.to_string(),
        }
    }

    /// A hash: `v` the version, `d` the record (JSON).
    pub fn token(&self, provider: &str, subject: &str) -> String {
        format!("{}:token:{}", self.prefix, member(provider, subject))
    }

    /// The set of every stored token's `{provider}:{subject}`.
    pub fn index(&self) -> String {
        format!("{}:tokens", self.prefix)
    }

    /// The counter every version is drawn from.
    pub fn version(&self) -> String {
        format!("{}:version", self.prefix)
    }

    /// A token's refresh lock: its holder's owner string, with the lease as its expiry.
    pub fn lock(&self, provider: &str, subject: &str) -> String {
        format!("{}:lock:{}", self.prefix, member(provider, subject))
    }

    /// The version of a token whose refresh token a lock holder presented to the platform
    /// and whose answer is not stored yet: another holder must not present it lightly.
    pub fn spending(&self, provider: &str, subject: &str) -> String {
        format!("{}:spending:{}", self.prefix, member(provider, subject))
    }

    /// Where changes are announced.
    pub fn channel(&self) -> String {
        format!("{}:changes", self.prefix)
    }

    /// A pending login, by its state.
    pub fn login(&self, state: &str) -> String {
        format!("{}:login:{state}", self.prefix)
    }

    /// A provider's pending logins: state scored by when it lapses (ms), to cap them.
    pub fn logins(&self, provider: &str) -> String {
        format!("{}:logins:{provider}", self.prefix)
    }
}

pub fn member(provider: &str, subject: &str) -> String {
    format!("{provider}:{subject}")
}

/// `{provider}:{subject}` back into its parts.
pub fn split(member: &str) -> Option<(&str, &str)> {
    member.split_once(':')
}
