//! RFC 7523 trust relationships and the `urn:ietf:params:oauth:grant-type:jwt-bearer` checks
//! as Hydra v2.2 (`oauth2/trust`, fosite `handler/rfc7523`): the create request's validation,
//! the assertion's claim rules, and RFC 3339 timestamps. Pure: no I/O, the time is passed in.

use serde_json::{Map, Value};

use super::error::{Error, Result};
use crate::store::time::parse_rfc3339;

pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A trusted issuer as stored (timestamps in Unix microseconds).
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub id: String,
    pub issuer: String,
    pub subject: String,
    pub allow_any_subject: bool,
    pub scope: Vec<String>,
    /// Hydra groups the trusted keys by issuer: the key set is the issuer.
    pub key_set: String,
    pub key_id: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A validated `POST /admin/trust/grants/jwt-bearer/issuers` body.
#[derive(Debug, Clone)]
pub struct CreateGrant {
    pub issuer: String,
    pub subject: String,
    pub allow_any_subject: bool,
    pub scope: Vec<String>,
    pub jwk: Map<String, Value>,
    pub kid: String,
    pub expires_at: i64,
}

/// Hydra's `ErrMissingRequiredParameter` with its hint.
fn missing(hint: &str) -> Error {
    Error::Rejected {
        error: "missing_required_parameter".into(),
        description: format!(
            "One of the required parameters is missing. Check your request parameters. {hint}"
        ),
        status: 400,
    }
}

impl CreateGrant {
    /// Decodes and validates the body in Hydra's order: issuer, subject xor allow_any_subject,
    /// expires_at, jwk with kid.
    pub fn parse(body: &Value) -> Result<CreateGrant> {
        let obj = body
            .as_object()
            .ok_or_else(|| Error::BadRequest("The request body must be a JSON object.".into()))?;
        let string = |key: &str| -> Result<String> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(Error::BadRequest(format!(
                    "Field '{key}' must be a string."
                ))),
            }
        };
        let issuer = string("issuer")?;
        let subject = string("subject")?;
        let allow_any_subject = match obj.get("allow_any_subject") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(Error::BadRequest(
                    "Field 'allow_any_subject' must be a boolean.".into(),
                ))
            }
        };
        let scope = match obj.get("scope") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_string).ok_or_else(|| {
                        Error::BadRequest("Field 'scope' must be an array of strings.".into())
                    })
                })
                .collect::<Result<_>>()?,
            Some(_) => {
                return Err(Error::BadRequest(
                    "Field 'scope' must be an array of strings.".into(),
                ))
            }
        };
        let expires_at = match obj.get("expires_at") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(parse_rfc3339(s).ok_or_else(|| {
                Error::BadRequest(format!(
                    "Field 'expires_at' must be an RFC 3339 timestamp, not '{s}'."
                ))
            })?),
            Some(_) => {
                return Err(Error::BadRequest(
                    "Field 'expires_at' must be an RFC 3339 timestamp.".into(),
                ))
            }
        };
        let jwk = match obj.get("jwk") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => {
                return Err(Error::BadRequest(
                    "Field 'jwk' must be a JSON Web Key object.".into(),
                ))
            }
        };
        let kid = jwk
            .get("kid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if issuer.is_empty() {
            return Err(missing("Field 'issuer' is required."));
        }
        if subject.is_empty() && !allow_any_subject {
            return Err(missing(
                "One of 'subject' or 'allow_any_subject' field must be set.",
            ));
        }
        if !subject.is_empty() && allow_any_subject {
            return Err(missing(
                "Both 'subject' and 'allow_any_subject' fields cannot be set at the same time.",
            ));
        }
        let Some(expires_at) = expires_at.filter(|e| *e != ZERO_TIME) else {
            return Err(missing("Field 'expires_at' is required."));
        };
        if kid.is_empty() {
            return Err(missing("Field 'jwk' must contain JWK with kid header."));
        }
        Ok(CreateGrant {
            issuer,
            subject,
            allow_any_subject,
            scope,
            jwk,
            kid,
            expires_at: round_to_second(expires_at),
        })
    }
}

/// Go's zero `time.Time` (`0001-01-01T00:00:00Z`) in Unix microseconds: "not set".
const ZERO_TIME: i64 = -62_135_596_800_000_000;

fn round_to_second(micros: i64) -> i64 {
    (micros + 500_000).div_euclid(1_000_000) * 1_000_000
}

/// The `oauth2.grant.jwt.*` rules.
#[derive(Debug, Clone)]
pub struct AssertionRules {
    pub jti_optional: bool,
    pub iat_optional: bool,
    pub max_ttl_secs: i64,
}

/// The header and the claims of an assertion, unverified (fosite's parse errors).
pub fn unverified_parts(assertion: &str) -> Result<(Map<String, Value>, Map<String, Value>)> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let parse_error = || {
        Error::InvalidGrant(
            "Unable to parse JSON Web Token passed in \"assertion\" request parameter.".into(),
        )
    };
    let mut parts = assertion.split('.');
    let (Some(h), Some(p), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(parse_error());
    };
    let decode = |part: &str| -> Option<Map<String, Value>> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
    };
    let header = decode(h).ok_or_else(parse_error)?;
    let claims = decode(p).ok_or_else(|| {
        Error::InvalidGrant(
            "Looks like there are no claims in JWT in \"assertion\" request parameter.".into(),
        )
    })?;
    Ok((header, claims))
}

/// The unverified `iss` and `sub` of an assertion (needed to find the trusted key).
pub fn issuer_and_subject(claims: &Map<String, Value>) -> Result<(String, String)> {
    let get = |k: &str| claims.get(k).and_then(Value::as_str).unwrap_or_default();
    if get("iss").is_empty() {
        return Err(Error::InvalidGrant(
            "The JWT in \"assertion\" request parameter MUST contain an \"iss\" (issuer) claim."
                .into(),
        ));
    }
    if get("sub").is_empty() {
        return Err(Error::InvalidGrant(
            "The JWT in \"assertion\" request parameter MUST contain a \"sub\" (subject) claim."
                .into(),
        ));
    }
    Ok((get("iss").to_string(), get("sub").to_string()))
}

fn numeric(claims: &Map<String, Value>, key: &str) -> Option<i64> {
    match claims.get(key)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        _ => None,
    }
}

/// fosite's `validateTokenClaims` over the verified claims: audience contains the token URL,
/// `exp` set and in the future and not beyond `max_ttl` from `iat`, `nbf` in the past, `iat` and
/// `jti` unless optional. Returns `(jti, exp)` for the replay check. `now` in seconds.
pub fn check_claims(
    claims: &Map<String, Value>,
    token_url: &str,
    rules: &AssertionRules,
    now: i64,
) -> Result<(Option<String>, i64)> {
    let bad = |hint: String| Err(Error::InvalidGrant(hint));
    let audience: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if audience.is_empty() {
        return bad(
            "The JWT in \"assertion\" request parameter MUST contain an \"aud\" (audience) claim."
                .into(),
        );
    }
    if !audience.contains(&token_url) {
        return bad(format!("The JWT in \"assertion\" request parameter MUST contain an \"aud\" (audience) claim containing a value \"{token_url}\" that identifies the authorization server as an intended audience."));
    }
    let Some(exp) = numeric(claims, "exp") else {
        return bad("The JWT in \"assertion\" request parameter MUST contain an \"exp\" (expiration time) claim.".into());
    };
    if exp < now {
        return bad("The JWT in \"assertion\" request parameter expired.".into());
    }
    if let Some(nbf) = numeric(claims, "nbf") {
        if nbf >= now {
            return bad(format!("The JWT in \"assertion\" request parameter contains an \"nbf\" (not before) claim, that identifies the time '{}' before which the token MUST NOT be accepted.", crate::store::time::rfc3339_seconds(nbf.saturating_mul(1_000_000))));
        }
    }
    let iat = numeric(claims, "iat");
    if iat.is_none() && !rules.iat_optional {
        return bad(
            "The JWT in \"assertion\" request parameter MUST contain an \"iat\" (issued at) claim."
                .into(),
        );
    }
    let issued = iat.unwrap_or(now);
    if exp.saturating_sub(issued) > rules.max_ttl_secs {
        return bad(format!("The JWT in \"assertion\" request parameter contains an \"exp\" (expiration time) claim with value \"{}\" that is unreasonably far in the future, considering token issued at \"{}\".", crate::store::time::rfc3339_seconds(exp.saturating_mul(1_000_000)), crate::store::time::rfc3339_seconds(issued.saturating_mul(1_000_000))));
    }
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty())
        .map(str::to_string);
    if jti.is_none() && !rules.jti_optional {
        return bad(
            "The JWT in \"assertion\" request parameter MUST contain an \"jti\" (JWT ID) claim."
                .into(),
        );
    }
    Ok((jti, exp))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc3339_parses_like_go() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20Z"),
            Some(1_700_000_000_000_000)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T23:13:20.5+01:00"),
            Some(1_700_000_000_500_000)
        );
        assert_eq!(parse_rfc3339("0001-01-01T00:00:00Z"), Some(ZERO_TIME));
        for bad in [
            "",
            "2023-11-14",
            "2023-13-01T00:00:00Z",
            "2023-11-14T22:13:20",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(
            crate::store::time::rfc3339_seconds(parse_rfc3339("2031-02-03T04:05:06Z").unwrap()),
            "2031-02-03T04:05:06Z"
        );
    }

    #[test]
    fn create_requests_are_validated_in_hydras_order() {
        let hint = |body: Value| match CreateGrant::parse(&body) {
            Err(Error::Rejected {
                error, description, ..
            }) => {
                assert_eq!(error, "missing_required_parameter");
                description
            }
            other => panic!("{other:?}"),
        };
        let jwk = json!({"kty": "EC", "kid": "k"});
        let exp = "2031-01-01T00:00:00Z";
        assert!(hint(json!({})).ends_with("Field 'issuer' is required."));
        assert!(hint(json!({"issuer": "i"})).ends_with("field must be set."));
        assert!(
            hint(json!({"issuer": "i", "subject": "s", "allow_any_subject": true}))
                .ends_with("cannot be set at the same time.")
        );
        assert!(hint(json!({"issuer": "i", "subject": "s"}))
            .ends_with("Field 'expires_at' is required."));
        assert!(
            hint(json!({"issuer": "i", "subject": "s", "expires_at": exp}))
                .ends_with("must contain JWK with kid header.")
        );
        let ok = CreateGrant::parse(
            &json!({"issuer": "i", "allow_any_subject": true, "expires_at": exp, "jwk": jwk}),
        )
        .unwrap();
        assert!(ok.scope.is_empty() && ok.allow_any_subject && ok.kid == "k");
        assert!(matches!(
            CreateGrant::parse(&json!({"issuer": "i", "expires_at": "tomorrow"})),
            Err(Error::BadRequest(_))
        ));
    }

    #[test]
    fn assertion_claims_follow_rfc7523() {
        let rules = AssertionRules {
            jti_optional: false,
            iat_optional: false,
            max_ttl_secs: 3600,
        };
        let url = "https://as.example/oauth2/token";
        let now = 1_000_000;
        let good = json!({"aud": [url], "exp": now + 60, "iat": now, "jti": "j1"});
        let check = |v: Value| check_claims(v.as_object().unwrap(), url, &rules, now);
        assert_eq!(check(good.clone()).unwrap(), (Some("j1".into()), now + 60));
        let hint = |v: Value| match check(v) {
            Err(Error::InvalidGrant(h)) => h,
            other => panic!("{other:?}"),
        };
        let with = |k: &str, v: Value| {
            let mut g = good.clone();
            g[k] = v;
            g
        };
        let without = |k: &str| {
            let mut g = good.clone();
            g.as_object_mut().unwrap().remove(k);
            g
        };
        assert!(hint(without("aud")).contains("\"aud\" (audience) claim."));
        assert!(hint(with("aud", json!("https://other"))).contains(url));
        assert!(hint(without("exp")).contains("\"exp\""));
        assert!(hint(with("exp", json!(now - 1))).ends_with("expired."));
        assert!(hint(with("nbf", json!(now + 5))).contains("\"nbf\""));
        assert!(hint(without("iat")).contains("\"iat\""));
        assert!(hint(with("exp", json!(now + 7200))).contains("unreasonably far"));
        assert!(hint(without("jti")).contains("\"jti\""));
        let lenient = AssertionRules {
            jti_optional: true,
            iat_optional: true,
            ..rules.clone()
        };
        let g = json!({"aud": url, "exp": now + 60});
        assert_eq!(
            check_claims(g.as_object().unwrap(), url, &lenient, now).unwrap(),
            (None, now + 60)
        );
    }
}
