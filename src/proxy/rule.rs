//! The access rule document as Oathkeeper reads and serves it (`GET /rules`), and its decoding
//! from a repository document: a JSON or YAML array, with the `version` rewrite.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The version every loaded rule reports, as Oathkeeper rewrites `version` to its own.
pub const RULE_VERSION: &str = "v0.40.9";

/// One access rule, in Oathkeeper's wire shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(rename = "match", default)]
    pub matcher: Option<RuleMatch>,
    #[serde(default)]
    pub authenticators: Vec<HandlerRef>,
    #[serde(default)]
    pub authorizer: HandlerRef,
    #[serde(default)]
    pub mutators: Vec<HandlerRef>,
    #[serde(default)]
    pub errors: Vec<HandlerRef>,
    #[serde(default)]
    pub upstream: Upstream,
}

/// `match`: the URL pattern and the methods.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleMatch {
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub methods: Vec<String>,
    /// Documented by Ory, ignored by Oathkeeper v0.40: accepted and kept, never used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Value>,
}

/// `{handler, config}` of one pipeline step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HandlerRef {
    #[serde(default)]
    pub handler: String,
    #[serde(default)]
    pub config: Option<Value>,
}

/// `upstream`: where the proxy forwards an allowed request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Upstream {
    #[serde(default)]
    pub preserve_host: bool,
    #[serde(default)]
    pub strip_path: String,
    #[serde(default)]
    pub url: String,
}

/// Decodes one repository document (JSON tried first, then YAML) into rules, each with its
/// `version` rewritten to [`RULE_VERSION`]. A document that is not an array of rule objects
/// fails whole; the message names the rule index and the field where it can.
pub fn decode_document(text: &str) -> Result<Vec<Rule>, String> {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => crate::config::yaml::from_str(text)
            .map_err(|e| format!("neither JSON nor YAML: {e}"))?,
    };
    let items = match value {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        other => {
            return Err(format!(
                "expected an array of access rules, got {}",
                type_name(&other)
            ))
        }
    };
    let mut rules = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let id = item
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("#{i}"));
        if let Some(version) = item.get("version").and_then(Value::as_str) {
            check_version(version).map_err(|e| format!("rule {id:?}: version: {e}"))?;
        }
        let mut rule: Rule = serde_path_to_error::deserialize(item)
            .map_err(|e| format!("rule {id:?}: {}: {}", e.path(), e.inner()))?;
        rule.version = Some(RULE_VERSION.to_string());
        rules.push(rule);
    }
    Ok(rules)
}

/// Oathkeeper parses `version` as semver (leading `v` optional) and fails the document otherwise.
fn check_version(version: &str) -> Result<(), String> {
    let v = version.strip_prefix('v').unwrap_or(version);
    let core = v.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.parse::<u64>().is_ok())
    {
        Ok(())
    } else {
        Err(format!("{version:?} is not a semantic version"))
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json_decode_and_version_is_rewritten() {
        let yaml = "- id: a\n  version: v0.36.0-beta.4\n  match: {url: 'http://x/<.*>', methods: [GET]}\n  authenticators: [{handler: noop}]\n  authorizer: {handler: allow}\n  mutators: [{handler: noop}]\n";
        let rules = decode_document(yaml).unwrap();
        assert_eq!(rules[0].version.as_deref(), Some(RULE_VERSION));
        assert_eq!(rules[0].matcher.as_ref().unwrap().methods, vec!["GET"]);
        let json = r#"[{"id":"b","match":{"url":"x","methods":[]}}]"#;
        assert_eq!(decode_document(json).unwrap()[0].id, "b");
    }

    #[test]
    fn bad_documents_say_why() {
        assert!(decode_document("{\"id\": 1}")
            .unwrap_err()
            .contains("array"));
        let e = decode_document("[{\"id\":\"r\",\"version\":\"banana\"}]").unwrap_err();
        assert!(e.contains("\"r\"") && e.contains("version"), "{e}");
        let e = decode_document("[{\"id\":\"r\",\"match\":{\"methods\":\"GET\"}}]").unwrap_err();
        assert!(e.contains("match.methods"), "{e}");
    }
}
