//! Sealed cookie values: what a role puts in a browser cookie is encrypted and authenticated
//! (AES-256-GCM) under keys derived from its configured secrets, and bound to the cookie's name.
//!
//! Why AES-256-GCM over the value itself rather than an HMAC over a random cookie id: a sealed
//! value needs no second identifier kept in the database (the value — e.g. a login session id
//! that ID tokens also carry as `sid` — goes into the cookie as Hydra's encrypted cookie store
//! puts it there), so no schema, no extra lookup and nothing to migrate; and the value stays
//! unreadable to the browser, as Hydra's does. What makes a cookie unforgeable is the key, not
//! the secrecy of what it carries: knowing the value sealed inside does not let anyone produce
//! a cookie that opens.
//!
//! - Keys: `HMAC-SHA256(secret, "quartet/cookie/v1/" ‖ purpose)` for each secret, so cookie keys
//!   are never the keys the same secret gives elsewhere (token HMACs, sealed signing keys), and
//!   two purposes never open each other's cookies.
//! - Rotation: [`CookieSealer::seal`] uses the first secret; [`CookieSealer::open`] tries every
//!   secret in order, so putting a new secret first and keeping the old ones after it keeps
//!   existing cookies valid until they expire.
//! - Binding: the cookie's name is the associated data, so a value sealed for one cookie (a CSRF
//!   cookie of one client) does not open as another (the login session, another client's CSRF).
//! - Format: base64url without padding of `nonce (12) ‖ ciphertext ‖ tag (16)`; a fresh random
//!   nonce per seal, so sealing the same value twice gives two different cookies.
//!
//! Anything that does not open — wrong secret, other name, truncated, altered, not base64 — is
//! `None`: callers treat it as if no cookie had been sent.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use openssl::symm::{decrypt_aead, encrypt_aead, Cipher};
use rand::RngCore;
use sha2::Sha256;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Longer cookie values are not even decoded (a browser sends at most about 4 KiB per cookie).
const MAX_SEALED_LEN: usize = 4096;

/// Why a value could not be sealed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("no secret is configured to seal cookies with")]
    NoSecret,
    #[error("sealing a cookie failed: {0}")]
    Cipher(String),
}

/// Seals and opens cookie values under the keys of one purpose (cheap to clone).
#[derive(Clone)]
pub struct CookieSealer {
    /// Derived keys, in the order of the secrets: the first seals, any opens.
    keys: Vec<[u8; 32]>,
}

impl std::fmt::Debug for CookieSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieSealer")
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl CookieSealer {
    /// Keys for `purpose` (e.g. `"oauth2"`) from `secrets`, newest first; empty secrets are
    /// skipped.
    pub fn new<S: AsRef<[u8]>>(purpose: &str, secrets: &[S]) -> CookieSealer {
        let keys = secrets
            .iter()
            .map(AsRef::as_ref)
            .filter(|s| !s.is_empty())
            .filter_map(|secret| derive(secret, purpose))
            .collect();
        CookieSealer { keys }
    }

    /// `value` sealed for the cookie called `name`, with the first secret.
    pub fn seal(&self, name: &str, value: &[u8]) -> Result<String, SealError> {
        let key = self.keys.first().ok_or(SealError::NoSecret)?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut tag = [0u8; TAG_LEN];
        let ciphertext = encrypt_aead(
            Cipher::aes_256_gcm(),
            key,
            Some(&nonce),
            name.as_bytes(),
            value,
            &mut tag,
        )
        .map_err(|e| SealError::Cipher(e.to_string()))?;
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out.extend_from_slice(&tag);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// The value inside `sealed` if one of the secrets sealed it for the cookie called `name`.
    pub fn open(&self, name: &str, sealed: &str) -> Option<Vec<u8>> {
        if sealed.len() > MAX_SEALED_LEN {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(sealed.trim()).ok()?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return None;
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        self.keys.iter().find_map(|key| {
            decrypt_aead(
                Cipher::aes_256_gcm(),
                key,
                Some(nonce),
                name.as_bytes(),
                ciphertext,
                tag,
            )
            .ok()
        })
    }
}

/// The cookie key of `purpose` from one secret.
fn derive(secret: &[u8], purpose: &str) -> Option<[u8; 32]> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).ok()?;
    mac.update(b"quartet/cookie/v1/");
    mac.update(purpose.as_bytes());
    Some(mac.finalize().into_bytes().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(secrets: &[&str]) -> CookieSealer {
        CookieSealer::new("oauth2", secrets)
    }

    #[test]
    fn a_sealed_value_opens_for_its_name_only() {
        let s = sealer(&["first-secret-0123456789"]);
        let sealed = s.seal("ory_hydra_session", b"sid-1").unwrap();
        assert_eq!(s.open("ory_hydra_session", &sealed).unwrap(), b"sid-1");
        assert!(s.open("ory_hydra_login_csrf_1", &sealed).is_none());
        assert!(!sealed.contains("sid-1"));
        assert_ne!(sealed, s.seal("ory_hydra_session", b"sid-1").unwrap());
        assert!(sealed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }

    #[test]
    fn rotation_seals_with_the_first_secret_and_opens_with_any() {
        let old = sealer(&["old-secret-0123456789"]);
        let sealed_old = old.seal("c", b"v").unwrap();
        let rotated = sealer(&["new-secret-0123456789", "old-secret-0123456789"]);
        assert_eq!(rotated.open("c", &sealed_old).unwrap(), b"v");
        let sealed_new = rotated.seal("c", b"v").unwrap();
        assert!(old.open("c", &sealed_new).is_none());
        assert_eq!(
            sealer(&["new-secret-0123456789"])
                .open("c", &sealed_new)
                .unwrap(),
            b"v"
        );
    }

    #[test]
    fn foreign_altered_and_garbage_values_do_not_open() {
        let s = sealer(&["first-secret-0123456789"]);
        let sealed = s.seal("c", b"value").unwrap();
        assert!(sealer(&["other-secret-0123456789"])
            .open("c", &sealed)
            .is_none());
        assert!(CookieSealer::new("identity", &["first-secret-0123456789"])
            .open("c", &sealed)
            .is_none());
        let mut raw = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert!(s.open("c", &URL_SAFE_NO_PAD.encode(&raw)).is_none());
        raw[last] ^= 1;
        raw[NONCE_LEN] ^= 1;
        assert!(s.open("c", &URL_SAFE_NO_PAD.encode(&raw)).is_none());
        for garbage in ["", "value", "!!!", &sealed[..20], &"A".repeat(5000)] {
            assert!(s.open("c", garbage).is_none(), "{garbage}");
        }
    }

    #[test]
    fn without_secrets_nothing_seals_or_opens() {
        let none = CookieSealer::new::<&str>("oauth2", &[]);
        assert!(matches!(none.seal("c", b"v"), Err(SealError::NoSecret)));
        let sealed = sealer(&["s-0123456789"]).seal("c", b"v").unwrap();
        assert!(none.open("c", &sealed).is_none());
        assert!(CookieSealer::new("oauth2", &[""]).seal("c", b"v").is_err());
    }
}
