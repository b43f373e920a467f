//! The proxy role's one error enum, mapped once to a status, and Oathkeeper's error handlers
//! (`json`, `redirect`, `www_authenticate`) with their `when` conditions.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::template::UrlData;

/// Everything that stops a request in the proxy role.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("Requested url does not match any rules")]
    NoRuleMatched,
    #[error("Expected exactly one rule but found multiple rules")]
    SeveralRulesMatched,
    #[error("{0}")]
    MatchFailed(String),
    #[error("Access credentials are invalid")]
    Unauthorized { reason: String },
    #[error("Access credentials are not sufficient to access this resource")]
    Forbidden { reason: String },
    /// A status an upstream token endpoint answered with (client credentials: 404/500/503/504).
    #[error("{message}")]
    Upstream { status: u16, message: String },
    /// Handler failures: remote non-200, template errors, bad handler responses.
    #[error("{0}")]
    Internal(String),
    #[error("Unable to proxy the request: the matched access rule has no upstream url")]
    NoUpstream,
    #[error("the upstream could not be reached: {0}")]
    UpstreamUnreachable(String),
    #[error("the upstream did not answer in time")]
    UpstreamTimeout,
    /// A request the proxy refuses to judge (path traversal, invalid percent-encoding).
    #[error("{0}")]
    BadRequest(String),
}

impl Error {
    pub fn unauthorized(reason: impl Into<String>) -> Self {
        Error::Unauthorized {
            reason: reason.into(),
        }
    }

    pub fn forbidden(reason: impl Into<String>) -> Self {
        Error::Forbidden {
            reason: reason.into(),
        }
    }

    pub fn internal(reason: impl Into<String>) -> Self {
        Error::Internal(reason.into())
    }

    /// The one place every variant gets its status.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::NoRuleMatched => StatusCode::NOT_FOUND,
            Error::SeveralRulesMatched
            | Error::MatchFailed(_)
            | Error::Internal(_)
            | Error::NoUpstream => StatusCode::INTERNAL_SERVER_ERROR,
            Error::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Error::Forbidden { .. } => StatusCode::FORBIDDEN,
            Error::Upstream { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Error::UpstreamUnreachable(_) => StatusCode::BAD_GATEWAY,
            Error::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// herodot's `reason`, shown only by the verbose json handler.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Error::Unauthorized { reason } | Error::Forbidden { reason } if !reason.is_empty() => {
                Some(reason)
            }
            _ => None,
        }
    }

    /// The name `when.error` matches: the status text, lower snake case.
    pub fn when_name(&self) -> String {
        self.status()
            .canonical_reason()
            .unwrap_or("internal server error")
            .to_lowercase()
            .replace('\'', "")
            .replace(' ', "_")
    }

    /// herodot's non-verbose message for the status.
    fn generic_message(&self) -> String {
        match self.status() {
            StatusCode::NOT_FOUND => "The requested resource could not be found".into(),
            StatusCode::UNAUTHORIZED => "The request could not be authorized".into(),
            StatusCode::FORBIDDEN => "The requested action was forbidden".into(),
            StatusCode::INTERNAL_SERVER_ERROR => {
                "An internal server error occurred, please contact the system administrator".into()
            }
            _ => self.to_string(),
        }
    }
}

/// One `when` clause of an error handler.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct WhenClause {
    pub error: Vec<String>,
    pub request: Option<WhenRequest>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct WhenRequest {
    pub cidr: Vec<String>,
    pub header: Option<WhenHeader>,
    pub remote_ip: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct WhenHeader {
    pub accept: Vec<String>,
    pub content_type: Vec<String>,
}

/// A compiled error handler.
#[derive(Debug, Clone)]
pub enum ErrorHandler {
    Json {
        verbose: bool,
        when: Vec<WhenClause>,
    },
    Redirect {
        to: String,
        code: u16,
        return_to_query_param: Option<String>,
        when: Vec<WhenClause>,
    },
    WwwAuthenticate {
        realm: String,
        when: Vec<WhenClause>,
    },
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JsonCfg {
    verbose: bool,
    when: Vec<WhenClause>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RedirectCfg {
    to: String,
    code: Option<u16>,
    return_to_query_param: Option<String>,
    when: Vec<WhenClause>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WwwCfg {
    realm: Option<String>,
    when: Vec<WhenClause>,
}

impl ErrorHandler {
    /// Builds a handler from its effective (merged, defaulted, validated) config.
    pub fn build(id: &str, config: Value) -> Result<Self, String> {
        let de =
            |v: Value| -> Result<Value, String> { Ok(if v.is_null() { json!({}) } else { v }) };
        let config = de(config)?;
        match id {
            "json" => {
                let c: JsonCfg = serde_json::from_value(config).map_err(|e| e.to_string())?;
                Ok(ErrorHandler::Json {
                    verbose: c.verbose,
                    when: c.when,
                })
            }
            "redirect" => {
                let c: RedirectCfg = serde_json::from_value(config).map_err(|e| e.to_string())?;
                if c.to.is_empty() {
                    return Err("config.to: a redirect target is required".into());
                }
                Ok(ErrorHandler::Redirect {
                    to: c.to,
                    code: match c.code {
                        Some(301) => 301,
                        _ => 302,
                    },
                    return_to_query_param: c.return_to_query_param.filter(|p| !p.is_empty()),
                    when: c.when,
                })
            }
            "www_authenticate" => {
                let c: WwwCfg = serde_json::from_value(config).map_err(|e| e.to_string())?;
                Ok(ErrorHandler::WwwAuthenticate {
                    realm: c.realm.unwrap_or_else(|| "Please authenticate.".into()),
                    when: c.when,
                })
            }
            other => Err(format!("error handler {other:?} is unknown")),
        }
    }

    fn when(&self) -> &[WhenClause] {
        match self {
            ErrorHandler::Json { when, .. }
            | ErrorHandler::Redirect { when, .. }
            | ErrorHandler::WwwAuthenticate { when, .. } => when,
        }
    }

    /// Whether the `when` conditions hold for this error and request (empty list: always).
    pub fn matches(&self, error: &Error, headers: &HeaderMap) -> bool {
        let when = self.when();
        if when.is_empty() {
            return true;
        }
        let name = error.when_name();
        when.iter().any(|clause| {
            if !clause.error.is_empty() && !clause.error.contains(&name) {
                return false;
            }
            let Some(header) = clause.request.as_ref().and_then(|r| r.header.as_ref()) else {
                return true;
            };
            let accept_ok = header.accept.is_empty()
                || media_matches(&header.accept, headers.get(header::ACCEPT));
            let ct_ok = header.content_type.is_empty()
                || media_matches(&header.content_type, headers.get(header::CONTENT_TYPE));
            accept_ok && ct_ok
        })
    }

    /// Renders the error response; `debug` (only under `--dev`) goes into a JSON body.
    pub fn respond(
        &self,
        error: &Error,
        original: &UrlData,
        request_id: Option<&str>,
        debug: Option<&str>,
    ) -> Response {
        match self {
            ErrorHandler::Json { verbose, .. } => json_response(error, *verbose, request_id, debug),
            ErrorHandler::Redirect {
                to,
                code,
                return_to_query_param,
                ..
            } => {
                let mut location = to.clone();
                if let Some(param) = return_to_query_param {
                    if let Ok(mut u) = url::Url::parse(to) {
                        u.query_pairs_mut()
                            .append_pair(param, &original.to_url_string());
                        location = u.to_string();
                    }
                }
                let mut response = Response::new(Body::empty());
                *response.status_mut() = StatusCode::from_u16(*code).unwrap_or(StatusCode::FOUND);
                if let Ok(v) = HeaderValue::from_str(&location) {
                    response.headers_mut().insert(header::LOCATION, v);
                }
                response
            }
            ErrorHandler::WwwAuthenticate { realm, .. } => {
                let mut response = Response::new(Body::from("Unauthorized"));
                *response.status_mut() = StatusCode::UNAUTHORIZED;
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                if let Ok(v) = HeaderValue::from_str(&format!("Basic realm={realm}")) {
                    response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                response
                    .extensions_mut()
                    .insert(crate::http::layers::KeepBody);
                response
            }
        }
    }
}

/// herodot's JSON error; `debug` is the kernel's `debug` field, which only `--dev` fills (why
/// a 500 happened: a template that failed, a handler that answered wrong).
pub fn json_response(
    error: &Error,
    verbose: bool,
    request_id: Option<&str>,
    debug: Option<&str>,
) -> Response {
    let status = error.status();
    let mut body = Map::new();
    body.insert("code".into(), json!(status.as_u16()));
    body.insert(
        "status".into(),
        json!(status.canonical_reason().unwrap_or("Error")),
    );
    if let Some(id) = request_id {
        body.insert("request".into(), json!(id));
    }
    if verbose {
        if let Some(reason) = error.reason() {
            body.insert("reason".into(), json!(reason));
        }
        body.insert("message".into(), json!(error.to_string()));
    } else {
        body.insert("message".into(), json!(error.generic_message()));
    }
    if let Some(debug) = debug {
        body.insert("debug".into(), json!(debug));
    }
    let text = json!({ "error": body }).to_string();
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Oathkeeper's Accept/Content-Type rule: q-values ignored; a configured `*/*` or `type/*`
/// matches; a wildcard sent by the client matches only the same literal wildcard.
fn media_matches(configured: &[String], sent: Option<&HeaderValue>) -> bool {
    let sent = sent
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or("application/octet-stream");
    sent.split(',')
        .map(|part| {
            part.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .any(|offered| {
            configured.iter().any(|c| {
                let c = c.to_ascii_lowercase();
                c == "*/*"
                    || c == offered
                    || (c.ends_with("/*")
                        && offered.starts_with(&c[..c.len() - 1])
                        && !offered.ends_with("/*"))
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, accept.parse().unwrap());
        h
    }

    #[test]
    fn when_accept_follows_oathkeeper() {
        let h = ErrorHandler::build(
            "redirect",
            json!({"to": "http://x/login", "when": [{"error": ["unauthorized", "forbidden"], "request": {"header": {"accept": ["text/html"]}}}]}),
        )
        .unwrap();
        let e = Error::unauthorized("no session");
        assert!(h.matches(&e, &headers("text/html,application/xhtml+xml,*/*;q=0.8")));
        assert!(!h.matches(&e, &headers("*/*")));
        assert!(!h.matches(&e, &headers("application/json")));
        assert!(!h.matches(&Error::NoRuleMatched, &headers("text/html")));
    }

    #[test]
    fn error_names_and_statuses() {
        assert_eq!(Error::NoRuleMatched.when_name(), "not_found");
        assert_eq!(Error::internal("x").when_name(), "internal_server_error");
        assert_eq!(Error::UpstreamTimeout.status(), StatusCode::GATEWAY_TIMEOUT);
    }

    #[test]
    fn redirect_appends_return_to() {
        let h = ErrorHandler::build(
            "redirect",
            json!({"to": "http://x/login?a=1", "return_to_query_param": "return_to"}),
        )
        .unwrap();
        let url = UrlData {
            scheme: "http".into(),
            host: "h".into(),
            path: "/p".into(),
            raw_query: String::new(),
        };
        let r = h.respond(&Error::unauthorized(""), &url, None, None);
        assert_eq!(r.status(), StatusCode::FOUND);
        assert_eq!(
            r.headers()[header::LOCATION],
            "http://x/login?a=1&return_to=http%3A%2F%2Fh%2Fp"
        );
    }
}
