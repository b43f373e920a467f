//! The authorization request (`/oauth2/auth`) as fosite's `NewAuthorizeRequest` validates
//! it, in its order: duplicates, the client, the response mode and the redirect URI (errors up
//! to here go to the error UI, the redirect URI not being trusted yet), then scope, audience,
//! `registration`, the response types, `state` — and, up front here where Hydra checks them
//! after login and consent (docs/oauth2.md), what the authorize handlers check when they
//! answer: the response types some handler serves, the redirect's safety, grant types, nonce,
//! PKCE, the query mode, `prompt`. Also what the login request keeps of the request (its URL,
//! its OpenID Connect context, its `id_token_hint`).

use serde_json::{json, Map, Value};

use super::client::Client;
use super::error::{Error, Result};
use super::form::Form;
use super::navigation::ResponseMode;
use super::service::Oauth2;
use super::settings::ID_TOKEN_SET;

/// The validated parts of an authorization request.
pub struct AuthRequest {
    pub client: Client,
    pub redirect_uri: String,
    /// Whether the request named its redirect URI (else it is the client's only one).
    pub redirect_given: bool,
    pub state: String,
    pub scopes: Vec<String>,
    pub audience: Vec<String>,
    pub mode: ResponseMode,
    /// The requested response types, sorted and deduplicated (`["code"]`, `["id_token",
    /// "token"]`, …).
    pub response_types: Vec<String>,
}

impl AuthRequest {
    pub fn wants(&self, t: &str) -> bool {
        self.response_types.iter().any(|r| r == t)
    }

    /// Whether the request is the plain code flow (not implicit or hybrid).
    pub fn code_only(&self) -> bool {
        self.response_types == ["code"]
    }
}

/// A refused authorization request: the error, and where it goes — to the client at its
/// redirect URI (with `state`, in `mode`) once that is trusted, else to the error UI.
pub struct Refused {
    pub error: Error,
    pub redirect_uri: Option<String>,
    pub state: String,
    pub mode: ResponseMode,
}

impl Refused {
    /// Refused before the redirect URI is trusted.
    pub fn early(error: Error) -> Refused {
        Refused {
            error,
            redirect_uri: None,
            state: String::new(),
            mode: ResponseMode::Query,
        }
    }
}

/// A `response_type` value as a sorted set of its space-separated members.
fn response_type_set(value: &str) -> Vec<String> {
    let mut types: Vec<String> = value.split_whitespace().map(str::to_string).collect();
    types.sort();
    types.dedup();
    types
}

/// The response types Hydra 2.2 (fosite) handles: code, implicit and hybrid.
fn supported_response_types(types: &[String]) -> bool {
    let t: Vec<&str> = types.iter().map(String::as_str).collect();
    matches!(
        t.as_slice(),
        ["code"]
            | ["token"]
            | ["id_token"]
            | ["id_token", "token"]
            | ["code", "id_token"]
            | ["code", "token"]
            | ["code", "id_token", "token"]
    )
}

/// fosite's `IsRedirectURISecure`: anything but plain http, or http to a localhost name.
fn is_redirect_secure(uri: &str) -> bool {
    let Ok(u) = url::Url::parse(uri) else {
        return true;
    };
    if u.scheme() != "http" {
        return true;
    }
    let host = u.host_str().unwrap_or("").trim_matches(['[', ']']);
    host == "localhost" || host.ends_with(".localhost") || host == "127.0.0.1" || host == "::1"
}

/// RFC 8252's loopback redirect: a registered `http://127.0.0.1/...` or `http://[::1]/...`
/// matches on any port.
fn is_loopback_match(registered: &str, given: &str) -> bool {
    let (Ok(r), Ok(g)) = (url::Url::parse(registered), url::Url::parse(given)) else {
        return false;
    };
    let loopback = |u: &url::Url| matches!(u.host_str(), Some("127.0.0.1") | Some("[::1]"));
    loopback(&r)
        && r.scheme() == "http"
        && g.scheme() == "http"
        && r.host_str() == g.host_str()
        && r.path() == g.path()
        && r.query() == g.query()
}

/// fosite's `GetAudiences`: a repeated `audience` parameter counts value by value, a single
/// one is split at spaces.
fn requested_audience(form: &Form) -> Vec<String> {
    let values = form.all("audience");
    let split: Vec<String> = match values.as_slice() {
        [one] => one.split(' ').map(str::to_string).collect(),
        _ => values,
    };
    split.into_iter().filter(|a| !a.is_empty()).collect()
}

/// Validates an authorization request (see the module docs).
pub async fn validate(s: &Oauth2, form: &Form) -> std::result::Result<AuthRequest, Refused> {
    let state = form.get("state").unwrap_or("").to_string();
    let (client, redirect_uri, redirect_given) =
        client_and_redirect(s, form).await.map_err(Refused::early)?;
    let mode_param = form.get("response_mode").unwrap_or("");
    let response_type = form.get("response_type").unwrap_or("");
    let response_types = response_type_set(response_type);
    let mode = ResponseMode::of(mode_param, response_types == ["code"]);
    let fail = |error: Error| Refused {
        error,
        redirect_uri: Some(redirect_uri.clone()),
        state: state.clone(),
        mode,
    };
    let (scopes, audience) = check_request(s, form, &client, &response_types).map_err(fail)?;
    // Go's len: bytes, not characters.
    if state.len() < 8 {
        return Err(fail(Error::InvalidState(
            "Request parameter 'state' must be at least be 8 characters long to ensure sufficient entropy.".into(),
        )));
    }
    check_response(s, form, &client, &redirect_uri, &response_types).map_err(fail)?;
    Ok(AuthRequest {
        audience,
        client,
        redirect_given,
        redirect_uri,
        state,
        scopes,
        mode,
        response_types,
    })
}

/// The part whose errors go to the error UI: duplicates, the client, the response mode (fosite
/// parses it before it trusts the redirect URI), the redirect URI. Returns the client, the
/// redirect URI and whether the request named it.
async fn client_and_redirect(s: &Oauth2, form: &Form) -> Result<(Client, String, bool)> {
    if let Some(dup) = form.duplicate(&[
        "client_id",
        "redirect_uri",
        "response_type",
        "state",
        "scope",
        "nonce",
        "code_challenge",
    ]) {
        return Err(Error::InvalidRequest(format!(
            "The parameter '{dup}' must not be included more than once."
        )));
    }
    let client_id = form.get("client_id").unwrap_or("");
    let client = s
        .store()
        .get_client(client_id)
        .await?
        .ok_or_else(|| {
            Error::InvalidClient("The requested OAuth 2.0 Client does not exist.".into())
        })?
        .client;
    let mode_param = form.get("response_mode").unwrap_or("");
    if !ResponseMode::known(mode_param) {
        return Err(Error::Rejected {
            error: "unsupported_response_mode".into(),
            description: format!("The authorization server does not support obtaining a response using this response mode. Request with unsupported response_mode \"{mode_param}\"."),
            status: 400,
        });
    }
    let given = form.get("redirect_uri").filter(|r| !r.is_empty());
    let redirect_uri = match given {
        Some(g) if client.redirect_uris.iter().any(|r| r == g || is_loopback_match(r, g)) => g.to_string(),
        Some(_) => return Err(Error::InvalidRequest("The 'redirect_uri' parameter does not match any of the OAuth 2.0 Client's pre-registered redirect urls.".into())),
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => return Err(Error::InvalidRequest("The 'redirect_uri' parameter is required when the client has several redirect URIs.".into())),
    };
    Ok((client, redirect_uri, given.is_some()))
}

/// fosite's `newAuthorizeRequest`, in its order: scope, audience, `registration`, the
/// client's response types. Returns the requested scopes and audience.
fn check_request(
    s: &Oauth2,
    form: &Form,
    client: &Client,
    response_types: &[String],
) -> Result<(Vec<String>, Vec<String>)> {
    let scopes = form.list("scope");
    s.check_scopes(client, &scopes)?;
    let audience = requested_audience(form);
    s.check_audience(client, &audience)?;
    // OpenID Connect's `registration` parameter (not `prompt=registration`): fosite refuses it.
    if form.get("registration").is_some_and(|r| !r.is_empty()) {
        return Err(Error::Rejected {
            error: "registration_not_supported".into(),
            description: "The OP does not support use of the registration parameter.".into(),
            status: 400,
        });
    }
    if response_types.is_empty() {
        return Err(Error::UnsupportedResponseType(
            "`The request is missing the 'response_type' parameter.".into(),
        ));
    }
    if !client
        .effective_response_types()
        .iter()
        .any(|r| response_type_set(r) == response_types)
    {
        let response_type = form.get("response_type").unwrap_or("");
        return Err(Error::UnsupportedResponseType(format!(
            "The client is not allowed to request response_type '{response_type}'."
        )));
    }
    Ok((scopes, audience))
}

/// What fosite's authorize handlers check when they build the response, in their order: the
/// response types some handler serves, grant types, nonce, PKCE, then the query mode's safety
/// and `prompt`.
fn check_response(
    s: &Oauth2,
    form: &Form,
    client: &Client,
    redirect_uri: &str,
    response_types: &[String],
) -> Result<()> {
    let code_only = response_types == ["code"];
    let has = |t: &str| response_types.iter().any(|r| r == t);
    if !supported_response_types(response_types) {
        return Err(Error::UnsupportedResponseType(String::new()));
    }
    // Hydra's redirect checker: plain http only to localhost, unless in development mode.
    if code_only && !s.settings().dev && !is_redirect_secure(redirect_uri) {
        return Err(Error::InvalidRequest("Redirect URL is using an insecure protocol, http is only allowed for hosts with suffix 'localhost', for example: http://myapp.localhost/.".into()));
    }
    // The plain code flow checks the grant type at the token endpoint only; the hybrid flow
    // here.
    let grants = client.effective_grant_types();
    if has("code") && !code_only && !grants.iter().any(|g| g == "authorization_code") {
        return Err(Error::InvalidGrant(
            "The OAuth 2.0 Client is not allowed to use authorization grant 'authorization_code'."
                .into(),
        ));
    }
    if (has("token") || response_types == ["id_token"]) && !grants.iter().any(|g| g == "implicit") {
        return Err(Error::InvalidGrant(
            "The OAuth 2.0 Client is not allowed to use the authorization grant 'implicit'.".into(),
        ));
    }
    check_nonce(form, has("id_token"), has("code"))?;
    check_pkce(s, form, client, has("code"))?;
    let mode_param = form.get("response_mode").unwrap_or("");
    if mode_param == "query" && !code_only {
        let response_type = form.get("response_type").unwrap_or("");
        return Err(Error::Rejected {
            error: "unsupported_response_mode".into(),
            description: format!("The authorization server does not support obtaining a response using this response mode. Insecure response_mode 'query' for the response_type '[{}]'.", response_type.split(' ').filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" ")),
            status: 400,
        });
    }
    let prompt = form.get("prompt").unwrap_or("");
    if prompt.split_whitespace().any(|p| {
        !matches!(
            p,
            "none" | "login" | "consent" | "registration" | "select_account"
        )
    }) {
        return Err(Error::InvalidRequest(format!(
            "Used unknown value '{prompt}' for prompt parameter."
        )));
    }
    Ok(())
}

/// OpenID Connect's `nonce`: required with an ID token from the authorization endpoint, at
/// least 8 bytes when given.
fn check_nonce(form: &Form, id_token: bool, code: bool) -> Result<()> {
    let nonce = form.get("nonce").unwrap_or("");
    if id_token && nonce.is_empty() {
        return Err(Error::InvalidRequest(if code {
            "Parameter 'nonce' must be set when requesting an ID Token using the OpenID Connect Hybrid Flow.".into()
        } else {
            "Parameter 'nonce' must be set when using the OpenID Connect Implicit Flow.".into()
        }));
    }
    if !nonce.is_empty() && nonce.len() < 8 {
        return Err(Error::Rejected {
            error: "insufficient_entropy".into(),
            description: "The request used a security parameter (e.g., anti-replay, anti-csrf) with insufficient entropy. Parameter 'nonce' is set but does not satisfy the minimum entropy of 8 characters.".into(),
            status: 400,
        });
    }
    Ok(())
}

/// PKCE at the authorization endpoint: a challenge when enforced (for every client, or for
/// public ones), and S256 only.
fn check_pkce(s: &Oauth2, form: &Form, client: &Client, code: bool) -> Result<()> {
    let challenge = form.get("code_challenge").unwrap_or("");
    let method = form.get("code_challenge_method").unwrap_or("");
    if challenge.is_empty() && code {
        if s.settings().pkce_enforced {
            return Err(Error::InvalidRequest("Clients must include a code_challenge when performing the authorize code flow, but it is missing.".into()));
        }
        if s.settings().pkce_public && client.is_public() {
            return Err(Error::InvalidRequest("This client must include a code_challenge when performing the authorize code flow, but it is missing.".into()));
        }
    }
    if !challenge.is_empty() {
        match method {
            "S256" => {}
            "plain" | "" => {
                return Err(Error::InvalidRequest(
                    "Clients must use code_challenge_method=S256, plain is not allowed.".into(),
                ))
            }
            _ => {
                return Err(Error::InvalidRequest(
                    "The code_challenge_method is not supported, use S256 instead.".into(),
                ))
            }
        }
    }
    Ok(())
}

/// The request's URL as the login and consent requests show it (without verifiers).
pub fn request_url(s: &Oauth2, form: &Form) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            form.0
                .iter()
                .filter(|(k, _)| k != "login_verifier" && k != "consent_verifier"),
        )
        .finish();
    format!("{}/oauth2/auth?{q}", s.public_base())
}

/// The OpenID Connect context the login request shows: `acr_values`, `ui_locales`,
/// `display`, `login_hint`.
pub fn oidc_context(form: &Form) -> Value {
    let mut m = Map::new();
    if let Some(v) = form.get("acr_values").filter(|v| !v.is_empty()) {
        m.insert(
            "acr_values".into(),
            json!(v.split_whitespace().collect::<Vec<_>>()),
        );
    }
    if let Some(v) = form.get("ui_locales").filter(|v| !v.is_empty()) {
        m.insert(
            "ui_locales".into(),
            json!(v.split_whitespace().collect::<Vec<_>>()),
        );
    }
    for k in ["display", "login_hint"] {
        if let Some(v) = form.get(k).filter(|v| !v.is_empty()) {
            m.insert(k.into(), json!(v));
        }
    }
    Value::Object(m)
}

/// The claims of the request's `id_token_hint`: an ID token this server signed (an expired one
/// counts, as in Hydra) with a subject; `None` without a hint.
pub async fn id_token_hint_claims(s: &Oauth2, form: &Form) -> Result<Option<Map<String, Value>>> {
    let Some(hint) = form.get("id_token_hint").filter(|h| !h.is_empty()) else {
        return Ok(None);
    };
    let keys = s.keys().public_keys(ID_TOKEN_SET).await?;
    let (_, claims) = super::jose::verify(hint, &keys).ok_or_else(|| {
        Error::InvalidRequest("Failed to validate OpenID Connect request as decoding id token from id_token_hint parameter failed.".into())
    })?;
    if hint_subject(&claims).is_empty() {
        return Err(Error::InvalidRequest("Failed to validate OpenID Connect request because provided id token from id_token_hint does not have a subject.".into()));
    }
    Ok(Some(claims))
}

/// The `sub` of an ID token's claims.
pub fn hint_subject(claims: &Map<String, Value>) -> &str {
    claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_types_are_sets() {
        assert_eq!(
            response_type_set("token  id_token token"),
            ["id_token", "token"]
        );
        assert!(supported_response_types(&response_type_set(
            "id_token code"
        )));
        assert!(!supported_response_types(&response_type_set("none")));
    }

    #[test]
    fn redirects_are_secure_unless_plain_http_off_localhost() {
        assert!(is_redirect_secure("https://rp.example/cb"));
        assert!(is_redirect_secure("http://app.localhost/cb"));
        assert!(is_redirect_secure("http://[::1]:8080/cb"));
        assert!(is_redirect_secure("com.example.app:/cb"));
        assert!(!is_redirect_secure("http://rp.example/cb"));
        assert!(is_loopback_match(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:53123/cb"
        ));
        assert!(!is_loopback_match(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:1/other"
        ));
        assert!(!is_loopback_match(
            "http://rp.example/cb",
            "http://rp.example:1/cb"
        ));
    }

    #[test]
    fn a_single_audience_parameter_splits_at_spaces() {
        assert_eq!(
            requested_audience(&Form::parse(b"audience=a+b")),
            ["a", "b"]
        );
        assert_eq!(
            requested_audience(&Form::parse(b"audience=a+b&audience=c")),
            ["a b", "c"]
        );
    }

    #[test]
    fn the_oidc_context_keeps_what_the_login_ui_may_use() {
        let form = Form::parse(b"acr_values=a+b&display=page&login_hint=&ui_locales=de");
        assert_eq!(
            oidc_context(&form).to_string(),
            r#"{"acr_values":["a","b"],"ui_locales":["de"],"display":"page"}"#
        );
    }
}
