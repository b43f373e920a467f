//! The token endpoint's grants, as fosite's handlers run them — authorization_code (with
//! PKCE), refresh_token (rotation, replay revokes the grant), client_credentials and RFC 7523
//! jwt-bearer — each through the configured token hooks before it issues; and RFC 7009
//! revocation. The grant core (`grant`) decides; this file reads and writes what it decides
//! on. The HTTP layer hands over the parsed body and the `Authorization` header.

use serde_json::Value;

use super::client::Client;
use super::client_auth;
use super::error::{Error, Result};
use super::form::Form;
use super::grant::{self, GrantSession, GrantType, TokenRow};
use super::introspect;
use super::issue;
use super::service::Oauth2;
use super::token::{storage_key, Kind};
use super::token_hook::{self, RequestView};
use super::trust;

/// The parameters a token request may not repeat (RFC 6749 §3.2).
const SINGLE_VALUED: [&str; 9] = [
    "grant_type",
    "code",
    "redirect_uri",
    "refresh_token",
    "scope",
    "code_verifier",
    "client_id",
    "client_secret",
    "assertion",
];

/// `POST /oauth2/token` over its body: the answer of the request's grant.
pub async fn token(s: &Oauth2, authorization: Option<&str>, form: &Form) -> Result<Value> {
    if form.0.is_empty() {
        return Err(Error::InvalidRequest(
            "The POST body can not be empty.".into(),
        ));
    }
    if let Some(dup) = form.duplicate(&SINGLE_VALUED) {
        return Err(Error::InvalidRequest(format!(
            "The parameter '{dup}' must not be included more than once."
        )));
    }
    // fosite: an unknown grant type is decided before the client's credentials count.
    let grant = GrantType::parse(form.get("grant_type").unwrap_or(""))?;
    // With a token hook, the client is read fresh so that the hook is called once per request.
    if grant == GrantType::ClientCredentials && s.settings().token_hook.is_none() {
        if let Some(answer) = client_credentials_for_recent_client(s, authorization, form).await {
            return Ok(answer);
        }
    }
    let client = client_auth::authenticate(s, authorization, form).await?;
    // client_credentials checks its grant type last (fosite's handler), the others first.
    if grant != GrantType::ClientCredentials {
        grant::check_grant_allowed(&client, grant)?;
    }
    match grant {
        GrantType::ClientCredentials => client_credentials(s, &client, form, None).await,
        GrantType::AuthorizationCode => authorization_code(s, &client, form).await,
        GrantType::JwtBearer => jwt_bearer(s, &client, form).await,
        GrantType::RefreshToken => refresh(s, &client, form).await,
    }
}

/// client_credentials for a client this process read earlier and whose secret it verified
/// before (no database read, no PBKDF2), its token stored only if the client has not changed
/// since. `None` — no such copy, or any failure, a changed client included — and the request
/// is answered from a fresh read instead: only a stored token is ever answered from the copy.
async fn client_credentials_for_recent_client(
    s: &Oauth2,
    authorization: Option<&str>,
    form: &Form,
) -> Option<Value> {
    let stored = client_auth::recently_authenticated(s, authorization, form)?;
    match client_credentials(s, &stored.client, form, Some(stored.revision)).await {
        Ok(answer) => Some(answer),
        Err(_) => {
            client_auth::forget_recent(s, &stored.client.client_id);
            None
        }
    }
}

/// fosite's client_credentials handler: scope, audience, a public client, then the grant type.
/// With `client_revision`, the token is stored only while the client's row still has it.
async fn client_credentials(
    s: &Oauth2,
    client: &Client,
    form: &Form,
    client_revision: Option<i64>,
) -> Result<Value> {
    let mut scopes = form.list("scope");
    if scopes.is_empty() && s.settings().default_grant_allowed_scope {
        scopes = client.scopes();
    }
    s.check_scopes(client, &scopes)?;
    let audience = form.list("audience");
    s.check_audience(client, &audience)?;
    grant::check_client_credentials(client)?;
    let mut session = GrantSession::without_login(
        client,
        client.client_id.clone(),
        scopes.clone(),
        audience,
        s.now_secs(),
    );
    let request = RequestView {
        client_id: &client.client_id,
        grant_type: GrantType::ClientCredentials,
        assertion: None,
    };
    token_hook::run(s, &mut session, &request, false).await?;
    let ttl = s.lifespan(
        client,
        GrantType::ClientCredentials.access_token_lifespan(),
        s.settings().access_ttl,
    );
    // Time-ordered (UUIDv7): the request_id index grows at its right edge instead of
    // touching a random page per token (on SQLite, ~20 % more tokens/s between checkpoints).
    let request_id = uuid::Uuid::now_v7().to_string();
    let at =
        issue::access_token_for_revision(s, client, &session, &request_id, ttl, client_revision)
            .await?;
    Ok(grant::access_token_answer(&at, ttl.as_secs(), &scopes))
}

/// RFC 7523 (fosite `handler/rfc7523`): the authenticated client presents an assertion signed
/// by a trusted issuer; the token's subject is the assertion's `sub`, its audience the
/// assertion's `aud` (plus requested audiences the client may use), its scopes those requested
/// within the trust relationship. No refresh token.
async fn jwt_bearer(s: &Oauth2, client: &Client, form: &Form) -> Result<Value> {
    let assertion = form
        .get("assertion")
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            Error::InvalidRequest(format!(
                "The assertion request parameter must be set when using grant_type of '{}'.",
                trust::GRANT_TYPE
            ))
        })?;
    let Trusted {
        issuer,
        subject,
        grant,
        claims,
    } = trusted_assertion(s, assertion).await?;
    let (jti, exp) = trust::check_claims(
        &claims,
        &s.token_url(),
        &s.settings().assertion,
        s.now_secs(),
    )?;
    let scopes = form.list("scope");
    for sc in &scopes {
        if !s.settings().scope_strategy.allows(&grant.scope, sc) {
            return Err(Error::InvalidScope(format!("The public key registered for issuer \"{issuer}\" and subject \"{subject}\" is not allowed to request scope \"{sc}\".")));
        }
    }
    if let Some(jti) = jti {
        let fresh = s
            .store()
            .use_jti(
                &format!("jwt-bearer:{issuer}:{jti}"),
                exp.saturating_mul(1_000_000),
                s.now_micros(),
            )
            .await?;
        if !fresh {
            return Err(client_auth::jti_known());
        }
    }
    let audience = grant::assertion_audience(&claims, form.list("audience"), |a| {
        super::strategy::audience_allowed(&client.audience, a)
    });
    let mut session =
        GrantSession::without_login(client, subject, scopes.clone(), audience, s.now_secs());
    let request = RequestView {
        client_id: &client.client_id,
        grant_type: GrantType::JwtBearer,
        assertion: Some(assertion),
    };
    token_hook::run(s, &mut session, &request, false).await?;
    let ttl = s.lifespan(
        client,
        GrantType::JwtBearer.access_token_lifespan(),
        s.settings().access_ttl,
    );
    let request_id = uuid::Uuid::now_v7().to_string();
    let at = issue::access_token(s, client, &session, &request_id, ttl).await?;
    Ok(grant::access_token_answer(&at, ttl.as_secs(), &scopes))
}

/// A jwt-bearer assertion verified by a trusted issuer's key.
struct Trusted {
    issuer: String,
    subject: String,
    grant: trust::Grant,
    claims: serde_json::Map<String, Value>,
}

/// The assertion's issuer, subject, trust relationship and claims: an issuer trusted for the
/// subject, with a key (by the header's `kid` when it names one) that verifies it.
async fn trusted_assertion(s: &Oauth2, assertion: &str) -> Result<Trusted> {
    let (header, unverified) = trust::unverified_parts(assertion)?;
    let (issuer, subject) = trust::issuer_and_subject(&unverified)?;
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty());
    let trusted = s
        .keys()
        .trusted_keys(&issuer, &subject, kid, s.now_micros())
        .await?;
    if trusted.is_empty() {
        return Err(no_key(&issuer, &subject));
    }
    for (grant, jwk) in trusted {
        let Some(public) = super::jose::public(&jwk) else {
            continue;
        };
        if let Some((_, claims)) = super::jose::verify(assertion, std::slice::from_ref(&public)) {
            return Ok(Trusted {
                issuer,
                subject,
                grant,
                claims,
            });
        }
    }
    Err(if kid.is_some() {
        Error::InvalidGrant("Unable to verify the integrity of the 'assertion' value.".into())
    } else {
        no_key(&issuer, &subject)
    })
}

/// No key of a trusted issuer for this subject (or none that verifies an assertion without
/// a `kid`).
fn no_key(issuer: &str, subject: &str) -> Error {
    Error::InvalidGrant(format!("No public JWK was registered for issuer \"{issuer}\" and subject \"{subject}\", and public key is required to check signature of JWT in \"assertion\" request parameter."))
}

/// The stored token of kind `kind` that `token` names, or `invalid_grant` without a hint.
async fn stored(s: &Oauth2, kind: Kind, token: &str) -> Result<TokenRow> {
    let unknown = || Error::InvalidGrant(String::new());
    let sig = s.hmac().validate(kind, token).ok_or_else(unknown)?;
    s.store()
        .get_token(&storage_key(&sig))
        .await?
        .filter(|r| r.kind == kind)
        .ok_or_else(unknown)
}

/// A refused code or refresh token: its grant revoked first when the core says so.
async fn refuse(s: &Oauth2, row: &TokenRow, refused: grant::Refused) -> Error {
    if refused.revoke_grant {
        if let Err(e) = s.store().revoke_request(&row.request_id).await {
            return e;
        }
    }
    refused.error
}

/// fosite's authorization code handler: the code (unknown, used, expired, another client's),
/// the redirect URI, PKCE; then the hooks, and the code spent before the tokens are issued.
async fn authorization_code(s: &Oauth2, client: &Client, form: &Form) -> Result<Value> {
    let row = stored(s, Kind::Code, form.get("code").unwrap_or("")).await?;
    if let Err(refused) = grant::check_code(&row, &client.client_id, s.now_micros()) {
        return Err(refuse(s, &row, refused).await);
    }
    let mut session = row.grant_session()?;
    grant::check_redirect_uri(&session, form.get("redirect_uri"))?;
    grant::check_code_verifier(
        &session.code_challenge,
        form.get("code_verifier").unwrap_or(""),
    )?;
    // Hydra's hooks run before fosite spends the code: a refused request leaves it usable.
    let request = RequestView {
        client_id: &client.client_id,
        grant_type: GrantType::AuthorizationCode,
        assertion: None,
    };
    token_hook::run(s, &mut session, &request, true).await?;
    if !s.store().deactivate_token(&row.signature).await? {
        s.store().revoke_request(&row.request_id).await?;
        return Err(grant::code_used());
    }
    issue::tokens(
        s,
        client,
        &session,
        &row.request_id,
        GrantType::AuthorizationCode,
    )
    .await
}

/// fosite's refresh handler: the token (unknown, reused, expired, another client's), then the
/// granted scopes and audiences against what the client may have now; the hooks; then the
/// rotation (the old refresh token spent, the grant's access tokens deleted) and new tokens.
async fn refresh(s: &Oauth2, client: &Client, form: &Form) -> Result<Value> {
    let row = stored(s, Kind::Refresh, form.get("refresh_token").unwrap_or("")).await?;
    if let Err(refused) = grant::check_refresh_token(&row, &client.client_id, s.now_micros()) {
        return Err(refuse(s, &row, refused).await);
    }
    let mut granted = row.grant_session()?;
    s.check_scopes(client, &granted.granted_scope)?;
    s.check_audience(client, &granted.granted_audience)?;
    // Before the rotation, as Hydra: a refused request leaves the refresh token usable.
    let request = RequestView {
        client_id: &client.client_id,
        grant_type: GrantType::RefreshToken,
        assertion: None,
    };
    token_hook::run(s, &mut granted, &request, true).await?;
    if !s.store().deactivate_token(&row.signature).await? {
        return Err(Error::InvalidRequest("Failed to refresh token because of multiple concurrent requests using the same token which is not allowed.".into()));
    }
    s.store()
        .delete_access_tokens_of_request(&row.request_id)
        .await?;
    let mut session = granted;
    session.requested_at = s.now_secs();
    issue::tokens(
        s,
        client,
        &session,
        &row.request_id,
        GrantType::RefreshToken,
    )
    .await
}

/// RFC 7009 as fosite answers it: only `invalid_request` (an empty body) and `invalid_client`
/// surface, both without a hint; a missing, unknown or another client's token is a success.
pub async fn revoke(s: &Oauth2, authorization: Option<&str>, form: &Form) -> Result<()> {
    if form.0.is_empty() {
        return Err(Error::InvalidRequest(String::new()));
    }
    let client = match client_auth::authenticate(s, authorization, form).await {
        Ok(c) => c,
        Err(Error::InvalidClient(_)) => return Err(Error::InvalidClient(String::new())),
        Err(e) => return Err(e),
    };
    let token = form.get("token").unwrap_or("");
    if !token.is_empty() {
        if let Some(row) = introspect::lookup(s, token).await? {
            if row.client_id == client.client_id {
                s.store().revoke_request(&row.request_id).await?;
            }
        }
    }
    Ok(())
}
