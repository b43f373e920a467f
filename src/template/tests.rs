//! Tests of the engine on plain JSON data and on a small object with a method; the proxy's
//! session model is tested in `proxy::template`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{json, Value};

use super::builtins::{Func, FUNCTIONS};
use super::*;

/// The proxy tests' session, as plain JSON.
fn data() -> Value {
    json!({
        "Subject": "user-1",
        "Extra": {"identity": {"traits": {"email": "a@b.c"}}, "scp": ["a", "b"], "n": 30},
    })
}

fn run(t: &str) -> R<String> {
    Template::parse(t)?.execute_json(&data())
}

/// Templates and what they render on the proxy's test session: run here on plain JSON, and by
/// `proxy::template`'s tests on the session object, which must render the same.
pub(crate) const SESSION_CASES: &[(&str, &str)] = &[
    (
        "{{ .Extra | toJson }}",
        r#"{"identity":{"traits":{"email":"a@b.c"}},"n":30,"scp":["a","b"]}"#,
    ),
    ("{{ printf \"%+q\" .Extra.scp }}", r#"["a" "b"]"#),
    ("{{ .Extra.n }}", "30"),
    ("{{ .Extra.missing | default \"anon\" }}", "anon"),
    (
        "{{ if eq .Subject \"user-1\" }}yes{{ else }}no{{ end }}",
        "yes",
    ),
    ("{{ index .Extra.scp 1 }}", "b"),
    ("{{ .Subject | upper }}-{{ lower \"AB\" }}", "USER-1-ab"),
    ("{{- \" x \" | trim -}} !", "x!"),
    ("{{ range .Extra.scp }}[{{ . }}]{{ end }}", "[a][b]"),
    (
        "{{ with .Extra.identity }}{{ .traits.email }}{{ end }}",
        "a@b.c",
    ),
    ("{{/* comment */}}ok", "ok"),
];

#[test]
fn builtins_and_control_flow() {
    for (template, rendered) in SESSION_CASES {
        assert_eq!(run(template).unwrap(), *rendered, "{template}");
    }
}

#[test]
fn each_family_answers_as_go_and_sprig() {
    for (template, want) in [
        (r#"{{ print 1 2 "a" 3 }}"#, "1 2a3"),
        (r#"{{ cat "a" "" "b" }}"#, "a b"),
        (
            r#"{{ printf "%s=%d %t %v %%" "n" 7 true .Extra.scp }}"#,
            "n=7 true [a b] %",
        ),
        (r#"{{ printIndex .Extra.scp 0 }}"#, "a"),
        (
            r#"{{ if and (ne 1 2) (lt 1 2) (ge "b" "a") }}y{{ end }}"#,
            "y",
        ),
        (r#"{{ or 0 "" "x" }}{{ not .Extra.missing }}"#, "xtrue"),
        (
            r#"{{ coalesce .Extra.missing "" "c" }}{{ ternary "t" "f" false }}"#,
            "cf",
        ),
        (
            r#"{{ empty .Extra.scp }}{{ .Extra.scp | toStrings | len }}"#,
            "false2",
        ),
        (r#"{{ fromJson "{\"a\":[1]}" | toJson }}"#, r#"{"a":[1]}"#),
        (
            r#"{{ "é<>" | quote }} {{ squote "x" }} {{ html "<a'>" }}"#,
            r#""é<>" 'x' &lt;a&#39;&gt;"#,
        ),
        (
            r#"{{ b64enc "hi" }} {{ b64dec "aGk=" }} {{ urlquery "a b&" }}"#,
            "aGk= hi a+b%26",
        ),
        (
            r#"{{ title "hello world" }} {{ nospace " a b " }} {{ js "'" }}"#,
            r"Hello World ab \'",
        ),
        (
            r#"{{ trimPrefix "a" "abc" }} {{ trimSuffix "c" "abc" }} {{ trimAll "x" "xax" }}"#,
            "bc ab a",
        ),
        (
            r#"{{ contains "b" "abc" }} {{ hasPrefix "a" "abc" }} {{ hasSuffix "a" "abc" }}"#,
            "true true false",
        ),
        (
            r#"{{ trunc 2 "abc" }} {{ trunc -2 "abc" }} {{ substr 1 2 "abc" }}"#,
            "ab bc b",
        ),
        (
            r#"{{ replace "a" "b" "aa" }} {{ repeat 2 "ab" }}"#,
            "bb abab",
        ),
        (
            r#"{{ add 1 2 }} {{ sub 1 2 }} {{ mul 2 3 }} {{ div 7 2 }} {{ mod 7 2 }} {{ add1 1 }}"#,
            "3 -1 6 3 1 2",
        ),
        (
            r#"{{ int "12" }} {{ int64 3.9 }} {{ float64 "1.5" }}"#,
            "12 3 1.5",
        ),
        (
            r#"{{ join "," .Extra.scp }} {{ splitList "," "a,b" | len }} {{ list 1 "a" }}"#,
            "a,b 2 [1 a]",
        ),
        (
            r#"{{ dict "k" "v" | toJson }} {{ first .Extra.scp }} {{ last .Extra.scp }}"#,
            r#"{"k":"v"} a b"#,
        ),
        (
            r#"{{ has "a" .Extra.scp }} {{ get .Extra "n" }} {{ keys .Extra | len }}"#,
            "true 30 3",
        ),
        (
            r#"{{ index .Extra "identity" "traits" "email" }} {{ len "abc" }}"#,
            "a@b.c 3",
        ),
    ] {
        assert_eq!(run(template).unwrap(), want, "{template}");
    }
    for (template, error) in [
        ("{{ div 1 0 }}", "integer divide by zero"),
        ("{{ len 1 }}", "len of type float64"),
        ("{{ index 1 0 }}", "can't index item of type float64"),
        ("{{ index .Extra.scp 5 }}", "index out of range: 5"),
        (
            "{{ upper }}",
            "wrong number of args for upper: want 1 got 0",
        ),
        ("{{ required \"needed\" .Extra.missing }}", "needed"),
    ] {
        assert_eq!(run(template).unwrap_err().0, error, "{template}");
    }
}

#[test]
fn every_function_has_one_name() {
    for (i, (name, f)) in FUNCTIONS.iter().enumerate() {
        assert_eq!(Func::parse(name), Some(*f), "{name}");
        assert_eq!(f.name(), *name);
        assert!(
            FUNCTIONS[i + 1..].iter().all(|(n, g)| n != name && g != f),
            "{name} twice"
        );
    }
    assert_eq!(FUNCTIONS.len(), 66);
}

#[test]
fn mail_data_as_the_courier_passes_it() {
    let t = Template::parse(
        "Hi {{ .To }}, recover at {{ .RecoveryURL }}{{ if .Identity }} ({{ .Identity.traits.email }}){{ end }}. {{ .Missing }}",
    )
    .unwrap();
    let data = json!({"To": "a@b.c", "RecoveryURL": "https://x/r?t=1", "Identity": null});
    assert_eq!(
        t.execute_json(&data).unwrap(),
        "Hi a@b.c, recover at https://x/r?t=1. <no value>"
    );
    let e = Template::parse("{{ .Identity.traits }}")
        .unwrap()
        .execute_json(&data)
        .unwrap_err();
    assert_eq!(e.0, "nil pointer evaluating interface {}.traits");
}

/// A header map with Go's `Get` method, as a caller's object.
#[derive(Debug, Clone)]
struct Headers(Vec<(&'static str, &'static str)>);

impl Object for Headers {
    fn type_name(&self) -> &'static str {
        "http.Header"
    }
    fn truthy(&self) -> bool {
        !self.0.is_empty()
    }
    fn to_json(&self) -> Value {
        self.0
            .iter()
            .map(|(k, v)| (k.to_string(), json!([v])))
            .collect()
    }
    fn field(&self, name: &str, args: &[Val<Self>]) -> R<Val<Self>> {
        match name {
            "Get" => {
                let key = string_arg(args, "Header.Get")?;
                let found = self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(&key));
                Ok(Val::str(found.map(|(_, v)| *v).unwrap_or_default()))
            }
            _ => {
                no_args(name, args)?;
                Ok(Val::Nil)
            }
        }
    }
    fn length(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

#[test]
fn objects_have_fields_and_methods() {
    let root = Val::Object(Headers(vec![("X-A", "1"), ("X-B", "2")]));
    let render = |t: &str| Template::parse(t).unwrap().execute(&root);
    assert_eq!(render(r#"{{ .Get "x-b" }}"#).unwrap(), "2");
    assert_eq!(
        render(r#"{{ len . }} {{ toJson . }}"#).unwrap(),
        r#"2 {"X-A":["1"],"X-B":["2"]}"#
    );
    assert_eq!(render("{{ . }}").unwrap(), "map[X-A:[1] X-B:[2]]");
    assert_eq!(
        render("{{ .Other 1 }}").unwrap_err().0,
        "Other is not a method but has arguments"
    );
    assert_eq!(
        render("{{ index . 1 }}").unwrap_err().0,
        "can't index item of type http.Header"
    );
    assert_eq!(
        render("{{ range . }}{{ end }}").unwrap_err().0,
        "range can't iterate over map[X-A:[1] X-B:[2]]"
    );
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
    let many =
        format!("{{{{range (list {big})}}}}{{{{range (list 1 2)}}}}{text}{{{{end}}}}{{{{end}}}}");
    let e = run(&many).unwrap_err();
    assert!(e.0.contains("output exceeded"), "{e}");
}
