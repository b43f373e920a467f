//! Kratos' error forwarding for browser flows (`errorx`): a failed browser flow sends the
//! browser to the error UI with the error kept in the database, and `/self-service/errors`
//! gives it back to that UI. JSON callers get the error itself.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use super::super::error::{Error, Result};
use super::super::flow::{Flow, FlowType};
use super::super::request;
use super::super::service::{new_id, Service};
use super::http::{redirect, wants_json, with_query};
use crate::http::{Json, Query};
use crate::store::time::rfc3339_micros as rfc3339;

/// A browser that does not ask for JSON and hits an error in a browser flow is sent 303 to
/// `selfservice.flows.error.ui_url?id=<id>`, and the error is kept for the error UI to read at
/// `/self-service/errors?id=`. Everyone else gets the error itself; so does an expired flow
/// (its 410 names the flow to use instead).
pub async fn fail(
    s: &Service,
    headers: &HeaderMap,
    browser: bool,
    error: Error,
) -> Result<Response> {
    if !browser || wants_json(headers) || matches!(error, Error::FlowExpired { .. }) {
        return Err(error);
    }
    // Settings without a session go to the login flow; a too-old session re-authenticates.
    match &error {
        Error::Unauthorized => {
            return Ok(redirect(&format!(
                "{}/self-service/login/browser",
                request::public_base(s, headers)
            )))
        }
        Error::RefreshRequired { redirect_to } => return Ok(redirect(redirect_to)),
        _ => {}
    }
    if matches!(
        error,
        Error::Store(_) | Error::Internal(_) | Error::Hash(_) | Error::Config(_)
    ) {
        tracing::error!(error = %error, "self-service flow failed; forwarded to the error UI");
    }
    let id = new_id();
    s.store
        .insert_flow_error(&id, &error.body(), s.now())
        .await?;
    Ok(redirect(&with_query(
        &s.config.selfservice.flows.error.ui_url,
        "id",
        &id,
    )))
}

/// Runs a submission of the `loaded` flow, its errors through [`fail`]: an error before the
/// flow is known is forwarded as a browser's would be (unless the request asks for JSON).
pub async fn forward<F, Fut>(
    s: &Service,
    headers: &HeaderMap,
    loaded: Result<Flow>,
    submit: F,
) -> Result<Response>
where
    F: FnOnce(Flow) -> Fut,
    Fut: std::future::Future<Output = Result<Response>>,
{
    let flow = match loaded {
        Ok(flow) => flow,
        Err(e) => return fail(s, headers, true, e).await,
    };
    let browser = flow.flow_type == FlowType::Browser;
    match submit(flow).await {
        Ok(r) => Ok(r),
        Err(e) => fail(s, headers, browser, e).await,
    }
}

/// A browser's failed flow creation goes to the error UI, as Kratos' `Forward` sends it (JSON
/// callers get the error itself).
pub async fn forward_init(
    s: &Service,
    headers: &HeaderMap,
    created: Result<Response>,
) -> Result<Response> {
    match created {
        Ok(r) => Ok(r),
        Err(e) => fail(s, headers, true, e).await,
    }
}

#[derive(Debug, Deserialize)]
pub struct ErrorIdQuery {
    id: Option<String>,
}

/// `GET /self-service/errors?id=`: a stored flow error; `stub:500` is Kratos' canned example.
pub async fn get_flow_error(
    State(s): State<Service>,
    Query(q): Query<ErrorIdQuery>,
) -> Result<Json<Value>> {
    let id = q.id.unwrap_or_default();
    let now = s.now();
    if id == "stub:500" {
        let stub = Error::Internal(String::new()).body();
        let error = match stub {
            Value::Object(mut m) => {
                m.insert("reason".into(), json!("This is a stub error."));
                Value::Object(m)
            }
            other => other,
        };
        return Ok(Json(json!({"id": new_id(), "error": error,
            "created_at": rfc3339(now), "updated_at": rfc3339(now)})));
    }
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(Error::NotFound);
    }
    let (error, created_at, updated_at) = s.store.flow_error(&id).await?.ok_or(Error::NotFound)?;
    Ok(Json(json!({"id": id, "error": error,
        "created_at": rfc3339(created_at), "updated_at": rfc3339(updated_at)})))
}
