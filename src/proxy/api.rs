//! The API port (4456): `GET /rules`, `GET /rules/{id}`, the decision API `/decisions*` for
//! Envoy ext_authz, nginx `auth_request` and Traefik `forwardAuth`, and
//! `/.well-known/jwks.json`. Health and `/version` are added by the kernel.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};

use super::request::PipelineRequest;
use super::rule::Rule;
use super::template::UrlData;
use super::Proxy;
use crate::http::ApiError;

pub fn routes(proxy: Arc<Proxy>) -> Router {
    Router::new()
        .route("/rules", get(list_rules))
        .route("/rules/{id}", get(get_rule))
        .route("/decisions", any(decisions))
        .route("/decisions/{*rest}", any(decisions))
        .route("/.well-known/jwks.json", get(jwks))
        .with_state(proxy)
}

/// ORYX pagination: `limit` default 50 (max 500), `offset` default 0, negatives → 0.
fn page(q: &HashMap<String, String>) -> (usize, usize) {
    let num = |k: &str, d: i64| q.get(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(d);
    let limit = num("limit", 50).clamp(0, 500) as usize;
    let offset = num("offset", 0).max(0) as usize;
    (limit, offset)
}

async fn list_rules(
    State(proxy): State<Arc<Proxy>>,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Vec<Rule>> {
    let (limit, offset) = page(&q);
    let set = proxy.rule_set();
    Json(
        set.rules()
            .iter()
            .skip(offset)
            .take(limit)
            .map(|r| r.rule.clone())
            .collect(),
    )
}

async fn get_rule(
    State(proxy): State<Arc<Proxy>>,
    Path(id): Path<String>,
) -> Result<Json<Rule>, ApiError> {
    let set = proxy.rule_set();
    set.rules()
        .iter()
        .find(|r| r.rule.id == id)
        .map(|r| Json(r.rule.clone()))
        .ok_or_else(ApiError::not_found)
}

/// The public keys of every id_token `jwks_url`. With no id_token mutator configured the set
/// is empty (Oathkeeper answers 500 there; an empty set is the truthful answer). When keys are
/// configured but none can be loaded: 500, as Oathkeeper.
async fn jwks(State(proxy): State<Arc<Proxy>>) -> Response {
    let locations = proxy.jwks_locations();
    if locations.is_empty() {
        return Json(serde_json::json!({ "keys": [] })).into_response();
    }
    match proxy.outbound.keys.union(&locations).await {
        Ok(keys) => {
            Json(serde_json::json!({ "keys": super::jose::public_keys(&keys) })).into_response()
        }
        Err(e) => {
            tracing::error!(error = e, "no id_token JSON Web Key Set could be loaded");
            ApiError::internal(e).into_response()
        }
    }
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty())
}

/// Rebuilds the original request from `X-Forwarded-*` (always trusted on this port) or the
/// call itself minus `/decisions`.
pub fn original_request(
    method: &axum::http::Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
) -> Result<(axum::http::Method, UrlData), String> {
    let method = match header_str(headers, "x-forwarded-method") {
        Some(m) => axum::http::Method::from_bytes(m.as_bytes())
            .map_err(|_| format!("X-Forwarded-Method {m:?} is not an HTTP method"))?,
        None => method.clone(),
    };
    let scheme = header_str(headers, "x-forwarded-proto")
        .unwrap_or("http")
        .to_string();
    let host = header_str(headers, "x-forwarded-host")
        .or_else(|| header_str(headers, "host"))
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .unwrap_or_default()
        .to_string();
    let raw_path = match header_str(headers, "x-forwarded-uri") {
        Some(u) => u.split('?').next().unwrap_or_default(),
        None => uri.path().strip_prefix("/decisions").unwrap_or_default(),
    };
    // Matched decoded, as Go's URL.Path; refused when the upstream could see another path.
    let path = super::forward::checked_path(raw_path).map_err(str::to_owned)?;
    Ok((
        method,
        UrlData {
            scheme,
            host,
            path,
            raw_query: uri.query().unwrap_or_default().to_string(),
        },
    ))
}

async fn decisions(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let request_id = header_str(&parts.headers, "x-request-id").map(str::to_owned);
    let (method, url) = match original_request(&parts.method, &parts.uri, &parts.headers) {
        Ok(x) => x,
        Err(e) => return ApiError::bad_request(e).into_response(),
    };
    let body = match to_bytes(body, 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => return ApiError::payload_too_large(1024 * 1024).into_response(),
    };
    let req = PipelineRequest {
        method,
        url,
        headers: Arc::new(parts.headers),
        body,
    };
    match proxy.decide(&req).await {
        Ok((_, session)) => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::OK;
            let mutated = session.mutated_header();
            for name in mutated.keys() {
                if name == header::CONTENT_LENGTH {
                    continue;
                }
                if let Some(v) = mutated.get(name) {
                    response.headers_mut().insert(name.clone(), v.clone());
                }
            }
            response
        }
        Err((rule, e)) => proxy.handle_error(rule.as_deref(), &e, &req, request_id.as_deref()),
    }
}
