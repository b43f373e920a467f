//! Bulk import of relation tuples (`quartet import tuples FILE`, `serve --import FILE`): a JSON
//! array of Keto's relation-tuple objects or Keto's text lines `ns:obj#rel@subject`.
//! Everything is parsed, and checked against the configured namespaces as the write API checks
//! a tuple, before anything is written; the tuples then go in chunks of [`CHUNK`]
//! per transaction, each chunk as a few multi-row `INSERT … WHERE NOT EXISTS` statements
//! ([`TupleStore::insert_missing`]), so that running the same file twice changes nothing and a
//! chunk that fails writes nothing.

use std::collections::HashSet;
use std::io::Write;
use std::time::{Duration, Instant};

use super::error::PermissionError;
use super::http::TupleDto;
use super::namespaces::NamespaceSet;
use super::store::TupleStore;
use super::tuple::RelationTuple;

/// Tuples per transaction.
pub const CHUNK: usize = 5000;

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportSummary {
    /// Tuples read from the input.
    pub read: usize,
    /// Tuples written.
    pub inserted: usize,
    /// Tuples not written because they were already stored (or repeated in the input).
    pub skipped_existing: usize,
}

/// How an import reports its progress.
pub enum Progress<'a> {
    /// Nothing (`serve --import`).
    Silent,
    /// `imported N/M` lines, at most one a second and always the last (logs, pipes).
    Lines(&'a mut dyn Write),
    /// One bar redrawn in place with `\r` (a terminal).
    Bar(&'a mut dyn Write),
}

impl Progress<'_> {
    fn report(&mut self, done: usize, total: usize, started: Instant, last: &mut Option<Instant>) {
        let now = Instant::now();
        let due =
            done == total || last.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1));
        match self {
            Progress::Silent => {}
            Progress::Lines(out) => {
                if due {
                    let _ = writeln!(out, "imported {done}/{total}");
                    *last = Some(now);
                }
            }
            Progress::Bar(out) => {
                let elapsed = now.duration_since(started).as_secs_f64().max(1e-3);
                let permille = (done * 1000).checked_div(total).unwrap_or(1000);
                let filled = permille * 30 / 1000;
                let _ = write!(
                    out,
                    "\r[{}{}] {:>3}.{}% {done}/{total} {:.0}/s",
                    "#".repeat(filled),
                    " ".repeat(30 - filled),
                    permille / 10,
                    permille % 10,
                    done as f64 / elapsed,
                );
                if done == total {
                    let _ = writeln!(out);
                }
                let _ = out.flush();
            }
        }
    }
}

/// Parses the whole input: a JSON array when it starts with `[`, text lines otherwise (blank
/// lines and lines starting with `//` or `#` are skipped). An error names the line number
/// (text, from 1) or the array index (JSON, from 0).
pub fn parse_tuples(input: &str) -> Result<Vec<RelationTuple>, PermissionError> {
    parse_each(input, |_| Ok(()))
}

/// [`parse_tuples`], each tuple also checked against `namespaces` as the write API checks it
/// ([`NamespaceSet::ensure_tuple`]); an error names the line or index of the first refused one.
pub fn parse_known_tuples(
    input: &str,
    namespaces: &NamespaceSet,
) -> Result<Vec<RelationTuple>, PermissionError> {
    parse_each(input, |tuple| namespaces.ensure_tuple(tuple))
}

fn parse_each(
    input: &str,
    check: impl Fn(&RelationTuple) -> Result<(), PermissionError>,
) -> Result<Vec<RelationTuple>, PermissionError> {
    if input.trim_start().starts_with('[') {
        parse_json(input, check)
    } else {
        parse_text(input, check)
    }
}

fn parse_json(
    input: &str,
    check: impl Fn(&RelationTuple) -> Result<(), PermissionError>,
) -> Result<Vec<RelationTuple>, PermissionError> {
    let items: Vec<serde_json::Value> = serde_json::from_str(input)
        .map_err(|e| PermissionError::BadRequest(format!("invalid JSON array: {e}")))?;
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            serde_json::from_value::<TupleDto>(item)
                .map_err(|e| PermissionError::BadJson(e.to_string()))
                .and_then(TupleDto::into_domain)
                .and_then(|tuple| check(&tuple).map(|()| tuple))
                .map_err(|e| PermissionError::BadRequest(format!("tuple at index {index}: {e}")))
        })
        .collect()
}

fn parse_text(
    input: &str,
    check: impl Fn(&RelationTuple) -> Result<(), PermissionError>,
) -> Result<Vec<RelationTuple>, PermissionError> {
    input
        .lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim()))
        .filter(|(_, line)| !(line.is_empty() || line.starts_with("//") || line.starts_with('#')))
        .map(|(number, line)| {
            RelationTuple::parse(line)
                .and_then(|tuple| check(&tuple).map(|()| tuple))
                .map_err(|e| PermissionError::BadRequest(format!("line {number}: {e}")))
        })
        .collect()
}

/// Parses `input` (see [`parse_tuples`]), checks every tuple against `namespaces` as the write
/// API does, and, only when all of it passes, inserts the tuples not yet stored, [`CHUNK`] per
/// transaction, reporting after each chunk.
pub async fn import_tuples(
    store: &TupleStore,
    namespaces: &NamespaceSet,
    input: &str,
    mut progress: Progress<'_>,
) -> Result<ImportSummary, PermissionError> {
    let tuples = parse_known_tuples(input, namespaces)?;
    let mut summary = ImportSummary {
        read: tuples.len(),
        ..ImportSummary::default()
    };
    insert_chunks(store, &tuples, &mut summary, &mut progress).await?;
    Ok(summary)
}

/// Inserts `tuples` (repeats dropped) [`CHUNK`] per transaction, counting into `summary`.
async fn insert_chunks(
    store: &TupleStore,
    tuples: &[RelationTuple],
    summary: &mut ImportSummary,
    progress: &mut Progress<'_>,
) -> Result<(), PermissionError> {
    let mut seen = HashSet::with_capacity(tuples.len());
    let started = Instant::now();
    let mut last = None;
    let mut done = 0;
    for (number, chunk) in tuples.chunks(CHUNK).enumerate() {
        let fresh: Vec<RelationTuple> = chunk.iter().filter(|t| seen.insert(*t)).cloned().collect();
        let inserted = usize::try_from(store.insert_missing(&fresh).await?).unwrap_or(usize::MAX);
        summary.inserted += inserted;
        summary.skipped_existing += chunk.len().saturating_sub(inserted);
        if (number + 1).is_power_of_two() {
            // after chunks 1, 2, 4, 8, …: the statistics follow the table's growth
            store.refresh_statistics().await?;
        }
        done += chunk.len();
        progress.report(done, summary.read, started, &mut last);
    }
    if tuples.is_empty() {
        progress.report(0, 0, started, &mut last);
    }
    Ok(())
}

/// Loads one fixture file silently (`serve --import`), checked against `namespaces`; the error
/// is one line without the file name (the caller names it).
pub async fn import_file(
    store: &TupleStore,
    namespaces: &NamespaceSet,
    path: &std::path::Path,
) -> Result<ImportSummary, String> {
    let input = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let summary = import_tuples(store, namespaces, &input, Progress::Silent)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(
        file = %path.display(),
        inserted = summary.inserted,
        already_present = summary.skipped_existing,
        "imported relation tuples"
    );
    Ok(summary)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::permission::tuple::{Subject, SubjectSet};

    #[test]
    fn parses_text_lines_skipping_blanks_and_comments() {
        let input =
            "\n// comment\n# another\nDoc:d#owner@alice\n  Group:g#members@(Group:h#members)  \n";
        let tuples = parse_tuples(input).unwrap();
        assert_eq!(tuples.len(), 2);
        assert_eq!(tuples[0].to_string(), "Doc:d#owner@alice");
        assert_eq!(
            tuples[1].subject,
            Subject::Set(SubjectSet {
                namespace: "Group".into(),
                object: "h".into(),
                relation: "members".into(),
            })
        );
    }

    #[test]
    fn text_error_names_the_line() {
        let err = parse_tuples("Doc:d#owner@alice\n\nDoc:d-owner-bob\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("line 3: "), "{err}");
        assert!(err.contains("Doc:d-owner-bob"), "{err}");
    }

    #[test]
    fn parses_json_array() {
        let input = r#"[
            {"namespace": "Doc", "object": "d", "relation": "owner", "subject_id": "alice"},
            {"namespace": "Doc", "object": "d", "relation": "viewer",
             "subject_set": {"namespace": "Group", "object": "g", "relation": "members"}}
        ]"#;
        let tuples = parse_tuples(input).unwrap();
        assert_eq!(
            tuples.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["Doc:d#owner@alice", "Doc:d#viewer@Group:g#members"]
        );
    }

    #[test]
    fn unconfigured_namespaces_are_refused_by_line_or_index() {
        let known = NamespaceSet::from_names(["Doc", "Group"]);
        let ok = parse_known_tuples("Doc:d#owner@alice\nDoc:d#viewer@Group:g#members\n", &known);
        assert_eq!(ok.unwrap().len(), 2);
        let err = parse_known_tuples("Doc:d#owner@alice\n\nNope:x#y@z\n", &known)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "line 3: Unknown namespace with name \"Nope\".");
        let err = parse_known_tuples("Doc:d#viewer@Team:t#members\n", &known)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "line 1: Unknown namespace with name \"Team\".");
        let json = r#"[{"namespace": "Doc", "object": "d", "relation": "r", "subject_id": "a"},
            {"namespace": "Nope", "object": "d", "relation": "r", "subject_id": "a"}]"#;
        let err = parse_known_tuples(json, &known).unwrap_err().to_string();
        assert_eq!(
            err,
            "tuple at index 1: Unknown namespace with name \"Nope\"."
        );
        // Without the check, any namespace parses.
        assert_eq!(parse_tuples("Nope:x#y@z").unwrap().len(), 1);
    }

    #[test]
    fn json_errors_name_the_index() {
        let no_subject = r#"[
            {"namespace": "Doc", "object": "d", "relation": "owner", "subject_id": "alice"},
            {"namespace": "Doc", "object": "d", "relation": "owner"}
        ]"#;
        let err = parse_tuples(no_subject).unwrap_err().to_string();
        assert!(err.starts_with("tuple at index 1: "), "{err}");
        assert!(err.contains("subject"), "{err}");

        let wrong_type = r#"[{"namespace": 7, "object": "d", "relation": "r", "subject_id": "a"}]"#;
        let err = parse_tuples(wrong_type).unwrap_err().to_string();
        assert!(err.starts_with("tuple at index 0: "), "{err}");

        let err = parse_tuples("[{").unwrap_err().to_string();
        assert!(err.starts_with("invalid JSON array"), "{err}");
    }
}
