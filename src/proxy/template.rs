//! What Oathkeeper's templates see: the session ([`TemplateData`], Oathkeeper's
//! `AuthenticationSession`: `.Subject`, `.Extra`, `.Header`, `.MatchContext` with `.URL`,
//! `.Method`, `.Header.Get "X"`, `.RegexpCaptureGroups`), exposed to the kernel's Go template
//! engine ([`crate::template`]) as the object [`Session`], and [`Template`], a template
//! executed on a session. Templates are parsed when rules load and executed per request by
//! the mutators and authorizers.
//!
//! Go semantics kept on purpose: `{{ .Extra.missing }}` renders `<no value>`, `print` of a
//! missing key renders "", and a field of a missing key (`.Extra.identity.traits` when
//! `identity` is absent) is an execution error, which Oathkeeper answers with 500.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::HeaderMap;
use serde_json::{Map, Value};

use crate::template::{no_args, string_arg, Object, Val};
pub use crate::template::{TemplateError, MAX_NESTING, MAX_OUTPUT, MAX_STEPS};

/// The URL of the original request as templates see it (Go `*url.URL` fields).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlData {
    pub scheme: String,
    pub host: String,
    pub path: String,
    pub raw_query: String,
}

impl UrlData {
    pub fn to_url_string(&self) -> String {
        let mut s = format!("{}://{}{}", self.scheme, self.host, self.path);
        if !self.raw_query.is_empty() {
            s.push('?');
            s.push_str(&self.raw_query);
        }
        s
    }

    /// Go's JSON encoding of `url.URL` (field names as in Go), as the hydrator sends it.
    pub fn to_go_json(&self) -> Value {
        serde_json::json!({
            "Scheme": self.scheme, "Opaque": "", "User": null, "Host": self.host,
            "Path": self.path, "RawPath": "", "OmitHost": false, "ForceQuery": false,
            "RawQuery": self.raw_query, "Fragment": "", "RawFragment": ""
        })
    }
}

/// The template root: Oathkeeper's `AuthenticationSession`.
#[derive(Debug, Clone, Default)]
pub struct TemplateData {
    pub subject: String,
    /// Shared: a cached session's extra is read by every request it answers, never copied.
    pub extra: Option<Arc<Map<String, Value>>>,
    pub header: HeaderMap,
    /// Set by the noop mutator: the request's headers pass on beneath `header`. (Oathkeeper
    /// copies them into the session; sharing them saves that copy on every request.)
    pub header_over_request: bool,
    pub captures: Vec<String>,
    pub url: UrlData,
    pub method: String,
    pub request_header: Arc<HeaderMap>,
}

impl TemplateData {
    /// The headers the mutators produced, as Oathkeeper's session holds them: after a noop
    /// mutator, the request's headers overlaid by those the pipeline set.
    pub fn mutated_header(&self) -> std::borrow::Cow<'_, HeaderMap> {
        if !self.header_over_request {
            return std::borrow::Cow::Borrowed(&self.header);
        }
        let mut merged = (*self.request_header).clone();
        for (k, v) in &self.header {
            merged.insert(k.clone(), v.clone());
        }
        std::borrow::Cow::Owned(merged)
    }
}

/// Runs `f` with the session shared as templates take it (an `Arc`) without copying it: the
/// session moves in and is taken back once `f`'s values are gone.
pub fn with_shared<T>(session: &mut TemplateData, f: impl FnOnce(&Arc<TemplateData>) -> T) -> T {
    let shared = Arc::new(std::mem::take(session));
    let out = f(&shared);
    *session = Arc::try_unwrap(shared).unwrap_or_else(|still_shared| (*still_shared).clone());
    out
}

/// A template of a rule's handler config, executed on a session.
#[derive(Debug, Clone)]
pub struct Template(crate::template::Template);

impl Template {
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        crate::template::Template::parse(text).map(Template)
    }

    pub fn execute(&self, data: &TemplateData) -> Result<String, TemplateError> {
        self.0
            .execute(&Val::Object(Session::Root(Arc::new(data.clone()))))
    }

    /// Executes against an already shared root (avoids cloning per template).
    pub fn execute_shared(&self, data: &Arc<TemplateData>) -> Result<String, TemplateError> {
        self.0.execute(&Val::Object(Session::Root(data.clone())))
    }
}

/// The templates of a handler config's map (`headers`, `cookies`), parsed; `at` names the map
/// in errors.
pub fn templates(map: Option<&Value>, at: &str) -> Result<Vec<(String, Template)>, String> {
    let mut out = Vec::new();
    if let Some(Value::Object(m)) = map {
        for (k, v) in m {
            let text = v.as_str().unwrap_or_default();
            let t = Template::parse(text).map_err(|e| format!("config.{at}.{k}: template: {e}"))?;
            out.push((k.clone(), t));
        }
    }
    Ok(out)
}

/// The Go values of a session templates reach (the session itself and the values with fields
/// and methods under it).
#[derive(Debug, Clone)]
pub enum Session {
    Root(Arc<TemplateData>),
    MatchContext(Arc<TemplateData>),
    Header(HeaderMap),
    Url(UrlData),
    Query(Vec<(String, String)>),
}

type R<T> = Result<T, TemplateError>;

fn no_field<T>(name: &str, type_name: &str) -> R<T> {
    Err(TemplateError(format!(
        "can't evaluate field {name} in type {type_name}"
    )))
}

impl Object for Session {
    fn type_name(&self) -> &'static str {
        match self {
            Session::Root(_) => "*authn.AuthenticationSession",
            Session::MatchContext(_) => "authn.MatchContext",
            Session::Header(_) => "http.Header",
            Session::Url(_) => "*url.URL",
            Session::Query(_) => "url.Values",
        }
    }

    fn truthy(&self) -> bool {
        match self {
            Session::Header(h) => !h.is_empty(),
            Session::Query(q) => !q.is_empty(),
            Session::Root(_) | Session::MatchContext(_) | Session::Url(_) => true,
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Session::Root(d) => serde_json::json!({
                "subject": d.subject, "extra": d.extra.as_deref(), "header": header_json(&d.mutated_header()),
                "match_context": mc_json(d),
            }),
            Session::MatchContext(d) => mc_json(d),
            Session::Header(h) => header_json(h),
            Session::Url(u) => u.to_go_json(),
            Session::Query(q) => {
                let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for (k, v) in q {
                    m.entry(k.clone()).or_default().push(v.clone());
                }
                serde_json::to_value(m).unwrap_or_default()
            }
        }
    }

    fn go_string(&self) -> String {
        match self {
            Session::Url(u) => u.to_url_string(),
            other => crate::template::go_json_string(&other.to_json()),
        }
    }

    fn field(&self, name: &str, args: &[Val<Self>]) -> R<Val<Self>> {
        match self {
            Session::Root(d) => {
                no_args(name, args)?;
                match name {
                    "Subject" => Ok(Val::str(d.subject.clone())),
                    // a typed nil map in Go: lookups on it yield nil, no error
                    "Extra" => Ok(Val::Json(Value::Object(
                        d.extra.as_deref().cloned().unwrap_or_default(),
                    ))),
                    "Header" => Ok(Val::Object(Session::Header(
                        d.mutated_header().into_owned(),
                    ))),
                    "MatchContext" => Ok(Val::Object(Session::MatchContext(d.clone()))),
                    _ => no_field(name, self.type_name()),
                }
            }
            Session::MatchContext(d) => {
                no_args(name, args)?;
                match name {
                    "RegexpCaptureGroups" => Ok(Val::Json(Value::Array(
                        d.captures.iter().cloned().map(Value::String).collect(),
                    ))),
                    "URL" => Ok(Val::Object(Session::Url(d.url.clone()))),
                    "Method" => Ok(Val::str(d.method.clone())),
                    "Header" => Ok(Val::Object(Session::Header((*d.request_header).clone()))),
                    _ => no_field(name, self.type_name()),
                }
            }
            Session::Header(h) => header_field(h, name, args),
            Session::Url(u) => url_field(u, name, args),
            Session::Query(q) => query_field(q, name, args),
        }
    }

    /// `.Extra.a.b…` walks the session's JSON borrowed and copies only the node it ends on — a
    /// template reading one claim does not copy the whole session on every request.
    fn field_path(&self, path: &[String]) -> Option<R<Val<Self>>> {
        match (self, path.split_first()) {
            (Session::Root(d), Some((first, rest))) if first == "Extra" && !rest.is_empty() => {
                Some(extra_path(d.extra.as_deref(), rest))
            }
            _ => None,
        }
    }

    fn length(&self) -> Option<usize> {
        match self {
            Session::Header(h) => Some(h.keys_len()),
            _ => None,
        }
    }

    fn index(&self, key: &Val<Self>) -> Option<R<Val<Self>>> {
        match self {
            Session::Header(h) => Some(header_field(h, &key.text(), &[])),
            _ => None,
        }
    }
}

/// `.Extra` followed by `path` (not empty), with [`Val::field`]'s answers and errors.
fn extra_path(extra: Option<&Map<String, Value>>, path: &[String]) -> R<Val<Session>> {
    let from_nil = |rest: &[String]| rest.iter().try_fold(Val::Nil, |v, f| v.field(f, &[]));
    let Some((first, rest)) = path.split_first() else {
        return Ok(Val::Json(Value::Object(extra.cloned().unwrap_or_default())));
    };
    let mut node = match extra.and_then(|m| m.get(first)) {
        Some(v) if !v.is_null() => v,
        _ => return from_nil(rest),
    };
    for (i, name) in rest.iter().enumerate() {
        node = match node {
            Value::Object(m) => match m.get(name) {
                Some(v) if !v.is_null() => v,
                _ => return from_nil(&rest[i + 1..]),
            },
            // not an object: the step-by-step evaluation gives the error
            other => {
                return rest[i..]
                    .iter()
                    .try_fold(Val::from_json(other.clone()), |v, f| v.field(f, &[]))
            }
        };
    }
    Ok(Val::from_json(node.clone()))
}

/// Go's `http.Header`: `.Get`, `.Values`, and a canonical name as a field (its values).
fn header_field(h: &HeaderMap, name: &str, args: &[Val<Session>]) -> R<Val<Session>> {
    let text = |v: &axum::http::HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned();
    match name {
        "Get" => {
            let key = string_arg(args, "Header.Get")?;
            Ok(Val::str(h.get(key.as_str()).map(text).unwrap_or_default()))
        }
        "Values" => {
            let key = string_arg(args, "Header.Values")?;
            Ok(Val::Json(Value::Array(
                h.get_all(key.as_str())
                    .iter()
                    .map(|v| Value::String(text(v)))
                    .collect(),
            )))
        }
        _ => {
            no_args(name, args)?;
            let values: Vec<Value> = h
                .get_all(name)
                .iter()
                .map(|v| Value::String(text(v)))
                .collect();
            Ok(if values.is_empty() {
                Val::Nil
            } else {
                Val::Json(Value::Array(values))
            })
        }
    }
}

/// Go's `*url.URL`: its fields and the methods templates use.
fn url_field(u: &UrlData, name: &str, args: &[Val<Session>]) -> R<Val<Session>> {
    if name != "Query" || !args.is_empty() {
        no_args(name, args)?;
    }
    let (host, port) = match u.host.rsplit_once(':') {
        Some((h, p)) => (h, p),
        None => (u.host.as_str(), ""),
    };
    Ok(match name {
        "Scheme" => Val::str(u.scheme.clone()),
        "Host" => Val::str(u.host.clone()),
        "Path" | "EscapedPath" => Val::str(u.path.clone()),
        "RawQuery" => Val::str(u.raw_query.clone()),
        "RawPath" | "Fragment" | "Opaque" | "RawFragment" => Val::str(""),
        "String" => Val::str(u.to_url_string()),
        "Hostname" => Val::str(host),
        "Port" => Val::str(port),
        "RequestURI" => Val::str(if u.raw_query.is_empty() {
            u.path.clone()
        } else {
            format!("{}?{}", u.path, u.raw_query)
        }),
        "Query" => Val::Object(Session::Query(
            url::form_urlencoded::parse(u.raw_query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )),
        _ => return no_field(name, "*url.URL"),
    })
}

/// Go's `url.Values`: `.Get`, `.Has`, `.Encode`.
fn query_field(q: &[(String, String)], name: &str, args: &[Val<Session>]) -> R<Val<Session>> {
    match name {
        "Get" => {
            let key = string_arg(args, "Values.Get")?;
            Ok(Val::str(
                q.iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default(),
            ))
        }
        "Has" => {
            let key = string_arg(args, "Values.Has")?;
            Ok(Val::Json(Value::Bool(q.iter().any(|(k, _)| *k == key))))
        }
        "Encode" => Ok(Val::str(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(q.iter())
                .finish(),
        )),
        _ => no_field(name, "url.Values"),
    }
}

/// The session as Oathkeeper's hydrator sends it.
pub fn session_json(d: &TemplateData) -> Value {
    Session::Root(Arc::new(d.clone())).to_json()
}

fn mc_json(d: &TemplateData) -> Value {
    serde_json::json!({
        "regexp_capture_groups": d.captures, "url": d.url.to_go_json(),
        "method": d.method, "header": header_json(&d.request_header),
    })
}

/// A header map as Go's `http.Header` JSON: canonical names, arrays of values.
pub fn header_json(h: &HeaderMap) -> Value {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in h {
        m.entry(canonical_header(name.as_str()))
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    serde_json::to_value(m).unwrap_or_default()
}

/// Go's `CanonicalMIMEHeaderKey`: `x-user-id` → `X-User-Id`.
pub fn canonical_header(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
        upper = c == '-';
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data() -> TemplateData {
        let mut request_header = HeaderMap::new();
        request_header.insert("x-api-key", "k1".parse().unwrap());
        TemplateData {
            subject: "user-1".into(),
            extra: json!({"identity": {"traits": {"email": "a@b.c"}}, "scp": ["a", "b"], "n": 30})
                .as_object()
                .cloned()
                .map(Arc::new),
            captures: vec!["first".into(), "second".into()],
            url: UrlData {
                scheme: "http".into(),
                host: "h:4455".into(),
                path: "/api/me".into(),
                raw_query: "q=1&q=2&x=y".into(),
            },
            method: "GET".into(),
            request_header: request_header.into(),
            ..Default::default()
        }
    }

    fn run(t: &str) -> R<String> {
        Template::parse(t)?.execute(&data())
    }

    #[test]
    fn extra_paths_walked_borrowed_answer_as_field_by_field() {
        let mut with_null = data();
        if let Some(extra) = with_null.extra.as_mut().map(Arc::make_mut) {
            extra.insert("gone".into(), Value::Null);
        }
        for d in [data(), with_null, TemplateData::default()] {
            let root = Val::Object(Session::Root(Arc::new(d)));
            for path in [
                "Extra.identity.traits.email",
                "Extra.identity.traits",
                "Extra.identity.missing",
                "Extra.identity.missing.deeper",
                "Extra.gone",
                "Extra.gone.deeper",
                "Extra.scp",
                "Extra.scp.x",
                "Extra.n.x",
                "Extra.nothing",
                "Extra.nothing.at.all",
            ] {
                let fs: Vec<String> = path.split('.').map(str::to_owned).collect();
                let stepwise = fs.iter().try_fold(root.clone(), |v, f| v.field(f, &[]));
                let walked = root.field_path(&fs);
                match (stepwise, walked) {
                    (Ok(a), Ok(b)) => assert_eq!(a.to_json(), b.to_json(), "{path}"),
                    (Err(a), Err(b)) => assert_eq!(a, b, "{path}"),
                    (a, b) => panic!("{path}: step by step {a:?}, walked {b:?}"),
                }
            }
        }
    }

    #[test]
    fn seed_templates_render() {
        assert_eq!(run("{{ print .Subject }}").unwrap(), "user-1");
        assert_eq!(
            run("{{ print .Extra.identity.traits.email }}").unwrap(),
            "a@b.c"
        );
    }

    #[test]
    fn missing_keys_follow_go_semantics() {
        assert_eq!(run("{{ print .Extra.nope }}").unwrap(), "");
        assert_eq!(run("{{ .Extra.nope }}").unwrap(), "<no value>");
        let e = run("{{ print .Extra.nope.traits }}").unwrap_err();
        assert!(
            e.0.contains("nil pointer evaluating interface {}.traits"),
            "{e}"
        );
        let anon = TemplateData::default();
        let t = Template::parse("{{ print .Extra.identity.traits.email }}").unwrap();
        assert!(t.execute(&anon).is_err());
        let guarded =
            Template::parse("{{ if .Extra.identity }}{{ .Extra.identity.traits.email }}{{ end }}")
                .unwrap();
        assert_eq!(guarded.execute(&anon).unwrap(), "");
    }

    #[test]
    fn method_calls_and_match_context() {
        assert_eq!(
            run("{{ .MatchContext.Header.Get \"X-Api-Key\" }}").unwrap(),
            "k1"
        );
        assert_eq!(
            run("{{ .MatchContext.Header.Get \"x-missing\" }}").unwrap(),
            ""
        );
        assert_eq!(run("{{ .MatchContext.URL.Path }}").unwrap(), "/api/me");
        assert_eq!(run("{{ .MatchContext.URL.Query.Get \"q\" }}").unwrap(), "1");
        assert_eq!(run("{{ .MatchContext.Method }}").unwrap(), "GET");
        assert_eq!(
            run("{{ printIndex .MatchContext.RegexpCaptureGroups 1 }}").unwrap(),
            "second"
        );
        assert_eq!(
            run("{{ printIndex .MatchContext.RegexpCaptureGroups 9 }}").unwrap(),
            ""
        );
        assert_eq!(
            run("{{ printIndex .MatchContext.RegexpCaptureGroups (sub 2 1 | int) }}").unwrap(),
            "second"
        );
    }

    #[test]
    fn url_query_and_header_objects() {
        for (template, want) in [
            (
                "{{ .MatchContext.URL }}",
                "http://h:4455/api/me?q=1&q=2&x=y",
            ),
            (
                "{{ .MatchContext.URL.Hostname }}:{{ .MatchContext.URL.Port }}",
                "h:4455",
            ),
            ("{{ .MatchContext.URL.RequestURI }}", "/api/me?q=1&q=2&x=y"),
            ("{{ .MatchContext.URL.Query.Has \"x\" }}", "true"),
            ("{{ .MatchContext.URL.Query.Encode }}", "q=1&q=2&x=y"),
            ("{{ .MatchContext.URL.Query }}", "map[q:[1 2] x:[y]]"),
            ("{{ .MatchContext.Header.Values \"x-api-key\" }}", "[k1]"),
            ("{{ index .MatchContext.Header \"x-api-key\" }}", "[k1]"),
            ("{{ len .MatchContext.Header }}", "1"),
            ("{{ .MatchContext.Header }}", "map[X-Api-Key:[k1]]"),
        ] {
            assert_eq!(run(template).unwrap(), want, "{template}");
        }
        for (template, error) in [
            (
                "{{ .Nope }}",
                "can't evaluate field Nope in type *authn.AuthenticationSession",
            ),
            (
                "{{ .MatchContext.URL.Nope }}",
                "can't evaluate field Nope in type *url.URL",
            ),
            ("{{ len .MatchContext }}", "len of type authn.MatchContext"),
            ("{{ .Subject.X }}", "can't evaluate field X in type string"),
        ] {
            assert_eq!(run(template).unwrap_err().0, error, "{template}");
        }
    }

    #[test]
    fn sprig_and_builtins_on_the_session() {
        for (template, rendered) in crate::template::tests::SESSION_CASES {
            assert_eq!(run(template).unwrap(), *rendered, "{template}");
        }
    }
}
