//! Pipeline handler configs: the global `<kind>.<id>.config` deep-merged with a rule's
//! `config`, Oathkeeper's schema defaults materialised, then validated against Oathkeeper's own
//! per-handler JSON schema (`additionalProperties: false`), all at rule load.

use serde_json::{Map, Value};

use crate::config::proxy::HandlerSwitch;
use crate::config::schema::{RoleSchema, SchemaProblem};
use crate::config::Role;

const OATHKEEPER_SCHEMA: &str =
    include_str!("../../spec/ory/oathkeeper-v0.40.9/config.schema.json");

/// Handler kinds, as in the config (`authenticators`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Authenticator,
    Authorizer,
    Mutator,
    ErrorHandler,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Authenticator => "authenticator",
            Kind::Authorizer => "authorizer",
            Kind::Mutator => "mutator",
            Kind::ErrorHandler => "error handler",
        }
    }
}

/// The handler ids Oathkeeper knows per kind, and the schema definition of each one's config
/// (`None`: the handler takes no config).
fn definition(kind: Kind, id: &str) -> Option<Option<&'static str>> {
    Some(match (kind, id) {
        (Kind::Authenticator, "noop" | "unauthorized") => None,
        (Kind::Authenticator, "anonymous") => Some("configAuthenticatorsAnonymous"),
        (Kind::Authenticator, "cookie_session") => Some("configAuthenticatorsCookieSession"),
        (Kind::Authenticator, "bearer_token") => Some("configAuthenticatorsBearerToken"),
        (Kind::Authenticator, "jwt") => Some("configAuthenticatorsJwt"),
        (Kind::Authenticator, "oauth2_client_credentials") => {
            Some("configAuthenticatorsOauth2ClientCredentials")
        }
        (Kind::Authenticator, "oauth2_introspection") => {
            Some("configAuthenticatorsOauth2Introspection")
        }
        (Kind::Authorizer, "allow" | "deny") => None,
        (Kind::Authorizer, "remote") => Some("configAuthorizersRemote"),
        (Kind::Authorizer, "remote_json") => Some("configAuthorizersRemoteJSON"),
        (Kind::Authorizer, "keto_engine_acp_ory") => Some("configAuthorizersKetoEngineAcpOry"),
        (Kind::Mutator, "noop") => None,
        (Kind::Mutator, "header") => Some("configMutatorsHeader"),
        (Kind::Mutator, "cookie") => Some("configMutatorsCookie"),
        (Kind::Mutator, "hydrator") => Some("configMutatorsHydrator"),
        (Kind::Mutator, "id_token") => Some("configMutatorsIdToken"),
        (Kind::ErrorHandler, "json") => Some("configErrorsJSON"),
        (Kind::ErrorHandler, "redirect") => Some("configErrorsRedirect"),
        (Kind::ErrorHandler, "www_authenticate") => Some("configErrorsWWWAuthenticate"),
        _ => return None,
    })
}

/// A duration as Oathkeeper's schema writes them (`^[0-9]+(ns|us|ms|s|m|h)$`, e.g. `15m`).
pub fn go_duration(text: &str) -> Option<std::time::Duration> {
    crate::config::duration::parse(text).ok()
}

/// Oathkeeper's handler schemas, parsed and compiled once.
pub struct Schemas {
    root: Value,
    /// Oathkeeper's config schema as the config kernel walks it: handler configs are checked
    /// on the values present, without compiling a validator per handler at start.
    checker: RoleSchema,
}

impl Schemas {
    pub fn load() -> Result<Self, String> {
        let mut root: Value = serde_json::from_str(OATHKEEPER_SCHEMA)
            .map_err(|e| format!("embedded Oathkeeper schema: {e}"))?;
        if let Some(o) = root.as_object_mut() {
            o.insert(
                "$id".into(),
                Value::String("https://quartet.invalid/oathkeeper.json".into()),
            );
        }
        let checker = RoleSchema::load(Role::Proxy)?;
        Ok(Self { root, checker })
    }

    /// The effective config of one handler use: global config deep-merged with the rule's,
    /// defaults applied, validated. `Err` says which key is wrong and why.
    pub fn effective(
        &self,
        kind: Kind,
        id: &str,
        switch: Option<&HandlerSwitch>,
        rule_config: Option<&Value>,
    ) -> Result<Value, String> {
        let Some(def) = definition(kind, id) else {
            return Err(format!("{} {id:?} is unknown", kind.name()));
        };
        let enabled = match (kind, id, switch) {
            (_, _, Some(s)) => s.enabled,
            (Kind::ErrorHandler, "json", None) => true,
            _ => false,
        };
        if !enabled {
            return Err(format!(
                "{} {id:?} is disabled per configuration",
                kind.name()
            ));
        }
        let mut merged = switch
            .and_then(|s| s.config.clone())
            .filter(|v| !v.is_null())
            .unwrap_or_else(|| Value::Object(Map::new()));
        if let Some(rule) = rule_config.filter(|v| !v.is_null()) {
            deep_merge(&mut merged, rule);
        }
        let Some(def) = def else {
            return Ok(merged);
        };
        if let Some(node) = self.root.pointer(&format!("/definitions/{def}")) {
            self.apply_defaults(node, &mut merged, 0);
        }
        // Quartet's session cache is not in Oathkeeper's schema: checked here, then put back.
        let extension = match (kind, id) {
            (Kind::Authenticator, "cookie_session" | "bearer_token") => merged
                .as_object_mut()
                .and_then(|m| m.remove("cache"))
                .map(|c| check_session_cache(&c).map(|()| c))
                .transpose()?,
            _ => None,
        };
        let mut problems: Vec<String> = self
            .checker
            .check_definition(def, &merged)
            .into_iter()
            .map(|problem| match problem {
                SchemaProblem::UnknownKey { path } => format!("config.{path}: unknown key"),
                SchemaProblem::Invalid { path, message } if path.is_empty() => {
                    format!("config: {message}")
                }
                SchemaProblem::Invalid { path, message } => format!("config.{path}: {message}"),
            })
            .collect();
        if let (Some(c), Some(m)) = (extension, merged.as_object_mut()) {
            m.insert("cache".into(), c);
        }
        if !problems.is_empty() {
            problems.dedup();
            return Err(problems.join("; "));
        }
        Ok(merged)
    }

    fn resolve<'a>(&'a self, node: &'a Value) -> &'a Value {
        match node.get("$ref").and_then(Value::as_str) {
            Some(r) => r
                .strip_prefix('#')
                .and_then(|p| self.root.pointer(p))
                .unwrap_or(node),
            None => node,
        }
    }

    /// Materialises `default`s of the properties (recursively into objects present), as
    /// Oathkeeper's config loader does.
    fn apply_defaults(&self, node: &Value, value: &mut Value, depth: usize) {
        if depth > 16 {
            return;
        }
        let node = self.resolve(node);
        let Some(map) = value.as_object_mut() else {
            return;
        };
        let Some(props) = node.get("properties").and_then(Value::as_object) else {
            return;
        };
        for (key, prop) in props {
            let prop = self.resolve(prop);
            if !map.contains_key(key) {
                if let Some(d) = prop.get("default") {
                    map.insert(key.clone(), d.clone());
                }
            }
            if let Some(child) = map.get_mut(key) {
                self.apply_defaults(prop, child, depth + 1);
            }
        }
    }
}

/// `cache` of cookie_session / bearer_token (Quartet extension): `{enabled: bool, ttl:
/// duration, max_cost: integer >= 1}`, nothing else.
fn check_session_cache(cache: &Value) -> Result<(), String> {
    let Some(map) = cache.as_object() else {
        return Err("config.cache: expected an object".into());
    };
    for (k, v) in map {
        let ok = match k.as_str() {
            "enabled" => v.is_boolean(),
            "ttl" => v.as_str().and_then(go_duration).is_some(),
            "max_cost" => v.as_u64().is_some_and(|n| n >= 1),
            _ => return Err(format!("config.cache.{k}: unknown key")),
        };
        if !ok {
            let want = match k.as_str() {
                "enabled" => "a boolean",
                "ttl" => "a duration such as \"10s\"",
                _ => "an integer >= 1",
            };
            return Err(format!("config.cache.{k}: expected {want}, got {v}"));
        }
    }
    Ok(())
}

/// koanf's merge: objects recursively, everything else replaced by `over`.
pub fn deep_merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) => deep_merge(existing, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn on(config: Value) -> HandlerSwitch {
        HandlerSwitch {
            enabled: true,
            config: Some(config),
        }
    }

    #[test]
    fn merge_defaults_and_validation() {
        let s = Schemas::load().unwrap();
        let global = on(json!({"check_session_url": "http://k/sessions/whoami", "only": ["a"]}));
        let eff = s
            .effective(
                Kind::Authenticator,
                "cookie_session",
                Some(&global),
                Some(&json!({"only": ["b"]})),
            )
            .unwrap();
        assert_eq!(eff["only"], json!(["b"]));
        assert_eq!(eff["check_session_url"], "http://k/sessions/whoami");
        assert_eq!(eff["preserve_query"], true, "schema default materialised");
        assert_eq!(eff["subject_from"], "subject");
        let e = s
            .effective(
                Kind::Authenticator,
                "cookie_session",
                Some(&global),
                Some(&json!({"bogus": 1})),
            )
            .unwrap_err();
        assert!(e.contains("bogus"), "{e}");
        let e = s.effective(Kind::Mutator, "nope", None, None).unwrap_err();
        assert!(e.contains("unknown"), "{e}");
        let e = s
            .effective(Kind::Authorizer, "allow", None, None)
            .unwrap_err();
        assert!(e.contains("disabled"), "{e}");
        assert!(s.effective(Kind::ErrorHandler, "json", None, None).is_ok());
    }

    #[test]
    fn handler_configs_are_checked_against_oathkeepers_schema_with_required_keys() {
        let s = Schemas::load().unwrap();
        let e = s
            .effective(
                Kind::Authenticator,
                "cookie_session",
                Some(&on(json!({}))),
                None,
            )
            .unwrap_err();
        assert!(e.contains("missing check_session_url"), "{e}");
        let global = on(json!({"check_session_url": "http://k/sessions/whoami"}));
        let e = s
            .effective(
                Kind::Authenticator,
                "cookie_session",
                Some(&global),
                Some(&json!({"preserve_path": "yes"})),
            )
            .unwrap_err();
        assert!(
            e.starts_with("config.preserve_path: expected a boolean"),
            "{e}"
        );
        let header = on(json!({"headers": {"X-User": "{{ print .Subject }}"}}));
        assert!(s
            .effective(Kind::Mutator, "header", Some(&header), None)
            .is_ok());
        let e = s
            .effective(Kind::Mutator, "header", Some(&on(json!({}))), None)
            .unwrap_err();
        assert!(e.contains("missing headers"), "{e}");
    }

    #[test]
    fn deep_merge_replaces_arrays_and_scalars() {
        let mut a = json!({"x": {"y": 1, "z": [1, 2]}, "k": "v"});
        deep_merge(&mut a, &json!({"x": {"z": [3]}, "k": "w"}));
        assert_eq!(a, json!({"x": {"y": 1, "z": [3]}, "k": "w"}));
    }
}
