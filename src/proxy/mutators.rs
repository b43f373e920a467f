//! The mutators: [`Mutator`] compiled from a rule's handler config (noop, header, cookie,
//! hydrator, id_token), and `mutate`: what each sets on the session's headers (the hydrator
//! also replaces its extra).

use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Map, Value};

use super::cache::{self, CacheCfg, CachePolicy};
use super::error::Error;
use super::http_client::OutboundRequest;
use super::outbound::Outbound;
use super::request::{cookies, PipelineRequest};
use super::template::{session_json, templates, with_shared, Template, TemplateData};

/// The id_token mutator, compiled.
#[derive(Debug, Clone)]
pub struct IdTokenCfg {
    pub issuer_url: String,
    pub jwks_url: String,
    pub ttl: std::time::Duration,
    pub claims: Option<Template>,
}

/// A compiled mutator.
#[derive(Debug, Clone)]
pub enum Mutator {
    Noop,
    Header(Vec<(HeaderName, Template)>),
    Cookie(Vec<(String, Template)>),
    Hydrator {
        url: String,
        basic: Option<(String, String)>,
        cache: Option<CachePolicy>,
    },
    IdToken(Arc<IdTokenCfg>),
}

/// The hydrator cache's bound on entries (Oathkeeper's schema has no key for it).
pub const HYDRATOR_CACHE_MAX: u64 = 100_000;

impl Mutator {
    pub fn build(id: &str, config: Value) -> Result<Self, String> {
        Ok(match id {
            "noop" => Mutator::Noop,
            "header" => {
                let mut out = Vec::new();
                for (k, t) in templates(config.get("headers"), "headers")? {
                    let name = HeaderName::from_bytes(k.as_bytes())
                        .map_err(|e| format!("config.headers.{k}: not a header name: {e}"))?;
                    out.push((name, t));
                }
                Mutator::Header(out)
            }
            "cookie" => Mutator::Cookie(templates(config.get("cookies"), "cookies")?),
            "hydrator" => {
                let api = config.get("api").cloned().unwrap_or_default();
                let u = api.get("url").and_then(Value::as_str).unwrap_or_default();
                url::Url::parse(u).map_err(|e| format!("config.api.url: {e}"))?;
                let basic = api.pointer("/auth/basic").map(|b| {
                    let f = |k: &str| {
                        b.get(k)
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string()
                    };
                    (f("username"), f("password"))
                });
                let mut cache: CacheCfg = match config.get("cache") {
                    Some(c) => serde_path_to_error::deserialize(c.clone())
                        .map_err(|e| format!("config.cache.{}: {}", e.path(), e.inner()))?,
                    None => CacheCfg::default(),
                };
                // Oathkeeper: a ttl of 0 (or none) means the default minute.
                if cache
                    .ttl
                    .as_deref()
                    .and_then(super::handlers::go_duration)
                    .is_none_or(|d| d.is_zero())
                {
                    cache.ttl = Some("1m".into());
                }
                Mutator::Hydrator {
                    url: u.to_string(),
                    basic,
                    cache: cache.policy(HYDRATOR_CACHE_MAX)?,
                }
            }
            "id_token" => {
                let text = |k: &str| {
                    config
                        .get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                let jwks_url = text("jwks_url");
                super::repository::Source::parse(&jwks_url)
                    .map_err(|e| format!("config.jwks_url: {e}"))?;
                let ttl_text = config.get("ttl").and_then(Value::as_str).unwrap_or("15m");
                let ttl = super::handlers::go_duration(ttl_text)
                    .ok_or_else(|| format!("config.ttl: {ttl_text:?} is not a duration"))?;
                let claims = match config.get("claims").and_then(Value::as_str) {
                    Some(c) if !c.trim().is_empty() => Some(
                        Template::parse(c).map_err(|e| format!("config.claims: template: {e}"))?,
                    ),
                    _ => None,
                };
                Mutator::IdToken(Arc::new(IdTokenCfg {
                    issuer_url: text("issuer_url"),
                    jwks_url,
                    ttl,
                    claims,
                }))
            }
            other => return Err(format!("mutator {other:?} is not supported by Quartet yet")),
        })
    }
}

/// Runs one mutator on the session.
pub(super) async fn mutate(
    out: &Outbound,
    m: &Mutator,
    req: &PipelineRequest,
    session: &mut TemplateData,
) -> Result<(), Error> {
    match m {
        Mutator::Noop => session.header_over_request = true,
        Mutator::Header(list) => {
            let rendered = with_shared(session, |d| {
                list.iter()
                    .map(|(name, t)| {
                        let v = t
                            .execute_shared(d)
                            .map_err(|e| Error::internal(format!("header {name}: {e}")))?;
                        let v = HeaderValue::from_str(&v).map_err(|_| {
                            Error::internal(format!(
                                "header {name}: the value is not a valid header value"
                            ))
                        })?;
                        Ok((name.clone(), v))
                    })
                    .collect::<Result<Vec<_>, Error>>()
            })?;
            for (name, v) in rendered {
                session.header.insert(name, v);
            }
        }
        Mutator::Cookie(list) => {
            let mut parts = with_shared(session, |d| {
                list.iter()
                    .map(|(name, t)| {
                        t.execute_shared(d)
                            .map(|v| format!("{name}={v}"))
                            .map_err(|e| Error::internal(format!("cookie {name}: {e}")))
                    })
                    .collect::<Result<Vec<_>, Error>>()
            })?;
            for (k, v) in cookies(&req.headers) {
                if !list.iter().any(|(n, _)| *n == k) {
                    parts.push(format!("{k}={v}"));
                }
            }
            let v = HeaderValue::from_str(&parts.join("; "))
                .map_err(|_| Error::internal("cookie: invalid value"))?;
            session.header.insert(header::COOKIE, v);
        }
        Mutator::IdToken(cfg) => mint_id_token(out, cfg, session).await?,
        Mutator::Hydrator { url, basic, cache } => {
            hydrator(out, url, basic.as_ref(), cache.as_ref(), req, session).await?
        }
    }
    Ok(())
}

/// The hydrator: the session POSTed to `url` (or its answer found in the cache); the answer
/// keeps the subject and replaces the extra, and its `header` (when present) the headers.
async fn hydrator(
    out: &Outbound,
    url: &str,
    basic: Option<&(String, String)>,
    cache: Option<&CachePolicy>,
    req: &PipelineRequest,
    session: &mut TemplateData,
) -> Result<(), Error> {
    let body =
        serde_json::to_vec(&session_json(session)).map_err(|e| Error::internal(e.to_string()))?;
    let cache_key = cache::key(&[url.as_bytes(), &body]);
    let hit = match cache {
        Some(_) => out.caches.hydrator.get(&cache_key, out.clock.now_system()),
        None => None,
    };
    let answer = match hit {
        Some(a) => a,
        None => {
            let a = hydrate(out, url, basic, req, body).await?;
            if let Some(policy) = cache {
                let now = out.clock.now_system();
                let ttl = policy.ttl.unwrap_or(std::time::Duration::from_secs(60));
                out.caches.hydrator.put(
                    cache_key,
                    a.clone(),
                    cache::after(now, ttl),
                    now,
                    policy.max_entries,
                );
            }
            a
        }
    };
    let v: Value = serde_json::from_slice(&answer)
        .map_err(|e| Error::internal(format!("hydrator response: {e}")))?;
    let subject = v.get("subject").and_then(Value::as_str).unwrap_or_default();
    if subject != session.subject {
        return Err(Error::internal("The hydrator changed the subject"));
    }
    session.extra = v
        .get("extra")
        .and_then(Value::as_object)
        .cloned()
        .map(Arc::new);
    if let Some(Value::Object(h)) = v.get("header") {
        let mut map = HeaderMap::new();
        for (k, vals) in h {
            if let (Ok(n), Some(Value::String(first))) =
                (HeaderName::from_bytes(k.as_bytes()), vals.get(0))
            {
                if let Ok(v) = HeaderValue::from_str(first) {
                    map.insert(n, v);
                }
            }
        }
        session.header = map;
        session.header_over_request = false;
    }
    Ok(())
}

/// The id_token mutator: claims from the template, then Oathkeeper's forced claims, signed with
/// the first private key at `jwks_url`; sets `Authorization: Bearer <jwt>`.
async fn mint_id_token(
    out: &Outbound,
    cfg: &IdTokenCfg,
    session: &mut TemplateData,
) -> Result<(), Error> {
    let mut claims = match &cfg.claims {
        Some(t) => {
            let text = with_shared(session, |d| t.execute_shared(d))
                .map_err(|e| Error::internal(format!("id_token claims: {e}")))?;
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(m)) => m,
                Ok(_) => {
                    return Err(Error::internal(
                        "id_token claims: the template must render a JSON object",
                    ))
                }
                Err(e) => {
                    return Err(Error::internal(format!(
                        "id_token claims: the rendered template is not JSON: {e}"
                    )))
                }
            }
        }
        None => Map::new(),
    };
    let now = out.now_secs();
    let ttl = cfg.ttl.as_secs() as i64;
    claims.insert("exp".into(), Value::from(now + ttl));
    claims.insert("jti".into(), Value::from(uuid::Uuid::new_v4().to_string()));
    claims.insert("iat".into(), Value::from(now));
    claims.insert("nbf".into(), Value::from(now));
    claims.insert("iss".into(), Value::from(cfg.issuer_url.clone()));
    claims.insert("sub".into(), Value::from(session.subject.clone()));
    let keys = out
        .keys
        .get(&cfg.jwks_url)
        .await
        .map_err(|e| Error::internal(format!("id_token: {e}")))?;
    let jwt =
        super::jose::sign(&keys, claims).map_err(|e| Error::internal(format!("id_token: {e}")))?;
    let v = HeaderValue::from_str(&format!("Bearer {jwt}"))
        .map_err(|_| Error::internal("id_token: the token is not a valid header value"))?;
    session.header.insert(header::AUTHORIZATION, v);
    Ok(())
}

/// The hydrator's POST; the body of its 200.
async fn hydrate(
    out: &Outbound,
    url: &str,
    basic: Option<&(String, String)>,
    req: &PipelineRequest,
    body: Vec<u8>,
) -> Result<Bytes, Error> {
    let mut u = url::Url::parse(url).map_err(|e| Error::internal(e.to_string()))?;
    if !req.url.raw_query.is_empty() {
        u.set_query(Some(&req.url.raw_query));
    }
    let mut headers = (*req.headers).clone();
    headers.remove(header::CONTENT_LENGTH);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some((user, pass)) = basic {
        let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        if let Ok(v) = HeaderValue::from_str(&format!("Basic {b}")) {
            headers.insert(header::AUTHORIZATION, v);
        }
    }
    let resp = out
        .http
        .send(OutboundRequest {
            method: Method::POST,
            url: u,
            headers,
            body: Bytes::from(body),
        })
        .await
        .map_err(|e| Error::internal(format!("the hydrator could not be reached: {e}")))?;
    match resp.status {
        200 => {}
        401 => return Err(Error::internal("The hydrator answered 401 Unauthorized")),
        s => return Err(Error::internal(format!("The hydrator answered {s}"))),
    }
    Ok(resp.body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn id_token_config_is_checked_at_load() {
        let ok = json!({"issuer_url": "https://i/", "jwks_url": "file:///k.json", "ttl": "1h",
            "claims": "{\"aud\": [\"a\"]}"});
        assert!(
            matches!(Mutator::build("id_token", ok), Ok(Mutator::IdToken(c)) if c.ttl.as_secs() == 3600)
        );
        let bad =
            json!({"issuer_url": "https://i/", "jwks_url": "file:///k.json", "claims": "{{ nope"});
        assert!(Mutator::build("id_token", bad)
            .unwrap_err()
            .starts_with("config.claims"));
    }
}
