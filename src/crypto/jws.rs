//! The JWS algorithms Quartet verifies (RFC 7518 §3), each with how a verifier is built from a
//! JSON Web Key: one table for every role. A role says which [`Family`]s it accepts (Hydra:
//! the asymmetric ones; Oathkeeper's jwt authenticator: all but EdDSA).

use josekit::jwk::Jwk;
use josekit::jws::{self, JwsVerifier};
use josekit::JoseError;

/// A family of JWS algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// RS256, RS384, RS512 (RSASSA-PKCS1-v1_5).
    Rsa,
    /// PS256, PS384, PS512 (RSASSA-PSS).
    RsaPss,
    /// ES256, ES384, ES512.
    Ecdsa,
    /// EdDSA (Ed25519, Ed448).
    EdDsa,
    /// HS256, HS384, HS512 (a shared secret).
    Hmac,
}

/// RSA, RSA-PSS, ECDSA and EdDSA: keys with a public half.
pub const ASYMMETRIC: &[Family] = &[Family::Rsa, Family::RsaPss, Family::Ecdsa, Family::EdDsa];

type Build = fn(&Jwk) -> Result<Box<dyn JwsVerifier>, JoseError>;

/// Every algorithm by its `alg` name, with its family and its verifier's constructor.
const VERIFIERS: &[(&str, Family, Build)] = &[
    ("RS256", Family::Rsa, |k| {
        Ok(Box::new(jws::RS256.verifier_from_jwk(k)?))
    }),
    ("RS384", Family::Rsa, |k| {
        Ok(Box::new(jws::RS384.verifier_from_jwk(k)?))
    }),
    ("RS512", Family::Rsa, |k| {
        Ok(Box::new(jws::RS512.verifier_from_jwk(k)?))
    }),
    ("PS256", Family::RsaPss, |k| {
        Ok(Box::new(jws::PS256.verifier_from_jwk(k)?))
    }),
    ("PS384", Family::RsaPss, |k| {
        Ok(Box::new(jws::PS384.verifier_from_jwk(k)?))
    }),
    ("PS512", Family::RsaPss, |k| {
        Ok(Box::new(jws::PS512.verifier_from_jwk(k)?))
    }),
    ("ES256", Family::Ecdsa, |k| {
        Ok(Box::new(jws::ES256.verifier_from_jwk(k)?))
    }),
    ("ES384", Family::Ecdsa, |k| {
        Ok(Box::new(jws::ES384.verifier_from_jwk(k)?))
    }),
    ("ES512", Family::Ecdsa, |k| {
        Ok(Box::new(jws::ES512.verifier_from_jwk(k)?))
    }),
    ("EdDSA", Family::EdDsa, |k| {
        Ok(Box::new(jws::EdDSA.verifier_from_jwk(k)?))
    }),
    ("HS256", Family::Hmac, |k| {
        Ok(Box::new(jws::HS256.verifier_from_jwk(k)?))
    }),
    ("HS384", Family::Hmac, |k| {
        Ok(Box::new(jws::HS384.verifier_from_jwk(k)?))
    }),
    ("HS512", Family::Hmac, |k| {
        Ok(Box::new(jws::HS512.verifier_from_jwk(k)?))
    }),
];

/// A verifier of `alg` signatures with `jwk`, if `alg` is of an `accepted` family and the key
/// suits it.
pub fn verifier(jwk: &Jwk, alg: &str, accepted: &[Family]) -> Option<Box<dyn JwsVerifier>> {
    let (_, family, build) = VERIFIERS.iter().find(|(name, ..)| *name == alg)?;
    if !accepted.contains(family) {
        return None;
    }
    build(jwk).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use josekit::jwk::alg::ec::EcCurve;

    #[test]
    fn a_verifier_needs_an_accepted_family_and_a_matching_key() {
        let ec = Jwk::generate_ec_key(EcCurve::P256).unwrap();
        let public = ec.to_public_key().unwrap();
        assert!(verifier(&public, "ES256", ASYMMETRIC).is_some());
        assert!(verifier(&public, "ES256", &[Family::Hmac]).is_none());
        assert!(
            verifier(&public, "RS256", ASYMMETRIC).is_none(),
            "wrong key type"
        );
        assert!(verifier(&public, "none", ASYMMETRIC).is_none());
        let oct = Jwk::generate_oct_key(32).unwrap();
        assert!(verifier(&oct, "HS256", &[Family::Hmac]).is_some());
        assert!(verifier(&oct, "HS256", ASYMMETRIC).is_none());
    }
}
