//! Template values and Go's semantics for them: [`Val`] (nil, JSON, or a caller's
//! [`Object`]), truth as `if` sees it, `%v` formatting, numbers as sprig converts them, and
//! field access (`.name`, a method call `.Get "X"` on an object).

use serde_json::{Number, Value};

use super::{err, TemplateError, R};

/// A value with Go fields and methods that templates can reach (the proxy's session, header
/// map and URL). Implemented by a caller's enum; [`NoObject`] when the data is plain JSON.
pub trait Object: Clone + Sized {
    /// Go's name of its type, for error messages (`*url.URL`).
    fn type_name(&self) -> &'static str;
    /// Whether `if`, `with`, `and`, `or`, `not` and `default` take it as true.
    fn truthy(&self) -> bool;
    /// Its JSON, as `toJson`, `eq` and the `%v` of Go maps see it.
    fn to_json(&self) -> Value;
    /// Go's `%v` of it.
    fn go_string(&self) -> String {
        go_json_string(&self.to_json())
    }
    /// `.name`, or with `args` the method call `.name arg…`.
    fn field(&self, name: &str, args: &[Val<Self>]) -> Result<Val<Self>, TemplateError>;
    /// The chain `.a.b…` at once, where the object walks it cheaper than field by field (with
    /// the same answers and errors); `None`: field by field.
    fn field_path(&self, _path: &[String]) -> Option<Result<Val<Self>, TemplateError>> {
        None
    }
    /// What `len` says of it; `None`: `len` is an error.
    fn length(&self) -> Option<usize> {
        None
    }
    /// `index obj key`; `None`: it cannot be indexed.
    fn index(&self, _key: &Val<Self>) -> Option<Result<Val<Self>, TemplateError>> {
        None
    }
}

/// The object type of plain JSON data: it has no values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoObject {}

impl Object for NoObject {
    fn type_name(&self) -> &'static str {
        match *self {}
    }
    fn truthy(&self) -> bool {
        match *self {}
    }
    fn to_json(&self) -> Value {
        match *self {}
    }
    fn field(&self, _: &str, _: &[Val<Self>]) -> R<Val<Self>> {
        match *self {}
    }
}

/// A template value.
#[derive(Debug, Clone)]
pub enum Val<O> {
    /// Go's untyped nil: a missing key, JSON `null`.
    Nil,
    Json(Value),
    Object(O),
}

impl<O: Object> Val<O> {
    /// A JSON value (`null` is [`Val::Nil`]).
    pub fn from_json(v: Value) -> Self {
        if v.is_null() {
            Val::Nil
        } else {
            Val::Json(v)
        }
    }

    pub fn str(s: impl Into<String>) -> Self {
        Val::Json(Value::String(s.into()))
    }

    pub(super) fn int(i: i64) -> Self {
        Val::Json(Value::Number(Number::from(i)))
    }

    pub(super) fn float(f: f64) -> Self {
        Val::Json(
            Number::from_f64(f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
        )
    }

    pub(super) fn bool(x: bool) -> Self {
        Val::Json(Value::Bool(x))
    }

    /// Go's name of its type (JSON decoded the Go way: objects are maps, numbers float64).
    pub fn type_name(&self) -> &'static str {
        match self {
            Val::Nil => "interface {}",
            Val::Json(Value::Object(_)) => "map[string]interface {}",
            Val::Json(Value::Array(_)) => "[]interface {}",
            Val::Json(Value::String(_)) => "string",
            Val::Json(Value::Number(_)) => "float64",
            Val::Json(_) => "bool",
            Val::Object(o) => o.type_name(),
        }
    }

    /// Go's truth: not nil, not false, not zero, not empty.
    pub fn truthy(&self) -> bool {
        match self {
            Val::Nil => false,
            Val::Json(v) => match v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                Value::Object(o) => !o.is_empty(),
            },
            Val::Object(o) => o.truthy(),
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Val::Nil => Value::Null,
            Val::Json(v) => v.clone(),
            Val::Object(o) => o.to_json(),
        }
    }

    /// Go's `%v`.
    pub fn go_string(&self) -> String {
        match self {
            Val::Nil => "<nil>".into(),
            Val::Json(v) => go_json_string(v),
            Val::Object(o) => o.go_string(),
        }
    }

    /// As a string argument of a function: nil is "", a string itself, anything else `%v`.
    pub fn text(&self) -> String {
        match self {
            Val::Nil => String::new(),
            Val::Json(Value::String(s)) => s.clone(),
            other => other.go_string(),
        }
    }

    pub(super) fn as_f64(&self) -> Option<f64> {
        match self {
            Val::Json(Value::Number(n)) => n.as_f64(),
            Val::Json(Value::String(s)) => s.trim().parse().ok(),
            Val::Json(Value::Bool(b)) => Some(f64::from(u8::from(*b))),
            _ => None,
        }
    }

    /// sprig's toInt64: numbers truncated, numeric strings parsed, anything else 0.
    pub(super) fn to_i64(&self) -> i64 {
        self.as_f64().map(|f| f as i64).unwrap_or(0)
    }

    /// The items of a JSON array; nothing for anything else.
    pub(super) fn list(&self) -> Vec<Val<O>> {
        match self {
            Val::Json(Value::Array(a)) => a.iter().cloned().map(Val::from_json).collect(),
            _ => Vec::new(),
        }
    }

    /// `.name` (with `args`, a method call) on this value.
    pub fn field(&self, name: &str, args: &[Val<O>]) -> R<Val<O>> {
        match self {
            Val::Nil => err(format!("nil pointer evaluating interface {{}}.{name}")),
            Val::Object(o) => o.field(name, args),
            Val::Json(Value::Object(m)) => {
                no_args(name, args)?;
                Ok(m.get(name).cloned().map(Val::from_json).unwrap_or(Val::Nil))
            }
            Val::Json(_) => err(format!(
                "can't evaluate field {name} in type {}",
                self.type_name()
            )),
        }
    }

    /// The fields `path` applied in turn, as [`Val::field`] does (an object may walk the chain
    /// at once: [`Object::field_path`]).
    pub fn field_path(&self, path: &[String]) -> R<Val<O>> {
        if let Val::Object(o) = self {
            if let Some(found) = o.field_path(path) {
                return found;
            }
        }
        path.iter().try_fold(self.clone(), |v, f| v.field(f, &[]))
    }
}

/// Refuses arguments given to a field that is not a method.
pub fn no_args<O>(name: &str, args: &[Val<O>]) -> R<()> {
    if args.is_empty() {
        Ok(())
    } else {
        err(format!("{name} is not a method but has arguments"))
    }
}

/// The one string argument of `method`.
pub fn string_arg<O>(args: &[Val<O>], method: &str) -> R<String> {
    match args {
        [Val::Json(Value::String(s))] => Ok(s.clone()),
        _ => err(format!("wrong arguments for {method}: want one string")),
    }
}

/// Go's encoding/json sorts map keys.
pub(super) fn sorted(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
        other => other,
    }
}

fn go_number(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
        Some(f) if f.abs() >= 1e21 => format!("{f:e}").replace('e', "e+"),
        Some(f) => f.to_string(),
        None => n.to_string(),
    }
}

/// Go's `%v` of a JSON value decoded the Go way (`map[a:1 b:[x y]]`).
pub fn go_json_string(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(go_json_string).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", go_json_string(&o[k])))
                .collect();
            format!("map[{}]", inner.join(" "))
        }
    }
}
