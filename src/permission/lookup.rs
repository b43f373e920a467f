//! Reverse lookup, a Quartet extension beyond Keto (SpiceDB LookupResources/LookupSubjects,
//! OpenFGA ListObjects/ListUsers) on the read port under `/quartet/lookup/*`, paths Keto
//! never uses. Answers come from the check engine itself over a complete candidate set, so
//! they agree with check by construction (same OPL semantics, depth and strict mode):
//!
//! - objects: every path to "allowed" on `ns:obj` starts from a tuple stored on `ns:obj`, so
//!   the distinct objects of the namespace are a complete candidate set;
//! - subjects: an allowed subject id appears in at least one stored tuple, so the distinct
//!   subject ids are complete.
//!
//! Cost is one check per candidate (run concurrently, pages stop early), at most
//! `lookup.max_candidates` per request (then a 400 naming the key); see
//! `docs/permission-reverse-lookup.md` for the wire format.

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::stream::{self, StreamExt};
use serde::Serialize;

use super::error::{PermissionError, Result};
use super::http::{decode_page_token, encode_page_token, ApiState, Query};
use super::tuple::{RelationTuple, Subject, TupleFilter};

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;
/// Candidates fetched per scan step.
const SCAN: usize = 256;

/// The lookup routes of the read port (4466), beside [`super::http::read_routes`].
pub fn routes(state: ApiState) -> Router {
    Router::new()
        .route("/quartet/lookup/objects", get(lookup_objects))
        .route("/quartet/lookup/subjects", get(lookup_subjects))
        .with_state(state)
}

#[derive(Serialize)]
struct ObjectsPage {
    objects: Vec<String>,
    next_page_token: String,
}

#[derive(Serialize)]
struct SubjectsPage {
    subject_ids: Vec<String>,
    next_page_token: String,
}

fn page_size(q: &Query) -> Result<usize> {
    match q.get("page_size") {
        None | Some("") => Ok(DEFAULT_PAGE),
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            _ => Err(PermissionError::BadRequest(format!(
                "page_size must be an integer between 1 and {MAX_PAGE}, got {raw:?}"
            ))),
        },
    }
}

fn required<'q>(q: &'q Query, key: &str) -> Result<&'q str> {
    q.get(key)
        .ok_or_else(|| PermissionError::BadRequest(format!("query parameter {key:?} is required")))
}

/// Checks candidates in scan order until `size` are allowed or the candidates run out, with
/// at most `budget` checks: a page that needs more is [`PermissionError::LookupTooBroad`].
/// `scan(cursor)` fetches up to [`SCAN`] candidates after `cursor`; `check` answers one.
async fn collect<'a, S, SF, C, CF>(
    after: &str,
    size: usize,
    budget: usize,
    mut scan: S,
    check: C,
) -> Result<(Vec<String>, Option<String>)>
where
    S: FnMut(String) -> SF,
    SF: std::future::Future<Output = Result<Vec<String>>> + 'a,
    C: Fn(String) -> CF + Copy,
    CF: std::future::Future<Output = Result<bool>> + 'a,
{
    let mut out = Vec::new();
    let mut cursor = after.to_string();
    let mut checked = 0usize;
    loop {
        let mut candidates = scan(cursor.clone()).await?;
        let exhausted = candidates.len() < SCAN;
        let left = budget.saturating_sub(checked);
        let cut = candidates.len() > left;
        candidates.truncate(left);
        checked += candidates.len();
        let answers: Vec<(String, Result<bool>)> = stream::iter(candidates)
            .map(|candidate| async move {
                let r = check(candidate.clone()).await;
                (candidate, r)
            })
            .buffered(8)
            .collect()
            .await;
        for (candidate, allowed) in answers {
            cursor = candidate.clone();
            if allowed? {
                out.push(candidate);
                if out.len() == size {
                    return Ok((out, Some(cursor)));
                }
            }
        }
        if cut {
            return Err(PermissionError::LookupTooBroad(budget));
        }
        if exhausted {
            return Ok((out, None));
        }
    }
}

/// Which objects of `namespace` the subject has `relation` (relation or permit) on.
pub async fn objects(
    state: &ApiState,
    namespace: &str,
    relation: &str,
    subject: &Subject,
    depth: Option<i64>,
    after: &str,
    size: usize,
) -> Result<(Vec<String>, Option<String>)> {
    let store = state.engine.store();
    collect(
        after,
        size,
        state.max_lookup_candidates,
        |cursor| async move { store.distinct_objects(namespace, &cursor, SCAN).await },
        |object| async move {
            let t = RelationTuple {
                namespace: namespace.to_string(),
                object,
                relation: relation.to_string(),
                subject: subject.clone(),
            };
            state.engine.check(&t, depth).await
        },
    )
    .await
}

/// Which subject ids have `relation` on `namespace:object`.
pub async fn subjects(
    state: &ApiState,
    namespace: &str,
    object: &str,
    relation: &str,
    depth: Option<i64>,
    after: &str,
    size: usize,
) -> Result<(Vec<String>, Option<String>)> {
    let store = state.engine.store();
    collect(
        after,
        size,
        state.max_lookup_candidates,
        |cursor| async move { store.distinct_subject_ids(&cursor, SCAN).await },
        |id| async move {
            let t = RelationTuple {
                namespace: namespace.to_string(),
                object: object.to_string(),
                relation: relation.to_string(),
                subject: Subject::Id(id),
            };
            state.engine.check(&t, depth).await
        },
    )
    .await
}

async fn lookup_objects(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let q = Query::parse(raw.as_deref());
    let namespace = required(&q, "namespace")?;
    let relation = required(&q, "relation")?;
    let subject = q
        .subject()?
        .ok_or_else(|| PermissionError::BadRequest("subject is not allowed to be nil".into()))?;
    let depth = q.max_depth()?;
    let size = page_size(&q)?;
    let bound = TupleFilter {
        namespace: Some(format!("lookup/objects/{namespace}")),
        object: None,
        relation: Some(relation.to_string()),
        subject: Some(subject.clone()),
    };
    let key = state_key(&state).await?;
    let after = match q.get("page_token") {
        None | Some("") => String::new(),
        Some(t) => decode_page_token(&key, &bound, t)?,
    };
    let (objects, next) =
        objects(&state, namespace, relation, &subject, depth, &after, size).await?;
    let next_page_token = match next {
        Some(c) => encode_page_token(&key, &bound, &c)?,
        None => String::new(),
    };
    Ok(axum::Json(ObjectsPage {
        objects,
        next_page_token,
    })
    .into_response())
}

async fn lookup_subjects(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let q = Query::parse(raw.as_deref());
    let namespace = required(&q, "namespace")?;
    let object = required(&q, "object")?;
    let relation = required(&q, "relation")?;
    let depth = q.max_depth()?;
    let size = page_size(&q)?;
    let bound = TupleFilter {
        namespace: Some(format!("lookup/subjects/{namespace}")),
        object: Some(object.to_string()),
        relation: Some(relation.to_string()),
        subject: None,
    };
    let key = state_key(&state).await?;
    let after = match q.get("page_token") {
        None | Some("") => String::new(),
        Some(t) => decode_page_token(&key, &bound, t)?,
    };
    let (subject_ids, next) =
        subjects(&state, namespace, object, relation, depth, &after, size).await?;
    let next_page_token = match next {
        Some(c) => encode_page_token(&key, &bound, &c)?,
        None => String::new(),
    };
    Ok(axum::Json(SubjectsPage {
        subject_ids,
        next_page_token,
    })
    .into_response())
}

async fn state_key(state: &ApiState) -> Result<Vec<u8>> {
    state.page_key_bytes().await
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Runs `collect` over the candidates `c0000…` (`n` of them), allowing those `allow` picks;
    /// answers the result and how many checks ran.
    async fn run(
        n: usize,
        size: usize,
        budget: usize,
        allow: fn(usize) -> bool,
    ) -> (Result<(Vec<String>, Option<String>)>, usize) {
        let all: Vec<String> = (0..n).map(|i| format!("c{i:04}")).collect();
        let checks = AtomicUsize::new(0);
        let (all, checks_ref) = (&all, &checks);
        let r = collect(
            "",
            size,
            budget,
            |cursor| async move {
                Ok(all
                    .iter()
                    .filter(|c| c.as_str() > cursor.as_str())
                    .take(SCAN)
                    .cloned()
                    .collect())
            },
            |c| async move {
                checks_ref.fetch_add(1, Ordering::SeqCst);
                Ok(allow(c[1..].parse::<usize>().unwrap()))
            },
        )
        .await;
        (r, checks.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn a_page_that_needs_more_checks_than_the_budget_is_refused() {
        let (r, checks) = run(5000, 10, 1000, |i| i == 4999).await;
        assert!(
            matches!(r, Err(PermissionError::LookupTooBroad(1000))),
            "{r:?}"
        );
        assert_eq!(checks, 1000);
        let msg = PermissionError::LookupTooBroad(1000).to_string();
        assert!(msg.contains("permission.lookup.max_candidates"), "{msg}");
    }

    #[tokio::test]
    async fn pages_within_the_budget_are_answered() {
        // the page fills before the budget runs out
        let (r, _) = run(5000, 2, 1000, |i| i % 100 == 0).await;
        assert_eq!(
            r.unwrap(),
            (vec!["c0000".into(), "c0100".into()], Some("c0100".into()))
        );
        // exactly as many candidates as the budget: the last page, not an error
        let (r, checks) = run(1000, 10, 1000, |_| false).await;
        assert_eq!(r.unwrap(), (vec![], None));
        assert_eq!(checks, 1000);
        let (r, _) = run(SCAN, 10, SCAN, |_| true).await;
        assert_eq!(r.unwrap().0.len(), 10);
        let (r, _) = run(SCAN, SCAN + 1, SCAN, |_| true).await;
        assert_eq!(
            r.unwrap(),
            ((0..SCAN).map(|i| format!("c{i:04}")).collect(), None)
        );
    }
}
