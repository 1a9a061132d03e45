//! Randomness for the login flow: `state` values and PKCE (RFC 7636) verifiers with their
//! S256 challenges.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::secret::CodeVerifier;

/// 32 random bytes, URL-safe: unguessable, and safe in a query string.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A fresh verifier (43 characters of the unreserved set).
pub fn verifier() -> CodeVerifier {
    CodeVerifier::new(random_token())
}

/// `BASE64URL(SHA256(verifier))`, the S256 challenge.
pub fn challenge(verifier: &CodeVerifier) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.secret().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_example() {
        let v = CodeVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(challenge(&v), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn verifiers_are_long_enough_and_distinct() {
        let (a, b) = (verifier(), verifier());
        assert_eq!(a.secret().len(), 43);
        assert_ne!(a, b);
    }
}
