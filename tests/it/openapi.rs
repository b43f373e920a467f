//! Quartet's extension document (`spec/quartet/openapi.json`, docs/api.md): it is OpenAPI 3
//! with every `$ref` resolving, every API listener serves it at `/quartet/openapi.json` as
//! written, and every path it names answers (something other than 404) on each listener it
//! names.

use std::collections::BTreeSet;

use quartet::config::{Config, Role};
use quartet::Stack;
use serde_json::Value;

fn document() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("spec/quartet/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every `$ref` of `value`, as JSON pointers into the document.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

fn role(name: &str) -> Role {
    match name {
        "identity" => Role::Identity,
        "oauth2" => Role::Oauth2,
        "permission" => Role::Permission,
        "proxy" => Role::Proxy,
        other => panic!("x-quartet-listeners names an unknown role {other:?}"),
    }
}

#[test]
fn the_document_is_openapi_3_whose_refs_resolve() {
    let doc = document();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.0"),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{r}: not local"));
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        assert!(path.starts_with("/quartet/"), "{path}");
        for (method, op) in item.as_object().unwrap() {
            if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                let id = op["operationId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{path}"));
                assert!(ids.insert(id.to_string()), "operationId {id} twice");
                assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
            }
        }
    }
}

#[tokio::test]
async fn every_path_answers_on_the_listeners_the_document_names() {
    let doc = document();
    let stack = Stack::start(Config::ephemeral()).await.unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let listeners = item["x-quartet-listeners"].as_array().unwrap();
        assert!(!listeners.is_empty(), "{path}");
        for listener in listeners {
            let (role_name, name) = listener.as_str().unwrap().split_once('.').unwrap();
            let base = stack
                .url(role(role_name), name)
                .unwrap_or_else(|| panic!("{path}: no listener {listener}"));
            let status = http
                .get(format!("{base}{path}"))
                .send()
                .await
                .unwrap()
                .status();
            assert_ne!(status, 404, "{path} on {listener}");
        }
    }

    // The document itself, as written, on every API listener it names — and those are all
    // the API listeners (not the proxy's reverse proxy nor the metrics-only listeners).
    let served: BTreeSet<String> = doc["paths"]["/quartet/openapi.json"]["x-quartet-listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    let api_listeners: BTreeSet<String> = stack
        .listeners()
        .filter(|(_, name, _)| !matches!(*name, "proxy" | "metrics" | "prometheus"))
        .map(|(role, name, _)| format!("{}.{name}", role.name()))
        .collect();
    assert_eq!(served, api_listeners);
    for (role, name, base) in stack.listeners() {
        if !served.contains(&format!("{}.{name}", role.name())) {
            continue;
        }
        let answer = http
            .get(format!("{base}/quartet/openapi.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{} {name}", role.name());
        assert_eq!(
            answer.headers()["content-type"],
            "application/json",
            "{} {name}",
            role.name()
        );
        assert_eq!(answer.json::<Value>().await.unwrap(), doc);
    }
    stack.shutdown().await;
}
