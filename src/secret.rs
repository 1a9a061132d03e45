//! Secrets as types: whatever holds a credential prints `[redacted]`, so a stray `{:?}` in a
//! log line or an error message cannot leak it (the shape of oauth2-rs `new_secret_type!`).

use std::fmt;

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The raw value, for the one place that must send it somewhere.
            pub fn secret(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[redacted]")
            }
        }
    };
}

secret_type!(
    /// An OAuth client secret.
    ClientSecret
);
secret_type!(
    /// A bearer access token.
    AccessToken
);
secret_type!(
    /// A refresh token.
    RefreshToken
);
secret_type!(
    /// An authorization code from a login callback.
    AuthorizationCode
);
secret_type!(
    /// A PKCE code verifier.
    CodeVerifier
);
secret_type!(
    /// The random value a login's cookie carries, binding it to the browser that started it.
    LoginBinding
);
secret_type!(
    /// The bearer token that guards `/admin/*`.
    AdminToken
);
secret_type!(
    /// The `device_code` of a device-code login (RFC 8628): whoever holds it may collect
    /// the token once the person approves.
    DeviceCode
);
secret_type!(
    /// A Redis URL, which may carry a user and password.
    RedisUrl
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = ClientSecret::new("hunter2");
        assert_eq!(format!("{s}"), "[redacted]");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(s.secret(), "hunter2");
    }
}
