//! Identity schemas: loading them from `identity.schemas` (`file://`, `base64://`,
//! `http(s)://`), validating traits with JSON Schema, and reading the `ory.sh/kratos`
//! extension that turns traits into password identifiers, verifiable and recovery addresses.
//! Validation is pure; only [`Schemas::load`] does I/O.

use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};

use super::error::Error;
use super::text::UiText;
use crate::config::identity::IdentitySchemaRef;

/// One loaded identity schema.
pub struct IdentitySchema {
    pub id: String,
    pub raw: Value,
    validator: jsonschema::Validator,
    /// Every trait that carries the `ory.sh/kratos` extension, with its JSON pointer below
    /// `traits` (array items as `*`).
    extensions: Vec<(Vec<String>, Value)>,
}

/// What the extension derives from a set of traits.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TraitFacts {
    /// Lower-cased password identifiers.
    pub password_identifiers: Vec<String>,
    /// `(value, via)`: lower-cased addresses to verify.
    pub verifiable_addresses: Vec<(String, String)>,
    /// `(value, via)`: lower-cased recovery addresses.
    pub recovery_addresses: Vec<(String, String)>,
}

/// A validation problem on one field: `pointer` like `#/traits/email` (or `#/` for the flow).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub pointer: String,
    pub message: UiText,
}

/// All configured schemas.
#[derive(Clone)]
pub struct Schemas {
    pub default_id: String,
    list: Arc<Vec<Arc<IdentitySchema>>>,
}

impl Schemas {
    /// Reads and compiles every configured schema.
    pub async fn load(
        refs: &[IdentitySchemaRef],
        default_id: Option<&str>,
    ) -> Result<Schemas, Error> {
        let mut list = Vec::new();
        for r in refs {
            let text = fetch(&r.url).await.map_err(|e| {
                Error::Config(format!(
                    "identity.identity.schemas[{}] ({}): {e}",
                    r.id, r.url
                ))
            })?;
            let raw: Value = serde_json::from_str(&text).map_err(|e| {
                Error::Config(format!("identity schema {} is not valid JSON: {e}", r.id))
            })?;
            list.push(Arc::new(IdentitySchema::compile(&r.id, raw)?));
        }
        let default_id = default_id.unwrap_or("default").to_string();
        if !list.is_empty() && !list.iter().any(|s| s.id == default_id) {
            return Err(Error::Config(format!(
                "identity.identity.default_schema_id `{default_id}` names no configured schema"
            )));
        }
        Ok(Schemas {
            default_id,
            list: Arc::new(list),
        })
    }

    pub fn all(&self) -> &[Arc<IdentitySchema>] {
        &self.list
    }

    /// The schema by id, or by base64url(id) as Kratos' `/schemas/{id}` accepts.
    pub fn get(&self, id: &str) -> Option<&Arc<IdentitySchema>> {
        self.list.iter().find(|s| s.id == id).or_else(|| {
            let decoded = URL_SAFE_NO_PAD.decode(id.trim_end_matches('=')).ok()?;
            let decoded = String::from_utf8(decoded).ok()?;
            self.list.iter().find(|s| s.id == decoded)
        })
    }

    pub fn default_schema(&self) -> Option<&Arc<IdentitySchema>> {
        self.get(&self.default_id)
    }
}

/// `<public>/schemas/<base64url(id)>`.
pub fn schema_url(public_base: &str, id: &str) -> String {
    format!(
        "{}/schemas/{}",
        public_base.trim_end_matches('/'),
        URL_SAFE_NO_PAD.encode(id)
    )
}

async fn fetch(url: &str) -> Result<String, String> {
    if let Some(b64) = url.strip_prefix("base64://") {
        let bytes = STANDARD
            .decode(b64.trim_end_matches('='))
            .or_else(|_| {
                base64::engine::general_purpose::STANDARD_NO_PAD.decode(b64.trim_end_matches('='))
            })
            .or_else(|_| URL_SAFE_NO_PAD.decode(b64.trim_end_matches('=')))
            .map_err(|e| format!("bad base64: {e}"))?;
        return String::from_utf8(bytes).map_err(|_| "not UTF-8".to_string());
    }
    if let Some(path) = url.strip_prefix("file://") {
        return tokio::fs::read_to_string(path)
            .await
            .map_err(|e| e.to_string());
    }
    if url.starts_with("http://") || url.starts_with("https://") {
        return super::http_fetch::get_text(url).await;
    }
    Err("expected a file://, base64:// or http(s):// URL".into())
}

impl IdentitySchema {
    /// Compiles a schema and checks Kratos' rules (`properties.traits` must be an object schema).
    pub fn compile(id: &str, raw: Value) -> Result<IdentitySchema, Error> {
        let traits = raw.pointer("/properties/traits").ok_or_else(|| {
            Error::Config(format!(
                "identity schema {id} must define properties.traits"
            ))
        })?;
        let mut extensions = Vec::new();
        collect_extensions(traits, &mut Vec::new(), &mut extensions, 0);
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&raw)
            .map_err(|e| {
                Error::Config(format!(
                    "identity schema {id} is not a valid JSON schema: {e}"
                ))
            })?;
        Ok(IdentitySchema {
            id: id.to_string(),
            raw,
            validator,
            extensions,
        })
    }

    /// The trait schema (`properties.traits`).
    pub fn traits_schema(&self) -> &Value {
        self.raw
            .pointer("/properties/traits")
            .unwrap_or(&Value::Null)
    }

    /// Validates `traits` (as `{"traits": ...}`) and returns every problem with Kratos' message
    /// ids; an empty list means valid.
    pub fn validate(&self, traits: &Value) -> Vec<FieldError> {
        let doc = json!({ "traits": traits });
        let mut out = Vec::new();
        for error in self.validator.iter_errors(&doc) {
            let path = error.instance_path.to_string();
            out.push(field_error(
                &path,
                &error.kind,
                &error.to_string(),
                &error.instance,
            ));
        }
        out
    }

    /// Extracts identifiers and addresses from valid traits.
    pub fn facts(&self, traits: &Value) -> TraitFacts {
        let mut facts = TraitFacts::default();
        for (path, ext) in &self.extensions {
            let mut values = Vec::new();
            values_at(traits, path, &mut values);
            for value in values {
                let Some(text) = value.as_str() else { continue };
                let lower = text.trim().to_lowercase();
                if lower.is_empty() {
                    continue;
                }
                if ext.pointer("/credentials/password/identifier") == Some(&Value::Bool(true))
                    && !facts.password_identifiers.contains(&lower)
                {
                    facts.password_identifiers.push(lower.clone());
                }
                if let Some(via) = ext.pointer("/verification/via").and_then(Value::as_str) {
                    let entry = (lower.clone(), via.to_string());
                    if !facts.verifiable_addresses.contains(&entry) {
                        facts.verifiable_addresses.push(entry);
                    }
                }
                if let Some(via) = ext.pointer("/recovery/via").and_then(Value::as_str) {
                    let entry = (lower.clone(), via.to_string());
                    if !facts.recovery_addresses.contains(&entry) {
                        facts.recovery_addresses.push(entry);
                    }
                }
            }
        }
        facts
    }

    /// The title of the first password-identifier trait (labels the login `identifier` field).
    pub fn identifier_label(&self) -> Option<String> {
        let traits = self.traits_schema();
        self.extensions
            .iter()
            .find(|(_, ext)| {
                ext.pointer("/credentials/password/identifier") == Some(&Value::Bool(true))
            })
            .and_then(|(path, _)| {
                let mut node = traits;
                for seg in path {
                    node = if seg == "*" {
                        node.get("items")?
                    } else {
                        node.get("properties")?.get(seg)?
                    };
                }
                node.get("title")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
    }
}

fn collect_extensions(
    node: &Value,
    path: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, Value)>,
    depth: usize,
) {
    if depth > 16 {
        return;
    }
    if let Some(ext) = node.get("ory.sh/kratos") {
        out.push((path.clone(), ext.clone()));
    }
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            path.push(k.clone());
            collect_extensions(v, path, out, depth + 1);
            path.pop();
        }
    }
    if let Some(items) = node.get("items") {
        path.push("*".into());
        collect_extensions(items, path, out, depth + 1);
        path.pop();
    }
}

fn values_at<'a>(node: &'a Value, path: &[String], out: &mut Vec<&'a Value>) {
    match path.split_first() {
        None => match node {
            Value::Array(items) => out.extend(items.iter()),
            other => out.push(other),
        },
        Some((seg, rest)) if seg == "*" => {
            if let Some(items) = node.as_array() {
                for item in items {
                    values_at(item, rest, out);
                }
            }
        }
        Some((seg, rest)) => {
            if let Some(child) = node.get(seg) {
                values_at(child, rest, out);
            }
        }
    }
}

fn field_error(
    path: &str,
    kind: &jsonschema::error::ValidationErrorKind,
    display: &str,
    instance: &Value,
) -> FieldError {
    use jsonschema::error::ValidationErrorKind as K;
    let pointer = |p: &str| format!("#{p}");
    let actual_len = instance.as_str().map(|s| s.chars().count()).unwrap_or(0);
    match kind {
        K::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            FieldError {
                pointer: pointer(&format!("{path}/{name}")),
                message: UiText::error(
                    4000002,
                    format!("Property {name} is missing."),
                    json!({"property": name}),
                ),
            }
        }
        K::MinLength { limit } => FieldError {
            pointer: pointer(path),
            message: UiText::error(
                4000003,
                format!("length must be >= {limit}, but got {actual_len}"),
                json!({"min_length": limit, "actual_length": actual_len}),
            ),
        },
        K::MaxLength { limit } => FieldError {
            pointer: pointer(path),
            message: UiText::error(
                4000017,
                format!("length must be <= {limit}, but got {actual_len}"),
                json!({"max_length": limit, "actual_length": actual_len}),
            ),
        },
        K::Pattern { pattern } => FieldError {
            pointer: pointer(path),
            message: UiText::error(
                4000004,
                format!("does not match pattern \"{pattern}\""),
                json!({"pattern": pattern}),
            ),
        },
        K::Type { .. } => FieldError {
            pointer: pointer(path),
            message: UiText::error(4000026, display.to_string(), json!({})),
        },
        K::Minimum { limit } => FieldError {
            pointer: pointer(path),
            message: UiText::error(
                4000018,
                format!("must be >= {limit} but found {instance}"),
                json!({"minimum": limit, "actual": instance}),
            ),
        },
        K::Maximum { limit } => FieldError {
            pointer: pointer(path),
            message: UiText::error(
                4000020,
                format!("must be <= {limit} but found {instance}"),
                json!({"maximum": limit, "actual": instance}),
            ),
        },
        _ => FieldError {
            pointer: pointer(path),
            message: UiText::error(4000001, display.to_string(), json!({"reason": display})),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn schema() -> IdentitySchema {
        let raw: Value =
            serde_json::from_str(include_str!("../config/default_identity.schema.json")).unwrap();
        IdentitySchema::compile("default", raw).unwrap()
    }

    #[test]
    fn extension_derives_identifiers_and_addresses_lowercased() {
        let s = schema();
        let facts = s.facts(&json!({"email": "Foo@Example.com"}));
        assert_eq!(facts.password_identifiers, vec!["foo@example.com"]);
        assert_eq!(
            facts.verifiable_addresses,
            vec![("foo@example.com".into(), "email".into())]
        );
        assert_eq!(
            facts.recovery_addresses,
            vec![("foo@example.com".into(), "email".into())]
        );
        assert_eq!(s.identifier_label().as_deref(), Some("E-Mail"));
    }

    #[test]
    fn validation_maps_to_kratos_message_ids_on_the_right_pointer() {
        let s = schema();
        assert!(s.validate(&json!({"email": "a@b.co"})).is_empty());
        let e = s.validate(&json!({}));
        assert_eq!(e[0].pointer, "#/traits/email");
        assert_eq!(e[0].message.id, 4000002);
        let e = s.validate(&json!({"email": "not-an-email"}));
        assert_eq!(e[0].pointer, "#/traits/email");
        assert_eq!(e[0].message.id, 4000001);
        let e = s.validate(&json!({"email": "a@"}));
        assert!(e
            .iter()
            .any(|x| x.message.id == 4000003 || x.message.id == 4000001));
    }

    #[test]
    fn schema_without_traits_is_refused_and_ids_resolve_by_base64() {
        assert!(IdentitySchema::compile("x", json!({"type": "object"})).is_err());
        let schemas = Schemas {
            default_id: "default".into(),
            list: Arc::new(vec![Arc::new(schema())]),
        };
        assert!(schemas.get("default").is_some());
        assert!(schemas.get("ZGVmYXVsdA").is_some());
        assert!(schemas.get("nope").is_none());
        assert_eq!(
            schema_url("http://x/", "default"),
            "http://x/schemas/ZGVmYXVsdA"
        );
    }
}
