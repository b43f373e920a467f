//! The session check of the cookie_session and bearer_token authenticators: the request
//! forwarded to `check_session_url` as Oathkeeper forwards it, the answer read at the GJSON
//! paths `subject_from` and `extra_from`, and Quartet's opt-in session cache around it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use super::cache::{self, CacheCfg, CachePolicy};
use super::error::Error;
use super::http_client::{OutboundRequest, OutboundResponse};
use super::outbound::Outbound;
use super::request::{PipelineRequest, TokenFrom};
use super::template::TemplateData;

/// The cookie_session and bearer_token authenticators' config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SessionCfg {
    pub check_session_url: String,
    pub only: Vec<String>,
    pub token_from: Option<TokenFrom>,
    pub prefix: Option<String>,
    pub preserve_path: bool,
    pub preserve_query: Option<bool>,
    pub preserve_host: bool,
    pub force_method: Option<String>,
    pub forward_http_headers: Vec<String>,
    pub additional_headers: BTreeMap<String, String>,
    pub subject_from: Option<String>,
    pub extra_from: Option<String>,
    /// Quartet's opt-in session cache (`cache.{enabled, ttl, max_cost}`).
    pub cache: CacheCfg,
    #[serde(skip)]
    pub cache_policy: Option<CachePolicy>,
    /// `check_session_url`, parsed once when the rule loads.
    #[serde(skip)]
    pub check_session: Option<url::Url>,
}

/// The session cache's ttl when `cache.enabled` names none (Quartet extension).
pub const SESSION_CACHE_DEFAULT_TTL: &str = "10s";
/// Its default bound on entries.
pub const SESSION_CACHE_DEFAULT_MAX: u64 = 100_000;

/// cookie_session / bearer_token: ask the session endpoint, as Oathkeeper forwards the request.
pub(super) async fn forward_session(
    out: &Outbound,
    cfg: &SessionCfg,
    req: &PipelineRequest,
    session: &mut TemplateData,
    always_forward: &str,
    default_subject: &str,
) -> Result<(), Error> {
    let mut url = match &cfg.check_session {
        Some(url) => url.clone(),
        None => {
            url::Url::parse(&cfg.check_session_url).map_err(|e| Error::internal(e.to_string()))?
        }
    };
    if !cfg.preserve_path {
        url.set_path(&req.url.path);
    }
    if !cfg.preserve_query.unwrap_or(true) {
        url.set_query(if req.url.raw_query.is_empty() {
            None
        } else {
            Some(&req.url.raw_query)
        });
    }
    let mut headers = HeaderMap::new();
    let mut names: Vec<&str> = cfg
        .forward_http_headers
        .iter()
        .map(String::as_str)
        .collect();
    names.push(always_forward);
    for name in names {
        for v in req.headers.get_all(name) {
            if let Ok(n) = HeaderName::from_bytes(name.as_bytes()) {
                headers.append(n, v.clone());
            }
        }
    }
    if cfg.preserve_host {
        if let Ok(v) = HeaderValue::from_str(&req.url.host) {
            headers.insert("x-forwarded-host", v);
        }
    }
    for (k, v) in &cfg.additional_headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            headers.insert(n, v);
        }
    }
    let method = cfg
        .force_method
        .as_deref()
        .filter(|m| !m.is_empty())
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .unwrap_or_else(|| req.method.clone());
    let subject_path = cfg.subject_from.as_deref().unwrap_or(default_subject);
    let extra_path = cfg.extra_from.as_deref().unwrap_or("extra");
    // Keyed by the session request and by what this rule reads from the answer, the cache
    // holds the decoded session: a hit parses nothing and copies no JSON.
    let cached = cfg.cache_policy.map(|policy| {
        let mut parts: Vec<&[u8]> = vec![
            method.as_str().as_bytes(),
            url.as_str().as_bytes(),
            subject_path.as_bytes(),
            extra_path.as_bytes(),
        ];
        for (k, v) in &headers {
            parts.push(k.as_str().as_bytes());
            parts.push(v.as_bytes());
        }
        let k = cache::key(&parts);
        (
            policy,
            k,
            out.caches.sessions.get(&k, out.clock.now_system()),
        )
    });
    let found = match cached {
        Some((_, _, Some(hit))) => hit,
        _ => {
            let resp = out
                .sessions
                .check_session(OutboundRequest {
                    method,
                    url,
                    headers,
                    body: Bytes::new(),
                })
                .await
                .map_err(Error::forbidden)?;
            if resp.status != 200 {
                return Err(Error::unauthorized(format!(
                    "the session endpoint answered {}",
                    resp.status
                )));
            }
            let found = decode_session(resp, subject_path, extra_path)?;
            if let Some((policy, k, None)) = cached {
                let now = out.clock.now_system();
                let ttl = policy.ttl.unwrap_or(std::time::Duration::from_secs(10));
                out.caches.sessions.put(
                    k,
                    found.clone(),
                    cache::after(now, ttl),
                    now,
                    policy.max_entries,
                );
            }
            found
        }
    };
    session.subject = found.subject;
    session.extra = found.extra;
    Ok(())
}

/// The subject and extra a session endpoint's 200 answer gives, read at Oathkeeper's GJSON
/// paths `subject_from` and `extra_from`.
fn decode_session(
    answer: OutboundResponse,
    subject_path: &str,
    extra_path: &str,
) -> Result<cache::SessionFound, Error> {
    let body: Value = match answer.json {
        Some(decoded) => decoded,
        None => serde_json::from_slice(&answer.body)
            .map_err(|e| Error::internal(format!("the session endpoint answered no JSON: {e}")))?,
    };
    let subject = match gjson_ref(&body, subject_path).as_deref() {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(Error::forbidden(format!("The configured subject_from GJSON path returned an error on JSON output: expected a string but got {other}"))),
    };
    // `@this` (the common choice: the whole session) moves the answer instead of copying it.
    let extra = if is_this(extra_path) {
        Some(body)
    } else {
        gjson_ref(&body, extra_path).map(Cow::into_owned)
    };
    let extra = match extra {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(Arc::new(m)),
        Some(_) => return Err(Error::forbidden("The configured extra_from GJSON path returned an error on JSON output: expected an object")),
    };
    Ok(cache::SessionFound { subject, extra })
}

fn is_this(path: &str) -> bool {
    path == "@this" || path.is_empty()
}

/// The GJSON paths configs use: `a.b.c`, `@this`, array indices, `\.` escapes.
#[cfg(test)]
pub fn gjson(v: &Value, path: &str) -> Option<Value> {
    gjson_ref(v, path).map(Cow::into_owned)
}

/// As [`gjson`], borrowing the node it finds (only an array's `#` count is a new value).
fn gjson_ref<'v>(v: &'v Value, path: &str) -> Option<Cow<'v, Value>> {
    if is_this(path) {
        return Some(Cow::Borrowed(v));
    }
    let mut segments = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '.' => segments.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    segments.push(cur);
    let mut node = v;
    for seg in &segments {
        node = match node {
            Value::Object(m) => m.get(seg)?,
            Value::Array(a) if seg == "#" => return Some(Cow::Owned(Value::from(a.len()))),
            Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(Cow::Borrowed(node))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn gjson_paths() {
        let v = json!({"identity": {"id": "u1", "a.b": 2}, "list": [1, 2]});
        assert_eq!(gjson(&v, "identity.id"), Some(json!("u1")));
        assert_eq!(gjson(&v, "identity.a\\.b"), Some(json!(2)));
        assert_eq!(gjson(&v, "list.1"), Some(json!(2)));
        assert_eq!(gjson(&v, "@this"), Some(v.clone()));
        assert_eq!(gjson(&v, "nope.x"), None);
    }
}
