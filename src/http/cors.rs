//! CORS from Ory's `serve.<listener>.cors` keys, with each service's own defaults. Origins may be
//! `*` or contain one `*` wildcard (`https://*.example.com`), as Ory documents. An empty list or
//! a `*` allows every origin as Ory's CORS library (rs/cors) does: `Access-Control-Allow-Origin:
//! *`, with which browsers send no credentials — so no `Allow-Credentials` either (rs/cors sends
//! it, and browsers ignore it next to `*`). A listed origin is echoed, with credentials when
//! allowed.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::CorsConfig;

/// The defaults of one Ory service's CORS keys.
#[derive(Debug)]
pub struct CorsDefaults {
    pub origins: &'static [&'static str],
    pub methods: &'static [&'static str],
    pub headers: &'static [&'static str],
    pub exposed: &'static [&'static str],
    pub credentials: bool,
}

const METHODS: &[&str] = &["POST", "GET", "PUT", "PATCH", "DELETE"];

pub const KRATOS: CorsDefaults = CorsDefaults {
    origins: &["*"],
    methods: METHODS,
    headers: &[
        "Authorization",
        "Content-Type",
        "Max-Age",
        "X-Session-Token",
        "X-XSRF-TOKEN",
        "X-CSRF-TOKEN",
    ],
    exposed: &["Content-Type"],
    credentials: true,
};

pub const HYDRA: CorsDefaults = CorsDefaults {
    origins: &[],
    methods: &[
        "POST", "GET", "PUT", "PATCH", "DELETE", "CONNECT", "HEAD", "OPTIONS", "TRACE",
    ],
    headers: &[
        "Accept",
        "Content-Type",
        "Content-Length",
        "Accept-Language",
        "Content-Language",
        "Authorization",
    ],
    exposed: &[
        "Cache-Control",
        "Expires",
        "Last-Modified",
        "Pragma",
        "Content-Length",
        "Content-Language",
        "Content-Type",
    ],
    credentials: true,
};

/// Keto and Oathkeeper share these defaults.
pub const KETO_OATHKEEPER: CorsDefaults = CorsDefaults {
    origins: &["*"],
    methods: METHODS,
    headers: &["Authorization", "Content-Type"],
    exposed: &["Content-Type"],
    credentials: false,
};

/// The CORS layer for a listener, or `None` when CORS is not enabled there.
pub fn layer(config: Option<&CorsConfig>, defaults: &CorsDefaults) -> Option<CorsLayer> {
    let config = config.filter(|c| c.enabled)?;
    let owned = |list: &Option<Vec<String>>, fallback: &[&str]| -> Vec<String> {
        list.clone()
            .unwrap_or_else(|| fallback.iter().map(|s| s.to_string()).collect())
    };
    let origins = owned(&config.allowed_origins, defaults.origins);
    let methods: Vec<Method> = owned(&config.allowed_methods, defaults.methods)
        .iter()
        .filter_map(|m| m.parse().ok())
        .collect();
    let headers: Vec<HeaderName> = owned(&config.allowed_headers, defaults.headers)
        .iter()
        .filter_map(|h| h.parse().ok())
        .collect();
    let exposed: Vec<HeaderName> = owned(&config.exposed_headers, defaults.exposed)
        .iter()
        .filter_map(|h| h.parse().ok())
        .collect();
    let every_origin = origins.is_empty() || origins.iter().any(|o| o == "*");
    // Never echo an arbitrary origin together with credentials: any site could then read
    // answers made with the user's cookies.
    let credentials = config.allow_credentials.unwrap_or(defaults.credentials) && !every_origin;
    let allow_origin = if every_origin {
        AllowOrigin::any()
    } else {
        AllowOrigin::predicate(move |origin: &HeaderValue, _| origin_allowed(&origins, origin))
    };
    let layer = CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods(methods)
        .allow_headers(headers)
        .expose_headers(exposed)
        .allow_credentials(credentials)
        .max_age(Duration::from_secs(config.max_age.unwrap_or(0)));
    Some(layer)
}

/// Whether `origin` is in `allowed` (exact, `*`, or one `*` wildcard).
pub fn origin_allowed(allowed: &[String], origin: &HeaderValue) -> bool {
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    allowed.iter().any(|pattern| match pattern.split_once('*') {
        None => pattern.eq_ignore_ascii_case(origin),
        Some(("", "")) => true,
        Some((prefix, suffix)) => {
            origin.len() >= prefix.len() + suffix.len()
                && origin[..prefix.len()].eq_ignore_ascii_case(prefix)
                && origin[origin.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(patterns: &[&str], origin: &str) -> bool {
        let patterns: Vec<String> = patterns.iter().map(|s| s.to_string()).collect();
        origin_allowed(&patterns, &HeaderValue::from_str(origin).unwrap())
    }

    #[test]
    fn origins_match_exactly_by_wildcard_or_star() {
        assert!(allowed(&["http://localhost:3000"], "http://localhost:3000"));
        assert!(!allowed(
            &["http://localhost:3000"],
            "http://localhost:3001"
        ));
        assert!(allowed(&["*"], "https://anything.example"));
        assert!(allowed(
            &["https://*.example.com"],
            "https://a.b.example.com"
        ));
        assert!(!allowed(
            &["https://*.example.com"],
            "https://example.com.evil.org"
        ));
        assert!(!allowed(&["https://*.example.com"], "http://a.example.com"));
        assert!(!allowed(&[], "http://localhost:3000"));
    }

    #[test]
    fn disabled_cors_adds_no_layer() {
        assert!(layer(None, &KRATOS).is_none());
        assert!(layer(Some(&CorsConfig::default()), &KRATOS).is_none());
        let enabled = CorsConfig {
            enabled: true,
            ..CorsConfig::default()
        };
        assert!(layer(Some(&enabled), &KRATOS).is_some());
    }
}
