//! Corpus and snapshot tests of the OPL front end (`tests/data/permission/opl/{valid,invalid}/*.ts`;
//! the larger snapshots in `tests/data/permission/opl/snapshots/`).
//!
//! Snapshots use `expect-test`: run `UPDATE_EXPECT=1 cargo test` to refresh them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use expect_test::{expect, expect_file, Expect};

use super::*;

fn corpus_dir(kind: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/permission/opl")
        .join(kind)
}

fn read(kind: &str, name: &str) -> String {
    let path = corpus_dir(kind).join(format!("{name}.ts"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn corpus(kind: &str) -> Vec<(String, String)> {
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir(kind))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ts"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// Renders everything a user or client would see for a file.
fn render_all(file: &str, src: &str, parsed: &Parsed) -> String {
    let mut out = String::new();
    for d in parsed.errors.iter().chain(&parsed.warnings) {
        out.push_str(&render_diagnostic(file, src, d));
    }
    out.push_str(&parsed.syntax_check_result_json_for_test());
    out.push('\n');
    out
}

impl Parsed {
    fn syntax_check_result_json_for_test(&self) -> String {
        serde_json::to_string(&self.syntax_check_result()).unwrap()
    }
}

fn check_invalid(name: &str, expect: Expect) {
    let src = read("invalid", name);
    let parsed = parse(&src);
    assert!(!parsed.errors.is_empty(), "{name} should not parse");
    assert!(parsed.schema().is_none());
    expect.assert_eq(&render_all(&format!("{name}.ts"), &src, &parsed));
}

/// Every invalid corpus file has a snapshot test below (the list is kept in sync by hand).
const INVALID_FILES: &[&str] = &[
    "array_trailing_comma",
    "bad_token_in_expression",
    "bad_token_top_level",
    "cross_file_reference",
    "empty_permit_body",
    "equality_expression",
    "keyword_as_name",
    "nested_too_deeply",
    "non_ascii_identifier",
    "operand_after_group",
    "or_inside_traverse",
    "related_with_assign",
    "return_block_body",
    "semicolon_after_permit",
    "subject_set_missing_comma",
    "traverse_on_undeclared_relation",
    "traverse_subject_set_cycle",
    "traverse_target_missing",
    "traverse_wrong_argument",
    "unclosed_comment",
    "unclosed_string",
    "unknown_namespace_in_subject_set",
    "unknown_permit",
    "unknown_relation_in_includes",
    "unknown_relation_in_subject_set",
    "unknown_type_namespace",
    "unterminated_class",
    "wrong_property",
];

#[test]
fn every_invalid_corpus_file_has_a_snapshot() {
    let on_disk: Vec<String> = corpus("invalid").into_iter().map(|(n, _)| n).collect();
    let listed: Vec<String> = INVALID_FILES.iter().map(|s| s.to_string()).collect();
    assert_eq!(on_disk, listed);
}

#[test]
fn invalid_array_trailing_comma() {
    check_invalid(
        "array_trailing_comma",
        expect![[r#"
        array_trailing_comma.ts:4:24: expected identifier or '}', got "," ","
                owners: Array<User>,
                                   ^
        {"errors":[{"message":"expected identifier or '}', got \",\" \",\"","start":{"Line":4,"column":23},"end":{"Line":4,"column":24}}]}
    "#]],
    );
}

#[test]
fn invalid_bad_token_in_expression() {
    check_invalid(
        "bad_token_in_expression",
        expect![[r#"
        bad_token_in_expression.ts:5:62: expected "this", got "at \"* 2,\\n  }\\n}\\n\": unexpected token *"
                view: (ctx) => this.related.owners.includes(ctx.subject) * 2,
                                                                         ^
        {"errors":[{"message":"expected \"this\", got \"at \\\"* 2,\\\\n  }\\\\n}\\\\n\\\": unexpected token *\"","start":{"Line":5,"column":61},"end":{"Line":5,"column":61}}]}
    "#]],
    );
}

#[test]
fn invalid_bad_token_top_level() {
    check_invalid(
        "bad_token_top_level",
        expect![[r##"
        bad_token_top_level.ts:2:1: fatal: at "# not a comment\n": unexpected token #
            # not a comment
            ^
        {"errors":[{"message":"fatal: at \"# not a comment\\n\": unexpected token #","start":{"Line":1,"column":35},"end":{"Line":1,"column":35}}]}
    "##]],
    );
}

#[test]
fn invalid_cross_file_reference() {
    check_invalid(
        "cross_file_reference",
        expect![[r#"
        cross_file_reference.ts:3:22: namespace "User" was not declared
              related: { owners: User[] }
                                 ^~~~
        {"errors":[{"message":"namespace \"User\" was not declared","start":{"Line":3,"column":21},"end":{"Line":3,"column":25}}]}
    "#]],
    );
}

#[test]
fn invalid_empty_permit_body() {
    check_invalid(
        "empty_permit_body",
        expect![[r#"
        empty_permit_body.ts:6:5: expected 'permits' or 'related', got "edit"
                edit: (ctx) => this.related.owners.includes(ctx.subject),
                ^~~~
        {"errors":[{"message":"expected 'permits' or 'related', got \"edit\"","start":{"Line":6,"column":4},"end":{"Line":6,"column":8}}]}
    "#]],
    );
}

#[test]
fn invalid_equality_expression() {
    check_invalid(
        "equality_expression",
        expect![[r#"
        equality_expression.ts:5:25: expected ".", got "="
                view: (ctx) => this == ctx.subject,
                                    ^
        {"errors":[{"message":"expected \".\", got \"=\"","start":{"Line":5,"column":24},"end":{"Line":5,"column":25}}]}
    "#]],
    );
}

#[test]
fn invalid_keyword_as_name() {
    check_invalid(
        "keyword_as_name",
        expect![[r#"
        keyword_as_name.ts:1:7: expected identifier, got KeywordThis
            class this implements Namespace {}
                  ^~~~
        {"errors":[{"message":"expected identifier, got KeywordThis","start":{"Line":1,"column":6},"end":{"Line":1,"column":10}}]}
    "#]],
    );
}

#[test]
fn invalid_nested_too_deeply() {
    check_invalid(
        "nested_too_deeply",
        expect![[r#"
        nested_too_deeply.ts:5:30: expression nested too deeply; maximal nesting depth is 10
                view: (ctx) => ((((((((((this.related.owners.includes(ctx.subject)))))))))),
                                         ^~~~
        {"errors":[{"message":"expression nested too deeply; maximal nesting depth is 10","start":{"Line":5,"column":29},"end":{"Line":5,"column":33}}]}
    "#]],
    );
}

#[test]
fn invalid_non_ascii_identifier() {
    check_invalid(
        "non_ascii_identifier",
        expect![[r#"
        non_ascii_identifier.ts:2:14: expected identifier or '}', got Error "at \"été: User[] }\\n}\\n\": unexpected token é"
              related: { été: User[] }
                         ^
        {"errors":[{"message":"expected identifier or '}', got Error \"at \\\"été: User[] }\\\\n}\\\\n\\\": unexpected token é\"","start":{"Line":2,"column":13},"end":{"Line":2,"column":13}}]}
    "#]],
    );
}

#[test]
fn invalid_operand_after_group() {
    check_invalid(
        "operand_after_group",
        expect![[r#"
        operand_after_group.ts:5:64: did not expect another expression
                view: (ctx) => (this.related.owners.includes(ctx.subject)) this.related.editors.includes(ctx.subject),
                                                                           ^~~~
        {"errors":[{"message":"did not expect another expression","start":{"Line":5,"column":63},"end":{"Line":5,"column":67}}]}
    "#]],
    );
}

#[test]
fn invalid_or_inside_traverse() {
    check_invalid(
        "or_inside_traverse",
        expect![[r#"
        or_inside_traverse.ts:5:96: expected ")", got "||"
                view: (ctx) => this.related.parents.traverse((p) => p.related.owners.includes(ctx.subject) || p.related.editors.includes(ctx.subject)),
                                                                                                           ^~
        {"errors":[{"message":"expected \")\", got \"||\"","start":{"Line":5,"column":95},"end":{"Line":5,"column":97}}]}
    "#]],
    );
}

#[test]
fn invalid_related_with_assign() {
    check_invalid(
        "related_with_assign",
        expect![[r#"
        related_with_assign.ts:3:11: expected ":", got "="
              related = {
                      ^
        {"errors":[{"message":"expected \":\", got \"=\"","start":{"Line":3,"column":10},"end":{"Line":3,"column":11}}]}
    "#]],
    );
}

#[test]
fn invalid_return_block_body() {
    check_invalid(
        "return_block_body",
        expect![[r#"
        return_block_body.ts:5:38: expected "this", got "{"
                view: (ctx: Context): boolean => {
                                                 ^
        {"errors":[{"message":"expected \"this\", got \"{\"","start":{"Line":5,"column":37},"end":{"Line":5,"column":38}}]}
    "#]],
    );
}

#[test]
fn invalid_semicolon_after_permit() {
    check_invalid(
        "semicolon_after_permit",
        expect![[r#"
        semicolon_after_permit.ts:5:61: expected "this", got ";"
                view: (ctx) => this.related.owners.includes(ctx.subject);
                                                                        ^
        {"errors":[{"message":"expected \"this\", got \";\"","start":{"Line":5,"column":60},"end":{"Line":5,"column":61}}]}
    "#]],
    );
}

#[test]
fn invalid_subject_set_missing_comma() {
    check_invalid(
        "subject_set_missing_comma",
        expect![[r#"
        subject_set_missing_comma.ts:4:39: expected ",", got "members"
                viewers: (User | SubjectSet<User "members">)[]
                                                  ^~~~~~~
        subject_set_missing_comma.ts:4:47: expected '|', got ">"
                viewers: (User | SubjectSet<User "members">)[]
                                                          ^
        {"errors":[{"message":"expected \",\", got \"members\"","start":{"Line":4,"column":38},"end":{"Line":4,"column":45}},{"message":"expected '|', got \">\"","start":{"Line":4,"column":46},"end":{"Line":4,"column":47}}]}
    "#]],
    );
}

#[test]
fn invalid_traverse_on_undeclared_relation() {
    check_invalid(
        "traverse_on_undeclared_relation",
        expect![[r#"
        traverse_on_undeclared_relation.ts:5:51: relation "parents" was not declared in namespace "Doc"
                view: (ctx: Context): boolean => this.related.parents.traverse((p) => p.permits.view(ctx)),
                                                              ^~~~~~~
        traverse_on_undeclared_relation.ts:5:51: namespace "Doc" did not declare relation "parents"
                view: (ctx: Context): boolean => this.related.parents.traverse((p) => p.permits.view(ctx)),
                                                              ^~~~~~~
        {"errors":[{"message":"relation \"parents\" was not declared in namespace \"Doc\"","start":{"Line":5,"column":50},"end":{"Line":5,"column":57}},{"message":"namespace \"Doc\" did not declare relation \"parents\"","start":{"Line":5,"column":50},"end":{"Line":5,"column":57}}]}
    "#]],
    );
}

#[test]
fn invalid_traverse_subject_set_cycle() {
    check_invalid(
        "traverse_subject_set_cycle",
        expect![[r#"
        traverse_subject_set_cycle.ts:7:33: could not typecheck deeply nested SubjectSet further
                view: (ctx) => this.related.parents.traverse(p => p.permits.view(ctx)),
                                            ^~~~~~~
        {"errors":[{"message":"could not typecheck deeply nested SubjectSet further","start":{"Line":7,"column":32},"end":{"Line":7,"column":39}}]}
    "#]],
    );
}

#[test]
fn invalid_traverse_target_missing() {
    check_invalid(
        "traverse_target_missing",
        expect![[r#"
        traverse_target_missing.ts:8:51: relation "view" was not declared in namespace "Folder"
                view: (ctx: Context): boolean => this.related.parents.traverse((p) => p.permits.view(ctx)),
                                                              ^~~~~~~
        traverse_target_missing.ts:8:51: relation "view" was not declared in namespace "User"
                view: (ctx: Context): boolean => this.related.parents.traverse((p) => p.permits.view(ctx)),
                                                              ^~~~~~~
        {"errors":[{"message":"relation \"view\" was not declared in namespace \"Folder\"","start":{"Line":8,"column":50},"end":{"Line":8,"column":57}},{"message":"relation \"view\" was not declared in namespace \"User\"","start":{"Line":8,"column":50},"end":{"Line":8,"column":57}}]}
    "#]],
    );
}

#[test]
fn invalid_traverse_wrong_argument() {
    check_invalid(
        "traverse_wrong_argument",
        expect![[r#"
        traverse_wrong_argument.ts:5:57: expected "p", got "q"
                view: (ctx) => this.related.parents.traverse((p) => q.permits.view(ctx)),
                                                                    ^
        traverse_wrong_argument.ts:1:1: expected 'related' or 'permits', got "error: "
            class User implements Namespace {}
            ^
        {"errors":[{"message":"expected \"p\", got \"q\"","start":{"Line":5,"column":56},"end":{"Line":5,"column":57}},{"message":"expected 'related' or 'permits', got \"error: \"","start":{"Line":1,"column":1},"end":{"Line":1,"column":1}}]}
    "#]],
    );
}

#[test]
fn invalid_unclosed_comment() {
    check_invalid(
        "unclosed_comment",
        expect![[r#"
        unclosed_comment.ts:2:1: fatal: at "": unclosed comment
            /* the rest of the file
            ^~~~~~~~~~~~~~~~~~~~~~~
        {"errors":[{"message":"fatal: at \"\": unclosed comment","start":{"Line":1,"column":35},"end":{"Line":3,"column":17}}]}
    "#]],
    );
}

#[test]
fn invalid_unclosed_string() {
    check_invalid(
        "unclosed_string",
        expect![[r#"
        unclosed_string.ts:1:1: expected ">", got "broken state"
            class User implements Namespace {}
            ^
        unclosed_string.ts:4:32: warning: the input cannot be read past this point: at "": unclosed string literal
                viewers: SubjectSet<User, "members>[]
                                           ^~~~~~~~~~
        {"errors":[{"message":"expected \">\", got \"broken state\"","start":{"Line":1,"column":1},"end":{"Line":1,"column":1}}]}
    "#]],
    );
}

#[test]
fn invalid_unknown_namespace_in_subject_set() {
    check_invalid(
        "unknown_namespace_in_subject_set",
        expect![[r#"
        unknown_namespace_in_subject_set.ts:4:33: namespace "Team" was not declared
                viewers: (User | SubjectSet<Team, "members">)[]
                                            ^~~~
        {"errors":[{"message":"namespace \"Team\" was not declared","start":{"Line":4,"column":32},"end":{"Line":4,"column":36}}]}
    "#]],
    );
}

#[test]
fn invalid_unknown_permit() {
    check_invalid(
        "unknown_permit",
        expect![[r#"
        unknown_permit.ts:5:51: namespace "Doc" did not declare relation "edit"
                view: (ctx: Context): boolean => this.permits.edit(ctx) || this.related.owners.includes(ctx.subject),
                                                              ^~~~
        {"errors":[{"message":"namespace \"Doc\" did not declare relation \"edit\"","start":{"Line":5,"column":50},"end":{"Line":5,"column":54}}]}
    "#]],
    );
}

#[test]
fn invalid_unknown_relation_in_includes() {
    check_invalid(
        "unknown_relation_in_includes",
        expect![[r#"
        unknown_relation_in_includes.ts:5:51: namespace "Doc" did not declare relation "viewers"
                view: (ctx: Context): boolean => this.related.viewers.includes(ctx.subject),
                                                              ^~~~~~~
        {"errors":[{"message":"namespace \"Doc\" did not declare relation \"viewers\"","start":{"Line":5,"column":50},"end":{"Line":5,"column":57}}]}
    "#]],
    );
}

#[test]
fn invalid_unknown_relation_in_subject_set() {
    check_invalid(
        "unknown_relation_in_subject_set",
        expect![[r#"
        unknown_relation_in_subject_set.ts:7:33: namespace "Group" did not declare relation "admins"
                viewers: SubjectSet<Group, "admins">[]
                                            ^~~~~~
        {"errors":[{"message":"namespace \"Group\" did not declare relation \"admins\"","start":{"Line":7,"column":32},"end":{"Line":7,"column":38}}]}
    "#]],
    );
}

#[test]
fn invalid_unknown_type_namespace() {
    check_invalid(
        "unknown_type_namespace",
        expect![[r#"
        unknown_type_namespace.ts:3:13: namespace "Person" was not declared
                owners: Person[]
                        ^~~~~~
        unknown_type_namespace.ts:4:20: namespace "Person" was not declared
                editors: Array<Person | User>
                               ^~~~~~
        unknown_type_namespace.ts:4:29: namespace "User" was not declared
                editors: Array<Person | User>
                                        ^~~~
        {"errors":[{"message":"namespace \"Person\" was not declared","start":{"Line":3,"column":12},"end":{"Line":3,"column":18}},{"message":"namespace \"Person\" was not declared","start":{"Line":4,"column":19},"end":{"Line":4,"column":25}},{"message":"namespace \"User\" was not declared","start":{"Line":4,"column":28},"end":{"Line":4,"column":32}}]}
    "#]],
    );
}

#[test]
fn invalid_unterminated_class() {
    check_invalid(
        "unterminated_class",
        expect![[r#"
        unterminated_class.ts:5:1: expected 'permits' or 'related', got ""
    
            ^
        {"errors":[{"message":"expected 'permits' or 'related', got \"\"","start":{"Line":4,"column":4},"end":{"Line":4,"column":4}}]}
    "#]],
    );
}

#[test]
fn invalid_wrong_property() {
    check_invalid(
        "wrong_property",
        expect![[r#"
        wrong_property.ts:5:25: expected 'related' or 'permits', got "relations"
                view: (ctx) => this.relations.owners.includes(ctx.subject),
                                    ^~~~~~~~~
        {"errors":[{"message":"expected 'related' or 'permits', got \"relations\"","start":{"Line":5,"column":24},"end":{"Line":5,"column":33}}]}
    "#]],
    );
}

// ----- valid files -----------------------------------------------------------------------

#[test]
fn valid_corpus_parses_and_type_checks() {
    for (name, src) in corpus("valid") {
        let parsed = parse(&src);
        assert!(
            parsed.errors.is_empty(),
            "{name}: {}",
            render_all(&format!("{name}.ts"), &src, &parsed)
        );
        assert!(parsed.schema().is_some());
        assert_eq!(parsed.syntax_check_result_json_for_test(), "{}");
    }
}

fn schema_json(src: &str) -> String {
    let parsed = parse(src);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    serde_json::to_string_pretty(&parsed.schema().unwrap()).unwrap()
}

/// Keto's own AST JSON (per namespace: its relations), for comparison with Keto snapshots.
fn keto_ast_json(src: &str) -> String {
    let parsed = parse(src);
    let map: serde_json::Map<String, serde_json::Value> = parsed
        .namespaces
        .iter()
        .map(|n| (n.name.clone(), serde_json::to_value(&n.relations).unwrap()))
        .collect();
    serde_json::to_string(&map).unwrap()
}

#[test]
fn seed_model_ir() {
    let src = read("valid", "seed_imprun");
    let parsed = parse(&src);
    assert!(parsed.errors.is_empty());
    assert!(parsed.warnings.is_empty());
    let schema = parsed.schema().unwrap();

    // Spot checks the engine relies on.
    let user = schema.namespace("User").unwrap();
    assert!(user.accepts_any_relation());
    let gateway = schema.namespace("Gateway").unwrap();
    assert!(gateway
        .relation("owners")
        .unwrap()
        .declares_subject_set_type());
    assert!(!gateway
        .relation("members")
        .unwrap()
        .declares_subject_set_type());
    assert_eq!(
        gateway.relation("delete").unwrap().rewrite(),
        Some(&Rewrite::Union(vec![Rewrite::ComputedSubjectSet {
            relation: "owners".into()
        }]))
    );

    // The whole rewrite IR, as a fixture file (`UPDATE_EXPECT=1` rewrites it).
    expect_file!["../../../tests/data/permission/opl/snapshots/seed_imprun.ir.json"]
        .assert_eq(&(schema_json(&src) + "\n"));
}

#[test]
fn keto_ast_shape_of_nested_expressions() {
    // Same shapes as Keto's parser snapshot "full example": the first operand of `&&` stays
    // wrapped in a single-child `or`, and `||` groups are merged into the root.
    let src = read("valid", "files_and_folders");
    expect![[r#"{"User":[],"Group":[{"name":"members","types":[{"namespace":"User"},{"namespace":"Group","relation":"members"}]}],"Folder":[{"name":"parents","types":[{"namespace":"Folder"}]},{"name":"viewers","types":[{"namespace":"User"},{"namespace":"Group","relation":"members"}]},{"name":"owners","types":[{"namespace":"User"},{"namespace":"Group","relation":"members"}]},{"name":"view","rewrite":{"operator":"or","children":[{"relation":"viewers"},{"relation":"edit"},{"relation":"parents","computed_subject_set_relation":"view"}]}},{"name":"edit","rewrite":{"operator":"or","children":[{"relation":"owners"}]}}],"File":[{"name":"parents","types":[{"namespace":"Folder"}]},{"name":"viewers","types":[{"namespace":"User"},{"namespace":"Group","relation":"members"}]},{"name":"owners","types":[{"namespace":"User"},{"namespace":"Group","relation":"members"}]},{"name":"banned","types":[{"namespace":"User"}]},{"name":"view","rewrite":{"operator":"or","children":[{"operator":"and","children":[{"operator":"or","children":[{"relation":"parents","computed_subject_set_relation":"viewers"}]},{"relation":"parents","computed_subject_set_relation":"view"}]},{"relation":"viewers"},{"relation":"owners"},{"relation":"edit"}]}},{"name":"edit","rewrite":{"operator":"or","children":[{"relation":"owners"}]}},{"name":"read","rewrite":{"operator":"and","children":[{"operator":"or","children":[{"relation":"view"}]},{"inverted":{"relation":"banned"}}]}},{"name":"nested","rewrite":{"operator":"or","children":[{"inverted":{"operator":"or","children":[{"operator":"or","children":[{"relation":"banned"}]},{"inverted":{"relation":"edit"}}]}}]}}]}"#]]
    .assert_eq(&keto_ast_json(&src));
}

#[test]
fn quoted_names_are_plain_names() {
    let src = read("valid", "quoted_names");
    expect![[r#"{"User":[],"Document":[{"name":"owner-ids","types":[{"namespace":"User"}]},{"name":"viewers","types":[{"namespace":"User"}]},{"name":"can view","rewrite":{"operator":"or","children":[{"relation":"viewers"},{"relation":"can edit"}]}},{"name":"can edit","rewrite":{"operator":"or","children":[{"relation":"owner-ids"}]}}]}"#]]
    .assert_eq(&keto_ast_json(&src));
}

// ----- operator grouping ---------------------------------------------------------------

fn permit_rewrite(src: &str, ns: &str, permit: &str) -> Rewrite {
    let schema = parse(src).schema().unwrap();
    schema
        .namespace(ns)
        .unwrap()
        .relation(permit)
        .unwrap()
        .rewrite()
        .unwrap()
        .clone()
}

fn c(rel: &str) -> Rewrite {
    Rewrite::ComputedSubjectSet {
        relation: rel.into(),
    }
}

#[test]
fn mixed_and_or_groups_left_to_right_and_warns() {
    let src = read("valid", "mixed_precedence");
    let parsed = parse(&src);
    assert!(parsed.errors.is_empty());

    // `a || b && c` is `(a || b) && c` in Keto.
    assert_eq!(
        permit_rewrite(&src, "Doc", "mixed"),
        Rewrite::Intersection(vec![
            // Keto leaves this inner node unsimplified: `a` sits two `or` levels down.
            Rewrite::Union(vec![Rewrite::Union(vec![c("a")]), c("b")]),
            c("c"),
        ])
    );
    // With parentheses it is what TypeScript means.
    assert_eq!(
        permit_rewrite(&src, "Doc", "explicit"),
        Rewrite::Union(vec![
            c("a"),
            Rewrite::Intersection(vec![Rewrite::Union(vec![c("b")]), c("c")]),
        ])
    );

    let rendered: String = parsed
        .warnings
        .iter()
        .map(|w| render_diagnostic("mixed_precedence.ts", &src, w))
        .collect();
    expect![[r#"
        mixed_precedence.ts:14:44: warning: "&&" after "||" without parentheses: Keto groups strictly left to right, so "a || b && c" means "(a || b) && c", while TypeScript reads "a || (b && c)"; add parentheses
                  this.related.b.includes(ctx.subject) &&
                                                       ^~
    "#]]
    .assert_eq(&rendered);
}

#[test]
fn grouping_table() {
    let wrap = |body: &str| {
        format!(
            "class U implements Namespace {{}}\nclass D implements Namespace {{\n  related: {{ a: U[]; b: U[]; c: U[]; d: U[] }}\n  permits = {{ p: (ctx) => {body} }}\n}}\n"
        )
    };
    let cases = [
        "A || B && C",
        "A && B || C",
        "A && B && C || D",
        "A || B || C && D",
        "(A || B) && (C || D)",
        "A || (B || C) || D",
        "!A && !(B || C)",
        "A && B C",
    ];
    let mut out = String::new();
    for case in cases {
        let body = case
            .replace('A', "this.related.a.includes(ctx.subject)")
            .replace('B', "this.related.b.includes(ctx.subject)")
            .replace('C', "this.related.c.includes(ctx.subject)")
            .replace('D', "this.related.d.includes(ctx.subject)");
        let src = wrap(&body);
        let parsed = parse(&src);
        assert!(parsed.errors.is_empty(), "{case}: {:?}", parsed.errors);
        let rw = permit_rewrite(&src, "D", "p");
        out.push_str(&format!(
            "{case:<22} => {}  warnings: {}\n",
            show(&rw),
            parsed.warnings.len()
        ));
    }
    expect![[r#"
        A || B && C            => and(or(or(a), b), c)  warnings: 1
        A && B || C            => or(and(or(a), b), c)  warnings: 0
        A && B && C || D       => or(and(and(or(a), b), c), d)  warnings: 0
        A || B || C && D       => and(or(or(or(a), b), c), d)  warnings: 1
        (A || B) && (C || D)   => and(or(or(a), b), or(or(c), d))  warnings: 0
        A || (B || C) || D     => or(a, b, c, d)  warnings: 0
        !A && !(B || C)        => and(or(!a), !or(or(b), c))  warnings: 0
        A && B C               => and(or(a), b, c)  warnings: 1
    "#]]
    .assert_eq(&out);
}

/// Compact rendering of a rewrite: `or(..)`, `and(..)`, `!x`, relation names.
fn show(rw: &Rewrite) -> String {
    let list = |v: &[Rewrite]| v.iter().map(show).collect::<Vec<_>>().join(", ");
    match rw {
        Rewrite::Union(v) => format!("or({})", list(v)),
        Rewrite::Intersection(v) => format!("and({})", list(v)),
        Rewrite::Not(x) => format!("!{}", show(x)),
        Rewrite::ComputedSubjectSet { relation } => relation.clone(),
        Rewrite::TupleToSubjectSet {
            relation,
            computed_relation,
        } => format!("{relation}->{computed_relation}"),
    }
}

#[test]
fn keto_quirks_are_accepted_with_warnings() {
    let src = read("valid", "keto_quirks");
    let parsed = parse(&src);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let mut out = String::new();
    for p in ["juxtaposed", "dangling", "traversing", "unclosed"] {
        out.push_str(&format!("{p}: {}\n", show(&permit_rewrite(&src, "Doc", p))));
    }
    for w in &parsed.warnings {
        out.push_str(&render_diagnostic("keto_quirks.ts", &src, w));
    }
    expect![[r#"
        juxtaposed: or(a, b)
        dangling: or(a)
        traversing: or(parents->a)
        unclosed: or(a)
        keto_quirks.ts:13:63: warning: missing operator between two expressions: Keto joins them with the preceding operator ("||" if there is none); TypeScript would reject this
                juxtaposed: (ctx) => this.related.a.includes(ctx.subject) this.related.b.includes(ctx.subject),
                                                                          ^~~~
        keto_quirks.ts:15:61: warning: operator "||" has no right-hand operand: Keto ignores it; TypeScript would reject this
                dangling: (ctx) => this.related.a.includes(ctx.subject) ||,
                                                                        ^~
        keto_quirks.ts:19:24: warning: unclosed "(": Keto closes it at the "}" that ends the permits block; TypeScript would reject this
                unclosed: (ctx) => (this.related.a.includes(ctx.subject)
                                   ^
    "#]]
    .assert_eq(&out);
}

// ----- error text formats --------------------------------------------------------------

#[test]
fn keto_error_text_format() {
    let src = read("invalid", "unknown_relation_in_includes");
    let parsed = parse(&src);
    expect![[r#"
        error from 5:50 to 5:57: namespace "Doc" did not declare relation "viewers"

           3 |   permits = {
           4 |     view: (ctx: Context): boolean => this.related.viewers.includes(ctx.subject),
             |                                                   ^~~~~~~                       
           5 |   }

    "#]]
    .assert_eq(&render_keto_error_text(&src, &parsed.errors[0]));
}

#[test]
fn syntax_check_json_shape() {
    let parsed = parse("class A implements Namespace {\n  related: {\n    x: B[]\n  }\n}\n");
    expect![[r#"{"errors":[{"message":"namespace \"B\" was not declared","start":{"Line":3,"column":7},"end":{"Line":3,"column":8}}]}"#]]
    .assert_eq(&syntax_check_json(&parsed.errors));
}

// ----- robustness ------------------------------------------------------------------------

fn assert_well_formed(src: &str, parsed: &Parsed) {
    for d in parsed.errors.iter().chain(&parsed.warnings) {
        assert!(!d.message.is_empty());
        assert!(d.start.offset <= d.end.offset, "{d:?}");
        assert!(d.end.offset <= src.len(), "{d:?}");
        assert!(d.start.line >= 1 && d.start.column >= 1, "{d:?}");
        assert!(d.api_start.line >= 1, "{d:?}");
        // rendering never panics either
        let _ = render_diagnostic("f.ts", src, d);
        let _ = render_keto_error_text(src, d);
    }
    let _ = parsed.schema();
    let _ = syntax_check_json(&parsed.errors);
}

#[test]
fn every_prefix_parses_without_panic() {
    let mut inputs: Vec<String> = corpus("valid").into_iter().map(|(_, s)| s).collect();
    inputs.extend(corpus("invalid").into_iter().map(|(_, s)| s));
    for src in &inputs {
        for (i, _) in src.char_indices().chain(std::iter::once((src.len(), ' '))) {
            let prefix = &src[..i];
            let parsed = parse(prefix);
            assert_well_formed(prefix, &parsed);
        }
    }
}

#[test]
fn mutated_inputs_parse_without_panic() {
    // Deterministic pseudo-random single-character edits of the seed file.
    let src = read("valid", "seed_imprun");
    let alphabet: Vec<char> = "(){}[]<>|&!=.,;:'\"/*\n xé0".chars().collect();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rand = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let chars: Vec<char> = src.chars().collect();
    for _ in 0..2000 {
        let mut edited = chars.clone();
        for _ in 0..1 + rand(3) {
            let at = rand(edited.len());
            match rand(3) {
                0 => {
                    edited.remove(at);
                }
                1 => edited.insert(at, alphabet[rand(alphabet.len())]),
                _ => edited[at] = alphabet[rand(alphabet.len())],
            }
        }
        let text: String = edited.into_iter().collect();
        let parsed = parse(&text);
        assert_well_formed(&text, &parsed);
    }
}

fn permit_file(body: &str) -> String {
    format!(
        "class U implements Namespace {{}}\nclass D implements Namespace {{\n  related: {{ a: U[]; b: U[] }}\n  permits = {{ p: (ctx) => {body} }}\n}}\n"
    )
}

#[test]
fn pathological_inputs_give_errors_not_stack_overflows() {
    let a = "this.related.a.includes(ctx.subject)";
    let b = "this.related.b.includes(ctx.subject)";
    let cases = [
        ("parens", permit_file(&"(".repeat(100_000))),
        ("nots", permit_file(&"!".repeat(100_000))),
        ("not-parens", permit_file(&"!(".repeat(50_000))),
        (
            "alternating",
            permit_file(&format!("{a}{}", format!(" || {b} && {a}").repeat(20_000))),
        ),
        ("braces", "{".repeat(100_000)),
        ("classes", "class A implements Namespace {".repeat(10_000)),
    ];
    let mut out = String::new();
    for (name, src) in &cases {
        let parsed = parse(src);
        assert_well_formed(src, &parsed);
        let first = parsed
            .errors
            .first()
            .map_or("<no error>".to_owned(), |d| d.message.clone());
        out.push_str(&format!("{name}: {first}\n"));
    }
    expect![[r#"
        parens: expression nested too deeply; maximal nesting depth is 10
        nots: expected "this", got "!"
        not-parens: expression nested too deeply; maximal nesting depth is 10
        alternating: expression too complex: its rewrite tree would be 40002 levels deep, Quartet allows at most 64; add parentheses or split the permit
        braces: <no error>
        classes: expected 'permits' or 'related', got "class"
    "#]]
    .assert_eq(&out);
}

#[test]
fn long_flat_chains_are_fine() {
    let a = "this.related.a.includes(ctx.subject)";
    let src = permit_file(&vec![a; 20_000].join(" || "));
    let parsed = parse(&src);
    assert!(parsed.errors.is_empty());
    match permit_rewrite(&src, "D", "p") {
        Rewrite::Union(children) => assert_eq!(children.len(), 20_000),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn nesting_limit_is_exactly_ketos() {
    let a = "this.related.a.includes(ctx.subject)";
    let ok = permit_file(&format!("{}{a}{}", "(".repeat(9), ")".repeat(9)));
    assert!(parse(&ok).errors.is_empty());
    let too_deep = permit_file(&format!("{}{a}{}", "(".repeat(10), ")".repeat(10)));
    assert_eq!(
        parse(&too_deep).errors[0].message,
        "expression nested too deeply; maximal nesting depth is 10"
    );
    // `!(` costs two levels.
    let nots = permit_file(&format!("{}{a}{}", "!(".repeat(4), ")".repeat(4)));
    assert!(parse(&nots).errors.is_empty());
    let nots = permit_file(&format!("{}{a}{}", "!(".repeat(5), ")".repeat(5)));
    assert!(!parse(&nots).errors.is_empty());
}
