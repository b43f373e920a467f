//! Self-service flows over HTTP for browsers, browser apps (`Accept: application/json`) and
//! native apps (API flows): login, registration and settings with the password and profile
//! methods, logout, and the errors of failed browser flows (`/self-service/errors`).
//!
//! Every flow kind is served by the same four handlers, routed from [`FLOWS`]:
//! `/self-service/<kind>/browser` and `/self-service/<kind>/api` start a flow (the kind's
//! `start` decides whether one may be started and for which identity),
//! `/self-service/<kind>/flows?id=` reads it, `/self-service/<kind>?flow=` submits it (the
//! kind's `submit` decides what a submission does). Browser submissions are CSRF-checked; API
//! submissions refuse cookies and `Origin`; a failed browser flow goes to the error UI.
//!
//! Files, each using only those before it: `http` (request and answer mechanics, pure),
//! `nodes` (UI nodes, pure), `flows` (a flow's settings, creation, loading and answers),
//! `errors` (forwarding to the error UI), one file per kind (`login`, `registration`,
//! `settings`), `logout`, and this one (routes, the shared handlers, the dispatch per kind).

mod errors;
mod flows;
mod http;
mod login;
mod logout;
mod nodes;
mod registration;
mod settings;

use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;

use super::error::{Error, Result};
use super::flow::{Flow, FlowKind, FlowType};
use super::request;
use super::service::Service;
use crate::http::{ClientIp, Json, Query};
use flows::{FlowIdQuery, InitQuery, Start};

/// One kind of flow as served.
struct Served {
    kind: FlowKind,
    /// Whether `GET /self-service/<kind>` submits too (Kratos takes login submissions by GET).
    submit_on_get: bool,
}

/// The flows served, one entry per kind. A new kind (recovery, verification) is a
/// [`FlowKind`] variant, a file with its `start` and `submit` (wired in [`start`] and
/// [`submission`]) and an entry here.
const FLOWS: [Served; 3] = [
    Served {
        kind: FlowKind::Login,
        submit_on_get: true,
    },
    Served {
        kind: FlowKind::Registration,
        submit_on_get: false,
    },
    Served {
        kind: FlowKind::Settings,
        submit_on_get: false,
    },
];

pub fn routes(service: Service) -> Router {
    let mut router = Router::new();
    for served in FLOWS {
        router = with_flow(router, served);
    }
    router
        .route("/self-service/logout/browser", get(logout::browser))
        .route("/self-service/logout", get(logout::follow))
        .route("/self-service/logout/api", delete(logout::api))
        .route("/self-service/errors", get(errors::get_flow_error))
        .with_state(service)
}

/// The four routes of one kind of flow.
fn with_flow(router: Router<Service>, served: Served) -> Router<Service> {
    let Served {
        kind,
        submit_on_get,
    } = served;
    let name = kind.as_str();
    let submit_handler =
        move |State(s): State<Service>,
              ClientIp(ip): ClientIp,
              headers: HeaderMap,
              Query(q): Query<FlowIdQuery>,
              body: Bytes| submit(kind, s, ip, headers, q, body);
    let submission = if submit_on_get {
        get(submit_handler).post(submit_handler)
    } else {
        post(submit_handler)
    };
    router
        .route(
            &format!("/self-service/{name}/browser"),
            get(
                move |State(s): State<Service>,
                      headers: HeaderMap,
                      uri: Uri,
                      Query(q): Query<InitQuery>| {
                    init_browser(kind, s, headers, uri, q)
                },
            ),
        )
        .route(
            &format!("/self-service/{name}/api"),
            get(
                move |State(s): State<Service>,
                      headers: HeaderMap,
                      uri: Uri,
                      Query(q): Query<InitQuery>| {
                    init_api(kind, s, headers, uri, q)
                },
            ),
        )
        .route(
            &format!("/self-service/{name}/flows"),
            get(
                move |State(s): State<Service>,
                      headers: HeaderMap,
                      Query(q): Query<FlowIdQuery>| {
                    get_flow(kind, s, headers, q)
                },
            ),
        )
        .route(&format!("/self-service/{name}"), submission)
}

// --- the shared handlers ---------------------------------------------------------------------

/// `/self-service/<kind>/browser`: a browser's failed start goes to the error UI.
async fn init_browser(
    kind: FlowKind,
    s: Service,
    headers: HeaderMap,
    uri: Uri,
    q: InitQuery,
) -> Result<Response> {
    let created = init(&s, kind, FlowType::Browser, &headers, &uri, &q).await;
    errors::forward_init(&s, &headers, created).await
}

/// `/self-service/<kind>/api`.
async fn init_api(
    kind: FlowKind,
    s: Service,
    headers: HeaderMap,
    uri: Uri,
    q: InitQuery,
) -> Result<Response> {
    init(&s, kind, FlowType::Api, &headers, &uri, &q).await
}

/// Starts a flow: the kind's decision, then a stored flow, answered 303 to the UI or as JSON.
async fn init(
    s: &Service,
    kind: FlowKind,
    flow_type: FlowType,
    headers: &HeaderMap,
    uri: &Uri,
    q: &InitQuery,
) -> Result<Response> {
    flows::ensure_enabled(s, kind)?;
    let identity = match start(kind, s, flow_type, headers, q).await? {
        Start::Flow(identity) => identity,
        Start::Answered(response) => return Ok(response),
    };
    let (flow, cookie) =
        flows::create(s, kind, flow_type, headers, uri, q, identity.as_deref()).await?;
    Ok(flows::created(
        s,
        &flow,
        identity.as_deref(),
        headers,
        cookie,
    ))
}

/// `/self-service/<kind>/flows?id=`: the flow (a browser flow only with its CSRF cookie; a
/// flow that belongs to an identity only to that identity).
async fn get_flow(
    kind: FlowKind,
    s: Service,
    headers: HeaderMap,
    q: FlowIdQuery,
) -> Result<Response> {
    let flow = flows::load(&s, kind, q.id.as_deref()).await?;
    http::ensure_csrf(&s, &flow, &headers, None)?;
    let identity = match &flow.identity_id {
        Some(id) if kind.belongs_to_identity() => {
            let (_, ident) = request::current_session(&s, &headers)
                .await?
                .ok_or(Error::Unauthorized)?;
            if &ident.id != id {
                return Err(Error::Csrf("The flow belongs to another identity.".into()));
            }
            Some(ident)
        }
        _ => None,
    };
    Ok(Json(flows::flow_json(&s, &flow, identity.as_ref(), &headers)).into_response())
}

/// `/self-service/<kind>?flow=`: the named flow submitted, errors forwarded for browsers.
async fn submit(
    kind: FlowKind,
    s: Service,
    client: IpAddr,
    headers: HeaderMap,
    q: FlowIdQuery,
    body: Bytes,
) -> Result<Response> {
    let loaded = match flows::ensure_enabled(&s, kind) {
        Ok(()) => flows::load_submitted(&s, kind, q.flow.as_deref()).await,
        Err(e) => Err(e),
    };
    errors::forward(&s, &headers, loaded, |flow| {
        submission(kind, &s, client, &headers, flow, &body)
    })
    .await
}

// --- the dispatch per kind -------------------------------------------------------------------

/// What a kind decides before one of its flows is created.
async fn start(
    kind: FlowKind,
    s: &Service,
    flow_type: FlowType,
    headers: &HeaderMap,
    q: &InitQuery,
) -> Result<Start> {
    match kind {
        FlowKind::Login => login::start(s, flow_type, headers, q).await,
        FlowKind::Registration => registration::start(s, flow_type, headers, q).await,
        FlowKind::Settings => settings::start(s, flow_type, headers, q).await,
    }
}

/// What a submission of a flow of `kind` does.
async fn submission(
    kind: FlowKind,
    s: &Service,
    client: IpAddr,
    headers: &HeaderMap,
    flow: Flow,
    body: &[u8],
) -> Result<Response> {
    match kind {
        FlowKind::Login => login::submit(s, client, headers, flow, body).await,
        FlowKind::Registration => registration::submit(s, client, headers, flow, body).await,
        FlowKind::Settings => settings::submit(s, headers, flow, body).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_served_once() {
        for kind in FlowKind::ALL {
            assert_eq!(
                FLOWS.iter().filter(|served| served.kind == kind).count(),
                1,
                "{kind:?}"
            );
        }
    }
}
