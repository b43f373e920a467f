//! Opaque (HMAC) tokens as fosite's `HMACSHAStrategy`: `ory_<kind>_<b64(32 random)>.<b64(HMAC-
//! SHA512/256(key, random))>`, base64url without padding, key = SHA-256 of `secrets.system[i]`.
//! The first secret signs, every secret validates (rotation). Only the signature part is ever
//! stored, hashed. Pure: the randomness is drawn here, no I/O, no clock.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256, Sha384, Sha512_256};

use crate::crypto::constant_time_eq;

/// The three opaque token kinds and their prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Access,
    Refresh,
    Code,
}

impl Kind {
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Access => "ory_at_",
            Kind::Refresh => "ory_rt_",
            Kind::Code => "ory_ac_",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Access => "access_token",
            Kind::Refresh => "refresh_token",
            Kind::Code => "authorize_code",
        }
    }

    /// The kind a stored token names ([`Kind::as_str`]); anything else is an error.
    pub fn parse(s: &str) -> Result<Kind, UnknownKind> {
        match s {
            "access_token" => Ok(Kind::Access),
            "refresh_token" => Ok(Kind::Refresh),
            "authorize_code" => Ok(Kind::Code),
            other => Err(UnknownKind(other.to_string())),
        }
    }
}

/// A token kind no [`Kind`] names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown token kind '{0}'")]
pub struct UnknownKind(pub String);

/// HMAC keys derived from the system secrets.
#[derive(Clone)]
pub struct Hmacer {
    keys: Vec<[u8; 32]>,
}

impl Hmacer {
    pub fn new(secrets: &[String]) -> Hmacer {
        let keys = secrets
            .iter()
            .map(|s| Sha256::digest(s.as_bytes()).into())
            .collect();
        Hmacer { keys }
    }

    fn mac(key: &[u8; 32], data: &[u8]) -> Vec<u8> {
        match <Hmac<Sha512_256> as Mac>::new_from_slice(key) {
            Ok(mut m) => {
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        }
    }

    /// A fresh token of `kind` and its signature (the part that is stored, hashed).
    pub fn generate(&self, kind: Kind) -> (String, String) {
        let mut random = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut random);
        let key = self.keys.first().copied().unwrap_or_default();
        let signature = URL_SAFE_NO_PAD.encode(Self::mac(&key, &random));
        (
            format!(
                "{}{}.{}",
                kind.prefix(),
                URL_SAFE_NO_PAD.encode(random),
                signature
            ),
            signature,
        )
    }

    /// The signature of a well-formed token of `kind` whose HMAC verifies under any secret.
    pub fn validate(&self, kind: Kind, token: &str) -> Option<String> {
        let rest = token.strip_prefix(kind.prefix())?;
        let (random, signature) = rest.split_once('.')?;
        let random = URL_SAFE_NO_PAD.decode(random).ok()?;
        let given = URL_SAFE_NO_PAD.decode(signature).ok()?;
        self.keys
            .iter()
            .any(|k| constant_time_eq(&Self::mac(k, &random), &given))
            .then(|| signature.to_string())
    }
}

/// The database key of a token signature: hex SHA-384, as Hydra keys access tokens.
pub fn storage_key(signature: &str) -> String {
    hex(&Sha384::digest(signature.as_bytes()))
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_what_they_write_and_nothing_else() {
        for k in [Kind::Access, Kind::Refresh, Kind::Code] {
            assert_eq!(Kind::parse(k.as_str()), Ok(k));
        }
        assert_eq!(Kind::parse("id_token"), Err(UnknownKind("id_token".into())));
    }

    #[test]
    fn hex_is_lower_case_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
        assert_eq!(storage_key("x").len(), 96);
    }

    #[test]
    fn tokens_have_hydras_shape_and_validate_across_rotation() {
        let old = Hmacer::new(&["an-old-secret-of-16+".into()]);
        let (token, sig) = old.generate(Kind::Access);
        assert!(token.starts_with("ory_at_"));
        assert_eq!(token.len(), 7 + 43 + 1 + 43);
        assert_eq!(old.validate(Kind::Access, &token), Some(sig));
        assert_eq!(old.validate(Kind::Refresh, &token), None);
        let rotated = Hmacer::new(&["a-new-secret-of-16+-".into(), "an-old-secret-of-16+".into()]);
        assert!(rotated.validate(Kind::Access, &token).is_some());
        let other = Hmacer::new(&["a-new-secret-of-16+-".into()]);
        assert_eq!(other.validate(Kind::Access, &token), None);
        let tampered = format!("{}x", &token[..token.len() - 1]);
        assert_eq!(old.validate(Kind::Access, &tampered), None);
    }
}
