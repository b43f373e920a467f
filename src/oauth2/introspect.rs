//! Token lookup and RFC 7662 introspection: an access or refresh token (opaque, or a JWT
//! access token) found by its signature; active while unrevoked and unexpired; introspected
//! as Hydra answers (`{"active": false}` for anything not active, or not within the scopes
//! asked about).

use serde_json::{json, Map, Value};

use super::error::Result;
use super::form::Form;
use super::grant::{GrantSession, TokenRow};
use super::service::Oauth2;
use super::token::{storage_key, Kind};

/// Looks up an access or refresh token (opaque or JWT) by its signature.
pub async fn lookup(s: &Oauth2, token: &str) -> Result<Option<TokenRow>> {
    let candidate: Option<(Kind, Option<String>)> = if token.starts_with(Kind::Access.prefix()) {
        Some((Kind::Access, s.hmac().validate(Kind::Access, token)))
    } else if token.starts_with(Kind::Refresh.prefix()) {
        Some((Kind::Refresh, s.hmac().validate(Kind::Refresh, token)))
    } else if token.split('.').count() == 3 {
        Some((Kind::Access, token.rsplit('.').next().map(str::to_string)))
    } else {
        None
    };
    let Some((kind, Some(sig))) = candidate else {
        return Ok(None);
    };
    Ok(s.store()
        .get_token(&storage_key(&sig))
        .await?
        .filter(|row| row.kind == kind))
}

/// An access or refresh token that is active and unexpired.
pub async fn active(s: &Oauth2, token: &str) -> Result<Option<TokenRow>> {
    let Some(row) = lookup(s, token).await? else {
        return Ok(None);
    };
    Ok(row.is_active(s.now_micros()).then_some(row))
}

/// `POST /admin/oauth2/introspect` over its form: Hydra's answer for the `token` parameter,
/// inactive unless it is active and holds every `scope` asked about.
pub async fn introspect(s: &Oauth2, form: &Form) -> Result<Value> {
    let token = form.get("token").unwrap_or("");
    let inactive = || Ok(json!({"active": false}));
    if token.is_empty() {
        return inactive();
    }
    let Some(row) = active(s, token).await? else {
        return inactive();
    };
    let session: GrantSession = serde_json::from_str(&row.session).unwrap_or_default();
    let wanted = form.list("scope");
    if !wanted.iter().all(|w| {
        s.settings()
            .scope_strategy
            .allows(&session.granted_scope, w)
    }) {
        return inactive();
    }
    Ok(answer(&row, &session, &s.issuer()))
}

/// The introspection of an active token (pure).
fn answer(row: &TokenRow, session: &GrantSession, issuer: &str) -> Value {
    let mut out = Map::new();
    out.insert("active".into(), json!(true));
    if !session.granted_scope.is_empty() {
        out.insert("scope".into(), json!(session.granted_scope.join(" ")));
    }
    out.insert("client_id".into(), json!(row.client_id));
    out.insert("sub".into(), json!(row.subject));
    if !session.obfuscated_subject.is_empty() && session.obfuscated_subject != row.subject {
        out.insert(
            "obfuscated_subject".into(),
            json!(session.obfuscated_subject),
        );
    }
    out.insert("exp".into(), json!(row.expires_at / 1_000_000));
    out.insert("iat".into(), json!(row.requested_at / 1_000_000));
    out.insert("nbf".into(), json!(row.requested_at / 1_000_000));
    out.insert("aud".into(), json!(session.granted_audience));
    out.insert("iss".into(), json!(issuer));
    out.insert("token_type".into(), json!("Bearer"));
    out.insert("token_use".into(), json!(row.kind.as_str()));
    if let Value::Object(ext) = &session.ext {
        if !ext.is_empty() {
            out.insert("ext".into(), Value::Object(ext.clone()));
        }
    }
    Value::Object(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_active_token_is_introspected_as_hydra_answers() {
        let row = TokenRow {
            signature: "s".into(),
            kind: Kind::Access,
            request_id: "r".into(),
            client_id: "app".into(),
            subject: "alice".into(),
            active: true,
            requested_at: 5_000_000,
            expires_at: 65_000_000,
            session: String::new(),
        };
        let session = GrantSession {
            granted_scope: vec!["a".into(), "b".into()],
            obfuscated_subject: "pairwise".into(),
            ext: json!({"k": 1}),
            ..GrantSession::default()
        };
        expect_test::expect![[r#"{"active":true,"scope":"a b","client_id":"app","sub":"alice","obfuscated_subject":"pairwise","exp":65,"iat":5,"nbf":5,"aud":[],"iss":"https://iss/","token_type":"Bearer","token_use":"access_token","ext":{"k":1}}"#]]
        .assert_eq(&answer(&row, &session, "https://iss/").to_string());
    }
}
