//! Self-service flows over HTTP for browser, SPA (`Accept: application/json`) and API
//! clients: login and registration with the password method, settings (profile, password),
//! logout, and the errors of failed browser flows (`/self-service/errors`). Flow data and UI nodes come from `flow.rs`; identities and sessions from the
//! service. Browser submissions are CSRF-checked; API submissions refuse cookies and `Origin`.

use std::net::IpAddr;

use crate::http::{ClientIp, Query};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::error::{Error, Result};
use super::flow::{self, Flow, FlowKind, FlowState, FlowType, Method, Ui};
use super::limits;
use super::model::{Aal, CredentialType, Identity, Session};
use super::policy;
use super::service::{new_id, Built, IdentityInput, PasswordInput, Service};
use super::text::UiText;
use super::wire::{identity_json, session_json, View};
use crate::http::Json;
use crate::store::time::rfc3339_micros as rfc3339;

pub fn routes(service: Service) -> Router {
    Router::new()
        .route("/self-service/login/browser", get(init_login_browser))
        .route("/self-service/login/api", get(init_login_api))
        .route("/self-service/login/flows", get(get_login_flow))
        .route("/self-service/login", get(submit_login).post(submit_login))
        .route(
            "/self-service/registration/browser",
            get(init_registration_browser),
        )
        .route("/self-service/registration/api", get(init_registration_api))
        .route(
            "/self-service/registration/flows",
            get(get_registration_flow),
        )
        .route(
            "/self-service/registration",
            axum::routing::post(submit_registration),
        )
        .route("/self-service/settings/browser", get(init_settings_browser))
        .route("/self-service/settings/api", get(init_settings_api))
        .route("/self-service/settings/flows", get(get_settings_flow))
        .route(
            "/self-service/settings",
            axum::routing::post(submit_settings),
        )
        .route("/self-service/logout/browser", get(logout_browser))
        .route("/self-service/logout", get(logout))
        .route("/self-service/logout/api", delete(logout_api))
        .route("/self-service/errors", get(get_flow_error))
        .with_state(service)
}

/// Who is asking: a redirecting browser, a browser app that wants JSON, or a native app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    Browser,
    Spa,
    Api,
}

fn wants_json(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.starts_with("application/json") {
        return true;
    }
    match (accept.find("application/json"), accept.find("text/html")) {
        (Some(j), Some(h)) => j < h,
        (Some(_), None) => true,
        _ => false,
    }
}

fn client_for(flow_type: FlowType, headers: &HeaderMap) -> Client {
    match (flow_type, wants_json(headers)) {
        (FlowType::Api, _) => Client::Api,
        (FlowType::Browser, true) => Client::Spa,
        (FlowType::Browser, false) => Client::Browser,
    }
}

fn redirect(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn with_query(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={value}")
}

fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Parses a JSON or form body; form keys with dots (`traits.email`) become nested objects.
/// Both are bounded (`limits`): at most 1,000 form fields of at most 32 key segments, JSON
/// nested at most 64 levels.
fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Map<String, Value>> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.starts_with("application/json") {
        return match serde_json::from_slice(body) {
            Ok(Value::Object(m)) => {
                for value in m.values() {
                    limits::check_depth(value, "JSON body")?;
                }
                Ok(m)
            }
            Ok(_) => Err(Error::BadRequest(
                "The request body must be a JSON object.".into(),
            )),
            Err(e) => Err(Error::BadRequest(format!(
                "Unable to decode JSON body: {e}"
            ))),
        };
    }
    if ct.starts_with("application/x-www-form-urlencoded") || ct.is_empty() {
        return Ok(limits::expand_form(body)?);
    }
    Err(Error::BadRequest(format!(
        "Unsupported content type `{ct}`; send JSON or a form."
    )))
}

fn field<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str)
}

/// Kratos' `return_to` check against `selfservice.allowed_return_urls` (plus the default
/// return URL's origin and the public URL).
fn check_return_to(
    s: &Service,
    headers: &HeaderMap,
    return_to: Option<&str>,
) -> Result<Option<String>> {
    let Some(rt) = return_to.filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let target = url::Url::parse(rt).map_err(|_| Error::ReturnToForbidden(rt.to_string()))?;
    let mut allowed: Vec<String> = s.config.selfservice.allowed_return_urls.clone();
    if let Some(d) = &s.config.selfservice.default_browser_return_url {
        allowed.push(d.clone());
    }
    allowed.push(format!("{}/", s.public_base(headers)));
    let ok = allowed
        .iter()
        .filter_map(|a| url::Url::parse(a).ok())
        .any(|a| {
            let host_ok = match (a.host_str(), target.host_str()) {
                (Some(ah), Some(th)) => match ah.strip_prefix("*.") {
                    Some(suffix) => th.ends_with(&format!(".{suffix}")),
                    None => ah.eq_ignore_ascii_case(th),
                },
                _ => false,
            };
            a.scheme() == target.scheme()
                && host_ok
                && a.port_or_known_default() == target.port_or_known_default()
                && target.path().starts_with(a.path().trim_end_matches('/'))
        });
    if ok {
        Ok(Some(rt.to_string()))
    } else {
        Err(Error::ReturnToForbidden(rt.to_string()))
    }
}

fn ui_url(s: &Service, kind: FlowKind) -> &str {
    let f = &s.config.selfservice.flows;
    match kind {
        FlowKind::Login => &f.login.ui_url,
        FlowKind::Registration => &f.registration.ui_url,
        FlowKind::Settings => &f.settings.ui_url,
    }
}

fn lifespan(s: &Service, kind: FlowKind) -> i64 {
    let f = &s.config.selfservice.flows;
    match kind {
        FlowKind::Login => f.login.lifespan.micros(),
        FlowKind::Registration => f.registration.lifespan.micros(),
        FlowKind::Settings => f.settings.lifespan.micros(),
    }
}

fn default_return(s: &Service, kind: FlowKind, method: &str) -> String {
    let f = &s.config.selfservice.flows;
    let after = match kind {
        FlowKind::Login => &f.login.after,
        FlowKind::Registration => &f.registration.after,
        FlowKind::Settings => &f.settings.after,
    };
    let per_method = match method {
        "password" => after.password.default_browser_return_url.clone(),
        "profile" => after.profile.default_browser_return_url.clone(),
        _ => None,
    };
    per_method
        .or_else(|| after.default_browser_return_url.clone())
        .or_else(|| s.config.selfservice.default_browser_return_url.clone())
        .unwrap_or_else(|| "/".into())
}

fn nodes_for(s: &Service, kind: FlowKind, csrf: &str, identity: Option<&Identity>) -> Vec<Value> {
    let mut nodes = vec![flow::csrf_node(&s.masked_csrf(csrf))];
    let schema = identity
        .and_then(|i| s.schemas.get(&i.schema_id))
        .or_else(|| s.schemas.default_schema());
    let password = s.config.selfservice.methods.password.enabled;
    match kind {
        FlowKind::Login => {
            if password {
                let label = schema
                    .and_then(|sc| sc.identifier_label())
                    .unwrap_or_else(|| "ID".into());
                nodes.extend(flow::login_password_nodes(&label));
            }
        }
        FlowKind::Registration => {
            if let (true, Some(sc)) = (password, schema) {
                nodes.extend(flow::trait_nodes("password", sc.traits_schema(), None));
                nodes.push(flow::input(
                    "password",
                    "password",
                    "password",
                    None,
                    true,
                    Some("new-password"),
                    Some(UiText::label(1070001, "Password")),
                ));
                nodes.push(flow::submit(
                    "password",
                    "method",
                    "password",
                    UiText::label(1040001, "Sign up"),
                ));
            }
        }
        FlowKind::Settings => {
            if let Some(sc) = schema.filter(|_| s.config.selfservice.methods.profile.enabled) {
                nodes.extend(flow::trait_nodes(
                    "profile",
                    sc.traits_schema(),
                    identity.map(|i| &i.traits),
                ));
                nodes.push(flow::submit(
                    "profile",
                    "method",
                    "profile",
                    UiText::label(1070003, "Save"),
                ));
            }
            if password {
                nodes.push(flow::input(
                    "password",
                    "password",
                    "password",
                    None,
                    true,
                    Some("new-password"),
                    Some(UiText::label(1070001, "Password")),
                ));
                nodes.push(flow::submit(
                    "password",
                    "method",
                    "password",
                    UiText::label(1070003, "Save"),
                ));
            }
        }
    }
    nodes
}

#[derive(Debug, Default, Deserialize)]
struct InitQuery {
    return_to: Option<String>,
    #[serde(default, deserialize_with = "super::query::opt_bool")]
    refresh: Option<bool>,
    aal: Option<String>,
}

impl InitQuery {
    /// The `aal` asked for (aal1 when none is).
    fn requested_aal(&self) -> Result<Aal> {
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

/// Creates and stores a flow; returns it and (for browsers) the CSRF cookie to set.
async fn new_flow(
    s: &Service,
    kind: FlowKind,
    flow_type: FlowType,
    headers: &HeaderMap,
    uri: &Uri,
    q: &InitQuery,
    identity: Option<&Identity>,
) -> Result<(Flow, Option<HeaderValue>)> {
    let return_to = check_return_to(s, headers, q.return_to.as_deref())?;
    let requested_aal = q.requested_aal()?;
    let (csrf, new_cookie) = s.csrf_token(headers);
    let base = s.public_base(headers);
    let now = s.now();
    let id = new_id();
    let flow = Flow {
        id: id.clone(),
        kind,
        flow_type,
        state: kind.initial_state().into(),
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
        (flow_type == FlowType::Browser && new_cookie).then(|| s.csrf_cookie(headers, &csrf));
    Ok((flow, cookie))
}

/// The flow's JSON; its `csrf_token` node carries a freshly masked token on every response, as
/// Kratos' nosurf does.
fn flow_json(s: &Service, flow: &Flow, identity: Option<&Identity>, headers: &HeaderMap) -> Value {
    let mut json = match (flow.kind, identity) {
        (FlowKind::Settings, Some(i)) => flow.to_json(Some((
            "identity",
            identity_json(i, &s.public_base(headers), View::Public, None),
        ))),
        _ => flow.to_json(None),
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

/// The answer to "a flow was created": 303 to the UI for browsers, the flow JSON otherwise.
fn init_response(
    s: &Service,
    flow: &Flow,
    identity: Option<&Identity>,
    headers: &HeaderMap,
    cookie: Option<HeaderValue>,
) -> Response {
    let mut response = match client_for(flow.flow_type, headers) {
        Client::Browser => redirect(&with_query(ui_url(s, flow.kind), "flow", &flow.id)),
        Client::Spa | Client::Api => Json(flow_json(s, flow, identity, headers)).into_response(),
    };
    if let Some(c) = cookie {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

/// Answer to a submission with errors: 400 + flow, or 303 back to the UI.
async fn invalid_flow(
    s: &Service,
    flow: &Flow,
    identity: Option<&Identity>,
    headers: &HeaderMap,
) -> Result<Response> {
    s.store.update_flow(flow, s.now()).await?;
    Ok(match client_for(flow.flow_type, headers) {
        Client::Browser => redirect(&with_query(ui_url(s, flow.kind), "flow", &flow.id)),
        Client::Spa | Client::Api => (
            StatusCode::BAD_REQUEST,
            Json(flow_json(s, flow, identity, headers)),
        )
            .into_response(),
    })
}

/// Kratos' error forwarding (`errorx`): a browser that does not ask for JSON and hits an error in
/// a browser flow is sent 303 to `selfservice.flows.error.ui_url?id=<id>`, and the error is kept
/// for the error UI to read at `/self-service/errors?id=`. Everyone else gets the error itself;
/// so does an expired flow (its 410 names the flow to use instead).
async fn fail(s: &Service, headers: &HeaderMap, browser: bool, error: Error) -> Result<Response> {
    if !browser || wants_json(headers) || matches!(error, Error::FlowExpired { .. }) {
        return Err(error);
    }
    // Settings without a session go to the login flow; a too-old session re-authenticates.
    match &error {
        Error::Unauthorized => {
            return Ok(redirect(&format!(
                "{}/self-service/login/browser",
                s.public_base(headers)
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
async fn forward_errors<F, Fut>(
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
async fn forward_init_errors(
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
struct ErrorIdQuery {
    id: Option<String>,
}

/// `GET /self-service/errors?id=`: a stored flow error; `stub:500` is Kratos' canned example.
async fn get_flow_error(
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

#[derive(Debug, Deserialize)]
struct FlowIdQuery {
    id: Option<String>,
    flow: Option<String>,
}

/// Loads the flow a submission names (`?flow=`): as Kratos' `GetFlowID`, a missing, malformed
/// or nil id is the 400 "missing or malformed" (a GET of an unknown id is a 404), then as
/// [`load_flow`].
async fn load_submitted_flow(s: &Service, kind: FlowKind, id: Option<&str>) -> Result<Flow> {
    match id.map(uuid::Uuid::parse_str) {
        Some(Ok(uuid)) if !uuid.is_nil() => load_flow(s, kind, id).await,
        _ => Err(Error::BadRequest(
            "The flow query parameter is missing or malformed.".into(),
        )),
    }
}

/// Loads a flow of `kind` for a GET or a submission: 404 unknown or other kind, 410 expired.
async fn load_flow(s: &Service, kind: FlowKind, id: Option<&str>) -> Result<Flow> {
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

/// Browser flows: the CSRF cookie must match the flow's token (GET by id and submissions).
fn ensure_csrf(
    s: &Service,
    flow: &Flow,
    headers: &HeaderMap,
    submitted: Option<&str>,
) -> Result<()> {
    match flow.flow_type {
        FlowType::Browser => {
            let cookie = super::service::cookie_value(headers, &s.csrf_cookie_name(headers));
            let cookie_ok = cookie.as_deref().is_some_and(|c| {
                crate::crypto::constant_time_eq(c.as_bytes(), flow.csrf_token.as_bytes())
            });
            if !cookie_ok {
                return Err(Error::Csrf(
                    "The anti-CSRF cookie is missing or does not match this flow.".into(),
                ));
            }
            if let Some(token) = submitted {
                if !super::csrf::matches(token, &flow.csrf_token) {
                    return Err(Error::Csrf(
                        "The anti-CSRF token in the request does not match the anti-CSRF cookie."
                            .into(),
                    ));
                }
            }
            Ok(())
        }
        FlowType::Api => Ok(()),
    }
}

/// API-flow submissions must not look like a browser (cookies other than Cloudflare's, Origin).
fn ensure_not_browser(headers: &HeaderMap) -> Result<()> {
    let has_cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|line| {
            line.split(';').any(|p| {
                let name = p.trim().split('=').next().unwrap_or("");
                !(name.is_empty()
                    || name.starts_with("__cf")
                    || name.starts_with("_cf")
                    || name.starts_with("cf_"))
            })
        });
    if has_cookie || headers.contains_key(header::ORIGIN) {
        return Err(Error::BadRequest("The request was sent with cookies or an Origin header; native (api) flows must not be used from a browser — use the browser flow instead.".into()));
    }
    Ok(())
}

fn check_submission(
    s: &Service,
    flow: &Flow,
    headers: &HeaderMap,
    body: &Map<String, Value>,
) -> Result<()> {
    match flow.flow_type {
        FlowType::Browser => {
            let token = field(body, "csrf_token").map(str::to_string).or_else(|| {
                headers
                    .get("x-csrf-token")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            });
            match token {
                Some(t) => ensure_csrf(s, flow, headers, Some(&t)),
                None => Err(Error::Csrf(
                    "The anti-CSRF token is missing from the request.".into(),
                )),
            }
        }
        FlowType::Api => ensure_not_browser(headers),
    }
}

async fn get_flow(
    s: &Service,
    kind: FlowKind,
    q: &FlowIdQuery,
    headers: &HeaderMap,
) -> Result<Response> {
    let flow = load_flow(s, kind, q.id.as_deref()).await?;
    ensure_csrf(s, &flow, headers, None)?;
    let identity = match &flow.identity_id {
        Some(id) if kind == FlowKind::Settings => {
            let (_, ident) = s
                .current_session(headers)
                .await?
                .ok_or(Error::Unauthorized)?;
            if &ident.id != id {
                return Err(Error::Csrf("The flow belongs to another identity.".into()));
            }
            Some(ident)
        }
        _ => None,
    };
    Ok(Json(flow_json(s, &flow, identity.as_ref(), headers)).into_response())
}

// --- login ------------------------------------------------------------------------------------

async fn init_login(
    s: Service,
    flow_type: FlowType,
    headers: HeaderMap,
    uri: Uri,
    q: InitQuery,
) -> Result<Response> {
    let higher_aal = q.requested_aal()? != Aal::Aal1;
    if q.refresh != Some(true) || higher_aal {
        let present = match flow_type {
            FlowType::Api => match headers.get("x-session-token").and_then(|v| v.to_str().ok()) {
                Some(t) => s.session_by_token(t).await?,
                None => None,
            },
            FlowType::Browser => s.current_session(&headers).await?,
        };
        // Kratos: a second factor needs the first one's session.
        if higher_aal && present.is_none() {
            return Err(Error::SessionRequiredForHigherAal);
        }
        if present.is_some() && !higher_aal && q.refresh != Some(true) {
            if flow_type == FlowType::Browser && !wants_json(&headers) {
                let rt = check_return_to(&s, &headers, q.return_to.as_deref())?;
                return Ok(redirect(
                    &rt.unwrap_or_else(|| default_return(&s, FlowKind::Login, "")),
                ));
            }
            return Err(Error::SessionAlreadyAvailable);
        }
    }
    let (flow, cookie) = new_flow(&s, FlowKind::Login, flow_type, &headers, &uri, &q, None).await?;
    Ok(init_response(&s, &flow, None, &headers, cookie))
}

async fn init_login_browser(
    State(s): State<Service>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<InitQuery>,
) -> Result<Response> {
    let created = init_login(s.clone(), FlowType::Browser, headers.clone(), uri, q).await;
    forward_init_errors(&s, &headers, created).await
}

async fn init_login_api(
    State(s): State<Service>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<InitQuery>,
) -> Result<Response> {
    init_login(s, FlowType::Api, headers, uri, q).await
}

async fn get_login_flow(
    State(s): State<Service>,
    headers: HeaderMap,
    Query(q): Query<FlowIdQuery>,
) -> Result<Response> {
    get_flow(&s, FlowKind::Login, &q, &headers).await
}

/// The answer to a successful login or registration with a session.
#[allow(clippy::too_many_arguments)]
fn session_response(
    s: &Service,
    flow: &Flow,
    headers: &HeaderMap,
    session: &Session,
    identity: &Identity,
    token: &str,
    method: &str,
    extra: Vec<(&str, Value)>,
) -> Response {
    let base = s.public_base(headers);
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
            r.headers_mut().append(
                header::SET_COOKIE,
                s.session_cookie(token, session.expires_at),
            );
            r
        }
        Client::Browser => {
            let to = flow
                .return_to
                .clone()
                .unwrap_or_else(|| default_return(s, flow.kind, method));
            let mut r = redirect(&to);
            r.headers_mut().append(
                header::SET_COOKIE,
                s.session_cookie(token, session.expires_at),
            );
            r
        }
    }
}

async fn submit_login(
    State(s): State<Service>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    Query(q): Query<FlowIdQuery>,
    body: Bytes,
) -> Result<Response> {
    let loaded = load_submitted_flow(&s, FlowKind::Login, q.flow.as_deref()).await;
    forward_errors(&s, &headers, loaded, |flow| {
        login(&s, client, &headers, flow, &body)
    })
    .await
}

async fn login(
    s: &Service,
    client: IpAddr,
    headers: &HeaderMap,
    mut flow: Flow,
    body: &Bytes,
) -> Result<Response> {
    let body = parse_body(headers, body)?;
    check_submission(s, &flow, headers, &body)?;
    let method = field(&body, "method").unwrap_or("");
    if method != "password" || !s.config.selfservice.methods.password.enabled {
        flow.clear_messages();
        flow.add_message(UiText::error(
            4010002,
            "Could not find a strategy to log you in with. Did you fill out the form correctly?",
            json!({}),
        ));
        return invalid_flow(s, &flow, None, headers).await;
    }
    let identifier = field(&body, "identifier")
        .or_else(|| field(&body, "password_identifier"))
        .unwrap_or("")
        .trim()
        .to_string();
    let password = field(&body, "password").unwrap_or("").to_string();
    flow.clear_messages();
    flow.fill_values(&body);
    flow.active = Some(Method::Password);
    if identifier.is_empty() || password.is_empty() {
        let mut errors = Vec::new();
        if identifier.is_empty() {
            errors.push(super::schema::FieldError {
                pointer: "#/identifier".into(),
                message: UiText::missing("identifier"),
            });
        }
        if password.is_empty() {
            errors.push(super::schema::FieldError {
                pointer: "#/password".into(),
                message: UiText::missing("password"),
            });
        }
        flow.add_field_errors(&errors);
        return invalid_flow(s, &flow, None, headers).await;
    }
    let ip = client.to_string();
    // Counted as a failure before the hash is verified; settled below.
    s.throttle_reserve(&identifier, Some(&ip)).await?;
    let found = s
        .store
        .find_by_identifier(CredentialType::Password, &identifier)
        .await?;
    let hash = found.as_ref().and_then(|(_, c)| {
        c.config
            .get("hashed_password")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let ok = s.verify_password(password.clone(), hash.clone()).await?;
    let Some((identity, credential)) = found.filter(|_| ok) else {
        flow.add_message(UiText::invalid_credentials());
        return invalid_flow(s, &flow, None, headers).await;
    };
    if identity.state != super::model::IdentityState::Active {
        s.throttle_refund(&identifier, Some(&ip)).await?;
        flow.add_message(UiText::error(
            4000001,
            "This account is disabled.",
            json!({"reason": "identity is inactive"}),
        ));
        return invalid_flow(s, &flow, None, headers).await;
    }
    s.throttle_success(&identifier, Some(&ip)).await?;
    if let Some(h) = &hash {
        if s.hasher.needs_rehash(h) {
            let fresh = s.hash_password(password).await?;
            s.store
                .update_credential_config(
                    &credential.id,
                    &json!({"hashed_password": fresh}),
                    s.now(),
                )
                .await?;
        }
    }
    // refresh=true re-authenticates the present session instead of creating another one.
    if flow.refresh {
        if let Some(token) = s.request_token(headers) {
            if let Some((mut session, ident)) = s.session_by_token(&token).await? {
                if ident.id == identity.id {
                    let now = s.now();
                    session.authenticated_at = now;
                    session.expires_at = now + s.config.session.lifespan.micros();
                    session.methods.push(super::model::AuthMethod {
                        method: "password".into(),
                        aal: Aal::Aal1,
                        completed_at: now,
                    });
                    s.store.refresh_session(&session, now).await?;
                    let after = &s.config.selfservice.flows.login.after;
                    revoke_other_sessions_if_hooked(s, after, "password", &ident.id, &session.id)
                        .await?;
                    flow.state = FlowState::PassedChallenge;
                    s.store.update_flow(&flow, now).await?;
                    return Ok(session_response(
                        s,
                        &flow,
                        headers,
                        &session,
                        &ident,
                        &token,
                        "password",
                        Vec::new(),
                    ));
                }
            }
        }
    }
    let (session, token) = s
        .issue_session(&identity, "password", Some(ip), user_agent(headers))
        .await?;
    let after = &s.config.selfservice.flows.login.after;
    revoke_other_sessions_if_hooked(s, after, "password", &identity.id, &session.id).await?;
    flow.state = FlowState::PassedChallenge;
    s.store.update_flow(&flow, s.now()).await?;
    Ok(session_response(
        s,
        &flow,
        headers,
        &session,
        &identity,
        &token,
        "password",
        Vec::new(),
    ))
}

// --- registration -----------------------------------------------------------------------------

async fn init_registration(
    s: Service,
    flow_type: FlowType,
    headers: HeaderMap,
    uri: Uri,
    q: InitQuery,
) -> Result<Response> {
    if !s.config.selfservice.flows.registration.enabled {
        return Err(Error::FlowDisabled);
    }
    let present = match flow_type {
        FlowType::Api => match headers.get("x-session-token").and_then(|v| v.to_str().ok()) {
            Some(t) => s.session_by_token(t).await?,
            None => None,
        },
        FlowType::Browser => s.current_session(&headers).await?,
    };
    if present.is_some() {
        if flow_type == FlowType::Browser && !wants_json(&headers) {
            let rt = check_return_to(&s, &headers, q.return_to.as_deref())?;
            return Ok(redirect(&rt.unwrap_or_else(|| {
                default_return(&s, FlowKind::Registration, "")
            })));
        }
        return Err(Error::SessionAlreadyAvailable);
    }
    let (flow, cookie) = new_flow(
        &s,
        FlowKind::Registration,
        flow_type,
        &headers,
        &uri,
        &q,
        None,
    )
    .await?;
    Ok(init_response(&s, &flow, None, &headers, cookie))
}

async fn init_registration_browser(
    State(s): State<Service>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<InitQuery>,
) -> Result<Response> {
    let created = init_registration(s.clone(), FlowType::Browser, headers.clone(), uri, q).await;
    forward_init_errors(&s, &headers, created).await
}

async fn init_registration_api(
    State(s): State<Service>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<InitQuery>,
) -> Result<Response> {
    init_registration(s, FlowType::Api, headers, uri, q).await
}

async fn get_registration_flow(
    State(s): State<Service>,
    headers: HeaderMap,
    Query(q): Query<FlowIdQuery>,
) -> Result<Response> {
    get_flow(&s, FlowKind::Registration, &q, &headers).await
}

fn has_session_hook(s: &Service) -> bool {
    s.config
        .selfservice
        .flows
        .registration
        .after
        .runs("password", "session")
}

/// Kratos' `revoke_active_sessions` hook (login and settings): every other session of the
/// identity is revoked once `kept` is the one that authenticated.
async fn revoke_other_sessions_if_hooked(
    s: &Service,
    after: &crate::config::identity::AfterConfig,
    method: &str,
    identity_id: &str,
    kept: &str,
) -> Result<()> {
    if after.runs(method, "revoke_active_sessions") {
        s.store
            .disable_other_sessions(identity_id, kept, s.now())
            .await?;
    }
    Ok(())
}

async fn submit_registration(
    State(s): State<Service>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    Query(q): Query<FlowIdQuery>,
    body: Bytes,
) -> Result<Response> {
    let loaded = if s.config.selfservice.flows.registration.enabled {
        load_submitted_flow(&s, FlowKind::Registration, q.flow.as_deref()).await
    } else {
        Err(Error::FlowDisabled)
    };
    forward_errors(&s, &headers, loaded, |flow| {
        register(&s, client, &headers, flow, &body)
    })
    .await
}

async fn register(
    s: &Service,
    client: IpAddr,
    headers: &HeaderMap,
    mut flow: Flow,
    body: &Bytes,
) -> Result<Response> {
    let body = parse_body(headers, body)?;
    check_submission(s, &flow, headers, &body)?;
    flow.clear_messages();
    flow.fill_values(&body);
    let method = field(&body, "method").unwrap_or("");
    if method != "password" || !s.config.selfservice.methods.password.enabled {
        flow.add_message(UiText::error(
            4010002,
            "Could not find a strategy to sign you up with. Did you fill out the form correctly?",
            json!({}),
        ));
        return invalid_flow(s, &flow, None, headers).await;
    }
    flow.active = Some(Method::Password);
    let traits = body.get("traits").cloned().unwrap_or_else(|| json!({}));
    let password = field(&body, "password").unwrap_or("").to_string();
    let schema_id = s.schemas.default_id.clone();
    let Some(schema) = s.schemas.get(&schema_id).cloned() else {
        return Err(Error::Internal("no identity schema configured".into()));
    };
    let mut errors = schema.validate(&traits);
    if password.is_empty() {
        errors.push(super::schema::FieldError {
            pointer: "#/password".into(),
            message: UiText::missing("password"),
        });
    } else if errors.is_empty() {
        let ids = schema.facts(&traits).password_identifiers;
        let bcrypt = matches!(s.hasher, crate::crypto::password::Hasher::Bcrypt { .. });
        if let Err(msg) = policy::check(
            &s.config.selfservice.methods.password.config,
            &password,
            &ids,
            bcrypt,
        ) {
            errors.push(super::schema::FieldError {
                pointer: "#/password".into(),
                message: msg,
            });
        }
    }
    if !errors.is_empty() {
        flow.add_field_errors(&errors);
        return invalid_flow(s, &flow, None, headers).await;
    }
    let input = IdentityInput {
        schema_id,
        traits,
        password: Some(PasswordInput::Plain(password)),
        ..IdentityInput::default()
    };
    let (identity, creds) = match s.build_identity(input, None).await? {
        Built::Ok(i, c) => (i, c),
        Built::Invalid(errors) => {
            flow.add_field_errors(&errors);
            return invalid_flow(s, &flow, None, headers).await;
        }
    };
    if creds.iter().all(|c| c.identifiers.is_empty()) {
        flow.add_message(UiText::error(4000009, "Could not find any login identifiers. Did you forget to set them? This could also be caused by a server misconfiguration.", json!({})));
        return invalid_flow(s, &flow, None, headers).await;
    }
    match s.store.create_identity(&identity, &creds).await {
        Ok(()) => {}
        Err(Error::Conflict) => {
            flow.add_message(UiText::duplicate_identifier());
            return invalid_flow(s, &flow, None, headers).await;
        }
        Err(e) => return Err(e),
    }
    flow.state = FlowState::PassedChallenge;
    s.store.update_flow(&flow, s.now()).await?;
    let identity_body = identity_json(&identity, &s.public_base(headers), View::Public, None);
    if has_session_hook(s) {
        let (session, token) = s
            .issue_session(
                &identity,
                "password",
                Some(client.to_string()),
                user_agent(headers),
            )
            .await?;
        let mut extra = vec![("identity", identity_body)];
        if flow.flow_type == FlowType::Api {
            extra.push((
                "continue_with",
                json!([{"action": "set_ory_session_token", "ory_session_token": token}]),
            ));
        }
        let r = session_response(
            s, &flow, headers, &session, &identity, &token, "password", extra,
        );
        return Ok(r);
    }
    Ok(match client_for(flow.flow_type, headers) {
        Client::Browser => redirect(
            &flow
                .return_to
                .clone()
                .unwrap_or_else(|| default_return(s, FlowKind::Registration, "password")),
        ),
        Client::Spa | Client::Api => Json(json!({ "identity": identity_body })).into_response(),
    })
}

// --- settings ---------------------------------------------------------------------------------

async fn init_settings(
    s: Service,
    flow_type: FlowType,
    headers: HeaderMap,
    uri: Uri,
    q: InitQuery,
) -> Result<Response> {
    let session = match flow_type {
        FlowType::Api => match headers.get("x-session-token").and_then(|v| v.to_str().ok()) {
            Some(t) => s.session_by_token(t).await?,
            None => None,
        },
        FlowType::Browser => s.current_session(&headers).await?,
    };
    let Some((_, identity)) = session else {
        if flow_type == FlowType::Browser && !wants_json(&headers) {
            return Ok(redirect(&format!(
                "{}/self-service/login/browser",
                s.public_base(&headers)
            )));
        }
        return Err(Error::Unauthorized);
    };
    let (flow, cookie) = new_flow(
        &s,
        FlowKind::Settings,
        flow_type,
        &headers,
        &uri,
        &q,
        Some(&identity),
    )
    .await?;
    Ok(init_response(&s, &flow, Some(&identity), &headers, cookie))
}

async fn init_settings_browser(
    State(s): State<Service>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<InitQuery>,
) -> Result<Response> {
    let created = init_settings(s.clone(), FlowType::Browser, headers.clone(), uri, q).await;
    forward_init_errors(&s, &headers, created).await
}

async fn init_settings_api(
    State(s): State<Service>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<InitQuery>,
) -> Result<Response> {
    init_settings(s, FlowType::Api, headers, uri, q).await
}

async fn get_settings_flow(
    State(s): State<Service>,
    headers: HeaderMap,
    Query(q): Query<FlowIdQuery>,
) -> Result<Response> {
    get_flow(&s, FlowKind::Settings, &q, &headers).await
}

async fn submit_settings(
    State(s): State<Service>,
    headers: HeaderMap,
    Query(q): Query<FlowIdQuery>,
    body: Bytes,
) -> Result<Response> {
    let loaded = load_submitted_flow(&s, FlowKind::Settings, q.flow.as_deref()).await;
    forward_errors(&s, &headers, loaded, |flow| {
        update_settings(&s, &headers, flow, &body)
    })
    .await
}

async fn update_settings(
    s: &Service,
    headers: &HeaderMap,
    mut flow: Flow,
    body: &Bytes,
) -> Result<Response> {
    let (session, identity) = s
        .current_session(headers)
        .await?
        .ok_or(Error::Unauthorized)?;
    if flow.identity_id.as_deref() != Some(identity.id.as_str()) {
        return Err(Error::Csrf(
            "The settings flow belongs to another identity.".into(),
        ));
    }
    let body = parse_body(headers, body)?;
    check_submission(s, &flow, headers, &body)?;
    flow.clear_messages();
    let method = field(&body, "method").unwrap_or("").to_string();
    let creds = s.store.credentials(&identity.id).await?;
    let mut input = IdentityInput {
        schema_id: identity.schema_id.clone(),
        traits: identity.traits.clone(),
        state: Some(identity.state),
        metadata_public: identity.metadata_public.clone(),
        metadata_admin: identity.metadata_admin.clone(),
        ..IdentityInput::default()
    };
    match method.as_str() {
        "profile" if s.config.selfservice.methods.profile.enabled => {
            input.traits = body.get("traits").cloned().unwrap_or_else(|| json!({}));
        }
        "password" if s.config.selfservice.methods.password.enabled => {
            ensure_privileged(s, headers, &session, &flow)?;
            let password = field(&body, "password").unwrap_or("").to_string();
            let ids: Vec<String> = creds
                .iter()
                .filter(|c| c.kind == CredentialType::Password)
                .flat_map(|c| c.identifiers.clone())
                .collect();
            let bcrypt = matches!(s.hasher, crate::crypto::password::Hasher::Bcrypt { .. });
            let problem = if password.is_empty() {
                Some(UiText::missing("password"))
            } else {
                policy::check(
                    &s.config.selfservice.methods.password.config,
                    &password,
                    &ids,
                    bcrypt,
                )
                .err()
            };
            if let Some(msg) = problem {
                flow.add_field_errors(&[super::schema::FieldError {
                    pointer: "#/password".into(),
                    message: msg,
                }]);
                return invalid_flow(s, &flow, Some(&identity), headers).await;
            }
            input.password = Some(PasswordInput::Plain(password));
        }
        _ => {
            flow.add_message(UiText::error(4010002, "Could not find a strategy to update your settings. Did you fill out the form correctly?", json!({})));
            return invalid_flow(s, &flow, Some(&identity), headers).await;
        }
    }
    let (updated, new_creds) = match s.build_identity(input, Some((&identity, &creds))).await? {
        Built::Ok(i, c) => (i, c),
        Built::Invalid(errors) => {
            flow.fill_values(&body);
            flow.add_field_errors(&errors);
            return invalid_flow(s, &flow, Some(&identity), headers).await;
        }
    };
    // Kratos' protected fields: a profile change that touches a login identifier or an
    // address needs a privileged (recent) session, as a password change does.
    if method == "profile" && changes_protected_fields(&identity, &creds, &updated, &new_creds) {
        ensure_privileged(s, headers, &session, &flow)?;
    }
    let creds = new_creds;
    match s.store.replace_identity(&updated, &creds).await {
        Ok(()) => {}
        Err(Error::Conflict) => {
            flow.add_message(UiText::duplicate_identifier());
            return invalid_flow(s, &flow, Some(&identity), headers).await;
        }
        Err(e) => return Err(e),
    }
    let after = &s.config.selfservice.flows.settings.after;
    revoke_other_sessions_if_hooked(s, after, &method, &identity.id, &session.id).await?;
    flow.state = FlowState::Success;
    flow.active = Method::parse(&method);
    flow.ui.nodes = nodes_for(s, FlowKind::Settings, &flow.csrf_token, Some(&updated));
    flow.add_message(UiText::settings_saved());
    s.store.update_flow(&flow, s.now()).await?;
    Ok(match client_for(flow.flow_type, headers) {
        Client::Browser => redirect(&with_query(ui_url(s, FlowKind::Settings), "flow", &flow.id)),
        Client::Spa | Client::Api => {
            Json(flow_json(s, &flow, Some(&updated), headers)).into_response()
        }
    })
}

/// Kratos' `privileged_session_max_age`: a session authenticated longer ago must
/// re-authenticate (403 `session_refresh_required` with the login URL to refresh at; browsers
/// are redirected there) before a privileged change.
fn ensure_privileged(
    s: &Service,
    headers: &HeaderMap,
    session: &Session,
    flow: &Flow,
) -> Result<()> {
    let max_age = s
        .config
        .selfservice
        .flows
        .settings
        .privileged_session_max_age
        .micros();
    if session.authenticated_at + max_age >= s.now() {
        return Ok(());
    }
    let to = format!(
        "{}/self-service/login/browser?refresh=true&return_to={}",
        s.public_base(headers),
        url::form_urlencoded::byte_serialize(flow.ui.action.as_bytes()).collect::<String>()
    );
    Err(Error::RefreshRequired { redirect_to: to })
}

/// Whether an update changes what Kratos protects (`identity.Manager.requiresPrivilegedAccess`):
/// the credentials' identifiers or the verifiable addresses — and, stricter than Kratos, the
/// recovery addresses (a new recovery address is as good as a new login).
fn changes_protected_fields(
    old: &Identity,
    old_creds: &[super::model::Credential],
    new: &Identity,
    new_creds: &[super::model::Credential],
) -> bool {
    use std::collections::BTreeSet;
    let identifiers = |creds: &[super::model::Credential]| -> BTreeSet<(String, String)> {
        creds
            .iter()
            .flat_map(|c| {
                c.identifiers
                    .iter()
                    .map(move |i| (c.kind.as_str().to_string(), i.clone()))
            })
            .collect()
    };
    let verifiable = |i: &Identity| -> BTreeSet<(String, String)> {
        i.verifiable_addresses
            .iter()
            .map(|a| (a.value.clone(), a.via.clone()))
            .collect()
    };
    let recovery = |i: &Identity| -> BTreeSet<(String, String)> {
        i.recovery_addresses
            .iter()
            .map(|a| (a.value.clone(), a.via.clone()))
            .collect()
    };
    identifiers(old_creds) != identifiers(new_creds)
        || verifiable(old) != verifiable(new)
        || recovery(old) != recovery(new)
}

// --- logout -----------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct LogoutInit {
    return_to: Option<String>,
}

async fn logout_browser(
    State(s): State<Service>,
    headers: HeaderMap,
    Query(q): Query<LogoutInit>,
) -> Result<Json<Value>> {
    let rt = check_return_to(&s, &headers, q.return_to.as_deref())?;
    let (session, _) = s
        .current_session(&headers)
        .await?
        .ok_or(Error::Unauthorized)?;
    let mut url = format!(
        "{}/self-service/logout?token={}",
        s.public_base(&headers),
        session.logout_token
    );
    if let Some(rt) = rt {
        url.push_str(&format!(
            "&return_to={}",
            url::form_urlencoded::byte_serialize(rt.as_bytes()).collect::<String>()
        ));
    }
    Ok(Json(
        json!({"logout_url": url, "logout_token": session.logout_token}),
    ))
}

#[derive(Debug, Deserialize)]
struct LogoutQuery {
    token: Option<String>,
    return_to: Option<String>,
}

async fn logout(
    State(s): State<Service>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let q: LogoutQuery = serde_urlencoded::from_str(raw.as_deref().unwrap_or_default())
        .map_err(|e| Error::BadRequest(e.to_string()))?;
    let token = q
        .token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::BadRequest("Please include a token in the URL query.".into()))?;
    let rt = check_return_to(&s, &headers, q.return_to.as_deref())?;
    let (current, _) = s
        .current_session(&headers)
        .await?
        .ok_or(Error::Unauthorized)?;
    if !crate::crypto::constant_time_eq(current.logout_token.as_bytes(), token.as_bytes()) {
        return Err(Error::Csrf("Unable to log out because the logout token in the URL query does not match the session cookie.".into()));
    }
    s.store.disable_session(&current.id, None, s.now()).await?;
    let mut r = if wants_json(&headers) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        let to = rt
            .or_else(|| {
                s.config
                    .selfservice
                    .flows
                    .logout
                    .after
                    .default_browser_return_url
                    .clone()
            })
            .or_else(|| s.config.selfservice.default_browser_return_url.clone())
            .unwrap_or_else(|| "/".into());
        redirect(&to)
    };
    r.headers_mut()
        .append(header::SET_COOKIE, s.clear_session_cookie());
    Ok(r)
}

async fn logout_api(State(s): State<Service>, Json(body): Json<Value>) -> Result<StatusCode> {
    let token = body
        .get("session_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Error::BadRequest("The session_token is missing from the request body.".into())
        })?;
    if body
        .as_object()
        .is_some_and(|m| m.keys().any(|k| k != "session_token"))
    {
        return Err(Error::BadRequest(
            "Only `session_token` may be sent to this endpoint.".into(),
        ));
    }
    let found = s
        .store
        .session_by_token(&super::service::sha256_hex(token))
        .await?;
    let Some((session, _)) = found else {
        return Err(Error::Forbidden(
            "The provided session token is not valid.".into(),
        ));
    };
    s.store.disable_session(&session.id, None, s.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
