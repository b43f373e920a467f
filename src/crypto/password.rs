//! Password hashing for the identity role: hashing with the configured hasher (bcrypt or
//! argon2id with Kratos' parameters) and verification of every hash format Kratos imports
//! (bcrypt, argon2id/argon2i, pbkdf2, scrypt, salted SHA, SHA/MD5 with templates, HMAC).
//! Everything here is CPU-bound and synchronous: callers run it in `spawn_blocking`.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Digest;

use super::constant_time_eq;

/// The hasher new passwords are hashed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hasher {
    Bcrypt {
        cost: u32,
    },
    Argon2id {
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
        salt_length: u32,
        key_length: u32,
    },
}

/// Why a password could not be hashed or a stored hash could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    #[error("the hash does not match any known hash format")]
    UnknownFormat,
    #[error("the hash is malformed: {0}")]
    Malformed(String),
    #[error("hashing failed: {0}")]
    Hashing(String),
}

impl Hasher {
    /// Hashes `password` into a self-describing string.
    pub fn hash(&self, password: &[u8]) -> Result<String, HashError> {
        match self {
            Hasher::Bcrypt { cost } => {
                bcrypt::hash(password, *cost).map_err(|e| HashError::Hashing(e.to_string()))
            }
            Hasher::Argon2id {
                memory_kib,
                iterations,
                parallelism,
                salt_length,
                key_length,
            } => {
                let mut salt = vec![0u8; *salt_length as usize];
                rand::rngs::OsRng.fill_bytes(&mut salt);
                let mut out = vec![0u8; *key_length as usize];
                let params =
                    argon2::Params::new(*memory_kib, *iterations, *parallelism, Some(out.len()))
                        .map_err(|e| HashError::Hashing(e.to_string()))?;
                argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
                    .hash_password_into(password, &salt, &mut out)
                    .map_err(|e| HashError::Hashing(e.to_string()))?;
                Ok(format!(
                    "$argon2id$v=19$m={memory_kib},t={iterations},p={parallelism}${}${}",
                    STANDARD_NO_PAD.encode(salt),
                    STANDARD_NO_PAD.encode(out)
                ))
            }
        }
    }

    /// True when `encoded` was made by another algorithm or other parameters, so that a
    /// successful login should store a fresh hash (Kratos' `migratePasswordHash`).
    pub fn needs_rehash(&self, encoded: &str) -> bool {
        match self {
            Hasher::Bcrypt { cost } => match bcrypt_parts(encoded) {
                Some(found) => found != *cost,
                None => true,
            },
            Hasher::Argon2id {
                memory_kib,
                iterations,
                parallelism,
                ..
            } => {
                let expected =
                    format!("$argon2id$v=19$m={memory_kib},t={iterations},p={parallelism}$");
                !encoded.starts_with(&expected)
            }
        }
    }
}

fn bcrypt_parts(encoded: &str) -> Option<u32> {
    let rest = encoded.strip_prefix('$')?;
    let (version, rest) = rest.split_once('$')?;
    if !matches!(version, "2" | "2a" | "2b" | "2y" | "2x" | "2z") {
        return None;
    }
    rest.split('$').next()?.parse().ok()
}

/// True when `encoded` is in a format [`verify`] understands (checked at import).
pub fn is_known_format(encoded: &str) -> bool {
    verify(b"", encoded).is_ok()
}

/// Compares `password` with a stored hash of any supported format.
pub fn verify(password: &[u8], encoded: &str) -> Result<bool, HashError> {
    if bcrypt_parts(encoded).is_some() {
        // The bcrypt crate reads $2a$/$2b$/$2y$/$2x$; the other spellings are the same scheme.
        let normalized = match encoded.split('$').nth(1) {
            Some("2") | Some("2z") => {
                let rest = encoded.splitn(3, '$').nth(2).unwrap_or_default();
                format!("$2b${rest}")
            }
            _ => encoded.to_string(),
        };
        return bcrypt::verify(password, &normalized)
            .map_err(|e| HashError::Malformed(e.to_string()));
    }
    if let Some(rest) = encoded
        .strip_prefix("$argon2id$")
        .map(|r| (argon2::Algorithm::Argon2id, r))
        .or_else(|| {
            encoded
                .strip_prefix("$argon2i$")
                .map(|r| (argon2::Algorithm::Argon2i, r))
        })
    {
        return verify_argon2(password, rest.0, rest.1);
    }
    if let Some(rest) = encoded.strip_prefix("$pbkdf2-") {
        return verify_pbkdf2(password, rest);
    }
    if let Some(rest) = encoded.strip_prefix("$scrypt$") {
        return verify_scrypt(password, rest);
    }
    for (prefix, kind) in [
        ("{SSHA512}", Sha::Sha512),
        ("{SSHA256}", Sha::Sha256),
        ("{SSHA}", Sha::Sha1),
    ] {
        if let Some(rest) = encoded.strip_prefix(prefix) {
            let raw = b64(rest)?;
            let n = kind.len();
            if raw.len() < n {
                return Err(HashError::Malformed("salted SHA hash is too short".into()));
            }
            let (hash, salt) = raw.split_at(n);
            let mut input = password.to_vec();
            input.extend_from_slice(salt);
            return Ok(constant_time_eq(&kind.digest(&input), hash));
        }
    }
    for (prefix, kind) in [
        ("$sha1$", Sha::Sha1),
        ("$sha256$", Sha::Sha256),
        ("$sha512$", Sha::Sha512),
        ("$md5$", Sha::Md5),
    ] {
        if let Some(rest) = encoded.strip_prefix(prefix) {
            return verify_templated(password, kind, rest);
        }
    }
    if let Some(rest) = encoded.strip_prefix("$hmac-") {
        return verify_hmac(password, rest);
    }
    Err(HashError::UnknownFormat)
}

fn b64(text: &str) -> Result<Vec<u8>, HashError> {
    let trimmed = text.trim_end_matches('=');
    STANDARD_NO_PAD
        .decode(trimmed)
        .or_else(|_| URL_SAFE_NO_PAD.decode(trimmed))
        .map_err(|e| HashError::Malformed(format!("bad base64: {e}")))
}

fn params(text: &str) -> Vec<(&str, &str)> {
    text.split(',')
        .filter_map(|kv| kv.split_once('='))
        .collect()
}

fn param<T: std::str::FromStr>(list: &[(&str, &str)], key: &str) -> Result<T, HashError> {
    list.iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
        .ok_or_else(|| HashError::Malformed(format!("missing or bad parameter `{key}`")))
}

/// Bounds on the cost parameters of a stored hash, far above any real deployment's (RFC 9106's
/// first recommended argon2 setting is 2 GiB, one pass; Django's pbkdf2 uses about 10^6 rounds),
/// so that one crafted hash cannot make a single verification allocate terabytes or run for
/// days: Quartet verifies an imported hash once at import, and every login verifies it again.
/// (Kratos checks only an imported hash's prefix and computes whatever it asks for at login.)
const MAX_KDF_MEMORY_BYTES: u64 = 4 << 30;
/// Memory × passes (argon2 `m·t`, scrypt `128·r·N·p`): 16 passes over the largest memory.
const MAX_KDF_WORK_BYTES: u64 = 16 * MAX_KDF_MEMORY_BYTES;
const MAX_PBKDF2_ROUNDS: u32 = 10_000_000;
/// Longest derived key (argon2, pbkdf2, scrypt) worth computing: real hashes use 16–64 bytes.
const MAX_KEY_LENGTH: usize = 1024;

fn within_cost(what: &str, memory: u64, work: u64, key_length: usize) -> Result<(), HashError> {
    if memory > MAX_KDF_MEMORY_BYTES || work > MAX_KDF_WORK_BYTES || key_length > MAX_KEY_LENGTH {
        return Err(HashError::Malformed(format!(
            "{what} cost parameters exceed what this server verifies"
        )));
    }
    Ok(())
}

fn verify_argon2(
    password: &[u8],
    algorithm: argon2::Algorithm,
    rest: &str,
) -> Result<bool, HashError> {
    let parts: Vec<&str> = rest.split('$').collect();
    let (version, list, salt, hash) = match parts.as_slice() {
        [v, p, s, h] if v.starts_with("v=") => (
            v.trim_start_matches("v=").parse::<u32>().ok(),
            params(p),
            *s,
            *h,
        ),
        [p, s, h] => (Some(0x10), params(p), *s, *h),
        _ => {
            return Err(HashError::Malformed(
                "argon2 hash needs parameters, salt and hash".into(),
            ))
        }
    };
    let version = match version {
        Some(19) => argon2::Version::V0x13,
        Some(16) => argon2::Version::V0x10,
        _ => return Err(HashError::Malformed("unsupported argon2 version".into())),
    };
    let (salt, expected) = (b64(salt)?, b64(hash)?);
    let (m, t): (u32, u32) = (param(&list, "m")?, param(&list, "t")?);
    let memory = u64::from(m) * 1024;
    within_cost(
        "argon2",
        memory,
        memory.saturating_mul(u64::from(t)),
        expected.len(),
    )?;
    let p = argon2::Params::new(m, t, param(&list, "p")?, Some(expected.len()))
        .map_err(|e| HashError::Malformed(e.to_string()))?;
    let mut out = vec![0u8; expected.len()];
    argon2::Argon2::new(algorithm, version, p)
        .hash_password_into(password, &salt, &mut out)
        .map_err(|e| HashError::Malformed(e.to_string()))?;
    Ok(constant_time_eq(&out, &expected))
}

fn verify_pbkdf2(password: &[u8], rest: &str) -> Result<bool, HashError> {
    let parts: Vec<&str> = rest.split('$').collect();
    let [alg, p, salt, hash] = parts.as_slice() else {
        return Err(HashError::Malformed(
            "pbkdf2 hash needs algorithm, parameters, salt and hash".into(),
        ));
    };
    let list = params(p);
    let rounds: u32 = param(&list, "i")?;
    let (salt, expected) = (b64(salt)?, b64(hash)?);
    if rounds > MAX_PBKDF2_ROUNDS {
        return Err(HashError::Malformed(
            "pbkdf2 cost parameters exceed what this server verifies".into(),
        ));
    }
    within_cost("pbkdf2", 0, 0, expected.len())?;
    let mut out = vec![0u8; expected.len()];
    match *alg {
        "sha1" => pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, &salt, rounds, &mut out),
        "sha224" => pbkdf2::pbkdf2_hmac::<sha2::Sha224>(password, &salt, rounds, &mut out),
        "sha256" => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, &salt, rounds, &mut out),
        "sha384" => pbkdf2::pbkdf2_hmac::<sha2::Sha384>(password, &salt, rounds, &mut out),
        "sha512" => pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, &salt, rounds, &mut out),
        other => {
            return Err(HashError::Malformed(format!(
                "unsupported pbkdf2 digest {other}"
            )))
        }
    }
    Ok(constant_time_eq(&out, &expected))
}

fn verify_scrypt(password: &[u8], rest: &str) -> Result<bool, HashError> {
    let parts: Vec<&str> = rest.split('$').collect();
    let [p, salt, hash] = parts.as_slice() else {
        return Err(HashError::Malformed(
            "scrypt hash needs parameters, salt and hash".into(),
        ));
    };
    let list = params(p);
    // Kratos writes the cost N itself as `ln`; a small value is read as log2(N).
    let ln: u64 = param(&list, "ln")?;
    let log_n = if ln < 64 {
        ln as u8
    } else if ln.is_power_of_two() {
        ln.trailing_zeros() as u8
    } else {
        return Err(HashError::Malformed(
            "scrypt cost must be a power of two".into(),
        ));
    };
    let (salt, expected) = (b64(salt)?, b64(hash)?);
    let (r, p): (u32, u32) = (param(&list, "r")?, param(&list, "p")?);
    // scrypt's memory is 128·r·N bytes; a log_n of 64 or more is refused by `Params::new`.
    let memory = 1u64
        .checked_shl(u32::from(log_n))
        .unwrap_or(u64::MAX)
        .saturating_mul(128 * u64::from(r));
    within_cost(
        "scrypt",
        memory,
        memory.saturating_mul(u64::from(p)),
        expected.len(),
    )?;
    let sp = scrypt::Params::new(log_n, r, p, expected.len())
        .map_err(|e| HashError::Malformed(e.to_string()))?;
    let mut out = vec![0u8; expected.len()];
    scrypt::scrypt(password, &salt, &sp, &mut out)
        .map_err(|e| HashError::Malformed(e.to_string()))?;
    Ok(constant_time_eq(&out, &expected))
}

#[derive(Clone, Copy)]
enum Sha {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl Sha {
    fn len(self) -> usize {
        match self {
            Sha::Md5 => 16,
            Sha::Sha1 => 20,
            Sha::Sha256 => 32,
            Sha::Sha512 => 64,
        }
    }
    fn digest(self, input: &[u8]) -> Vec<u8> {
        match self {
            Sha::Md5 => md5::Md5::digest(input).to_vec(),
            Sha::Sha1 => sha1::Sha1::digest(input).to_vec(),
            Sha::Sha256 => sha2::Sha256::digest(input).to_vec(),
            Sha::Sha512 => sha2::Sha512::digest(input).to_vec(),
        }
    }
}

/// `$sha256$pf=<b64 template>$<b64 salt>$<b64 hash>` or `$md5$<b64 hash>`; the template
/// places `{SALT}` and `{PASSWORD}` (default `{SALT}{PASSWORD}`).
fn verify_templated(password: &[u8], kind: Sha, rest: &str) -> Result<bool, HashError> {
    let parts: Vec<&str> = rest.split('$').collect();
    let (template, salt, hash) = match parts.as_slice() {
        [h] => ("{PASSWORD}".to_string(), Vec::new(), b64(h)?),
        [pf, s, h] => {
            let tpl = match pf.strip_prefix("pf=") {
                Some("") | None => "{SALT}{PASSWORD}".to_string(),
                Some(t) => String::from_utf8(b64(t)?)
                    .map_err(|_| HashError::Malformed("template is not UTF-8".into()))?,
            };
            (tpl, b64(s)?, b64(h)?)
        }
        [s, h] => ("{SALT}{PASSWORD}".to_string(), b64(s)?, b64(h)?),
        _ => {
            return Err(HashError::Malformed(
                "unexpected number of `$` sections".into(),
            ))
        }
    };
    let mut input = Vec::new();
    let mut rest = template.as_str();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("{SALT}") {
            input.extend_from_slice(&salt);
            rest = r;
        } else if let Some(r) = rest.strip_prefix("{PASSWORD}") {
            input.extend_from_slice(password);
            rest = r;
        } else {
            let ch = rest.chars().next().unwrap_or_default();
            let mut buf = [0u8; 4];
            input.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            rest = &rest[ch.len_utf8()..];
        }
    }
    Ok(constant_time_eq(&kind.digest(&input), &hash))
}

/// `$hmac-<alg>$<b64 hash>$<b64 key>`.
fn verify_hmac(password: &[u8], rest: &str) -> Result<bool, HashError> {
    let parts: Vec<&str> = rest.split('$').collect();
    let [alg, hash, key] = parts.as_slice() else {
        return Err(HashError::Malformed(
            "hmac hash needs algorithm, hash and key".into(),
        ));
    };
    let (hash, key) = (b64(hash)?, b64(key)?);
    macro_rules! mac {
        ($d:ty) => {{
            let mut m = <Hmac<$d> as Mac>::new_from_slice(&key)
                .map_err(|e| HashError::Malformed(e.to_string()))?;
            m.update(password);
            m.finalize().into_bytes().to_vec()
        }};
    }
    let out = match *alg {
        "md5" => mac!(md5::Md5),
        "sha1" => mac!(sha1::Sha1),
        "sha224" => mac!(sha2::Sha224),
        "sha256" => mac!(sha2::Sha256),
        "sha384" => mac!(sha2::Sha384),
        "sha512" => mac!(sha2::Sha512),
        other => {
            return Err(HashError::Malformed(format!(
                "unsupported hmac digest {other}"
            )))
        }
    };
    Ok(constant_time_eq(&out, &hash))
}

/// Standard base64 (with padding) — used by tests and import tooling to build hashes.
pub fn b64_std(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bcrypt_and_argon2_roundtrip_and_rehash_decisions() {
        let b = Hasher::Bcrypt { cost: 4 };
        let h = b.hash(b"secret-pw").unwrap();
        assert!(verify(b"secret-pw", &h).unwrap());
        assert!(!verify(b"wrong", &h).unwrap());
        assert!(!b.needs_rehash(&h));
        assert!(Hasher::Bcrypt { cost: 5 }.needs_rehash(&h));
        let a = Hasher::Argon2id {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
            salt_length: 16,
            key_length: 32,
        };
        let h2 = a.hash(b"secret-pw").unwrap();
        assert!(h2.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(verify(b"secret-pw", &h2).unwrap());
        assert!(!verify(b"nope", &h2).unwrap());
        assert!(b.needs_rehash(&h2));
        assert!(!a.needs_rehash(&h2));
    }

    #[test]
    fn imported_formats_verify() {
        let salt = b"saltsalt";
        let mut out = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"pw", salt, 1000, &mut out);
        let h = format!(
            "$pbkdf2-sha256$i=1000,l=32${}${}",
            STANDARD_NO_PAD.encode(salt),
            STANDARD_NO_PAD.encode(out)
        );
        assert!(verify(b"pw", &h).unwrap());
        assert!(!verify(b"px", &h).unwrap());

        let sp = scrypt::Params::new(10, 8, 1, 32).unwrap();
        scrypt::scrypt(b"pw", salt, &sp, &mut out).unwrap();
        let h = format!(
            "$scrypt$ln=1024,r=8,p=1${}${}",
            STANDARD.encode(salt),
            STANDARD.encode(out)
        );
        assert!(verify(b"pw", &h).unwrap());

        let mut input = b"pw".to_vec();
        input.extend_from_slice(salt);
        let mut raw = sha1::Sha1::digest(&input).to_vec();
        raw.extend_from_slice(salt);
        assert!(verify(b"pw", &format!("{{SSHA}}{}", STANDARD.encode(&raw))).unwrap());

        let md = md5::Md5::digest(b"pw");
        assert!(verify(b"pw", &format!("$md5${}", STANDARD.encode(md))).unwrap());
        let sh = sha2::Sha256::digest(b"saltpw");
        let h = format!(
            "$sha256$pf={}${}${}",
            STANDARD.encode("{SALT}{PASSWORD}"),
            STANDARD.encode("salt"),
            STANDARD.encode(sh)
        );
        assert!(verify(b"pw", &h).unwrap());

        let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(b"key").unwrap();
        m.update(b"pw");
        let h = format!(
            "$hmac-sha256${}${}",
            STANDARD.encode(m.finalize().into_bytes()),
            STANDARD.encode("key")
        );
        assert!(verify(b"pw", &h).unwrap());

        assert_eq!(verify(b"pw", "plaintext"), Err(HashError::UnknownFormat));
        for costly in [
            "$argon2id$v=19$m=4194305,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2i$v=19$m=65536,t=4294967295,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$scrypt$ln=25,r=8,p=1$c2FsdA$aGFzaA",
            "$scrypt$ln=16384,r=8,p=4294967295$c2FsdA$aGFzaA",
            "$pbkdf2-sha1$i=4294967295,l=20$c2FsdA$aGFzaA",
        ] {
            assert!(
                matches!(verify(b"pw", costly), Err(HashError::Malformed(_))),
                "{costly}"
            );
        }
        let long_key = STANDARD_NO_PAD.encode([0u8; MAX_KEY_LENGTH + 1]);
        assert!(!is_known_format(&format!(
            "$pbkdf2-sha256$i=1,l=32$c2FsdA${long_key}"
        )));
        assert!(!is_known_format("$foo$bar"));
        assert!(is_known_format(
            "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
        ));
    }
}
