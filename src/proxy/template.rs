//! The Go `text/template` subset that Oathkeeper configs use (`{{ print .Subject }}`,
//! `.Extra.identity.traits.email`, `printIndex`, `.MatchContext.Header.Get "X"`, `if`/`with`/
//! `range`, pipes, common sprig functions), with `missingkey=zero`. A pure module: templates are
//! parsed once when rules load (unknown functions and syntax are load-time errors) and executed
//! against [`TemplateData`] per request.
//!
//! Go semantics kept on purpose: `{{ .Extra.missing }}` renders `<no value>`, `print` of a
//! missing key renders "", and a field of a missing key (`.Extra.identity.traits` when
//! `identity` is absent) is an execution error, which Oathkeeper answers with 500.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::http::HeaderMap;
use base64::Engine as _;
use serde_json::{Map, Number, Value};

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

/// A parse or execution error, with the template text's position where known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

type R<T> = Result<T, TemplateError>;

/// How deep `{{if}}`/`{{with}}`/`{{range}}` blocks and parenthesised pipelines may nest in one
/// template (a load-time error beyond; Go's parser allows 10 000 parentheses).
pub const MAX_NESTING: usize = 100;
/// Work one execution may do: actions, pipeline commands and range iterations together.
pub const MAX_STEPS: usize = 100_000;
/// Bytes one execution may output, and the largest value (string, or JSON counted by its
/// scalars and string bytes) one function may produce.
pub const MAX_OUTPUT: usize = 1 << 20;

fn err<T>(msg: impl Into<String>) -> R<T> {
    Err(TemplateError(msg.into()))
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipeline),
    If(Vec<(Pipeline, Vec<Node>)>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
}

#[derive(Debug, Clone)]
struct Pipeline(Vec<Command>);

#[derive(Debug, Clone)]
struct Command(Vec<Operand>);

#[derive(Debug, Clone)]
enum Operand {
    Field(Vec<String>),
    Var(Vec<String>),
    Dot,
    Func(String),
    Str(String),
    Num(Number),
    Bool(bool),
    Nil,
    Sub(Pipeline, Vec<String>),
}

/// Functions the engine implements (Go builtins, Oathkeeper's overrides, sprig's common ones).
const FUNCTIONS: &[&str] = &[
    "print",
    "printf",
    "println",
    "printIndex",
    "index",
    "len",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "and",
    "or",
    "not",
    "default",
    "empty",
    "coalesce",
    "ternary",
    "toJson",
    "toString",
    "toPrettyJson",
    "upper",
    "lower",
    "title",
    "trim",
    "trimPrefix",
    "trimSuffix",
    "trimAll",
    "replace",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "join",
    "splitList",
    "sub",
    "add",
    "mul",
    "div",
    "mod",
    "int",
    "int64",
    "float64",
    "quote",
    "squote",
    "b64enc",
    "b64dec",
    "urlquery",
    "list",
    "dict",
    "first",
    "last",
    "has",
    "get",
    "keys",
    "repeat",
    "substr",
    "trunc",
    "nospace",
    "html",
    "js",
    "cat",
    "add1",
    "toStrings",
    "fromJson",
    "required",
];

impl Template {
    pub fn parse(text: &str) -> R<Template> {
        let tokens = split_actions(text)?;
        let mut p = Parser {
            items: tokens,
            pos: 0,
            depth: 0,
        };
        let (nodes, end) = p.nodes()?;
        match end {
            None => Ok(Template { nodes }),
            Some(kw) => err(format!("unexpected {{{{{kw}}}}}")),
        }
    }

    pub fn execute(&self, data: &TemplateData) -> R<String> {
        let root = TV::Root(Arc::new(data.clone()));
        let mut out = String::new();
        exec_nodes(&self.nodes, &root, &root, &mut out, &mut Budget::new())?;
        Ok(out)
    }

    /// Executes against an already shared root (avoids cloning per template).
    pub fn execute_shared(&self, data: &Arc<TemplateData>) -> R<String> {
        let root = TV::Root(data.clone());
        let mut out = String::new();
        exec_nodes(&self.nodes, &root, &root, &mut out, &mut Budget::new())?;
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------------
// Lexing and parsing

enum Item {
    Text(String),
    Action(String),
}

fn split_actions(text: &str) -> R<Vec<Item>> {
    let mut items = Vec::new();
    let mut rest = text;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut before = &rest[..start];
        if trim_next {
            before = before.trim_start();
        }
        let after = &rest[start + 2..];
        let (after, trim_left) = match after.strip_prefix("- ") {
            Some(a) => (a, true),
            None => (after, false),
        };
        if trim_left {
            before = before.trim_end();
        }
        if !before.is_empty() {
            items.push(Item::Text(before.to_string()));
        }
        let Some(end) = find_close(after) else {
            return err("unclosed action: missing \"}}\"");
        };
        let mut inner = &after[..end];
        trim_next = false;
        if let Some(i) = inner.strip_suffix(" -") {
            inner = i;
            trim_next = true;
        }
        let inner = inner.trim();
        if !(inner.starts_with("/*") && inner.ends_with("*/")) {
            items.push(Item::Action(inner.to_string()));
        }
        rest = &after[end + 2..];
    }
    let tail = if trim_next { rest.trim_start() } else { rest };
    if !tail.is_empty() {
        items.push(Item::Text(tail.to_string()));
    }
    Ok(items)
}

/// Position of the closing `}}`, skipping string literals.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b[i + 1] == b'}' => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

struct Parser {
    items: Vec<Item>,
    pos: usize,
    /// Blocks open around the current position.
    depth: usize,
}

impl Parser {
    /// Parses nodes until the end or a control keyword (`end`, `else`, `else if …`), returned.
    fn nodes(&mut self) -> R<(Vec<Node>, Option<String>)> {
        if self.depth >= MAX_NESTING {
            return err(format!(
                "blocks ({{{{if}}}}, {{{{with}}}}, {{{{range}}}}) nest more than {MAX_NESTING} deep"
            ));
        }
        self.depth += 1;
        let r = self.nodes_inner();
        self.depth -= 1;
        r
    }

    fn nodes_inner(&mut self) -> R<(Vec<Node>, Option<String>)> {
        let mut nodes = Vec::new();
        while self.pos < self.items.len() {
            let idx = self.pos;
            self.pos += 1;
            let action = match &self.items[idx] {
                Item::Text(t) => {
                    nodes.push(Node::Text(t.clone()));
                    continue;
                }
                Item::Action(a) => a.clone(),
            };
            let (word, rest) = match action.split_once(char::is_whitespace) {
                Some((w, r)) => (w, r.trim()),
                None => (action.as_str(), ""),
            };
            match word {
                "end" | "else" => return Ok((nodes, Some(action.clone()))),
                "if" => nodes.push(self.if_node(rest)?),
                "with" | "range" => {
                    let pipe = parse_pipeline(rest)?;
                    let (body, end) = self.nodes()?;
                    let otherwise = match end.as_deref() {
                        Some("end") => Vec::new(),
                        Some("else") => {
                            let (o, end) = self.nodes()?;
                            if end.as_deref() != Some("end") {
                                return err(format!("missing {{{{end}}}} for {word}"));
                            }
                            o
                        }
                        _ => return err(format!("missing {{{{end}}}} for {word}")),
                    };
                    nodes.push(if word == "with" {
                        Node::With(pipe, body, otherwise)
                    } else {
                        Node::Range(pipe, body, otherwise)
                    });
                }
                "define" | "template" | "block" | "break" | "continue" => {
                    return err(format!(
                        "{{{{{word}}}}} is not supported by Quartet's templates"
                    ))
                }
                _ => nodes.push(Node::Action(parse_pipeline(&action)?)),
            }
        }
        Ok((nodes, None))
    }

    fn if_node(&mut self, cond: &str) -> R<Node> {
        let mut branches = vec![];
        let mut cond = parse_pipeline(cond)?;
        loop {
            let (body, end) = self.nodes()?;
            branches.push((cond, body));
            match end.as_deref() {
                Some("end") => return Ok(Node::If(branches, Vec::new())),
                Some("else") => {
                    let (otherwise, end) = self.nodes()?;
                    if end.as_deref() != Some("end") {
                        return err("missing {{end}} for if");
                    }
                    return Ok(Node::If(branches, otherwise));
                }
                Some(e) if e.starts_with("else if ") => {
                    cond = parse_pipeline(e["else if ".len()..].trim())?;
                }
                _ => return err("missing {{end}} for if"),
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Field(Vec<String>),
    Var(Vec<String>),
    Dot,
    Ident(String),
    Str(String),
    Num(Number),
    Pipe,
    LParen,
    RParen,
}

fn lex(s: &str) -> R<Vec<Tok>> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let ident_char = |ch: char| ch.is_alphanumeric() || ch == '_';
    let read_fields = |i: &mut usize| -> Vec<String> {
        let mut fields = Vec::new();
        while *i < c.len() && c[*i] == '.' && *i + 1 < c.len() && ident_char(c[*i + 1]) {
            *i += 1;
            let start = *i;
            while *i < c.len() && ident_char(c[*i]) {
                *i += 1;
            }
            fields.push(c[start..*i].iter().collect());
        }
        fields
    };
    while i < c.len() {
        let ch = c[i];
        match ch {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '|' => {
                out.push(Tok::Pipe);
                i += 1;
            }
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                i += 1;
                let fields = read_fields(&mut i);
                out.push(Tok::RParen);
                if !fields.is_empty() {
                    out.push(Tok::Field(fields));
                    // a field chain glued to `)` applies to the parenthesised value
                    if let Some(Tok::Field(f)) = out.pop() {
                        out.push(Tok::Var(
                            std::iter::once("\u{0}".to_string()).chain(f).collect(),
                        ));
                    }
                }
            }
            '.' => {
                let fields = read_fields(&mut i);
                if fields.is_empty() {
                    out.push(Tok::Dot);
                    i += 1;
                } else {
                    out.push(Tok::Field(fields));
                }
            }
            '$' => {
                i += 1;
                if i < c.len() && ident_char(c[i]) {
                    return err("template variables other than $ are not supported");
                }
                out.push(Tok::Var(read_fields(&mut i)));
            }
            '"' => {
                let start = i;
                i += 1;
                while i < c.len() && c[i] != '"' {
                    if c[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if i >= c.len() {
                    return err("unterminated quoted string");
                }
                i += 1;
                let lit: String = c[start..i].iter().collect();
                let v: String = serde_json::from_str(&lit)
                    .map_err(|e| TemplateError(format!("bad string literal {lit}: {e}")))?;
                out.push(Tok::Str(v));
            }
            '`' => {
                let start = i + 1;
                i += 1;
                while i < c.len() && c[i] != '`' {
                    i += 1;
                }
                if i >= c.len() {
                    return err("unterminated raw string");
                }
                out.push(Tok::Str(c[start..i].iter().collect()));
                i += 1;
            }
            ch if ch.is_ascii_digit()
                || (ch == '-' && c.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let start = i;
                i += 1;
                while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '.') {
                    i += 1;
                }
                let lit: String = c[start..i].iter().collect();
                let n = lit
                    .parse::<i64>()
                    .ok()
                    .map(Number::from)
                    .or_else(|| lit.parse::<f64>().ok().and_then(Number::from_f64))
                    .ok_or_else(|| TemplateError(format!("bad number {lit}")))?;
                out.push(Tok::Num(n));
            }
            ch if ident_char(ch) => {
                let start = i;
                while i < c.len() && ident_char(c[i]) {
                    i += 1;
                }
                out.push(Tok::Ident(c[start..i].iter().collect()));
            }
            ':' | '=' => return err("template variable assignment is not supported"),
            other => return err(format!("unexpected {other:?} in action")),
        }
    }
    Ok(out)
}

fn parse_pipeline(s: &str) -> R<Pipeline> {
    let toks = lex(s)?;
    let mut pos = 0;
    let p = pipeline(&toks, &mut pos, 0)?;
    if pos != toks.len() {
        return err(format!("unexpected {:?} in action {s:?}", toks[pos]));
    }
    Ok(p)
}

fn pipeline(toks: &[Tok], pos: &mut usize, depth: usize) -> R<Pipeline> {
    if depth >= MAX_NESTING {
        return err(format!("parentheses nest more than {MAX_NESTING} deep"));
    }
    let mut cmds = Vec::new();
    loop {
        let mut ops = Vec::new();
        while *pos < toks.len() && !matches!(toks[*pos], Tok::Pipe | Tok::RParen) {
            let t = toks[*pos].clone();
            *pos += 1;
            ops.push(match t {
                Tok::Field(f) => Operand::Field(f),
                Tok::Var(f) => Operand::Var(f),
                Tok::Dot => Operand::Dot,
                Tok::Str(s) => Operand::Str(s),
                Tok::Num(n) => Operand::Num(n),
                Tok::Ident(id) => match id.as_str() {
                    "true" => Operand::Bool(true),
                    "false" => Operand::Bool(false),
                    "nil" => Operand::Nil,
                    name if FUNCTIONS.contains(&name) => Operand::Func(id),
                    _ => return err(format!("function {id:?} not defined")),
                },
                Tok::LParen => {
                    let inner = pipeline(toks, pos, depth + 1)?;
                    if toks.get(*pos) != Some(&Tok::RParen) {
                        return err("unclosed parenthesis");
                    }
                    *pos += 1;
                    let fields = match toks.get(*pos) {
                        Some(Tok::Var(f)) if f.first().map(String::as_str) == Some("\u{0}") => {
                            *pos += 1;
                            f[1..].to_vec()
                        }
                        _ => Vec::new(),
                    };
                    Operand::Sub(inner, fields)
                }
                Tok::Pipe | Tok::RParen => return err("unexpected token"),
            });
        }
        if ops.is_empty() {
            return err("missing value for command");
        }
        cmds.push(Command(ops));
        if toks.get(*pos) == Some(&Tok::Pipe) {
            *pos += 1;
        } else {
            return Ok(Pipeline(cmds));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Values and execution

/// A template value.
#[derive(Debug, Clone)]
enum TV {
    Nil,
    Json(Value),
    Root(Arc<TemplateData>),
    MatchContext(Arc<TemplateData>),
    Header(HeaderMap),
    Url(UrlData),
    Query(Vec<(String, String)>),
}

impl TV {
    fn from_json(v: Value) -> TV {
        if v.is_null() {
            TV::Nil
        } else {
            TV::Json(v)
        }
    }

    fn str(s: impl Into<String>) -> TV {
        TV::Json(Value::String(s.into()))
    }

    fn type_name(&self) -> &'static str {
        match self {
            TV::Nil => "interface {}",
            TV::Json(Value::Object(_)) => "map[string]interface {}",
            TV::Json(Value::Array(_)) => "[]interface {}",
            TV::Json(Value::String(_)) => "string",
            TV::Json(Value::Number(_)) => "float64",
            TV::Json(_) => "bool",
            TV::Root(_) => "*authn.AuthenticationSession",
            TV::MatchContext(_) => "authn.MatchContext",
            TV::Header(_) => "http.Header",
            TV::Url(_) => "*url.URL",
            TV::Query(_) => "url.Values",
        }
    }

    fn truthy(&self) -> bool {
        match self {
            TV::Nil => false,
            TV::Json(v) => match v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                Value::Object(o) => !o.is_empty(),
            },
            TV::Header(h) => !h.is_empty(),
            TV::Query(q) => !q.is_empty(),
            TV::Root(_) | TV::MatchContext(_) | TV::Url(_) => true,
        }
    }

    fn to_json(&self) -> Value {
        match self {
            TV::Nil => Value::Null,
            TV::Json(v) => v.clone(),
            TV::Root(d) => serde_json::json!({
                "subject": d.subject, "extra": d.extra.as_deref(), "header": header_json(&d.mutated_header()),
                "match_context": mc_json(d),
            }),
            TV::MatchContext(d) => mc_json(d),
            TV::Header(h) => header_json(h),
            TV::Url(u) => u.to_go_json(),
            TV::Query(q) => {
                let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for (k, v) in q {
                    m.entry(k.clone()).or_default().push(v.clone());
                }
                serde_json::to_value(m).unwrap_or_default()
            }
        }
    }

    /// Go's `%v`.
    fn go_string(&self) -> String {
        match self {
            TV::Nil => "<nil>".into(),
            TV::Json(v) => go_json_string(v),
            TV::Url(u) => u.to_url_string(),
            other => go_json_string(&other.to_json()),
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            TV::Json(Value::Number(n)) => n.as_f64(),
            TV::Json(Value::String(s)) => s.trim().parse().ok(),
            TV::Json(Value::Bool(b)) => Some(f64::from(u8::from(*b))),
            _ => None,
        }
    }

    /// sprig's toInt64: numbers truncated, numeric strings parsed, anything else 0.
    fn to_i64(&self) -> i64 {
        self.as_f64().map(|f| f as i64).unwrap_or(0)
    }
}

/// Go's encoding/json sorts map keys.
fn sorted(v: Value) -> Value {
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

/// The session as Oathkeeper's hydrator sends it.
pub fn session_json(d: &TemplateData) -> Value {
    TV::Root(Arc::new(d.clone())).to_json()
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

fn go_json_string(v: &Value) -> String {
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

/// The steps left to one execution ([`MAX_STEPS`]).
struct Budget {
    steps: usize,
}

impl Budget {
    fn new() -> Self {
        Budget { steps: MAX_STEPS }
    }

    fn step(&mut self) -> R<()> {
        match self.steps.checked_sub(1) {
            Some(left) => {
                self.steps = left;
                Ok(())
            }
            None => err(format!(
                "template execution exceeded {MAX_STEPS} steps (actions, commands and range \
                 iterations)"
            )),
        }
    }
}

fn check_output(out: &str) -> R<()> {
    if out.len() > MAX_OUTPUT {
        return err(format!("template output exceeded {MAX_OUTPUT} bytes"));
    }
    Ok(())
}

/// Whether `v` stays within [`MAX_OUTPUT`] (strings by bytes, other scalars as 8; stops
/// counting at the limit).
fn value_within_limit(v: &TV) -> bool {
    fn walk(v: &Value, left: &mut usize) -> bool {
        let cost = match v {
            Value::String(s) => s.len().max(1),
            _ => 8,
        };
        let Some(rest) = left.checked_sub(cost) else {
            return false;
        };
        *left = rest;
        match v {
            Value::Array(a) => a.iter().all(|x| walk(x, left)),
            Value::Object(o) => o.iter().all(|(k, x)| {
                match left.checked_sub(k.len()) {
                    Some(rest) => *left = rest,
                    None => return false,
                }
                walk(x, left)
            }),
            _ => true,
        }
    }
    match v {
        TV::Json(j) => {
            let mut left = MAX_OUTPUT;
            walk(j, &mut left)
        }
        _ => true,
    }
}

fn exec_nodes(nodes: &[Node], dot: &TV, root: &TV, out: &mut String, b: &mut Budget) -> R<()> {
    for node in nodes {
        b.step()?;
        match node {
            Node::Text(t) => {
                out.push_str(t);
                check_output(out)?;
            }
            Node::Action(p) => {
                let v = eval_pipeline(p, dot, root, b)?;
                match v {
                    TV::Nil => out.push_str("<no value>"),
                    v => out.push_str(&v.go_string()),
                }
                check_output(out)?;
            }
            Node::If(branches, otherwise) => {
                let mut done = false;
                for (cond, body) in branches {
                    if eval_pipeline(cond, dot, root, b)?.truthy() {
                        exec_nodes(body, dot, root, out, b)?;
                        done = true;
                        break;
                    }
                }
                if !done {
                    exec_nodes(otherwise, dot, root, out, b)?;
                }
            }
            Node::With(p, body, otherwise) => {
                let v = eval_pipeline(p, dot, root, b)?;
                if v.truthy() {
                    exec_nodes(body, &v, root, out, b)?;
                } else {
                    exec_nodes(otherwise, dot, root, out, b)?;
                }
            }
            Node::Range(p, body, otherwise) => {
                let v = eval_pipeline(p, dot, root, b)?;
                let items: Vec<TV> = match &v {
                    TV::Json(Value::Array(a)) => a.iter().cloned().map(TV::from_json).collect(),
                    TV::Json(Value::Object(o)) => {
                        let mut keys: Vec<&String> = o.keys().collect();
                        keys.sort();
                        keys.into_iter()
                            .map(|k| TV::from_json(o[k].clone()))
                            .collect()
                    }
                    TV::Nil => Vec::new(),
                    other => return err(format!("range can't iterate over {}", other.go_string())),
                };
                if items.is_empty() {
                    exec_nodes(otherwise, dot, root, out, b)?;
                }
                for item in &items {
                    b.step()?;
                    exec_nodes(body, item, root, out, b)?;
                }
            }
        }
    }
    Ok(())
}

fn eval_pipeline(p: &Pipeline, dot: &TV, root: &TV, b: &mut Budget) -> R<TV> {
    let mut piped: Option<TV> = None;
    for cmd in &p.0 {
        b.step()?;
        piped = Some(eval_command(cmd, dot, root, piped, b)?);
    }
    Ok(piped.unwrap_or(TV::Nil))
}

fn eval_command(cmd: &Command, dot: &TV, root: &TV, piped: Option<TV>, b: &mut Budget) -> R<TV> {
    let (first, rest) = match cmd.0.split_first() {
        Some(x) => x,
        None => return err("empty command"),
    };
    let mut args = Vec::with_capacity(rest.len() + 1);
    for op in rest {
        args.push(eval_operand(op, dot, root, b)?);
    }
    if let Some(p) = piped {
        args.push(p);
    }
    match first {
        Operand::Func(name) => bounded_call(name, args),
        Operand::Field(fields) | Operand::Var(fields) if !args.is_empty() || !fields.is_empty() => {
            let base = if matches!(first, Operand::Field(_)) {
                dot
            } else {
                root
            };
            if args.is_empty() {
                // a bare chain such as `{{ if .Extra.identity }}`: walked borrowed
                return field_path(base, fields);
            }
            let Some((last, init)) = fields.split_last() else {
                return err("can't give argument to non-function $");
            };
            field(&field_path(base, init)?, last, &args)
        }
        _ if !args.is_empty() => err("can't give argument to non-function"),
        op => eval_operand(op, dot, root, b),
    }
}

fn eval_operand(op: &Operand, dot: &TV, root: &TV, b: &mut Budget) -> R<TV> {
    match op {
        Operand::Dot => Ok(dot.clone()),
        Operand::Field(fs) => field_path(dot, fs),
        Operand::Var(fs) => field_path(root, fs),
        Operand::Func(name) => bounded_call(name, Vec::new()),
        Operand::Str(s) => Ok(TV::str(s.clone())),
        Operand::Num(n) => Ok(TV::Json(Value::Number(n.clone()))),
        Operand::Bool(b) => Ok(TV::Json(Value::Bool(*b))),
        Operand::Nil => Ok(TV::Nil),
        Operand::Sub(p, fs) => {
            let v = eval_pipeline(p, dot, root, b)?;
            fs.iter().try_fold(v, |v, f| field(&v, f, &[]))
        }
    }
}

/// [`call`], refusing a result larger than [`MAX_OUTPUT`] (`repeat`, or `cat . .` under
/// nested `with`s, would otherwise grow a value exponentially).
fn bounded_call(name: &str, args: Vec<TV>) -> R<TV> {
    if name == "repeat" {
        if let [n, x] = args.as_slice() {
            let n = usize::try_from(n.to_i64().clamp(0, 10_000)).unwrap_or(0);
            if s(x).len().saturating_mul(n) > MAX_OUTPUT {
                return err(format!("repeat would produce more than {MAX_OUTPUT} bytes"));
            }
        }
    }
    let v = call(name, args)?;
    if !value_within_limit(&v) {
        return err(format!(
            "{name} produced a value larger than {MAX_OUTPUT} bytes"
        ));
    }
    Ok(v)
}

/// The fields `fs` applied in turn, as [`field`] does; `.Extra.a.b…` walks the session's JSON
/// borrowed and copies only the node it ends on — a template reading one claim no longer copies
/// the whole session on every request.
fn field_path(v: &TV, fs: &[String]) -> R<TV> {
    if let (TV::Root(d), Some((first, rest))) = (v, fs.split_first()) {
        if first == "Extra" && !rest.is_empty() {
            return extra_path(d.extra.as_deref(), rest);
        }
    }
    fs.iter().try_fold(v.clone(), |v, f| field(&v, f, &[]))
}

/// `.Extra` followed by `path` (not empty), with [`field`]'s answers and errors.
fn extra_path(extra: Option<&Map<String, Value>>, path: &[String]) -> R<TV> {
    let from_nil = |rest: &[String]| rest.iter().try_fold(TV::Nil, |v, f| field(&v, f, &[]));
    let Some((first, rest)) = path.split_first() else {
        return Ok(TV::Json(Value::Object(extra.cloned().unwrap_or_default())));
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
                    .try_fold(TV::from_json(other.clone()), |v, f| field(&v, f, &[]))
            }
        };
    }
    Ok(TV::from_json(node.clone()))
}

fn no_args(name: &str, args: &[TV]) -> R<()> {
    if args.is_empty() {
        Ok(())
    } else {
        err(format!("{name} is not a method but has arguments"))
    }
}

fn string_arg(args: &[TV], method: &str) -> R<String> {
    match args {
        [TV::Json(Value::String(s))] => Ok(s.clone()),
        _ => err(format!("wrong arguments for {method}: want one string")),
    }
}

/// `.name` (with `args`, a method call) on a value.
fn field(v: &TV, name: &str, args: &[TV]) -> R<TV> {
    match v {
        TV::Nil => err(format!("nil pointer evaluating interface {{}}.{name}")),
        TV::Root(d) => {
            no_args(name, args)?;
            match name {
                "Subject" => Ok(TV::str(d.subject.clone())),
                // a typed nil map in Go: lookups on it yield nil, no error
                "Extra" => Ok(TV::Json(Value::Object(
                    d.extra.as_deref().cloned().unwrap_or_default(),
                ))),
                "Header" => Ok(TV::Header(d.mutated_header().into_owned())),
                "MatchContext" => Ok(TV::MatchContext(d.clone())),
                _ => err(format!(
                    "can't evaluate field {name} in type {}",
                    v.type_name()
                )),
            }
        }
        TV::MatchContext(d) => {
            no_args(name, args)?;
            match name {
                "RegexpCaptureGroups" => Ok(TV::Json(Value::Array(
                    d.captures.iter().cloned().map(Value::String).collect(),
                ))),
                "URL" => Ok(TV::Url(d.url.clone())),
                "Method" => Ok(TV::str(d.method.clone())),
                "Header" => Ok(TV::Header((*d.request_header).clone())),
                _ => err(format!(
                    "can't evaluate field {name} in type {}",
                    v.type_name()
                )),
            }
        }
        TV::Header(h) => match name {
            "Get" => {
                let key = string_arg(args, "Header.Get")?;
                Ok(TV::str(
                    h.get(key.as_str())
                        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                        .unwrap_or_default(),
                ))
            }
            "Values" => {
                let key = string_arg(args, "Header.Values")?;
                Ok(TV::Json(Value::Array(
                    h.get_all(key.as_str())
                        .iter()
                        .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
                        .collect(),
                )))
            }
            _ => {
                no_args(name, args)?;
                let values: Vec<Value> = h
                    .get_all(name)
                    .iter()
                    .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
                    .collect();
                Ok(if values.is_empty() {
                    TV::Nil
                } else {
                    TV::Json(Value::Array(values))
                })
            }
        },
        TV::Url(u) => {
            if name != "Query" || !args.is_empty() {
                no_args(name, args)?;
            }
            match name {
                "Scheme" => Ok(TV::str(u.scheme.clone())),
                "Host" => Ok(TV::str(u.host.clone())),
                "Path" => Ok(TV::str(u.path.clone())),
                "RawQuery" => Ok(TV::str(u.raw_query.clone())),
                "RawPath" | "Fragment" | "Opaque" | "RawFragment" => Ok(TV::str("")),
                "String" => Ok(TV::str(u.to_url_string())),
                "Hostname" => Ok(TV::str(
                    u.host
                        .rsplit_once(':')
                        .map(|(h, _)| h)
                        .unwrap_or(&u.host)
                        .to_string(),
                )),
                "Port" => Ok(TV::str(
                    u.host
                        .rsplit_once(':')
                        .map(|(_, p)| p)
                        .unwrap_or("")
                        .to_string(),
                )),
                "EscapedPath" => Ok(TV::str(u.path.clone())),
                "RequestURI" => Ok(TV::str(if u.raw_query.is_empty() {
                    u.path.clone()
                } else {
                    format!("{}?{}", u.path, u.raw_query)
                })),
                "Query" => Ok(TV::Query(
                    url::form_urlencoded::parse(u.raw_query.as_bytes())
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect(),
                )),
                _ => err(format!("can't evaluate field {name} in type *url.URL")),
            }
        }
        TV::Query(q) => match name {
            "Get" => {
                let key = string_arg(args, "Values.Get")?;
                Ok(TV::str(
                    q.iter()
                        .find(|(k, _)| *k == key)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default(),
                ))
            }
            "Has" => {
                let key = string_arg(args, "Values.Has")?;
                Ok(TV::Json(Value::Bool(q.iter().any(|(k, _)| *k == key))))
            }
            "Encode" => Ok(TV::str(
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(q.iter())
                    .finish(),
            )),
            _ => err(format!("can't evaluate field {name} in type url.Values")),
        },
        TV::Json(Value::Object(m)) => {
            no_args(name, args)?;
            Ok(m.get(name).cloned().map(TV::from_json).unwrap_or(TV::Nil))
        }
        TV::Json(_) => err(format!(
            "can't evaluate field {name} in type {}",
            v.type_name()
        )),
    }
}

fn arity(name: &str, args: &[TV], n: usize) -> R<()> {
    if args.len() == n {
        Ok(())
    } else {
        err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        ))
    }
}

fn s(v: &TV) -> String {
    match v {
        TV::Nil => String::new(),
        TV::Json(Value::String(s)) => s.clone(),
        other => other.go_string(),
    }
}

fn num(f: f64) -> TV {
    TV::Json(
        Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
    )
}

fn int(i: i64) -> TV {
    TV::Json(Value::Number(Number::from(i)))
}

fn b(x: bool) -> TV {
    TV::Json(Value::Bool(x))
}

fn go_eq(a: &TV, b: &TV) -> bool {
    match (a.as_f64(), b.as_f64(), a, b) {
        (_, _, TV::Json(Value::String(x)), TV::Json(Value::String(y))) => x == y,
        (Some(x), Some(y), TV::Json(Value::Number(_)), TV::Json(Value::Number(_))) => x == y,
        _ => a.to_json() == b.to_json(),
    }
}

fn compare(a: &TV, b: &TV) -> R<std::cmp::Ordering> {
    match (a, b) {
        (TV::Json(Value::String(x)), TV::Json(Value::String(y))) => Ok(x.cmp(y)),
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x
                .partial_cmp(&y)
                .ok_or_else(|| TemplateError("incomparable".into())),
            _ => err("incompatible types for comparison"),
        },
    }
}

fn list_of(v: &TV) -> Vec<TV> {
    match v {
        TV::Json(Value::Array(a)) => a.iter().cloned().map(TV::from_json).collect(),
        _ => Vec::new(),
    }
}

fn call(name: &str, args: Vec<TV>) -> R<TV> {
    use std::cmp::Ordering::*;
    Ok(match name {
        "print" | "cat" => {
            let parts: Vec<String> = args.iter().map(s).collect();
            if name == "cat" {
                TV::str(
                    parts
                        .into_iter()
                        .filter(|p| !p.is_empty())
                        .collect::<Vec<_>>()
                        .join(" "),
                )
            } else {
                // Go's Sprint: a space between operands when neither is a string
                let mut out = String::new();
                for (i, a) in args.iter().enumerate() {
                    let is_str = |v: &TV| matches!(v, TV::Json(Value::String(_)));
                    if i > 0 && !is_str(a) && !is_str(&args[i - 1]) {
                        out.push(' ');
                    }
                    out.push_str(&parts[i]);
                }
                TV::str(out)
            }
        }
        "println" => TV::str(format!(
            "{}\n",
            args.iter().map(s).collect::<Vec<_>>().join(" ")
        )),
        "printf" => {
            let Some((fmt, rest)) = args.split_first() else {
                return err("printf needs a format");
            };
            TV::str(printf(&s(fmt), rest)?)
        }
        "printIndex" => {
            arity(name, &args, 2)?;
            let i = args[1].to_i64();
            match &args[0] {
                TV::Json(Value::Array(a)) if i >= 0 && (i as usize) < a.len() => {
                    TV::str(go_json_string(&a[i as usize]))
                }
                _ => TV::str(""),
            }
        }
        "index" => {
            let Some((mut v, keys)) = args.split_first().map(|(a, r)| (a.clone(), r)) else {
                return err("index needs arguments");
            };
            for k in keys {
                v = match (&v, k) {
                    (TV::Json(Value::Array(a)), k) => {
                        let i = k.to_i64();
                        if i < 0 || i as usize >= a.len() {
                            return err(format!("index out of range: {i}"));
                        }
                        TV::from_json(a[i as usize].clone())
                    }
                    (TV::Json(Value::Object(m)), k) => {
                        m.get(&s(k)).cloned().map(TV::from_json).unwrap_or(TV::Nil)
                    }
                    (TV::Header(h), k) => field(&TV::Header(h.clone()), &s(k), &[])?,
                    (TV::Nil, _) => return err("index of untyped nil"),
                    (other, _) => {
                        return err(format!("can't index item of type {}", other.type_name()))
                    }
                };
            }
            v
        }
        "len" => {
            arity(name, &args, 1)?;
            int(match &args[0] {
                TV::Json(Value::Array(a)) => a.len() as i64,
                TV::Json(Value::Object(o)) => o.len() as i64,
                TV::Json(Value::String(s)) => s.len() as i64,
                TV::Header(h) => h.keys_len() as i64,
                other => return err(format!("len of type {}", other.type_name())),
            })
        }
        "eq" => {
            let Some((first, rest)) = args.split_first() else {
                return err("missing argument for comparison");
            };
            b(rest.iter().any(|o| go_eq(first, o)))
        }
        "ne" => {
            arity(name, &args, 2)?;
            b(!go_eq(&args[0], &args[1]))
        }
        "lt" | "le" | "gt" | "ge" => {
            arity(name, &args, 2)?;
            let o = compare(&args[0], &args[1])?;
            b(match name {
                "lt" => o == Less,
                "le" => o != Greater,
                "gt" => o == Greater,
                _ => o != Less,
            })
        }
        "and" => args
            .iter()
            .find(|a| !a.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(TV::Nil),
        "or" => args
            .iter()
            .find(|a| a.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(TV::Nil),
        "not" => {
            arity(name, &args, 1)?;
            b(!args[0].truthy())
        }
        "default" => match args.as_slice() {
            [d] => d.clone(),
            [d, given] => {
                if given.truthy() {
                    given.clone()
                } else {
                    d.clone()
                }
            }
            _ => return err("wrong number of args for default"),
        },
        "empty" => {
            arity(name, &args, 1)?;
            b(!args[0].truthy())
        }
        "required" => {
            arity(name, &args, 2)?;
            if !args[1].truthy() {
                return err(s(&args[0]));
            }
            args[1].clone()
        }
        "coalesce" => args.iter().find(|a| a.truthy()).cloned().unwrap_or(TV::Nil),
        "ternary" => {
            arity(name, &args, 3)?;
            if args[2].truthy() {
                args[0].clone()
            } else {
                args[1].clone()
            }
        }
        "toJson" | "toPrettyJson" => {
            arity(name, &args, 1)?;
            let v = sorted(args[0].to_json());
            TV::str(
                if name == "toJson" {
                    serde_json::to_string(&v)
                } else {
                    serde_json::to_string_pretty(&v)
                }
                .unwrap_or_default(),
            )
        }
        "fromJson" => {
            arity(name, &args, 1)?;
            TV::from_json(serde_json::from_str(&s(&args[0])).unwrap_or(Value::Null))
        }
        "toString" => {
            arity(name, &args, 1)?;
            TV::str(s(&args[0]))
        }
        "toStrings" => {
            arity(name, &args, 1)?;
            TV::Json(Value::Array(
                list_of(&args[0])
                    .iter()
                    .map(|v| Value::String(s(v)))
                    .collect(),
            ))
        }
        "upper" | "lower" | "title" | "trim" | "nospace" | "quote" | "squote" | "b64enc"
        | "b64dec" | "urlquery" | "html" | "js" => {
            arity(name, &args, 1)?;
            let x = s(&args[0]);
            TV::str(match name {
                "upper" => x.to_uppercase(),
                "lower" => x.to_lowercase(),
                "title" => x
                    .split(' ')
                    .map(|w| {
                        let mut c = w.chars();
                        c.next()
                            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                            .unwrap_or_default()
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                "trim" => x.trim().to_string(),
                "nospace" => x.chars().filter(|c| !c.is_whitespace()).collect(),
                "quote" => serde_json::to_string(&x).unwrap_or_default(),
                "squote" => format!("'{x}'"),
                "b64enc" => base64::engine::general_purpose::STANDARD.encode(x.as_bytes()),
                "b64dec" => base64::engine::general_purpose::STANDARD
                    .decode(x.as_bytes())
                    .map(|v| String::from_utf8_lossy(&v).into_owned())
                    .unwrap_or_else(|e| e.to_string()),
                "urlquery" => url::form_urlencoded::byte_serialize(x.as_bytes()).collect(),
                "html" => x
                    .replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
                    .replace('"', "&#34;")
                    .replace('\'', "&#39;"),
                _ => x
                    .replace('\\', "\\\\")
                    .replace('\'', "\\'")
                    .replace('"', "\\\""),
            })
        }
        "trimPrefix" | "trimSuffix" | "trimAll" | "contains" | "hasPrefix" | "hasSuffix"
        | "repeat" | "trunc" => {
            arity(name, &args, 2)?;
            let (a, x) = (s(&args[0]), s(&args[1]));
            match name {
                "trimPrefix" => TV::str(x.strip_prefix(a.as_str()).unwrap_or(&x).to_string()),
                "trimSuffix" => TV::str(x.strip_suffix(a.as_str()).unwrap_or(&x).to_string()),
                "trimAll" => TV::str(x.trim_matches(|c| a.contains(c)).to_string()),
                "contains" => b(x.contains(a.as_str())),
                "hasPrefix" => b(x.starts_with(a.as_str())),
                "hasSuffix" => b(x.ends_with(a.as_str())),
                "repeat" => TV::str(x.repeat(args[0].to_i64().clamp(0, 10_000) as usize)),
                _ => {
                    let n = args[0].to_i64();
                    let chars: Vec<char> = x.chars().collect();
                    let n = n.clamp(-(chars.len() as i64), chars.len() as i64);
                    TV::str(if n >= 0 {
                        chars[..n as usize].iter().collect::<String>()
                    } else {
                        chars[chars.len() - (-n) as usize..]
                            .iter()
                            .collect::<String>()
                    })
                }
            }
        }
        "substr" => {
            arity(name, &args, 3)?;
            let x: Vec<char> = s(&args[2]).chars().collect();
            let start = args[0].to_i64().clamp(0, x.len() as i64) as usize;
            let end = match args[1].to_i64() {
                e if e < 0 || e as usize > x.len() => x.len(),
                e => (e as usize).max(start),
            };
            TV::str(x[start..end].iter().collect::<String>())
        }
        "replace" => {
            arity(name, &args, 3)?;
            TV::str(s(&args[2]).replace(&s(&args[0]), &s(&args[1])))
        }
        "join" => {
            arity(name, &args, 2)?;
            TV::str(
                list_of(&args[1])
                    .iter()
                    .map(s)
                    .collect::<Vec<_>>()
                    .join(&s(&args[0])),
            )
        }
        "splitList" => {
            arity(name, &args, 2)?;
            TV::Json(Value::Array(
                s(&args[1])
                    .split(&s(&args[0]))
                    .map(|p| Value::String(p.into()))
                    .collect(),
            ))
        }
        "sub" | "add" | "mul" | "div" | "mod" => {
            arity(name, &args, 2)?;
            let (x, y) = (args[0].to_i64(), args[1].to_i64());
            int(match name {
                "sub" => x.wrapping_sub(y),
                "add" => x.wrapping_add(y),
                "mul" => x.wrapping_mul(y),
                _ if y == 0 => return err("integer divide by zero"),
                "div" => x / y,
                _ => x % y,
            })
        }
        "add1" => {
            arity(name, &args, 1)?;
            int(args[0].to_i64().wrapping_add(1))
        }
        "int" | "int64" => {
            arity(name, &args, 1)?;
            int(args[0].to_i64())
        }
        "float64" => {
            arity(name, &args, 1)?;
            num(args[0].as_f64().unwrap_or(0.0))
        }
        "list" => TV::Json(Value::Array(args.iter().map(TV::to_json).collect())),
        "dict" => {
            let mut m = Map::new();
            for pair in args.chunks(2) {
                m.insert(
                    s(&pair[0]),
                    pair.get(1).map(TV::to_json).unwrap_or(Value::Null),
                );
            }
            TV::Json(Value::Object(m))
        }
        "first" | "last" => {
            arity(name, &args, 1)?;
            let l = list_of(&args[0]);
            let item = if name == "first" { l.first() } else { l.last() };
            item.cloned().unwrap_or(TV::Nil)
        }
        "has" => {
            arity(name, &args, 2)?;
            b(list_of(&args[1]).iter().any(|x| go_eq(x, &args[0])))
        }
        "get" => {
            arity(name, &args, 2)?;
            match &args[0] {
                TV::Json(Value::Object(m)) => {
                    TV::str(m.get(&s(&args[1])).map(go_json_string).unwrap_or_default())
                }
                _ => TV::str(""),
            }
        }
        "keys" => {
            let mut keys: Vec<Value> = Vec::new();
            for a in &args {
                if let TV::Json(Value::Object(m)) = a {
                    keys.extend(m.keys().cloned().map(Value::String));
                }
            }
            TV::Json(Value::Array(keys))
        }
        other => return err(format!("function {other:?} not defined")),
    })
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%s %v %d %q %+q %t %f %%`.
fn printf(format: &str, args: &[TV]) -> R<String> {
    let mut out = String::new();
    let mut it = format.chars().peekable();
    let mut argi = 0;
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let plus = it.peek() == Some(&'+');
        if plus {
            it.next();
        }
        let Some(verb) = it.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        argi += 1;
        match verb {
            's' | 'v' => out.push_str(&match arg {
                TV::Nil => "%!s(<nil>)".to_string(),
                a => a.go_string(),
            }),
            'd' => out.push_str(&arg.to_i64().to_string()),
            'f' => {
                let _ = write!(out, "{:.6}", arg.as_f64().unwrap_or(0.0));
            }
            't' => out.push_str(&arg.truthy().to_string()),
            'q' => {
                let quote = |x: &str| {
                    let q = serde_json::to_string(x).unwrap_or_default();
                    if plus {
                        q.chars()
                            .flat_map(|c| {
                                if c.is_ascii() {
                                    vec![c]
                                } else {
                                    format!("\\u{:04x}", c as u32).chars().collect()
                                }
                            })
                            .collect::<String>()
                    } else {
                        q
                    }
                };
                match arg {
                    TV::Json(Value::Array(a)) => {
                        let parts: Vec<String> =
                            a.iter().map(|v| quote(&go_json_string(v))).collect();
                        let _ = write!(out, "[{}]", parts.join(" "));
                    }
                    a => out.push_str(&quote(&s(a))),
                }
            }
            other => {
                let _ = write!(out, "%!{other}({})", arg.go_string());
            }
        }
    }
    Ok(out)
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
            let root = TV::Root(Arc::new(d));
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
                let stepwise = fs.iter().try_fold(root.clone(), |v, f| field(&v, f, &[]));
                let walked = field_path(&root, &fs);
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
    fn sprig_and_builtins() {
        assert_eq!(
            run("{{ .Extra | toJson }}").unwrap(),
            r#"{"identity":{"traits":{"email":"a@b.c"}},"n":30,"scp":["a","b"]}"#
        );
        assert_eq!(
            run("{{ printf \"%+q\" .Extra.scp }}").unwrap(),
            r#"["a" "b"]"#
        );
        assert_eq!(run("{{ .Extra.n }}").unwrap(), "30");
        assert_eq!(
            run("{{ .Extra.missing | default \"anon\" }}").unwrap(),
            "anon"
        );
        assert_eq!(
            run("{{ if eq .Subject \"user-1\" }}yes{{ else }}no{{ end }}").unwrap(),
            "yes"
        );
        assert_eq!(run("{{ index .Extra.scp 1 }}").unwrap(), "b");
        assert_eq!(
            run("{{ .Subject | upper }}-{{ lower \"AB\" }}").unwrap(),
            "USER-1-ab"
        );
        assert_eq!(run("{{- \" x \" | trim -}} !").unwrap(), "x!");
        assert_eq!(
            run("{{ range .Extra.scp }}[{{ . }}]{{ end }}").unwrap(),
            "[a][b]"
        );
        assert_eq!(
            run("{{ with .Extra.identity }}{{ .traits.email }}{{ end }}").unwrap(),
            "a@b.c"
        );
        assert_eq!(run("{{/* comment */}}ok").unwrap(), "ok");
    }

    #[test]
    fn unsupported_syntax_fails_at_parse_time() {
        assert!(Template::parse("{{ nosuchfunc .Subject }}")
            .unwrap_err()
            .0
            .contains("not defined"));
        assert!(Template::parse("{{ $x := .Subject }}").is_err());
        assert!(Template::parse("{{ if .Subject }}").is_err());
        assert!(Template::parse("{{ .Subject ").is_err());
        assert!(Template::parse("{{ template \"x\" }}").is_err());
        assert!(Template::parse("{{ end }}").is_err());
    }

    #[test]
    fn nesting_is_bounded_at_parse_time() {
        let ok = "{{if 1}}".repeat(MAX_NESTING - 1) + &"{{end}}".repeat(MAX_NESTING - 1);
        assert!(Template::parse(&ok).is_ok());
        for deep in [
            "{{if 1}}".repeat(100_000) + &"{{end}}".repeat(100_000),
            "{{with .}}".repeat(100_000),
            "{{range .}}".repeat(MAX_NESTING + 1) + &"{{end}}".repeat(MAX_NESTING + 1),
            format!("{{{{ {}1{} }}}}", "(".repeat(100_000), ")".repeat(100_000)),
            format!("{{{{ {}1 }}}}", "(print ".repeat(MAX_NESTING + 1)),
        ] {
            let e = Template::parse(&deep).unwrap_err();
            assert!(e.0.contains("nest more than"), "{e}");
        }
        let parens = format!(
            "{{{{ {}1{} }}}}",
            "(".repeat(MAX_NESTING - 1),
            ")".repeat(MAX_NESTING - 1)
        );
        assert_eq!(run(&parens).unwrap(), "1");
    }

    #[test]
    fn execution_work_and_output_are_bounded() {
        // doubling under nested `with`s: 2^60 bytes without the value limit
        let doubling = r#"{{with "aaaaaaaa"}}"#.to_string()
            + &"{{with cat . .}}".repeat(60)
            + "{{.}}"
            + &"{{end}}".repeat(61);
        let e = run(&doubling).unwrap_err();
        assert!(e.0.contains("larger than"), "{e}");
        let e = run(r#"{{ repeat 10000 (repeat 10000 "aaaa") }}"#).unwrap_err();
        assert!(e.0.contains("more than"), "{e}");
        assert_eq!(run(r#"{{ repeat 3 "ab" }}"#).unwrap(), "ababab");
        // nested ranges over a list: 1000^3 iterations without the step budget
        let big = (0..1000)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(" ");
        let ranges = format!(
            "{{{{range (list {big})}}}}{{{{range (list {big})}}}}{{{{range (list {big})}}}}x{{{{end}}}}{{{{end}}}}{{{{end}}}}"
        );
        let started = std::time::Instant::now();
        let e = run(&ranges).unwrap_err();
        assert!(e.0.contains("steps"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // output written as text alone
        let text = "x".repeat(1000);
        let many = format!(
            "{{{{range (list {big})}}}}{{{{range (list 1 2)}}}}{text}{{{{end}}}}{{{{end}}}}"
        );
        let e = run(&many).unwrap_err();
        assert!(e.0.contains("output exceeded"), "{e}");
    }
}
