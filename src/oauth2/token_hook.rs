//! Hydra's token hooks: before any token of a grant is issued, `oauth2.token_hook` (every
//! grant) and the legacy `oauth2.refresh_token_hook` (refresh grants, called first) receive the
//! grant's session and request as JSON and may replace the extra claims of the access token
//! (`session.access_token`) and of the ID token (`session.id_token`), keep them (204), or deny
//! the token (403 → `access_denied`). Anything else is fosite's `server_error`.
//!
//! The HTTP client behaves as Hydra's (go-retryablehttp through ory/x): up to two retries after
//! a connection error, a 429 or a 5xx other than 501, waiting 1 s then 2 s (or a 429/503's
//! `Retry-After`); each attempt has 30 s. The body sent is [`token_hook_body`] or
//! [`refresh_hook_body`]; the answer is read by [`read_answer`] (pure, unit-tested).

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::error::{Error, Result};
use super::grant::{GrantSession, GrantType};
use super::service::Oauth2;
use crate::config::oauth2::HookConfig;

/// How long one attempt may take (Hydra's resilient client: 30 s).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// Retries after the first attempt (Hydra: `ResilientClientWithMaxRetry(2)`).
const RETRIES: u32 = 2;
/// The first wait between attempts, doubled each time (go-retryablehttp's default backoff).
const FIRST_WAIT: Duration = Duration::from_secs(1);
/// The largest wait, also for a `Retry-After` (go-retryablehttp: `RetryWaitMax` 30 s).
const MAX_WAIT: Duration = Duration::from_secs(30);
/// The most of an answer read (Hydra: 5 MiB).
const ANSWER_LIMIT: usize = 5 << 20;

/// The extra claims a hook's 200 answer sets: both replace what the session had (absent = none).
#[derive(Debug, PartialEq)]
pub struct HookClaims {
    pub access_token: Map<String, Value>,
    pub id_token: Map<String, Value>,
}

/// What Hydra knows of the session at the token endpoint, in the shape of its `oauth2.Session`
/// (fosite's `openid.DefaultSession` under `id_token`, with Go's zero times where unset).
pub struct SessionView<'a> {
    pub session: &'a GrantSession,
    pub issuer: &'a str,
    /// The ID-token claims' `iat` (seconds).
    pub issued_at: i64,
    /// Whether the grant went through login and consent (authorization_code, refresh_token):
    /// only then do the ID-token claims carry a subject and an audience.
    pub consented: bool,
    pub exclude_not_before_claim: bool,
    pub allowed_top_level_claims: &'a [String],
    pub mirror_top_level_claims: bool,
}

/// What fosite's access request says of the token request.
pub struct RequestView<'a> {
    pub client_id: &'a str,
    pub grant_type: GrantType,
    /// The `assertion` of a jwt-bearer request: the only form value Hydra passes on.
    pub assertion: Option<&'a str>,
}

/// Go's JSON for a `time.Time` at `secs` (the zero time for 0).
fn go_time(secs: i64) -> String {
    if secs == 0 {
        "0001-01-01T00:00:00Z".into()
    } else {
        crate::store::time::rfc3339_seconds(secs.saturating_mul(1_000_000))
    }
}

fn object(v: &Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    }
}

/// Hydra's `oauth2.Session` as JSON.
pub fn session_json(view: &SessionView) -> Value {
    let s = view.session;
    let mut id_extra = object(&s.id_token);
    if !s.sid.is_empty() {
        id_extra.insert("sid".into(), json!(s.sid));
    }
    let (id_subject, audience) = if view.consented {
        (s.id_token_subject(), json!([s.client_id]))
    } else {
        ("", json!([]))
    };
    json!({
        "id_token": {
            "id_token_claims": {
                "jti": "",
                "iss": view.issuer,
                "sub": id_subject,
                "aud": audience,
                "nonce": s.nonce,
                "exp": go_time(0),
                "iat": go_time(view.issued_at),
                "rat": go_time(s.requested_at),
                "auth_time": go_time(s.auth_time),
                "at_hash": "",
                "acr": s.acr,
                "amr": if s.amr.is_empty() { Value::Null } else { json!(s.amr) },
                "c_hash": "",
                "ext": id_extra,
            },
            "headers": {"extra": {}},
            "expires_at": {},
            "username": "",
            "subject": s.subject,
        },
        "extra": object(&s.ext),
        "kid": "",
        "client_id": s.client_id,
        "consent_challenge": "",
        "exclude_not_before_claim": view.exclude_not_before_claim,
        "allowed_top_level_claims": view.allowed_top_level_claims,
        "mirror_top_level_claims": view.mirror_top_level_claims,
    })
}

/// `oauth2.token_hook`'s body: `{session, request: {client_id, granted_scopes,
/// granted_audience, grant_types, payload}}`.
pub fn token_hook_body(session: &SessionView, request: &RequestView) -> Value {
    let mut payload = Map::new();
    if let Some(a) = request.assertion {
        payload.insert("assertion".into(), json!([a]));
    }
    json!({
        "session": session_json(session),
        "request": {
            "client_id": request.client_id,
            "granted_scopes": session.session.granted_scope,
            "granted_audience": session.session.granted_audience,
            "grant_types": [request.grant_type.as_str()],
            "payload": payload,
        },
    })
}

/// `oauth2.refresh_token_hook`'s body (Hydra's legacy `RefreshTokenHookRequest`).
pub fn refresh_hook_body(session: &SessionView, request: &RequestView) -> Value {
    let s = session.session;
    json!({
        "subject": s.subject,
        "session": session_json(session),
        "requester": {
            "client_id": request.client_id,
            "granted_scopes": s.granted_scope,
            "granted_audience": s.granted_audience,
            "grant_types": [request.grant_type.as_str()],
        },
        "client_id": request.client_id,
        "granted_scopes": s.granted_scope,
        "granted_audience": s.granted_audience,
    })
}

/// fosite's error for a hook that answered, failed or could not be read.
fn hook_error(denied: bool, description: &str) -> Error {
    Error::Rejected {
        error: if denied {
            "access_denied"
        } else {
            "server_error"
        }
        .into(),
        description: description.into(),
        status: if denied { 403 } else { 500 },
    }
}

const RESPONDED_WITH_AN_ERROR: &str = "The token hook target responded with an error.";

/// A final answer of the hook: `Some(claims)` to replace the session's, `None` to keep them.
pub fn read_answer(status: u16, body: &[u8]) -> Result<Option<HookClaims>> {
    match status {
        200 => {}
        204 => return Ok(None),
        403 => return Err(hook_error(true, RESPONDED_WITH_AN_ERROR)),
        _ => return Err(hook_error(false, RESPONDED_WITH_AN_ERROR)),
    }
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Answer {
        session: AnswerSession,
    }
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct AnswerSession {
        access_token: Option<Map<String, Value>>,
        id_token: Option<Map<String, Value>>,
    }
    // Go's json.Decoder reads the first value and ignores what follows it.
    let mut values = serde_json::Deserializer::from_slice(body).into_iter::<Answer>();
    let answer = match values.next() {
        Some(Ok(a)) => a,
        _ => return Err(hook_error(false, RESPONDED_WITH_AN_ERROR)),
    };
    Ok(Some(HookClaims {
        access_token: answer.session.access_token.unwrap_or_default(),
        id_token: answer.session.id_token.unwrap_or_default(),
    }))
}

/// Whether go-retryablehttp's default policy retries after this status.
fn retried(status: u16) -> bool {
    status == 429 || (status >= 500 && status != 501) || status == 0
}

/// go-retryablehttp's default backoff before retry `attempt` (0-based).
fn wait_before_retry(attempt: u32, status: u16, retry_after: Option<&str>) -> Duration {
    if status == 429 || status == 503 {
        if let Some(secs) = retry_after.and_then(|v| v.trim().parse::<u64>().ok()) {
            return Duration::from_secs(secs).min(MAX_WAIT);
        }
    }
    FIRST_WAIT
        .saturating_mul(2u32.saturating_pow(attempt))
        .min(MAX_WAIT)
}

/// POSTs `body` to the hook and reads its final answer.
pub async fn call(
    http: &reqwest::Client,
    hook: &HookConfig,
    body: &Value,
) -> Result<Option<HookClaims>> {
    let bytes = serde_json::to_vec(body).map_err(|e| Error::Internal(e.to_string()))?;
    let mut attempt = 0;
    loop {
        let mut request = http
            .post(hook.url.clone())
            .timeout(ATTEMPT_TIMEOUT)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/json; charset=UTF-8",
            )
            .body(bytes.clone());
        if let Some(key) = &hook.auth {
            match key.in_.as_deref() {
                Some("header") => request = request.header(key.name.as_str(), key.value.expose()),
                Some("cookie") => {
                    request = request.header(
                        reqwest::header::COOKIE,
                        format!("{}={}", key.name, key.value.expose()),
                    )
                }
                _ => {}
            }
        }
        let (status, retry_after, answer) = match request.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let retry_after = r
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                (status, retry_after, Some(r))
            }
            Err(e) => {
                tracing::warn!(url = %hook.url, error = %e, "the token hook could not be reached");
                (0, None, None)
            }
        };
        if retried(status) {
            if attempt == RETRIES {
                // go-retryablehttp gives up with an error, not the last answer.
                return Err(hook_error(
                    false,
                    "An error occurred while executing the token hook.",
                ));
            }
            tokio::time::sleep(wait_before_retry(attempt, status, retry_after.as_deref())).await;
            attempt += 1;
            continue;
        }
        let body = match answer {
            Some(r) => read_limited(r).await,
            None => Vec::new(),
        };
        if status != 200 && status != 204 {
            tracing::warn!(url = %hook.url, status, "the token hook refused or failed");
        }
        return read_answer(status, &body);
    }
}

/// At most [`ANSWER_LIMIT`] bytes of the answer (what follows is dropped, so an oversized
/// answer fails to parse).
async fn read_limited(mut r: reqwest::Response) -> Vec<u8> {
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = r.chunk().await {
        let room = ANSWER_LIMIT.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= ANSWER_LIMIT {
            break;
        }
    }
    out
}

/// Runs the configured token hooks for a grant about to issue its tokens: on refresh grants
/// `oauth2.refresh_token_hook` first, then `oauth2.token_hook`; each may replace the
/// session's extra claims, or refuse the tokens. `consented`: the grant went through login
/// and consent.
pub async fn run(
    s: &Oauth2,
    session: &mut GrantSession,
    request: &RequestView<'_>,
    consented: bool,
) -> Result<()> {
    let settings = s.settings();
    let issuer = s.issuer();
    let refresh = settings
        .refresh_token_hook
        .as_ref()
        .filter(|_| request.grant_type == GrantType::RefreshToken);
    for (config, legacy) in [(refresh, true), (settings.token_hook.as_ref(), false)] {
        let Some(config) = config else { continue };
        let view = SessionView {
            session,
            issuer: &issuer,
            issued_at: if consented {
                session.requested_at
            } else {
                s.now_secs()
            },
            consented,
            exclude_not_before_claim: settings.exclude_nbf,
            allowed_top_level_claims: &settings.allowed_top_level_claims,
            mirror_top_level_claims: settings.mirror_top_level_claims,
        };
        let body = if legacy {
            refresh_hook_body(&view, request)
        } else {
            token_hook_body(&view, request)
        };
        if let Some(claims) = call(s.http(), config, &body).await? {
            apply(session, claims);
        }
    }
    Ok(())
}

/// Sets the claims a hook answered: the access token's extras, and the ID token's (`sid`
/// among them, as in Hydra's `IDTokenClaims.Extra`).
pub fn apply(session: &mut GrantSession, claims: HookClaims) {
    let mut id_token = claims.id_token;
    session.sid = match id_token.remove("sid") {
        Some(Value::String(sid)) => sid,
        _ => String::new(),
    };
    session.ext = Value::Object(claims.access_token);
    session.id_token = Value::Object(id_token);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn code_session() -> GrantSession {
        GrantSession {
            client_id: "app".into(),
            subject: "alice".into(),
            granted_scope: vec!["openid".into(), "offline".into()],
            granted_audience: vec![],
            requested_at: 1_700_000_000,
            auth_time: 1_699_999_990,
            ext: json!({"role": "admin"}),
            id_token: json!({"email": "a@example.com"}),
            nonce: "n-12345678".into(),
            acr: "1".into(),
            amr: vec!["pwd".into()],
            sid: "login-session".into(),
            ..GrantSession::default()
        }
    }

    #[test]
    fn the_token_hook_body_has_hydras_shape() {
        let s = code_session();
        let view = SessionView {
            session: &s,
            issuer: "http://127.0.0.1:4444",
            issued_at: 0,
            consented: true,
            exclude_not_before_claim: false,
            allowed_top_level_claims: &[],
            mirror_top_level_claims: true,
        };
        let body = token_hook_body(
            &view,
            &RequestView {
                client_id: "app",
                grant_type: GrantType::AuthorizationCode,
                assertion: None,
            },
        );
        expect_test::expect![[r#"{"session":{"id_token":{"id_token_claims":{"jti":"","iss":"http://127.0.0.1:4444","sub":"alice","aud":["app"],"nonce":"n-12345678","exp":"0001-01-01T00:00:00Z","iat":"0001-01-01T00:00:00Z","rat":"2023-11-14T22:13:20Z","auth_time":"2023-11-14T22:13:10Z","at_hash":"","acr":"1","amr":["pwd"],"c_hash":"","ext":{"email":"a@example.com","sid":"login-session"}},"headers":{"extra":{}},"expires_at":{},"username":"","subject":"alice"},"extra":{"role":"admin"},"kid":"","client_id":"app","consent_challenge":"","exclude_not_before_claim":false,"allowed_top_level_claims":[],"mirror_top_level_claims":true},"request":{"client_id":"app","granted_scopes":["openid","offline"],"granted_audience":[],"grant_types":["authorization_code"],"payload":{}}}"#]]
        .assert_eq(&body.to_string());
    }

    #[test]
    fn the_refresh_hook_body_is_hydras_legacy_shape() {
        let s = code_session();
        let view = SessionView {
            session: &s,
            issuer: "https://issuer.example",
            issued_at: 0,
            consented: true,
            exclude_not_before_claim: false,
            allowed_top_level_claims: &[],
            mirror_top_level_claims: true,
        };
        let body = refresh_hook_body(
            &view,
            &RequestView {
                client_id: "app",
                grant_type: GrantType::RefreshToken,
                assertion: None,
            },
        );
        assert_eq!(body["subject"], "alice");
        assert_eq!(body["client_id"], "app");
        assert_eq!(body["requester"]["grant_types"], json!(["refresh_token"]));
        assert_eq!(body["granted_scopes"], json!(["openid", "offline"]));
        assert_eq!(body["session"]["extra"], json!({"role": "admin"}));
    }

    #[test]
    fn a_jwt_bearer_request_passes_its_assertion_only() {
        let s = GrantSession {
            client_id: "svc".into(),
            subject: "bob".into(),
            ..GrantSession::default()
        };
        let view = SessionView {
            session: &s,
            issuer: "https://issuer.example",
            issued_at: 1_700_000_000,
            consented: false,
            exclude_not_before_claim: true,
            allowed_top_level_claims: &["tenant".to_string()],
            mirror_top_level_claims: false,
        };
        let body = token_hook_body(
            &view,
            &RequestView {
                client_id: "svc",
                grant_type: GrantType::JwtBearer,
                assertion: Some("a.b.c"),
            },
        );
        assert_eq!(body["request"]["payload"], json!({"assertion": ["a.b.c"]}));
        let claims = &body["session"]["id_token"]["id_token_claims"];
        assert_eq!(claims["sub"], "");
        assert_eq!(claims["aud"], json!([]));
        assert_eq!(claims["amr"], Value::Null);
        assert_eq!(claims["iat"], "2023-11-14T22:13:20Z");
        assert_eq!(
            body["session"]["allowed_top_level_claims"],
            json!(["tenant"])
        );
        assert_eq!(body["session"]["exclude_not_before_claim"], true);
    }

    #[test]
    fn answers_are_read_as_hydra_reads_them() {
        assert_eq!(read_answer(204, b"ignored").unwrap(), None);
        let claims = read_answer(
            200,
            br#"{"session":{"access_token":{"a":1},"id_token":{"b":2}}} trailing"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(claims.access_token["a"], 1);
        assert_eq!(claims.id_token["b"], 2);
        // A 200 without a session clears both sets of extras.
        let empty = read_answer(200, b"{}").unwrap().unwrap();
        assert!(empty.access_token.is_empty() && empty.id_token.is_empty());
        let parts = |e: Error| {
            let (status, code, description) = e.parts();
            (status.as_u16(), code, description)
        };
        let denied = parts(read_answer(403, b"").unwrap_err());
        assert_eq!(
            denied,
            (403, "access_denied".into(), RESPONDED_WITH_AN_ERROR.into())
        );
        for (status, body) in [
            (200, &b"not json"[..]),
            (200, br#"{"session":{"access_token":"x"}}"#),
            (400, b""),
            (401, b""),
            (404, b""),
            (501, b""),
        ] {
            assert_eq!(
                parts(read_answer(status, body).unwrap_err()),
                (500, "server_error".into(), RESPONDED_WITH_AN_ERROR.into()),
                "{status}"
            );
        }
    }

    #[test]
    fn retries_follow_go_retryablehttp() {
        assert!(retried(0) && retried(429) && retried(500) && retried(503));
        assert!(!retried(501) && !retried(200) && !retried(403) && !retried(404));
        assert_eq!(wait_before_retry(0, 500, None), Duration::from_secs(1));
        assert_eq!(wait_before_retry(1, 500, None), Duration::from_secs(2));
        assert_eq!(wait_before_retry(0, 503, Some("3")), Duration::from_secs(3));
        assert_eq!(wait_before_retry(0, 429, Some("999")), MAX_WAIT);
        assert_eq!(wait_before_retry(0, 500, Some("7")), Duration::from_secs(1));
    }

    #[test]
    fn applied_claims_replace_the_extras_and_sid() {
        let mut s = code_session();
        apply(
            &mut s,
            HookClaims {
                access_token: Map::from_iter([("tenant".to_string(), json!("t1"))]),
                id_token: Map::new(),
            },
        );
        assert_eq!(s.ext, json!({"tenant": "t1"}));
        assert_eq!(s.id_token, json!({}));
        assert_eq!(s.sid, "");
    }
}
