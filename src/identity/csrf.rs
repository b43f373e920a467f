//! Masked anti-CSRF tokens as ory/nosurf makes them: the cookie holds the raw token, every
//! rendered `csrf_token` node holds `base64(key ‖ key XOR token)` with a fresh random key, so
//! the value on the page differs per render (BREACH) while any of them — or the raw token —
//! verifies. Pure: the key is passed in.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The masked form of `token` under `key` (`key.len()` must equal the token's length; a
/// mismatched key yields the raw token, which also verifies).
pub fn mask(token: &str, key: &[u8]) -> String {
    let raw = token.as_bytes();
    if key.len() != raw.len() {
        return token.to_string();
    }
    let mut out = Vec::with_capacity(raw.len() * 2);
    out.extend_from_slice(key);
    out.extend(raw.iter().zip(key).map(|(t, k)| t ^ k));
    STANDARD.encode(out)
}

/// Whether `submitted` (masked or raw) stands for `token`, in constant time for equal lengths.
pub fn matches(submitted: &str, token: &str) -> bool {
    let raw = token.as_bytes();
    if let Ok(bytes) = STANDARD.decode(submitted) {
        if bytes.len() == raw.len() * 2 && !raw.is_empty() {
            let (key, masked) = bytes.split_at(raw.len());
            let unmasked: Vec<u8> = masked.iter().zip(key).map(|(m, k)| m ^ k).collect();
            return crate::crypto::constant_time_eq(&unmasked, raw);
        }
    }
    crate::crypto::constant_time_eq(submitted.as_bytes(), raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdefghijABCDEFGHIJkl";

    #[test]
    fn masked_tokens_differ_per_key_and_all_verify() {
        let a = mask(TOKEN, &[7u8; 32]);
        let b = mask(TOKEN, &[9u8; 32]);
        assert_ne!(a, b);
        assert_ne!(a, TOKEN);
        assert!(matches(&a, TOKEN));
        assert!(matches(&b, TOKEN));
        assert!(matches(TOKEN, TOKEN), "the raw token is accepted too");
    }

    #[test]
    fn other_tokens_and_garbage_do_not_verify() {
        let other = mask("X123456789abcdefghijABCDEFGHIJkl", &[7u8; 32]);
        assert!(!matches(&other, TOKEN));
        assert!(!matches("", TOKEN));
        assert!(!matches("not base64 !!", TOKEN));
        let mut tampered = STANDARD.decode(mask(TOKEN, &[1u8; 32])).unwrap();
        tampered[40] ^= 1;
        assert!(!matches(&STANDARD.encode(tampered), TOKEN));
        assert_eq!(
            mask(TOKEN, &[1u8; 3]),
            TOKEN,
            "a wrong-sized key leaves it raw"
        );
    }
}
