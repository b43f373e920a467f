//! Bulk import of relation tuples (`quartet import tuples FILE`): a JSON array of Keto's
//! relation-tuple objects or Keto's text lines `ns:obj#rel@subject`. Everything is parsed
//! before anything is written; the tuples then go in chunks of [`CHUNK`] per transaction,
//! skipping those already stored, so that running the same file twice changes nothing.

use std::collections::HashSet;
use std::io::Write;

use super::error::PermissionError;
use super::http::TupleDto;
use super::store::TupleStore;
use super::tuple::RelationTuple;

/// Tuples per transaction.
pub const CHUNK: usize = 1000;

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

/// Parses the whole input: a JSON array when it starts with `[`, text lines otherwise (blank
/// lines and lines starting with `//` or `#` are skipped). An error names the line number
/// (text, from 1) or the array index (JSON, from 0).
pub fn parse_tuples(input: &str) -> Result<Vec<RelationTuple>, PermissionError> {
    if input.trim_start().starts_with('[') {
        parse_json(input)
    } else {
        parse_text(input)
    }
}

fn parse_json(input: &str) -> Result<Vec<RelationTuple>, PermissionError> {
    let items: Vec<serde_json::Value> = serde_json::from_str(input)
        .map_err(|e| PermissionError::BadRequest(format!("invalid JSON array: {e}")))?;
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            serde_json::from_value::<TupleDto>(item)
                .map_err(|e| PermissionError::BadJson(e.to_string()))
                .and_then(TupleDto::into_domain)
                .map_err(|e| PermissionError::BadRequest(format!("tuple at index {index}: {e}")))
        })
        .collect()
}

fn parse_text(input: &str) -> Result<Vec<RelationTuple>, PermissionError> {
    input
        .lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim()))
        .filter(|(_, line)| !(line.is_empty() || line.starts_with("//") || line.starts_with('#')))
        .map(|(number, line)| {
            RelationTuple::parse(line)
                .map_err(|e| PermissionError::BadRequest(format!("line {number}: {e}")))
        })
        .collect()
}

/// Parses `input` (see [`parse_tuples`]) and, only when all of it parses, inserts the tuples
/// not yet stored, [`CHUNK`] per transaction, writing `imported N/M` to `out` after each chunk.
pub async fn import_tuples(
    store: &TupleStore,
    input: &str,
    out: &mut impl Write,
) -> Result<ImportSummary, PermissionError> {
    let tuples = parse_tuples(input)?;
    let mut summary = ImportSummary {
        read: tuples.len(),
        ..ImportSummary::default()
    };
    let mut seen = HashSet::new();
    let mut done = 0;
    for chunk in tuples.chunks(CHUNK) {
        let mut fresh = Vec::with_capacity(chunk.len());
        for tuple in chunk {
            if seen.insert(tuple) && !store.exists(tuple).await? {
                fresh.push(tuple.clone());
            }
        }
        store.transact(&fresh, &[]).await?;
        summary.inserted += fresh.len();
        summary.skipped_existing += chunk.len() - fresh.len();
        done += chunk.len();
        let _ = writeln!(out, "imported {done}/{}", summary.read);
    }
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
