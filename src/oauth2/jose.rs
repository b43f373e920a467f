//! JOSE for the oauth2 role over `josekit`: key generation as Hydra's generator (RS256 4096-bit
//! by default; RS/PS/ES 256/384/512, EdDSA), sealing private keys at rest with AES-256-GCM under
//! `secrets.system` (first secret seals, every secret unseals — rotation), JWT signing with the
//! newest key of a set, and signature verification against a JWK set. No I/O.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use josekit::jwk::alg::ec::EcCurve;
use josekit::jwk::alg::ed::EdCurve;
use josekit::jwk::Jwk;
use josekit::jws::{self, JwsHeader, JwsSigner, JwsVerifier};
use josekit::jwt::{self, JwtPayload};
use openssl::symm::{decrypt_aead, encrypt_aead, Cipher};
use rand::RngCore;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};

use super::error::{Error, Result};

/// RSA modulus for generated keys (Hydra: 4096).
pub const RSA_BITS: u32 = 4096;

/// RSA modulus under `--dev` only (a quarter of the generation cost; documented in
/// `docs/decisions/oauth2-key-generation.md`).
pub const DEV_RSA_BITS: u32 = 2048;

/// Generates a private JWK for `alg` with `kid` and `use`; RSA keys get `rsa_bits`.
pub fn generate(alg: &str, kid: &str, use_: &str, rsa_bits: u32) -> Result<Jwk> {
    let mut jwk = match alg {
        "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => Jwk::generate_rsa_key(rsa_bits),
        "ES256" => Jwk::generate_ec_key(EcCurve::P256),
        "ES384" => Jwk::generate_ec_key(EcCurve::P384),
        "ES512" => Jwk::generate_ec_key(EcCurve::P521),
        "EdDSA" => Jwk::generate_ed_key(EdCurve::Ed25519),
        other => {
            return Err(Error::BadRequest(format!(
                "Generator for algorithm '{other}' is not supported; use one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA."
            )))
        }
    }
    .map_err(|e| Error::Internal(format!("key generation failed: {e}")))?;
    jwk.set_algorithm(alg);
    jwk.set_key_id(kid);
    jwk.set_key_use(if use_.is_empty() { "sig" } else { use_ });
    Ok(jwk)
}

/// The public half of a JWK (kid, alg, use kept); symmetric keys have none.
pub fn public(jwk: &Jwk) -> Option<Jwk> {
    if jwk.key_type() == "oct" {
        return None;
    }
    let mut p = jwk.to_public_key().ok()?;
    if let Some(a) = jwk.algorithm() {
        p.set_algorithm(a);
    }
    if let Some(k) = jwk.key_id() {
        p.set_key_id(k);
    }
    if let Some(u) = jwk.key_use() {
        p.set_key_use(u);
    }
    Some(p)
}

/// AES-256-GCM key per system secret.
fn aead_key(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Seals `plain` with the first secret: base64(nonce ‖ ciphertext ‖ tag).
pub fn seal(secrets: &[String], plain: &[u8]) -> Result<String> {
    let secret = secrets
        .first()
        .ok_or_else(|| Error::Internal("no system secret configured".into()))?;
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let mut tag = [0u8; 16];
    let ct = encrypt_aead(
        Cipher::aes_256_gcm(),
        &aead_key(secret),
        Some(&nonce),
        b"",
        plain,
        &mut tag,
    )
    .map_err(|e| Error::Internal(format!("sealing failed: {e}")))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    out.extend_from_slice(&tag);
    Ok(STANDARD.encode(out))
}

/// Opens a sealed value with whichever secret sealed it.
pub fn unseal(secrets: &[String], sealed: &str) -> Result<Vec<u8>> {
    let raw = STANDARD
        .decode(sealed)
        .map_err(|_| Error::Internal("a sealed value is not base64".into()))?;
    if raw.len() < 28 {
        return Err(Error::Internal("a sealed value is truncated".into()));
    }
    let (nonce, rest) = raw.split_at(12);
    let (ct, tag) = rest.split_at(rest.len() - 16);
    secrets
        .iter()
        .find_map(|s| decrypt_aead(Cipher::aes_256_gcm(), &aead_key(s), Some(nonce), b"", ct, tag).ok())
        .ok_or_else(|| {
            Error::Internal("no configured system secret opens a stored key (was secrets.system changed without keeping the old secret second?)".into())
        })
}

fn signer(jwk: &Jwk) -> Result<Box<dyn JwsSigner>> {
    let alg = jwk.algorithm().unwrap_or("RS256");
    let e = |e: josekit::JoseError| Error::Internal(format!("unusable signing key: {e}"));
    Ok(match alg {
        "RS256" => Box::new(jws::RS256.signer_from_jwk(jwk).map_err(e)?),
        "RS384" => Box::new(jws::RS384.signer_from_jwk(jwk).map_err(e)?),
        "RS512" => Box::new(jws::RS512.signer_from_jwk(jwk).map_err(e)?),
        "PS256" => Box::new(jws::PS256.signer_from_jwk(jwk).map_err(e)?),
        "PS384" => Box::new(jws::PS384.signer_from_jwk(jwk).map_err(e)?),
        "PS512" => Box::new(jws::PS512.signer_from_jwk(jwk).map_err(e)?),
        "ES256" => Box::new(jws::ES256.signer_from_jwk(jwk).map_err(e)?),
        "ES384" => Box::new(jws::ES384.signer_from_jwk(jwk).map_err(e)?),
        "ES512" => Box::new(jws::ES512.signer_from_jwk(jwk).map_err(e)?),
        "EdDSA" => Box::new(jws::EdDSA.signer_from_jwk(jwk).map_err(e)?),
        other => {
            return Err(Error::Internal(format!(
                "cannot sign with algorithm {other}"
            )))
        }
    })
}

/// A verifier for a public JWK, if its algorithm is one we accept (the asymmetric ones).
pub fn verifier(jwk: &Jwk, alg: &str) -> Option<Box<dyn JwsVerifier>> {
    crate::crypto::jws::verifier(jwk, alg, crate::crypto::jws::ASYMMETRIC)
}

/// Signs `claims` as a JWT with `jwk` (header `alg`, `kid`, `typ: JWT`).
pub fn sign(jwk: &Jwk, claims: Map<String, Value>) -> Result<String> {
    SigningKey::new(jwk.clone())?.sign(claims)
}

/// A private JWK with its signer built once (building an RSA signer parses and checks the
/// key, which costs more than a small signature).
#[derive(Debug)]
pub struct SigningKey {
    pub jwk: Jwk,
    signer: Box<dyn JwsSigner>,
}

impl SigningKey {
    pub fn new(jwk: Jwk) -> Result<Self> {
        let signer = signer(&jwk)?;
        Ok(Self { jwk, signer })
    }

    /// A compact JWT (`typ: JWT`, the key's `kid`) over `claims`.
    pub fn sign(&self, claims: Map<String, Value>) -> Result<String> {
        let mut header = JwsHeader::new();
        header.set_token_type("JWT");
        if let Some(kid) = self.jwk.key_id() {
            header.set_key_id(kid);
        }
        let payload = JwtPayload::from_map(claims)
            .map_err(|e| Error::Internal(format!("bad claims: {e}")))?;
        jwt::encode_with_signer(&payload, &header, self.signer.as_ref())
            .map_err(|e| Error::Internal(format!("signing failed: {e}")))
    }
}

/// Verifies a compact JWS against `keys` (by `kid` when the header names one) and returns its
/// header and claims. Expiry is the caller's business (it owns the clock).
pub fn verify(token: &str, keys: &[Jwk]) -> Option<(Map<String, Value>, Map<String, Value>)> {
    let mut parts = token.split('.');
    let header: Map<String, Value> =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next()?).ok()?).ok()?;
    let alg = header.get("alg")?.as_str()?.to_string();
    let kid = header.get("kid").and_then(Value::as_str);
    for key in keys.iter().filter(|k| kid.is_none() || k.key_id() == kid) {
        let Some(v) = verifier(key, &alg) else {
            continue;
        };
        if let Ok((payload, _)) = jwt::decode_with_verifier(token, v.as_ref()) {
            return Some((header, payload.claims_set().clone()));
        }
    }
    None
}

/// OIDC `at_hash`/`c_hash`: left half of the alg's SHA-2 digest of `value`, base64url.
pub fn half_hash(alg: &str, value: &str) -> String {
    let digest: Vec<u8> = if alg.ends_with("384") {
        Sha384::digest(value.as_bytes()).to_vec()
    } else if alg.ends_with("512") {
        Sha512::digest(value.as_bytes()).to_vec()
    } else {
        Sha256::digest(value.as_bytes()).to_vec()
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// The JSON object of a JWK.
pub fn to_value(jwk: &Jwk) -> Value {
    Value::Object(jwk.as_ref().clone())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sealing_survives_rotation_and_fails_without_the_secret() {
        let old = vec!["old-secret-0123456789".to_string()];
        let sealed = seal(&old, b"key material").unwrap();
        let rotated = vec!["new-secret-0123456789".to_string(), old[0].clone()];
        assert_eq!(unseal(&rotated, &sealed).unwrap(), b"key material");
        assert!(unseal(&rotated[..1], &sealed).is_err());
    }

    #[test]
    fn es256_sign_and_verify() {
        let jwk = generate("ES256", "k1", "sig", RSA_BITS).unwrap();
        let mut claims = Map::new();
        claims.insert("sub".into(), Value::from("alice"));
        let token = sign(&jwk, claims).unwrap();
        let pubkey = public(&jwk).unwrap();
        assert!(pubkey.parameter("d").is_none());
        let (header, claims) = verify(&token, &[pubkey]).unwrap();
        assert_eq!(header["kid"], "k1");
        assert_eq!(claims["sub"], "alice");
        let other = public(&generate("ES256", "k1", "sig", RSA_BITS).unwrap()).unwrap();
        assert!(verify(&token, &[other]).is_none());
    }

    #[test]
    fn half_hash_is_the_left_half_of_sha256() {
        // Left half of SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223, base64url.
        assert_eq!(half_hash("RS256", "abc"), "ungWv48Bz-pBQUDeXa4iIw");
    }
}
