//! Token issuance for every grant: access tokens (opaque HMAC tokens, or JWTs signed with the
//! access-token key set, by the client's strategy else the global one), refresh tokens and
//! authorization codes (opaque), and ID tokens (signed with the ID-token key set). Every
//! token but an ID token is stored — through the store's group-committing token writer — and
//! handed out only once stored.

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::client::Client;
use super::error::{Error, Result};
use super::grant::{GrantSession, GrantType, TokenRow};
use super::jose;
use super::service::Oauth2;
use super::settings::{Settings, ACCESS_TOKEN_SET, ID_TOKEN_SET};
use super::token::{storage_key, Kind};

/// Claims a session's extras may not set at the top of a JWT access token.
const RESERVED_ACCESS_TOKEN_CLAIMS: [&str; 10] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "client_id",
    "scp",
    "ext",
];

/// The claims of a JWT access token for `session` (pure: the time and the `jti` are given).
pub fn access_token_claims(
    settings: &Settings,
    issuer: &str,
    client_id: &str,
    session: &GrantSession,
    (now, exp): (i64, i64),
    jti: String,
) -> Map<String, Value> {
    let mut claims = Map::new();
    let s = settings;
    if let Value::Object(ext) = &session.ext {
        for key in &s.allowed_top_level_claims {
            if RESERVED_ACCESS_TOKEN_CLAIMS.contains(&key.as_str()) {
                continue;
            }
            if let Some(v) = ext.get(key) {
                claims.insert(key.clone(), v.clone());
            }
        }
        if s.mirror_top_level_claims && !ext.is_empty() {
            claims.insert("ext".into(), Value::Object(ext.clone()));
        }
    }
    claims.insert("iss".into(), json!(issuer));
    claims.insert("sub".into(), json!(session.subject));
    claims.insert("aud".into(), json!(session.granted_audience));
    claims.insert("exp".into(), json!(exp));
    claims.insert("iat".into(), json!(now));
    if !s.exclude_nbf {
        claims.insert("nbf".into(), json!(now));
    }
    claims.insert("jti".into(), json!(jti));
    claims.insert("client_id".into(), json!(client_id));
    match s.scope_claim.as_str() {
        "string" => {
            claims.insert("scope".into(), json!(session.granted_scope.join(" ")));
        }
        "both" => {
            claims.insert("scp".into(), json!(session.granted_scope));
            claims.insert("scope".into(), json!(session.granted_scope.join(" ")));
        }
        _ => {
            claims.insert("scp".into(), json!(session.granted_scope));
        }
    }
    claims
}

/// Issues an access token for `session` and stores it.
pub async fn access_token(
    s: &Oauth2,
    client: &Client,
    session: &GrantSession,
    request_id: &str,
    ttl: Duration,
) -> Result<String> {
    access_token_for_revision(s, client, session, request_id, ttl, None).await
}

/// [`access_token`]; with `Some(revision)`, the token is stored only if the client's row
/// still has that revision, and is otherwise [`Error::ClientChanged`].
pub async fn access_token_for_revision(
    s: &Oauth2,
    client: &Client,
    session: &GrantSession,
    request_id: &str,
    ttl: Duration,
    client_revision: Option<i64>,
) -> Result<String> {
    let now = s.now_secs();
    let exp = now + ttl.as_secs() as i64;
    let jwt = match client.access_token_strategy.as_str() {
        "jwt" => true,
        "opaque" => false,
        _ => s.settings().jwt_access_tokens,
    };
    let (token, signature) = if jwt {
        let claims = access_token_claims(
            s.settings(),
            &s.issuer(),
            &client.client_id,
            session,
            (now, exp),
            uuid::Uuid::new_v4().to_string(),
        );
        let key = s.keys().signer(ACCESS_TOKEN_SET).await?;
        let token = key.sign(claims)?;
        let sig = token.rsplit('.').next().unwrap_or_default().to_string();
        (token, sig)
    } else {
        s.hmac().generate(Kind::Access)
    };
    let row = token_row(
        s,
        Kind::Access,
        &signature,
        client,
        session,
        request_id,
        exp,
    )?;
    match client_revision {
        None => s.store().insert_token(row).await?,
        Some(revision) => {
            if !s.store().insert_token_if_client_is(row, revision).await? {
                return Err(Error::ClientChanged);
            }
        }
    }
    Ok(token)
}

/// Issues an opaque refresh token or authorization code for `session` and stores it; without
/// a `ttl` it never expires.
pub async fn opaque(
    s: &Oauth2,
    kind: Kind,
    client: &Client,
    session: &GrantSession,
    request_id: &str,
    ttl: Option<Duration>,
) -> Result<String> {
    let (token, signature) = s.hmac().generate(kind);
    let exp = ttl.map(|t| s.now_secs() + t.as_secs() as i64).unwrap_or(0);
    let row = token_row(s, kind, &signature, client, session, request_id, exp)?;
    s.store().insert_token(row).await?;
    Ok(token)
}

fn token_row(
    s: &Oauth2,
    kind: Kind,
    signature: &str,
    client: &Client,
    session: &GrantSession,
    request_id: &str,
    exp_secs: i64,
) -> Result<TokenRow> {
    Ok(TokenRow {
        signature: storage_key(signature),
        kind,
        request_id: request_id.into(),
        client_id: client.client_id.clone(),
        subject: session.subject.clone(),
        active: true,
        requested_at: s.now_micros(),
        expires_at: exp_secs.saturating_mul(1_000_000),
        session: serde_json::to_string(session).map_err(|e| Error::Internal(e.to_string()))?,
    })
}

/// `claims` as a JWT signed with the newest key of the ID-token set (signed userinfo).
pub async fn sign_with_id_token_key(s: &Oauth2, claims: Map<String, Value>) -> Result<String> {
    s.keys().signer(ID_TOKEN_SET).await?.sign(claims)
}

/// Signs an ID token for `session`, with `at_hash` and `c_hash` of the tokens it accompanies.
pub async fn id_token(
    s: &Oauth2,
    client: &Client,
    session: &GrantSession,
    access_token: Option<&str>,
    code: Option<&str>,
    ttl: Duration,
) -> Result<String> {
    let key = s.keys().signer(ID_TOKEN_SET).await?;
    let alg = key.jwk.algorithm().unwrap_or("RS256").to_string();
    let now = s.now_secs();
    let mut claims = match &session.id_token {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    claims.insert("iss".into(), json!(s.issuer()));
    claims.insert("sub".into(), json!(session.id_token_subject()));
    claims.insert("aud".into(), json!([client.client_id]));
    claims.insert("exp".into(), json!(now + ttl.as_secs() as i64));
    claims.insert("iat".into(), json!(now));
    claims.insert("rat".into(), json!(session.requested_at));
    claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
    claims.insert("auth_time".into(), json!(session.auth_time));
    if !session.nonce.is_empty() {
        claims.insert("nonce".into(), json!(session.nonce));
    }
    if !session.acr.is_empty() {
        claims.insert("acr".into(), json!(session.acr));
    }
    if !session.amr.is_empty() {
        claims.insert("amr".into(), json!(session.amr));
    }
    if !session.sid.is_empty() {
        claims.insert("sid".into(), json!(session.sid));
    }
    if let Some(at) = access_token {
        claims.insert("at_hash".into(), json!(jose::half_hash(&alg, at)));
    }
    if let Some(c) = code {
        claims.insert("c_hash".into(), json!(jose::half_hash(&alg, c)));
    }
    key.sign(claims)
}

/// The token endpoint's answer to an authorization_code or refresh_token grant: an access
/// token, a refresh token when the grant is offline, an ID token when it is OpenID Connect —
/// each for the client's lifespan of this grant, else the global one.
pub async fn tokens(
    s: &Oauth2,
    client: &Client,
    session: &GrantSession,
    request_id: &str,
    grant: GrantType,
) -> Result<Value> {
    let (rt_field, id_field) = grant.refresh_and_id_token_lifespans();
    let at_ttl = s.lifespan(
        client,
        grant.access_token_lifespan(),
        s.settings().access_ttl,
    );
    let at = access_token(s, client, session, request_id, at_ttl).await?;
    let mut out = Map::new();
    out.insert("access_token".into(), json!(at));
    out.insert("expires_in".into(), json!(at_ttl.as_secs()));
    if session.issues_refresh_token(client) {
        let rt_ttl = match client
            .lifespan(rt_field)
            .and_then(super::strategy::parse_duration)
        {
            Some(d) => Some(d),
            None => s.settings().refresh_ttl,
        };
        let rt = opaque(s, Kind::Refresh, client, session, request_id, rt_ttl).await?;
        out.insert("refresh_token".into(), json!(rt));
    }
    if session.openid() {
        let id_ttl = s.lifespan(client, id_field, s.settings().id_ttl);
        out.insert(
            "id_token".into(),
            json!(id_token(s, client, session, Some(&at), None, id_ttl).await?),
        );
    }
    out.insert("scope".into(), json!(session.granted_scope.join(" ")));
    out.insert("token_type".into(), json!("bearer"));
    Ok(Value::Object(out))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::Oauth2Config;

    #[test]
    fn access_token_claims_mirror_allowed_extras_and_keep_reserved_ones() {
        let mut config = Oauth2Config::default();
        config.oauth2.allowed_top_level_claims = vec!["tenant".into(), "sub".into()];
        let settings = Settings::from_config(&config, true);
        let session = GrantSession {
            subject: "alice".into(),
            granted_scope: vec!["a".into(), "b".into()],
            ext: json!({"tenant": "t1", "sub": "mallory"}),
            ..GrantSession::default()
        };
        let claims = access_token_claims(
            &settings,
            "https://iss/",
            "app",
            &session,
            (10, 70),
            "j".into(),
        );
        assert_eq!(claims["tenant"], "t1");
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["ext"], json!({"tenant": "t1", "sub": "mallory"}));
        assert_eq!(claims["scp"], json!(["a", "b"]));
        assert_eq!(
            (claims["iat"].clone(), claims["nbf"].clone()),
            (json!(10), json!(10))
        );
        assert_eq!(claims["exp"], 70);
        let keys: Vec<&str> = claims.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "tenant",
                "ext",
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "nbf",
                "jti",
                "client_id",
                "scp"
            ]
        );
    }
}
