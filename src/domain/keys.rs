//! Keys derived from the one configured secret, each for one purpose, and the
//! HMAC tags made with them. Separate purposes never share a key, so a tag made for a
//! button payload can never pass as a session cookie.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// A 256-bit key for one purpose.
#[derive(Clone)]
pub struct Key([u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key([redacted])")
    }
}

/// The shortest tag [`Key::verify`] accepts: 96 bits.
pub const MIN_TAG: usize = 12;

impl Key {
    /// Derives the key for `purpose` from the configured secret (HMAC-SHA256 as a KDF).
    pub fn derive(secret: &[u8], purpose: &str) -> Key {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
        mac.update(b"reminderd key derivation\0");
        mac.update(purpose.as_bytes());
        Key(mac.finalize().into_bytes().into())
    }

    /// The first `len` bytes (at most 32) of HMAC-SHA256(key, message).
    pub fn tag(&self, message: &[u8], len: usize) -> Vec<u8> {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(message);
        let full = mac.finalize().into_bytes();
        full[..len.min(full.len())].to_vec()
    }

    /// Checks in constant time that `tag` is the `len`-byte tag of `message`. The length
    /// is the caller's, never the tag's own: a shortened tag would be guessable.
    pub fn verify(&self, message: &[u8], tag: &[u8], len: usize) -> bool {
        if tag.len() != len || !(MIN_TAG..=32).contains(&len) {
            return false;
        }
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(message);
        mac.verify_truncated_left(tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_for_different_purposes_differ() {
        let a = Key::derive(b"secret", "button payload");
        let b = Key::derive(b"secret", "session");
        assert_ne!(a.tag(b"x", 32), b.tag(b"x", 32));
    }

    #[test]
    fn a_tag_verifies_only_for_its_message() {
        let key = Key::derive(b"secret", "test");
        let tag = key.tag(b"hello", 12);
        assert!(key.verify(b"hello", &tag, 12));
        assert!(!key.verify(b"hellO", &tag, 12));
        assert!(!key.verify(b"hello", &[], 12));
        let mut wrong = tag.clone();
        wrong[0] ^= 1;
        assert!(!key.verify(b"hello", &wrong, 12));
        // a tag cut short is refused, however right its bytes
        assert!(!key.verify(b"hello", &tag[..1], 12));
        assert!(!key.verify(b"hello", &tag[..1], 1), "a one-byte tag is never enough");
        assert!(!key.verify(b"hello", &tag, 13));
    }
}
