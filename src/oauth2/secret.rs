//! Client-secret hashing as Hydra (`x/hasher.go` over ory/x `hasherx`): PBKDF2-HMAC-SHA256,
//! 25 000 iterations by default, 16-byte salt, 32-byte key, encoded
//! `$pbkdf2-sha256$i=<n>,l=<len>$<salt>$<key>` (base64 standard, no padding). Pure and CPU-bound:
//! callers run it on the blocking pool.

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::Sha256;

use crate::crypto::constant_time_eq;

/// Hashes `secret` with a fresh random salt.
pub fn hash(secret: &str, iterations: u32) -> String {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(secret.as_bytes(), &salt, iterations, &mut key);
    format!(
        "$pbkdf2-sha256$i={iterations},l=32${}${}",
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(key)
    )
}

/// Verifies `secret` against a stored hash; `false` for any malformed or foreign format.
pub fn verify(secret: &str, encoded: &str) -> bool {
    let parts: Vec<&str> = encoded.split('$').collect();
    let [_, "pbkdf2-sha256", params, salt, key] = parts.as_slice() else {
        return false;
    };
    let mut iterations = 0u32;
    for kv in params.split(',') {
        if let Some(v) = kv.strip_prefix("i=") {
            iterations = v.parse().unwrap_or(0);
        }
    }
    let (Ok(salt), Ok(key)) = (STANDARD_NO_PAD.decode(salt), STANDARD_NO_PAD.decode(key)) else {
        return false;
    };
    if iterations == 0 || key.is_empty() || key.len() > 64 {
        return false;
    }
    let mut derived = vec![0u8; key.len()];
    pbkdf2::pbkdf2_hmac::<Sha256>(secret.as_bytes(), &salt, iterations, &mut derived);
    constant_time_eq(&derived, &key)
}

/// A hash of a random secret, verified against for unknown clients so that "unknown client"
/// and "wrong secret" take the same time.
pub fn dummy_hash(iterations: u32) -> String {
    hash(&crate::crypto::random_token(16), iterations)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_reject() {
        let h = hash("my-secret", 1000);
        assert!(h.starts_with("$pbkdf2-sha256$i=1000,l=32$"));
        assert!(verify("my-secret", &h));
        assert!(!verify("my-secreT", &h));
        assert!(!verify("my-secret", "$2a$10$bcrypt"));
    }
}
