//! The request and answer mechanics every self-service endpoint shares, pure: who is asking
//! (a redirecting browser, a browser app that wants JSON, a native app), the body (JSON or a
//! form, both bounded by `limits`), 303 redirects, `return_to` against the allow list, and the
//! checks a submission passes — the anti-CSRF token for browser flows, no browser traits for
//! API flows.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::super::error::{Error, Result};
use super::super::flow::{Flow, FlowType};
use super::super::limits;
use super::super::request;
use super::super::service::Service;
use crate::config::identity::SelfService;

/// Who is asking: a redirecting browser, a browser app that wants JSON, or a native app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    Browser,
    Spa,
    Api,
}

/// Whether the request asks for JSON: a JSON body, or `Accept` naming JSON before HTML.
pub fn wants_json(headers: &HeaderMap) -> bool {
    let accept = request::header(headers, header::ACCEPT).unwrap_or("");
    let ct = request::header(headers, header::CONTENT_TYPE).unwrap_or("");
    if ct.starts_with("application/json") {
        return true;
    }
    match (accept.find("application/json"), accept.find("text/html")) {
        (Some(j), Some(h)) => j < h,
        (Some(_), None) => true,
        _ => false,
    }
}

pub fn client_for(flow_type: FlowType, headers: &HeaderMap) -> Client {
    match (flow_type, wants_json(headers)) {
        (FlowType::Api, _) => Client::Api,
        (FlowType::Browser, true) => Client::Spa,
        (FlowType::Browser, false) => Client::Browser,
    }
}

/// 303 to `to`.
pub fn redirect(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Adds a `Set-Cookie` header.
pub fn add_cookie(response: &mut Response, set_cookie: &str) {
    response
        .headers_mut()
        .append(header::SET_COOKIE, request::set_cookie(set_cookie));
}

/// `url` with `key=value` appended to its query.
pub fn with_query(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={value}")
}

/// Parses a JSON or form body; form keys with dots (`traits.email`) become nested objects.
/// Both are bounded (`limits`): at most 1,000 form fields of at most 32 key segments, JSON
/// nested at most 64 levels.
pub fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>> {
    let ct = request::header(headers, header::CONTENT_TYPE).unwrap_or("");
    if ct.starts_with("application/json") {
        return match serde_json::from_slice(body) {
            Ok(Value::Object(m)) => {
                for value in m.values() {
                    limits::check_depth(value, "JSON body")?;
                }
                Ok(m)
            }
            Ok(_) => Err(Error::BadRequest(
                "The request body must be a JSON object.".into(),
            )),
            Err(e) => Err(Error::BadRequest(format!(
                "Unable to decode JSON body: {e}"
            ))),
        };
    }
    if ct.starts_with("application/x-www-form-urlencoded") || ct.is_empty() {
        return Ok(limits::expand_form(body)?);
    }
    Err(Error::BadRequest(format!(
        "Unsupported content type `{ct}`; send JSON or a form."
    )))
}

/// A text field of a parsed body.
pub fn field<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str)
}

/// Kratos' `return_to` check against `selfservice.allowed_return_urls`, plus the default
/// return URL's origin and the public URL (`public_base`): the allowed URL, or the 400.
pub fn allowed_return_to(
    selfservice: &SelfService,
    public_base: &str,
    return_to: Option<&str>,
) -> Result<Option<String>> {
    let Some(rt) = return_to.filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let target = url::Url::parse(rt).map_err(|_| Error::ReturnToForbidden(rt.to_string()))?;
    let mut allowed: Vec<String> = selfservice.allowed_return_urls.clone();
    if let Some(d) = &selfservice.default_browser_return_url {
        allowed.push(d.clone());
    }
    allowed.push(format!("{public_base}/"));
    let ok = allowed
        .iter()
        .filter_map(|a| url::Url::parse(a).ok())
        .any(|a| {
            let host_ok = match (a.host_str(), target.host_str()) {
                (Some(ah), Some(th)) => match ah.strip_prefix("*.") {
                    Some(suffix) => th.ends_with(&format!(".{suffix}")),
                    None => ah.eq_ignore_ascii_case(th),
                },
                _ => false,
            };
            a.scheme() == target.scheme()
                && host_ok
                && a.port_or_known_default() == target.port_or_known_default()
                && target.path().starts_with(a.path().trim_end_matches('/'))
        });
    if ok {
        Ok(Some(rt.to_string()))
    } else {
        Err(Error::ReturnToForbidden(rt.to_string()))
    }
}

/// [`allowed_return_to`] for this request.
pub fn check_return_to(
    s: &Service,
    headers: &HeaderMap,
    return_to: Option<&str>,
) -> Result<Option<String>> {
    allowed_return_to(
        &s.config.selfservice,
        &request::public_base(s, headers),
        return_to,
    )
}

/// Browser flows: the CSRF `cookie` must hold the flow's token, and a `submitted` token
/// (masked or raw) must stand for it. API flows carry no CSRF token.
pub fn check_csrf(flow: &Flow, cookie: Option<&str>, submitted: Option<&str>) -> Result<()> {
    match flow.flow_type {
        FlowType::Browser => {
            let cookie_ok = cookie.is_some_and(|c| {
                crate::crypto::constant_time_eq(c.as_bytes(), flow.csrf_token.as_bytes())
            });
            if !cookie_ok {
                return Err(Error::Csrf(
                    "The anti-CSRF cookie is missing or does not match this flow.".into(),
                ));
            }
            if let Some(token) = submitted {
                if !super::super::csrf::matches(token, &flow.csrf_token) {
                    return Err(Error::Csrf(
                        "The anti-CSRF token in the request does not match the anti-CSRF cookie."
                            .into(),
                    ));
                }
            }
            Ok(())
        }
        FlowType::Api => Ok(()),
    }
}

/// [`check_csrf`] with this request's CSRF cookie (GET of a flow by id, and submissions).
pub fn ensure_csrf(
    s: &Service,
    flow: &Flow,
    headers: &HeaderMap,
    submitted: Option<&str>,
) -> Result<()> {
    let name = s.csrf_cookie_name(&request::public_base(s, headers));
    check_csrf(flow, request::cookie(headers, &name), submitted)
}

/// API-flow submissions must not look like a browser (cookies other than Cloudflare's, Origin).
pub fn ensure_not_browser(headers: &HeaderMap) -> Result<()> {
    let has_cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|line| {
            line.split(';').any(|p| {
                let name = p.trim().split('=').next().unwrap_or("");
                !(name.is_empty()
                    || name.starts_with("__cf")
                    || name.starts_with("_cf")
                    || name.starts_with("cf_"))
            })
        });
    if has_cookie || headers.contains_key(header::ORIGIN) {
        return Err(Error::BadRequest("The request was sent with cookies or an Origin header; native (api) flows must not be used from a browser — use the browser flow instead.".into()));
    }
    Ok(())
}

/// What every submission passes first: browser flows the anti-CSRF check (the token from the
/// body's `csrf_token` or the `X-CSRF-Token` header), API flows [`ensure_not_browser`].
pub fn check_submission(
    s: &Service,
    flow: &Flow,
    headers: &HeaderMap,
    body: &Map<String, Value>,
) -> Result<()> {
    match flow.flow_type {
        FlowType::Browser => {
            let token =
                field(body, "csrf_token").or_else(|| request::header(headers, "x-csrf-token"));
            match token {
                Some(t) => ensure_csrf(s, flow, headers, Some(t)),
                None => Err(Error::Csrf(
                    "The anti-CSRF token is missing from the request.".into(),
                )),
            }
        }
        FlowType::Api => ensure_not_browser(headers),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::flow::{FlowKind, FlowState, Ui};
    use crate::identity::model::Aal;
    use serde_json::json;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn flow(flow_type: FlowType) -> Flow {
        Flow {
            id: "f".into(),
            kind: FlowKind::Login,
            flow_type,
            state: FlowState::ChooseMethod,
            csrf_token: "0123456789abcdefghijABCDEFGHIJkl".into(),
            return_to: None,
            request_url: String::new(),
            ui: Ui {
                action: String::new(),
                method: "POST".into(),
                nodes: Vec::new(),
                messages: Vec::new(),
            },
            identity_id: None,
            session_id: None,
            refresh: false,
            requested_aal: Aal::Aal1,
            active: None,
            issued_at: 0,
            expires_at: 1,
        }
    }

    #[test]
    fn json_is_wanted_by_a_json_body_or_an_accept_preferring_it() {
        assert!(!wants_json(&headers(&[])));
        assert!(wants_json(&headers(&[("accept", "application/json")])));
        assert!(wants_json(&headers(&[(
            "accept",
            "application/json, text/html"
        )])));
        assert!(!wants_json(&headers(&[(
            "accept",
            "text/html, application/json"
        )])));
        assert!(wants_json(&headers(&[(
            "content-type",
            "application/json; charset=utf-8"
        )])));
        let spa = headers(&[("accept", "application/json")]);
        assert_eq!(client_for(FlowType::Browser, &spa), Client::Spa);
        assert_eq!(
            client_for(FlowType::Browser, &headers(&[])),
            Client::Browser
        );
        assert_eq!(client_for(FlowType::Api, &headers(&[])), Client::Api);
    }

    #[test]
    fn queries_are_appended() {
        assert_eq!(
            with_query("http://ui/login", "flow", "1"),
            "http://ui/login?flow=1"
        );
        assert_eq!(
            with_query("http://ui/?a=b", "id", "2"),
            "http://ui/?a=b&id=2"
        );
    }

    #[test]
    fn bodies_are_json_objects_or_forms_with_dotted_keys() {
        let json_ct = headers(&[("content-type", "application/json")]);
        let body = parse_body(&json_ct, br#"{"method":"password"}"#).unwrap();
        assert_eq!(field(&body, "method"), Some("password"));
        let err = parse_body(&json_ct, b"[1]").unwrap_err().to_string();
        assert_eq!(err, "The request body must be a JSON object.");
        let err = parse_body(&json_ct, b"{").unwrap_err().to_string();
        assert!(err.starts_with("Unable to decode JSON body:"), "{err}");
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(100), "]".repeat(100));
        assert!(parse_body(&json_ct, deep.as_bytes()).is_err());
        let form = parse_body(&headers(&[]), b"traits.email=a%40b.c&method=password").unwrap();
        assert_eq!(form.get("traits"), Some(&json!({"email": "a@b.c"})));
        let err = parse_body(&headers(&[("content-type", "text/plain")]), b"x")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "Unsupported content type `text/plain`; send JSON or a form."
        );
    }

    #[test]
    fn return_to_must_match_an_allowed_url() {
        let mut config = SelfService {
            allowed_return_urls: vec!["https://app.test/ok".into(), "https://*.apps.test/".into()],
            ..SelfService::default()
        };
        config.default_browser_return_url = Some("http://home.test/".into());
        let check = |rt: &str| allowed_return_to(&config, "http://kratos.test:4433", Some(rt));
        assert_eq!(
            check("https://app.test/ok/deeper").unwrap().as_deref(),
            Some("https://app.test/ok/deeper")
        );
        assert!(check("https://a.apps.test/x").is_ok(), "wildcard subdomain");
        assert!(
            check("http://home.test/anything").is_ok(),
            "the default return URL"
        );
        assert!(
            check("http://kratos.test:4433/ui").is_ok(),
            "the public URL"
        );
        for refused in [
            "https://app.test/other",
            "http://app.test/ok",
            "https://app.test:8443/ok",
            "https://apps.test/",
            "https://evil.test/ok",
            "/relative",
        ] {
            let err = check(refused).unwrap_err();
            assert!(
                matches!(err, Error::ReturnToForbidden(ref u) if u == refused),
                "{refused}"
            );
        }
        assert_eq!(allowed_return_to(&config, "http://k", None).unwrap(), None);
        assert_eq!(
            allowed_return_to(&config, "http://k", Some("")).unwrap(),
            None
        );
    }

    #[test]
    fn browser_flows_need_the_cookie_and_a_token_that_stands_for_it() {
        let browser = flow(FlowType::Browser);
        let token = browser.csrf_token.clone();
        let masked = crate::identity::csrf::mask(&token, &[7u8; 32]);
        assert!(check_csrf(&browser, Some(&token), None).is_ok());
        assert!(check_csrf(&browser, Some(&token), Some(&masked)).is_ok());
        assert!(check_csrf(&browser, Some(&token), Some(&token)).is_ok());
        let reason = |r: Result<()>| match r {
            Err(Error::Csrf(reason)) => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            reason(check_csrf(&browser, None, Some(&masked))),
            "The anti-CSRF cookie is missing or does not match this flow."
        );
        assert_eq!(
            reason(check_csrf(&browser, Some("other"), Some(&masked))),
            "The anti-CSRF cookie is missing or does not match this flow."
        );
        assert_eq!(
            reason(check_csrf(&browser, Some(&token), Some("wrong"))),
            "The anti-CSRF token in the request does not match the anti-CSRF cookie."
        );
        assert!(check_csrf(&flow(FlowType::Api), None, None).is_ok());
    }

    #[test]
    fn api_submissions_must_not_look_like_a_browser() {
        assert!(ensure_not_browser(&headers(&[])).is_ok());
        assert!(ensure_not_browser(&headers(&[(
            "cookie",
            "__cf_bm=1; _cfuvid=2; cf_clearance=3"
        )]))
        .is_ok());
        assert!(ensure_not_browser(&headers(&[("cookie", "__cf_bm=1; session=2")])).is_err());
        assert!(ensure_not_browser(&headers(&[("origin", "http://app.test")])).is_err());
    }
}
