//! The admin port's routes (`/admin/...`) and the handlers of clients, JSON Web Keys,
//! introspection, token deletion and trusted jwt-bearer issuers; the login, consent and logout
//! requests and the sessions are `admin_flows`'. Each handler reads the request, calls the
//! capability that answers it, and writes Hydra's wire shape; the DTOs live here.

use crate::http::Query;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use super::admin_flows as flow;
use super::client::Origin;
use super::client_registry;
use super::error::{Error, Result};
use super::form::Form;
use super::jose;
use super::keys::{check_usable, jwks, parse_jwk};
use super::service::Oauth2;
use super::trust;
use super::wire::{content_type, json_body, paginate, parse_page, with_filters};
use crate::store::time::rfc3339_seconds as rfc3339;

/// Ory's page token, as the list endpoints here write it (`wire`).
pub use super::wire::page_token;

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

async fn create_client(State(s): State<Oauth2>, body: Bytes) -> Result<Response> {
    let c = client_registry::create(&s, json_body(&body)?, Origin::Admin).await?;
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
    let c = client_registry::get(&s, &id).await?;
    Ok(axum::Json(c.client.without_secrets()).into_response())
}

async fn set_client(
    State(s): State<Oauth2>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let c = client_registry::replace(&s, &id, json_body(&body)?, Origin::Admin).await?;
    Ok(axum::Json(c).into_response())
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
    Ok(axum::Json(client_registry::patch(&s, &id, &patch).await?).into_response())
}

async fn set_lifespans(
    State(s): State<Oauth2>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let lifespans = json_body(&body)?;
    Ok(axum::Json(client_registry::set_lifespans(&s, &id, &lifespans).await?).into_response())
}

async fn delete_client(State(s): State<Oauth2>, Path(id): Path<String>) -> Result<StatusCode> {
    if client_registry::delete(&s, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::ClientNotFound)
    }
}

// --- keys ------------------------------------------------------------------------------------

async fn get_key_set(State(s): State<Oauth2>, Path(set): Path<String>) -> Result<Response> {
    let keys = s.keys().key_set(&set).await?;
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
    let mut jwk = s.keys().generate_key(&alg, &kid).await?;
    if !use_.is_empty() {
        jwk.set_key_use(use_);
    }
    s.keys()
        .store_keys(&set, std::slice::from_ref(&jwk), false)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(jwks(&[jwk]))).into_response())
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
    s.keys().store_keys(&set, &keys, true).await?;
    Ok(axum::Json(jwks(&keys)).into_response())
}

async fn delete_key_set(State(s): State<Oauth2>, Path(set): Path<String>) -> Result<StatusCode> {
    s.keys().delete(&set, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_key(
    State(s): State<Oauth2>,
    Path((set, kid)): Path<(String, String)>,
) -> Result<Response> {
    let keys: Vec<_> = s
        .keys()
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
    s.keys()
        .store_keys(&set, std::slice::from_ref(&jwk), false)
        .await?;
    Ok(axum::Json(jose::to_value(&jwk)).into_response())
}

async fn delete_key(
    State(s): State<Oauth2>,
    Path((set, kid)): Path<(String, String)>,
) -> Result<StatusCode> {
    s.keys().delete(&set, Some(&kid)).await?;
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
    let form = Form::from_post(content_type(&headers), body).await?;
    // Hydra: only an empty body is an error; a body without a token introspects nothing.
    if form.0.is_empty() {
        return Err(Error::InvalidRequest(
            "The POST body can not be empty.".into(),
        ));
    }
    let answer = super::introspect::introspect(&s, &form).await?;
    Ok(axum::Json(answer).into_response())
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
    let sealed = s.keys().seal(jwk.to_string().as_bytes())?;
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
