//! The public port's routes and handlers: token, revocation, userinfo, discovery, JWKS,
//! dynamic client registration, the verifiable-credentials endpoint (which refuses: Quartet
//! issues none) and the fallback pages; `/oauth2/auth` and `/oauth2/sessions/logout` are
//! `browser`'s. Each handler reads the request, calls the capability that answers it, and
//! writes Hydra's wire shape; the discovery document's DTO lives here.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use super::client::Origin;
use super::client_registry;
use super::error::{Error, Result};
use super::form::Form;
use super::introspect;
use super::service::Oauth2;
use super::settings::ID_TOKEN_SET;
use super::token::Kind;
use super::token_endpoint;
use super::userinfo::{self, UserInfo};
use super::wire::{authorization, bearer, content_type, json_body, no_store, token_json};

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
        .route(
            "/oauth2/auth",
            get(super::browser::authorize).post(super::browser::authorize),
        )
        .route(
            "/oauth2/sessions/logout",
            get(super::browser::logout).post(super::browser::logout),
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

async fn token(State(s): State<Oauth2>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    let form = Form::from_post(content_type(&headers), body).await?;
    let answer = token_endpoint::token(&s, authorization(&headers), &form).await?;
    Ok(token_json(answer))
}

async fn revoke(State(s): State<Oauth2>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    let Ok(form) = Form::from_post(content_type(&headers), body).await else {
        return Err(Error::InvalidRequest(String::new()));
    };
    token_endpoint::revoke(&s, authorization(&headers), &form).await?;
    let mut r = StatusCode::OK.into_response();
    no_store(&mut r);
    Ok(r)
}

async fn userinfo(State(s): State<Oauth2>, headers: HeaderMap) -> Response {
    let token = bearer(&headers).unwrap_or_default();
    match userinfo::userinfo(&s, &token).await {
        Ok(UserInfo::Claims(claims)) => axum::Json(Value::Object(claims)).into_response(),
        Ok(UserInfo::Jwt(jwt)) => {
            let mut r = jwt.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jwt"),
            );
            r
        }
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

async fn discovery(State(s): State<Oauth2>) -> Result<Response> {
    let issuer = s.issuer();
    let base = s.public_base();
    let root = issuer.trim_end_matches('/');
    let d = &s.settings().discovery;
    let alg = s
        .keys()
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
    let keys = s.keys().published(&s.settings().broadcast_keys).await?;
    Ok(axum::Json(json!({ "keys": keys })).into_response())
}

async fn register(State(s): State<Oauth2>, body: Bytes) -> Result<Response> {
    if !s.settings().dcr_enabled {
        return Err(Error::RegistrationDisabled);
    }
    let doc = json_body(&body)?;
    if chooses_secret(&doc) {
        return Err(Error::BadRequest(CHOSEN_SECRET.into()));
    }
    let c = client_registry::create(&s, doc, Origin::Dynamic).await?;
    Ok((StatusCode::CREATED, axum::Json(c)).into_response())
}

const CHOSEN_SECRET: &str = "It is not allowed to choose your own OAuth2 Client secret.";

/// Whether a registration document brings its own `client_secret` (Hydra refuses it).
fn chooses_secret(doc: &Value) -> bool {
    doc.get("client_secret")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
}

async fn get_registered(
    State(s): State<Oauth2>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let stored = client_registry::registered(&s, bearer(&headers), &id).await?;
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
    let stored = client_registry::registered(&s, bearer(&headers), &id).await?;
    let doc = json_body(&body)?;
    if chooses_secret(&doc) {
        return Err(Error::Forbidden(CHOSEN_SECRET.into()));
    }
    let c = client_registry::replace_registered(&s, stored, &id, doc).await?;
    Ok(axum::Json(c).into_response())
}

async fn delete_registered(
    State(s): State<Oauth2>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    client_registry::registered(&s, bearer(&headers), &id).await?;
    client_registry::delete(&s, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /credentials` (OpenID4VCI draft 00). Quartet issues no verifiable credentials: the
/// bearer access token and the request body are checked in Hydra's order and with its errors,
/// then a well-formed request is refused with `invalid_request` (docs/oauth2.md).
async fn credentials(State(s): State<Oauth2>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    let inactive =
        || Error::RequestUnauthorized("The access token is inactive, expired or unknown.".into());
    let token = bearer(&headers).ok_or_else(inactive)?;
    match introspect::active(&s, &token).await? {
        Some(row) if row.kind == Kind::Access => {}
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
        _ => return Error::NotFound(page).into_response(),
    };
    super::html::message(text)
}
