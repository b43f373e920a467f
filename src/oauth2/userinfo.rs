//! OpenID Connect userinfo, as Hydra's `getOidcUserInfo`: fosite's token introspection (an
//! unknown, revoked or inactive token is `request_unauthorized` with fosite's default hint, an
//! expired access token `invalid_token`, a valid refresh token "Only access tokens…"), then the
//! ID-token claims the grant carries — minus `nonce`, `at_hash`, `c_hash`, `exp`, `sid`, `jti`,
//! with the client in `aud` — as JSON, or as a JWT signed with the ID-token key when the
//! client's `userinfo_signed_response_alg` is `RS256`. A grant without an end-user login
//! (client_credentials, jwt-bearer) carries only `iss`, `aud` and `iat`.

use serde_json::{json, Map, Value};

use super::error::{Error, Result};
use super::grant::GrantSession;
use super::introspect;
use super::issue;
use super::service::Oauth2;
use super::token::Kind;

/// The userinfo answer: claims as JSON, or signed.
pub enum UserInfo {
    Claims(Map<String, Value>),
    Jwt(String),
}

/// The userinfo of the bearer `token` (see the module docs).
pub async fn userinfo(s: &Oauth2, token: &str) -> Result<UserInfo> {
    let unauthorized = || {
        Error::RequestUnauthorized(
            "Check that you provided valid credentials in the right format.".into(),
        )
    };
    let row = match introspect::lookup(s, token).await? {
        Some(row) if row.active => row,
        _ => return Err(unauthorized()),
    };
    let expired = row.expires_at > 0 && row.expires_at < s.now_micros();
    if row.kind == Kind::Refresh {
        if expired {
            return Err(unauthorized());
        }
        return Err(Error::Rejected {
            error: "invalid_token".into(),
            description: "Only access tokens are allowed in the authorization header.".into(),
            status: 401,
        });
    }
    if expired {
        let at = crate::store::time::rfc3339_seconds(row.expires_at)
            .replace('T', " ")
            .replace('Z', " +0000 UTC");
        return Err(Error::Rejected {
            error: "invalid_token".into(),
            description: format!("Token expired. Access token expired at '{at}'."),
            status: 401,
        });
    }
    let session: GrantSession = serde_json::from_str(&row.session).unwrap_or_default();
    let client = s
        .store()
        .get_client(&row.client_id)
        .await?
        .map(|c| c.client)
        .unwrap_or_default();
    let mut claims = claims(&s.issuer(), &session);
    if client.userinfo_signed_response_alg == "RS256" {
        claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
        claims.insert("iat".into(), json!(s.now_secs()));
        return Ok(UserInfo::Jwt(
            issue::sign_with_id_token_key(s, claims).await?,
        ));
    }
    Ok(UserInfo::Claims(claims))
}

/// The ID-token claims of a grant as userinfo answers them (pure).
fn claims(issuer: &str, session: &GrantSession) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(issuer));
    claims.insert("aud".into(), json!([session.client_id]));
    claims.insert("iat".into(), json!(session.requested_at));
    if session.auth_time == 0 {
        return claims;
    }
    if let Value::Object(extra) = &session.id_token {
        for (k, v) in extra {
            claims.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    claims.insert("sub".into(), json!(session.id_token_subject()));
    claims.insert("auth_time".into(), json!(session.auth_time));
    claims.insert("rat".into(), json!(session.requested_at));
    if !session.acr.is_empty() {
        claims.insert("acr".into(), json!(session.acr));
    }
    if !session.amr.is_empty() {
        claims.insert("amr".into(), json!(session.amr));
    }
    for reserved in ["nonce", "at_hash", "c_hash", "exp", "sid", "jti"] {
        claims.remove(reserved);
    }
    claims
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_without_login_carries_only_iss_aud_and_iat() {
        let session = GrantSession {
            client_id: "svc".into(),
            requested_at: 7,
            id_token: json!({"email": "x"}),
            ..GrantSession::default()
        };
        assert_eq!(
            Value::Object(claims("https://iss/", &session)).to_string(),
            r#"{"iss":"https://iss/","aud":["svc"],"iat":7}"#
        );
    }

    #[test]
    fn a_login_grant_adds_its_id_token_claims_but_not_the_reserved_ones() {
        let session = GrantSession {
            client_id: "app".into(),
            subject: "alice".into(),
            obfuscated_subject: "pairwise".into(),
            requested_at: 7,
            auth_time: 5,
            amr: vec!["pwd".into()],
            id_token: json!({"email": "a@x", "iss": "ignored", "nonce": "n", "sid": "s"}),
            ..GrantSession::default()
        };
        // The order is the wire's: serde_json's `remove` fills a removed claim's place.
        expect_test::expect![[r#"{"iss":"https://iss/","aud":["app"],"iat":7,"email":"a@x","amr":["pwd"],"rat":7,"sub":"pairwise","auth_time":5}"#]]
            .assert_eq(&Value::Object(claims("https://iss/", &session)).to_string());
    }
}
