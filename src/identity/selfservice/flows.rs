//! The life of a flow, shared by every kind: its settings (UI URL, lifespan, `after`), the
//! query strings that start and name it, creating, loading and storing it, and the answers —
//! the flow JSON, 303 to the UI, 400 with the flow's errors, a session signed in.

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::super::error::{Error, Result};
use super::super::flow::{Flow, FlowKind, FlowType, Method, Ui};
use super::super::model::{Aal, Identity, Session};
use super::super::request;
use super::super::service::{new_id, Service};
use super::super::wire::{identity_json, session_json, View};
use super::http::{self, client_for, redirect, with_query, Client};
use super::nodes;
use crate::config::identity::AfterConfig;
use crate::http::Json;
use crate::store::time::rfc3339_micros as rfc3339;

/// What a kind decides before a flow is created ([`super::start`]).
pub enum Start {
    /// Create the flow; settings flows belong to this identity.
    Flow(Option<Box<Identity>>),
    /// No flow: this is the answer (a signed-in browser is sent on, say).
    Answered(Response),
}

/// The query of `/self-service/<kind>/{browser,api}`.
#[derive(Debug, Default, Deserialize)]
pub struct InitQuery {
    pub return_to: Option<String>,
    #[serde(default, deserialize_with = "super::super::query::opt_bool")]
    pub refresh: Option<bool>,
    pub aal: Option<String>,
}

impl InitQuery {
    /// The `aal` asked for (aal1 when none is).
    pub fn requested_aal(&self) -> Result<Aal> {
        match self.aal.as_deref() {
            None | Some("") => Ok(Aal::Aal1),
            Some(a) => Aal::parse(a).ok_or_else(|| {
                Error::BadRequest(format!(
                    "Unable to parse AuthenticationMethod Assurance Level (AAL): `{a}`"
                ))
            }),
        }
    }
}

/// The query of `/self-service/<kind>/flows` (`id`) and `/self-service/<kind>` (`flow`).
#[derive(Debug, Deserialize)]
pub struct FlowIdQuery {
    pub id: Option<String>,
    pub flow: Option<String>,
}

// --- the settings of a kind ------------------------------------------------------------------

/// `selfservice.flows.<kind>.ui_url`.
pub fn ui_url(s: &Service, kind: FlowKind) -> &str {
    let f = &s.config.selfservice.flows;
    match kind {
        FlowKind::Login => &f.login.ui_url,
        FlowKind::Registration => &f.registration.ui_url,
        FlowKind::Settings => &f.settings.ui_url,
    }
}

/// `selfservice.flows.<kind>.lifespan`, in microseconds.
fn lifespan(s: &Service, kind: FlowKind) -> i64 {
    let f = &s.config.selfservice.flows;
    match kind {
        FlowKind::Login => f.login.lifespan.micros(),
        FlowKind::Registration => f.registration.lifespan.micros(),
        FlowKind::Settings => f.settings.lifespan.micros(),
    }
}

/// `selfservice.flows.<kind>.after`.
pub fn after(s: &Service, kind: FlowKind) -> &AfterConfig {
    let f = &s.config.selfservice.flows;
    match kind {
        FlowKind::Login => &f.login.after,
        FlowKind::Registration => &f.registration.after,
        FlowKind::Settings => &f.settings.after,
    }
}

/// 400 `self_service_flow_disabled` when `selfservice.flows.<kind>.enabled` is off (only
/// registration can be switched off).
pub fn ensure_enabled(s: &Service, kind: FlowKind) -> Result<()> {
    let enabled = match kind {
        FlowKind::Registration => s.config.selfservice.flows.registration.enabled,
        FlowKind::Login | FlowKind::Settings => true,
    };
    if enabled {
        Ok(())
    } else {
        Err(Error::FlowDisabled)
    }
}

/// Where a browser goes after a flow of `kind` (completed with `method`, if any): the
/// method's `after` URL, the kind's, the global one, else `/`.
pub fn default_return(s: &Service, kind: FlowKind, method: Option<Method>) -> String {
    let after = after(s, kind);
    let per_method = match method {
        Some(Method::Password) => after.password.default_browser_return_url.clone(),
        Some(Method::Profile) => after.profile.default_browser_return_url.clone(),
        None => None,
    };
    per_method
        .or_else(|| after.default_browser_return_url.clone())
        .or_else(|| s.config.selfservice.default_browser_return_url.clone())
        .unwrap_or_else(|| "/".into())
}

/// The method a submission names, if the kind offers it and the config enables it.
pub fn chosen_method(s: &Service, kind: FlowKind, body: &Map<String, Value>) -> Option<Method> {
    Method::parse(http::field(body, "method").unwrap_or(""))
        .filter(|m| kind.methods().contains(m) && m.enabled(&s.config.selfservice.methods))
}

/// The nodes of a flow of `kind` for `identity` (or none), its CSRF token freshly masked.
pub fn nodes_for(
    s: &Service,
    kind: FlowKind,
    csrf: &str,
    identity: Option<&Identity>,
) -> Vec<Value> {
    let masked = s.masked_csrf(csrf);
    let schema = identity
        .and_then(|i| s.schemas.get(&i.schema_id))
        .or_else(|| s.schemas.default_schema());
    nodes::for_flow(
        kind,
        &masked,
        &s.config.selfservice.methods,
        schema.map(|sc| &**sc),
        identity.map(|i| &i.traits),
    )
}

// --- creating and loading --------------------------------------------------------------------

/// The session a flow is started with: by `X-Session-Token` for API flows, by the request's
/// session otherwise.
pub async fn present_session(
    s: &Service,
    flow_type: FlowType,
    headers: &HeaderMap,
) -> Result<Option<(Session, Identity)>> {
    match flow_type {
        FlowType::Api => match request::header(headers, "x-session-token") {
            Some(t) => s.session_by_token(t).await,
            None => Ok(None),
        },
        FlowType::Browser => request::current_session(s, headers).await,
    }
}

/// Creates and stores a flow; returns it and (for browsers) the CSRF cookie to set.
pub async fn create(
    s: &Service,
    kind: FlowKind,
    flow_type: FlowType,
    headers: &HeaderMap,
    uri: &Uri,
    q: &InitQuery,
    identity: Option<&Identity>,
) -> Result<(Flow, Option<String>)> {
    let return_to = http::check_return_to(s, headers, q.return_to.as_deref())?;
    let requested_aal = q.requested_aal()?;
    let base = request::public_base(s, headers);
    let csrf_cookie = s.csrf_cookie_name(&base);
    let (csrf, new_cookie) = s.csrf_token(request::cookie(headers, &csrf_cookie));
    let now = s.now();
    let id = new_id();
    let flow = Flow {
        id: id.clone(),
        kind,
        flow_type,
        state: kind.initial_state(),
        csrf_token: csrf.clone(),
        return_to,
        request_url: format!(
            "{base}{}",
            uri.path_and_query().map(|p| p.as_str()).unwrap_or("")
        ),
        ui: Ui {
            action: format!("{base}/self-service/{}?flow={id}", kind.as_str()),
            method: "POST".into(),
            nodes: nodes_for(s, kind, &csrf, identity),
            messages: Vec::new(),
        },
        identity_id: identity.map(|i| i.id.clone()),
        session_id: None,
        refresh: q.refresh.unwrap_or(false),
        requested_aal,
        active: None,
        issued_at: now,
        expires_at: now + lifespan(s, kind),
    };
    s.store.insert_flow(&flow, now).await?;
    let cookie =
        (flow_type == FlowType::Browser && new_cookie).then(|| s.csrf_cookie(&csrf_cookie, &csrf));
    Ok((flow, cookie))
}

/// Loads the flow a submission names (`?flow=`): as Kratos' `GetFlowID`, a missing, malformed
/// or nil id is the 400 "missing or malformed" (a GET of an unknown id is a 404), then as
/// [`load`].
pub async fn load_submitted(s: &Service, kind: FlowKind, id: Option<&str>) -> Result<Flow> {
    match id.map(uuid::Uuid::parse_str) {
        Some(Ok(uuid)) if !uuid.is_nil() => load(s, kind, id).await,
        _ => Err(Error::BadRequest(
            "The flow query parameter is missing or malformed.".into(),
        )),
    }
}

/// Loads a flow of `kind` for a GET or a submission: 404 unknown or other kind, 410 expired.
pub async fn load(s: &Service, kind: FlowKind, id: Option<&str>) -> Result<Flow> {
    let id = id.ok_or_else(|| {
        Error::BadRequest("The flow query parameter is missing or malformed.".into())
    })?;
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(Error::NotFound);
    }
    let flow = s
        .store
        .get_flow(id)
        .await?
        .filter(|f| f.kind == kind)
        .ok_or(Error::NotFound)?;
    let now = s.now();
    if flow.is_expired(now) {
        return Err(Error::FlowExpired {
            flow_id: flow.id.clone(),
            expired_at: rfc3339(flow.expires_at),
            since_ns: (now - flow.expires_at).saturating_mul(1000),
        });
    }
    Ok(flow)
}

/// Kratos' `revoke_active_sessions` hook (login and settings): every other session of the
/// identity is revoked once `kept` is the one that authenticated.
pub async fn revoke_other_sessions_if_hooked(
    s: &Service,
    kind: FlowKind,
    method: Method,
    identity_id: &str,
    kept: &str,
) -> Result<()> {
    if after(s, kind).runs(method.as_str(), "revoke_active_sessions") {
        s.store
            .disable_other_sessions(identity_id, kept, s.now())
            .await?;
    }
    Ok(())
}

// --- answers ---------------------------------------------------------------------------------

/// The flow's JSON; its `csrf_token` node carries a freshly masked token on every response, as
/// Kratos' nosurf does. A flow that belongs to an identity shows it.
pub fn flow_json(
    s: &Service,
    flow: &Flow,
    identity: Option<&Identity>,
    headers: &HeaderMap,
) -> Value {
    let mut json = match identity.filter(|_| flow.kind.belongs_to_identity()) {
        Some(i) => flow.to_json(Some((
            "identity",
            identity_json(i, &request::public_base(s, headers), View::Public, None),
        ))),
        None => flow.to_json(None),
    };
    let nodes = json
        .pointer_mut("/ui/nodes")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten();
    for node in nodes {
        if let Some(attrs) = node.get_mut("attributes").and_then(Value::as_object_mut) {
            if attrs.get("name").and_then(Value::as_str) == Some("csrf_token") {
                attrs.insert("value".into(), json!(s.masked_csrf(&flow.csrf_token)));
            }
        }
    }
    json
}

/// 303 to the kind's UI with `?flow=`.
pub fn to_ui(s: &Service, flow: &Flow) -> Response {
    redirect(&with_query(ui_url(s, flow.kind), "flow", &flow.id))
}

/// The answer to "a flow was created": 303 to the UI for browsers, the flow JSON otherwise.
pub fn created(
    s: &Service,
    flow: &Flow,
    identity: Option<&Identity>,
    headers: &HeaderMap,
    cookie: Option<String>,
) -> Response {
    let mut response = match client_for(flow.flow_type, headers) {
        Client::Browser => to_ui(s, flow),
        Client::Spa | Client::Api => Json(flow_json(s, flow, identity, headers)).into_response(),
    };
    if let Some(c) = cookie {
        http::add_cookie(&mut response, &c);
    }
    response
}

/// Answer to a submission with errors (stored on the flow): 400 + flow, or 303 back to the UI.
pub async fn invalid(
    s: &Service,
    flow: &Flow,
    identity: Option<&Identity>,
    headers: &HeaderMap,
) -> Result<Response> {
    s.store.update_flow(flow, s.now()).await?;
    Ok(match client_for(flow.flow_type, headers) {
        Client::Browser => to_ui(s, flow),
        Client::Spa | Client::Api => (
            StatusCode::BAD_REQUEST,
            Json(flow_json(s, flow, identity, headers)),
        )
            .into_response(),
    })
}

/// A session a submission signed in with, and its token (shown once).
pub struct SignedIn<'a> {
    pub session: &'a Session,
    pub identity: &'a Identity,
    pub token: &'a str,
}

/// The answer to a login or registration that signed in with `method`: the session (and its
/// token) as JSON for native apps, plus `extra` keys; the session JSON and cookie for browser
/// apps (no `continue_with`); 303 to `return_to` or the `after` URL with the cookie for
/// browsers.
pub fn signed_in(
    s: &Service,
    flow: &Flow,
    headers: &HeaderMap,
    signed: SignedIn<'_>,
    method: Method,
    extra: Vec<(&str, Value)>,
) -> Response {
    let SignedIn {
        session,
        identity,
        token,
    } = signed;
    let base = request::public_base(s, headers);
    let now = s.now();
    let session_body = session_json(session, Some(identity), &base, now, View::Public, true);
    match client_for(flow.flow_type, headers) {
        Client::Api => {
            let mut body = json!({"session": session_body, "session_token": token});
            if let Some(m) = body.as_object_mut() {
                for (k, v) in extra {
                    m.insert(k.into(), v);
                }
            }
            Json(body).into_response()
        }
        Client::Spa => {
            let mut body = json!({"session": session_body});
            if let Some(m) = body.as_object_mut() {
                for (k, v) in extra.into_iter().filter(|(k, _)| *k != "continue_with") {
                    m.insert(k.into(), v);
                }
            }
            let mut r = Json(body).into_response();
            http::add_cookie(&mut r, &s.session_cookie(token, session.expires_at));
            r
        }
        Client::Browser => {
            let to = flow
                .return_to
                .clone()
                .unwrap_or_else(|| default_return(s, flow.kind, Some(method)));
            let mut r = redirect(&to);
            http::add_cookie(&mut r, &s.session_cookie(token, session.expires_at));
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_requested_level_defaults_to_aal1_and_unknown_levels_are_a_400() {
        let q = |aal: Option<&str>| InitQuery {
            aal: aal.map(str::to_string),
            ..InitQuery::default()
        };
        assert_eq!(q(None).requested_aal().unwrap(), Aal::Aal1);
        assert_eq!(q(Some("")).requested_aal().unwrap(), Aal::Aal1);
        assert_eq!(q(Some("aal2")).requested_aal().unwrap(), Aal::Aal2);
        let err = q(Some("aal9")).requested_aal().unwrap_err().to_string();
        assert_eq!(
            err,
            "Unable to parse AuthenticationMethod Assurance Level (AAL): `aal9`"
        );
    }
}
