//! JSON Web Keys and JWTs for the proxy: JWK-set parsing, verification for the `jwt`
//! authenticator (Oathkeeper's rules: `kid` required, `alg` from `allowed_algorithms`, `use:
//! sig`, `exp`/`nbf`/`iat` checked) and signing for the `id_token` mutator (first private key
//! of the set). Pure: no I/O, the caller passes the current time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use josekit::jwk::Jwk;
use josekit::jws::{self, JwsHeader, JwsSigner};
use josekit::jwt::{self, JwtPayload};
use serde_json::{Map, Value};

use crate::crypto::jws::{verifier as jws_verifier, Family};

/// Parses a JWK set document (`{"keys": [...]}`); keys josekit cannot read are skipped.
pub fn parse_set(bytes: &[u8]) -> Result<Vec<Jwk>, String> {
    let doc: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not a JSON Web Key Set: {e}"))?;
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("not a JSON Web Key Set: the `keys` array is missing")?;
    Ok(keys
        .iter()
        .filter_map(|k| Jwk::from_map(k.as_object()?.clone()).ok())
        .collect())
}

fn is_private(jwk: &Jwk) -> bool {
    jwk.parameter("d").is_some() || jwk.key_type() == "oct"
}

/// The public JWKs of a set as published on `/.well-known/jwks.json` (symmetric keys omitted;
/// `kid`, `alg` and `use` kept).
pub fn public_keys(keys: &[Jwk]) -> Vec<Value> {
    let mut out = Vec::new();
    for k in keys.iter().filter(|k| k.key_type() != "oct") {
        let Ok(mut p) = k.to_public_key() else {
            continue;
        };
        if let Some(a) = k.algorithm() {
            p.set_algorithm(a);
        }
        if let Some(id) = k.key_id() {
            p.set_key_id(id);
        }
        if let Some(u) = k.key_use() {
            p.set_key_use(u);
        }
        let v = Value::Object(p.as_ref().clone());
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

fn signer(jwk: &Jwk, alg: &str) -> Result<Box<dyn JwsSigner>, String> {
    let e = |e: josekit::JoseError| format!("the {alg} signing key is unusable: {e}");
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
        "HS256" => Box::new(jws::HS256.signer_from_jwk(jwk).map_err(e)?),
        "HS384" => Box::new(jws::HS384.signer_from_jwk(jwk).map_err(e)?),
        "HS512" => Box::new(jws::HS512.signer_from_jwk(jwk).map_err(e)?),
        other => return Err(format!("signing algorithm {other:?} is not supported")),
    })
}

/// The JWS families Oathkeeper's jwt authenticator verifies: RSA, RSA-PSS, ECDSA and HMAC
/// (EdDSA is not verifiable in Oathkeeper v0.40 either).
const VERIFIED: &[Family] = &[Family::Rsa, Family::RsaPss, Family::Ecdsa, Family::Hmac];

/// Signs `claims` with the first private key of `keys` (alg from the key's `alg`, default
/// RS256; header `kid` = the key's id, `typ: JWT`).
pub fn sign(keys: &[Jwk], claims: Map<String, Value>) -> Result<String, String> {
    let key = keys
        .iter()
        .find(|k| is_private(k))
        .ok_or("the JSON Web Key Set holds no private key to sign with")?;
    let alg = key.algorithm().unwrap_or("RS256").to_string();
    let mut header = JwsHeader::new();
    header.set_token_type("JWT");
    if let Some(kid) = key.key_id() {
        header.set_key_id(kid);
    }
    let payload = JwtPayload::from_map(claims).map_err(|e| format!("invalid claims: {e}"))?;
    let signer = signer(key, &alg)?;
    jwt::encode_with_signer(&payload, &header, signer.as_ref()).map_err(|e| e.to_string())
}

/// Whether a token has the shape of a compact JWS (three dot-separated parts); anything else
/// is not the jwt authenticator's business.
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

/// The claims of a token without verifying it (for verbose error details only).
pub fn unverified_claims(token: &str) -> Option<Map<String, Value>> {
    let part = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

/// Verifies a token against `keys`; returns its claims. `now` is Unix seconds.
pub fn verify(
    token: &str,
    keys: &[Jwk],
    allowed_algorithms: &[String],
    now: i64,
) -> Result<Map<String, Value>, String> {
    let head = token.split('.').next().unwrap_or_default();
    let header: Map<String, Value> = URL_SAFE_NO_PAD
        .decode(head)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("the token header is not valid base64url JSON")?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !allowed_algorithms.iter().any(|a| a == alg) {
        return Err(format!(
            "JSON Web Token used signing method {alg:?} which is not allowed (allowed: {})",
            allowed_algorithms.join(", ")
        ));
    }
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .ok_or("The JSON Web Token must contain a kid header value but did not")?;
    let key = keys
        .iter()
        .find(|k| k.key_id() == Some(kid) && k.key_use().is_none_or(|u| u == "sig"))
        .ok_or_else(|| {
            format!("JSON Web Key with ID {kid:?} and use \"sig\" could not be found")
        })?;
    let verifier = jws_verifier(key, alg, VERIFIED)
        .ok_or_else(|| format!("the key {kid:?} cannot verify {alg} signatures"))?;
    let (payload, _) = jwt::decode_with_verifier(token, verifier.as_ref())
        .map_err(|e| format!("The JSON Web Token signature is invalid: {e}"))?;
    let claims = payload.claims_set().clone();
    let num = |k: &str| claims.get(k).and_then(Value::as_f64).map(|f| f as i64);
    if let Some(exp) = num("exp") {
        if now > exp {
            return Err("Token is expired".into());
        }
    }
    if let Some(nbf) = num("nbf") {
        if now < nbf {
            return Err("Token is not valid yet".into());
        }
    }
    if let Some(iat) = num("iat") {
        if now < iat {
            return Err("Token used before issued".into());
        }
    }
    Ok(claims)
}

/// Oathkeeper's scope normalisation: `scp`, `scope` or `scopes` (array or space-separated
/// string) becomes the array claim `scp`; the original key is removed. No scope claim: none.
pub fn normalise_scope(claims: &mut Map<String, Value>) -> Vec<String> {
    for key in ["scp", "scope", "scopes"] {
        let Some(v) = claims.get(key) else { continue };
        let list: Vec<String> = match v {
            Value::String(s) => s
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            Value::Array(a) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => continue,
        };
        claims.remove(key);
        claims.insert(
            "scp".into(),
            Value::Array(list.iter().cloned().map(Value::String).collect()),
        );
        return list;
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rsa_set() -> Vec<Jwk> {
        let mut k = Jwk::generate_rsa_key(2048).unwrap();
        k.set_key_id("k1");
        k.set_algorithm("RS256");
        k.set_key_use("sig");
        vec![k]
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn sign_then_verify_round_trips_and_time_claims_are_enforced() {
        let keys = rsa_set();
        let rs = vec!["RS256".to_string()];
        let t = sign(
            &keys,
            claims(json!({"sub": "u", "exp": 2000, "nbf": 1000, "iat": 1000})),
        )
        .unwrap();
        assert!(looks_like_jwt(&t));
        assert_eq!(verify(&t, &keys, &rs, 1500).unwrap()["sub"], "u");
        assert_eq!(
            verify(&t, &keys, &rs, 2001).unwrap_err(),
            "Token is expired"
        );
        assert_eq!(
            verify(&t, &keys, &rs, 999).unwrap_err(),
            "Token is not valid yet"
        );
        let hs = vec!["HS256".to_string()];
        assert!(verify(&t, &keys, &hs, 1500)
            .unwrap_err()
            .contains("not allowed"));
        // Verification needs only the public half.
        let public: Vec<Jwk> = public_keys(&keys)
            .into_iter()
            .map(|v| Jwk::from_map(v.as_object().unwrap().clone()).unwrap())
            .collect();
        assert!(public[0].parameter("d").is_none());
        assert!(verify(&t, &public, &rs, 1500).is_ok());
        // A tampered payload fails.
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"sub":"admin","exp":2000}"#);
        parts[1] = &forged;
        assert!(verify(&parts.join("."), &keys, &rs, 1500)
            .unwrap_err()
            .contains("signature"));
    }

    #[test]
    fn kid_is_required_and_symmetric_keys_are_not_published() {
        let mut k = Jwk::new("oct");
        k.set_parameter("k", Some(json!(URL_SAFE_NO_PAD.encode([7u8; 32]))))
            .unwrap();
        k.set_algorithm("HS256");
        let keys = vec![k];
        let t = sign(&keys, claims(json!({"sub": "u"}))).unwrap();
        let err = verify(&t, &keys, &["HS256".into()], 0).unwrap_err();
        assert!(err.contains("kid"), "{err}");
        assert!(public_keys(&keys).is_empty());
    }

    #[test]
    fn scope_claims_are_normalised_into_scp() {
        let mut c = claims(json!({"scope": "a b"}));
        assert_eq!(normalise_scope(&mut c), vec!["a", "b"]);
        assert_eq!(c, claims(json!({"scp": ["a", "b"]})));
        let mut c = claims(json!({"scopes": ["x"]}));
        normalise_scope(&mut c);
        assert_eq!(c, claims(json!({"scp": ["x"]})));
        let mut c = claims(json!({}));
        assert!(normalise_scope(&mut c).is_empty());
        assert_eq!(c, claims(json!({})));
    }
}
