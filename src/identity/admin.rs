//! The admin API (`/admin/identities…`, `/admin/sessions…`): identity CRUD with strict
//! bodies, password import, pagination, JSON Patch, batch create, and session administration.
//! Beyond Kratos, `quartet import identities` keeps an identity's `id` ([`ImportedId`]).

use crate::http::Query;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, patch};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{Error, Result};
use super::limits;
use super::model::{CredentialType, IdentityState, VerifiableAddress};
use super::redirect;
use super::schema::FieldError;
use super::service::identities::{Built, IdentityInput, PasswordInput};
use super::service::Service;
use super::store::{IdentityFilter, PageStart};
use super::wire::{identity_json, session_json, View};
use crate::http::Json;

pub fn routes(service: Service) -> Router {
    Router::new()
        .route(
            "/admin/identities",
            get(list_identities)
                .post(create_identity)
                .patch(batch_patch),
        )
        .route(
            "/admin/identities/{id}",
            get(get_identity)
                .put(update_identity)
                .patch(patch_identity)
                .delete(delete_identity),
        )
        .route(
            "/admin/identities/{id}/credentials/{kind}",
            delete(delete_credential),
        )
        .route(
            "/admin/identities/{id}/sessions",
            get(list_identity_sessions).delete(delete_identity_sessions),
        )
        .route(
            "/admin/sessions",
            get(list_sessions).delete(redirect::to_public),
        )
        // Public routes asked of the admin port: 307 to the public URL.
        .route("/admin/sessions/whoami", any(redirect::to_public))
        .route("/admin/schemas", get(redirect::to_public))
        .route("/admin/schemas/{id}", get(redirect::to_public))
        .route("/admin/self-service/{*rest}", any(redirect::to_public))
        .route(
            "/admin/sessions/{id}",
            get(get_session).delete(disable_session),
        )
        .route("/admin/sessions/{id}/extend", patch(extend_session))
        .with_state(service)
}

/// The id an imported identity keeps (`quartet import identities`, beyond Kratos, whose create
/// body has no `id`): set as a request extension by the in-process import, never read from
/// the wire, so `POST /admin/identities` stays Kratos' strict body. A taken id is a 409.
#[derive(Debug, Clone)]
pub struct ImportedId(pub String);

// --- bodies -----------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateIdentityBody {
    pub schema_id: String,
    pub traits: Value,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub metadata_public: Option<Value>,
    #[serde(default)]
    pub metadata_admin: Option<Value>,
    #[serde(default)]
    pub verifiable_addresses: Option<Vec<AddressIn>>,
    /// Accepted as Kratos accepts it; recovery addresses follow from the schema.
    #[serde(default)]
    #[allow(dead_code)]
    pub recovery_addresses: Option<Vec<Value>>,
    #[serde(default)]
    pub credentials: Option<CredentialsIn>,
    /// Accepted as Kratos accepts it; organizations are an Ory Network feature.
    #[serde(default)]
    #[allow(dead_code)]
    pub organization_id: Option<Value>,
}

/// An imported verifiable address; `id` and the timestamps are accepted as Kratos accepts them
/// and replaced by the store's own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct AddressIn {
    pub value: String,
    pub via: String,
    #[serde(default)]
    pub verified: bool,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub verified_at: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsIn {
    #[serde(default)]
    pub password: Option<PasswordCredIn>,
    #[serde(default)]
    pub oidc: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordCredIn {
    pub config: PasswordConfigIn,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordConfigIn {
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub hashed_password: Option<String>,
    /// Accepted as Kratos accepts it; the password migration hook is not run.
    #[serde(default)]
    #[allow(dead_code)]
    pub use_password_migration_hook: Option<bool>,
}

fn parse_state(s: Option<&str>) -> Result<Option<IdentityState>> {
    match s {
        None => Ok(None),
        Some(s) => IdentityState::parse(s).map(Some).ok_or_else(|| {
            Error::BadRequest(format!("state must be `active` or `inactive`, got `{s}`"))
        }),
    }
}

fn password_input(c: Option<CredentialsIn>) -> Result<Option<PasswordInput>> {
    let Some(c) = c else { return Ok(None) };
    if c.oidc.is_some() {
        return Err(Error::BadRequest(
            "Importing OIDC credentials is not supported yet.".into(),
        ));
    }
    Ok(match c.password.map(|p| p.config) {
        Some(PasswordConfigIn {
            hashed_password: Some(h),
            ..
        }) => Some(PasswordInput::Hashed(h)),
        Some(PasswordConfigIn {
            password: Some(p), ..
        }) => Some(PasswordInput::Plain(p)),
        _ => None,
    })
}

fn input_from(body: CreateIdentityBody, now: i64) -> Result<IdentityInput> {
    let state = parse_state(body.state.as_deref())?;
    let verifiable_addresses = body
        .verifiable_addresses
        .unwrap_or_default()
        .into_iter()
        .map(|a| VerifiableAddress {
            id: String::new(),
            value: a.value.to_lowercase(),
            verified: a.verified,
            via: a.via,
            status: a.status.unwrap_or_else(|| {
                if a.verified {
                    "completed".into()
                } else {
                    "pending".into()
                }
            }),
            verified_at: a.verified.then_some(now),
            created_at: now,
            updated_at: now,
        })
        .collect();
    Ok(IdentityInput {
        schema_id: body.schema_id,
        traits: body.traits,
        state,
        metadata_public: body.metadata_public.filter(|v| !v.is_null()),
        metadata_admin: body.metadata_admin.filter(|v| !v.is_null()),
        verifiable_addresses,
        password: password_input(body.credentials)?,
    })
}

/// Decodes a body strictly, naming the offending field.
fn strict<T: serde::de::DeserializeOwned>(value: Value) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        Error::BadRequest(format!(
            "The request body is invalid at `{}`: {}",
            e.path(),
            e.inner()
        ))
    })
}

fn invalid(errors: &[FieldError]) -> Error {
    let text: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {}", e.pointer, e.message.text))
        .collect();
    Error::BadRequest(format!(
        "The identity does not match its schema: {}",
        text.join("; ")
    ))
}

fn admin_json(
    s: &Service,
    _headers: &HeaderMap,
    identity: &super::model::Identity,
    creds: &[super::model::Credential],
    include: &[&str],
) -> Value {
    identity_json(
        identity,
        &s.configured_public_base(),
        View::Admin,
        Some((creds, include)),
    )
}

// --- identities -------------------------------------------------------------------------------

async fn create_identity(
    State(s): State<Service>,
    imported: Option<Extension<ImportedId>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Result<Response> {
    let body: CreateIdentityBody = strict(body)?;
    let input = input_from(body, s.now())?;
    let (mut identity, creds) = match s.build_identity(input, None).await? {
        Built::Ok(i, c) => (i, c),
        Built::Invalid(errors) => return Err(invalid(&errors)),
    };
    if let Some(Extension(ImportedId(id))) = imported {
        identity.id = id;
    }
    s.store.create_identity(&identity, &creds).await?;
    let location = format!("{}/admin/identities/{}", admin_base(&headers), identity.id);
    let mut response = (
        StatusCode::CREATED,
        Json(admin_json(&s, &headers, &identity, &creds, &[])),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

fn admin_base(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost:4434");
    format!("http://{host}")
}

/// The query's pairs, repeated keys included (at most `http::query::MAX_PARAMETERS`).
fn query_pairs(raw: Option<&str>) -> Result<Vec<(String, String)>> {
    crate::http::query::pairs(raw.unwrap_or_default())
        .map_err(|e| Error::BadRequest(e.reason.unwrap_or(e.message)))
}

fn one<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn num(pairs: &[(String, String)], key: &str) -> Result<Option<i64>> {
    one(pairs, key)
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| Error::BadRequest(format!("{key} must be an integer, got `{v}`")))
        })
        .transpose()
}

async fn list_identities(
    State(s): State<Service>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let pairs = query_pairs(raw.as_deref())?;
    let credentials_identifier = one(&pairs, "credentials_identifier").map(str::to_string);
    if credentials_identifier.is_some()
        && one(&pairs, "preview_credentials_identifier_similar").is_some()
    {
        return Err(Error::BadRequest(
            "Cannot pass both credentials_identifier and preview_credentials_identifier_similar."
                .into(),
        ));
    }
    let filter = IdentityFilter {
        ids: pairs
            .iter()
            .filter(|(k, _)| k == "ids")
            .map(|(_, v)| v.clone())
            .collect(),
        credentials_identifier,
    };
    let page = num(&pairs, "page")?;
    let per_page = num(&pairs, "per_page")?;
    let base = format!("{}/admin/identities", admin_base(&headers));
    let (items, link, total) = if let Some(page) = page {
        // Legacy pagination (page starts at 0 in Kratos' x/pagination.go? it is 1-based there).
        let per_page = per_page.unwrap_or(250).clamp(1, 1000);
        let page = page.max(1);
        // checked: a huge `page` must be this 400, not an overflow
        if page
            .checked_mul(per_page)
            .is_none_or(|n| n > 1000 + per_page)
        {
            return Err(Error::BadRequest(
                "Legacy pagination is limited to page * per_page <= 1000; use page_token.".into(),
            ));
        }
        let items = s
            .store
            .list_identities(&filter, &PageStart::Offset((page - 1) * per_page), per_page)
            .await?;
        let total = s.store.count_identities(&filter).await?;
        let last = ((total + per_page - 1) / per_page).max(1);
        let mut links = vec![format!(
            "<{base}?page=1&per_page={per_page}>; rel=\"first\""
        )];
        if page < last {
            links.push(format!(
                "<{base}?page={}&per_page={per_page}>; rel=\"next\"",
                page + 1
            ));
        }
        if page > 1 {
            links.push(format!(
                "<{base}?page={}&per_page={per_page}>; rel=\"prev\"",
                page - 1
            ));
        }
        links.push(format!(
            "<{base}?page={last}&per_page={per_page}>; rel=\"last\""
        ));
        (items, links.join(","), Some(total))
    } else {
        let size = num(&pairs, "page_size")?.or(per_page).unwrap_or(250);
        if !(1..=500).contains(&size) {
            return Err(Error::BadRequest(
                "page_size must be between 1 and 500".into(),
            ));
        }
        let token = one(&pairs, "page_token")
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        let items = s
            .store
            .list_identities(&filter, &PageStart::After(token), size + 1)
            .await?;
        let more = items.len() as i64 > size;
        let items: Vec<_> = items.into_iter().take(size as usize).collect();
        let mut links = vec![format!(
            "<{base}?page_size={size}&page_token=>; rel=\"first\""
        )];
        if more {
            if let Some(last) = items.last() {
                links.push(format!(
                    "<{base}?page_size={size}&page_token={}>; rel=\"next\"",
                    last.id
                ));
            }
        }
        (items, links.join(","), None)
    };
    let mut out = Vec::with_capacity(items.len());
    for identity in &items {
        let creds = s.store.credentials(&identity.id).await?;
        out.push(admin_json(&s, &headers, identity, &creds, &[]));
    }
    let mut response = Json(Value::Array(out)).into_response();
    if let Ok(v) = HeaderValue::from_str(&link) {
        response.headers_mut().insert(header::LINK, v);
    }
    if let Some(total) = total {
        response
            .headers_mut()
            .insert("x-total-count", HeaderValue::from(total));
    }
    Ok(response)
}

async fn load(
    s: &Service,
    id: &str,
) -> Result<(super::model::Identity, Vec<super::model::Credential>)> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(Error::NotFound);
    }
    let identity = s.store.get_identity(id).await?.ok_or(Error::NotFound)?;
    let creds = s.store.credentials(id).await?;
    Ok((identity, creds))
}

async fn get_identity(
    State(s): State<Service>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>> {
    let pairs = query_pairs(raw.as_deref())?;
    let include: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "include_credential")
        .map(|(_, v)| v.as_str())
        .collect();
    for kind in &include {
        if CredentialType::parse(kind).is_none()
            && !matches!(*kind, "link_recovery" | "code_recovery")
        {
            return Err(Error::BadRequest(format!(
                "include_credential: unknown credential type `{kind}`"
            )));
        }
    }
    let (identity, creds) = load(&s, &id).await?;
    Ok(Json(admin_json(&s, &headers, &identity, &creds, &include)))
}

#[derive(Debug, Deserialize)]
pub struct UpdateIdentityBody {
    pub schema_id: String,
    pub traits: Value,
    pub state: String,
    #[serde(default)]
    pub metadata_public: Option<Value>,
    #[serde(default)]
    pub metadata_admin: Option<Value>,
    #[serde(default)]
    pub credentials: Option<CredentialsIn>,
}

async fn update_identity(
    State(s): State<Service>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Json<Value>> {
    let body: UpdateIdentityBody = strict(body)?;
    let (old, creds) = load(&s, &id).await?;
    let input = IdentityInput {
        schema_id: body.schema_id,
        traits: body.traits,
        state: parse_state(Some(&body.state))?,
        metadata_public: body.metadata_public.filter(|v| !v.is_null()),
        metadata_admin: body.metadata_admin.filter(|v| !v.is_null()),
        verifiable_addresses: Vec::new(),
        password: password_input(body.credentials)?,
    };
    save(&s, &headers, input, &old, &creds).await
}

async fn save(
    s: &Service,
    headers: &HeaderMap,
    input: IdentityInput,
    old: &super::model::Identity,
    creds: &[super::model::Credential],
) -> Result<Json<Value>> {
    let (identity, creds) = match s.build_identity(input, Some((old, creds))).await? {
        Built::Ok(i, c) => (i, c),
        Built::Invalid(errors) => return Err(invalid(&errors)),
    };
    s.store.replace_identity(&identity, &creds).await?;
    Ok(Json(admin_json(s, headers, &identity, &creds, &[])))
}

async fn patch_identity(
    State(s): State<Service>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Json<Value>> {
    limits::check_patch(&body)?;
    let ops: json_patch::Patch = serde_json::from_value(body).map_err(|e| {
        Error::BadRequest(format!(
            "The body is not a JSON Patch (RFC 6902) document: {e}"
        ))
    })?;
    for op in &ops.0 {
        let path = op.path().to_string();
        for forbidden in [
            "/id",
            "/stateChangedAt",
            "/state_changed_at",
            "/credentials",
        ] {
            if path == forbidden || path.starts_with(&format!("{forbidden}/")) {
                return Err(Error::BadRequest(format!(
                    "patch includes denied path: {forbidden}"
                )));
            }
        }
    }
    let (old, creds) = load(&s, &id).await?;
    let mut doc = identity_json(&old, &s.configured_public_base(), View::Admin, None);
    // One operation at a time, so that `copy` cannot grow the document without bound.
    for op in &ops.0 {
        json_patch::patch(&mut doc, std::slice::from_ref(op))
            .map_err(|e| Error::BadRequest(format!("The JSON Patch could not be applied: {e}")))?;
        limits::check_document_size(&doc)?;
    }
    patched_types(&doc).map_err(|e| {
        Error::BadRequest(format!(
            "An error occured when applying the JSON patch: {e}"
        ))
    })?;
    let input = IdentityInput {
        schema_id: doc
            .get("schema_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        traits: doc.get("traits").cloned().unwrap_or(Value::Null),
        state: parse_state(doc.get("state").and_then(Value::as_str))?,
        metadata_public: doc.get("metadata_public").cloned().filter(|v| !v.is_null()),
        metadata_admin: doc.get("metadata_admin").cloned().filter(|v| !v.is_null()),
        verifiable_addresses: Vec::new(),
        password: None,
    };
    save(&s, &headers, input, &old, &creds).await
}

/// What Kratos' decoding of a patched identity back into its Go type refuses (a 400 there): a
/// field of the wrong JSON type, a time that is not RFC 3339, an id that is not a UUID. `null`
/// passes where Go leaves the field as it was; unknown fields pass, as Go ignores them.
fn patched_types(doc: &Value) -> std::result::Result<(), String> {
    const STRINGS: [&str; 3] = ["schema_id", "schema_url", "state"];
    const TIMES: [&str; 3] = ["created_at", "updated_at", "state_changed_at"];
    for key in STRINGS {
        expect_string(doc, key)?;
    }
    for key in TIMES {
        expect_time(doc, key)?;
    }
    expect_uuid(doc, "organization_id")?;
    for list in ["verifiable_addresses", "recovery_addresses"] {
        match doc.get(list) {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let at = |e: String| format!("{list}[{i}]: {e}");
                    if !item.is_object() {
                        return Err(at("not an object".into()));
                    }
                    for key in ["value", "via", "status"] {
                        expect_string(item, key).map_err(at)?;
                    }
                    for key in ["created_at", "updated_at", "verified_at"] {
                        expect_time(item, key).map_err(at)?;
                    }
                    expect_uuid(item, "id").map_err(at)?;
                    if !matches!(
                        item.get("verified"),
                        None | Some(Value::Null | Value::Bool(_))
                    ) {
                        return Err(at("verified: not a boolean".into()));
                    }
                }
            }
            Some(_) => return Err(format!("{list}: not an array")),
        }
    }
    Ok(())
}

fn expect_string(doc: &Value, key: &str) -> std::result::Result<(), String> {
    match doc.get(key) {
        None | Some(Value::Null | Value::String(_)) => Ok(()),
        Some(_) => Err(format!("{key}: not a string")),
    }
}

fn expect_time(doc: &Value, key: &str) -> std::result::Result<(), String> {
    match doc.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(t)) if crate::store::time::parse_rfc3339(t).is_some() => Ok(()),
        Some(_) => Err(format!("{key}: not an RFC 3339 time")),
    }
}

fn expect_uuid(doc: &Value, key: &str) -> std::result::Result<(), String> {
    match doc.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(u)) if uuid::Uuid::parse_str(u).is_ok() => Ok(()),
        Some(_) => Err(format!("{key}: not a UUID")),
    }
}

async fn delete_identity(State(s): State<Service>, Path(id): Path<String>) -> Result<StatusCode> {
    if uuid::Uuid::parse_str(&id).is_err() || !s.store.delete_identity(&id).await? {
        return Err(Error::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Kratos' order: unknown identity 404; a type the identity does not have 404; first factors
/// (password, oidc) 400; other types it cannot remove (code) 400; MFA credentials are deleted.
async fn delete_credential(
    State(s): State<Service>,
    Path((id, kind)): Path<(String, String)>,
) -> Result<StatusCode> {
    let (_, creds) = load(&s, &id).await?;
    let Some(kind) = CredentialType::parse(&kind).filter(|k| creds.iter().any(|c| c.kind == *k))
    else {
        return Err(Error::Missing(format!(
            "You tried to remove a {kind} but this user have no {kind} set up."
        )));
    };
    match kind {
        CredentialType::Password | CredentialType::Oidc => {
            return Err(Error::BadRequest(
                "You can't remove first factor credentials.".into(),
            ))
        }
        CredentialType::Code => {
            return Err(Error::BadRequest(format!(
                "Unknown credentials type {}.",
                kind.as_str()
            )))
        }
        CredentialType::Totp | CredentialType::LookupSecret | CredentialType::Webauthn => {}
    }
    if !s.store.delete_credential(&id, kind).await? {
        return Err(Error::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct BatchBody {
    identities: Vec<BatchItem>,
}

#[derive(Debug, Deserialize)]
struct BatchItem {
    create: Value,
    #[serde(default)]
    patch_id: Option<String>,
}

async fn batch_patch(State(s): State<Service>, Json(body): Json<Value>) -> Result<Json<Value>> {
    let body: BatchBody = strict(body)?;
    if body.identities.len() > 2000 {
        return Err(Error::BadRequest(
            "A batch may hold at most 2000 identities.".into(),
        ));
    }
    let mut items = Vec::new();
    let mut out = Vec::new();
    for item in body.identities {
        let create: CreateIdentityBody = strict(item.create)?;
        let input = input_from(create, s.now())?;
        match s.build_identity(input, None).await? {
            Built::Ok(i, c) => {
                let mut entry = json!({"action": "create", "identity": i.id});
                if let (Some(p), Some(m)) = (&item.patch_id, entry.as_object_mut()) {
                    m.insert("patch_id".into(), json!(p));
                }
                out.push(entry);
                items.push((*i, c));
            }
            Built::Invalid(errors) => return Err(invalid(&errors)),
        }
    }
    s.store.create_identities(&items).await?;
    Ok(Json(json!({ "identities": out })))
}

// --- sessions ---------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct SessionListQuery {
    page_size: Option<i64>,
    page_token: Option<String>,
    #[serde(default, deserialize_with = "super::query::opt_bool")]
    active: Option<bool>,
}

fn expand_flags(raw: Option<&str>) -> Result<(bool, bool)> {
    let pairs = query_pairs(raw)?;
    let expand: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "expand")
        .map(|(_, v)| v.to_lowercase())
        .collect();
    Ok((
        expand.iter().any(|e| e == "identity"),
        expand.iter().any(|e| e == "devices"),
    ))
}

async fn list_sessions(
    State(s): State<Service>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let (with_identity, with_devices) = expand_flags(raw.as_deref())?;
    let q: SessionListQuery = serde_urlencoded::from_str(raw.as_deref().unwrap_or_default())
        .map_err(|e| Error::BadRequest(e.to_string()))?;
    let size = q.page_size.unwrap_or(250).clamp(1, 1000);
    let rows = s
        .store
        .list_sessions(
            None,
            q.active,
            s.now(),
            q.page_token.as_deref().filter(|t| !t.is_empty()),
            size + 1,
        )
        .await?;
    sessions_page(
        &s,
        &headers,
        rows,
        size,
        "/admin/sessions",
        with_identity,
        with_devices,
    )
}

fn sessions_page(
    s: &Service,
    _headers: &HeaderMap,
    rows: Vec<(super::model::Session, super::model::Identity)>,
    size: i64,
    path: &str,
    with_identity: bool,
    with_devices: bool,
) -> Result<Response> {
    let more = rows.len() as i64 > size;
    let rows: Vec<_> = rows.into_iter().take(size as usize).collect();
    let base = s.configured_public_base();
    let now = s.now();
    let body: Vec<Value> = rows
        .iter()
        .map(|(sess, ident)| {
            let mut v = session_json(sess, Some(ident), &base, now, View::Admin, with_devices);
            if !with_identity {
                if let Some(m) = v.as_object_mut() {
                    m.remove("identity");
                }
            }
            v
        })
        .collect();
    let mut response = Json(Value::Array(body)).into_response();
    let mut links = vec![format!(
        "<{path}?page_size={size}&page_token=>; rel=\"first\""
    )];
    if more {
        if let Some((last, _)) = rows.last() {
            links.push(format!(
                "<{path}?page_size={size}&page_token={}>; rel=\"next\"",
                last.id
            ));
        }
    }
    if let Ok(v) = HeaderValue::from_str(&links.join(",")) {
        response.headers_mut().insert(header::LINK, v);
    }
    response
        .headers_mut()
        .insert("x-total-count", HeaderValue::from(rows.len()));
    Ok(response)
}

async fn get_session(
    State(s): State<Service>,
    _headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>> {
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(Error::BadRequest(format!(
            "`{id}` is not a valid session id (UUID)"
        )));
    }
    let (with_identity, with_devices) = expand_flags(raw.as_deref())?;
    let (sess, ident) = s.store.session(&id).await?.ok_or(Error::NotFound)?;
    let mut v = session_json(
        &sess,
        Some(&ident),
        &s.configured_public_base(),
        s.now(),
        View::Admin,
        with_devices,
    );
    if !with_identity {
        if let Some(m) = v.as_object_mut() {
            m.remove("identity");
        }
    }
    Ok(Json(v))
}

async fn disable_session(State(s): State<Service>, Path(id): Path<String>) -> Result<StatusCode> {
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(Error::BadRequest(format!(
            "`{id}` is not a valid session id (UUID)"
        )));
    }
    if !s.store.disable_session(&id, None, s.now()).await? {
        return Err(Error::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn extend_session(
    State(s): State<Service>,
    _headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(Error::BadRequest(format!(
            "`{id}` is not a valid session id (UUID)"
        )));
    }
    let (mut sess, ident) = s.store.session(&id).await?.ok_or(Error::NotFound)?;
    let now = s.now();
    let lifespan = s.config.session.lifespan.micros();
    let window = s
        .config
        .session
        .earliest_possible_extend
        .map(|d| d.micros())
        .unwrap_or(lifespan);
    if sess.expires_at - window <= now {
        sess.expires_at = now + lifespan;
        s.store
            .set_session_expiry(&sess.id, sess.expires_at, now)
            .await?;
    }
    Ok(Json(session_json(
        &sess,
        Some(&ident),
        &s.configured_public_base(),
        now,
        View::Admin,
        true,
    )))
}

async fn list_identity_sessions(
    State(s): State<Service>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<SessionListQuery>,
) -> Result<Response> {
    load(&s, &id).await?;
    let size = q.page_size.unwrap_or(250).clamp(1, 1000);
    let rows = s
        .store
        .list_sessions(
            Some(&id),
            q.active,
            s.now(),
            q.page_token.as_deref().filter(|t| !t.is_empty()),
            size + 1,
        )
        .await?;
    sessions_page(
        &s,
        &headers,
        rows,
        size,
        &format!("/admin/identities/{id}/sessions"),
        true,
        true,
    )
}

async fn delete_identity_sessions(
    State(s): State<Service>,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    load(&s, &id).await?;
    // Kratos answers 404 when the identity has no session to delete.
    if s.store.delete_identity_sessions(&id).await? == 0 {
        return Err(Error::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}
