//! The properties the fuzz targets check, shared with the corpus replay under `cargo test`
//! (`tests/it/fuzz_corpus.rs` includes this file): each function takes one input and panics only
//! when a property is broken; it returns how far the input got (for the replay's own checks
//! that its corpus reaches the interesting paths).

// Each target uses one of these.
#![allow(dead_code)]

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue};
use quartet::permission::import::parse_tuples;
use quartet::permission::{RelationTuple, Subject};
use quartet::proxy::matcher::{Pattern, Strategy};
use quartet::proxy::rule::decode_document;
use quartet::proxy::template::{Template, TemplateData, UrlData};
use quartet::template::Template as HtmlTemplate;

/// Whether no part holds a separator of the text form (such tuples must round-trip).
fn plain(tuple: &RelationTuple) -> bool {
    let clean = |s: &str| !s.contains([':', '#', '@', '(', ')']);
    let subject = match &tuple.subject {
        Subject::Id(id) => clean(id),
        Subject::Set(set) => clean(&set.namespace) && clean(&set.object) && clean(&set.relation),
    };
    subject && clean(&tuple.namespace) && clean(&tuple.object) && clean(&tuple.relation)
}

/// The tuple parsers: `ns:obj#rel@subject` (the whole input and each line) parses or fails,
/// and a plain tuple prints back to a text that parses to it; an import file (JSON array or
/// lines) parses or fails. Returns the number of plain tuples that round-tripped.
pub fn tuples(text: &str) -> usize {
    let mut round_trips = 0;
    for line in std::iter::once(text).chain(text.lines()) {
        if let Ok(tuple) = RelationTuple::parse(line) {
            if plain(&tuple) {
                let again = RelationTuple::parse(&tuple.to_string());
                assert_eq!(
                    again.ok().as_ref(),
                    Some(&tuple),
                    "{line:?} does not round-trip"
                );
                round_trips += 1;
            }
        }
    }
    if let Ok(parsed) = parse_tuples(text) {
        for tuple in &parsed {
            let _ = tuple.to_string();
        }
    }
    round_trips
}

const URLS: [&str; 4] = [
    "http://127.0.0.1:4455/api/users/123",
    "https://example.com/",
    "http://a/<b>/%2e%2e/",
    "",
];

/// Compiles `pattern` with both strategies and matches it against a few URLs and itself
/// (the backtracking limit answers `Err`, never a hang). Returns the patterns compiled.
fn url_pattern(pattern: &str) -> usize {
    let mut compiled = 0;
    for strategy in [Strategy::Regexp, Strategy::Glob] {
        if let Ok(p) = Pattern::compile(strategy, pattern) {
            compiled += 1;
            for url in URLS.iter().copied().chain([pattern]) {
                let _ = p.captures(url);
            }
        }
    }
    compiled
}

/// The access-rule front end: the input's first line as a bare `match.url` pattern, and the
/// input as a repository document (JSON or YAML) whose rules' patterns are compiled and
/// matched. Returns (rules decoded, patterns compiled).
pub fn rules(text: &str) -> (usize, usize) {
    let mut compiled = url_pattern(text.lines().next().unwrap_or_default());
    let mut decoded = 0;
    if let Ok(rules) = decode_document(text) {
        decoded = rules.len();
        for rule in rules {
            if let Some(m) = rule.matcher {
                compiled += url_pattern(&m.url);
            }
        }
    }
    (decoded, compiled)
}

/// A session as the mutators see it: a subject, an identity in `Extra`, captures, a URL.
fn session() -> TemplateData {
    let mut request_header = HeaderMap::new();
    request_header.insert("x-api-key", HeaderValue::from_static("k1"));
    let extra = serde_json::json!({
        "identity": {"id": "i-1", "traits": {"email": "a@b.c", "tags": ["x", "y"]}},
        "scp": ["read", "write"],
        "n": 30,
        "nested": {"a": {"b": null}}
    });
    TemplateData {
        subject: "user-1".into(),
        extra: extra.as_object().cloned().map(std::sync::Arc::new),
        captures: vec!["first".into(), "second".into()],
        url: UrlData {
            scheme: "http".into(),
            host: "h:4455".into(),
            path: "/api/me".into(),
            raw_query: "q=1&q=2".into(),
        },
        method: "GET".into(),
        request_header: Arc::new(request_header),
        ..Default::default()
    }
}

/// The Go-template subset: the text parses or fails, and a parsed template executes against a
/// session and against an empty one to a string or an error. Returns whether the execution
/// against the session succeeded.
pub fn template(text: &str) -> bool {
    let Ok(template) = Template::parse(text) else {
        return false;
    };
    let _ = template.execute_shared(&Arc::new(TemplateData::default()));
    template.execute(&session()).is_ok()
}

/// Templates with one action in each HTML context, and whether the value there is unquoted
/// (no space, `=` or backquote either) and at a URL's start (a scheme other than http, https
/// or mailto is replaced).
const HTML_CONTEXTS: [(&str, bool, bool); 11] = [
    ("<p>{{.}}</p>", false, false),
    ("<title>{{.}}</title>", false, false),
    (r#"<p title="{{.}}">"#, false, false),
    ("<p title='{{.}}'>", false, false),
    ("<p title={{.}}>", true, false),
    (r#"<a href="{{.}}">"#, false, true),
    ("<a href={{.}}>", true, true),
    (r#"<a href="/{{.}}">"#, false, false),
    (r#"<a href="/?q={{.}}">"#, false, false),
    (r#"<img srcset="{{.}}">"#, false, false),
    ("<p {{.}}>", true, false),
];

/// Go's `html/template` (`quartet::template::Template::parse_html`), both ways round. As a
/// template: the text parses or fails with a message — only where it parses as a text
/// template too — and a parsed one executes against hostile data to a string or an error. As
/// data: in every context of [`HTML_CONTEXTS`] the text comes out with no character that could
/// end that context, and at a URL's start with an unsafe scheme as `#ZgotmplZ`. Returns
/// whether the text parsed as an HTML template and executed.
pub fn html_template(text: &str) -> bool {
    for (template, unquoted, url_start) in HTML_CONTEXTS {
        let parsed = HtmlTemplate::parse_html(template);
        let out = parsed
            .and_then(|t| t.execute_json(&serde_json::Value::String(text.into())))
            .unwrap_or_else(|e| panic!("{template}: {e}"));
        let (before, after) = template.split_once("{{.}}").unwrap_or_default();
        let inner = &out[before.len()..out.len() - after.len()];
        assert!(
            !inner.contains(['<', '>', '"', '\'']),
            "{template} on {text:?}: {out}"
        );
        if unquoted {
            assert!(
                !inner.contains([' ', '\t', '\n', '\r', '\u{c}', '=', '`']),
                "{template} on {text:?}: {out}"
            );
        }
        let scheme = text
            .split_once(':')
            .map(|(s, _)| s)
            .filter(|s| !s.contains('/'));
        let unsafe_scheme = scheme.is_some_and(|s| {
            !["http", "https", "mailto"]
                .iter()
                .any(|safe| s.eq_ignore_ascii_case(safe))
        });
        if url_start && unsafe_scheme {
            assert_eq!(inner, "#ZgotmplZ", "{template} on {text:?}");
        }
    }
    let Ok(template) = HtmlTemplate::parse_html(text) else {
        return false;
    };
    assert!(
        HtmlTemplate::parse(text).is_ok(),
        "{text:?} parses as HTML but not as text"
    );
    let hostile = "<script>alert('x')</script>\" onclick=x javascript:x";
    let _ = template.execute_json(&serde_json::Value::String(hostile.into()));
    template
        .execute_json(&serde_json::json!({
            "A": hostile, "B": [hostile, "javascript:x", 1], "C": {"D": hostile}, "N": 3,
        }))
        .is_ok()
}
