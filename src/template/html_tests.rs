//! Tests of HTML templates (`html.rs`): tables of template, data and expected output per
//! context — with the attacks each context must stop — and of the templates refused at parse
//! time; the outputs are Go's `html/template`'s.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{json, Value};

use super::*;

fn render(template: &str, data: &Value) -> Result<String, TemplateError> {
    Template::parse_html(template)?.execute_json(data)
}

/// Runs a table of (template, data, expected output).
fn table(cases: &[(&str, Value, &str)]) {
    for (template, data, want) in cases {
        match render(template, data) {
            Ok(got) => assert_eq!(got, *want, "{template} on {data}"),
            Err(e) => panic!("{template} on {data}: {e}"),
        }
    }
}

const SCRIPT: &str = "<script>alert('x')</script>";

#[test]
fn html_text_and_rcdata() {
    table(&[
        (
            "<p>{{.}}</p>",
            json!(SCRIPT),
            "<p>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</p>",
        ),
        ("{{.}}", json!("a+b & \"c\"\u{0}"), "a&#43;b &amp; &#34;c&#34;\u{FFFD}"),
        // nil is "", not `<no value>`; other values are Go's %v, then escaped
        ("[{{.Missing}}] {{.N}} {{.L}}", json!({"N": 30, "L": ["<a>", 1]}), "[] 30 [&lt;a&gt; 1]"),
        ("{{.Identity}}", json!({"Identity": null}), ""),
        (
            "<title>{{.}}</title><textarea>{{.}}</textarea>",
            json!("</title><script>"),
            "<title>&lt;/title&gt;&lt;script&gt;</title><textarea>&lt;/title&gt;&lt;script&gt;</textarea>",
        ),
        // functions run before the escaping
        (r#"{{ printf "<%s>" . | upper }}"#, json!("b"), "&lt;B&gt;"),
        (r#"{{ if eq . "<" }}{{ . }}{{ end }}"#, json!("<"), "&lt;"),
        ("{{range .}}<li>{{.}}</li>{{end}}", json!(["<a>", "b"]), "<li>&lt;a&gt;</li><li>b</li>"),
        ("{{with .A}}<b>{{.B}}</b>{{else}}none{{end}}", json!({"A": {"B": "<"}}), "<b>&lt;</b>"),
    ]);
}

#[test]
fn literal_text_is_rewritten_as_go_does() {
    table(&[
        // comments are dropped, and an action in one writes nothing
        ("a<!-- b {{.}} -->c<!---->d", json!(SCRIPT), "acd"),
        ("<!--[if mso]><p>x</p><![endif]-->y", json!(null), "y"),
        // a `<` that starts no tag is escaped, `<!DOCTYPE` kept
        (
            "<!DOCTYPE html>1 < 2, a<{{.}}",
            json!("b"),
            "<!DOCTYPE html>1 &lt; 2, a&lt;b",
        ),
        ("x </ {{.}}", json!("b"), "x &lt;/ b"),
        ("<title>a<b</title>", json!(null), "<title>a&lt;b</title>"),
        // script and style bodies without actions pass through
        (
            "<style>p < b { color: red }</style><script>if (a < b) x()</script>{{.}}",
            json!("<"),
            "<style>p < b { color: red }</style><script>if (a < b) x()</script>&lt;",
        ),
        (
            "<SCRIPT>x</SCRIPT >{{.}}",
            json!("<"),
            "<SCRIPT>x</SCRIPT >&lt;",
        ),
    ]);
}

#[test]
fn attribute_values() {
    table(&[
        // quotes breaking out of an attribute
        (
            r#"<p title="{{.}}">"#,
            json!(r#"" onmouseover="alert(1)"#),
            r#"<p title="&#34; onmouseover=&#34;alert(1)">"#,
        ),
        (
            "<p title='{{.}}'>",
            json!("' onclick='x"),
            "<p title='&#39; onclick=&#39;x'>",
        ),
        (
            r#"<p title="x{{.}}y" class=a>"#,
            json!("<b>&amp;"),
            r#"<p title="x&lt;b&gt;&amp;amp;y" class=a>"#,
        ),
        // `{{.}}` in an unquoted attribute: space, `=`, `>` and backquote escaped too
        (
            "<p title={{.}}>",
            json!("x onmouseover=alert(1)>`"),
            "<p title=x&#32;onmouseover&#61;alert(1)&gt;&#96;>",
        ),
        ("<p title={{.}} id=a>", json!(""), "<p title=ZgotmplZ id=a>"),
        ("<p title=a{{.}}>", json!("\t\n"), "<p title=a&#9;&#10;>"),
        // a `type`/`value` kind of attribute is plain text to the escaper
        (
            r#"<input value="{{.}}" type=text>"#,
            json!("\"><x"),
            r#"<input value="&#34;&gt;&lt;x" type=text>"#,
        ),
        // branches that leave a value unquoted or not started join
        (
            "<p title={{if .A}}{{.A}}{{end}}>",
            json!({"A": "a b"}),
            "<p title=a&#32;b>",
        ),
        ("<p title={{if .A}}{{.A}}{{end}}>", json!({}), "<p title=>"),
        // an attribute added by a branch right after a name
        (
            "<input checked{{if .A}} disabled{{end}} value={{.A}}>",
            json!({"A": "<"}),
            "<input checked disabled value=&lt;>",
        ),
    ]);
}

#[test]
fn url_attributes() {
    table(&[
        // the scheme is filtered at a URL's start
        (
            r#"<a href="{{.}}">"#,
            json!("javascript:alert(1)"),
            r##"<a href="#ZgotmplZ">"##,
        ),
        (
            r#"<a href="{{.}}">"#,
            json!("JavaScript:alert(1)"),
            r##"<a href="#ZgotmplZ">"##,
        ),
        (
            r#"<a href="{{.}}">"#,
            json!(" javascript:alert(1)"),
            r##"<a href="#ZgotmplZ">"##,
        ),
        (
            r#"<a href="{{.}}">"#,
            json!("data:text/html,<script>"),
            r##"<a href="#ZgotmplZ">"##,
        ),
        (
            r#"<a href="{{.}}">"#,
            json!("vbscript:x"),
            r##"<a href="#ZgotmplZ">"##,
        ),
        (
            r#"<img src="{{.}}">"#,
            json!("javascript:x"),
            r##"<img src="#ZgotmplZ">"##,
        ),
        (
            r#"<form action="{{.}}">"#,
            json!("javascript:x"),
            r##"<form action="#ZgotmplZ">"##,
        ),
        (
            r#"<p data-url="{{.}}">"#,
            json!("javascript:x"),
            r##"<p data-url="#ZgotmplZ">"##,
        ),
        (
            r#"<a xlink:href="{{.}}">"#,
            json!("javascript:x"),
            r##"<a xlink:href="#ZgotmplZ">"##,
        ),
        // … and kept for http, https, mailto and relative URLs, normalized and escaped
        (
            r#"<a href="{{.}}">"#,
            json!("https://x/r?t=1&a=b c\"'<>"),
            r#"<a href="https://x/r?t=1&amp;a=b%20c%22%27%3c%3e">"#,
        ),
        (
            r#"<a href="{{.}}">"#,
            json!("HTTP://x/%41%zz"),
            r#"<a href="HTTP://x/%41%25zz">"#,
        ),
        (
            r#"<a href="{{.}}">"#,
            json!("mailto:a@b.c"),
            r#"<a href="mailto:a@b.c">"#,
        ),
        (
            r#"<a href="{{.}}">"#,
            json!("/a:b/c"),
            r#"<a href="/a:b/c">"#,
        ),
        (r#"<a href="{{.}}">"#, json!("é"), r#"<a href="%c3%a9">"#),
        (r#"<a href={{.}}>"#, json!("/a b"), "<a href=/a%20b>"),
        // after literal text the scheme is the template's: normalized only
        (
            r#"<a href="/u/{{.}}">"#,
            json!("javascript:x y"),
            r#"<a href="/u/javascript:x%20y">"#,
        ),
        // in the query or fragment everything reserved is escaped
        (
            r#"<a href="/search?q={{.}}&amp;r={{.}}">"#,
            json!("O'Reilly & co/?#"),
            r#"<a href="/search?q=O%27Reilly%20%26%20co%2f%3f%23&amp;r=O%27Reilly%20%26%20co%2f%3f%23">"#,
        ),
        (
            r##"<a href="#{{.}}">"##,
            json!("a b"),
            r##"<a href="#a%20b">"##,
        ),
        // a `?` written as a character reference counts as one
        (
            r#"<a href="/x&#63;q={{.}}">"#,
            json!("a&b"),
            r#"<a href="/x&#63;q=a%26b">"#,
        ),
        // leading space or control characters written as references leave the start open
        (
            r#"<a href="&#32;{{.}}">"#,
            json!("javascript:x"),
            r##"<a href="&#32;#ZgotmplZ">"##,
        ),
        // the courier's recovery mail
        (
            r#"<a href="{{ .RecoveryURL }}">{{ .RecoveryURL }}</a>"#,
            json!({"RecoveryURL": "https://x/self-service/recovery?flow=1&token=a b"}),
            r#"<a href="https://x/self-service/recovery?flow=1&amp;token=a%20b">https://x/self-service/recovery?flow=1&amp;token=a b</a>"#,
        ),
        // branches that agree on the URL part
        (
            r#"<a href="{{if .A}}/a{{else}}/b{{end}}/{{.B}}">"#,
            json!({"A": true, "B": "javascript:x"}),
            r#"<a href="/a/javascript:x">"#,
        ),
    ]);
}

#[test]
fn srcset_names_and_predefined_escapers() {
    table(&[
        (
            r#"<img srcset="{{.}}">"#,
            json!("/a.png 1x, javascript:alert(1) 2x, /c.png 100w, /d.png 1.5x, /e f.png"),
            r##"<img srcset="/a.png 1x,#ZgotmplZ, /c.png 100w,#ZgotmplZ,#ZgotmplZ">"##,
        ),
        (
            r#"<img srcset="{{.}}">"#,
            json!(" /a%zz\".png"),
            r#"<img srcset=" /a%25zz%22.png">"#,
        ),
        // an action where an attribute name goes: plain names only
        ("<input {{.}}>", json!("Checked"), "<input checked>"),
        ("<input {{.}}>", json!("onclick"), "<input ZgotmplZ>"),
        ("<input {{.}}>", json!("href"), "<input ZgotmplZ>"),
        ("<input {{.}}>", json!("type"), "<input ZgotmplZ>"),
        ("<input {{.}}>", json!("a=b"), "<input ZgotmplZ>"),
        ("<input {{.}}>", json!(""), "<input ZgotmplZ>"),
        (
            r#"<input {{.K}}="{{.V}}">"#,
            json!({"K": "title", "V": "\""}),
            r#"<input title="&#34;">"#,
        ),
        (
            "<input checked {{.}}>",
            json!("disabled"),
            "<input checked disabled>",
        ),
        // a trailing `html` or `urlquery` stands in for the escaper it equals
        (
            "<p>{{ .X | html }}</p>",
            json!({"X": "<a+b>"}),
            "<p>&lt;a+b&gt;</p>",
        ),
        (
            "<p>{{ html .X }}</p>",
            json!({"X": "<'>"}),
            "<p>&lt;&#39;&gt;</p>",
        ),
        (
            r#"<p title="{{ . | html }}">"#,
            json!("\"+"),
            r#"<p title="&#34;+">"#,
        ),
        (
            r#"<a href="?q={{ . | urlquery }}">"#,
            json!("a b&"),
            r#"<a href="?q=a&#43;b%26">"#,
        ),
        (
            r#"<a href="/{{ . | urlquery }}">"#,
            json!("a:b/c"),
            r#"<a href="/a%3Ab%2Fc">"#,
        ),
        (
            r#"<a href="{{ . | urlquery }}">"#,
            json!("javascript:x"),
            r#"<a href="%23ZgotmplZ">"#,
        ),
        // … and is escaped like any value where none is equal
        (
            "<p>{{ . | urlquery }}</p>",
            json!("a b&<"),
            "<p>a&#43;b%26%3C</p>",
        ),
    ]);
}

#[test]
fn templates_that_cannot_be_escaped_are_refused_at_parse_time() {
    for (template, error) in [
        // JavaScript and CSS contexts
        ("<script>var x = {{.}};</script>", "is in <script>"),
        (
            "<script type=text/template>{{.}}</script>",
            "is in <script>",
        ),
        ("<style>p { color: {{.}} }</style>", "is in <style>"),
        (r#"<a onclick="f({{.}})">"#, "event handler (JavaScript)"),
        ("<a onmouseover={{.}}>", "event handler (JavaScript)"),
        (r#"<p data-onclick="{{.}}">"#, "event handler (JavaScript)"),
        (r#"<p style="color: {{.}}">"#, "style (CSS)"),
        (r#"<iframe srcdoc="{{.}}">"#, "srcdoc (HTML)"),
        ("<script><!--</script>", "`<!--` inside <script>"),
        // a URL whose part depends on a branch
        (
            r#"<a href="{{if .A}}/?{{end}}{{.B}}">"#,
            "ambiguous context within a URL",
        ),
        // branches ending in different contexts
        (
            r#"{{if .A}}<a href="{{end}}x"#,
            "branches end in different HTML contexts",
        ),
        (
            "{{if .A}}<p{{else}}<b>{{end}}",
            "branches end in different HTML contexts",
        ),
        (
            "{{with .A}}<!--{{end}}",
            "branches end in different HTML contexts",
        ),
        (
            "{{range .}}<!--{{end}}",
            "branches end in different HTML contexts",
        ),
        // the template ends inside a tag, a value, a comment or a special element
        (
            r#"<a href="{{.}}"#,
            "ends inside a double-quoted URL attribute value",
        ),
        ("<p", "ends inside a tag"),
        ("<!-- x", "ends inside an HTML comment"),
        ("<title>x", "ends inside <title>"),
        ("<script>", "ends inside <script>"),
        // bad HTML where the context would be a guess
        ("<p title=a\"b>", "in an unquoted attribute value"),
        ("<p title=a=b>", "in an unquoted attribute value"),
        (r#"<p a"b=1>"#, "in an attribute name"),
        (
            "<p =x>",
            "expected space, an attribute name or the end of a tag",
        ),
        // attribute names split by an action
        ("<a on{{.}}=alert(1)>", "continues an attribute name"),
        (
            "<a {{.}}click=alert(1)>",
            "an attribute name continues after an action",
        ),
        ("<a {{.}}{{.}}>", "continues an attribute name"),
        // predefined escapers anywhere but at a pipeline's end
        (
            "{{ . | html | upper }}",
            "predefined escaper \"html\" disallowed",
        ),
        (
            "{{ urlquery . | upper }}",
            "predefined escaper \"urlquery\" disallowed",
        ),
        (
            "<p title={{ . | html }}>",
            "predefined escaper \"html\" disallowed",
        ),
        // the text template's own errors come first
        ("{{ nosuchfunc . }}", "not defined"),
    ] {
        let e = Template::parse_html(template).unwrap_err();
        assert!(e.0.contains(error), "{template}: {e}");
    }
}

#[test]
fn range_bodies_are_escaped_the_same_on_every_iteration() {
    // the first iteration ends in the query, where a second would start
    let e = Template::parse_html(r#"<a href="{{range .}}{{.}}?{{end}}">"#).unwrap_err();
    assert!(e.0.contains("second iteration"), "{e}");
    // a body that returns to where it began is fine, nested too
    table(&[(
        "{{range .}}<ul>{{range .}}<li title={{.}}>{{.}}</li>{{end}}</ul>{{end}}",
        json!([["a b", "<"], []]),
        "<ul><li title=a&#32;b>a b</li><li title=&lt;>&lt;</li></ul><ul></ul>",
    )]);
    // a body that moves the URL part but lands where a second iteration escapes the same
    table(&[(
        r#"<a href="/x?{{range .}}a={{.}}&amp;{{end}}">"#,
        json!(["1 2", "&"]),
        r#"<a href="/x?a=1%202&amp;a=%26&amp;">"#,
    )]);
}

#[test]
fn text_templates_are_unchanged() {
    // the same text parsed as a text template escapes nothing
    let t = Template::parse("<p>{{.}}</p><!-- c -->").unwrap();
    assert_eq!(
        t.execute_json(&json!(SCRIPT)).unwrap(),
        format!("<p>{SCRIPT}</p><!-- c -->")
    );
}

#[test]
fn escaping_work_is_bounded() {
    // nested ranges whose bodies move the URL part are read twice each
    let nested = r#"<a href="/"#.to_string()
        + &"{{range .}}x?".repeat(MAX_NESTING - 2)
        + &"{{end}}".repeat(MAX_NESTING - 2)
        + r#"">"#;
    let started = std::time::Instant::now();
    assert!(Template::parse_html(&nested).is_ok());
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let e = Template::parse_html(&"<b>".repeat(MAX_ESCAPE_WORK / 3 + 1)).unwrap_err();
    assert!(e.0.contains("too complex"), "{e}");
}

/// Escaped output never holds a character that could end the context it stands in.
#[test]
fn escaped_values_hold_no_markup() {
    let hostile = [
        SCRIPT,
        "\"'<>`= \t\n&",
        "javascript:alert(1)",
        "x\u{0}y",
        "%zz%41",
        "a,b c,d",
        "",
    ];
    // (template, whether the value there is unquoted)
    for (template, unquoted) in [
        ("<p>{{.}}</p>", false),
        ("<title>{{.}}</title>", false),
        (r#"<p title="{{.}}">"#, false),
        ("<p title='{{.}}'>", false),
        ("<p title={{.}}>", true),
        (r#"<a href="{{.}}">"#, false),
        (r#"<a href="/{{.}}">"#, false),
        (r#"<a href="?{{.}}">"#, false),
        ("<a href={{.}}>", true),
        (r#"<img srcset="{{.}}">"#, false),
        ("<p {{.}}>", true),
    ] {
        let t = Template::parse_html(template).unwrap();
        let (before, after) = template.split_once("{{.}}").unwrap();
        for value in hostile {
            let out = t.execute_json(&json!(value)).unwrap();
            let inner = &out[before.len()..out.len() - after.len()];
            assert!(
                !inner.contains(['<', '>', '"', '\'']),
                "{template} with {value:?}: {out}"
            );
            if unquoted {
                assert!(
                    !inner.contains([' ', '\t', '\n', '=', '`']),
                    "{template} with {value:?}: {out}"
                );
            }
        }
    }
}

/// Templates put together from fragments of every context (a fixed pseudo-random sequence):
/// each parses as HTML only where it parses as text, executes without panicking, and data
/// never brings a raw `<`, `"` or `'` along (the marker `\u{7}` in the data is never followed
/// by one in the output).
#[test]
fn assembled_templates_keep_data_inert() {
    const FRAGMENTS: &[&str] = &[
        "{{.}}",
        "{{.A}}",
        "{{.B}}",
        "{{ . | html }}",
        "{{ urlquery .A }}",
        "{{ printf \"%s\" .A }}",
        "{{if .A}}",
        "{{else}}",
        "{{end}}",
        "{{range .L}}",
        "{{with .A}}",
        "{{/* c */}}",
        "<p>",
        "</p>",
        "<a href=\"",
        "<a href=",
        "<a href='/x?",
        "\"",
        "'",
        ">",
        " ",
        "=",
        "<p title=",
        "<img srcset=\"",
        "<input ",
        "checked",
        "<!--",
        "-->",
        "<title>",
        "</title>",
        "<script>",
        "</script>",
        "<style>",
        "</style>",
        "<",
        "</",
        "/",
        "?",
        "#",
        "&amp;",
        "&#63;",
        "x",
        "javascript:",
        "<p onclick=\"",
        "<p style=",
        "<!DOCTYPE html>",
        "<b ",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let data = [
        json!("\u{7}<x\"'`= y"),
        json!({"A": "\u{7}\"z", "B": "\u{7}'z", "L": ["\u{7}<z", "javascript:\u{7}z"]}),
    ];
    let (mut parsed, mut refused) = (0, 0);
    for _ in 0..20_000 {
        let n = 1 + (next() % 16) as usize;
        let text: String = (0..n)
            .map(|_| FRAGMENTS[(next() % FRAGMENTS.len() as u64) as usize])
            .collect();
        let Ok(t) = Template::parse_html(&text) else {
            refused += 1;
            continue;
        };
        parsed += 1;
        assert!(Template::parse(&text).is_ok(), "{text}");
        for d in &data {
            if let Ok(out) = t.execute_json(d) {
                for bad in ["\u{7}<", "\u{7}\"", "\u{7}'"] {
                    assert!(!out.contains(bad), "{text} on {d}: {out}");
                }
            }
        }
    }
    assert!(
        parsed > 500 && refused > 1000,
        "{parsed} parsed, {refused} refused"
    );
}
