//! Encryption at rest (`store.encryption_key_file`): AES-256-GCM, a fresh random nonce for
//! every write, and the name of what is sealed (a token's provider and subject, a login's
//! state) as associated data, so a sealed value moved to another entry does not open.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::StoreError;

const NONCE_LEN: usize = 12;
/// Marks the format of a sealed value, so a later one can be told apart.
const PREFIX: &str = "v1:";

/// The 32 bytes of `store.encryption_key_file`.
#[derive(Clone)]
pub struct SealKey([u8; 32]);

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey([redacted])")
    }
}

impl SealKey {
    /// Reads the key: 32 bytes, base64 (standard alphabet), surrounding whitespace ignored.
    /// The error names the file and says how to make a good one.
    pub fn read(path: &Path) -> Result<SealKey, String> {
        let make = "make one with `head -c 32 /dev/urandom | base64`";
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}; {make}", path.display()))?;
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| format!("{} does not hold base64; {make}", path.display()))?;
        let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            format!(
                "{} holds {} bytes; a key is 32 random bytes, base64; {make}",
                path.display(),
                b.len()
            )
        })?;
        Ok(SealKey(key))
    }

    pub fn from_bytes(key: [u8; 32]) -> SealKey {
        SealKey(key)
    }
}

/// Seals and opens values with one key; says which file the key came from when a value does
/// not open.
#[derive(Clone)]
pub struct Sealer {
    cipher: Arc<Aes256Gcm>,
    file: PathBuf,
}

impl Sealer {
    pub fn new(key: &SealKey, file: &Path) -> Sealer {
        Sealer {
            cipher: Arc::new(Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key.0))),
            file: file.to_path_buf(),
        }
    }

    /// `v1:` and the base64 of nonce and ciphertext (with its tag).
    pub fn seal(&self, name: &str, plain: &[u8]) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: plain,
            aad: name.as_bytes(),
        };
        // Encryption fails only for messages of gigabytes.
        let sealed = self.cipher.encrypt(&nonce, payload).unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", STANDARD.encode(out))
    }

    /// The plain bytes of `sealed`, if it was sealed with this key under `name`.
    pub fn open(&self, name: &str, sealed: &str) -> Result<Vec<u8>, StoreError> {
        let wrong = || {
            StoreError::Sealed(format!(
                "the key in store.encryption_key_file {} does not decrypt the stored {name}: it is \
                 not the key the store was written with",
                self.file.display()
            ))
        };
        let bytes = sealed
            .strip_prefix(PREFIX)
            .and_then(|b| STANDARD.decode(b).ok())
            .filter(|b| b.len() > NONCE_LEN)
            .ok_or_else(wrong)?;
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let payload = Payload {
            msg: ciphertext,
            aad: name.as_bytes(),
        };
        self.cipher
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| wrong())
    }
}

/// The error for a sealed value met without a key.
pub fn no_key(name: &str) -> StoreError {
    StoreError::Sealed(format!(
        "the stored {name} is encrypted, and no store.encryption_key_file is configured: set it to \
         the key the store was written with"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(byte: u8) -> Sealer {
        Sealer::new(&SealKey::from_bytes([byte; 32]), Path::new("/k"))
    }

    #[test]
    fn a_value_opens_only_with_its_key_and_its_name() {
        let s = sealer(1);
        let sealed = s.seal("token tw/alice", b"secret");
        assert!(!sealed.contains("secret"));
        assert_eq!(s.open("token tw/alice", &sealed).unwrap(), b"secret");
        assert!(s.open("token tw/bob", &sealed).is_err(), "moved to another name");
        let e = sealer(2).open("token tw/alice", &sealed).unwrap_err().to_string();
        assert!(e.contains("/k") && e.contains("not the key"), "{e}");
        assert_ne!(
            sealed,
            s.seal("token tw/alice", b"secret"),
            "a fresh nonce per write"
        );
    }

    #[test]
    fn a_key_file_is_32_bytes_of_base64_and_errors_name_it() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good");
        std::fs::write(&good, format!("{}\n", STANDARD.encode([7u8; 32]))).unwrap();
        assert!(SealKey::read(&good).is_ok());
        let short = dir.path().join("short");
        std::fs::write(&short, STANDARD.encode([7u8; 16])).unwrap();
        let e = SealKey::read(&short).unwrap_err();
        assert!(e.contains("short") && e.contains("16 bytes"), "{e}");
        let e = SealKey::read(&dir.path().join("missing")).unwrap_err();
        assert!(e.contains("missing") && e.contains("urandom"), "{e}");
        assert!(!format!("{:?}", SealKey::read(&good).unwrap()).contains('7'));
    }
}
