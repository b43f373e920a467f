//! The UI nodes of the self-service flows, pure: the builders (input, submit, the hidden
//! anti-CSRF input), the nodes each method contributes to each kind of flow, and the trait
//! inputs an identity schema calls for. A new method adds its nodes in [`method_nodes`].

use serde_json::{json, Value};

use super::super::flow::{FlowKind, Method};
use super::super::schema::IdentitySchema;
use super::super::text::UiText;
use crate::config::identity::Methods;

/// The nodes of a new flow of `kind`: the anti-CSRF input (`masked_csrf`), then the nodes of
/// each method the kind offers and the config enables, in [`FlowKind::methods`] order.
/// `schema` is the identity's (or the default) schema, `traits` the identity's traits.
pub fn for_flow(
    kind: FlowKind,
    masked_csrf: &str,
    methods: &Methods,
    schema: Option<&IdentitySchema>,
    traits: Option<&Value>,
) -> Vec<Value> {
    let mut nodes = vec![csrf_node(masked_csrf)];
    for method in kind.methods() {
        if method.enabled(methods) {
            nodes.extend(method_nodes(kind, *method, schema, traits));
        }
    }
    nodes
}

/// What `method` contributes to a flow of `kind`.
pub fn method_nodes(
    kind: FlowKind,
    method: Method,
    schema: Option<&IdentitySchema>,
    traits: Option<&Value>,
) -> Vec<Value> {
    match (kind, method) {
        (FlowKind::Login, Method::Password) => {
            let label = schema
                .and_then(|sc| sc.identifier_label())
                .unwrap_or_else(|| "ID".into());
            login_password_nodes(&label)
        }
        (FlowKind::Registration, Method::Password) => match schema {
            Some(sc) => {
                let mut nodes = trait_nodes("password", sc.traits_schema(), None);
                nodes.push(new_password());
                nodes.push(submit(
                    "password",
                    "method",
                    "password",
                    UiText::label(1040001, "Sign up"),
                ));
                nodes
            }
            None => Vec::new(),
        },
        (FlowKind::Settings, Method::Profile) => match schema {
            Some(sc) => {
                let mut nodes = trait_nodes("profile", sc.traits_schema(), traits);
                nodes.push(submit(
                    "profile",
                    "method",
                    "profile",
                    UiText::label(1070003, "Save"),
                ));
                nodes
            }
            None => Vec::new(),
        },
        (FlowKind::Settings, Method::Password) => vec![
            new_password(),
            submit(
                "password",
                "method",
                "password",
                UiText::label(1070003, "Save"),
            ),
        ],
        (FlowKind::Login | FlowKind::Registration, Method::Profile) => Vec::new(),
    }
}

/// The input of a new password.
fn new_password() -> Value {
    input(
        "password",
        "password",
        "password",
        None,
        true,
        Some("new-password"),
        Some(UiText::label(1070001, "Password")),
    )
}

/// An input node.
pub fn input(
    group: &str,
    name: &str,
    kind: &str,
    value: Option<Value>,
    required: bool,
    autocomplete: Option<&str>,
    label: Option<UiText>,
) -> Value {
    let mut attrs = json!({"name": name, "type": kind, "disabled": false, "node_type": "input"});
    if let Some(map) = attrs.as_object_mut() {
        if let Some(v) = value {
            map.insert("value".into(), v);
        }
        if required {
            map.insert("required".into(), json!(true));
        }
        if let Some(a) = autocomplete {
            map.insert("autocomplete".into(), json!(a));
        }
    }
    let meta = match label {
        Some(l) => json!({"label": l}),
        None => json!({}),
    };
    json!({"type": "input", "group": group, "attributes": attrs, "messages": [], "meta": meta})
}

pub fn csrf_node(token: &str) -> Value {
    input(
        "default",
        "csrf_token",
        "hidden",
        Some(json!(token)),
        true,
        None,
        None,
    )
}

pub fn submit(group: &str, name: &str, value: &str, label: UiText) -> Value {
    input(
        group,
        name,
        "submit",
        Some(json!(value)),
        false,
        None,
        Some(label),
    )
}

/// Login with password: identifier, password, submit.
pub fn login_password_nodes(identifier_label: &str) -> Vec<Value> {
    vec![
        input(
            "default",
            "identifier",
            "text",
            Some(json!("")),
            true,
            None,
            Some(UiText::label(1070004, identifier_label)),
        ),
        input(
            "password",
            "password",
            "password",
            None,
            true,
            Some("current-password"),
            Some(UiText::label(1070001, "Password")),
        ),
        submit(
            "password",
            "method",
            "password",
            UiText::label(1010001, "Sign in"),
        ),
    ]
}

/// One input per trait of the schema (`traits.<path>`), typed after the JSON schema.
pub fn trait_nodes(group: &str, traits_schema: &Value, values: Option<&Value>) -> Vec<Value> {
    let mut out = Vec::new();
    let required: Vec<String> = traits_schema
        .get("required")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    walk_traits(
        group,
        traits_schema,
        "traits",
        &required,
        values,
        &mut out,
        0,
    );
    out
}

fn walk_traits(
    group: &str,
    schema: &Value,
    prefix: &str,
    required: &[String],
    values: Option<&Value>,
    out: &mut Vec<Value>,
    depth: usize,
) {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    if depth > 8 {
        return;
    }
    for (key, prop) in props {
        let name = format!("{prefix}.{key}");
        let value = values.and_then(|v| v.get(key));
        let ty = prop.get("type").and_then(Value::as_str).unwrap_or("string");
        if ty == "object" {
            let req: Vec<String> = prop
                .get("required")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            walk_traits(group, prop, &name, &req, value, out, depth + 1);
            continue;
        }
        let format = prop.get("format").and_then(Value::as_str);
        let (kind, autocomplete) = match (ty, format) {
            ("number" | "integer", _) => ("number", None),
            ("boolean", _) => ("checkbox", None),
            (_, Some("email")) => ("email", Some("email")),
            (_, Some("tel")) => ("tel", Some("tel")),
            (_, Some("date")) => ("date", None),
            (_, Some("date-time")) => ("datetime-local", None),
            (_, Some("uri")) => ("url", Some("url")),
            _ => ("text", None),
        };
        let label = prop
            .get("title")
            .and_then(Value::as_str)
            .map(|t| UiText::label(1070002, t));
        let mut node = input(
            group,
            &name,
            kind,
            value.cloned(),
            required.iter().any(|r| r == key),
            autocomplete,
            label,
        );
        if let Some(p) = prop.get("pattern") {
            if let Some(attrs) = node.get_mut("attributes").and_then(Value::as_object_mut) {
                attrs.insert("pattern".into(), p.clone());
            }
        }
        out.push(node);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn trait_nodes_follow_the_schema() {
        let schema = json!({"type": "object", "properties": {
            "email": {"type": "string", "format": "email", "title": "E-Mail"},
            "name": {"type": "object", "properties": {"first": {"type": "string"}}},
            "age": {"type": "integer"}}, "required": ["email"]});
        let nodes = trait_nodes("password", &schema, None);
        let names: Vec<_> = nodes
            .iter()
            .map(|n| n["attributes"]["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            names,
            vec!["traits.email", "traits.name.first", "traits.age"]
        );
        assert_eq!(nodes[0]["attributes"]["type"], "email");
        assert_eq!(nodes[0]["attributes"]["required"], true);
        assert_eq!(nodes[0]["attributes"]["autocomplete"], "email");
        assert_eq!(nodes[0]["meta"]["label"]["text"], "E-Mail");
        assert_eq!(nodes[2]["attributes"]["type"], "number");
        assert_eq!(nodes[1]["messages"], json!([]));
    }

    fn schema() -> IdentitySchema {
        IdentitySchema::compile(
            "default",
            json!({"type": "object", "properties": {"traits": {"type": "object",
                "properties": {"email": {"type": "string", "format": "email", "title": "E-Mail",
                    "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}}},
                "required": ["email"]}}}),
        )
        .unwrap()
    }

    /// `group/name` of each node.
    fn shape(nodes: &[Value]) -> Vec<String> {
        nodes
            .iter()
            .map(|n| {
                format!(
                    "{}/{}",
                    n["group"].as_str().unwrap(),
                    n["attributes"]["name"].as_str().unwrap()
                )
            })
            .collect()
    }

    #[test]
    fn every_kind_gets_the_csrf_input_then_its_methods_nodes() {
        let methods = Methods::default();
        let sc = schema();
        let login = for_flow(FlowKind::Login, "masked", &methods, Some(&sc), None);
        assert_eq!(
            shape(&login),
            [
                "default/csrf_token",
                "default/identifier",
                "password/password",
                "password/method"
            ]
        );
        assert_eq!(login[0]["attributes"]["value"], "masked");
        assert_eq!(login[0]["attributes"]["type"], "hidden");
        assert_eq!(
            login[1]["meta"]["label"]["text"], "E-Mail",
            "the identifier's title"
        );
        assert_eq!(login[3]["meta"]["label"]["text"], "Sign in");
        let registration = for_flow(FlowKind::Registration, "m", &methods, Some(&sc), None);
        assert_eq!(
            shape(&registration),
            [
                "default/csrf_token",
                "password/traits.email",
                "password/password",
                "password/method"
            ]
        );
        assert_eq!(
            registration[2]["attributes"]["autocomplete"],
            "new-password"
        );
        assert_eq!(registration[3]["meta"]["label"]["id"], 1040001);
        let traits = json!({"email": "ann@example.com"});
        let settings = for_flow(FlowKind::Settings, "m", &methods, Some(&sc), Some(&traits));
        assert_eq!(
            shape(&settings),
            [
                "default/csrf_token",
                "profile/traits.email",
                "profile/method",
                "password/password",
                "password/method"
            ]
        );
        assert_eq!(settings[1]["attributes"]["value"], "ann@example.com");
    }

    #[test]
    fn disabled_methods_and_a_missing_schema_leave_their_nodes_out() {
        let mut methods = Methods::default();
        methods.password.enabled = false;
        let sc = schema();
        let login = for_flow(FlowKind::Login, "m", &methods, Some(&sc), None);
        assert_eq!(shape(&login), ["default/csrf_token"]);
        let settings = for_flow(FlowKind::Settings, "m", &methods, Some(&sc), None);
        assert_eq!(
            shape(&settings),
            [
                "default/csrf_token",
                "profile/traits.email",
                "profile/method"
            ]
        );
        let methods = Methods::default();
        let login = for_flow(FlowKind::Login, "m", &methods, None, None);
        assert_eq!(
            login[1]["meta"]["label"]["text"], "ID",
            "no schema, no title"
        );
        let registration = for_flow(FlowKind::Registration, "m", &methods, None, None);
        assert_eq!(shape(&registration), ["default/csrf_token"]);
        let settings = for_flow(FlowKind::Settings, "m", &methods, None, None);
        assert_eq!(
            shape(&settings),
            ["default/csrf_token", "password/password", "password/method"]
        );
    }
}
