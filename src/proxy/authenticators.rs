//! The authenticators: [`Authn`] compiled from a rule's handler config, and `authenticate`,
//! which tells whether one is responsible for a request and establishes the session. The
//! session endpoint's check is in `sessions`, token introspection in `introspection`; the jwt
//! and oauth2_client_credentials authenticators are here.

use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, Method};
use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use super::cache::{self, CacheCfg, CachePolicy};
use super::error::Error;
use super::http_client::{encode_form, OutboundRequest};
use super::introspection::{introspect, IntrospectionCfg};
use super::outbound::Outbound;
use super::request::{basic_auth, bearer_token, cookies, PipelineRequest, TokenFrom};
use super::scope::scope_granted;
use super::sessions::{
    forward_session, SessionCfg, SESSION_CACHE_DEFAULT_MAX, SESSION_CACHE_DEFAULT_TTL,
};
use super::template::TemplateData;

/// The oauth2_client_credentials authenticator's config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ClientCredentialsCfg {
    pub token_url: String,
    pub required_scope: Vec<String>,
    pub cache: CacheCfg,
    #[serde(skip)]
    pub cache_policy: Option<CachePolicy>,
}

/// The jwt authenticator's config.
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

/// A handler config decoded into its typed form; errors name the key path.
fn decode<T: for<'de> Deserialize<'de>>(config: Value) -> Result<T, String> {
    serde_path_to_error::deserialize(config)
        .map_err(|e| format!("config.{}: {}", e.path(), e.inner()))
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

/// What an authenticator made of a request.
pub(super) enum Authenticated {
    NotResponsible,
    Done,
}

/// Runs one authenticator: whether it is responsible for `req`, and if so the session it
/// establishes (or why it refuses).
pub(super) async fn authenticate(
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

/// oauth2_client_credentials: the request's Basic credentials must obtain a token at
/// `token_url` (cached per credentials and scope).
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
