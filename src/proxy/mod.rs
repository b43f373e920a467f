//! The proxy role — Ory Oathkeeper v0.40 on the wire: "may it PASS the GATE?". Access rules
//! ([`rule`], [`matcher`], [`repository`]), the pipeline ([`handlers`], [`pipeline`] running
//! [`authenticators`] (with [`sessions`] and [`introspection`]), [`authorizers`] and
//! [`mutators`]; [`template`], [`error`]), the API on 4456 (`/rules`, `/decisions`, jwks;
//! [`api`]) and the reverse proxy on 4455 ([`forward`]). Sessions and tokens are checked
//! through the narrow traits [`SessionChecker`] and [`TokenIntrospector`] ([`outbound`]).
//!
//! Visibility: every module is `pub(crate)` except `forward`, `handlers`, `jose`, `matcher`,
//! `request`, `rule`, `template` — what the CLI, the integration tests, the benchmarks and the fuzz
//! targets reach; the composition root uses the items re-exported below.
//!
//! Floors (a file uses only files on its own floor or below; no cycles):
//! - 0: handlers, http_client, jose, matcher, rule, scope, template
//! - 1: cache, error, repository, request
//! - 2: jwks
//! - 3: outbound
//! - 4: authorizers, introspection, mutators, sessions
//! - 5: authenticators
//! - 6: pipeline
//! - 7: forward
//! - 8: api

pub(crate) mod api;
pub(crate) mod authenticators;
pub(crate) mod authorizers;
pub(crate) mod cache;
pub(crate) mod error;
pub mod forward;
pub mod handlers;
pub(crate) mod http_client;
pub(crate) mod introspection;
pub mod jose;
pub(crate) mod jwks;
pub mod matcher;
pub(crate) mod mutators;
pub(crate) mod outbound;
pub(crate) mod pipeline;
pub(crate) mod repository;
pub mod request;
pub mod rule;
pub(crate) mod scope;
pub(crate) mod sessions;
pub mod template;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use axum::response::Response;

use crate::config::{ProxyConfig, Role};
use crate::http::listener::{api_surface, ALL_INTERFACES, LOOPBACK};
use crate::http::{ListenerSpec, Surface};

pub use error::Error;
pub use http_client::{HttpClient, OutboundRequest, OutboundResponse};
pub use outbound::{Outbound, SessionChecker, TokenIntrospector};

use authenticators::Authn;
use authorizers::Authz;
use error::ErrorHandler;
use handlers::{Kind, Schemas};
use matcher::{match_rules, MatchOutcome, Matchable, Pattern, Strategy};
use mutators::Mutator;
use repository::Source;
use request::PipelineRequest;
use rule::Rule;
use template::{TemplateData, UrlData};

/// How often file repositories are checked for changes.
const WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// A rule ready to run: the wire document plus its compiled matcher and pipeline.
#[derive(Debug)]
pub struct CompiledRule {
    pub rule: Rule,
    methods: Vec<String>,
    pattern: Pattern,
    pub authenticators: Vec<Authn>,
    pub authorizer: Authz,
    pub mutators: Vec<Mutator>,
    pub errors: Vec<ErrorHandler>,
    pub upstream: Option<url::Url>,
}

impl Matchable for Arc<CompiledRule> {
    fn methods(&self) -> &[String] {
        &self.methods
    }
    fn pattern(&self) -> &Pattern {
        &self.pattern
    }
}

/// The role's shared state.
pub struct Proxy {
    config: ProxyConfig,
    strategy: Strategy,
    schemas: Schemas,
    sources: Vec<Source>,
    /// Rules per source key, in source order.
    rules: RwLock<Arc<RuleSet>>,
    problems: RwLock<Vec<String>>,
    fallback: Vec<(String, Result<ErrorHandler, String>)>,
    pub outbound: Outbound,
    pub forwarder: forward::Forwarder,
    /// `--dev`: a 500's JSON body carries `debug`, what went wrong.
    dev: bool,
}

#[derive(Default)]
pub struct RuleSet {
    by_source: BTreeMap<usize, Vec<Arc<CompiledRule>>>,
    all: Vec<Arc<CompiledRule>>,
}

impl RuleSet {
    pub fn rules(&self) -> &[Arc<CompiledRule>] {
        &self.all
    }
}

impl Proxy {
    /// Builds the role: parses the repository list, compiles the fallback error handlers and
    /// loads every repository once (a remote repository that cannot be fetched is fatal, as in
    /// Oathkeeper; local problems are logged and reported by [`Proxy::problems`]).
    pub async fn start(config: &ProxyConfig) -> Result<Arc<Proxy>, String> {
        Self::start_with(config, Outbound::over(HttpClient::new()?), false).await
    }

    /// As [`Proxy::start`], with the session/introspection adapters given; `dev` (`--dev`) puts
    /// the reason of a 500 into its JSON body.
    pub async fn start_with(
        config: &ProxyConfig,
        mut outbound: Outbound,
        dev: bool,
    ) -> Result<Arc<Proxy>, String> {
        // Oathkeeper reads jwks_ttl only from the global jwt config, once.
        if let Some(ttl) = config
            .authenticators
            .get("jwt")
            .and_then(|j| j.config.as_ref())
            .and_then(|c| c.get("jwks_ttl"))
            .and_then(serde_json::Value::as_str)
        {
            let ttl = handlers::go_duration(ttl).ok_or_else(|| {
                format!("proxy.authenticators.jwt.config.jwks_ttl: {ttl:?} is not a duration")
            })?;
            outbound.keys = Arc::new(jwks::KeyCache::new(outbound.http.clone(), ttl));
        }
        let strategy = Strategy::parse(config.access_rules.matching_strategy.as_deref())
            .map_err(|e| format!("proxy.access_rules.matching_strategy: {e}"))?;
        let schemas = Schemas::load()?;
        let sources = config
            .access_rules
            .repositories
            .iter()
            .map(|r| Source::parse(r).map_err(|e| format!("proxy.access_rules.repositories: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let fallback = config
            .errors
            .fallback
            .iter()
            .map(|id| {
                let built = schemas
                    .effective(
                        Kind::ErrorHandler,
                        id,
                        Some(&config.errors.handler(id)),
                        None,
                    )
                    .and_then(|c| ErrorHandler::build(id, c));
                (id.clone(), built)
            })
            .collect();
        let proxy = Arc::new(Proxy {
            config: config.clone(),
            strategy,
            schemas,
            sources,
            rules: RwLock::new(Arc::new(RuleSet::default())),
            problems: RwLock::new(Vec::new()),
            fallback,
            forwarder: forward::Forwarder::new(config.serve.proxy.trust_forwarded_headers)?,
            outbound,
            dev,
        });
        for i in 0..proxy.sources.len() {
            let result = proxy.load_source(i).await;
            if let (Err(e), Source::Remote(_)) = (&result, &proxy.sources[i]) {
                return Err(format!("proxy.access_rules.repositories: {e}"));
            }
        }
        spawn_watcher(Arc::downgrade(&proxy));
        Ok(proxy)
    }

    /// The current rules.
    pub fn rule_set(&self) -> Arc<RuleSet> {
        match self.rules.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Where the id_token signing keys live: the global `mutators.id_token.config.jwks_url`
    /// and every loaded rule's id_token `jwks_url`, deduplicated.
    pub fn jwks_locations(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if let Some(u) = self
            .config
            .mutators
            .get("id_token")
            .and_then(|m| m.config.as_ref())
            .and_then(|c| c.get("jwks_url"))
            .and_then(serde_json::Value::as_str)
        {
            out.push(u.to_string());
        }
        for rule in self.rule_set().rules() {
            for m in &rule.mutators {
                if let Mutator::IdToken(cfg) = m {
                    if !out.contains(&cfg.jwks_url) {
                        out.push(cfg.jwks_url.clone());
                    }
                }
            }
        }
        out
    }

    /// Problems found by the last load of each rule (rule id and field), for operators/tests.
    pub fn problems(&self) -> Vec<String> {
        match self.problems.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// (Re)loads one source; `Err` when the whole source could not be read or decoded (its
    /// previous rules are kept).
    async fn load_source(&self, index: usize) -> Result<(), String> {
        let source = &self.sources[index];
        let key = source.key();
        let documents = match repository::read(source, &self.outbound.http).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(
                    repository = key,
                    error = e,
                    "access rules could not be read; keeping the last good rules"
                );
                self.set_problems(index, vec![e.clone()]);
                return Err(e);
            }
        };
        let mut decoded = Vec::new();
        for (name, text) in documents {
            match rule::decode_document(&text) {
                Ok(rules) => decoded.extend(rules),
                Err(e) => {
                    let e = format!("{name}: {e}");
                    tracing::error!(
                        repository = key,
                        error = e,
                        "access rules could not be decoded; keeping the last good rules"
                    );
                    self.set_problems(index, vec![e.clone()]);
                    return Err(e);
                }
            }
        }
        let previous = self.rule_set();
        let old = previous.by_source.get(&index).cloned().unwrap_or_default();
        let mut compiled = Vec::new();
        let mut problems = Vec::new();
        for (i, r) in decoded.into_iter().enumerate() {
            let label = if r.id.is_empty() {
                format!("#{i}")
            } else {
                r.id.clone()
            };
            match self.compile(r) {
                Ok(c) => compiled.push(Arc::new(c)),
                Err(e) => {
                    let msg = format!("rule {label:?}: {e}");
                    let kept = old
                        .iter()
                        .find(|o| !o.rule.id.is_empty() && o.rule.id == label)
                        .cloned();
                    tracing::error!(
                        repository = key,
                        problem = msg,
                        kept_previous = kept.is_some(),
                        "invalid access rule rejected"
                    );
                    problems.push(msg);
                    if let Some(k) = kept {
                        compiled.push(k);
                    }
                }
            }
        }
        tracing::info!(
            repository = key,
            rules = compiled.len(),
            rejected = problems.len(),
            "access rules loaded"
        );
        self.set_problems(index, problems);
        let mut guard = match self.rules.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let mut by_source = guard.by_source.clone();
        by_source.insert(index, compiled);
        let all = by_source.values().flatten().cloned().collect();
        *guard = Arc::new(RuleSet { by_source, all });
        Ok(())
    }

    fn set_problems(&self, _index: usize, problems: Vec<String>) {
        let mut g = match self.problems.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *g = problems;
    }

    /// Validates and compiles one rule; `Err` names the field.
    pub fn compile(&self, rule: Rule) -> Result<CompiledRule, String> {
        let m = rule.matcher.clone().unwrap_or_default();
        if m.url.is_empty() {
            return Err("match.url: a URL pattern is required".into());
        }
        let pattern =
            Pattern::compile(self.strategy, &m.url).map_err(|e| format!("match.url: {e}"))?;
        if pattern.needs_backtracking() {
            tracing::warn!(
                rule = rule.id,
                url = m.url,
                backtrack_limit = matcher::BACKTRACK_LIMIT,
                "access rule: match.url needs look-around or backreferences, so it runs on the \
                 backtracking regexp engine: each request costs up to the step limit, and a URL \
                 that exceeds it is refused with 500; write the pattern without them to match \
                 in linear time"
            );
        }
        let upstream = if rule.upstream.url.is_empty() {
            None
        } else {
            Some(url::Url::parse(&rule.upstream.url).map_err(|e| format!("upstream.url: {e}"))?)
        };
        if rule.authenticators.is_empty() {
            return Err("authenticators: at least one authenticator is required".into());
        }
        let mut authenticators = Vec::new();
        for (i, h) in rule.authenticators.iter().enumerate() {
            let c = self
                .schemas
                .effective(
                    Kind::Authenticator,
                    &h.handler,
                    self.config.authenticators.get(&h.handler),
                    h.config.as_ref(),
                )
                .and_then(|c| Authn::build(&h.handler, c))
                .map_err(|e| format!("authenticators[{i}] ({}): {e}", h.handler))?;
            authenticators.push(c);
        }
        if rule.authorizer.handler.is_empty() {
            return Err("authorizer.handler: an authorizer is required".into());
        }
        let h = &rule.authorizer;
        let authorizer = self
            .schemas
            .effective(
                Kind::Authorizer,
                &h.handler,
                self.config.authorizers.get(&h.handler),
                h.config.as_ref(),
            )
            .and_then(|c| Authz::build(&h.handler, c))
            .map_err(|e| format!("authorizer ({}): {e}", h.handler))?;
        if rule.mutators.is_empty() {
            return Err("mutators: at least one mutator is required".into());
        }
        let mut mutators = Vec::new();
        for (i, h) in rule.mutators.iter().enumerate() {
            let c = self
                .schemas
                .effective(
                    Kind::Mutator,
                    &h.handler,
                    self.config.mutators.get(&h.handler),
                    h.config.as_ref(),
                )
                .and_then(|c| Mutator::build(&h.handler, c))
                .map_err(|e| format!("mutators[{i}] ({}): {e}", h.handler))?;
            mutators.push(c);
        }
        let mut errors = Vec::new();
        for (i, h) in rule.errors.iter().enumerate() {
            let c = self
                .schemas
                .effective(
                    Kind::ErrorHandler,
                    &h.handler,
                    Some(&self.config.errors.handler(&h.handler)),
                    h.config.as_ref(),
                )
                .and_then(|c| ErrorHandler::build(&h.handler, c))
                .map_err(|e| format!("errors[{i}] ({}): {e}", h.handler))?;
            errors.push(c);
        }
        Ok(CompiledRule {
            methods: m.methods.clone(),
            pattern,
            authenticators,
            authorizer,
            mutators,
            errors,
            upstream,
            rule,
        })
    }

    /// Finds the one rule for a request.
    pub fn find(
        &self,
        method: &str,
        url: &UrlData,
    ) -> Result<(Arc<CompiledRule>, Vec<String>), Error> {
        let set = self.rule_set();
        let target = format!("{}://{}{}", url.scheme, url.host, url.path);
        match match_rules(set.rules(), method, &target) {
            MatchOutcome::One(i, groups) => set
                .rules()
                .get(i)
                .cloned()
                .map(|r| (r, groups))
                .ok_or(Error::NoRuleMatched),
            MatchOutcome::None => Err(Error::NoRuleMatched),
            MatchOutcome::Several => Err(Error::SeveralRulesMatched),
            MatchOutcome::Failed(i, e) => {
                let id = set
                    .rules()
                    .get(i)
                    .map(|r| r.rule.id.clone())
                    .unwrap_or_default();
                tracing::error!(rule = id, error = e, "access rule matcher failed");
                Err(Error::MatchFailed(e))
            }
        }
    }

    /// Runs the whole decision for a request: rule, pipeline. `Err` carries the matched rule
    /// (if any) for the error handlers.
    pub async fn decide(
        &self,
        req: &PipelineRequest,
    ) -> Result<(Arc<CompiledRule>, TemplateData), (Option<Arc<CompiledRule>>, Error)> {
        let (rule, captures) = self
            .find(req.method.as_str(), &req.url)
            .map_err(|e| (None, e))?;
        match pipeline::run(
            &self.outbound,
            &rule.authenticators,
            &rule.authorizer,
            &rule.mutators,
            req,
            captures,
        )
        .await
        {
            Ok(session) => Ok((rule, session)),
            Err(e) => Err((Some(rule), e)),
        }
    }

    /// Oathkeeper's error handling: the rule's `errors[]` whose `when` holds (more than one → 500),
    /// else the first fallback whose global `when` holds, else 500.
    pub fn handle_error(
        &self,
        rule: Option<&CompiledRule>,
        error: &Error,
        req: &PipelineRequest,
        request_id: Option<&str>,
    ) -> Response {
        if !matches!(error.status().as_u16(), 401 | 403 | 404) {
            tracing::warn!(error = %error, url = req.url.to_url_string(), "request denied");
        }
        // Under `--dev` a 500 says why in its JSON body (e.g. which header template failed).
        let debug = (self.dev && error.status().is_server_error()).then(|| match rule {
            Some(rule) => format!("access rule {:?}: {error}", rule.rule.id),
            None => error.to_string(),
        });
        let debug = debug.as_deref();
        if let Some(rule) = rule {
            let hits: Vec<&ErrorHandler> = rule
                .errors
                .iter()
                .filter(|h| h.matches(error, &req.headers))
                .collect();
            match hits.as_slice() {
                [one] => return one.respond(error, &req.url, request_id, debug),
                [] => {}
                _ => {
                    return error::json_response(
                        &Error::internal("Found more than one error handlers matching the request"),
                        false,
                        request_id,
                        debug,
                    )
                }
            }
        }
        for (id, handler) in &self.fallback {
            match handler {
                Ok(h) if h.matches(error, &req.headers) => {
                    return h.respond(error, &req.url, request_id, debug)
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(
                        handler = id,
                        error = e,
                        "fallback error handler is unusable"
                    );
                    return error::json_response(
                        &Error::internal(e.clone()),
                        false,
                        request_id,
                        debug,
                    );
                }
            }
        }
        error::json_response(error, false, request_id, debug)
    }
}

fn spawn_watcher(proxy: Weak<Proxy>) {
    tokio::spawn(async move {
        let mut seen: BTreeMap<usize, Option<Vec<_>>> = BTreeMap::new();
        if let Some(p) = proxy.upgrade() {
            for (i, s) in p.sources.iter().enumerate() {
                seen.insert(i, repository::fingerprint(s));
            }
            if seen.values().all(Option::is_none) {
                return;
            }
        }
        loop {
            tokio::time::sleep(WATCH_INTERVAL).await;
            let Some(p) = proxy.upgrade() else { return };
            for (i, s) in p.sources.iter().enumerate() {
                let now = repository::fingerprint(s);
                if now.is_some() && seen.get(&i) != Some(&now) {
                    tracing::info!(
                        repository = s.key(),
                        "access rules changed on disk; reloading"
                    );
                    let _ = p.load_source(i).await;
                    seen.insert(i, now);
                }
            }
        }
    });
}

/// The role's listeners, served by one [`Proxy`].
pub async fn listeners(config: &ProxyConfig) -> Result<Vec<ListenerSpec>, String> {
    let proxy = Proxy::start(config).await?;
    Ok(listeners_for(config, proxy))
}

/// The listeners over an already started [`Proxy`] (the composition root may build it with
/// in-process adapters).
pub fn listeners_for(config: &ProxyConfig, proxy: Arc<Proxy>) -> Vec<ListenerSpec> {
    vec![
        ListenerSpec {
            role: Role::Proxy,
            name: "proxy",
            endpoint: config.serve.proxy.endpoint.clone(),
            default_host: ALL_INTERFACES,
            default_port: 4455,
            surface: Surface::Passthrough,
            routes: forward::routes(proxy.clone()),
        },
        ListenerSpec {
            role: Role::Proxy,
            name: "api",
            endpoint: config.serve.api.clone(),
            default_host: LOOPBACK,
            default_port: 4456,
            surface: api_surface(None),
            routes: api::routes(proxy),
        },
        ListenerSpec {
            role: Role::Proxy,
            name: "prometheus",
            endpoint: config.serve.prometheus.clone(),
            default_host: LOOPBACK,
            default_port: 9000,
            surface: Surface::MetricsOnly { path: "/metrics" },
            routes: axum::Router::new(),
        },
    ]
}
