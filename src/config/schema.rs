//! Ory's own config JSON schemas, embedded, and the questions the loader asks of them:
//! "is this value valid?", "does this key path exist in Ory's schema?", and
//! "which key path does this upper-snake env name mean?".

use serde_json::{Map, Value};

use super::validate::{Checker, Resolve};
use super::Role;

const KRATOS: &str = include_str!("../../spec/ory/kratos-v1.1.0/config.schema.json");
const HYDRA: &str = include_str!("../../spec/ory/hydra-v2.2.0/config.json");
const KETO: &str = include_str!("../../spec/ory/keto-v0.14.0/config.schema.json");
const OATHKEEPER: &str = include_str!("../../spec/ory/oathkeeper-v0.40.9/config.schema.json");
const ORY_LOGGING: &str = include_str!("../../spec/ory/ory-x-v0.0.677/logrusx/config.schema.json");
const ORY_TRACING: &str = include_str!("../../spec/ory/ory-x-v0.0.677/otelx/config.schema.json");

/// One problem found by validating a role section against Ory's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaProblem {
    /// A key Ory's schema does not allow at this place.
    UnknownKey { path: String },
    /// A value of the wrong type or shape; `message` says what was expected.
    Invalid { path: String, message: String },
}

/// Ory's config schema of one role, parsed once.
pub struct RoleSchema {
    root: Value,
    logging: Value,
    tracing: Value,
}

impl RoleSchema {
    /// Parses the embedded schema of `role`. The embedded files are fixed at build time and a
    /// unit test parses each of them, so a failure here is a build defect, reported as a string.
    pub fn load(role: Role) -> Result<Self, String> {
        let text = match role {
            Role::Identity => KRATOS,
            Role::Oauth2 => HYDRA,
            Role::Permission => KETO,
            Role::Proxy => OATHKEEPER,
        };
        let parse = |t: &str| serde_json::from_str::<Value>(t).map_err(|e| e.to_string());
        let mut root = parse(text)?;
        // Oathkeeper's `$id` is relative; give every schema an absolute base so that
        // `#/definitions/...` references resolve the same way everywhere.
        if let Some(obj) = root.as_object_mut() {
            obj.insert(
                "$id".into(),
                Value::String(format!(
                    "https://quartet.invalid/{}/config.schema.json",
                    role.name()
                )),
            );
        }
        Ok(Self {
            root,
            logging: parse(ORY_LOGGING)?,
            tracing: parse(ORY_TRACING)?,
        })
    }

    /// Validates `instance` (one role section) and returns every problem with its key path
    /// (dotted, relative to the role section). Missing required keys are not problems: Quartet
    /// supplies defaults for everything Ory requires.
    pub fn validate(&self, instance: &Value) -> Result<Vec<SchemaProblem>, String> {
        let mut instance = instance.clone();
        self.materialize_defaults(&self.root, &mut instance, 0);
        let mut problems = Checker::new(self).check(&self.root, &instance, "");
        problems.dedup();
        Ok(problems)
    }

    /// Checks `instance` against `#/definitions/<name>` of this schema with `required`
    /// enforced (Oathkeeper validates each handler's merged config this way). Paths are
    /// relative to the instance.
    pub fn check_definition(&self, name: &str, instance: &Value) -> Vec<SchemaProblem> {
        match self.root.pointer(&format!("/definitions/{name}")) {
            Some(definition) => Checker::strict(self).check(definition, instance, ""),
            None => vec![SchemaProblem::Invalid {
                path: String::new(),
                message: format!("no schema definition named {name}"),
            }],
        }
    }

    /// Merges schema defaults under the values present, as Ory's config loader does before it
    /// validates (so `errors.handlers.json: {enabled: true}` gains the default `config: {}`).
    /// Used for validation only; the typed tree sees what the user wrote.
    fn materialize_defaults(&self, node: &Value, instance: &mut Value, depth: usize) {
        if depth > 24 {
            return;
        }
        let Some(map) = instance.as_object_mut() else {
            return;
        };
        for schema in self.expand(node, 0) {
            let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
                continue;
            };
            for (key, property) in properties {
                let Some(value) = map.get_mut(key) else {
                    continue;
                };
                for expanded in self.expand(property, 0) {
                    if let (Some(Value::Object(default)), Value::Object(present)) =
                        (expanded.get("default"), &mut *value)
                    {
                        for (k, v) in default {
                            present.entry(k.clone()).or_insert_with(|| v.clone());
                        }
                    }
                }
                self.materialize_defaults(property, value, depth + 1);
            }
        }
    }

    /// True when the dotted key path (relative to the role section) names something Ory's
    /// schema describes. Array indices in the path are accepted wherever the schema has items.
    pub fn has_path(&self, path: &[String]) -> bool {
        self.lookup(path).is_some()
    }

    /// The schema node for a key path, following `$ref`, `allOf`/`anyOf`/`oneOf`, arrays and
    /// maps (`additionalProperties`/`patternProperties`).
    fn lookup(&self, path: &[String]) -> Option<Vec<&Value>> {
        let mut nodes = self.expand(&self.root, 0);
        for segment in path {
            let mut next = Vec::new();
            for node in &nodes {
                for child in self.children(node, segment) {
                    next.extend(self.expand(child, 0));
                }
            }
            if next.is_empty() {
                return None;
            }
            nodes = next;
        }
        Some(nodes)
    }

    /// Follows references and combinators so that the caller sees only concrete nodes.
    fn expand<'a>(&'a self, node: &'a Value, depth: usize) -> Vec<&'a Value> {
        if depth > 32 {
            return Vec::new();
        }
        let mut out = vec![node];
        if let Some(target) = node
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| self.resolve(r))
        {
            out.extend(self.expand(target, depth + 1));
        }
        for key in ["allOf", "anyOf", "oneOf"] {
            for sub in node
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.extend(self.expand(sub, depth + 1));
            }
        }
        for key in ["then", "else"] {
            if let Some(sub) = node.get(key) {
                out.extend(self.expand(sub, depth + 1));
            }
        }
        out
    }

    fn resolve(&self, reference: &str) -> Option<&Value> {
        match reference {
            "ory://logging-config" => Some(&self.logging),
            "ory://tracing-config" => Some(&self.tracing),
            r => r.strip_prefix('#').and_then(|p| self.root.pointer(p)),
        }
    }

    fn children<'a>(&'a self, node: &'a Value, segment: &str) -> Vec<&'a Value> {
        let mut out = Vec::new();
        if let Some(child) = node.get("properties").and_then(|p| p.get(segment)) {
            out.push(child);
        }
        if let Some(patterns) = node.get("patternProperties").and_then(Value::as_object) {
            out.extend(patterns.values());
        }
        if let Some(extra) = node.get("additionalProperties").filter(|v| v.is_object()) {
            out.push(extra);
        }
        if segment.parse::<usize>().is_ok() {
            match node.get("items") {
                Some(Value::Array(items)) => out.extend(items.iter()),
                Some(items) => out.push(items),
                None => {}
            }
        }
        out
    }

    /// Maps the upper-snake segments of an env name (after the role prefix) to a key path,
    /// preferring the longest property name at each level (`SERVE_PUBLIC_BASE_URL` →
    /// `serve.public.base_url`). Returns the path and the JSON types the schema allows there.
    pub fn env_path(&self, segments: &[String]) -> Option<(Vec<String>, Vec<String>)> {
        let mut path = Vec::new();
        let nodes = self.expand(&self.root, 0);
        self.env_walk(nodes, segments, &mut path)
            .map(|types| (path, types))
    }

    fn env_walk(
        &self,
        nodes: Vec<&Value>,
        rest: &[String],
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if rest.is_empty() {
            return Some(types_of(&nodes));
        }
        for take in (1..=rest.len()).rev() {
            let candidate = rest[..take].join("_").to_lowercase();
            let mut next = Vec::new();
            for node in &nodes {
                if let Some(child) = node.get("properties").and_then(|p| p.get(&candidate)) {
                    next.extend(self.expand(child, 0));
                }
            }
            if next.is_empty() {
                continue;
            }
            path.push(candidate);
            if let Some(types) = self.env_walk(next, &rest[take..], path) {
                return Some(types);
            }
            path.pop();
        }
        None
    }
}

fn types_of(nodes: &[&Value]) -> Vec<String> {
    let mut types = Vec::new();
    for node in nodes {
        match node.get("type") {
            Some(Value::String(t)) => types.push(t.clone()),
            Some(Value::Array(ts)) => {
                types.extend(ts.iter().filter_map(Value::as_str).map(String::from))
            }
            _ => {}
        }
    }
    types
}

/// Turns an `Object` of key paths into nested objects, used by tests and defaults.
pub fn nest(entries: &[(&str, Value)]) -> Value {
    let mut root = Map::new();
    for (path, value) in entries {
        let segments: Vec<String> = path.split('.').map(String::from).collect();
        super::load::set_path(&mut root, &segments, value.clone());
    }
    Value::Object(root)
}

impl Resolve for RoleSchema {
    fn resolve(&self, reference: &str) -> Option<&Value> {
        RoleSchema::resolve(self, reference)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(role: Role) -> RoleSchema {
        RoleSchema::load(role).unwrap()
    }

    #[test]
    fn every_embedded_schema_parses_and_compiles() {
        for role in Role::ALL {
            let s = schema(role);
            assert!(s.validate(&json!({})).unwrap().is_empty(), "{role:?}");
        }
    }

    #[test]
    fn wrong_type_names_the_key_path() {
        let problems = schema(Role::Identity)
            .validate(&json!({"serve": {"public": {"port": "abc"}}}))
            .unwrap();
        assert!(
            matches!(&problems[..], [SchemaProblem::Invalid { path, .. }] if path == "serve.public.port"),
            "{problems:?}"
        );
    }

    #[test]
    fn unknown_key_names_the_key_path() {
        let problems = schema(Role::Permission)
            .validate(&json!({"serve": {"read": {"prot": 1}}}))
            .unwrap();
        assert_eq!(
            problems,
            vec![SchemaProblem::UnknownKey {
                path: "serve.read.prot".into()
            }]
        );
    }

    #[test]
    fn has_path_follows_refs_maps_and_arrays() {
        let s = schema(Role::Proxy);
        let p = |x: &str| x.split('.').map(String::from).collect::<Vec<_>>();
        assert!(s.has_path(&p("authenticators.cookie_session.config.check_session_url")));
        assert!(s.has_path(&p("log.level")));
        assert!(s.has_path(&p("access_rules.repositories.0")));
        assert!(!s.has_path(&p("authenticators.nope")));
    }

    #[test]
    fn env_names_resolve_to_the_longest_property() {
        let s = schema(Role::Identity);
        let segs = |x: &str| x.split('_').map(String::from).collect::<Vec<_>>();
        let (path, types) = s.env_path(&segs("SERVE_PUBLIC_BASE_URL")).unwrap();
        assert_eq!(path, vec!["serve", "public", "base_url"]);
        assert!(types.contains(&"string".to_string()));
        let (path, types) = s.env_path(&segs("SERVE_ADMIN_PORT")).unwrap();
        assert_eq!(path, vec!["serve", "admin", "port"]);
        assert!(types.contains(&"integer".to_string()));
        assert!(s.env_path(&segs("NO_SUCH_KEY")).is_none());
    }
}
