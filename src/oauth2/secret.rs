//! Client-secret hashing as Hydra (`x/hasher.go` over ory/x `hasherx`), by
//! `oauth2.hashers.algorithm`: PBKDF2-HMAC-SHA256 (the default; 25 000 iterations, 16-byte salt,
//! 32-byte key, encoded `$pbkdf2-sha256$i=<n>,l=<len>$<salt>$<key>`, base64 standard without
//! padding) or bcrypt (cost 10 by default; secrets of at most 72 bytes). A stored hash verifies
//! by its own format, whichever algorithm is configured now (hasherx's `Compare`). Pure and
//! CPU-bound: callers run it on the blocking pool.

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::Sha256;

use crate::crypto::constant_time_eq;

/// bcrypt reads at most this many bytes of a secret (hasherx refuses longer ones).
pub const BCRYPT_MAX_BYTES: usize = 72;

/// How new client secrets are hashed (`oauth2.hashers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretHasher {
    Pbkdf2 { iterations: u32 },
    Bcrypt { cost: u32 },
}

impl SecretHasher {
    /// Hashes `secret` with a fresh random salt; `None` when bcrypt cannot take the secret
    /// (longer than [`BCRYPT_MAX_BYTES`]).
    pub fn hash(self, secret: &str) -> Option<String> {
        match self {
            SecretHasher::Pbkdf2 { iterations } => Some(pbkdf2_hash(secret, iterations)),
            SecretHasher::Bcrypt { cost } => {
                if secret.len() > BCRYPT_MAX_BYTES {
                    return None;
                }
                crate::crypto::password::Hasher::Bcrypt { cost }
                    .hash(secret.as_bytes())
                    .ok()
            }
        }
    }
}

fn pbkdf2_hash(secret: &str, iterations: u32) -> String {
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

/// Verifies `secret` against a stored PBKDF2 or bcrypt hash; `false` for anything malformed
/// or of another format.
pub fn verify(secret: &str, encoded: &str) -> bool {
    if encoded.starts_with("$2") {
        // The identity role's verifier reads every bcrypt spelling; past byte 72 bcrypt would
        // compare only a prefix, so a longer secret never matches.
        return secret.len() <= BCRYPT_MAX_BYTES
            && crate::crypto::password::verify(secret.as_bytes(), encoded).unwrap_or(false);
    }
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
pub fn dummy_hash(hasher: SecretHasher) -> String {
    let random = crate::crypto::random_token(16);
    hasher
        .hash(&random)
        .unwrap_or_else(|| pbkdf2_hash(&random, 25_000))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_reject() {
        let h = SecretHasher::Pbkdf2 { iterations: 1000 }
            .hash("my-secret")
            .unwrap();
        assert!(h.starts_with("$pbkdf2-sha256$i=1000,l=32$"));
        assert!(verify("my-secret", &h));
        assert!(!verify("my-secreT", &h));
        assert!(!verify("my-secret", "$2a$10$bcrypt"));
    }

    #[test]
    fn bcrypt_hashes_verify_whatever_is_configured_now() {
        let bcrypt = SecretHasher::Bcrypt { cost: 4 };
        let h = bcrypt.hash("my-secret").unwrap();
        assert!(h.starts_with("$2b$04$"), "{h}");
        assert!(verify("my-secret", &h));
        assert!(!verify("my-secreT", &h));
        // bcrypt would read only the first 72 bytes: longer secrets are refused, never truncated.
        let long = "x".repeat(BCRYPT_MAX_BYTES + 1);
        assert_eq!(bcrypt.hash(&long), None);
        let at_limit = bcrypt.hash(&long[..BCRYPT_MAX_BYTES]).unwrap();
        assert!(!verify(&long, &at_limit));
        assert!(dummy_hash(bcrypt).starts_with("$2b$04$"));
    }
}
