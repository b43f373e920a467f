//! The access-rule pipeline: authenticators (first responsible wins), one authorizer, every
//! mutator — compiled from a rule's handler list at load, run per request. Handler semantics
//! follow Oathkeeper v0.40's code (see the reference note), including its quirks.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::cache::{self, CacheCfg, CachePolicy};
use super::error::Error;
use super::outbound::{Outbound, OutboundRequest, OutboundResponse};
use super::template::{session_json, Template, TemplateData};

/// `token_from` of bearer_token, oauth2_introspection and jwt.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TokenFrom {
    pub header: Option<String>,
    pub query_parameter: Option<String>,
    pub cookie: Option<String>,
}

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

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ClientCredentialsCfg {
    pub token_url: String,
    pub required_scope: Vec<String>,
    pub cache: CacheCfg,
    #[serde(skip)]
    pub cache_policy: Option<CachePolicy>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct JwtCfg {
    pub jwks_urls: Vec<String>,
    pub allowed_algorithms: Vec<String>,
    pub token_from: Option<TokenFrom>,
    pub required_scope: Vec<String>,
    pub scope_strategy: Option<String>,
    pub target_audience: Vec<String>,
    pub trusted_issuers: Vec<String>,
    /// Read from the global config only, as Oathkeeper (`Proxy::start_with`).
    pub jwks_max_wait: Option<String>,
    pub jwks_ttl: Option<String>,
}

/// The id_token mutator, compiled.
#[derive(Debug, Clone)]
pub struct IdTokenCfg {
    pub issuer_url: String,
    pub jwks_url: String,
    pub ttl: std::time::Duration,
    pub claims: Option<Template>,
}

/// A compiled authenticator.
#[derive(Debug, Clone)]
pub enum Authn {
    Noop,
    Unauthorized,
    Anonymous { subject: String },
    CookieSession(Arc<SessionCfg>),
    BearerToken(Arc<SessionCfg>),
    Introspection(Arc<IntrospectionCfg>),
    ClientCredentials(Arc<ClientCredentialsCfg>),
    Jwt(Arc<JwtCfg>),
}

/// A compiled authorizer.
#[derive(Debug, Clone)]
pub enum Authz {
    Allow,
    Deny,
    Remote {
        url: String,
        headers: Vec<(String, Template)>,
        forward: Vec<String>,
    },
    RemoteJson {
        url: String,
        payload: Template,
        headers: Vec<(String, Template)>,
        forward: Vec<String>,
    },
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

/// The session cache's ttl when `cache.enabled` names none (Quartet extension).
pub const SESSION_CACHE_DEFAULT_TTL: &str = "10s";
/// Its default bound on entries.
pub const SESSION_CACHE_DEFAULT_MAX: u64 = 100_000;
/// The hydrator cache's bound on entries (Oathkeeper's schema has no key for it).
pub const HYDRATOR_CACHE_MAX: u64 = 100_000;

fn decode<T: for<'de> Deserialize<'de>>(config: Value) -> Result<T, String> {
    serde_path_to_error::deserialize(config)
        .map_err(|e| format!("config.{}: {}", e.path(), e.inner()))
}

fn templates(map: Option<&Value>, at: &str) -> Result<Vec<(String, Template)>, String> {
    let mut out = Vec::new();
    if let Some(Value::Object(m)) = map {
        for (k, v) in m {
            let text = v.as_str().unwrap_or_default();
            let t = Template::parse(text).map_err(|e| format!("config.{at}.{k}: template: {e}"))?;
            out.push((k.clone(), t));
        }
    }
    Ok(out)
}

impl Authn {
    pub fn build(id: &str, config: Value) -> Result<Self, String> {
        Ok(match id {
            "noop" => Authn::Noop,
            "unauthorized" => Authn::Unauthorized,
            "anonymous" => Authn::Anonymous {
                subject: config
                    .get("subject")
                    .and_then(Value::as_str)
                    .unwrap_or("anonymous")
                    .to_string(),
            },
            "cookie_session" | "bearer_token" => {
                let mut cfg: SessionCfg = decode(config)?;
                if cfg.cache.enabled && cfg.cache.ttl.is_none() {
                    cfg.cache.ttl = Some(SESSION_CACHE_DEFAULT_TTL.into());
                }
                cfg.cache_policy = cfg.cache.policy(SESSION_CACHE_DEFAULT_MAX)?;
                cfg.check_session = Some(
                    url::Url::parse(&cfg.check_session_url)
                        .map_err(|e| format!("config.check_session_url: {e}"))?,
                );
                if id == "cookie_session" {
                    Authn::CookieSession(Arc::new(cfg))
                } else {
                    Authn::BearerToken(Arc::new(cfg))
                }
            }
            "oauth2_introspection" => {
                let mut cfg: IntrospectionCfg = decode(config)?;
                cfg.cache_policy = cfg.cache.policy(100_000_000)?;
                url::Url::parse(&cfg.introspection_url)
                    .map_err(|e| format!("config.introspection_url: {e}"))?;
                Authn::Introspection(Arc::new(cfg))
            }
            "oauth2_client_credentials" => {
                let mut cfg: ClientCredentialsCfg = decode(config)?;
                cfg.cache_policy = cfg.cache.policy(1000)?;
                url::Url::parse(&cfg.token_url).map_err(|e| format!("config.token_url: {e}"))?;
                Authn::ClientCredentials(Arc::new(cfg))
            }
            "jwt" => {
                let mut cfg: JwtCfg = decode(config)?;
                for (i, u) in cfg.jwks_urls.iter().enumerate() {
                    super::repository::Source::parse(u)
                        .map_err(|e| format!("config.jwks_urls.{i}: {e}"))?;
                }
                if cfg.allowed_algorithms.is_empty() {
                    cfg.allowed_algorithms = vec!["RS256".into()];
                }
                Authn::Jwt(Arc::new(cfg))
            }
            other => {
                return Err(format!(
                    "authenticator {other:?} is not supported by Quartet yet"
                ))
            }
        })
    }
}

impl Authz {
    pub fn build(id: &str, config: Value) -> Result<Self, String> {
        let forward = |c: &Value| -> Vec<String> {
            c.get("forward_response_headers_to_upstream")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let remote = |c: &Value| -> Result<String, String> {
            let u = c.get("remote").and_then(Value::as_str).unwrap_or_default();
            url::Url::parse(u).map_err(|e| format!("config.remote: {e}"))?;
            Ok(u.to_string())
        };
        Ok(match id {
            "allow" => Authz::Allow,
            "deny" => Authz::Deny,
            "remote" => Authz::Remote {
                url: remote(&config)?,
                headers: templates(config.get("headers"), "headers")?,
                forward: forward(&config),
            },
            "remote_json" => {
                let payload = config
                    .get("payload")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                Authz::RemoteJson {
                    url: remote(&config)?,
                    payload: Template::parse(payload)
                        .map_err(|e| format!("config.payload: template: {e}"))?,
                    headers: templates(config.get("headers"), "headers")?,
                    forward: forward(&config),
                }
            }
            "keto_engine_acp_ory" => {
                return Err("authorizer \"keto_engine_acp_ory\" calls Keto <= v0.5's /engines/acp/ory API, which Keto v0.14 (and Quartet's permission role) does not serve; use the remote_json authorizer with the permission role's /relation-tuples/check instead (Oathkeeper issue #945)".into())
            }
            other => {
                return Err(format!(
                    "authorizer {other:?} is not supported by Quartet yet"
                ))
            }
        })
    }
}

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

/// The request the pipeline judges.
#[derive(Debug, Clone)]
pub struct PipelineRequest {
    pub method: Method,
    pub url: super::template::UrlData,
    /// Shared with the template data of the request's session (not copied per request).
    pub headers: Arc<HeaderMap>,
    pub body: Bytes,
}

enum Authenticated {
    NotResponsible,
    Done,
}

/// Runs authenticators, authorizer and mutators; on success the session (with its `header`
/// map holding what to send upstream / answer with).
pub async fn run(
    out: &Outbound,
    authenticators: &[Authn],
    authorizer: &Authz,
    mutators: &[Mutator],
    req: &PipelineRequest,
    captures: Vec<String>,
) -> Result<TemplateData, Error> {
    let mut session = TemplateData {
        captures,
        url: req.url.clone(),
        method: req.method.to_string(),
        request_header: Arc::clone(&req.headers),
        ..Default::default()
    };
    let mut done = false;
    for a in authenticators {
        match authenticate(out, a, req, &mut session).await? {
            Authenticated::NotResponsible => continue,
            Authenticated::Done => {
                done = true;
                break;
            }
        }
    }
    if !done {
        return Err(Error::unauthorized(
            "No authentication handler was responsible for handling the authentication request",
        ));
    }
    authorize(out, authorizer, req, &mut session).await?;
    for m in mutators {
        mutate(out, m, req, &mut session).await?;
    }
    Ok(session)
}

/// Runs `f` with the session shared as templates take it (an `Arc`) without copying it: the
/// session moves in and is taken back once `f`'s values are gone.
fn with_shared<T>(session: &mut TemplateData, f: impl FnOnce(&Arc<TemplateData>) -> T) -> T {
    let shared = Arc::new(std::mem::take(session));
    let out = f(&shared);
    *session = Arc::try_unwrap(shared).unwrap_or_else(|still_shared| (*still_shared).clone());
    out
}

fn bearer_token(
    headers: &HeaderMap,
    url: &super::template::UrlData,
    from: Option<&TokenFrom>,
) -> Option<String> {
    let parse_bearer = |headers: &HeaderMap| -> Option<String> {
        let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = v.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.to_string())
    };
    match from {
        Some(TokenFrom {
            header: Some(h), ..
        }) if h == "Authorization" => parse_bearer(headers),
        Some(TokenFrom {
            header: Some(h), ..
        }) => headers
            .get(h.as_str())
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        Some(TokenFrom {
            query_parameter: Some(q),
            ..
        }) => url::form_urlencoded::parse(url.raw_query.as_bytes())
            .find(|(k, _)| k == q)
            .map(|(_, v)| v.into_owned()),
        Some(TokenFrom {
            cookie: Some(c), ..
        }) => cookies(headers)
            .into_iter()
            .find(|(k, _)| k == c)
            .map(|(_, v)| v),
        _ => parse_bearer(headers),
    }
    .filter(|t| !t.is_empty())
}

fn cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

async fn authenticate(
    out: &Outbound,
    a: &Authn,
    req: &PipelineRequest,
    session: &mut TemplateData,
) -> Result<Authenticated, Error> {
    match a {
        Authn::Noop => Ok(Authenticated::Done),
        Authn::Unauthorized => Err(Error::unauthorized(
            "Authentication is not possible for this rule",
        )),
        Authn::Anonymous { subject } => {
            if req.headers.contains_key(header::AUTHORIZATION) {
                return Ok(Authenticated::NotResponsible);
            }
            session.subject = subject.clone();
            Ok(Authenticated::Done)
        }
        Authn::CookieSession(cfg) => {
            let present = cookies(&req.headers);
            let responsible = if cfg.only.is_empty() {
                !present.is_empty()
            } else {
                present.iter().any(|(k, _)| cfg.only.contains(k))
            };
            if !responsible {
                return Ok(Authenticated::NotResponsible);
            }
            forward_session(out, cfg, req, session, "Cookie", "subject").await?;
            Ok(Authenticated::Done)
        }
        Authn::BearerToken(cfg) => {
            let Some(token) = bearer_token(&req.headers, &req.url, cfg.token_from.as_ref()) else {
                return Ok(Authenticated::NotResponsible);
            };
            if let Some(p) = cfg.prefix.as_deref() {
                if !token.starts_with(p) {
                    return Ok(Authenticated::NotResponsible);
                }
            }
            forward_session(out, cfg, req, session, "Authorization", "sub").await?;
            Ok(Authenticated::Done)
        }
        Authn::Introspection(cfg) => {
            let Some(token) = bearer_token(&req.headers, &req.url, cfg.token_from.as_ref()) else {
                return Ok(Authenticated::NotResponsible);
            };
            if let Some(p) = cfg.prefix.as_deref() {
                if !token.starts_with(p) {
                    return Ok(Authenticated::NotResponsible);
                }
            }
            introspect(out, cfg, req, session, &token).await?;
            Ok(Authenticated::Done)
        }
        Authn::Jwt(cfg) => {
            let Some(token) = bearer_token(&req.headers, &req.url, cfg.token_from.as_ref()) else {
                return Ok(Authenticated::NotResponsible);
            };
            if !super::jose::looks_like_jwt(&token) {
                return Ok(Authenticated::NotResponsible);
            }
            authenticate_jwt(out, cfg, &token, session).await?;
            Ok(Authenticated::Done)
        }
        Authn::ClientCredentials(cfg) => {
            let Some((user, pass)) = basic_auth(&req.headers) else {
                return Ok(Authenticated::NotResponsible);
            };
            client_credentials(out, cfg, &user, &pass).await?;
            session.subject = user;
            Ok(Authenticated::Done)
        }
    }
}

fn encode_form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, creds) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(creds.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    let unescape = |s: &str| percent_decode(s);
    Some((unescape(u), unescape(p)))
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn client_credentials(
    out: &Outbound,
    cfg: &ClientCredentialsCfg,
    user: &str,
    pass: &str,
) -> Result<(), Error> {
    let url = url::Url::parse(&cfg.token_url).map_err(|e| Error::internal(e.to_string()))?;
    let scope = cfg.required_scope.join(" ");
    let cache_key = cache::key(&[
        cfg.token_url.as_bytes(),
        scope.as_bytes(),
        user.as_bytes(),
        pass.as_bytes(),
    ]);
    if cfg.cache_policy.is_some()
        && out
            .caches
            .client_credentials
            .get(&cache_key, out.clock.now_system())
            .is_some_and(|t| !t.is_empty())
    {
        return Ok(());
    }
    let mut pairs = vec![("grant_type", "client_credentials")];
    if !scope.is_empty() {
        pairs.push(("scope", &scope));
    }
    let form = encode_form(&pairs);
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(user), enc(pass)));
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
        .map_err(|e| Error::Upstream {
            status: 503,
            message: e,
        })?;
    match resp.status {
        200 => {
            let body: Value = serde_json::from_slice(&resp.body).unwrap_or_default();
            match body.get("access_token").and_then(Value::as_str) {
                Some(token) if !token.is_empty() => {
                    if let Some(policy) = cfg.cache_policy {
                        // TTL = min(ttl, token expiry), or either; neither → not cached.
                        let now = out.clock.now_system();
                        let until_exp = body
                            .get("expires_in")
                            .and_then(Value::as_u64)
                            .filter(|s| *s > 0)
                            .map(|s| cache::after(now, std::time::Duration::from_secs(s)));
                        let until_ttl = policy.ttl.map(|t| cache::after(now, t));
                        let expires = match (until_exp, until_ttl) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            (a, b) => a.or(b),
                        };
                        if let Some(expires) = expires {
                            out.caches.client_credentials.put(
                                cache_key,
                                token.to_string(),
                                expires,
                                now,
                                policy.max_entries,
                            );
                        }
                    }
                    Ok(())
                }
                _ => Err(Error::unauthorized(
                    "the token endpoint issued no access token",
                )),
            }
        }
        s @ (503 | 500 | 504 | 404) => Err(Error::Upstream {
            status: s,
            message: format!("the token endpoint answered {s}"),
        }),
        s => Err(Error::unauthorized(format!(
            "the token endpoint answered {s}"
        ))),
    }
}

/// The jwt authenticator: verify with the keys of `jwks_urls`, then scope, audience, issuer.
/// Every failure is 401, as in Oathkeeper.
async fn authenticate_jwt(
    out: &Outbound,
    cfg: &JwtCfg,
    token: &str,
    session: &mut TemplateData,
) -> Result<(), Error> {
    let keys =
        out.keys.union(&cfg.jwks_urls).await.map_err(|e| {
            Error::unauthorized(format!("no JSON Web Key Set could be loaded: {e}"))
        })?;
    let mut claims = super::jose::verify(token, &keys, &cfg.allowed_algorithms, out.now_secs())
        .map_err(Error::unauthorized)?;
    let scopes = super::jose::normalise_scope(&mut claims);
    if !cfg.required_scope.is_empty() {
        let strategy = cfg.scope_strategy.as_deref().unwrap_or("none");
        if !matches!(strategy, "hierarchic" | "exact" | "wildcard") {
            return Err(Error::unauthorized(
                "a scope_strategy is required when required_scope is set",
            ));
        }
        let granted: Vec<&str> = scopes.iter().map(String::as_str).collect();
        for s in &cfg.required_scope {
            if !scope_granted(strategy, &granted, s) {
                return Err(Error::unauthorized(format!(
                    "JSON Web Token is missing required scope \"{s}\""
                )));
            }
        }
    }
    let aud: Vec<String> = match claims.get("aud") {
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
            return Err(Error::unauthorized(format!(
                "JSON Web Token audience does not match the target audience {a}"
            )));
        }
    }
    if !cfg.trusted_issuers.is_empty() {
        let iss = claims
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !cfg.trusted_issuers.iter().any(|t| t == iss) {
            return Err(Error::unauthorized(format!(
                "JSON Web Token issuer {iss:?} does not match any trusted issuer"
            )));
        }
    }
    session.subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    session.extra = Some(Arc::new(claims));
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

/// cookie_session / bearer_token: ask the session endpoint, as Oathkeeper forwards the request.
async fn forward_session(
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

fn scope_granted(strategy: &str, granted: &[&str], needle: &str) -> bool {
    match strategy {
        "exact" => granted.contains(&needle),
        "hierarchic" => granted
            .iter()
            .any(|g| needle == *g || needle.starts_with(&format!("{g}."))),
        "wildcard" => granted.iter().any(|g| {
            let gp: Vec<&str> = g.split('.').collect();
            let np: Vec<&str> = needle.split('.').collect();
            if gp.len() > np.len() {
                return false;
            }
            for (i, n) in np.iter().enumerate() {
                match gp.get(i) {
                    Some(&"*") => continue,
                    Some(x) if x == n => continue,
                    Some(_) => return false,
                    None => return gp.last() == Some(&"*"),
                }
            }
            true
        }),
        _ => true,
    }
}

async fn introspect(
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

fn render_headers(
    list: &[(String, Template)],
    data: &Arc<TemplateData>,
) -> Result<HeaderMap, Error> {
    let mut h = HeaderMap::new();
    for (k, t) in list {
        let v = t
            .execute_shared(data)
            .map_err(|e| Error::internal(format!("header {k}: {e}")))?;
        if v.is_empty() {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            h.insert(n, v);
        }
    }
    Ok(h)
}

async fn authorize(
    out: &Outbound,
    a: &Authz,
    req: &PipelineRequest,
    session: &mut TemplateData,
) -> Result<(), Error> {
    let (url, body, mut headers, forward) = match a {
        Authz::Allow => return Ok(()),
        Authz::Deny => return Err(Error::forbidden("Access denied by the deny authorizer")),
        Authz::Remote {
            url,
            headers,
            forward,
        } => {
            let mut h = with_shared(session, |d| render_headers(headers, d))?;
            if let Some(ct) = req.headers.get(header::CONTENT_TYPE) {
                h.insert(header::CONTENT_TYPE, ct.clone());
            }
            (url, req.body.clone(), h, forward)
        }
        Authz::RemoteJson {
            url,
            payload,
            headers,
            forward,
        } => {
            let (body, mut h) = with_shared(session, |d| {
                let body = payload
                    .execute_shared(d)
                    .map_err(|e| Error::internal(format!("payload: {e}")))?;
                Ok::<_, Error>((body, render_headers(headers, d)?))
            })?;
            serde_json::from_str::<Value>(&body).map_err(|e| {
                Error::internal(format!("the remote_json payload is not valid JSON: {e}"))
            })?;
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            (url, Bytes::from(body), h, forward)
        }
    };
    if let Some(auth) = req.headers.get(header::AUTHORIZATION) {
        headers.insert(header::AUTHORIZATION, auth.clone());
    }
    let url = url::Url::parse(url).map_err(|e| Error::internal(e.to_string()))?;
    let resp = out
        .http
        .send(OutboundRequest {
            method: Method::POST,
            url,
            headers,
            body,
        })
        .await
        .map_err(|e| Error::internal(format!("the remote authorizer could not be reached: {e}")))?;
    match resp.status {
        200 => {
            for name in forward {
                if let (Ok(n), Some(v)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    resp.headers.get(name.as_str()),
                ) {
                    session.header.insert(n, v.clone());
                }
            }
            Ok(())
        }
        403 => Err(Error::forbidden("The remote authorizer denied the request")),
        s => Err(Error::internal(format!(
            "Expected status code 200 or 403 but got {s}"
        ))),
    }
}

async fn mutate(
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
            let body = serde_json::to_vec(&session_json(session))
                .map_err(|e| Error::internal(e.to_string()))?;
            let cache_key = cache::key(&[url.as_bytes(), &body]);
            let hit = match cache {
                Some(_) => out.caches.hydrator.get(&cache_key, out.clock.now_system()),
                None => None,
            };
            let answer = match hit {
                Some(a) => a,
                None => {
                    let a = hydrate(out, url, basic.as_ref(), req, body).await?;
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
        }
    }
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
    fn keto_engine_acp_ory_is_rejected_with_the_way_out() {
        let e = Authz::build("keto_engine_acp_ory", json!({})).unwrap_err();
        assert!(
            e.contains("remote_json") && e.contains("/relation-tuples/check"),
            "{e}"
        );
    }

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

    #[test]
    fn gjson_paths() {
        let v = json!({"identity": {"id": "u1", "a.b": 2}, "list": [1, 2]});
        assert_eq!(gjson(&v, "identity.id"), Some(json!("u1")));
        assert_eq!(gjson(&v, "identity.a\\.b"), Some(json!(2)));
        assert_eq!(gjson(&v, "list.1"), Some(json!(2)));
        assert_eq!(gjson(&v, "@this"), Some(v.clone()));
        assert_eq!(gjson(&v, "nope.x"), None);
    }

    #[test]
    fn scope_strategies() {
        assert!(scope_granted("hierarchic", &["a"], "a.b"));
        assert!(!scope_granted("hierarchic", &["a.b"], "a"));
        assert!(scope_granted("exact", &["a"], "a"));
        assert!(!scope_granted("exact", &["a"], "a.b"));
        assert!(scope_granted("wildcard", &["a.*"], "a.b"));
        assert!(!scope_granted("wildcard", &["a.*"], "b.c"));
    }

    #[test]
    fn bearer_token_sources() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "bearer abc".parse().unwrap());
        h.insert(header::COOKIE, "t=ck; o=1".parse().unwrap());
        let url = super::super::template::UrlData {
            raw_query: "tok=q1".into(),
            ..Default::default()
        };
        assert_eq!(bearer_token(&h, &url, None).as_deref(), Some("abc"));
        let q = TokenFrom {
            query_parameter: Some("tok".into()),
            ..Default::default()
        };
        assert_eq!(bearer_token(&h, &url, Some(&q)).as_deref(), Some("q1"));
        let c = TokenFrom {
            cookie: Some("t".into()),
            ..Default::default()
        };
        assert_eq!(bearer_token(&h, &url, Some(&c)).as_deref(), Some("ck"));
    }
}
