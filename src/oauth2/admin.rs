//! The admin port's handlers (`/admin/...`): clients, JSON Web Keys, introspection, token
//! deletion, login/consent/logout requests, consent and login sessions. Wire DTOs live here.

use crate::http::Query;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::client::{self, Client, Origin, Policy};
use super::error::{Error, Result};
use super::flow;
use super::jose;
use super::service::{Form, Oauth2, ACCESS_TOKEN_SET, ID_TOKEN_SET};
use super::trust;
use crate::store::time::rfc3339_seconds as rfc3339;

pub fn routes(state: Oauth2) -> Router {
    Router::new()
        .route("/admin/clients", get(list_clients).post(create_client))
        .route(
            "/admin/clients/{id}",
            get(get_client)
                .put(set_client)
                .patch(patch_client)
                .delete(delete_client),
        )
        .route("/admin/clients/{id}/lifespans", put(set_lifespans))
        .route(
            "/admin/keys/{set}",
            get(get_key_set)
                .post(create_key_set)
                .put(set_key_set)
                .delete(delete_key_set),
        )
        .route(
            "/admin/keys/{set}/{kid}",
            get(get_key).put(set_key).delete(delete_key),
        )
        .route("/admin/oauth2/introspect", post(introspect))
        .route("/admin/oauth2/tokens", axum::routing::delete(delete_tokens))
        .route("/admin/oauth2/auth/requests/login", get(flow::get_login))
        .route(
            "/admin/oauth2/auth/requests/login/accept",
            put(flow::accept_login),
        )
        .route(
            "/admin/oauth2/auth/requests/login/reject",
            put(flow::reject_login),
        )
        .route(
            "/admin/oauth2/auth/requests/consent",
            get(flow::get_consent),
        )
        .route(
            "/admin/oauth2/auth/requests/consent/accept",
            put(flow::accept_consent),
        )
        .route(
            "/admin/oauth2/auth/requests/consent/reject",
            put(flow::reject_consent),
        )
        .route("/admin/oauth2/auth/requests/logout", get(flow::get_logout))
        .route(
            "/admin/oauth2/auth/requests/logout/accept",
            put(flow::accept_logout),
        )
        .route(
            "/admin/oauth2/auth/requests/logout/reject",
            put(flow::reject_logout),
        )
        .route(
            "/admin/oauth2/auth/sessions/consent",
            get(flow::list_consent_sessions).delete(flow::revoke_consent_sessions),
        )
        .route(
            "/admin/oauth2/auth/sessions/login",
            axum::routing::delete(flow::revoke_login_sessions),
        )
        .route(
            "/admin/trust/grants/jwt-bearer/issuers",
            get(list_grants).post(create_grant),
        )
        .route(
            "/admin/trust/grants/jwt-bearer/issuers/{id}",
            get(get_grant).delete(delete_grant),
        )
        .layer(axum::middleware::map_response(no_cache))
        .with_state(state)
}

async fn no_cache(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache, no-store, must-revalidate"),
    );
    response
}

/// Parses a JSON body into a value with Hydra's error shape on failure.
pub fn json_body(bytes: &Bytes) -> Result<Value> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::BadRequest(format!("Unable to decode the request body as JSON: {e}")))
}

pub fn client_policy(s: &Oauth2, dcr: bool) -> (Vec<String>, Vec<String>, bool) {
    let _ = dcr;
    (
        s.settings().dcr_default_scope.clone(),
        s.settings().subject_types.clone(),
        s.settings().dev,
    )
}

/// Validates, fills server-side fields, hashes the secret and stores a new client. Returns the
/// client with its plain secret (the only time it is ever shown).
pub async fn create(s: &Oauth2, body: Value, origin: Origin) -> Result<Client> {
    let mut c = Client::from_json(body)?;
    let (scope, types, dev) = client_policy(s, origin == Origin::Dynamic);
    c.validate(
        origin,
        &Policy {
            default_scope: &scope,
            subject_types: &types,
            dev,
        },
    )?;
    s.validate_client_addresses(&c).await?;
    s.validate_sector_identifier(&c).await?;
    if origin == Origin::Dynamic || c.client_id.is_empty() {
        c.client_id = uuid::Uuid::new_v4().to_string();
    }
    let secret = if c.is_public() {
        None
    } else {
        Some(
            c.client_secret
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(client::generate_secret),
        )
    };
    let hash = match &secret {
        Some(sec) => s.hash_secret(sec.clone()).await?,
        None => String::new(),
    };
    let (rat, rat_sig) = s.hmac().generate(super::token::Kind::Access);
    let now = s.now_micros();
    c.created_at = rfc3339(now);
    c.updated_at = rfc3339(now);
    c.client_secret = None;
    s.store()
        .insert_client(&c, &hash, &super::token::storage_key(&rat_sig), now)
        .await?;
    c.client_secret = secret;
    c.registration_access_token = Some(rat);
    c.registration_client_uri = Some(format!(
        "{}/oauth2/register/{}",
        s.public_base(),
        c.client_id
    ));
    Ok(c)
}

async fn create_client(State(s): State<Oauth2>, body: Bytes) -> Result<Response> {
    let c = create(&s, json_body(&body)?, Origin::Admin).await?;
    let location = format!("{}/admin/clients/{}", s.admin_base(), c.client_id);
    let mut response = (StatusCode::CREATED, axum::Json(c)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ListQuery {
    page_size: Option<String>,
    page_token: Option<String>,
    client_name: Option<String>,
    owner: Option<String>,
}

/// Hydra's token pagination: `page_token` = base64url(`{"offset":"N","v":2}`).
pub fn page_token(offset: i64) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    URL_SAFE_NO_PAD.encode(format!("{{\"offset\":\"{offset}\",\"v\":2}}"))
}

pub fn parse_page(size: Option<&str>, token: Option<&str>) -> Result<(i64, i64)> {
    use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
    use base64::Engine;
    let size = match size.filter(|s| !s.is_empty()) {
        None => 250,
        Some(s) => s
            .parse::<i64>()
            .map_err(|_| Error::BadRequest(format!("page_size must be a number, not '{s}'.")))?
            .clamp(1, 1000),
    };
    let offset = match token.filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => {
            let raw = URL_SAFE_NO_PAD
                .decode(t.trim_end_matches('='))
                .or_else(|_| URL_SAFE.decode(t))
                .map_err(|_| Error::BadRequest("page_token is malformed.".into()))?;
            let v: Value = serde_json::from_slice(&raw)
                .map_err(|_| Error::BadRequest("page_token is malformed.".into()))?;
            match &v["offset"] {
                Value::String(s) => s.parse().unwrap_or(0),
                Value::Number(n) => n.as_i64().unwrap_or(0),
                _ => 0,
            }
        }
    };
    Ok((size, offset.max(0)))
}

/// `path` with the request's filters kept (Hydra's links keep the other query parameters).
pub fn with_filters(path: &str, filters: &[(&str, Option<&str>)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in filters {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            q.append_pair(k, v);
        }
    }
    let q = q.finish();
    if q.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{q}")
    }
}

/// `Link` (first, next, prev, last) and `X-Total-Count` as Ory's token pagination. `base` is
/// the path, with the request's other query parameters if any ([`with_filters`]).
pub fn paginate(response: &mut Response, base: &str, size: i64, offset: i64, total: i64) {
    let sep = if base.contains('?') { '&' } else { '?' };
    let link = |off: i64, rel: &str| {
        format!(
            "<{base}{sep}page_size={size}&page_token={}>; rel=\"{rel}\"",
            page_token(off)
        )
    };
    let mut links = vec![link(0, "first")];
    // Saturating: the offset comes from the client's page_token (Hydra's Go wraps silently).
    if offset.saturating_add(size) < total {
        links.push(link(offset + size, "next"));
    }
    if offset > 0 {
        links.push(link((offset - size).max(0), "prev"));
    }
    let last = if total == 0 {
        0
    } else {
        ((total - 1) / size) * size
    };
    links.push(link(last, "last"));
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&links.join(",")) {
        h.insert(header::LINK, v);
    }
    h.insert("x-total-count", HeaderValue::from(total));
}

async fn list_clients(State(s): State<Oauth2>, Query(q): Query<ListQuery>) -> Result<Response> {
    let (size, offset) = parse_page(q.page_size.as_deref(), q.page_token.as_deref())?;
    let (clients, total) = s
        .store()
        .list_clients(
            q.client_name.as_deref().unwrap_or(""),
            q.owner.as_deref().unwrap_or(""),
            offset,
            size,
        )
        .await?;
    let mut response = axum::Json(clients).into_response();
    let base = with_filters(
        "/admin/clients",
        &[
            ("client_name", q.client_name.as_deref()),
            ("owner", q.owner.as_deref()),
        ],
    );
    paginate(&mut response, &base, size, offset, total);
    Ok(response)
}

async fn get_client(State(s): State<Oauth2>, Path(id): Path<String>) -> Result<Response> {
    let c = s
        .store()
        .get_client(&id)
        .await?
        .ok_or(Error::ClientNotFound)?;
    Ok(axum::Json(c.client.without_secrets()).into_response())
}

/// Replaces a client; the secret is kept unless the body brings a new one (then echoed).
pub async fn replace(s: &Oauth2, id: &str, body: Value, origin: Origin) -> Result<Client> {
    let stored = s
        .store()
        .get_client(id)
        .await?
        .ok_or(Error::ClientNotFound)?;
    let mut c = Client::from_json(body)?;
    c.client_id = id.to_string();
    let (scope, types, dev) = client_policy(s, false);
    c.validate(
        origin,
        &Policy {
            default_scope: &scope,
            subject_types: &types,
            dev,
        },
    )?;
    s.validate_client_addresses(&c).await?;
    s.validate_sector_identifier(&c).await?;
    let new_secret = c.client_secret.clone().filter(|s| !s.is_empty());
    let hash = match &new_secret {
        Some(sec) => s.hash_secret(sec.clone()).await?,
        None if c.is_public() => String::new(),
        None => stored.secret_hash.clone(),
    };
    c.created_at = stored.client.created_at.clone();
    let now = s.now_micros();
    c.updated_at = rfc3339(now);
    c.client_secret = None;
    c.registration_access_token = None;
    c.registration_client_uri = None;
    let updated = s
        .store()
        .update_client(&c, &hash, &stored.registration_key, now)
        .await?;
    s.forget_client_secrets(id);
    if !updated {
        return Err(Error::ClientNotFound);
    }
    c.client_secret = new_secret;
    Ok(c)
}

async fn set_client(
    State(s): State<Oauth2>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    Ok(axum::Json(replace(&s, &id, json_body(&body)?, Origin::Admin).await?).into_response())
}

async fn patch_client(
    State(s): State<Oauth2>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let patch: json_patch::Patch = serde_json::from_slice(&body).map_err(|e| {
        Error::BadRequest(format!(
            "The body must be an RFC 6902 JSON Patch array: {e}"
        ))
    })?;
    let stored = s
        .store()
        .get_client(&id)
        .await?
        .ok_or(Error::ClientNotFound)?;
    let mut doc = serde_json::to_value(stored.client.without_secrets())
        .map_err(|e| Error::Internal(e.to_string()))?;
    json_patch::patch(&mut doc, &patch)
        .map_err(|e| Error::BadRequest(format!("Unable to apply the JSON Patch: {e}")))?;
    if doc.get("client_id").and_then(Value::as_str) != Some(id.as_str()) {
        return Err(Error::BadRequest(
            "Field client_id can not be patched.".into(),
        ));
    }
    Ok(axum::Json(replace(&s, &id, doc, Origin::Admin).await?).into_response())
}

async fn set_lifespans(
    State(s): State<Oauth2>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let lifespans = json_body(&body)?;
    let stored = s
        .store()
        .get_client(&id)
        .await?
        .ok_or(Error::ClientNotFound)?;
    let mut doc = serde_json::to_value(stored.client.without_secrets())
        .map_err(|e| Error::Internal(e.to_string()))?;
    for field in client::LIFESPANS {
        if let Some(v) = lifespans.get(field) {
            doc[field] = v.clone();
        }
    }
    Ok(axum::Json(replace(&s, &id, doc, Origin::Admin).await?).into_response())
}

async fn delete_client(State(s): State<Oauth2>, Path(id): Path<String>) -> Result<StatusCode> {
    let deleted = s.store().delete_client(&id).await?;
    s.forget_client_secrets(&id);
    if deleted {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::ClientNotFound)
    }
}

// --- keys ------------------------------------------------------------------------------------

fn jwks(keys: &[josekit::jwk::Jwk]) -> Value {
    json!({ "keys": keys.iter().map(jose::to_value).collect::<Vec<_>>() })
}

async fn get_key_set(State(s): State<Oauth2>, Path(set): Path<String>) -> Result<Response> {
    let keys = s.key_set(&set).await?;
    if keys.is_empty() {
        return Err(Error::NotFound(format!(
            "The JSON Web Key Set '{set}' does not exist."
        )));
    }
    Ok(axum::Json(jwks(&keys)).into_response())
}

async fn create_key_set(
    State(s): State<Oauth2>,
    Path(set): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let v = json_body(&body)?;
    let alg = v
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let use_ = v
        .get("use")
        .and_then(Value::as_str)
        .unwrap_or("sig")
        .to_string();
    let kid = v
        .get("kid")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if alg.is_empty() {
        return Err(Error::BadRequest(
            "Field alg is required, e.g. RS256 or ES256.".into(),
        ));
    }
    let mut jwk = s.generate_key(&alg, &kid).await?;
    if !use_.is_empty() {
        jwk.set_key_use(use_);
    }
    s.store_keys(&set, std::slice::from_ref(&jwk), false)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(jwks(&[jwk]))).into_response())
}

/// A signing key written to `set` must be usable: its material fits its `alg` (a verifier
/// builds from it, and a signer too when it has a private part), and the sets Quartet signs
/// with (`hydra.openid.id-token`, `hydra.jwt.access-token`) take private keys only — a public
/// key there would be the newest and fail every token with a 500 (Hydra would generate a new
/// private key behind it; Quartet refuses the write instead, docs/oauth2.md).
fn check_usable(set: &str, jwk: &josekit::jwk::Jwk) -> Result<()> {
    if jwk.key_use() != Some("sig") || jwk.key_type() == "oct" {
        return Ok(());
    }
    let kid = jwk.key_id().unwrap_or_default();
    let alg = jwk.algorithm().unwrap_or_default();
    let private = jwk.parameter("d").is_some();
    let public = jose::public(jwk);
    let verifies = public
        .as_ref()
        .is_some_and(|p| jose::verifier(p, alg).is_some());
    if !verifies || (private && jose::SigningKey::new(jwk.clone()).is_err()) {
        return Err(Error::BadRequest(format!(
            "The JSON Web Key '{kid}' is not a usable {alg} key: its key material is missing or \
             malformed."
        )));
    }
    if !private && (set == ID_TOKEN_SET || set == ACCESS_TOKEN_SET) {
        return Err(Error::BadRequest(format!(
            "The JSON Web Key '{kid}' has no private part, but set '{set}' signs tokens: write \
             its private key (the public one is published from it)."
        )));
    }
    Ok(())
}

fn parse_jwk(v: &Value) -> Result<josekit::jwk::Jwk> {
    let map = v
        .as_object()
        .cloned()
        .ok_or_else(|| Error::BadRequest("A JSON Web Key must be an object.".into()))?;
    let jwk = josekit::jwk::Jwk::from_map(map)
        .map_err(|e| Error::BadRequest(format!("Invalid JSON Web Key: {e}")))?;
    if jwk.key_id().is_none_or(str::is_empty)
        || jwk.algorithm().is_none_or(str::is_empty)
        || jwk.key_use().is_none_or(str::is_empty)
    {
        return Err(Error::BadRequest(
            "A JSON Web Key needs kid, alg and use.".into(),
        ));
    }
    Ok(jwk)
}

async fn set_key_set(
    State(s): State<Oauth2>,
    Path(set): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let v = json_body(&body)?;
    let keys = v
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::BadRequest("Field keys must be an array of JSON Web Keys.".into()))?;
    let keys = keys.iter().map(parse_jwk).collect::<Result<Vec<_>>>()?;
    for key in &keys {
        check_usable(&set, key)?;
    }
    s.store_keys(&set, &keys, true).await?;
    Ok(axum::Json(jwks(&keys)).into_response())
}

async fn delete_key_set(State(s): State<Oauth2>, Path(set): Path<String>) -> Result<StatusCode> {
    s.store().delete_keys(&set, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_key(
    State(s): State<Oauth2>,
    Path((set, kid)): Path<(String, String)>,
) -> Result<Response> {
    let keys: Vec<_> = s
        .key_set(&set)
        .await?
        .into_iter()
        .filter(|k| k.key_id() == Some(kid.as_str()))
        .collect();
    if keys.is_empty() {
        return Err(Error::NotFound(format!(
            "The JSON Web Key '{kid}' does not exist in set '{set}'."
        )));
    }
    Ok(axum::Json(jwks(&keys)).into_response())
}

async fn set_key(
    State(s): State<Oauth2>,
    Path((set, kid)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    let jwk = parse_jwk(&json_body(&body)?)?;
    if jwk.key_id() != Some(kid.as_str()) {
        return Err(Error::BadRequest(
            "The key's kid must equal the kid in the path.".into(),
        ));
    }
    check_usable(&set, &jwk)?;
    s.store_keys(&set, std::slice::from_ref(&jwk), false)
        .await?;
    Ok(axum::Json(jose::to_value(&jwk)).into_response())
}

async fn delete_key(
    State(s): State<Oauth2>,
    Path((set, kid)): Path<(String, String)>,
) -> Result<StatusCode> {
    s.store().delete_keys(&set, Some(&kid)).await?;
    Ok(StatusCode::NO_CONTENT)
}

// --- tokens ----------------------------------------------------------------------------------

/// `POST /admin/oauth2/introspect`. Public so that the composition root can call it in-process
/// for the proxy's oauth2_introspection (same answer, no HTTP hop).
pub async fn introspect(
    State(s): State<Oauth2>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let form = Form::from_post(&headers, body).await?;
    // Hydra: only an empty body is an error; a body without a token introspects nothing.
    if form.0.is_empty() {
        return Err(Error::InvalidRequest(
            "The POST body can not be empty.".into(),
        ));
    }
    let token = form.get("token").unwrap_or("");
    let inactive = || Ok(axum::Json(json!({"active": false})).into_response());
    if token.is_empty() {
        return inactive();
    }
    let Some(active) = s.active_token(token).await? else {
        return inactive();
    };
    let row = active.row;
    let session: super::service::GrantSession =
        serde_json::from_str(&row.session).unwrap_or_default();
    let wanted = form.list("scope");
    if !wanted.iter().all(|w| {
        s.settings()
            .scope_strategy
            .allows(&session.granted_scope, w)
    }) {
        return inactive();
    }
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
    out.insert("iss".into(), json!(s.issuer()));
    out.insert("token_type".into(), json!("Bearer"));
    out.insert("token_use".into(), json!(row.kind));
    if let Value::Object(ext) = &session.ext {
        if !ext.is_empty() {
            out.insert("ext".into(), Value::Object(ext.clone()));
        }
    }
    Ok(axum::Json(Value::Object(out)).into_response())
}

#[derive(Deserialize)]
struct DeleteTokens {
    client_id: Option<String>,
}

async fn delete_tokens(
    State(s): State<Oauth2>,
    Query(q): Query<DeleteTokens>,
) -> Result<StatusCode> {
    let id = q
        .client_id
        .filter(|c| !c.is_empty())
        .ok_or_else(|| Error::BadRequest("Query parameter client_id is required.".into()))?;
    s.store().delete_access_tokens_of_client(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// --- trusted jwt-bearer issuers --------------------------------------------------------------

/// Hydra's `trustedOAuth2JwtGrantIssuer`.
fn grant_json(g: &trust::Grant) -> Value {
    json!({
        "id": g.id,
        "issuer": g.issuer,
        "subject": g.subject,
        "allow_any_subject": g.allow_any_subject,
        "scope": g.scope,
        "public_key": {"set": g.key_set, "kid": g.key_id},
        "created_at": rfc3339(g.created_at),
        "expires_at": rfc3339(g.expires_at),
    })
}

async fn create_grant(State(s): State<Oauth2>, body: Bytes) -> Result<Response> {
    let req = trust::CreateGrant::parse(&json_body(&body)?)?;
    let jwk = josekit::jwk::Jwk::from_map(req.jwk.clone())
        .map_err(|e| Error::BadRequest(format!("Field 'jwk' is not a valid JSON Web Key: {e}")))?;
    let now = s.now_micros();
    let grant = trust::Grant {
        id: uuid::Uuid::new_v4().to_string(),
        issuer: req.issuer.clone(),
        subject: req.subject,
        allow_any_subject: req.allow_any_subject,
        scope: req.scope,
        key_set: req.issuer,
        key_id: req.kid,
        created_at: now - now.rem_euclid(1_000_000),
        expires_at: req.expires_at,
    };
    let sealed = s.seal(jwk.to_string().as_bytes())?;
    s.store().insert_grant(&grant, &sealed).await?;
    let mut response = (StatusCode::CREATED, axum::Json(grant_json(&grant))).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/trust/grants/jwt-bearer/issuers/{}", grant.id))
    {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GrantQuery {
    page_size: Option<String>,
    page_token: Option<String>,
    issuer: Option<String>,
}

async fn list_grants(State(s): State<Oauth2>, Query(q): Query<GrantQuery>) -> Result<Response> {
    let (size, offset) = parse_page(q.page_size.as_deref(), q.page_token.as_deref())?;
    let (grants, total) = s
        .store()
        .list_grants(q.issuer.as_deref().unwrap_or(""), offset, size)
        .await?;
    let mut response =
        axum::Json(grants.iter().map(grant_json).collect::<Vec<_>>()).into_response();
    let base = with_filters(
        "/admin/trust/grants/jwt-bearer/issuers",
        &[("issuer", q.issuer.as_deref())],
    );
    paginate(&mut response, &base, size, offset, total);
    Ok(response)
}

async fn get_grant(State(s): State<Oauth2>, Path(id): Path<String>) -> Result<Response> {
    let g = s.store().get_grant(&id).await?.ok_or(Error::NoRows(id))?;
    Ok(axum::Json(grant_json(&g)).into_response())
}

async fn delete_grant(State(s): State<Oauth2>, Path(id): Path<String>) -> Result<StatusCode> {
    if s.store().delete_grant(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::NoRows(id))
    }
}

/// Reads the bearer token of a request.
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let h = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = h.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}
