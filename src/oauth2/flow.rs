//! The authorization-code flow through Hydra's login and consent challenges: `/oauth2/auth`
//! (start, login verifier, consent verifier), the admin login/consent/logout request endpoints,
//! consent and login sessions. The state machine itself ([`next_state`]) is pure: it reads no
//! clock (the time is passed in) and does no I/O; the store applies its result with a
//! compare-and-set so a replayed verifier or a concurrent accept never wins twice.

use crate::http::Query;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::client::Client;
use super::error::{Error, Result};
use super::service::{Form, GrantSession, Oauth2};
use super::store::{ConsentRow, FlowRow};
use super::token::Kind;
use crate::store::time::rfc3339_seconds as rfc3339;

/// Where a challenge is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowState {
    Pending,
    Accepted,
    Rejected,
    Used,
}

impl FlowState {
    pub fn parse(s: &str) -> FlowState {
        match s {
            "accepted" => FlowState::Accepted,
            "rejected" => FlowState::Rejected,
            "used" => FlowState::Used,
            _ => FlowState::Pending,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FlowState::Pending => "pending",
            FlowState::Accepted => "accepted",
            FlowState::Rejected => "rejected",
            FlowState::Used => "used",
        }
    }
}

/// What happens to a challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowEvent {
    Accept,
    Reject,
    Redeem,
}

/// Why a transition is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowRefusal {
    /// Already handled: answer 410 with `redirect_to`.
    Handled,
    /// Older than `ttl.login_consent_request`.
    Expired,
    /// A verifier presented before the UI decided, or twice.
    NotRedeemable,
}

/// The pure transition function: `(state, event, now, requested_at, ttl)` → next state.
pub fn next_state(
    state: FlowState,
    event: FlowEvent,
    now: i64,
    requested_at: i64,
    ttl_micros: i64,
) -> Result<FlowState, FlowRefusal> {
    if now > requested_at.saturating_add(ttl_micros) {
        return Err(FlowRefusal::Expired);
    }
    match (state, event) {
        (FlowState::Pending, FlowEvent::Accept) => Ok(FlowState::Accepted),
        (FlowState::Pending, FlowEvent::Reject) => Ok(FlowState::Rejected),
        (FlowState::Accepted | FlowState::Rejected, FlowEvent::Redeem) => Ok(FlowState::Used),
        (_, FlowEvent::Accept | FlowEvent::Reject) => Err(FlowRefusal::Handled),
        (FlowState::Pending | FlowState::Used, FlowEvent::Redeem) => {
            Err(FlowRefusal::NotRedeemable)
        }
    }
}

fn refusal(r: FlowRefusal, redirect_to: String) -> Error {
    match r {
        FlowRefusal::Handled => Error::Gone { redirect_to },
        FlowRefusal::Expired => Error::RequestUnauthorized("The login or consent request has expired, please try again.".into()),
        FlowRefusal::NotRedeemable => Error::AccessDenied("The login or consent verifier has already been used, has not been granted, or is invalid.".into()),
    }
}

/// murmur3 x86 32-bit (seed 0), for Hydra's CSRF cookie names.
pub fn murmur3(data: &[u8]) -> u32 {
    let (c1, c2) = (0xcc9e_2d51u32, 0x1b87_3593u32);
    let mut h: u32 = 0;
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(c1).rotate_left(15).wrapping_mul(c2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let mut k: u32 = 0;
    for (i, b) in tail.iter().enumerate() {
        k ^= u32::from(*b) << (8 * i);
    }
    if !tail.is_empty() {
        h ^= k.wrapping_mul(c1).rotate_left(15).wrapping_mul(c2);
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

fn cookie_name(s: &Oauth2, base: &str) -> String {
    if s.settings().dev {
        format!("{base}_dev")
    } else {
        base.to_string()
    }
}

fn csrf_cookie(s: &Oauth2, kind: &str, client_id: &str) -> String {
    cookie_name(
        s,
        &format!("ory_hydra_{kind}_csrf_{}", murmur3(client_id.as_bytes())),
    )
}

/// When a login or consent remembered for `remember_for` seconds (the UI's number, any `i64`)
/// expires, in Unix microseconds; `0` is Hydra's "for ever", as is a non-positive value. A
/// `remember_for` past year 294 247 saturates instead of overflowing (a 500 in debug builds, a
/// wrapped — possibly already past — expiry in release ones).
fn remembered_until(now: i64, remember_for: i64) -> i64 {
    if remember_for > 0 {
        now.saturating_add(remember_for.saturating_mul(1_000_000))
    } else {
        0
    }
}

fn set_cookie(s: &Oauth2, name: &str, value: &str, max_age: Option<i64>) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(a) = max_age {
        c.push_str(&format!("; Max-Age={a}"));
    }
    if !s.settings().dev {
        c.push_str("; Secure");
    }
    c
}

/// A `Set-Cookie` for `name` whose value is `value` sealed for that cookie
/// (`crypto::cookie`): nobody without the cookie secrets can make one, whatever they know of
/// `value`.
fn set_sealed_cookie(s: &Oauth2, name: &str, value: &str, max_age: Option<i64>) -> Result<String> {
    let sealed = s
        .cookie_sealer()
        .seal(name, value.as_bytes())
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(set_cookie(s, name, &sealed, max_age))
}

/// How many cookies of one name a request may carry that are tried (a browser sends one per
/// path and domain that matches; more is somebody hoping to make the server work).
const SAME_NAME_COOKIES: usize = 8;

/// Every value the request carries for the cookie `name`, in order.
fn cookie_values<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(move |p| {
            let (k, v) = p.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// The value sealed in the first cookie called `name` that opens; a forged, foreign or planted
/// cookie of that name counts as not sent (and does not hide a genuine one sent after it). At
/// most [`SAME_NAME_COOKIES`] cookies of one name are tried.
fn read_sealed_cookie(s: &Oauth2, headers: &HeaderMap, name: &str) -> Option<String> {
    cookie_values(headers, name)
        .take(SAME_NAME_COOKIES)
        .find_map(|v| s.cookie_sealer().open(name, v))
        .and_then(|plain| String::from_utf8(plain).ok())
        .filter(|v| !v.is_empty())
}

/// The login session id in the browser's session cookie, if it holds a genuine one.
fn session_from_cookie(s: &Oauth2, headers: &HeaderMap) -> Option<String> {
    read_sealed_cookie(s, headers, &cookie_name(s, "ory_hydra_session"))
}

/// Hydra's 302 (to the login, consent, logout and error UIs).
fn redirect(to: &str, cookies: Vec<String>) -> Response {
    redirect_with(StatusCode::FOUND, to, cookies)
}

fn redirect_with(status: StatusCode, to: &str, cookies: Vec<String>) -> Response {
    let mut r = status.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    with_cookies(r, cookies)
}

fn with_cookies(mut r: Response, cookies: Vec<String>) -> Response {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

fn with_params(base: &str, params: &[(&str, &str)]) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().filter(|(_, v)| !v.is_empty()))
        .finish();
    format!("{base}{sep}{q}")
}

/// How the authorization endpoint's answer reaches the client (`response_mode`, fosite's
/// `ResponseModeType`; Hydra's clients allow all three).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResponseMode {
    Query,
    Fragment,
    /// An HTML page whose form POSTs the parameters to the redirect URI.
    FormPost,
}

impl ResponseMode {
    /// The mode of a `response_mode` value fosite knows (`""`, `query`, `fragment`,
    /// `form_post`); without one, `code` alone answers in the query and implicit and hybrid
    /// responses in the fragment.
    fn of(value: &str, code_only: bool) -> Self {
        match value {
            "query" => Self::Query,
            "fragment" => Self::Fragment,
            "form_post" => Self::FormPost,
            _ if code_only => Self::Query,
            _ => Self::Fragment,
        }
    }
}

/// fosite's `GetAudiences`: a repeated `audience` parameter counts value by value, a single
/// one is split at spaces.
fn requested_audience(form: &Form) -> Vec<String> {
    let values = form.all("audience");
    let split: Vec<String> = match values.as_slice() {
        [one] => one.split(' ').map(str::to_string).collect(),
        _ => values,
    };
    split.into_iter().filter(|a| !a.is_empty()).collect()
}

/// An answer to the client at its (validated) redirect URI, as fosite writes it: a 303 with
/// the parameters in the query or the fragment, or the `form_post` page; never cached.
fn to_client(
    redirect_uri: &str,
    mode: ResponseMode,
    params: &[(&str, &str)],
    cookies: Vec<String>,
) -> Response {
    let present = params.iter().filter(|(_, v)| !v.is_empty());
    let see_other = StatusCode::SEE_OTHER;
    let mut response = match mode {
        ResponseMode::Query => {
            redirect_with(see_other, &with_params(redirect_uri, params), cookies)
        }
        ResponseMode::Fragment => {
            let q: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(present)
                .finish();
            redirect_with(see_other, &format!("{redirect_uri}#{q}"), cookies)
        }
        ResponseMode::FormPost => {
            let mut sorted: Vec<&(&str, &str)> = present.collect();
            sorted.sort_by_key(|(k, _)| *k);
            with_cookies(super::html::form_post(redirect_uri, &sorted), cookies)
        }
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// An error of the authorization endpoint, redirected to the client when its redirect URI is
/// known good, else to `urls.error`.
fn auth_error(
    s: &Oauth2,
    e: Error,
    redirect_uri: Option<&str>,
    state: &str,
    mode: ResponseMode,
) -> Response {
    let (_, code, description) = e.parts();
    match redirect_uri {
        Some(uri) => to_client(
            uri,
            mode,
            &[
                ("error", code.as_str()),
                ("error_description", description.as_str()),
                ("state", state),
            ],
            vec![],
        ),
        None => redirect(
            &with_params(
                &s.ui_url("error"),
                &[("error", &code), ("error_description", &description)],
            ),
            vec![],
        ),
    }
}

/// The validated parts of an authorization request.
struct AuthRequest {
    client: Client,
    redirect_uri: String,
    redirect_given: bool,
    state: String,
    scopes: Vec<String>,
    audience: Vec<String>,
    mode: ResponseMode,
    /// The requested response types, sorted and deduplicated (`["code"]`, `["id_token",
    /// "token"]`, …).
    response_types: Vec<String>,
}

impl AuthRequest {
    fn wants(&self, t: &str) -> bool {
        self.response_types.iter().any(|r| r == t)
    }
}

/// A `response_type` value as a sorted set of its space-separated members.
fn response_type_set(value: &str) -> Vec<String> {
    let mut types: Vec<String> = value.split_whitespace().map(str::to_string).collect();
    types.sort();
    types.dedup();
    types
}

/// The response types Hydra 2.2 (fosite) handles: code, implicit and hybrid.
/// fosite's `IsRedirectURISecure`: anything but plain http, or http to a localhost name.
fn is_redirect_secure(uri: &str) -> bool {
    let Ok(u) = url::Url::parse(uri) else {
        return true;
    };
    if u.scheme() != "http" {
        return true;
    }
    let host = u.host_str().unwrap_or("").trim_matches(['[', ']']);
    host == "localhost" || host.ends_with(".localhost") || host == "127.0.0.1" || host == "::1"
}

fn supported_response_types(types: &[String]) -> bool {
    let t: Vec<&str> = types.iter().map(String::as_str).collect();
    matches!(
        t.as_slice(),
        ["code"]
            | ["token"]
            | ["id_token"]
            | ["id_token", "token"]
            | ["code", "id_token"]
            | ["code", "token"]
            | ["code", "id_token", "token"]
    )
}

fn is_loopback_match(registered: &str, given: &str) -> bool {
    let (Ok(r), Ok(g)) = (url::Url::parse(registered), url::Url::parse(given)) else {
        return false;
    };
    let loopback = |u: &url::Url| matches!(u.host_str(), Some("127.0.0.1") | Some("[::1]"));
    loopback(&r)
        && r.scheme() == "http"
        && g.scheme() == "http"
        && r.host_str() == g.host_str()
        && r.path() == g.path()
        && r.query() == g.query()
}

async fn validate_request(
    s: &Oauth2,
    form: &Form,
) -> std::result::Result<AuthRequest, (Error, Option<String>, String, ResponseMode)> {
    let state = form.get("state").unwrap_or("").to_string();
    let fail_early = |e: Error| (e, None, String::new(), ResponseMode::Query);
    if let Some(dup) = form.duplicate(&[
        "client_id",
        "redirect_uri",
        "response_type",
        "state",
        "scope",
        "nonce",
        "code_challenge",
    ]) {
        return Err(fail_early(Error::InvalidRequest(format!(
            "The parameter '{dup}' must not be included more than once."
        ))));
    }
    let client_id = form.get("client_id").unwrap_or("");
    let client = match s.store().get_client(client_id).await {
        Ok(Some(c)) => c.client,
        Ok(None) => {
            return Err(fail_early(Error::InvalidClient(
                "The requested OAuth 2.0 Client does not exist.".into(),
            )))
        }
        Err(e) => return Err(fail_early(e)),
    };
    // fosite parses response_mode before it trusts the redirect URI: an unknown mode goes to
    // the error UI.
    let mode_param = form.get("response_mode").unwrap_or("");
    if !matches!(mode_param, "" | "query" | "fragment" | "form_post") {
        return Err(fail_early(Error::Rejected {
            error: "unsupported_response_mode".into(),
            description: format!("The authorization server does not support obtaining a response using this response mode. Request with unsupported response_mode \"{mode_param}\"."),
            status: 400,
        }));
    }
    let given = form.get("redirect_uri").filter(|r| !r.is_empty());
    let redirect_uri = match given {
        Some(g) if client.redirect_uris.iter().any(|r| r == g || is_loopback_match(r, g)) => g.to_string(),
        Some(_) => return Err(fail_early(Error::InvalidRequest("The 'redirect_uri' parameter does not match any of the OAuth 2.0 Client's pre-registered redirect urls.".into()))),
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => return Err(fail_early(Error::InvalidRequest("The 'redirect_uri' parameter is required when the client has several redirect URIs.".into()))),
    };
    let response_type = form.get("response_type").unwrap_or("");
    let response_types = response_type_set(response_type);
    let code_only = response_types == ["code"];
    let has = |t: &str| response_types.iter().any(|r| r == t);
    let mode = ResponseMode::of(mode_param, code_only);
    let fail = |e: Error| (e, Some(redirect_uri.clone()), state.clone(), mode);
    // fosite's newAuthorizeRequest, in its order: scope, audience, `registration`, the client's
    // response types, state.
    let scopes = form.list("scope");
    s.check_scopes(&client, &scopes).map_err(fail)?;
    let audience = requested_audience(form);
    s.check_audience(&client, &audience).map_err(fail)?;
    // OpenID Connect's `registration` parameter (not `prompt=registration`): fosite refuses it.
    if form.get("registration").is_some_and(|r| !r.is_empty()) {
        return Err(fail(Error::Rejected {
            error: "registration_not_supported".into(),
            description: "The OP does not support use of the registration parameter.".into(),
            status: 400,
        }));
    }
    if response_types.is_empty() {
        return Err(fail(Error::UnsupportedResponseType(
            "`The request is missing the 'response_type' parameter.".into(),
        )));
    }
    if !client
        .effective_response_types()
        .iter()
        .any(|r| response_type_set(r) == response_types)
    {
        return Err(fail(Error::UnsupportedResponseType(format!(
            "The client is not allowed to request response_type '{response_type}'."
        ))));
    }
    // Go's len: bytes, not characters.
    if state.len() < 8 {
        return Err(fail(Error::InvalidState(
            "Request parameter 'state' must be at least be 8 characters long to ensure sufficient entropy.".into(),
        )));
    }
    // What fosite's authorize handlers check when they build the response (after login and
    // consent in Hydra; up front here, see docs/oauth2.md), in their order: the response types
    // some handler serves, grant types, nonce, PKCE, then the query mode's safety.
    if !supported_response_types(&response_types) {
        return Err(fail(Error::UnsupportedResponseType(String::new())));
    }
    // Hydra's redirect checker: plain http only to localhost, unless in development mode.
    if code_only && !s.settings().dev && !is_redirect_secure(&redirect_uri) {
        return Err(fail(Error::InvalidRequest("Redirect URL is using an insecure protocol, http is only allowed for hosts with suffix 'localhost', for example: http://myapp.localhost/.".into())));
    }
    // The plain code flow checks the grant type at the token endpoint only; the hybrid flow
    // here.
    let grants = client.effective_grant_types();
    if has("code") && !code_only && !grants.iter().any(|g| g == "authorization_code") {
        return Err(fail(Error::InvalidGrant(
            "The OAuth 2.0 Client is not allowed to use authorization grant 'authorization_code'."
                .into(),
        )));
    }
    if (has("token") || response_types == ["id_token"]) && !grants.iter().any(|g| g == "implicit") {
        return Err(fail(Error::InvalidGrant(
            "The OAuth 2.0 Client is not allowed to use the authorization grant 'implicit'.".into(),
        )));
    }
    let nonce = form.get("nonce").unwrap_or("");
    if has("id_token") && nonce.is_empty() {
        return Err(fail(Error::InvalidRequest(if has("code") {
            "Parameter 'nonce' must be set when requesting an ID Token using the OpenID Connect Hybrid Flow.".into()
        } else {
            "Parameter 'nonce' must be set when using the OpenID Connect Implicit Flow.".into()
        })));
    }
    if !nonce.is_empty() && nonce.len() < 8 {
        return Err(fail(Error::Rejected {
            error: "insufficient_entropy".into(),
            description: "The request used a security parameter (e.g., anti-replay, anti-csrf) with insufficient entropy. Parameter 'nonce' is set but does not satisfy the minimum entropy of 8 characters.".into(),
            status: 400,
        }));
    }
    let challenge = form.get("code_challenge").unwrap_or("");
    let method = form.get("code_challenge_method").unwrap_or("");
    if challenge.is_empty() && has("code") {
        if s.settings().pkce_enforced {
            return Err(fail(Error::InvalidRequest("Clients must include a code_challenge when performing the authorize code flow, but it is missing.".into())));
        }
        if s.settings().pkce_public && client.is_public() {
            return Err(fail(Error::InvalidRequest("This client must include a code_challenge when performing the authorize code flow, but it is missing.".into())));
        }
    }
    if !challenge.is_empty() {
        match method {
            "S256" => {}
            "plain" | "" => {
                return Err(fail(Error::InvalidRequest(
                    "Clients must use code_challenge_method=S256, plain is not allowed.".into(),
                )))
            }
            _ => {
                return Err(fail(Error::InvalidRequest(
                    "The code_challenge_method is not supported, use S256 instead.".into(),
                )))
            }
        }
    }
    if mode_param == "query" && !code_only {
        return Err(fail(Error::Rejected {
            error: "unsupported_response_mode".into(),
            description: format!("The authorization server does not support obtaining a response using this response mode. Insecure response_mode 'query' for the response_type '[{}]'.", response_type.split(' ').filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" ")),
            status: 400,
        }));
    }
    let prompt = form.get("prompt").unwrap_or("");
    if prompt.split_whitespace().any(|p| {
        !matches!(
            p,
            "none" | "login" | "consent" | "registration" | "select_account"
        )
    }) {
        return Err(fail(Error::InvalidRequest(format!(
            "Used unknown value '{prompt}' for prompt parameter."
        ))));
    }
    Ok(AuthRequest {
        audience,
        client,
        redirect_given: given.is_some(),
        redirect_uri,
        state,
        scopes,
        mode,
        response_types,
    })
}

/// Merges an OpenID Connect request object into the request's parameters, as fosite does:
/// each string (or number, or boolean) claim replaces the parameter of its name, and the
/// query's `scope` values are kept beside the object's. The client stays the one `client_id`
/// named in the query. Without an object, or for an unknown client (which `validate_request`
/// refuses), the form is unchanged.
async fn with_request_object(s: &Oauth2, mut form: Form) -> Result<Form> {
    if !Oauth2::carries_request_object(&form) {
        return Ok(form);
    }
    let Some(client_id) = form.get("client_id").map(str::to_string) else {
        return Ok(form);
    };
    let Ok(Some(stored)) = s.store().get_client(&client_id).await else {
        return Ok(form);
    };
    let Some(claims) = s.request_object(&stored.client, &form).await? else {
        return Ok(form);
    };
    let words = |v: &str| -> Vec<String> {
        v.split(' ')
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    };
    let query_scope = words(form.get("scope").unwrap_or(""));
    for (name, value) in claims {
        if matches!(name.as_str(), "client_id" | "request" | "request_uri") {
            continue;
        }
        let text = match value {
            Value::String(t) => t,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => continue,
        };
        form.set(&name, text);
    }
    let mut scope = words(form.get("scope").unwrap_or(""));
    for sc in query_scope {
        if !scope.contains(&sc) {
            scope.push(sc);
        }
    }
    form.set("scope", scope.join(" "));
    Ok(form)
}

/// `GET|POST /oauth2/auth`.
pub async fn authorize(
    State(s): State<Oauth2>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let mut form = Form::parse(query.unwrap_or_default().as_bytes());
    if !body.is_empty() {
        form.0.extend(Form::parse(&body).0);
    }
    let form = match with_request_object(&s, form).await {
        Ok(f) => f,
        Err(e) => return auth_error(&s, e, None, "", ResponseMode::Query),
    };
    let req = match validate_request(&s, &form).await {
        Ok(r) => r,
        Err((e, uri, state, mode)) => return auth_error(&s, e, uri.as_deref(), &state, mode),
    };
    let result = if let Some(v) = form.get("consent_verifier") {
        finish_consent(&s, &headers, &form, &req, v).await
    } else if let Some(v) = form.get("login_verifier") {
        finish_login(&s, &headers, &form, &req, v).await
    } else {
        start_login(&s, &headers, &form, &req).await
    };
    result.unwrap_or_else(|e| auth_error(&s, e, Some(&req.redirect_uri), &req.state, req.mode))
}

fn request_url(s: &Oauth2, form: &Form) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            form.0
                .iter()
                .filter(|(k, _)| k != "login_verifier" && k != "consent_verifier"),
        )
        .finish();
    format!("{}/oauth2/auth?{q}", s.public_base())
}

fn oidc_context(form: &Form) -> Value {
    let mut m = Map::new();
    if let Some(v) = form.get("acr_values").filter(|v| !v.is_empty()) {
        m.insert(
            "acr_values".into(),
            json!(v.split_whitespace().collect::<Vec<_>>()),
        );
    }
    if let Some(v) = form.get("ui_locales").filter(|v| !v.is_empty()) {
        m.insert(
            "ui_locales".into(),
            json!(v.split_whitespace().collect::<Vec<_>>()),
        );
    }
    for k in ["display", "login_hint"] {
        if let Some(v) = form.get(k).filter(|v| !v.is_empty()) {
            m.insert(k.into(), json!(v));
        }
    }
    Value::Object(m)
}

/// The claims of the request's `id_token_hint`: an ID token this server signed (an expired one
/// counts, as in Hydra) with a subject; `None` without a hint.
async fn id_token_hint_claims(s: &Oauth2, form: &Form) -> Result<Option<Map<String, Value>>> {
    let Some(hint) = form.get("id_token_hint").filter(|h| !h.is_empty()) else {
        return Ok(None);
    };
    let keys = id_token_verifiers(s).await?;
    let (_, claims) = super::jose::verify(hint, &keys).ok_or_else(|| {
        Error::InvalidRequest("Failed to validate OpenID Connect request as decoding id token from id_token_hint parameter failed.".into())
    })?;
    if hint_subject(&claims).is_empty() {
        return Err(Error::InvalidRequest("Failed to validate OpenID Connect request because provided id token from id_token_hint does not have a subject.".into()));
    }
    Ok(Some(claims))
}

/// The public keys ID tokens of this server verify with.
async fn id_token_verifiers(s: &Oauth2) -> Result<Vec<josekit::jwk::Jwk>> {
    Ok(s.key_set(super::service::ID_TOKEN_SET)
        .await?
        .iter()
        .filter_map(super::jose::public)
        .collect())
}

fn hint_subject(claims: &Map<String, Value>) -> &str {
    claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

async fn start_login(
    s: &Oauth2,
    headers: &HeaderMap,
    form: &Form,
    req: &AuthRequest,
) -> Result<Response> {
    let now = s.now_micros();
    let prompt = form.get("prompt").unwrap_or("");
    let mut skip = false;
    let mut subject = String::new();
    let mut sid = uuid::Uuid::new_v4().to_string();
    let mut auth_time = 0;
    if let Some(cookie_sid) = session_from_cookie(s, headers) {
        if let Some((subj, at, remember, exp, _)) = s.store().login_session(&cookie_sid).await? {
            let max_age_ok = form
                .get("max_age")
                .and_then(|m| m.parse::<i64>().ok())
                .is_none_or(|m| now - at <= m.saturating_mul(1_000_000));
            if remember && (exp == 0 || exp > now) && max_age_ok && !prompt.contains("login") {
                skip = true;
                subject = subj;
                sid = cookie_sid;
                auth_time = at;
            }
        }
    }
    let hint = id_token_hint_claims(s, form).await?;
    // Hydra's `matchesValueFromSession`: with a login session, the hint must name its subject,
    // as is, as this client sees it (pairwise), or as a login forced it for this client.
    if let Some(claims) = hint.as_ref().filter(|_| skip) {
        let named = hint_subject(claims);
        let forced = s
            .store()
            .forced_subject(&req.client.client_id, &subject)
            .await?;
        if named != subject
            && named != s.subject_identifier(&req.client, &subject, "")?
            && forced.as_deref() != Some(named)
        {
            return Err(Error::LoginRequired("Request failed because subject claim from id_token_hint does not match subject from authentication session.".into()));
        }
    }
    if prompt.contains("none") && !skip {
        return Err(Error::LoginRequired(
            "Prompt 'none' was requested, but no existing login session was found.".into(),
        ));
    }
    let mut oidc_context = oidc_context(form);
    if let (Some(claims), Value::Object(context)) = (hint, &mut oidc_context) {
        context.insert("id_token_hint_claims".into(), Value::Object(claims));
    }
    let challenge = crate::crypto::random_token(32);
    let csrf = crate::crypto::random_token(32);
    let doc = json!({
        "request_url": request_url(s, form),
        "requested_scope": req.scopes,
        "requested_access_token_audience": req.audience,
        "skip": skip,
        "session_id": sid,
        "auth_time": auth_time,
        "oidc_context": oidc_context,
        "csrf": csrf,
        "redirect_uri": if req.redirect_given { req.redirect_uri.clone() } else { String::new() },
        "prompt": prompt,
    });
    s.store()
        .insert_flow(&FlowRow {
            challenge: challenge.clone(),
            kind: "login".into(),
            verifier: format!("unset-{challenge}"),
            state: FlowState::Pending.as_str().into(),
            client_id: req.client.client_id.clone(),
            subject,
            requested_at: now,
            doc,
        })
        .await?;
    let target = if prompt.contains("registration") {
        s.ui_url("registration")
    } else {
        s.ui_url("login")
    };
    let cookie = set_sealed_cookie(
        s,
        &csrf_cookie(s, "login", &req.client.client_id),
        &csrf,
        Some(s.settings().flow_ttl.as_secs() as i64),
    )?;
    Ok(redirect(
        &with_params(&target, &[("login_challenge", &challenge)]),
        vec![cookie],
    ))
}

async fn redeem(
    s: &Oauth2,
    headers: &HeaderMap,
    kind: &str,
    verifier: &str,
    client_id: &str,
) -> Result<FlowRow> {
    let mut flow = s
        .store()
        .get_flow_by_verifier(verifier, kind)
        .await?
        .ok_or_else(|| {
            Error::AccessDenied(format!(
                "The {kind} verifier has already been used, has not been granted, or is invalid."
            ))
        })?;
    if flow.client_id != client_id {
        return Err(Error::InvalidRequest(format!(
            "The {kind} request was issued to another OAuth 2.0 client."
        )));
    }
    let expected = flow
        .doc
        .get("csrf")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let given =
        read_sealed_cookie(s, headers, &csrf_cookie(s, kind, client_id)).unwrap_or_default();
    if expected.is_empty()
        || !crate::crypto::constant_time_eq(expected.as_bytes(), given.as_bytes())
    {
        return Err(Error::RequestForbidden(format!("No CSRF value available in the session cookie, or the CSRF value does not match. Make sure the {kind} request is completed in the same browser that started it.")));
    }
    let from = flow.state.clone();
    let next = next_state(
        FlowState::parse(&from),
        FlowEvent::Redeem,
        s.now_micros(),
        flow.requested_at,
        s.settings().flow_ttl.as_micros() as i64,
    )
    .map_err(|r| refusal(r, String::new()))?;
    flow.state = next.as_str().into();
    if !s.store().transition_flow(&flow, &from).await? {
        return Err(refusal(FlowRefusal::NotRedeemable, String::new()));
    }
    if from == "rejected" {
        let e = &flow.doc["error"];
        let default = if kind == "login" {
            "login request denied"
        } else {
            "consent request denied"
        };
        return Err(Error::Rejected {
            error: e
                .get("error")
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .unwrap_or(default)
                .into(),
            description: [e.get("error_description"), e.get("error_hint")]
                .iter()
                .filter_map(|v| v.and_then(Value::as_str))
                .filter(|v| !v.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
            status: e
                .get("status_code")
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .filter(|c| *c >= 400)
                .unwrap_or(400),
        });
    }
    Ok(flow)
}

async fn finish_login(
    s: &Oauth2,
    headers: &HeaderMap,
    form: &Form,
    req: &AuthRequest,
    verifier: &str,
) -> Result<Response> {
    let login = redeem(s, headers, "login", verifier, &req.client.client_id).await?;
    let accept = &login.doc["accept"];
    let now = s.now_micros();
    let sid = login.doc["session_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let skip = login.doc["skip"].as_bool().unwrap_or(false);
    let remember = accept["remember"].as_bool().unwrap_or(false);
    let mut cookies = vec![set_cookie(
        s,
        &csrf_cookie(s, "login", &req.client.client_id),
        "",
        Some(-1),
    )];
    let mut auth_time = login.doc["auth_time"].as_i64().unwrap_or(now);
    // Hydra's obfuscated authentication session: a later id_token_hint may name this identifier.
    if let Some(forced) = accept["force_subject_identifier"]
        .as_str()
        .filter(|f| !f.is_empty())
    {
        s.store()
            .put_forced_subject(&req.client.client_id, &login.subject, forced)
            .await?;
    }
    if !skip {
        auth_time = now;
        let remember_for = accept["remember_for"].as_i64().unwrap_or(0);
        let exp = remembered_until(now, remember_for);
        s.store()
            .upsert_login_session(
                &sid,
                &login.subject,
                now,
                remember,
                exp,
                &json!({"identity_provider_session_id": accept["identity_provider_session_id"]}),
            )
            .await?;
        if remember {
            cookies.push(set_sealed_cookie(
                s,
                &cookie_name(s, "ory_hydra_session"),
                &sid,
                (remember_for > 0).then_some(remember_for),
            )?);
        }
    }
    // Consent: skip when a remembered consent covers every requested scope.
    let prompt = form.get("prompt").unwrap_or("");
    let requested: Vec<String> =
        serde_json::from_value(login.doc["requested_scope"].clone()).unwrap_or_default();
    let mut consent_skip = false;
    if !prompt.contains("consent") {
        for c in s
            .store()
            .consents(&login.subject, Some(&req.client.client_id), None)
            .await?
        {
            let granted: Vec<String> =
                serde_json::from_value(c.doc["grant_scope"].clone()).unwrap_or_default();
            if c.remember
                && (c.expires_at == 0 || c.expires_at > now)
                && requested
                    .iter()
                    .all(|r| s.settings().scope_strategy.allows(&granted, r))
            {
                consent_skip = true;
                break;
            }
        }
    }
    if prompt.contains("none") && !consent_skip {
        return Err(Error::ConsentRequired(
            "Prompt 'none' was requested, but no previous consent was found.".into(),
        ));
    }
    let challenge = crate::crypto::random_token(32);
    let csrf = crate::crypto::random_token(32);
    let doc = json!({
        "request_url": login.doc["request_url"],
        "requested_scope": requested,
        "requested_access_token_audience": login.doc["requested_access_token_audience"],
        "skip": consent_skip,
        "login_challenge": login.challenge,
        "login_session_id": sid,
        "acr": accept["acr"].as_str().unwrap_or(""),
        "amr": accept.get("amr").filter(|a| a.is_array()).cloned().unwrap_or(json!([])),
        "context": accept.get("context").cloned().unwrap_or(json!({})),
        "oidc_context": login.doc["oidc_context"],
        "auth_time": auth_time / 1_000_000,
        "csrf": csrf,
        "redirect_uri": login.doc["redirect_uri"],
        "nonce": form.get("nonce").unwrap_or(""),
        "code_challenge": form.get("code_challenge").unwrap_or(""),
        "requested_at": login.requested_at,
        "force_subject_identifier": accept["force_subject_identifier"].as_str().unwrap_or(""),
    });
    s.store()
        .insert_flow(&FlowRow {
            challenge: challenge.clone(),
            kind: "consent".into(),
            verifier: format!("unset-{challenge}"),
            state: FlowState::Pending.as_str().into(),
            client_id: req.client.client_id.clone(),
            subject: login.subject.clone(),
            requested_at: now,
            doc,
        })
        .await?;
    cookies.push(set_sealed_cookie(
        s,
        &csrf_cookie(s, "consent", &req.client.client_id),
        &csrf,
        Some(s.settings().flow_ttl.as_secs() as i64),
    )?);
    Ok(redirect(
        &with_params(&s.ui_url("consent"), &[("consent_challenge", &challenge)]),
        cookies,
    ))
}

async fn finish_consent(
    s: &Oauth2,
    headers: &HeaderMap,
    form: &Form,
    req: &AuthRequest,
    verifier: &str,
) -> Result<Response> {
    let consent = redeem(s, headers, "consent", verifier, &req.client.client_id).await?;
    let d = &consent.doc;
    let accept = &d["accept"];
    let now = s.now_micros();
    let granted_scope: Vec<String> =
        serde_json::from_value(accept["grant_scope"].clone()).unwrap_or_default();
    let granted_audience: Vec<String> =
        serde_json::from_value(accept["grant_access_token_audience"].clone()).unwrap_or_default();
    s.check_audience(&req.client, &granted_audience)?;
    let skip = d["skip"].as_bool().unwrap_or(false);
    let remember = accept["remember"].as_bool().unwrap_or(false) && !skip;
    let remember_for = accept["remember_for"].as_i64().unwrap_or(0);
    s.store()
        .insert_consent(&ConsentRow {
            challenge: consent.challenge.clone(),
            subject: consent.subject.clone(),
            client_id: req.client.client_id.clone(),
            login_session_id: d["login_session_id"].as_str().unwrap_or_default().into(),
            remember,
            expires_at: remembered_until(now, remember_for),
            handled_at: now,
            doc: json!({
                "grant_scope": granted_scope,
                "grant_access_token_audience": granted_audience,
                "session": accept.get("session").cloned().unwrap_or(json!({})),
                "context": d["context"],
                "remember": remember,
                "remember_for": remember_for,
                "handled_at": rfc3339(now),
                "consent_request": consent_request_json(s, &consent, &req.client),
            }),
        })
        .await?;
    let pairwise = s.subject_identifier(
        &req.client,
        &consent.subject,
        d["force_subject_identifier"].as_str().unwrap_or_default(),
    )?;
    let session = GrantSession {
        obfuscated_subject: if pairwise == consent.subject {
            String::new()
        } else {
            pairwise
        },
        client_id: req.client.client_id.clone(),
        subject: consent.subject.clone(),
        granted_scope: granted_scope.clone(),
        granted_audience,
        requested_at: d["requested_at"].as_i64().unwrap_or(now) / 1_000_000,
        auth_time: d["auth_time"].as_i64().unwrap_or(0),
        ext: accept["session"]
            .get("access_token")
            .cloned()
            .filter(Value::is_object)
            .unwrap_or(json!({})),
        id_token: accept["session"]
            .get("id_token")
            .cloned()
            .filter(Value::is_object)
            .unwrap_or(json!({})),
        nonce: d["nonce"].as_str().unwrap_or_default().into(),
        acr: d["acr"].as_str().unwrap_or_default().into(),
        amr: serde_json::from_value(d["amr"].clone()).unwrap_or_default(),
        sid: d["login_session_id"].as_str().unwrap_or_default().into(),
        redirect_uri: d["redirect_uri"].as_str().unwrap_or_default().into(),
        code_challenge: d["code_challenge"].as_str().unwrap_or_default().into(),
        grant_types: req.client.effective_grant_types(),
    };
    // fosite's OpenID Connect prompt validation: the hint names the subject of the ID token.
    if granted_scope.iter().any(|sc| sc == "openid") {
        if let Some(claims) = id_token_hint_claims(s, form).await? {
            if hint_subject(&claims) != session.id_token_subject() {
                return Err(Error::LoginRequired("Failed to validate OpenID Connect request because the subject from provided id token from id_token_hint does not match the current session's subject.".into()));
            }
        }
    }
    let cookies = vec![set_cookie(
        s,
        &csrf_cookie(s, "consent", &req.client.client_id),
        "",
        Some(-1),
    )];
    if req.response_types != ["code"] {
        let params = implicit_or_hybrid(s, req, &session, &consent.challenge).await?;
        return Ok(respond(req, &params, cookies));
    }
    let code = s
        .issue_opaque(
            Kind::Code,
            &req.client,
            &session,
            &consent.challenge,
            Some(s.settings().code_ttl),
        )
        .await?;
    let scope = granted_scope.join(" ");
    let params = [
        ("code", code.as_str()),
        ("scope", scope.as_str()),
        ("state", req.state.as_str()),
    ];
    Ok(to_client(&req.redirect_uri, req.mode, &params, cookies))
}

/// The parameters of an implicit or hybrid response (fosite's `OpenIDConnectImplicitHandler`,
/// `AuthorizeImplicitGrantTypeHandler` and `OpenIDConnectHybridHandler`): `code` (hybrid),
/// `access_token`/`expires_in`/`token_type`/`scope` (with `token`), `state`, and `id_token`
/// (with `id_token` and the `openid` scope granted) carrying `c_hash`/`at_hash`.
async fn implicit_or_hybrid(
    s: &Oauth2,
    req: &AuthRequest,
    session: &GrantSession,
    request_id: &str,
) -> Result<Vec<(&'static str, String)>> {
    let openid = session.granted_scope.iter().any(|sc| sc == "openid");
    if req.wants("id_token") && !req.wants("code") && !openid {
        // fosite leaves the response type unhandled without the openid scope.
        return Err(Error::UnsupportedResponseType(
            "The authorization server does not support obtaining a token using this method.".into(),
        ));
    }
    let mut params: Vec<(&'static str, String)> = Vec::new();
    let code = if req.wants("code") {
        let code = s
            .issue_opaque(
                Kind::Code,
                &req.client,
                session,
                request_id,
                Some(s.settings().code_ttl),
            )
            .await?;
        params.push(("code", code.clone()));
        Some(code)
    } else {
        None
    };
    let access = if req.wants("token") {
        let ttl = s.lifespan(
            &req.client,
            "implicit_grant_access_token_lifespan",
            s.settings().access_ttl,
        );
        let at = s
            .issue_access_token(&req.client, session, request_id, ttl)
            .await?;
        params.push(("access_token", at.clone()));
        params.push(("expires_in", ttl.as_secs().to_string()));
        params.push(("token_type", "bearer".into()));
        params.push(("scope", session.granted_scope.join(" ")));
        Some(at)
    } else {
        None
    };
    params.push(("state", req.state.clone()));
    if req.wants("id_token") && openid {
        let ttl = s.lifespan(
            &req.client,
            "implicit_grant_id_token_lifespan",
            s.settings().id_ttl,
        );
        let id = s
            .id_token(
                &req.client,
                session,
                access.as_deref(),
                code.as_deref(),
                ttl,
            )
            .await?;
        params.push(("id_token", id));
    }
    // Go's url.Values encodes in key order.
    params.sort_by_key(|(k, _)| *k);
    Ok(params)
}

/// Answers the client with `params` in its response mode.
fn respond(req: &AuthRequest, params: &[(&str, String)], cookies: Vec<String>) -> Response {
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    to_client(&req.redirect_uri, req.mode, &pairs, cookies)
}

// --- admin: login / consent ----------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ChallengeQuery {
    login_challenge: Option<String>,
    consent_challenge: Option<String>,
    logout_challenge: Option<String>,
    challenge: Option<String>,
}

impl ChallengeQuery {
    fn pick(&self, kind: &str) -> Result<String> {
        let specific = match kind {
            "login" => &self.login_challenge,
            "consent" => &self.consent_challenge,
            _ => &self.logout_challenge,
        };
        specific
            .clone()
            .or_else(|| self.challenge.clone())
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                Error::BadRequest(format!(
                    "Query parameter '{kind}_challenge' is not defined but should have been."
                ))
            })
    }
}

async fn load(s: &Oauth2, kind: &str, challenge: &str) -> Result<(FlowRow, Client)> {
    let flow = s
        .store()
        .get_flow(challenge, kind)
        .await?
        .ok_or_else(|| Error::NotFound(format!("The {kind} challenge does not exist.")))?;
    let client = s
        .store()
        .get_client(&flow.client_id)
        .await?
        .map(|c| c.client.without_secrets())
        .unwrap_or_default();
    Ok((flow, client))
}

fn handled_redirect(flow: &FlowRow, param: &str) -> String {
    let url = flow.doc["request_url"].as_str().unwrap_or_default();
    if flow.state == "used" {
        url.to_string()
    } else {
        with_params(url, &[(param, &flow.verifier)])
    }
}

pub async fn get_login(
    State(s): State<Oauth2>,
    Query(q): Query<ChallengeQuery>,
) -> Result<Response> {
    let (flow, client) = load(&s, "login", &q.pick("login")?).await?;
    if flow.state != "pending" {
        return Err(Error::Gone {
            redirect_to: handled_redirect(&flow, "login_verifier"),
        });
    }
    if s.now_micros() > flow.requested_at + s.settings().flow_ttl.as_micros() as i64 {
        return Err(refusal(FlowRefusal::Expired, String::new()));
    }
    let d = &flow.doc;
    Ok(axum::Json(json!({
        "challenge": flow.challenge,
        "client": client,
        "request_url": d["request_url"],
        "requested_scope": d["requested_scope"],
        "requested_access_token_audience": d["requested_access_token_audience"],
        "skip": d["skip"],
        "subject": flow.subject,
        "session_id": d["session_id"],
        "oidc_context": d["oidc_context"],
    }))
    .into_response())
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct AcceptLogin {
    subject: String,
    remember: bool,
    remember_for: i64,
    acr: String,
    amr: Vec<String>,
    context: Value,
    extend_session_lifespan: bool,
    force_subject_identifier: String,
    identity_provider_session_id: String,
}

#[derive(Deserialize, Default, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
struct RejectBody {
    error: String,
    error_description: String,
    error_hint: String,
    error_debug: String,
    status_code: i64,
}

fn strict<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T> {
    if body.is_empty() {
        return serde_json::from_str("{}").map_err(|e| Error::BadRequest(e.to_string()));
    }
    serde_json::from_slice(body)
        .map_err(|e| Error::BadRequest(format!("Unable to decode the body: {e}")))
}

async fn decide(
    s: &Oauth2,
    kind: &str,
    challenge: &str,
    event: FlowEvent,
    field: &str,
    value: Value,
    subject: Option<String>,
) -> Result<Response> {
    let (mut flow, _) = load(s, kind, challenge).await?;
    let from = flow.state.clone();
    let param = format!("{kind}_verifier");
    let next = next_state(
        FlowState::parse(&from),
        event,
        s.now_micros(),
        flow.requested_at,
        s.settings().flow_ttl.as_micros() as i64,
    )
    .map_err(|r| refusal(r, handled_redirect(&flow, &param)))?;
    flow.state = next.as_str().into();
    flow.verifier = crate::crypto::random_token(32);
    if let Some(sub) = subject {
        flow.subject = sub;
    }
    if let Value::Object(m) = &mut flow.doc {
        m.insert(field.into(), value);
    }
    if !s.store().transition_flow(&flow, &from).await? {
        return Err(Error::Gone {
            redirect_to: handled_redirect(&flow, &param),
        });
    }
    Ok(axum::Json(json!({ "redirect_to": with_params(flow.doc["request_url"].as_str().unwrap_or_default(), &[(&param, &flow.verifier)]) })).into_response())
}

pub async fn accept_login(
    State(s): State<Oauth2>,
    Query(q): Query<ChallengeQuery>,
    body: Bytes,
) -> Result<Response> {
    let challenge = q.pick("login")?;
    let a: AcceptLogin = strict(&body)?;
    if a.subject.is_empty() {
        return Err(Error::BadRequest(
            "Field 'subject' must not be empty.".into(),
        ));
    }
    let (flow, _) = load(&s, "login", &challenge).await?;
    if flow.doc["skip"].as_bool() == Some(true)
        && flow.state == "pending"
        && a.subject != flow.subject
    {
        return Err(Error::BadRequest(format!(
            "Field 'subject' does not match subject from previous authentication: expected '{}'.",
            flow.subject
        )));
    }
    let value = json!({
        "remember": a.remember, "remember_for": a.remember_for, "acr": a.acr, "amr": a.amr,
        "context": if a.context.is_null() { json!({}) } else { a.context },
        "extend_session_lifespan": a.extend_session_lifespan,
        "force_subject_identifier": a.force_subject_identifier,
        "identity_provider_session_id": a.identity_provider_session_id,
    });
    decide(
        &s,
        "login",
        &challenge,
        FlowEvent::Accept,
        "accept",
        value,
        Some(a.subject),
    )
    .await
}

pub async fn reject_login(
    State(s): State<Oauth2>,
    Query(q): Query<ChallengeQuery>,
    body: Bytes,
) -> Result<Response> {
    let challenge = q.pick("login")?;
    let r: RejectBody = strict(&body)?;
    decide(
        &s,
        "login",
        &challenge,
        FlowEvent::Reject,
        "error",
        json!(r),
        None,
    )
    .await
}

fn consent_request_json(_s: &Oauth2, flow: &FlowRow, client: &Client) -> Value {
    let d = &flow.doc;
    json!({
        "challenge": flow.challenge,
        "client": client.clone().without_secrets(),
        "request_url": d["request_url"],
        "requested_scope": d["requested_scope"],
        "requested_access_token_audience": d["requested_access_token_audience"],
        "skip": d["skip"],
        "subject": flow.subject,
        "login_challenge": d["login_challenge"],
        "login_session_id": d["login_session_id"],
        "acr": d["acr"],
        "amr": d["amr"],
        "context": d["context"],
        "oidc_context": d["oidc_context"],
    })
}

pub async fn get_consent(
    State(s): State<Oauth2>,
    Query(q): Query<ChallengeQuery>,
) -> Result<Response> {
    let (flow, client) = load(&s, "consent", &q.pick("consent")?).await?;
    if flow.state != "pending" {
        return Err(Error::Gone {
            redirect_to: handled_redirect(&flow, "consent_verifier"),
        });
    }
    Ok(axum::Json(consent_request_json(&s, &flow, &client)).into_response())
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct AcceptConsent {
    grant_scope: Vec<String>,
    grant_access_token_audience: Vec<String>,
    remember: bool,
    remember_for: i64,
    handled_at: Option<String>,
    context: Value,
    session: Option<ConsentSession>,
}

#[derive(Deserialize, Default, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
struct ConsentSession {
    access_token: Value,
    id_token: Value,
}

pub async fn accept_consent(
    State(s): State<Oauth2>,
    Query(q): Query<ChallengeQuery>,
    body: Bytes,
) -> Result<Response> {
    let challenge = q.pick("consent")?;
    let a: AcceptConsent = strict(&body)?;
    let _ = (&a.handled_at, &a.context);
    let session = a.session.unwrap_or_default();
    let obj = |v: Value| if v.is_object() { v } else { json!({}) };
    let value = json!({
        "grant_scope": a.grant_scope,
        "grant_access_token_audience": a.grant_access_token_audience,
        "remember": a.remember,
        "remember_for": a.remember_for,
        "session": {"access_token": obj(session.access_token), "id_token": obj(session.id_token)},
    });
    decide(
        &s,
        "consent",
        &challenge,
        FlowEvent::Accept,
        "accept",
        value,
        None,
    )
    .await
}

pub async fn reject_consent(
    State(s): State<Oauth2>,
    Query(q): Query<ChallengeQuery>,
    body: Bytes,
) -> Result<Response> {
    let challenge = q.pick("consent")?;
    let r: RejectBody = strict(&body)?;
    decide(
        &s,
        "consent",
        &challenge,
        FlowEvent::Reject,
        "error",
        json!(r),
        None,
    )
    .await
}

// --- logout --------------------------------------------------------------------------------

/// `GET|POST /oauth2/sessions/logout`.
pub async fn logout(
    State(s): State<Oauth2>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let mut form = Form::parse(query.unwrap_or_default().as_bytes());
    if !body.is_empty() {
        form.0.extend(Form::parse(&body).0);
    }
    match logout_inner(&s, &headers, &form).await {
        Ok(r) => r,
        Err(e) => auth_error(&s, e, None, "", ResponseMode::Query),
    }
}

async fn logout_inner(s: &Oauth2, headers: &HeaderMap, form: &Form) -> Result<Response> {
    let session_cookie = cookie_name(s, "ory_hydra_session");
    if let Some(verifier) = form.get("logout_verifier") {
        let mut flow = s
            .store()
            .get_flow_by_verifier(verifier, "logout")
            .await?
            .ok_or_else(|| {
                Error::AccessDenied("The logout verifier is invalid or was used.".into())
            })?;
        let from = flow.state.clone();
        let next = next_state(
            FlowState::parse(&from),
            FlowEvent::Redeem,
            s.now_micros(),
            flow.requested_at,
            s.settings().flow_ttl.as_micros() as i64,
        )
        .map_err(|r| refusal(r, String::new()))?;
        flow.state = next.as_str().into();
        if !s.store().transition_flow(&flow, &from).await? {
            return Err(refusal(FlowRefusal::NotRedeemable, String::new()));
        }
        let sid = flow.doc["sid"].as_str().unwrap_or_default();
        let to = flow.doc["post_logout_redirect"]
            .as_str()
            .map(str::to_string)
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| s.ui_url("post_logout"));
        if !completes_in_sessions_browser(s, headers, &flow.subject).await? {
            return Ok(redirect(&to, vec![]));
        }
        let clients = s.store().login_session_clients(&flow.subject, sid).await?;
        let frontchannel = super::logout::frontchannel_urls(&clients, &s.issuer(), sid);
        // Back-channel first: the clients are found through the login session's consents.
        if let Err(e) = s.backchannel_logout(&clients, sid).await {
            tracing::error!(error = %e, "Unable to prepare OpenID Connect Back-Channel Logout");
        }
        s.end_login_session(sid).await?;
        let clear = set_cookie(s, &session_cookie, "", Some(-1));
        if frontchannel.is_empty() {
            return Ok(redirect(&to, vec![clear]));
        }
        let mut response = super::html::frontchannel_logout(&frontchannel, &to);
        if let Ok(v) = HeaderValue::from_str(&clear) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
        return Ok(response);
    }
    let mut client_id = String::new();
    let mut post_logout = String::new();
    let mut sid = session_from_cookie(s, headers).unwrap_or_default();
    let rp_initiated = form.get("id_token_hint").is_some_and(|h| !h.is_empty());
    if rp_initiated {
        let hint = form.get("id_token_hint").unwrap_or_default();
        let keys = id_token_verifiers(s).await?;
        let (_, claims) = super::jose::verify(hint, &keys).ok_or_else(|| {
            Error::InvalidRequest("The id_token_hint could not be verified.".into())
        })?;
        if claims.get("iss").and_then(Value::as_str) != Some(s.issuer().as_str()) {
            return Err(Error::InvalidRequest(
                "The id_token_hint was issued by another issuer.".into(),
            ));
        }
        sid = claims
            .get("sid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if sid.is_empty() {
            return Err(Error::InvalidRequest(
                "Logout failed because query parameter id_token_hint is missing sid claim.".into(),
            ));
        }
        if claims
            .get("sub")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(Error::InvalidRequest(
                "Logout failed because query parameter id_token_hint is missing sub claim.".into(),
            ));
        }
        client_id = match claims.get("aud") {
            Some(Value::Array(a)) => a
                .first()
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            Some(Value::String(a)) => a.clone(),
            _ => String::new(),
        };
        if let Some(uri) = form
            .get("post_logout_redirect_uri")
            .filter(|u| !u.is_empty())
        {
            let client = s.store().get_client(&client_id).await?.ok_or_else(|| {
                Error::InvalidRequest("The id_token_hint names an unknown client.".into())
            })?;
            if !client
                .client
                .post_logout_redirect_uris
                .iter()
                .any(|u| u == uri)
            {
                return Err(Error::InvalidRequest("Logout failed because query parameter post_logout_redirect_uri is not a whitelisted as a post_logout_redirect_uri for the client.".into()));
            }
            post_logout = with_params(uri, &[("state", form.get("state").unwrap_or(""))]);
        }
    } else if form.get("state").is_some() || form.get("post_logout_redirect_uri").is_some() {
        return Err(Error::InvalidRequest("Logout failed because query parameters state or post_logout_redirect_uri are set but id_token_hint is missing.".into()));
    }
    // Hydra's `GetRememberedLoginSession`: a session not remembered has no cookie in any
    // browser, so there is nothing a logout could end; straight to the post-logout URL.
    let session = if sid.is_empty() {
        None
    } else {
        s.store()
            .login_session(&sid)
            .await?
            .filter(|(_, _, remember, ..)| *remember)
    };
    let Some((sess_subject, ..)) = session else {
        let to = if post_logout.is_empty() {
            s.ui_url("post_logout")
        } else {
            post_logout
        };
        return Ok(redirect(&to, vec![]));
    };
    // Hydra takes the subject from the login session: the hint's `sub` may be pairwise.
    let subject = sess_subject;
    let challenge = crate::crypto::random_token(32);
    s.store().insert_flow(&FlowRow {
        challenge: challenge.clone(),
        kind: "logout".into(),
        verifier: format!("unset-{challenge}"),
        state: FlowState::Pending.as_str().into(),
        client_id,
        subject,
        requested_at: s.now_micros(),
        doc: json!({"sid": sid, "rp_initiated": rp_initiated, "post_logout_redirect": post_logout, "request_url": format!("{}/oauth2/sessions/logout", s.public_base())}),
    }).await?;
    Ok(redirect(
        &with_params(&s.ui_url("logout"), &[("logout_challenge", &challenge)]),
        vec![],
    ))
}

/// Whether the browser completing a logout of `subject` holds a login session of that subject
/// (its own session cookie, genuine and not ended). Hydra asks this of an OP-initiated logout
/// only — the cookie may have gone or changed hands since the logout started, and then it
/// completes without logging anybody out (no channels called). Here an RP-initiated logout
/// must pass it too: its `id_token_hint` names a session, but anyone who has seen the ID token
/// can send it, and the logout UI's confirmation only says that the browser in front of it
/// agreed, not that it is the session's.
async fn completes_in_sessions_browser(
    s: &Oauth2,
    headers: &HeaderMap,
    subject: &str,
) -> Result<bool> {
    let Some(sid) = session_from_cookie(s, headers) else {
        return Ok(false);
    };
    Ok(s.store()
        .login_session(&sid)
        .await?
        .is_some_and(|(current, _, remember, ..)| remember && current == subject))
}

pub async fn get_logout(
    State(s): State<Oauth2>,
    Query(q): Query<ChallengeQuery>,
) -> Result<Response> {
    let (flow, client) = load(&s, "logout", &q.pick("logout")?).await?;
    if flow.state != "pending" {
        return Err(Error::Gone {
            redirect_to: format!(
                "{}/oauth2/sessions/logout?logout_verifier={}",
                s.public_base(),
                flow.verifier
            ),
        });
    }
    let mut out = json!({
        "challenge": flow.challenge,
        "subject": flow.subject,
        "sid": flow.doc["sid"],
        "request_url": flow.doc["request_url"],
        "rp_initiated": flow.doc["rp_initiated"],
    });
    if !flow.client_id.is_empty() {
        out["client"] = json!(client);
    }
    Ok(axum::Json(out).into_response())
}

pub async fn accept_logout(
    State(s): State<Oauth2>,
    Query(q): Query<ChallengeQuery>,
) -> Result<Response> {
    let challenge = q.pick("logout")?;
    let (mut flow, _) = load(&s, "logout", &challenge).await?;
    let from = flow.state.clone();
    let gone = format!(
        "{}/oauth2/sessions/logout?logout_verifier={}",
        s.public_base(),
        flow.verifier
    );
    next_state(
        FlowState::parse(&from),
        FlowEvent::Accept,
        s.now_micros(),
        flow.requested_at,
        s.settings().flow_ttl.as_micros() as i64,
    )
    .map_err(|r| refusal(r, gone.clone()))?;
    flow.state = FlowState::Accepted.as_str().into();
    flow.verifier = crate::crypto::random_token(32);
    if !s.store().transition_flow(&flow, &from).await? {
        return Err(Error::Gone { redirect_to: gone });
    }
    Ok(axum::Json(json!({"redirect_to": format!("{}/oauth2/sessions/logout?logout_verifier={}", s.public_base(), flow.verifier)})).into_response())
}

pub async fn reject_logout(
    State(s): State<Oauth2>,
    Query(q): Query<ChallengeQuery>,
) -> Result<StatusCode> {
    let challenge = q.pick("logout")?;
    let (mut flow, _) = load(&s, "logout", &challenge).await?;
    let from = flow.state.clone();
    flow.state = FlowState::Rejected.as_str().into();
    if from != "pending" || !s.store().transition_flow(&flow, &from).await? {
        return Err(Error::NotFound(
            "The logout challenge was already handled.".into(),
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}

// --- sessions ------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SessionQuery {
    subject: Option<String>,
    login_session_id: Option<String>,
    client: Option<String>,
    /// Hydra compares the raw value with `"true"`; anything else is "not set".
    all: Option<String>,
    sid: Option<String>,
    page_size: Option<String>,
    page_token: Option<String>,
}

pub async fn list_consent_sessions(
    State(s): State<Oauth2>,
    Query(q): Query<SessionQuery>,
) -> Result<Response> {
    let subject = q.subject.filter(|v| !v.is_empty()).ok_or_else(|| {
        Error::InvalidRequest(
            "Query parameter 'subject' is not defined but should have been.".into(),
        )
    })?;
    let (size, offset) = super::admin::parse_page(q.page_size.as_deref(), q.page_token.as_deref())?;
    let all = s
        .store()
        .consents(&subject, None, q.login_session_id.as_deref())
        .await?;
    let total = all.len() as i64;
    let page: Vec<Value> = all
        .into_iter()
        .skip(offset as usize)
        .take(size as usize)
        .map(|c| {
            let mut d = c.doc;
            if let Value::Object(m) = &mut d {
                m.insert("expires_at".into(), json!({}));
            }
            d
        })
        .collect();
    let mut response = axum::Json(page).into_response();
    let base = super::admin::with_filters(
        "/admin/oauth2/auth/sessions/consent",
        &[
            ("subject", Some(subject.as_str())),
            ("login_session_id", q.login_session_id.as_deref()),
        ],
    );
    super::admin::paginate(&mut response, &base, size, offset, total);
    Ok(response)
}

pub async fn revoke_consent_sessions(
    State(s): State<Oauth2>,
    Query(q): Query<SessionQuery>,
) -> Result<StatusCode> {
    let subject = q.subject.filter(|v| !v.is_empty()).ok_or_else(|| {
        Error::InvalidRequest(
            "Query parameter 'subject' is not defined but should have been.".into(),
        )
    })?;
    match (
        q.client.filter(|c| !c.is_empty()),
        q.all.as_deref() == Some("true"),
    ) {
        (Some(client), _) => s.store().revoke_consents(&subject, Some(&client)).await?,
        (None, true) => s.store().revoke_consents(&subject, None).await?,
        (None, false) => {
            return Err(Error::InvalidRequest(
                "Query parameter both 'client' and 'all' is not defined but one of them should have been.".into(),
            ))
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn revoke_login_sessions(
    State(s): State<Oauth2>,
    Query(q): Query<SessionQuery>,
) -> Result<StatusCode> {
    let subject = q.subject.filter(|v| !v.is_empty());
    let sid = q.sid.filter(|v| !v.is_empty());
    if subject.is_none() && sid.is_none() {
        return Err(Error::InvalidRequest(
            "Either 'subject' or 'sid' query parameters need to be defined.".into(),
        ));
    }
    if let Some(sid) = sid.as_deref() {
        // Hydra's headless logout: back-channel logout for the session's clients, then the
        // session ends (and its Kratos session, when configured).
        if let Some((sess_subject, ..)) = s.store().login_session(sid).await? {
            let clients = s.store().login_session_clients(&sess_subject, sid).await?;
            s.backchannel_logout(&clients, sid).await?;
        }
        s.end_login_session(sid).await?;
    }
    s.store()
        .delete_login_sessions(subject.as_deref(), None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_state_machine_allows_one_decision_and_one_redemption() {
        use FlowEvent::*;
        use FlowState::*;
        let ttl = 1_000;
        assert_eq!(next_state(Pending, Accept, 10, 0, ttl), Ok(Accepted));
        assert_eq!(next_state(Pending, Reject, 10, 0, ttl), Ok(Rejected));
        assert_eq!(
            next_state(Accepted, Accept, 10, 0, ttl),
            Err(FlowRefusal::Handled)
        );
        assert_eq!(next_state(Accepted, Redeem, 10, 0, ttl), Ok(Used));
        assert_eq!(
            next_state(Used, Redeem, 10, 0, ttl),
            Err(FlowRefusal::NotRedeemable)
        );
        assert_eq!(
            next_state(Pending, Redeem, 10, 0, ttl),
            Err(FlowRefusal::NotRedeemable)
        );
        assert_eq!(
            next_state(Pending, Accept, 2_000, 0, ttl),
            Err(FlowRefusal::Expired)
        );
    }

    #[test]
    fn cookie_values_lists_every_cookie_of_a_name_in_order() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; ory_hydra_session=forged;x; ory_hydra_session=real"),
        );
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("ory_hydra_session=third"),
        );
        let values: Vec<_> = cookie_values(&headers, "ory_hydra_session").collect();
        assert_eq!(values, ["forged", "real", "third"]);
        assert_eq!(cookie_values(&headers, "ory_hydra").count(), 0);
    }

    #[test]
    fn murmur3_matches_reference_vectors() {
        assert_eq!(murmur3(b""), 0);
        assert_eq!(murmur3(b"hello"), 613_153_351);
        assert_eq!(
            murmur3(b"The quick brown fox jumps over the lazy dog"),
            776_992_547
        );
    }
}
