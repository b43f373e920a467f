//! Fixture files: `quartet import identities|clients FILE` and `serve --import FILE`. Identities
//! (Kratos' identity-import JSON: one `createIdentityBody` or an array of them) and OAuth2
//! clients (Hydra's client JSON: one client or an array) go through the roles' own admin
//! handlers, in process — as `kratos import identities` and `hydra import oauth2-client` call
//! the admin APIs — so a fixture gets exactly the admin API's validation, defaults, password
//! hashing and errors. Relation tuples go through `permission::import`, checked against the
//! configured namespaces as the write API checks them.
//!
//! Beyond Kratos, an identity may carry its `id` (a UUID), which it keeps: identities exported
//! from Kratos (`scripts/ory-export`) stay the subjects of their tuples, tokens and application
//! rows. The id goes to the admin handler beside the body ([`identity::admin::ImportedId`]),
//! whose body stays Kratos' strict one.
//!
//! Re-running a file is harmless: an item the database already holds (the admin API's 409 — an
//! identifier, an identity's `id` or a `client_id` taken) is counted as present and skipped.
//! The whole file is read and its shape checked before anything is written; an item the admin
//! API refuses stops the import with its index and the API's message (the items before it
//! stay, and a re-run skips them).

use axum::body::{to_bytes, Body};
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use tower::ServiceExt;

use crate::config::Config;
use crate::store::Db;
use crate::{identity, oauth2, permission};

/// Largest admin answer read back (an identity or a client is a few KiB).
const BODY_LIMIT: usize = 1024 * 1024;

/// What a fixture file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixtureKind {
    Identities,
    Clients,
    Tuples,
}

impl FixtureKind {
    pub fn noun(self) -> &'static str {
        match self {
            FixtureKind::Identities => "identities",
            FixtureKind::Clients => "OAuth2 clients",
            FixtureKind::Tuples => "relation tuples",
        }
    }
}

/// Keys only a Kratos identity body has.
const IDENTITY_KEYS: [&str; 4] = ["traits", "schema_id", "credentials", "metadata_admin"];
/// Keys only a Hydra client has.
const CLIENT_KEYS: [&str; 8] = [
    "client_id",
    "client_name",
    "client_secret",
    "redirect_uris",
    "grant_types",
    "response_types",
    "token_endpoint_auth_method",
    "jwks_uri",
];
/// Keys of a Keto relation tuple.
const TUPLE_KEYS: [&str; 3] = ["namespace", "subject_id", "subject_set"];

/// Tells a fixture file's kind from its content (`serve --import`): text lines are tuples; a
/// JSON object or array is identities, clients or tuples by the keys of its objects, which
/// must all be of one kind.
pub fn classify(text: &str) -> Result<FixtureKind, String> {
    let trimmed = text.trim_start();
    if !(trimmed.starts_with('[') || trimmed.starts_with('{')) {
        return Ok(FixtureKind::Tuples);
    }
    let items = json_items(text)?;
    let mut kind: Option<FixtureKind> = None;
    for (index, item) in items.iter().enumerate() {
        let has = |keys: &[&str]| keys.iter().any(|k| item.get(*k).is_some());
        let this = match (has(&IDENTITY_KEYS), has(&CLIENT_KEYS), has(&TUPLE_KEYS)) {
            (true, false, false) => FixtureKind::Identities,
            (false, true, false) => FixtureKind::Clients,
            (false, false, true) => FixtureKind::Tuples,
            _ => {
                return Err(format!(
                    "item {index}: cannot tell whether it is an identity (traits, schema_id), an \
                     OAuth2 client (client_id, grant_types, redirect_uris, …) or a relation tuple \
                     (namespace, subject_id, subject_set)"
                ))
            }
        };
        match kind {
            Some(k) if k != this => {
                return Err(format!(
                    "item {index} holds {} where the items before it hold {}: one kind per file",
                    this.noun(),
                    k.noun()
                ))
            }
            _ => kind = Some(this),
        }
    }
    // An empty array imports nothing; call it tuples, the cheapest to load.
    Ok(kind.unwrap_or(FixtureKind::Tuples))
}

/// The objects of a JSON fixture: one object, or an array of objects.
fn json_items(text: &str) -> Result<Vec<Value>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let items = match value {
        Value::Array(items) => items,
        object @ Value::Object(_) => vec![object],
        _ => return Err("expected a JSON object or an array of objects".into()),
    };
    if let Some(index) = items.iter().position(|i| !i.is_object()) {
        return Err(format!("item {index}: expected a JSON object"));
    }
    Ok(items)
}

/// What an import did.
#[derive(Debug, Default)]
pub struct Imported {
    /// The admin API's answer for each item it created, in file order (a client's generated
    /// `client_secret` is in it, shown only here — as by Hydra's `import oauth2-client`).
    pub created: Vec<Value>,
    /// Items the database already held (the admin API answered 409).
    pub present: usize,
}

/// Loads one `serve --import` fixture file of any kind, silently but for one log line (never
/// a secret: clients are named by id). The error is one line without the file name (the
/// caller names it).
pub async fn fixture(config: &Config, db: &Db, path: &std::path::Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let kind = classify(&text)?;
    let file = path.display().to_string();
    let imported = match kind {
        FixtureKind::Tuples => {
            let store = permission::TupleStore::new(db.clone());
            let namespaces = permission::Namespaces::load(&config.permission.namespaces).await;
            return permission::import::import_file(&store, &namespaces.current(), path)
                .await
                .map(|_| ());
        }
        FixtureKind::Identities => identities(config, db, &text).await?,
        FixtureKind::Clients => clients(config, db, &text).await?,
    };
    let ids: Vec<&str> = imported
        .created
        .iter()
        .filter_map(|c| c.get("client_id").or_else(|| c.get("id"))?.as_str())
        .collect();
    tracing::info!(
        file,
        inserted = imported.created.len(),
        already_present = imported.present,
        ids = ids.join(",").as_str(),
        "imported {}",
        kind.noun()
    );
    Ok(())
}

/// Creates each identity of `text` through the identity role's admin handler.
pub async fn identities(config: &Config, db: &Db, text: &str) -> Result<Imported, String> {
    let items = json_items(text)?;
    // Every id is checked before the first identity is written.
    for (index, item) in items.iter().enumerate() {
        if let Some(id) = item.get("id") {
            identity_id(id).map_err(|e| format!("identity at index {index}: {e}"))?;
        }
    }
    let service = identity::service(&config.identity, db.clone(), config.dev)
        .await
        .map_err(|e| format!("identity: {e}"))?;
    create_each(
        identity::admin::routes(service),
        "/admin/identities",
        "identity",
        items,
        imported_id,
    )
    .await
}

/// Takes an identity item's `id` out of its body: the UUID it keeps, in Kratos' spelling.
fn imported_id(item: &mut Value) -> Result<Option<identity::admin::ImportedId>, String> {
    match item.as_object_mut().and_then(|o| o.remove("id")) {
        Some(id) => identity_id(&id).map(|id| Some(identity::admin::ImportedId(id))),
        None => Ok(None),
    }
}

/// An identity's `id` as Kratos writes it (a lower-case hyphenated UUID).
fn identity_id(id: &Value) -> Result<String, String> {
    id.as_str()
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .map(|u| u.hyphenated().to_string())
        .ok_or_else(|| format!("`id` must be a UUID, got {id}"))
}

/// Creates each client of `text` through the oauth2 role's admin handler.
pub async fn clients(config: &Config, db: &Db, text: &str) -> Result<Imported, String> {
    let items = json_items(text)?;
    // No key generation: creating clients needs no keys, and `serve` generates them.
    let state = oauth2::Oauth2::new(
        &config.oauth2,
        config.dev,
        oauth2::store::Store::new(db.clone()),
        oauth2::BoundUrls::default(),
        crate::store::time::Clock::system(),
    );
    create_each(
        oauth2::admin::routes(state),
        "/admin/clients",
        "client",
        items,
        |_| Ok(None::<()>),
    )
    .await
}

/// POSTs each item to `path` of `routes`, in order; 201 is created, 409 already present.
/// `extension` takes what goes beside the body out of an item (an identity's `id`).
async fn create_each<X: Clone + Send + Sync + 'static>(
    routes: Router,
    path: &str,
    what: &str,
    items: Vec<Value>,
    extension: impl Fn(&mut Value) -> Result<Option<X>, String>,
) -> Result<Imported, String> {
    let mut imported = Imported::default();
    for (index, mut item) in items.into_iter().enumerate() {
        let beside = extension(&mut item).map_err(|e| format!("{what} at index {index}: {e}"))?;
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::HOST, "localhost")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(item.to_string()))
            .map_err(|e| format!("{what} at index {index}: {e}"))?;
        if let Some(beside) = beside {
            request.extensions_mut().insert(beside);
        }
        let response = match routes.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        let body = to_bytes(response.into_body(), BODY_LIMIT)
            .await
            .map_err(|e| format!("{what} at index {index}: reading the answer: {e}"))?;
        let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        match status {
            StatusCode::CREATED | StatusCode::OK => imported.created.push(answer),
            StatusCode::CONFLICT => imported.present += 1,
            _ => {
                return Err(format!(
                    "{what} at index {index}: {}",
                    refusal(status, &answer)
                ))
            }
        }
    }
    Ok(imported)
}

/// The admin API's reason for refusing an item, from Ory's envelope or an RFC 6749 body.
fn refusal(status: StatusCode, answer: &Value) -> String {
    fn text(v: Option<&Value>) -> Option<&str> {
        v.and_then(Value::as_str).filter(|s| !s.is_empty())
    }
    let error = answer.get("error");
    let parts: Vec<&str> = [
        text(error.and_then(|e| e.get("message"))),
        text(error.and_then(|e| e.get("reason"))),
        text(answer.get("error_description")),
        text(error).filter(|_| answer.get("error_description").is_none()),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        format!("refused with {status}")
    } else {
        format!("{} ({status})", parts.join(": "))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_keys_of_the_objects() {
        assert_eq!(classify("Doc:a#owner@ann\n").unwrap(), FixtureKind::Tuples);
        assert_eq!(
            classify(r#"{"schema_id":"default","traits":{"email":"a@b.c"}}"#).unwrap(),
            FixtureKind::Identities
        );
        assert_eq!(
            classify(r#"[{"client_id":"a"},{"grant_types":["client_credentials"]}]"#).unwrap(),
            FixtureKind::Clients
        );
        assert_eq!(
            classify(r#"[{"namespace":"Doc","object":"a","relation":"r","subject_id":"u"}]"#)
                .unwrap(),
            FixtureKind::Tuples
        );
        let mixed = classify(r#"[{"traits":{}},{"client_id":"a"}]"#).unwrap_err();
        assert!(
            mixed.contains("item 1") && mixed.contains("one kind per file"),
            "{mixed}"
        );
        let unknown = classify(r#"[{"traits":{}},{"name":"x"}]"#).unwrap_err();
        assert!(unknown.starts_with("item 1: cannot tell"), "{unknown}");
        assert!(classify("[1]")
            .unwrap_err()
            .contains("item 0: expected a JSON object"));
        assert!(classify("{oops").unwrap_err().starts_with("invalid JSON"));
    }

    #[test]
    fn an_identitys_id_is_a_uuid_kept_in_kratos_spelling() {
        let mut item =
            serde_json::json!({"id": "9F425A8D-7EFC-4768-8F23-7647A74FDF13", "traits": {}});
        let id = imported_id(&mut item).unwrap().unwrap();
        assert_eq!(id.0, "9f425a8d-7efc-4768-8f23-7647a74fdf13");
        assert_eq!(
            item,
            serde_json::json!({"traits": {}}),
            "the id leaves the body"
        );
        assert!(imported_id(&mut serde_json::json!({"traits": {}}))
            .unwrap()
            .is_none());
        let bad = imported_id(&mut serde_json::json!({"id": "ann"})).unwrap_err();
        assert_eq!(bad, r#"`id` must be a UUID, got "ann""#);
        assert!(identity_id(&serde_json::json!(7)).is_err());
    }

    #[test]
    fn refusals_carry_the_apis_message() {
        let envelope = serde_json::json!({"error": {"code": 400, "message": "The request was malformed", "reason": "traits: missing email"}});
        assert_eq!(
            refusal(StatusCode::BAD_REQUEST, &envelope),
            "The request was malformed: traits: missing email (400 Bad Request)"
        );
        let oauth = serde_json::json!({"error": "invalid_client_metadata", "error_description": "redirect_uris: not a URL"});
        assert_eq!(
            refusal(StatusCode::BAD_REQUEST, &oauth),
            "redirect_uris: not a URL (400 Bad Request)"
        );
        assert_eq!(
            refusal(StatusCode::INTERNAL_SERVER_ERROR, &Value::Null),
            "refused with 500 Internal Server Error"
        );
    }
}
