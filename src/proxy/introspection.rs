//! The oauth2_introspection authenticator: the token introspected at `introspection_url`
//! (after a pre-authorization grant when configured), Oathkeeper's checks of the answer
//! (token use, active, expiry, audience, issuer, scope by strategy), its cache, and the session
//! it yields.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::cache::{self, CacheCfg, CachePolicy};
use super::error::Error;
use super::http_client::{encode_form, OutboundRequest};
use super::outbound::Outbound;
use super::request::{PipelineRequest, TokenFrom};
use super::scope::scope_granted;
use super::template::TemplateData;

/// `pre_authorization`: a client-credentials grant whose token authorizes the introspection.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PreAuth {
    pub enabled: bool,
    pub client_id: String,
    pub client_secret: String,
    pub token_url: String,
    pub audience: String,
    pub scope: Vec<String>,
}

/// The oauth2_introspection authenticator's config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct IntrospectionCfg {
    pub introspection_url: String,
    pub token_from: Option<TokenFrom>,
    pub prefix: Option<String>,
    pub scope_strategy: Option<String>,
    pub required_scope: Vec<String>,
    pub target_audience: Vec<String>,
    pub trusted_issuers: Vec<String>,
    pub pre_authorization: Option<PreAuth>,
    pub introspection_request_headers: BTreeMap<String, String>,
    pub preserve_host: bool,
    pub cache: CacheCfg,
    #[serde(skip)]
    pub cache_policy: Option<CachePolicy>,
}

/// oauth2_introspection: the token introspected (or found in the cache), Oathkeeper's checks,
/// and the session: `sub` as subject, `ext` with `username`, `client_id`, `scope`, `aud` as extra.
pub(super) async fn introspect(
    out: &Outbound,
    cfg: &IntrospectionCfg,
    req: &PipelineRequest,
    session: &mut TemplateData,
    token: &str,
) -> Result<(), Error> {
    let strategy = cfg.scope_strategy.as_deref().unwrap_or("none");
    let strategy = if matches!(strategy, "hierarchic" | "exact" | "wildcard") {
        strategy
    } else {
        "none"
    };
    // Oathkeeper bypasses its cache when Hydra checks the scope (strategy none + scopes).
    let policy = cfg
        .cache_policy
        .filter(|_| strategy != "none" || cfg.required_scope.is_empty());
    let cache_key = cache::key(&[cfg.introspection_url.as_bytes(), token.as_bytes()]);
    let hit = match policy {
        Some(_) => out
            .caches
            .introspection
            .get(&cache_key, out.clock.now_system()),
        None => None,
    };
    let from_cache = hit.is_some();
    let body = match hit {
        Some(b) => b,
        None => Arc::new(call_introspection(out, cfg, req, token, strategy).await?),
    };
    if let Some(use_) = body.get("token_use").and_then(Value::as_str) {
        if !use_.is_empty() && use_ != "access_token" {
            return Err(Error::forbidden(format!(
                "Use of introspected token is not an access token but \"{use_}\""
            )));
        }
    }
    if !body.get("active").and_then(Value::as_bool).unwrap_or(false) {
        return Err(Error::unauthorized(
            "Access token i.e. bearer token is not active",
        ));
    }
    let exp = body.get("exp").and_then(Value::as_i64).unwrap_or(0);
    if exp > 0 && exp < out.now_secs() {
        return Err(Error::unauthorized("Access token expired"));
    }
    let aud: Vec<String> = match body.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    for a in &cfg.target_audience {
        if !aud.contains(a) {
            return Err(Error::forbidden(format!(
                "Token audience is not intended for target audience {a}"
            )));
        }
    }
    let iss = body.get("iss").and_then(Value::as_str).unwrap_or_default();
    if !cfg.trusted_issuers.is_empty() && !cfg.trusted_issuers.iter().any(|t| t == iss) {
        return Err(Error::forbidden(
            "Token issuer does not match any trusted issuer",
        ));
    }
    let scope = body
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if strategy != "none" {
        let granted: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
        for s in &cfg.required_scope {
            if !scope_granted(strategy, &granted, s) {
                return Err(Error::forbidden(format!("Scope {s} was not granted")));
            }
        }
    }
    if let (Some(policy), false) = (policy, from_cache) {
        // Cached no longer than the token lives and than `ttl`; a token without either bound
        // is not cached (Oathkeeper would keep it until evicted).
        let now = out.clock.now_system();
        let until_exp = (exp > 0).then(|| cache::unix(exp));
        let until_ttl = policy.ttl.map(|t| cache::after(now, t));
        let expires = match (until_exp, until_ttl) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(expires) = expires {
            out.caches
                .introspection
                .put(cache_key, body.clone(), expires, now, policy.max_entries);
        }
    }
    session.subject = body
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut extra = match body.get("ext") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    for k in ["username", "client_id"] {
        extra.insert(
            k.into(),
            body.get(k).cloned().unwrap_or(Value::String(String::new())),
        );
    }
    extra.insert("scope".into(), Value::String(scope));
    if !aud.is_empty() {
        extra.insert("aud".into(), Value::from(aud));
    }
    session.extra = Some(Arc::new(extra));
    Ok(())
}

/// The introspection request itself (with pre-authorization); the decoded JSON of a 200.
async fn call_introspection(
    out: &Outbound,
    cfg: &IntrospectionCfg,
    req: &PipelineRequest,
    token: &str,
    strategy: &str,
) -> Result<Value, Error> {
    let scope = cfg.required_scope.join(" ");
    let mut pairs = vec![("token", token)];
    if strategy == "none" && !scope.is_empty() {
        pairs.push(("scope", &scope));
    }
    let form = encode_form(&pairs);
    let url =
        url::Url::parse(&cfg.introspection_url).map_err(|e| Error::internal(e.to_string()))?;
    let mut headers = HeaderMap::new();
    for (k, v) in &cfg.introspection_request_headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            headers.insert(n, v);
        }
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    if cfg.preserve_host {
        if let Ok(v) = HeaderValue::from_str(&req.url.host) {
            headers.insert("x-forwarded-host", v);
        }
    }
    if let Some(pre) = cfg.pre_authorization.as_ref().filter(|p| p.enabled) {
        let t = pre_authorize(out, pre).await?;
        if let Ok(v) = HeaderValue::from_str(&format!("Bearer {t}")) {
            headers.insert(header::AUTHORIZATION, v);
        }
    }
    let resp = out
        .introspector
        .introspect(OutboundRequest {
            method: Method::POST,
            url,
            headers,
            body: Bytes::from(form),
        })
        .await
        .map_err(|e| Error::internal(format!("token introspection failed: {e}")))?;
    if resp.status != 200 {
        return Err(Error::internal(format!(
            "Introspection returned status code {} but expected 200",
            resp.status
        )));
    }
    let body: Value = serde_json::from_slice(&resp.body)
        .map_err(|e| Error::internal(format!("introspection answered no JSON: {e}")))?;
    Ok(body)
}

/// The pre-authorization's client-credentials grant; the access token it issues.
async fn pre_authorize(out: &Outbound, pre: &PreAuth) -> Result<String, Error> {
    let url = url::Url::parse(&pre.token_url)
        .map_err(|e| Error::internal(format!("pre_authorization.token_url: {e}")))?;
    let scope = pre.scope.join(" ");
    let mut pairs = vec![("grant_type", "client_credentials")];
    if !scope.is_empty() {
        pairs.push(("scope", &scope));
    }
    if !pre.audience.is_empty() {
        pairs.push(("audience", &pre.audience));
    }
    let form = encode_form(&pairs);
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", pre.client_id, pre.client_secret));
    if let Ok(v) = HeaderValue::from_str(&format!("Basic {basic}")) {
        headers.insert(header::AUTHORIZATION, v);
    }
    let resp = out
        .http
        .send(OutboundRequest {
            method: Method::POST,
            url,
            headers,
            body: Bytes::from(form),
        })
        .await
        .map_err(|e| Error::internal(format!("pre-authorization failed: {e}")))?;
    let body: Value = serde_json::from_slice(&resp.body).unwrap_or_default();
    match body.get("access_token").and_then(Value::as_str) {
        Some(t) if resp.status == 200 => Ok(t.to_string()),
        _ => Err(Error::internal(format!(
            "pre-authorization token endpoint answered {}",
            resp.status
        ))),
    }
}
