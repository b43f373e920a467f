//! A small JSON Schema (draft-07) checker for config sections, walking only the values present.
//!
//! Compiling Ory's whole config schemas with a general validator cost ~150 ms and ~140 MB at
//! every start; config validation needs a fraction of JSON Schema: `type`, `enum`, `const`,
//! numeric and length bounds, `pattern`, `items`, `properties`/`patternProperties`/
//! `additionalProperties`, `allOf`/`anyOf`/`oneOf`, `if`/`then`/`else`, `not`, `$ref`. `required`
//! is checked only where it discriminates — inside `if` conditions and `not` — because Quartet
//! supplies defaults for what Ory requires and the seed files omit some of it; `oneOf` is checked as
//! `anyOf` (lenient), and `format` is not checked (as with Ory's own loader for most formats).

use std::collections::HashMap;

use regex::Regex;
use serde_json::{Map, Value};

use super::schema::SchemaProblem;

/// Resolves `$ref`s for the checker.
pub(super) trait Resolve {
    fn resolve(&self, reference: &str) -> Option<&Value>;
}

pub(super) struct Checker<'a, R: Resolve> {
    resolver: &'a R,
    patterns: HashMap<String, Option<Regex>>,
    /// True while evaluating an `if` condition or a `not` subschema.
    discriminating: bool,
    /// Enforce `required` everywhere.
    strict: bool,
}

const MAX_DEPTH: usize = 64;

impl<'a, R: Resolve> Checker<'a, R> {
    pub(super) fn new(resolver: &'a R) -> Self {
        Self {
            resolver,
            patterns: HashMap::new(),
            discriminating: false,
            strict: false,
        }
    }

    /// A checker that also enforces `required` everywhere (for documents Quartet does not
    /// default, such as Oathkeeper's handler configs).
    pub(super) fn strict(resolver: &'a R) -> Self {
        Self {
            strict: true,
            ..Self::new(resolver)
        }
    }

    /// Every problem of `instance` against `schema`; `path` is the dotted key path so far.
    pub(super) fn check(
        &mut self,
        schema: &Value,
        instance: &Value,
        path: &str,
    ) -> Vec<SchemaProblem> {
        self.node(schema, instance, path, 0)
    }

    fn node(
        &mut self,
        schema: &Value,
        instance: &Value,
        path: &str,
        depth: usize,
    ) -> Vec<SchemaProblem> {
        if depth > MAX_DEPTH {
            return Vec::new();
        }
        let schema = match schema {
            Value::Bool(true) => return Vec::new(),
            Value::Bool(false) => return vec![invalid(path, "no value is allowed here")],
            Value::Object(map) => map,
            _ => return Vec::new(),
        };
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            return match self.resolver.resolve(reference) {
                Some(target) => self.node(target, instance, path, depth + 1),
                None => Vec::new(),
            };
        }
        let mut problems = Vec::new();
        if let Some(expected) = schema.get("type") {
            if !type_matches(expected, instance) {
                problems.push(invalid(
                    path,
                    &format!(
                        "expected {}, got {}",
                        type_names(expected),
                        describe(instance)
                    ),
                ));
                return problems;
            }
        }
        if let Some(options) = schema.get("enum").and_then(Value::as_array) {
            if !options.contains(instance) {
                let list: Vec<String> = options.iter().map(Value::to_string).collect();
                problems.push(invalid(
                    path,
                    &format!(
                        "expected one of {}, got {}",
                        list.join(", "),
                        describe(instance)
                    ),
                ));
            }
        }
        if let Some(constant) = schema.get("const") {
            if constant != instance {
                problems.push(invalid(
                    path,
                    &format!("expected {constant}, got {}", describe(instance)),
                ));
            }
        }
        match instance {
            Value::Number(n) => {
                self.number(schema, n.as_f64().unwrap_or_default(), path, &mut problems)
            }
            Value::String(s) => self.string(schema, s, path, &mut problems),
            Value::Array(items) => self.array(schema, items, path, depth, &mut problems),
            Value::Object(map) => self.object(schema, map, path, depth, &mut problems),
            _ => {}
        }
        if self.discriminating || self.strict {
            if let (Some(required), Value::Object(map)) =
                (schema.get("required").and_then(Value::as_array), instance)
            {
                for key in required.iter().filter_map(Value::as_str) {
                    if !map.contains_key(key) {
                        problems.push(invalid(path, &format!("missing {key}")));
                    }
                }
            }
        }
        self.combinators(schema, instance, path, depth, &mut problems);
        problems
    }

    fn number(
        &mut self,
        schema: &Map<String, Value>,
        n: f64,
        path: &str,
        problems: &mut Vec<SchemaProblem>,
    ) {
        let bound = |k: &str| schema.get(k).and_then(Value::as_f64);
        if let Some(min) = bound("minimum").filter(|m| n < *m) {
            problems.push(invalid(path, &format!("must be at least {min}, got {n}")));
        }
        if let Some(max) = bound("maximum").filter(|m| n > *m) {
            problems.push(invalid(path, &format!("must be at most {max}, got {n}")));
        }
        if let Some(min) = bound("exclusiveMinimum").filter(|m| n <= *m) {
            problems.push(invalid(
                path,
                &format!("must be greater than {min}, got {n}"),
            ));
        }
        if let Some(max) = bound("exclusiveMaximum").filter(|m| n >= *m) {
            problems.push(invalid(path, &format!("must be less than {max}, got {n}")));
        }
    }

    fn string(
        &mut self,
        schema: &Map<String, Value>,
        s: &str,
        path: &str,
        problems: &mut Vec<SchemaProblem>,
    ) {
        let length = s.chars().count() as u64;
        if let Some(min) = schema
            .get("minLength")
            .and_then(Value::as_u64)
            .filter(|m| length < *m)
        {
            problems.push(invalid(
                path,
                &format!("must be at least {min} characters long"),
            ));
        }
        if let Some(max) = schema
            .get("maxLength")
            .and_then(Value::as_u64)
            .filter(|m| length > *m)
        {
            problems.push(invalid(
                path,
                &format!("must be at most {max} characters long"),
            ));
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
            if !self.matches(pattern, s) {
                problems.push(invalid(
                    path,
                    &format!("{s:?} does not match the pattern {pattern:?}"),
                ));
            }
        }
    }

    fn array(
        &mut self,
        schema: &Map<String, Value>,
        items: &[Value],
        path: &str,
        depth: usize,
        problems: &mut Vec<SchemaProblem>,
    ) {
        let count = items.len() as u64;
        if let Some(min) = schema
            .get("minItems")
            .and_then(Value::as_u64)
            .filter(|m| count < *m)
        {
            problems.push(invalid(path, &format!("must have at least {min} items")));
        }
        if let Some(max) = schema
            .get("maxItems")
            .and_then(Value::as_u64)
            .filter(|m| count > *m)
        {
            problems.push(invalid(path, &format!("must have at most {max} items")));
        }
        if schema.get("uniqueItems") == Some(&Value::Bool(true)) {
            for (i, item) in items.iter().enumerate() {
                if items[..i].contains(item) {
                    problems.push(invalid(
                        &join(path, &i.to_string()),
                        "duplicates an earlier item",
                    ));
                }
            }
        }
        match schema.get("items") {
            Some(Value::Array(tuple)) => {
                for (i, (item, sub)) in items.iter().zip(tuple).enumerate() {
                    problems.extend(self.node(sub, item, &join(path, &i.to_string()), depth + 1));
                }
            }
            Some(sub) => {
                for (i, item) in items.iter().enumerate() {
                    problems.extend(self.node(sub, item, &join(path, &i.to_string()), depth + 1));
                }
            }
            None => {}
        }
    }

    fn object(
        &mut self,
        schema: &Map<String, Value>,
        map: &Map<String, Value>,
        path: &str,
        depth: usize,
        problems: &mut Vec<SchemaProblem>,
    ) {
        let properties = schema.get("properties").and_then(Value::as_object);
        let patterns = schema.get("patternProperties").and_then(Value::as_object);
        for (key, value) in map {
            let child = join(path, key);
            let mut matched = false;
            if let Some(sub) = properties.and_then(|p| p.get(key)) {
                matched = true;
                problems.extend(self.node(sub, value, &child, depth + 1));
            }
            for (pattern, sub) in patterns.into_iter().flatten() {
                if self.matches(pattern, key) {
                    matched = true;
                    problems.extend(self.node(sub, value, &child, depth + 1));
                }
            }
            if matched {
                continue;
            }
            match schema.get("additionalProperties") {
                Some(Value::Bool(false)) => {
                    problems.push(SchemaProblem::UnknownKey { path: child })
                }
                Some(sub @ Value::Object(_)) => {
                    problems.extend(self.node(sub, value, &child, depth + 1))
                }
                _ => {}
            }
        }
    }

    fn combinators(
        &mut self,
        schema: &Map<String, Value>,
        instance: &Value,
        path: &str,
        depth: usize,
        problems: &mut Vec<SchemaProblem>,
    ) {
        for sub in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            problems.extend(self.node(sub, instance, path, depth + 1));
        }
        for key in ["anyOf", "oneOf"] {
            let Some(branches) = schema.get(key).and_then(Value::as_array) else {
                continue;
            };
            let mut best: Option<Vec<SchemaProblem>> = None;
            for branch in branches {
                let found = self.node(branch, instance, path, depth + 1);
                if found.is_empty() {
                    best = None;
                    break;
                }
                if best.as_ref().is_none_or(|b| found.len() < b.len()) {
                    best = Some(found);
                }
            }
            problems.extend(best.unwrap_or_default());
        }
        if let Some(condition) = schema.get("if") {
            let holds = self.discriminate(condition, instance, path, depth);
            let branch = if holds { "then" } else { "else" };
            if let Some(sub) = schema.get(branch) {
                problems.extend(self.node(sub, instance, path, depth + 1));
            }
        }
        if let Some(sub) = schema.get("not") {
            if self.discriminate(sub, instance, path, depth) {
                problems.push(invalid(
                    path,
                    &format!("{} is not allowed here", describe(instance)),
                ));
            }
        }
    }

    /// Whether `instance` satisfies `schema` with `required` honoured.
    fn discriminate(&mut self, schema: &Value, instance: &Value, path: &str, depth: usize) -> bool {
        let outer = std::mem::replace(&mut self.discriminating, true);
        let holds = self.node(schema, instance, path, depth + 1).is_empty();
        self.discriminating = outer;
        holds
    }

    fn matches(&mut self, pattern: &str, text: &str) -> bool {
        let compiled = self
            .patterns
            .entry(pattern.to_string())
            .or_insert_with(|| Regex::new(pattern).ok());
        compiled.as_ref().is_none_or(|re| re.is_match(text))
    }
}

fn type_matches(expected: &Value, instance: &Value) -> bool {
    let one = |t: &str| match t {
        "object" => instance.is_object(),
        "array" => instance.is_array(),
        "string" => instance.is_string(),
        "boolean" => instance.is_boolean(),
        "null" => instance.is_null(),
        "number" => instance.is_number(),
        "integer" => {
            instance.as_i64().is_some()
                || instance.as_u64().is_some()
                || instance.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => true,
    };
    match expected {
        Value::String(t) => one(t),
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).any(one),
        _ => true,
    }
}

fn type_names(expected: &Value) -> String {
    match expected {
        Value::String(t) => article(t),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .map(article)
            .collect::<Vec<_>>()
            .join(" or "),
        other => other.to_string(),
    }
}

fn article(t: &str) -> String {
    match t {
        "integer" | "object" | "array" => format!("an {t}"),
        other => format!("a {other}"),
    }
}

fn describe(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(60).collect::<String>())
    } else {
        text
    }
}

fn invalid(path: &str, message: &str) -> SchemaProblem {
    SchemaProblem::Invalid {
        path: path.to_string(),
        message: message.to_string(),
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct NoRefs;
    impl Resolve for NoRefs {
        fn resolve(&self, _: &str) -> Option<&Value> {
            None
        }
    }

    fn check(schema: Value, instance: Value) -> Vec<SchemaProblem> {
        Checker::new(&NoRefs).check(&schema, &instance, "")
    }

    #[test]
    fn types_enums_and_bounds() {
        assert!(check(json!({"type": "integer"}), json!(3)).is_empty());
        assert!(!check(json!({"type": "integer"}), json!("3")).is_empty());
        assert!(!check(json!({"type": "integer"}), json!(3.5)).is_empty());
        assert!(check(json!({"type": ["string", "null"]}), json!(null)).is_empty());
        assert!(!check(json!({"enum": ["text", "json"]}), json!("xml")).is_empty());
        assert!(!check(json!({"minimum": 1, "maximum": 65535}), json!(70000)).is_empty());
        assert!(!check(
            json!({"pattern": "^[0-9]+(ns|us|ms|s|m|h)$"}),
            json!("5 minutes")
        )
        .is_empty());
        assert!(check(json!({"pattern": "^[0-9]+(ns|us|ms|s|m|h)$"}), json!("15m")).is_empty());
    }

    #[test]
    fn objects_report_unknown_keys_with_their_path() {
        let schema = json!({"type": "object", "additionalProperties": false, "properties": {"a": {"type": "object", "additionalProperties": false, "properties": {"b": {"type": "integer"}}}}});
        assert_eq!(
            check(schema.clone(), json!({"a": {"c": 1}})),
            vec![SchemaProblem::UnknownKey { path: "a.c".into() }]
        );
        assert_eq!(
            check(schema, json!({"a": {"b": "x"}})),
            vec![SchemaProblem::Invalid {
                path: "a.b".into(),
                message: "expected an integer, got \"x\"".into()
            }]
        );
    }

    #[test]
    fn one_of_passes_when_a_branch_passes_and_reports_the_closest_branch_otherwise() {
        let schema = json!({"oneOf": [{"properties": {"enabled": {"const": true}, "config": {"type": "object"}}}, {"properties": {"enabled": {"const": false}}}]});
        assert!(check(schema.clone(), json!({"enabled": true, "config": {}})).is_empty());
        assert!(check(schema.clone(), json!({"enabled": false})).is_empty());
        assert_eq!(
            check(schema, json!({"enabled": true, "config": 1})).len(),
            1
        );
    }

    #[test]
    fn if_then_else_and_not() {
        let schema = json!({"if": {"properties": {"k": {"const": "a"}}}, "then": {"properties": {"v": {"type": "integer"}}}, "else": {"properties": {"v": {"type": "string"}}}});
        assert!(check(schema.clone(), json!({"k": "a", "v": 1})).is_empty());
        assert!(!check(schema.clone(), json!({"k": "b", "v": 1})).is_empty());
        assert!(!check(json!({"not": {"pattern": ".*\\*.*\\*.*"}}), json!("a*b*c")).is_empty());
        // `required` discriminates inside `not` and `if`, and is lenient elsewhere.
        let apple = json!({"not": {"properties": {"t": {}}, "required": ["t"]}});
        assert!(check(apple.clone(), json!({"x": 1})).is_empty());
        assert!(!check(apple, json!({"t": 1})).is_empty());
        assert!(check(json!({"required": ["a"]}), json!({})).is_empty());
    }
}
