//! Bounds on untrusted request bodies before the identity role walks them: form fields and
//! their dot-separated key segments, JSON nesting depth, JSON Patch operations and path depth,
//! and the size of a patched document. Every walk here is iterative, so no input can exhaust
//! the stack; an input over a bound is refused with a message naming the bound. No I/O.

use serde_json::{Map, Value};

/// Most fields a form body may hold.
pub const MAX_FORM_FIELDS: usize = 1000;
/// Most dot-separated segments in one form key (`traits.address.street` has three).
pub const MAX_KEY_SEGMENTS: usize = 32;
/// Deepest nesting of objects and arrays accepted in an identity's traits, metadata or a
/// self-service JSON body (serde_json alone stops at 128; stored documents are read back with
/// the same limit, so what is stored must stay well below it).
pub const MAX_JSON_DEPTH: usize = 64;
/// Most operations in one JSON Patch document.
pub const MAX_PATCH_OPERATIONS: usize = 100;
/// Most segments in a JSON Patch `path` or `from` pointer.
pub const MAX_PATCH_PATH_SEGMENTS: usize = 32;
/// Most values (objects, arrays and scalars) a patched identity document may hold (`copy`
/// doubles a subtree with each operation).
pub const MAX_DOCUMENT_VALUES: usize = 100_000;

/// An input over one of the bounds; its text says which and is shown to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("the form has more than {MAX_FORM_FIELDS} fields")]
    TooManyFields,
    #[error("the form field `{0}` has more than {MAX_KEY_SEGMENTS} dot-separated segments")]
    KeyTooDeep(String),
    #[error("the {0} is nested more than {MAX_JSON_DEPTH} levels deep")]
    TooDeep(&'static str),
    #[error("the JSON Patch has more than {MAX_PATCH_OPERATIONS} operations")]
    TooManyOperations,
    #[error("the JSON Patch pointer `{0}` has more than {MAX_PATCH_PATH_SEGMENTS} segments")]
    PointerTooDeep(String),
    #[error("the patched identity holds more than {MAX_DOCUMENT_VALUES} values")]
    DocumentTooLarge,
}

/// At most the first 64 characters of `key`, for messages.
fn shown(key: &str) -> String {
    let mut out: String = key.chars().take(64).collect();
    if out.len() < key.len() {
        out.push('…');
    }
    out
}

/// Decodes an `application/x-www-form-urlencoded` body into an object; keys with dots
/// (`traits.email`) become nested objects, a later field overwriting an earlier one as Kratos'
/// decoder does. Refuses more than [`MAX_FORM_FIELDS`] fields or a key of more than
/// [`MAX_KEY_SEGMENTS`] segments before building anything from it.
pub fn expand_form(body: &[u8]) -> Result<Map<String, Value>, LimitError> {
    let mut root = Map::new();
    for (count, (key, value)) in url::form_urlencoded::parse(body).enumerate() {
        if count >= MAX_FORM_FIELDS {
            return Err(LimitError::TooManyFields);
        }
        if key.split('.').nth(MAX_KEY_SEGMENTS).is_some() {
            return Err(LimitError::KeyTooDeep(shown(&key)));
        }
        let parts: Vec<&str> = key.split('.').collect();
        insert_dotted(&mut root, &parts, Value::String(value.into_owned()));
    }
    Ok(root)
}

/// Sets `value` at the path `parts` below `root`, replacing a non-object on the way by an
/// object. Iterative: the depth of `parts` costs no stack.
fn insert_dotted(root: &mut Map<String, Value>, parts: &[&str], value: Value) {
    let Some((last, parents)) = parts.split_last() else {
        return;
    };
    let mut node = root;
    for part in parents {
        let entry = node
            .entry((*part).to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        node = match entry {
            Value::Object(child) => child,
            _ => return,
        };
    }
    node.insert((*last).to_string(), value);
}

/// The nesting depth of `value` (a scalar is 0, `{}` and `[]` are 1), counting no further than
/// `cap + 1`. Iterative.
pub fn depth(value: &Value, cap: usize) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<(&Value, usize)> = vec![(value, 0)];
    while let Some((node, level)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match node {
            Value::Object(m) => Box::new(m.values()),
            Value::Array(a) => Box::new(a.iter()),
            _ => continue,
        };
        let here = level + 1;
        deepest = deepest.max(here);
        if here > cap {
            return deepest;
        }
        stack.extend(children.map(|c| (c, here)));
    }
    deepest
}

/// Refuses `value` (named `what` in the message, e.g. "JSON body") when it is nested more than
/// [`MAX_JSON_DEPTH`] levels.
pub fn check_depth(value: &Value, what: &'static str) -> Result<(), LimitError> {
    if depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH {
        return Err(LimitError::TooDeep(what));
    }
    Ok(())
}

/// The number of values in `value` (itself included), counting no further than `cap + 1`.
pub fn values(value: &Value, cap: usize) -> usize {
    let mut count = 0;
    let mut stack = vec![value];
    while let Some(node) = stack.pop() {
        count += 1;
        if count > cap {
            return count;
        }
        match node {
            Value::Object(m) => stack.extend(m.values()),
            Value::Array(a) => stack.extend(a.iter()),
            _ => {}
        }
    }
    count
}

/// Refuses a patched document of more than [`MAX_DOCUMENT_VALUES`] values.
pub fn check_document_size(value: &Value) -> Result<(), LimitError> {
    if values(value, MAX_DOCUMENT_VALUES) > MAX_DOCUMENT_VALUES {
        return Err(LimitError::DocumentTooLarge);
    }
    Ok(())
}

/// Refuses a JSON Patch of more than [`MAX_PATCH_OPERATIONS`] operations, or whose `path` or
/// `from` has more than [`MAX_PATCH_PATH_SEGMENTS`] segments. Looks at the raw document, before
/// it is decoded into operations.
pub fn check_patch(body: &Value) -> Result<(), LimitError> {
    let Some(ops) = body.as_array() else {
        return Ok(());
    };
    if ops.len() > MAX_PATCH_OPERATIONS {
        return Err(LimitError::TooManyOperations);
    }
    for op in ops {
        for key in ["path", "from"] {
            if let Some(pointer) = op.get(key).and_then(Value::as_str) {
                if pointer
                    .split('/')
                    .nth(MAX_PATCH_PATH_SEGMENTS + 1)
                    .is_some()
                {
                    return Err(LimitError::PointerTooDeep(shown(pointer)));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nested(levels: usize) -> Value {
        let mut v = json!(1);
        for _ in 0..levels {
            v = json!({ "a": v });
        }
        v
    }

    #[test]
    fn dotted_keys_nest_and_later_fields_win() {
        let m = expand_form(b"traits.email=a%40b.c&traits.name.first=A&method=password&x=1&x.y=2")
            .unwrap();
        assert_eq!(
            Value::Object(m),
            json!({"traits": {"email": "a@b.c", "name": {"first": "A"}},
                   "method": "password", "x": {"y": "2"}})
        );
        assert_eq!(expand_form(b"").unwrap(), Map::new());
    }

    #[test]
    fn a_key_of_32_segments_is_taken_33_is_refused() {
        let ok = vec!["a"; MAX_KEY_SEGMENTS].join(".") + "=1";
        let m = expand_form(ok.as_bytes()).unwrap();
        assert_eq!(depth(&Value::Object(m), 100), MAX_KEY_SEGMENTS);
        let deep = vec!["a"; MAX_KEY_SEGMENTS + 1].join(".") + "=1";
        let e = expand_form(deep.as_bytes()).unwrap_err();
        assert!(matches!(e, LimitError::KeyTooDeep(_)), "{e}");
        assert!(e.to_string().contains("more than 32"), "{e}");
        // the attack of the report: 50,000 segments, refused without building anything
        let attack = "a.".repeat(50_000) + "b=1";
        assert!(matches!(
            expand_form(attack.as_bytes()),
            Err(LimitError::KeyTooDeep(_))
        ));
    }

    #[test]
    fn a_form_of_1000_fields_is_taken_1001_is_refused() {
        let fields = |n: usize| {
            (0..n)
                .map(|i| format!("f{i}=v"))
                .collect::<Vec<_>>()
                .join("&")
        };
        assert_eq!(expand_form(fields(1000).as_bytes()).unwrap().len(), 1000);
        let e = expand_form(fields(1001).as_bytes()).unwrap_err();
        assert_eq!(e.to_string(), "the form has more than 1000 fields");
    }

    #[test]
    fn depth_is_measured_without_recursion_and_capped() {
        assert_eq!(depth(&json!(1), 10), 0);
        assert_eq!(depth(&json!([]), 10), 1);
        assert_eq!(depth(&json!({"a": [1, {"b": []}]}), 10), 4);
        assert!(check_depth(&nested(MAX_JSON_DEPTH), "traits").is_ok());
        let e = check_depth(&nested(MAX_JSON_DEPTH + 1), "traits").unwrap_err();
        assert_eq!(
            e.to_string(),
            "the traits is nested more than 64 levels deep"
        );
        // far deeper than any stack could recurse
        let mut deep = Value::Null;
        for _ in 0..200_000 {
            deep = Value::Array(vec![deep]);
        }
        assert_eq!(depth(&deep, MAX_JSON_DEPTH), MAX_JSON_DEPTH + 1);
        // dropping it recursively would overflow the stack; take it apart iteratively
        let mut next = Some(deep);
        while let Some(Value::Array(mut items)) = next {
            next = items.pop();
        }
    }

    #[test]
    fn patches_are_bounded_in_operations_pointer_depth_and_result_size() {
        let op = json!({"op": "replace", "path": "/traits/email", "value": "x"});
        assert!(check_patch(&Value::Array(vec![op.clone(); MAX_PATCH_OPERATIONS])).is_ok());
        assert_eq!(
            check_patch(&Value::Array(vec![op; MAX_PATCH_OPERATIONS + 1])),
            Err(LimitError::TooManyOperations)
        );
        let ok_path = "/a".repeat(MAX_PATCH_PATH_SEGMENTS);
        assert!(check_patch(&json!([{"op": "remove", "path": ok_path}])).is_ok());
        let deep_path = "/a".repeat(MAX_PATCH_PATH_SEGMENTS + 1);
        assert!(matches!(
            check_patch(&json!([{"op": "copy", "from": deep_path, "path": "/b"}])),
            Err(LimitError::PointerTooDeep(_))
        ));
        assert_eq!(values(&json!({"a": [1, 2], "b": null}), 100), 5);
        let big = Value::Array(vec![json!(0); MAX_DOCUMENT_VALUES]);
        assert_eq!(check_document_size(&big), Err(LimitError::DocumentTooLarge));
    }

    /// The fuzz target's seeds (`fuzz/seeds/identity_form`) and their prefixes expand or are
    /// refused, never panic, and what they expand to is within the bounds.
    #[test]
    fn the_fuzz_seeds_expand_within_the_bounds() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/identity_form");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            for end in (0..=bytes.len()).step_by(5) {
                if let Ok(m) = expand_form(&bytes[..end]) {
                    assert!(m.len() <= MAX_FORM_FIELDS);
                    assert!(depth(&Value::Object(m), 100) <= MAX_KEY_SEGMENTS);
                }
            }
            seen += 1;
        }
        assert!(seen >= 3, "corpus too small");
    }
}
