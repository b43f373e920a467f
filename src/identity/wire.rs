//! The JSON shapes of Kratos' `Identity` and `Session` as the SDKs parse them: absent values
//! are omitted (never `null` where the SDK expects a typed value), admin-only fields only on
//! the admin surface.

use serde_json::{json, Map, Value};

use super::model::{Credential, Identity, Session};
use super::schema::schema_url;
use crate::store::time::rfc3339_micros as rfc3339;

/// Which fields of an identity a response may show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// whoami and self-service: no credentials, no `metadata_admin`.
    Public,
    /// The admin API: credentials (config only for the listed types) and `metadata_admin`.
    Admin,
}

pub fn identity_json(
    identity: &Identity,
    public_base: &str,
    view: View,
    credentials: Option<(&[Credential], &[&str])>,
) -> Value {
    let mut obj = Map::new();
    obj.insert("id".into(), json!(identity.id));
    obj.insert("schema_id".into(), json!(identity.schema_id));
    obj.insert(
        "schema_url".into(),
        json!(schema_url(public_base, &identity.schema_id)),
    );
    obj.insert("state".into(), json!(identity.state.as_str()));
    if let Some(at) = identity.state_changed_at {
        obj.insert("state_changed_at".into(), json!(rfc3339(at)));
    }
    obj.insert("traits".into(), identity.traits.clone());
    obj.insert(
        "verifiable_addresses".into(),
        Value::Array(
            identity
                .verifiable_addresses
                .iter()
                .map(|a| {
                    let mut v = json!({"id": a.id, "value": a.value, "verified": a.verified, "via": a.via, "status": a.status,
                        "created_at": rfc3339(a.created_at), "updated_at": rfc3339(a.updated_at)});
                    if let (Some(at), Some(m)) = (a.verified_at, v.as_object_mut()) {
                        m.insert("verified_at".into(), json!(rfc3339(at)));
                    }
                    v
                })
                .collect(),
        ),
    );
    obj.insert(
        "recovery_addresses".into(),
        Value::Array(
            identity
                .recovery_addresses
                .iter()
                .map(|a| json!({"id": a.id, "value": a.value, "via": a.via, "created_at": rfc3339(a.created_at), "updated_at": rfc3339(a.updated_at)}))
                .collect(),
        ),
    );
    obj.insert(
        "metadata_public".into(),
        identity.metadata_public.clone().unwrap_or(Value::Null),
    );
    if view == View::Admin {
        obj.insert(
            "metadata_admin".into(),
            identity.metadata_admin.clone().unwrap_or(Value::Null),
        );
        if let Some((creds, include)) = credentials {
            let mut map = Map::new();
            for c in creds {
                let mut v = json!({"type": c.kind.as_str(), "identifiers": c.identifiers, "version": c.version,
                    "created_at": rfc3339(c.created_at), "updated_at": rfc3339(c.updated_at)});
                if include.contains(&c.kind.as_str()) {
                    if let Some(m) = v.as_object_mut() {
                        m.insert("config".into(), c.config.clone());
                    }
                }
                map.insert(c.kind.as_str().into(), v);
            }
            obj.insert("credentials".into(), Value::Object(map));
        }
    }
    obj.insert("created_at".into(), json!(rfc3339(identity.created_at)));
    obj.insert("updated_at".into(), json!(rfc3339(identity.updated_at)));
    obj.insert("organization_id".into(), Value::Null);
    Value::Object(obj)
}

/// A session; `identity` is included when given (never as `null`).
pub fn session_json(
    session: &Session,
    identity: Option<&Identity>,
    public_base: &str,
    now: i64,
    view: View,
    with_devices: bool,
) -> Value {
    let mut obj = Map::new();
    obj.insert("id".into(), json!(session.id));
    let active = identity
        .map(|i| session.is_active(i, now))
        .unwrap_or(session.active && session.expires_at > now);
    obj.insert("active".into(), json!(active));
    obj.insert("expires_at".into(), json!(rfc3339(session.expires_at)));
    obj.insert(
        "authenticated_at".into(),
        json!(rfc3339(session.authenticated_at)),
    );
    obj.insert(
        "authenticator_assurance_level".into(),
        json!(session.aal.as_str()),
    );
    obj.insert(
        "authentication_methods".into(),
        Value::Array(
            session
                .methods
                .iter()
                .map(|m| json!({"method": m.method, "aal": m.aal.as_str(), "completed_at": rfc3339(m.completed_at)}))
                .collect(),
        ),
    );
    obj.insert("issued_at".into(), json!(rfc3339(session.issued_at)));
    if let Some(identity) = identity {
        obj.insert(
            "identity".into(),
            identity_json(identity, public_base, view, None),
        );
    }
    if with_devices {
        obj.insert("devices".into(), json!(session.devices));
    }
    Value::Object(obj)
}
