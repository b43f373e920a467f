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
//! Cost is one check per candidate (run concurrently, pages stop early); see
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

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/quartet/lookup/objects", get(lookup_objects))
        .route("/quartet/lookup/subjects", get(lookup_subjects))
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
    let mut out = Vec::new();
    let mut cursor = after.to_string();
    loop {
        let candidates = state
            .engine
            .store()
            .distinct_objects(namespace, &cursor, SCAN)
            .await?;
        let exhausted = candidates.len() < SCAN;
        let checked: Vec<(String, Result<bool>)> = stream::iter(candidates)
            .map(|object| async move {
                let t = RelationTuple {
                    namespace: namespace.to_string(),
                    object: object.clone(),
                    relation: relation.to_string(),
                    subject: subject.clone(),
                };
                let r = state.engine.check(&t, depth).await;
                (object, r)
            })
            .buffered(8)
            .collect()
            .await;
        for (object, allowed) in checked {
            cursor = object.clone();
            if allowed? {
                out.push(object);
                if out.len() == size {
                    return Ok((out, Some(cursor)));
                }
            }
        }
        if exhausted {
            return Ok((out, None));
        }
    }
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
    let mut out = Vec::new();
    let mut cursor = after.to_string();
    loop {
        let candidates = state
            .engine
            .store()
            .distinct_subject_ids(&cursor, SCAN)
            .await?;
        let exhausted = candidates.len() < SCAN;
        let checked: Vec<(String, Result<bool>)> = stream::iter(candidates)
            .map(|id| async move {
                let t = RelationTuple {
                    namespace: namespace.to_string(),
                    object: object.to_string(),
                    relation: relation.to_string(),
                    subject: Subject::Id(id.clone()),
                };
                let r = state.engine.check(&t, depth).await;
                (id, r)
            })
            .buffered(8)
            .collect()
            .await;
        for (id, allowed) in checked {
            cursor = id.clone();
            if allowed? {
                out.push(id);
                if out.len() == size {
                    return Ok((out, Some(cursor)));
                }
            }
        }
        if exhausted {
            return Ok((out, None));
        }
    }
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
