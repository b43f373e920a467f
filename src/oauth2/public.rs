//! The public port's handlers: token endpoint (authorization_code with PKCE S256,
//! refresh_token with rotation and replay detection, client_credentials, jwt-bearer; each
//! through the configured token hooks before it issues), revocation,
//! userinfo, discovery, JWKS, dynamic client registration, the verifiable-credentials endpoint
//! (which refuses: Quartet issues none) and the fallback pages.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::admin::{bearer, create, json_body, replace};
use super::client::{Client, Origin};
use super::error::{Error, Result};
use super::flow;
use super::service::{Form, GrantSession, Oauth2, ID_TOKEN_SET};
use super::token::{storage_key, Kind};
use super::token_hook::RequestView;
use super::trust;

pub fn routes(state: Oauth2) -> Router {
    // Hydra's OAuth2-aware CORS: the endpoints a browser application calls also allow the
    // origins of the client the request names (the layer only exists with CORS enabled).
    let mut per_client_cors = Router::new()
        .route("/oauth2/token", post(token))
        .route("/oauth2/revoke", post(revoke))
        .route("/userinfo", get(userinfo).post(userinfo))
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/credentials", post(credentials));
    if state.settings().public_cors.is_some() {
        per_client_cors = per_client_cors.route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::client_cors::allow_client_origins,
        ));
    }
    Router::new()
        .route("/oauth2/auth", get(flow::authorize).post(flow::authorize))
        .route(
            "/oauth2/sessions/logout",
            get(flow::logout).post(flow::logout),
        )
        .route("/oauth2/register", post(register))
        .route(
            "/oauth2/register/{id}",
            get(get_registered)
                .put(set_registered)
                .delete(delete_registered),
        )
        .route("/oauth2/fallbacks/{page}", get(fallback))
        .route(
            "/oauth2/fallbacks/logout/callback",
            get(|| async { super::html::message("You have been logged out.") }),
        )
        .merge(per_client_cors)
        .with_state(state)
}

fn token_json(v: Value) -> Response {
    let mut r = axum::Json(v).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

async fn token(State(s): State<Oauth2>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    let form = Form::from_post(&headers, body).await?;
    if form.0.is_empty() {
        return Err(Error::InvalidRequest(
            "The POST body can not be empty.".into(),
        ));
    }
    if let Some(dup) = form.duplicate(&[
        "grant_type",
        "code",
        "redirect_uri",
        "refresh_token",
        "scope",
        "code_verifier",
        "client_id",
        "client_secret",
        "assertion",
    ]) {
        return Err(Error::InvalidRequest(format!(
            "The parameter '{dup}' must not be included more than once."
        )));
    }
    let grant = form.get("grant_type").unwrap_or("").to_string();
    if grant.is_empty() {
        return Err(Error::InvalidRequest(
            "Request parameter 'grant_type' is missing".into(),
        ));
    }
    if !matches!(
        grant.as_str(),
        "authorization_code" | "refresh_token" | "client_credentials" | trust::GRANT_TYPE
    ) {
        // fosite: no handler takes the request, so it is a bare invalid_request, answered
        // before the client's credentials count (Hydra 2.2 has no password grant).
        return Err(Error::InvalidRequest(String::new()));
    }
    // With a token hook, the client is read fresh so that the hook is called once per request.
    if grant == "client_credentials" && s.settings().token_hook.is_none() {
        if let Some(answer) = client_credentials_for_recent_client(&s, &headers, &form).await {
            return Ok(answer);
        }
    }
    let client = s.authenticate_client(&headers, &form).await?;
    // client_credentials checks its grant type last (fosite's handler), the others first.
    if grant != "client_credentials" && !client.effective_grant_types().contains(&grant) {
        // fosite's handlers quote the grant differently.
        let quoted = match grant.as_str() {
            "authorization_code" | trust::GRANT_TYPE => format!("\"{grant}\""),
            _ => format!("'{grant}'"),
        };
        return Err(Error::UnauthorizedClient(format!(
            "The OAuth 2.0 Client is not allowed to use authorization grant {quoted}."
        )));
    }
    match grant.as_str() {
        "client_credentials" => client_credentials(&s, &client, &form, None).await,
        "authorization_code" => authorization_code(&s, &client, &form).await,
        trust::GRANT_TYPE => jwt_bearer(&s, &client, &form).await,
        _ => refresh(&s, &client, &form).await,
    }
}

/// client_credentials for a client this process read earlier and whose secret it verified
/// before (no database read, no PBKDF2), its token stored only if the client has not changed
/// since. `None` — no such copy, or any failure, a changed client included — and the request
/// is answered from a fresh read instead: only a stored token is ever answered from the copy.
async fn client_credentials_for_recent_client(
    s: &Oauth2,
    headers: &HeaderMap,
    form: &Form,
) -> Option<Response> {
    let stored = s.recently_authenticated_client(headers, form)?;
    match client_credentials(s, &stored.client, form, Some(stored.revision)).await {
        Ok(answer) => Some(answer),
        Err(_) => {
            s.forget_recent_client(&stored.client.client_id);
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
) -> Result<Response> {
    let mut scopes = form.list("scope");
    if scopes.is_empty() && s.settings().default_grant_allowed_scope {
        scopes = client.scopes();
    }
    s.check_scopes(client, &scopes)?;
    let audience = form.list("audience");
    s.check_audience(client, &audience)?;
    if client.is_public() {
        return Err(Error::InvalidGrant("The OAuth 2.0 Client is marked as public and is thus not allowed to use authorization grant 'client_credentials'.".into()));
    }
    if !client
        .effective_grant_types()
        .iter()
        .any(|g| g == "client_credentials")
    {
        return Err(Error::UnauthorizedClient(
            "The OAuth 2.0 Client is not allowed to use authorization grant 'client_credentials'."
                .into(),
        ));
    }
    let mut session = GrantSession {
        client_id: client.client_id.clone(),
        subject: client.client_id.clone(),
        granted_scope: scopes.clone(),
        granted_audience: audience,
        requested_at: s.now_secs(),
        ext: json!({}),
        id_token: json!({}),
        ..GrantSession::default()
    };
    let request = RequestView {
        client_id: &client.client_id,
        grant_type: "client_credentials",
        assertion: None,
    };
    s.run_token_hooks(&mut session, &request, false).await?;
    let ttl = s.lifespan(
        client,
        "client_credentials_grant_access_token_lifespan",
        s.settings().access_ttl,
    );
    // Time-ordered (UUIDv7): the request_id index grows at its right edge instead of
    // touching a random page per token (on SQLite, ~20 % more tokens/s between checkpoints).
    let request_id = uuid::Uuid::now_v7().to_string();
    let at = s
        .issue_access_token_for_revision(client, &session, &request_id, ttl, client_revision)
        .await?;
    Ok(token_json(
        json!({"access_token": at, "expires_in": ttl.as_secs(), "scope": scopes.join(" "), "token_type": "bearer"}),
    ))
}

/// RFC 7523 (fosite `handler/rfc7523`): the authenticated client presents an assertion signed
/// by a trusted issuer; the token's subject is the assertion's `sub`, its audience the
/// assertion's `aud` (plus requested audiences the client may use), its scopes those requested
/// within the trust relationship. No refresh token.
async fn jwt_bearer(s: &Oauth2, client: &Client, form: &Form) -> Result<Response> {
    let assertion = form
        .get("assertion")
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            Error::InvalidRequest(format!(
                "The assertion request parameter must be set when using grant_type of '{}'.",
                trust::GRANT_TYPE
            ))
        })?;
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
    let unverified = decode(p).ok_or_else(|| {
        Error::InvalidGrant(
            "Looks like there are no claims in JWT in \"assertion\" request parameter.".into(),
        )
    })?;
    let (issuer, subject) = trust::issuer_and_subject(&unverified)?;
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty());
    let trusted = s.trusted_keys(&issuer, &subject, kid).await?;
    let no_key = || {
        Error::InvalidGrant(format!("No public JWK was registered for issuer \"{issuer}\" and subject \"{subject}\", and public key is required to check signature of JWT in \"assertion\" request parameter."))
    };
    if trusted.is_empty() {
        return Err(no_key());
    }
    let mut verified = None;
    for (grant, jwk) in &trusted {
        let Some(public) = super::jose::public(jwk) else {
            continue;
        };
        if let Some((_, claims)) = super::jose::verify(assertion, std::slice::from_ref(&public)) {
            verified = Some((grant, claims));
            break;
        }
    }
    let Some((grant, claims)) = verified else {
        return Err(if kid.is_some() {
            Error::InvalidGrant("Unable to verify the integrity of the 'assertion' value.".into())
        } else {
            no_key()
        });
    };
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
        if !s
            .store()
            .use_jti(
                &format!("jwt-bearer:{issuer}:{jti}"),
                exp.saturating_mul(1_000_000),
                s.now_micros(),
            )
            .await?
        {
            return Err(Error::Rejected {
                error: "jti_known".into(),
                description: "The jti was already used.".into(),
                status: 400,
            });
        }
    }
    let mut audience: Vec<String> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    for a in form.list("audience") {
        if super::strategy::audience_allowed(&client.audience, &a) && !audience.contains(&a) {
            audience.push(a);
        }
    }
    let mut session = GrantSession {
        client_id: client.client_id.clone(),
        subject: subject.clone(),
        granted_scope: scopes.clone(),
        granted_audience: audience,
        requested_at: s.now_secs(),
        ext: json!({}),
        id_token: json!({}),
        ..GrantSession::default()
    };
    let request = RequestView {
        client_id: &client.client_id,
        grant_type: trust::GRANT_TYPE,
        assertion: Some(assertion),
    };
    s.run_token_hooks(&mut session, &request, false).await?;
    let ttl = s.lifespan(
        client,
        "jwt_bearer_grant_access_token_lifespan",
        s.settings().access_ttl,
    );
    let request_id = uuid::Uuid::now_v7().to_string();
    let at = s
        .issue_access_token(client, &session, &request_id, ttl)
        .await?;
    Ok(token_json(
        json!({"access_token": at, "expires_in": ttl.as_secs(), "scope": scopes.join(" "), "token_type": "bearer"}),
    ))
}

/// fosite's PKCE handler at the token endpoint: nothing to check without a challenge and a
/// verifier; else the verifier's length and alphabet, then the S256 comparison (with no
/// challenge stored, any verifier fails it).
fn check_code_verifier(challenge: &str, verifier: &str) -> Result<()> {
    if challenge.is_empty() && verifier.is_empty() {
        return Ok(());
    }
    let invalid = |hint: &str| Err(Error::InvalidGrant(hint.into()));
    if verifier.len() < 43 {
        return invalid("The PKCE code verifier must be at least 43 characters.");
    }
    if verifier.len() > 128 {
        return invalid("The PKCE code verifier can not be longer than 128 characters.");
    }
    if !verifier
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    {
        return invalid(
            "The PKCE code verifier must only contain [a-Z], [0-9], '-', '.', '_', '~'.",
        );
    }
    let derived = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if !crate::crypto::constant_time_eq(derived.as_bytes(), challenge.as_bytes()) {
        return invalid("The PKCE code challenge did not match the code verifier.");
    }
    Ok(())
}

async fn issue_tokens(
    s: &Oauth2,
    client: &Client,
    session: &GrantSession,
    request_id: &str,
    grant: &str,
) -> Result<Response> {
    let (at_field, rt_field, id_field) = if grant == "authorization_code" {
        (
            "authorization_code_grant_access_token_lifespan",
            "authorization_code_grant_refresh_token_lifespan",
            "authorization_code_grant_id_token_lifespan",
        )
    } else {
        (
            "refresh_token_grant_access_token_lifespan",
            "refresh_token_grant_refresh_token_lifespan",
            "refresh_token_grant_id_token_lifespan",
        )
    };
    let at_ttl = s.lifespan(client, at_field, s.settings().access_ttl);
    let at = s
        .issue_access_token(client, session, request_id, at_ttl)
        .await?;
    let mut out = Map::new();
    out.insert("access_token".into(), json!(at));
    out.insert("expires_in".into(), json!(at_ttl.as_secs()));
    let offline = session
        .granted_scope
        .iter()
        .any(|sc| sc == "offline" || sc == "offline_access");
    if offline
        && client
            .effective_grant_types()
            .iter()
            .any(|g| g == "refresh_token")
    {
        let rt_ttl = match client
            .lifespan(rt_field)
            .and_then(super::strategy::parse_duration)
        {
            Some(d) => Some(d),
            None => s.settings().refresh_ttl,
        };
        let rt = s
            .issue_opaque(Kind::Refresh, client, session, request_id, rt_ttl)
            .await?;
        out.insert("refresh_token".into(), json!(rt));
    }
    if session.granted_scope.iter().any(|sc| sc == "openid") {
        let id_ttl = s.lifespan(client, id_field, s.settings().id_ttl);
        out.insert(
            "id_token".into(),
            json!(s.id_token(client, session, Some(&at), None, id_ttl).await?),
        );
    }
    out.insert("scope".into(), json!(session.granted_scope.join(" ")));
    out.insert("token_type".into(), json!("bearer"));
    Ok(token_json(Value::Object(out)))
}

async fn authorization_code(s: &Oauth2, client: &Client, form: &Form) -> Result<Response> {
    // fosite's order and hints: unknown (no hint), used (the grant revoked), expired (no
    // hint), another client's, another redirect_uri, then the PKCE handler.
    let code = form.get("code").unwrap_or("");
    let unknown = || Error::InvalidGrant(String::new());
    let sig = s.hmac().validate(Kind::Code, code).ok_or_else(unknown)?;
    let key = storage_key(&sig);
    let row = s
        .store()
        .get_token(&key)
        .await?
        .filter(|r| r.kind == Kind::Code.as_str())
        .ok_or_else(unknown)?;
    if !row.active {
        s.store().revoke_request(&row.request_id).await?;
        return Err(Error::InvalidGrant(
            "The authorization code has already been used.".into(),
        ));
    }
    if row.expires_at < s.now_micros() {
        return Err(unknown());
    }
    if row.client_id != client.client_id {
        return Err(Error::InvalidGrant("The OAuth 2.0 Client ID from this request does not match the one from the authorize request.".into()));
    }
    let mut session: GrantSession =
        serde_json::from_str(&row.session).map_err(|e| Error::Internal(e.to_string()))?;
    if !session.redirect_uri.is_empty()
        && form.get("redirect_uri") != Some(session.redirect_uri.as_str())
    {
        return Err(Error::InvalidGrant("The \"redirect_uri\" from this request does not match the one from the authorize request.".into()));
    }
    check_code_verifier(
        &session.code_challenge,
        form.get("code_verifier").unwrap_or(""),
    )?;
    // Hydra's hooks run before fosite spends the code: a refused request leaves it usable.
    let request = RequestView {
        client_id: &client.client_id,
        grant_type: "authorization_code",
        assertion: None,
    };
    s.run_token_hooks(&mut session, &request, true).await?;
    if !s.store().deactivate_token(&key).await? {
        s.store().revoke_request(&row.request_id).await?;
        return Err(Error::InvalidGrant(
            "The authorization code has already been used.".into(),
        ));
    }
    issue_tokens(s, client, &session, &row.request_id, "authorization_code").await
}

async fn refresh(s: &Oauth2, client: &Client, form: &Form) -> Result<Response> {
    // fosite's order and hints: unknown (no hint), reused (token_inactive, the grant
    // revoked), expired (no hint), another client's, then the granted scopes and audiences
    // against what the client may have now.
    let token = form.get("refresh_token").unwrap_or("");
    let unknown = || Error::InvalidGrant(String::new());
    let sig = s
        .hmac()
        .validate(Kind::Refresh, token)
        .ok_or_else(unknown)?;
    let key = storage_key(&sig);
    let row = s
        .store()
        .get_token(&key)
        .await?
        .filter(|r| r.kind == Kind::Refresh.as_str())
        .ok_or_else(unknown)?;
    if !row.active {
        s.store().revoke_request(&row.request_id).await?;
        return Err(Error::TokenInactive(String::new()));
    }
    if row.expires_at > 0 && row.expires_at < s.now_micros() {
        return Err(unknown());
    }
    if row.client_id != client.client_id {
        return Err(Error::InvalidGrant("The OAuth 2.0 Client ID from this request does not match the ID during the initial token issuance.".into()));
    }
    let mut granted: GrantSession =
        serde_json::from_str(&row.session).map_err(|e| Error::Internal(e.to_string()))?;
    s.check_scopes(client, &granted.granted_scope)?;
    s.check_audience(client, &granted.granted_audience)?;
    // Before the rotation, as Hydra: a refused request leaves the refresh token usable.
    let request = RequestView {
        client_id: &client.client_id,
        grant_type: "refresh_token",
        assertion: None,
    };
    s.run_token_hooks(&mut granted, &request, true).await?;
    if !s.store().deactivate_token(&key).await? {
        return Err(Error::InvalidRequest("Failed to refresh token because of multiple concurrent requests using the same token which is not allowed.".into()));
    }
    s.store()
        .delete_access_tokens_of_request(&row.request_id)
        .await?;
    let mut session = granted;
    session.requested_at = s.now_secs();
    issue_tokens(s, client, &session, &row.request_id, "refresh_token").await
}

/// RFC 7009 as fosite answers it: only `invalid_request` (an empty body) and `invalid_client`
/// surface, both without a hint; a missing, unknown or another client's token is a 200.
async fn revoke(State(s): State<Oauth2>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    let Ok(form) = Form::from_post(&headers, body).await else {
        return Err(Error::InvalidRequest(String::new()));
    };
    if form.0.is_empty() {
        return Err(Error::InvalidRequest(String::new()));
    }
    let client = match s.authenticate_client(&headers, &form).await {
        Ok(c) => c,
        Err(Error::InvalidClient(_)) => return Err(Error::InvalidClient(String::new())),
        Err(e) => return Err(e),
    };
    let token = form.get("token").unwrap_or("");
    if !token.is_empty() {
        if let Some(row) = s.lookup_token(token, form.get("token_type_hint")).await? {
            if row.client_id == client.client_id {
                s.store().revoke_request(&row.request_id).await?;
            }
        }
    }
    let mut r = StatusCode::OK.into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(r)
}

async fn userinfo(State(s): State<Oauth2>, headers: HeaderMap) -> Response {
    match userinfo_answer(&s, &headers).await {
        Ok(r) => r,
        Err(e) => {
            let (status, error, description) = e.parts();
            let mut r = e.into_response();
            if status == StatusCode::UNAUTHORIZED {
                let challenge =
                    format!("Bearer error=\"{error}\",error_description=\"{description}\"");
                if let Ok(v) = HeaderValue::from_str(&challenge) {
                    r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
            }
            r
        }
    }
}

/// Hydra's `getOidcUserInfo`: fosite's token introspection (an unknown, revoked or inactive
/// token is `request_unauthorized` with fosite's default hint, an expired access token
/// `invalid_token`, a valid refresh token "Only access tokens…"), then the ID-token claims the
/// grant carries — minus `nonce`, `at_hash`, `c_hash`, `exp`, `sid`, `jti`, with the client in
/// `aud` — as JSON, or as a JWT signed with the ID-token key when the client's
/// `userinfo_signed_response_alg` is `RS256`. A grant without an end-user login
/// (client_credentials, jwt-bearer) carries only `iss`, `aud` and `iat`.
async fn userinfo_answer(s: &Oauth2, headers: &HeaderMap) -> Result<Response> {
    let unauthorized = || {
        Error::RequestUnauthorized(
            "Check that you provided valid credentials in the right format.".into(),
        )
    };
    let token = bearer(headers).unwrap_or_default();
    let row = match s.lookup_token(&token, None).await? {
        Some(row) if row.active => row,
        _ => return Err(unauthorized()),
    };
    let expired = row.expires_at > 0 && row.expires_at < s.now_micros();
    if row.kind == Kind::Refresh.as_str() {
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
    let mut claims = userinfo_claims(s, &session);
    if client.userinfo_signed_response_alg == "RS256" {
        claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
        claims.insert("iat".into(), json!(s.now_secs()));
        let jwt = s.sign_with_id_token_key(claims).await?;
        let mut r = jwt.into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/jwt"),
        );
        return Ok(r);
    }
    Ok(axum::Json(Value::Object(claims)).into_response())
}

/// The ID-token claims of a grant as userinfo answers them (see [`userinfo_answer`]).
fn userinfo_claims(s: &Oauth2, session: &GrantSession) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(s.issuer()));
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

async fn discovery(State(s): State<Oauth2>) -> Result<Response> {
    let issuer = s.issuer();
    let base = s.public_base();
    let root = issuer.trim_end_matches('/');
    let d = &s.settings().discovery;
    let alg = s
        .signing_key(ID_TOKEN_SET)
        .await?
        .algorithm()
        .unwrap_or("RS256")
        .to_string();
    let mut claims = vec!["sub".to_string()];
    claims.extend(d.supported_claims.iter().cloned());
    let mut scopes = vec![
        "offline_access".to_string(),
        "offline".into(),
        "openid".into(),
    ];
    scopes.extend(d.supported_scope.iter().cloned());
    let mut doc = json!({
        "issuer": issuer,
        "authorization_endpoint": d.auth_url.clone().unwrap_or_else(|| format!("{base}/oauth2/auth")),
        "token_endpoint": s.token_url(),
        "jwks_uri": d.jwks_url.clone().unwrap_or_else(|| format!("{root}/.well-known/jwks.json")),
        "userinfo_endpoint": d.userinfo_url.clone().unwrap_or_else(|| format!("{base}/userinfo")),
        "revocation_endpoint": format!("{root}/oauth2/revoke"),
        "end_session_endpoint": format!("{root}/oauth2/sessions/logout"),
        "subject_types_supported": s.settings().subject_types,
        "response_types_supported": ["code", "code id_token", "id_token", "token id_token", "token", "token id_token code"],
        "response_modes_supported": ["query", "fragment"],
        "grant_types_supported": ["authorization_code", "implicit", "client_credentials", "refresh_token"],
        "claims_supported": claims,
        "scopes_supported": scopes,
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic", "private_key_jwt", "none"],
        "id_token_signing_alg_values_supported": [alg],
        "id_token_signed_response_alg": [alg],
        "userinfo_signed_response_alg": [alg],
        "userinfo_signing_alg_values_supported": ["none", alg],
        "request_object_signing_alg_values_supported": ["none", "RS256", "ES256"],
        "request_parameter_supported": true,
        "request_uri_parameter_supported": true,
        "require_request_uri_registration": true,
        "claims_parameter_supported": false,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "frontchannel_logout_supported": true,
        "frontchannel_logout_session_supported": true,
        "code_challenge_methods_supported": ["plain", "S256"],
        "credentials_endpoint_draft_00": format!("{base}/credentials"),
        "credentials_supported_draft_00": [{
            "format": "jwt_vc_json",
            "types": ["VerifiableCredential", "UserInfoCredential"],
            "cryptographic_binding_methods_supported": ["jwk"],
            "cryptographic_suites_supported": ["PS256", "RS256", "ES256", "PS384", "RS384", "ES384", "PS512", "RS512", "ES512", "EdDSA"],
        }],
    });
    if let Some(reg) = &d.client_registration_url {
        doc["registration_endpoint"] = json!(reg);
    }
    Ok(axum::Json(doc).into_response())
}

async fn jwks(State(s): State<Oauth2>) -> Result<Response> {
    Ok(axum::Json(json!({"keys": s.published_keys().await?})).into_response())
}

async fn register(State(s): State<Oauth2>, body: Bytes) -> Result<Response> {
    if !s.settings().dcr_enabled {
        return Err(Error::RegistrationDisabled);
    }
    let doc = json_body(&body)?;
    if chooses_secret(&doc) {
        return Err(Error::BadRequest(CHOSEN_SECRET.into()));
    }
    let c = create(&s, doc, Origin::Dynamic).await?;
    Ok((StatusCode::CREATED, axum::Json(c)).into_response())
}

const CHOSEN_SECRET: &str = "It is not allowed to choose your own OAuth2 Client secret.";

/// Whether a registration document brings its own `client_secret` (Hydra refuses it).
fn chooses_secret(doc: &Value) -> bool {
    doc.get("client_secret")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
}

async fn registered(
    s: &Oauth2,
    headers: &HeaderMap,
    id: &str,
) -> Result<super::store::StoredClient> {
    if !s.settings().dcr_enabled {
        return Err(Error::RegistrationDisabled);
    }
    let unauthorized = || Error::Rejected {
        error: "The request could not be authorized".into(),
        description:
            "The requested OAuth 2.0 client does not exist or you provided incorrect credentials."
                .into(),
        status: 401,
    };
    let token = bearer(headers).ok_or_else(unauthorized)?;
    let sig = s
        .hmac()
        .validate(Kind::Access, &token)
        .ok_or_else(unauthorized)?;
    let stored = s.store().get_client(id).await?.ok_or_else(unauthorized)?;
    if !crate::crypto::constant_time_eq(
        storage_key(&sig).as_bytes(),
        stored.registration_key.as_bytes(),
    ) {
        return Err(unauthorized());
    }
    Ok(stored)
}

async fn get_registered(
    State(s): State<Oauth2>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let stored = registered(&s, &headers, &id).await?;
    let mut c = stored.client.without_secrets();
    c.metadata = json!({});
    Ok(axum::Json(c).into_response())
}

async fn set_registered(
    State(s): State<Oauth2>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let stored = registered(&s, &headers, &id).await?;
    let doc = json_body(&body)?;
    if chooses_secret(&doc) {
        return Err(Error::Forbidden(CHOSEN_SECRET.into()));
    }
    let mut c = replace(&s, &id, doc, Origin::Dynamic).await?;
    let (rat, sig) = s.hmac().generate(Kind::Access);
    let hash = s
        .store()
        .get_client(&id)
        .await?
        .map(|c| c.secret_hash)
        .unwrap_or(stored.secret_hash);
    let mut plain = c.clone();
    plain.client_secret = None;
    s.store()
        .update_client(&plain, &hash, &storage_key(&sig), s.now_micros())
        .await?;
    s.forget_client_secrets(&id);
    c.registration_access_token = Some(rat);
    c.registration_client_uri = Some(format!("{}/oauth2/register/{id}", s.public_base()));
    Ok(axum::Json(c).into_response())
}

async fn delete_registered(
    State(s): State<Oauth2>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    registered(&s, &headers, &id).await?;
    s.store().delete_client(&id).await?;
    s.forget_client_secrets(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /credentials` (OpenID4VCI draft 00). Quartet issues no verifiable credentials: the
/// bearer access token and the request body are checked in Hydra's order and with its errors,
/// then a well-formed request is refused with `invalid_request` (docs/oauth2.md).
async fn credentials(State(s): State<Oauth2>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    let inactive =
        || Error::RequestUnauthorized("The access token is inactive, expired or unknown.".into());
    let token = bearer(&headers).ok_or_else(inactive)?;
    match s.active_token(&token).await? {
        Some(a) if a.row.kind == Kind::Access.as_str() => {}
        Some(_) => {
            return Err(Error::InvalidRequest(
                "The provided token is not an access token.".into(),
            ))
        }
        None => return Err(inactive()),
    }
    let request: Value = serde_json::from_slice(&body)
        .map_err(|_| Error::InvalidRequest("Unable to decode request body.".into()))?;
    let format = request.get("format").and_then(Value::as_str).unwrap_or("");
    if format != "jwt_vc_json" {
        return Err(Error::InvalidRequest(format!(
            "The format \"{format}\" is not supported."
        )));
    }
    if request.get("proof").is_none_or(Value::is_null) {
        return Err(Error::InvalidRequest(
            "The request body must contain a proof.".into(),
        ));
    }
    Err(Error::InvalidRequest(
        "Issuing verifiable credentials is not supported by this server.".into(),
    ))
}

async fn fallback(Path(page): Path<String>) -> Response {
    let text = match page.as_str() {
        "login" => "The login provider is not configured yet: set urls.login.",
        "consent" => "The consent provider is not configured yet: set urls.consent.",
        "logout" => "The logout provider is not configured yet: set urls.logout.",
        "error" => "An error occurred; the error and error_description query parameters say which.",
        _ => return super::error::Error::NotFound(page).into_response(),
    };
    super::html::message(text)
}
