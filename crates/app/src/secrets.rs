//! Encryption of the secrets Stagecoach keeps (webhook signing secrets, channel tokens):
//! ChaCha20-Poly1305 under one server key, so a copy of the database alone reveals none.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

/// Marks the format, so a future one can be told apart.
const PREFIX: &str = "v1:";
const NONCE_LEN: usize = 12;
pub const KEY_LEN: usize = 32;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("the server key must be {KEY_LEN} bytes, base64-encoded")]
    BadKey,
    #[error("a stored secret cannot be decrypted with this server key")]
    Undecryptable,
}

/// Seals and opens secrets with the server key. Cheap to clone.
#[derive(Clone)]
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        Self {
            cipher: ChaCha20Poly1305::new(&Key::from(*key)),
        }
    }

    /// A key written as base64 (what `STAGECOACH_SECRET_KEY` and the key file hold).
    pub fn from_base64(text: &str) -> Result<Self, SecretError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| SecretError::BadKey)?;
        let key: [u8; KEY_LEN] = bytes.try_into().map_err(|_| SecretError::BadKey)?;
        Ok(Self::new(&key))
    }

    /// A fresh random key, base64-encoded.
    pub fn generate_key() -> String {
        STANDARD.encode(rand::random::<[u8; KEY_LEN]>())
    }

    pub fn seal(&self, plaintext: &str) -> String {
        let nonce = rand::random::<[u8; NONCE_LEN]>();
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), plaintext.as_bytes())
            .expect("encrypting a short secret cannot fail");
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        format!("{PREFIX}{}", STANDARD.encode(bytes))
    }

    pub fn open(&self, sealed: &str) -> Result<String, SecretError> {
        let bytes = sealed
            .strip_prefix(PREFIX)
            .and_then(|b64| STANDARD.decode(b64).ok())
            .filter(|bytes| bytes.len() > NONCE_LEN)
            .ok_or(SecretError::Undecryptable)?;
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("split at the nonce length");
        let plain = self
            .cipher
            .decrypt(&Nonce::from(nonce), ciphertext)
            .map_err(|_| SecretError::Undecryptable)?;
        String::from_utf8(plain).map_err(|_| SecretError::Undecryptable)
    }
}

impl stagecoach_storage::Sealer for SecretBox {
    fn seal(&self, plaintext: &str) -> String {
        SecretBox::seal(self, plaintext)
    }

    fn open(&self, sealed: &str) -> Option<String> {
        SecretBox::open(self, sealed).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key() {
        let key = SecretBox::generate_key();
        let sealed_box = SecretBox::from_base64(&key).unwrap();
        let sealed = sealed_box.seal("whsec_abc");
        assert!(!sealed.contains("whsec_abc"));
        assert_ne!(sealed, sealed_box.seal("whsec_abc"), "nonces differ");
        assert_eq!(sealed_box.open(&sealed).unwrap(), "whsec_abc");
        let other = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
        assert_eq!(other.open(&sealed), Err(SecretError::Undecryptable));
        assert!(matches!(
            SecretBox::from_base64("c2hvcnQ="),
            Err(SecretError::BadKey)
        ));
    }
}
