//! The fuzz targets' corpora (`fuzz/seeds/<target>`, plus `fuzz/regressions/<target>` once a
//! fuzzing run has found something), replayed under `cargo test` with prefixes and simple
//! mutations through the very properties the targets check (`fuzz/fuzz_targets/common/
//! properties.rs`): the relation-tuple parsers, the access-rule decoder and URL patterns, and
//! the proxy's Go templates and the HTML templates never panic, HTML templates escape text in every
//! context, and plain tuples round-trip through their text form.
//! (The config loader's corpus is replayed in `tests/config.rs`, the OPL front end's inputs in
//! `src/permission/opl/tests.rs`.)

use std::path::Path;

#[path = "../../fuzz/fuzz_targets/common/properties.rs"]
mod properties;

/// Every document of a target's corpus: its seeds and any regressions.
fn corpus(target: &str) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut documents = Vec::new();
    for dir in [
        root.join("seeds").join(target),
        root.join("regressions").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            documents.push(String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    assert!(documents.len() >= 3, "{target}: corpus too small");
    documents
}

/// Each document, its prefixes and a few single-character insertions.
fn variants(target: &str) -> Vec<String> {
    let junk = [
        "{", "}", "<", ">", ":", "#", "@", "(", ")", "\"", "|", "$", "[", "*", "\\",
    ];
    let mut out = Vec::new();
    for doc in corpus(target) {
        let chars: Vec<char> = doc.chars().collect();
        for end in (0..chars.len()).step_by(7) {
            out.push(chars[..end].iter().collect());
        }
        for (i, j) in junk.iter().enumerate() {
            let at = (i * 37) % chars.len().max(1);
            let mut mutated: String = chars[..at].iter().collect();
            mutated.push_str(j);
            mutated.extend(&chars[at..]);
            out.push(mutated);
        }
        out.push(doc);
    }
    out
}

#[test]
fn tuple_parsers_never_panic_and_plain_tuples_round_trip() {
    let round_trips: usize = variants("permission_tuples")
        .iter()
        .map(|t| properties::tuples(t))
        .sum();
    assert!(
        round_trips > 20,
        "the corpus reaches the round trip ({round_trips})"
    );
}

#[test]
fn rule_documents_and_url_patterns_never_panic() {
    let (decoded, compiled) = variants("proxy_rules")
        .iter()
        .map(|t| properties::rules(t))
        .fold((0, 0), |(d, c), (d1, c1)| (d + d1, c + c1));
    assert!(
        decoded > 10 && compiled > 10,
        "{decoded} rules, {compiled} patterns"
    );
}

#[test]
fn templates_never_panic_when_parsed_or_executed() {
    let executed = variants("proxy_template")
        .iter()
        .filter(|t| properties::template(t))
        .count();
    assert!(executed > 20, "the corpus reaches execution ({executed})");
}

#[test]
fn html_templates_never_panic_and_escape_every_context() {
    let executed = variants("html_template")
        .iter()
        .filter(|t| properties::html_template(t))
        .count();
    assert!(executed > 20, "the corpus reaches execution ({executed})");
}
