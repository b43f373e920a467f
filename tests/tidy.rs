//! The house rules, checked on the source text (in the manner of rust-analyzer's tidy test):
//!
//! - every `.rs` file in `src/`, `tests/`, `benches/` and `fuzz/fuzz_targets/` starts with `//!`;
//! - a role's files never name another role or the composition root;
//! - inside a role, no import circle between its modules, and where the role's `mod.rs`
//!   declares floors, no import up the floors;
//! - no ignored and no should-panic tests;
//! - no file over 1,200 lines and no function over 150 lines, in any of the four directories
//!   (a long test story is split into named steps), unless an allow list below names it with
//!   its reason;
//! - the system clock is read only by `store::time::Clock`.
//!
//! Each rule is a function over file texts, so the tests at the bottom show it failing on a
//! file that breaks it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROLES: [&str; 4] = ["identity", "oauth2", "permission", "proxy"];
const MAX_FILE_LINES: usize = 1200;
const MAX_FN_LINES: usize = 150;

/// Files allowed past `MAX_FILE_LINES`, each with its reason.
const LONG_FILES: &[(&str, &str)] = &[];

/// Functions allowed past `MAX_FN_LINES` (`path::name`), each with its reason.
const LONG_FNS: &[(&str, &str)] = &[];

/// Where reading the system clock is allowed.
const CLOCK_READERS: &[&str] = &["src/store/time.rs"];

/// One source file: its path relative to the crate root and its text.
struct Source {
    path: String,
    text: String,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn sources(dirs: &[&str]) -> Vec<Source> {
    let mut out = Vec::new();
    for dir in dirs {
        walk(&root().join(dir), &mut out);
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn walk(dir: &Path, out: &mut Vec<Source>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name != "target" && name != "corpus" && name != "artifacts" {
                walk(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path
                .strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            out.push(Source { path: rel, text });
        }
    }
}

fn all_sources() -> Vec<Source> {
    sources(&["src", "tests", "benches", "fuzz/fuzz_targets"])
}

// ---------------------------------------------------------------------------------------------
// The rules: each returns the violations it finds, one line each.

/// Every file opens with an inner doc comment saying what it is for.
fn missing_module_docs(files: &[Source]) -> Vec<String> {
    files
        .iter()
        .filter(|f| {
            let first = f
                .text
                .lines()
                .find(|l| !l.trim().is_empty() && !l.starts_with("#!["));
            !first.is_some_and(|l| l.starts_with("//!"))
        })
        .map(|f| {
            format!(
                "{}: does not start with a `//!` line saying what it is for",
                f.path
            )
        })
        .collect()
}

/// The role a file under `src/` belongs to, if any.
fn role_of(path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix("src/")?;
    ROLES
        .into_iter()
        .find(|r| rest.starts_with(&format!("{r}/")) || rest == format!("{r}.rs"))
}

/// A role's file names another role or the composition root.
fn cross_role_references(files: &[Source]) -> Vec<String> {
    let mut found = Vec::new();
    for f in files {
        let Some(own) = role_of(&f.path) else {
            continue;
        };
        let code = strip_comments_and_strings(&f.text);
        for (n, line) in code.lines().enumerate() {
            for other in ROLES.into_iter().filter(|r| *r != own).chain(["app"]) {
                if mentions_path(line, &format!("crate::{other}"))
                    || mentions_path(line, &format!("quartet::{other}"))
                {
                    found.push(format!(
                        "{}:{}: the {own} role names `{other}`",
                        f.path,
                        n + 1
                    ));
                }
            }
        }
    }
    found
}

/// `line` contains `prefix` followed by `::` or a non-identifier character.
fn mentions_path(line: &str, prefix: &str) -> bool {
    line.match_indices(prefix).any(|(at, _)| {
        let before_ok = at == 0 || !is_ident(line.as_bytes()[at - 1]);
        let after = line.as_bytes().get(at + prefix.len()).copied();
        before_ok && !after.is_some_and(is_ident)
    })
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Tests that are switched off or that pass by panicking.
fn disabled_tests(files: &[Source]) -> Vec<String> {
    let ignore = concat!("#[", "ignore");
    let should_panic = concat!("#[", "should_panic");
    let mut found = Vec::new();
    for f in files {
        for (n, line) in f.text.lines().enumerate() {
            if line.contains(ignore) || line.contains(should_panic) {
                found.push(format!("{}:{}: {}", f.path, n + 1, line.trim()));
            }
        }
    }
    found
}

/// Files past `MAX_FILE_LINES` without a reason on the allow list.
fn long_files(files: &[Source], allowed: &[(&str, &str)]) -> Vec<String> {
    files
        .iter()
        .filter(|f| f.text.lines().count() > MAX_FILE_LINES)
        .filter(|f| !allowed.iter().any(|(p, _)| *p == f.path))
        .map(|f| {
            format!(
                "{}: {} lines (over {MAX_FILE_LINES}; split it, or add it to LONG_FILES with a reason)",
                f.path,
                f.text.lines().count()
            )
        })
        .collect()
}

/// Functions past `MAX_FN_LINES` without a reason on the allow list.
fn long_functions(files: &[Source], allowed: &[(&str, &str)]) -> Vec<String> {
    let mut found = Vec::new();
    for f in files {
        for (name, line, length) in functions(&f.text) {
            let key = format!("{}::{name}", f.path);
            if length > MAX_FN_LINES && !allowed.iter().any(|(k, _)| *k == key) {
                found.push(format!(
                    "{}:{line}: fn {name} is {length} lines (over {MAX_FN_LINES}; split it, or add it to LONG_FNS with a reason)",
                    f.path
                ));
            }
        }
    }
    found
}

/// Reading the system clock anywhere but the kernel's `Clock`.
fn clock_reads(files: &[Source]) -> Vec<String> {
    let mut found = Vec::new();
    for f in files.iter().filter(|f| f.path.starts_with("src/")) {
        if CLOCK_READERS.contains(&f.path.as_str()) {
            continue;
        }
        let code = strip_comments_and_strings(&f.text);
        for (n, line) in code.lines().enumerate() {
            if line.contains("SystemTime::now") || line.contains("Utc::now") {
                found.push(format!(
                    "{}:{}: reads the system clock (take a `store::time::Clock`)",
                    f.path,
                    n + 1
                ));
            }
        }
    }
    found
}

/// Import circles between a role's modules, and imports up its declared floors.
fn role_graph_violations(files: &[Source]) -> Vec<String> {
    let mut found = Vec::new();
    for role in ROLES {
        let role_files: Vec<&Source> = files
            .iter()
            .filter(|f| role_of(&f.path) == Some(role))
            .collect();
        let graph = module_graph(role, &role_files);
        found.extend(
            cycles(&graph)
                .into_iter()
                .map(|cycle| format!("{role}: import circle {}", cycle.join(" → "))),
        );
        let root = role_files
            .iter()
            .find(|f| f.path == format!("src/{role}/mod.rs") || f.path == format!("src/{role}.rs"));
        if let Some(floors) = root.and_then(|f| declared_floors(&f.text)) {
            found.extend(floor_violations(role, &graph, &floors));
        }
    }
    found
}

// ---------------------------------------------------------------------------------------------
// The module graph of a role.

/// Module → the sibling modules it uses. Nodes are the role's top-level modules (a file
/// `src/role/a.rs`, or a directory `src/role/a/`); the role's root (`mod.rs`) is left out.
type Graph = BTreeMap<String, BTreeSet<String>>;

fn module_graph(role: &str, files: &[&Source]) -> Graph {
    let prefix = format!("src/{role}/");
    let mut modules: BTreeSet<String> = BTreeSet::new();
    for f in files {
        if let Some(rest) = f.path.strip_prefix(&prefix) {
            let first = rest.split('/').next().unwrap_or("");
            let name = first.trim_end_matches(".rs");
            if name != "mod" {
                modules.insert(name.to_string());
            }
        }
    }
    let mut graph: Graph = modules
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    for f in files {
        let Some(rest) = f.path.strip_prefix(&prefix) else {
            continue;
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let node = parts[0].trim_end_matches(".rs");
        if node == "mod" {
            continue;
        }
        // How many `super::` reach the role's root from this file: a file directly in the
        // role's directory needs one; `a/b.rs` and `a/mod.rs` need two and one.
        let depth = if parts.len() == 1 {
            1
        } else if parts.last() == Some(&"mod.rs") {
            parts.len() - 1
        } else {
            parts.len()
        };
        let code = strip_comments_and_strings(&f.text);
        let mut used = BTreeSet::new();
        let to_root = "super::".repeat(depth);
        for reference in paths_after(&code, &to_root) {
            used.insert(reference);
        }
        for reference in paths_after(&code, &format!("crate::{role}::")) {
            used.insert(reference);
        }
        used.retain(|m| modules.contains(m) && m != node);
        if let Some(edges) = graph.get_mut(node) {
            edges.extend(used);
        }
    }
    graph
}

/// The first path segments that follow `prefix` in `code`: `prefix a::b` gives `a`,
/// `prefix {a, b::c}` gives `a` and `b`.
fn paths_after(code: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    for (at, _) in code.match_indices(prefix) {
        if at > 0 && (is_ident(bytes[at - 1]) || bytes[at - 1] == b':') {
            continue;
        }
        let rest = &code[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            out.extend(group_heads(group));
        } else {
            let head: String = rest.chars().take_while(|c| is_ident(*c as u8)).collect();
            if !head.is_empty() {
                out.push(head);
            }
        }
    }
    out
}

/// The leading identifiers of the top-level items of a `{…}` use group (text after `{`).
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0usize;
    let mut at_item_start = true;
    let mut current = String::new();
    for c in group.chars() {
        match c {
            '{' => {
                depth += 1;
                at_item_start = false;
            }
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => at_item_start = true,
            c if depth == 0 && at_item_start => {
                if is_ident(c as u8) {
                    current.push(c);
                } else if !current.is_empty() {
                    heads.push(std::mem::take(&mut current));
                    at_item_start = false;
                }
            }
            _ => {}
        }
    }
    if !current.is_empty() {
        heads.push(current);
    }
    heads
}

/// Every elementary circle's representative: for each strongly connected component with more
/// than one module, one circle through it.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut reported: BTreeSet<String> = BTreeSet::new();
    for start in graph.keys() {
        if reported.contains(start) {
            continue;
        }
        if let Some(path) = path_back_to(graph, start) {
            // Mark the whole strongly connected component: one circle is enough to report.
            let from_start = reachable(graph, start);
            reported.extend(
                from_start
                    .into_iter()
                    .filter(|m| reachable(graph, m).contains(start.as_str())),
            );
            found.push(path);
        }
    }
    found
}

/// The modules reachable from `start` in one step or more.
fn reachable(graph: &Graph, start: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<&String> = graph.get(start).into_iter().flatten().collect();
    while let Some(node) = stack.pop() {
        if seen.insert(node.clone()) {
            stack.extend(graph.get(node).into_iter().flatten());
        }
    }
    seen
}

/// A shortest path `start → … → start`, if one exists (breadth-first).
fn path_back_to(graph: &Graph, start: &str) -> Option<Vec<String>> {
    let mut previous: BTreeMap<String, String> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::new();
    for next in graph.get(start).into_iter().flatten() {
        if !previous.contains_key(next) {
            previous.insert(next.clone(), start.to_string());
            queue.push_back(next.clone());
        }
    }
    while let Some(node) = queue.pop_front() {
        if node == start {
            let mut path = vec![start.to_string()];
            let mut at = previous.get(start).cloned()?;
            while at != start {
                path.push(at.clone());
                at = previous.get(&at).cloned()?;
            }
            path.push(start.to_string());
            path.reverse();
            return Some(path);
        }
        for next in graph.get(&node).into_iter().flatten() {
            if !previous.contains_key(next) {
                previous.insert(next.clone(), node.clone());
                queue.push_back(next.clone());
            }
        }
    }
    None
}

/// The floors a role's root declares in its `//!` header:
/// `//! Floors …` followed by lines `//! - N: a, b, c`.
fn declared_floors(root: &str) -> Option<BTreeMap<String, usize>> {
    let mut lines = root.lines().skip_while(|l| !l.starts_with("//! Floors"));
    lines.next()?;
    let mut floors = BTreeMap::new();
    for line in lines {
        let Some(item) = line.strip_prefix("//! - ") else {
            break;
        };
        let (floor, modules) = item.split_once(':')?;
        let floor: usize = floor.trim().parse().ok()?;
        for module in modules.split(',').map(str::trim).filter(|m| !m.is_empty()) {
            floors.insert(module.to_string(), floor);
        }
    }
    Some(floors)
}

fn floor_violations(role: &str, graph: &Graph, floors: &BTreeMap<String, usize>) -> Vec<String> {
    let mut found = Vec::new();
    for module in graph.keys() {
        if !floors.contains_key(module) {
            found.push(format!(
                "{role}: module `{module}` is on no floor of mod.rs's list"
            ));
        }
    }
    for module in floors.keys() {
        if !graph.contains_key(module) {
            found.push(format!(
                "{role}: floor list names `{module}`, which is no module"
            ));
        }
    }
    for (from, uses) in graph {
        for to in uses {
            if let (Some(a), Some(b)) = (floors.get(from), floors.get(to)) {
                if b > a {
                    found.push(format!(
                        "{role}: `{from}` (floor {a}) uses `{to}` (floor {b}), up the floors"
                    ));
                }
            }
        }
    }
    found
}

// ---------------------------------------------------------------------------------------------
// A small Rust lexer: enough to blank out comments, strings and char literals (so that braces
// and paths inside them do not count) and to measure functions.

fn strip_comments_and_strings(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, s: &[u8]| {
        out.extend(s.iter().map(|&c| if c == b'\n' { b'\n' } else { b' ' }));
    };
    while i < b.len() {
        let rest = &b[i..];
        let prev_ident = i > 0 && is_ident(b[i - 1]);
        if rest.starts_with(b"//") {
            let end = rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest.starts_with(b"/*") {
            let end = find(rest, b"*/", 2).map_or(rest.len(), |e| e + 2);
            blank(&mut out, &rest[..end]);
            i += end;
        } else if !prev_ident && raw_string_start(rest).is_some() {
            let (open, hashes) = raw_string_start(rest).unwrap_or((0, 0));
            let mut close = vec![b'"'];
            close.extend(std::iter::repeat_n(b'#', hashes));
            let end = find(rest, &close, open).map_or(rest.len(), |e| e + close.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest[0] == b'"' || (!prev_ident && rest.starts_with(b"b\"")) {
            let mut j = if rest[0] == b'"' { 1 } else { 2 };
            while j < rest.len() && rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest[0] == b'\'' {
            let len = char_literal_len(rest);
            blank(&mut out, &rest[..len.max(1)]);
            i += len.max(1);
        } else {
            out.push(rest[0]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    (from..hay.len().saturating_sub(needle.len() - 1)).find(|&k| hay[k..].starts_with(needle))
}

/// `r"`, `r#"`, `br"`, … : (length of the opening, number of `#`).
fn raw_string_start(s: &[u8]) -> Option<(usize, usize)> {
    let mut k = 0;
    if s.first() == Some(&b'b') {
        k += 1;
    }
    if s.get(k) != Some(&b'r') {
        return None;
    }
    k += 1;
    let hashes = s[k..].iter().take_while(|&&c| c == b'#').count();
    k += hashes;
    (s.get(k) == Some(&b'"')).then_some((k + 1, hashes))
}

/// The length of a char literal at the start of `s` (`'a'`, `'\n'`, `'\u{1F600}'`), or 1 for
/// a lifetime's quote.
fn char_literal_len(s: &[u8]) -> usize {
    if s.get(1) == Some(&b'\\') {
        return s[2..].iter().position(|&c| c == b'\'').map_or(1, |p| p + 3);
    }
    let text = String::from_utf8_lossy(&s[1..s.len().min(6)]).into_owned();
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), Some('\'')) => 2 + c.len_utf8(),
        _ => 1,
    }
}

/// Every `fn` with a body: (name, first line, length in lines).
fn functions(src: &str) -> Vec<(String, usize, usize)> {
    let code = strip_comments_and_strings(src);
    let lines: Vec<&str> = code.lines().collect();
    let mut found = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let Some(name) = fn_name(line) else {
            continue;
        };
        let mut depth = 0i64;
        let mut opened = false;
        'scan: for (k, l) in lines.iter().enumerate().skip(start) {
            for c in l.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    ';' if !opened => break 'scan,
                    _ => {}
                }
            }
            if opened && depth == 0 {
                found.push((name.clone(), start + 1, k - start + 1));
                break;
            }
        }
    }
    found
}

/// The function a line declares, if it starts one.
fn fn_name(line: &str) -> Option<String> {
    let mut words = line.split_whitespace().peekable();
    while let Some(w) = words.peek() {
        if w.starts_with("pub") || ["async", "const", "unsafe", "extern"].contains(w) {
            words.next();
        } else {
            break;
        }
    }
    if words.next()? != "fn" {
        return None;
    }
    let name: String = words
        .next()?
        .chars()
        .take_while(|c| is_ident(*c as u8))
        .collect();
    (!name.is_empty()).then_some(name)
}

// ---------------------------------------------------------------------------------------------
// The checks on this repository.

fn assert_none(what: &str, found: Vec<String>) {
    assert!(found.is_empty(), "{what}:\n  {}", found.join("\n  "));
}

#[test]
fn every_file_says_what_it_is_for() {
    assert_none(
        "files without a `//!` header",
        missing_module_docs(&all_sources()),
    );
}

#[test]
fn no_role_names_another_role() {
    assert_none(
        "cross-role references",
        cross_role_references(&sources(&["src"])),
    );
}

#[test]
fn no_import_circle_inside_a_role_and_no_import_up_its_floors() {
    assert_none(
        "role module graphs",
        role_graph_violations(&sources(&["src"])),
    );
}

#[test]
fn no_test_is_switched_off() {
    assert_none("disabled tests", disabled_tests(&all_sources()));
}

#[test]
fn no_file_is_too_long() {
    assert_none("long files", long_files(&all_sources(), LONG_FILES));
}

#[test]
fn no_function_is_too_long() {
    assert_none("long functions", long_functions(&all_sources(), LONG_FNS));
}

#[test]
fn only_the_clock_reads_the_system_time() {
    assert_none("clock reads", clock_reads(&sources(&["src"])));
}

#[test]
fn the_allow_lists_name_things_that_exist() {
    let files = all_sources();
    for (path, _) in LONG_FILES {
        assert!(
            files.iter().any(|f| f.path == *path),
            "LONG_FILES names {path}, which is gone"
        );
    }
    for (key, _) in LONG_FNS {
        let (path, name) = key.rsplit_once("::").unwrap();
        let file = files.iter().find(|f| f.path == path);
        assert!(
            file.is_some_and(|f| functions(&f.text).iter().any(|(n, ..)| n == name)),
            "LONG_FNS names {key}, which is gone"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Each rule fails on a file that breaks it.

fn file(path: &str, text: &str) -> Source {
    Source {
        path: path.to_string(),
        text: text.to_string(),
    }
}

#[test]
fn the_rules_catch_what_they_forbid() {
    let undocumented = [file("src/store/x.rs", "use std::fmt;\n")];
    assert_eq!(missing_module_docs(&undocumented).len(), 1);
    assert!(
        missing_module_docs(&[file("src/store/x.rs", "#![allow(dead_code)]\n//! X.\n")]).is_empty()
    );

    let crossing = [file(
        "src/proxy/a.rs",
        "//! A.\nuse crate::identity::Service;\n// crate::oauth2 in a comment is fine\nlet s = \"crate::oauth2\";\n",
    )];
    let found = cross_role_references(&crossing);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("src/proxy/a.rs:2"), "{found:?}");
    assert!(
        cross_role_references(&[file("src/proxy/a.rs", "use crate::identityx::A;")]).is_empty()
    );
    assert_eq!(
        cross_role_references(&[file("src/oauth2/a.rs", "crate::app::Stack")]).len(),
        1
    );

    let switched_off = [file(
        "tests/x.rs",
        &format!("#[test]\n{}]\nfn f() {{}}\n", concat!("#[", "ignore")),
    )];
    assert_eq!(disabled_tests(&switched_off).len(), 1);

    let long = [file(
        "src/store/x.rs",
        &"//! X.\n".repeat(MAX_FILE_LINES + 1),
    )];
    assert_eq!(long_files(&long, &[]).len(), 1);
    assert!(long_files(&long, &[("src/store/x.rs", "a table")]).is_empty());

    let body = "    let x = \"}\"; // }\n".repeat(MAX_FN_LINES);
    let long_fn = [file(
        "src/store/x.rs",
        &format!("//! X.\npub(crate) async fn big() {{\n{body}}}\nfn small() {{}}\n"),
    )];
    let found = long_functions(&long_fn, &[]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("fn big is 152 lines"), "{found:?}");
    assert!(long_functions(&long_fn, &[("src/store/x.rs::big", "a table")]).is_empty());

    let clock = [file(
        "src/permission/x.rs",
        "let now = std::time::SystemTime::now();",
    )];
    assert_eq!(clock_reads(&clock).len(), 1);
    assert!(clock_reads(&[file("src/store/time.rs", "SystemTime::now()")]).is_empty());
}

#[test]
fn the_graph_rule_catches_circles_and_imports_up_the_floors() {
    let circle = [
        file("src/oauth2/mod.rs", "//! Root.\nmod a;\nmod b;\nmod c;\n"),
        file("src/oauth2/a.rs", "//! A.\nuse super::{b::B, c};\n"),
        file("src/oauth2/b.rs", "//! B.\nuse crate::oauth2::c::C;\n"),
        file("src/oauth2/c.rs", "//! C.\nfn f() { super::a::g() }\n"),
    ];
    let found = role_graph_violations(&circle);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("a → c → a"), "{found:?}");

    let nested = [
        file("src/permission/mod.rs", "//! Root.\n"),
        file("src/permission/engine.rs", "//! E.\nuse super::opl::Ast;\n"),
        file(
            "src/permission/opl/mod.rs",
            "//! O.\nuse super::engine::Tree;\nmod parser;\n",
        ),
        file(
            "src/permission/opl/parser.rs",
            "//! P.\nuse super::super::store;\nuse super::lexer;\n",
        ),
        file("src/permission/store.rs", "//! S.\n"),
    ];
    let found = role_graph_violations(&nested);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("engine → opl → engine"), "{found:?}");

    let floors = [
        file(
            "src/proxy/mod.rs",
            "//! Root.\n//! Floors (a file uses only files on its own floor or below; no cycles):\n//! - 0: error\n//! - 1: rule, extra\n//!\nmod error;\n",
        ),
        file("src/proxy/error.rs", "//! E.\nuse super::rule::Rule;\n"),
        file("src/proxy/rule.rs", "//! R.\nuse super::error::Error;\n"),
        file("src/proxy/unlisted.rs", "//! U.\n"),
    ];
    let found = role_graph_violations(&floors);
    assert!(
        found
            .iter()
            .any(|v| v.contains("circle error → rule → error")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|v| v.contains("`error` (floor 0) uses `rule` (floor 1)")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|v| v.contains("`unlisted` is on no floor")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|v| v.contains("names `extra`, which is no module")),
        "{found:?}"
    );
}
