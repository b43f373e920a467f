//! HTTP tests of the oauth2 role (Hydra v2.2 on the wire) against the in-process stack on
//! ephemeral ports; the `openidconnect` crate acts as an independent relying party doing
//! discovery and the authorization-code flow with PKCE while the test plays the login and
//! consent UI through the admin API.

use crate::common::{self, Backend};

use std::collections::BTreeMap;

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, RefreshToken, Scope, TokenResponse,
};
use quartet::config::{Config, Role};
use quartet::oauth2::jose;
use quartet::{Clock, ClockHand, Stack};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::{json, Value};

mod assertions;
mod authorize;
mod clients;
mod errors;
mod keys;
mod logout;
mod tokens;

struct Env {
    stack: Stack,
    public: String,
    admin: String,
    http: reqwest::Client,
    pg: Option<common::PgDatabase>,
    /// Moves the stack's clock: expiries pass without sleeping.
    hand: ClockHand,
}

async fn start(backend: Backend) -> Env {
    start_with(backend, |_| {}).await
}

async fn start_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> Env {
    let mut config = Config::ephemeral();
    configure(&mut config);
    let pg = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => common::pg_database().await,
    };
    if let Some(pg) = &pg {
        config.dsn = pg.dsn.clone();
    }
    let (clock, hand) = Clock::adjustable();
    let stack = Stack::start_with_clock(config, &[Role::Oauth2], &[], clock)
        .await
        .unwrap();
    let public = stack.url(Role::Oauth2, "public").unwrap();
    let admin = stack.url(Role::Oauth2, "admin").unwrap();
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    Env {
        stack,
        public,
        admin,
        http,
        pg,
        hand,
    }
}

impl Env {
    /// Stops the stack and drops the test's PostgreSQL database.
    async fn finish(self) {
        self.stack.shutdown().await;
        if let Some(pg) = self.pg {
            pg.drop_now().await;
        }
    }

    async fn create_client(&self, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}/admin/clients", self.admin))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        r.json().await.unwrap()
    }

    /// The token request redeeming `code` for `client` (basic auth, the suite's redirect URI).
    async fn exchange_code(&self, client: &Value, code: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/oauth2/token", self.public))
            .basic_auth(
                client["client_id"].as_str().unwrap(),
                client["client_secret"].as_str(),
            )
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", "https://rp.example/cb"),
            ])
            .send()
            .await
            .unwrap()
    }

    async fn introspect(&self, token: &str) -> Value {
        self.http
            .post(format!("{}/admin/oauth2/introspect", self.admin))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn cookies_from(r: &reqwest::Response, jar: &mut BTreeMap<String, String>) {
    for v in r.headers().get_all(SET_COOKIE) {
        let text = v.to_str().unwrap();
        let (pair, attrs) = text.split_once(';').unwrap_or((text, ""));
        let (k, val) = pair.split_once('=').unwrap();
        if attrs.contains("Max-Age=-1") || val.is_empty() {
            jar.remove(k);
        } else {
            jar.insert(k.to_string(), val.to_string());
        }
    }
}

fn cookie_header(jar: &BTreeMap<String, String>) -> String {
    jar.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn query_param(url: &str, key: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).unwrap();
    u.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Plays the browser and the login/consent UI: returns the URL the flow finally redirects to
/// (or, for `response_mode=form_post`, `form_post:` and the page that posts to the client).
async fn browse(
    env: &Env,
    start: &str,
    jar: &mut BTreeMap<String, String>,
    session: Value,
) -> String {
    browse_accepting(env, start, jar, session, json!({})).await
}

/// [`browse`], the login accepted with the extra fields of `login` as well.
async fn browse_accepting(
    env: &Env,
    start: &str,
    jar: &mut BTreeMap<String, String>,
    session: Value,
    login: Value,
) -> String {
    let mut url = start.to_string();
    for _ in 0..10 {
        if url.starts_with("https://rp.example/") {
            return url;
        }
        let r = env
            .http
            .get(&url)
            .header(COOKIE, cookie_header(jar))
            .send()
            .await
            .unwrap();
        cookies_from(&r, jar);
        if r.status() == 200 {
            return format!("form_post:{}", r.text().await.unwrap());
        }
        let next = r.headers()[LOCATION].to_str().unwrap().to_string();
        // Hydra: 302 to the login and consent UIs, fosite's 303 back to the client.
        let expected = if next.starts_with("https://rp.example/") {
            303
        } else {
            302
        };
        assert_eq!(r.status(), expected, "{url}");
        if let Some(ch) = query_param(&next, "login_challenge") {
            let req: Value = env
                .http
                .get(format!(
                    "{}/admin/oauth2/auth/requests/login?login_challenge={ch}",
                    env.admin
                ))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let subject = if req["skip"] == true {
                req["subject"].as_str().unwrap().to_string()
            } else {
                "alice".to_string()
            };
            let mut accept = json!({"subject": subject, "remember": true, "remember_for": 3600, "acr": "1", "amr": ["pwd"]});
            if let (Some(accept), Some(extra)) = (accept.as_object_mut(), login.as_object()) {
                accept.extend(extra.clone());
            }
            let a: Value = env
                .http
                .put(format!(
                    "{}/admin/oauth2/auth/requests/login/accept?login_challenge={ch}",
                    env.admin
                ))
                .json(&accept)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            // a handled challenge answers 410 with redirect_to
            let again = env
                .http
                .get(format!(
                    "{}/admin/oauth2/auth/requests/login?login_challenge={ch}",
                    env.admin
                ))
                .send()
                .await
                .unwrap();
            assert_eq!(again.status(), 410);
            url = a["redirect_to"].as_str().unwrap().to_string();
        } else if let Some(ch) = query_param(&next, "consent_challenge") {
            let req: Value = env
                .http
                .get(format!(
                    "{}/admin/oauth2/auth/requests/consent?consent_challenge={ch}",
                    env.admin
                ))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let a: Value = env.http.put(format!("{}/admin/oauth2/auth/requests/consent/accept?consent_challenge={ch}", env.admin))
                .json(&json!({"grant_scope": req["requested_scope"], "remember": true, "session": session})).send().await.unwrap().json().await.unwrap();
            url = a["redirect_to"].as_str().unwrap().to_string();
        } else {
            url = next;
        }
    }
    panic!("the flow did not finish: {url}");
}

/// Bits of an RSA JWK's modulus.
fn rsa_bits(jwk: &Value) -> usize {
    use base64::Engine;
    let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwk["n"].as_str().unwrap())
        .unwrap();
    n.len() * 8
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn code_flow_tokens(
    env: &Env,
    client: &Value,
    jar: &mut BTreeMap<String, String>,
    scope: &str,
) -> Value {
    let cid = client["client_id"].as_str().unwrap();
    let start = reqwest::Url::parse_with_params(
        &format!("{}/oauth2/auth", env.public),
        &[
            ("client_id", cid),
            ("response_type", "code"),
            ("scope", scope),
            ("redirect_uri", "https://rp.example/cb"),
            ("state", "state-12345678"),
            ("nonce", "nonce-12345678"),
        ],
    )
    .unwrap();
    let done = browse(env, start.as_str(), jar, json!({})).await;
    let code = query_param(&done, "code").unwrap_or_else(|| panic!("{done}"));
    let r = env
        .http
        .post(format!("{}/oauth2/token", env.public))
        .basic_auth(cid, client["client_secret"].as_str())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "https://rp.example/cb"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn published_keys(env: &Env) -> Vec<josekit::jwk::Jwk> {
    let jwks: Value = env
        .http
        .get(format!("{}/.well-known/jwks.json", env.public))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| josekit::jwk::Jwk::from_map(k.as_object().unwrap().clone()).unwrap())
        .collect()
}

/// A relying party's back-channel logout endpoint: every `logout_token` POSTed to it.
async fn backchannel_receiver() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<String>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/backchannel", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/backchannel",
        axum::routing::post(
            move |axum::extract::Form(f): axum::extract::Form<BTreeMap<String, String>>| {
                let tx = tx.clone();
                async move {
                    tx.send(f.get("logout_token").cloned().unwrap_or_default())
                        .unwrap();
                    axum::http::StatusCode::OK
                }
            },
        ),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, rx, server)
}

/// Waits for the next logout token (the delivery is asynchronous; bounded wait, no sleeping).
async fn next_logout_token(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    keys: &[josekit::jwk::Jwk],
) -> serde_json::Map<String, Value> {
    let token = tokio::time::timeout(std::time::Duration::from_secs(20), rx.recv())
        .await
        .expect("no back-channel logout request arrived")
        .unwrap();
    let (header, claims) = jose::verify(&token, keys).expect("the logout token verifies");
    assert!(header.get("kid").is_some());
    claims
}

fn jwt_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn url_encode(s: &str) -> String {
    reqwest::Url::parse_with_params("http://x/", &[("v", s)])
        .unwrap()
        .query()
        .unwrap()
        .trim_start_matches("v=")
        .to_string()
}

/// A stack with pairwise subject identifiers on (salt `pairwise-salt-1`).
async fn start_pairwise(backend: Backend) -> Env {
    start_with(backend, |c| {
        c.oauth2.oidc.subject_identifiers.supported_types =
            vec!["public".into(), "pairwise".into()];
        c.oauth2.oidc.subject_identifiers.pairwise.salt = Some("pairwise-salt-1".into());
    })
    .await
}

fn authorize_url(env: &Env, client: &Value, response_type: &str, extra: &[(&str, &str)]) -> String {
    let mut params = vec![
        ("client_id", client["client_id"].as_str().unwrap()),
        ("response_type", response_type),
        ("scope", "openid"),
        ("redirect_uri", "https://rp.example/cb"),
        ("state", "state-12345678"),
    ];
    params.extend_from_slice(extra);
    reqwest::Url::parse_with_params(&format!("{}/oauth2/auth", env.public), &params)
        .unwrap()
        .to_string()
}

fn fragment_params(url: &str) -> BTreeMap<String, String> {
    let u = reqwest::Url::parse(url).unwrap();
    assert!(
        u.query().is_none(),
        "implicit/hybrid answer in the fragment: {url}"
    );
    url::form_urlencoded::parse(u.fragment().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// The first redirect of `/oauth2/auth` (an error answered before any login): fosite's 303
/// when it goes back to the client, 302 to the login or error UI.
async fn first_redirect(env: &Env, url: &str) -> String {
    let r = env.http.get(url).send().await.unwrap();
    let to = r.headers()[LOCATION].to_str().unwrap().to_string();
    let expected = if to.starts_with("https://rp.example/") {
        303
    } else {
        302
    };
    assert_eq!(r.status(), expected, "{to}");
    to
}

/// An `/oauth2/auth` URL from raw parameters.
fn auth_url_with(env: &Env, params: &[(&str, &str)]) -> String {
    reqwest::Url::parse_with_params(&format!("{}/oauth2/auth", env.public), params)
        .unwrap()
        .to_string()
}

/// An unsigned (`alg: none`) JWT, as fosite accepts for request objects.
fn unsigned_jwt(claims: &Value) -> String {
    use base64::Engine;
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    format!("{}.{}.", b64(&json!({"alg": "none"})), b64(claims))
}

/// The hidden inputs of a `form_post` page, and the URL it posts to.
fn form_post_fields(page: &str) -> (String, BTreeMap<String, String>) {
    let attr = |tag: &str, name: &str| {
        let start = tag.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        let len = tag[start..].find('"').unwrap();
        tag[start..start + len]
            .replace("&amp;", "&")
            .replace("&#34;", "\"")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
    };
    let form = &page[page.find("<form").unwrap()..];
    let action = attr(&form[..form.find('>').unwrap()], "action");
    let fields = form
        .split("<input ")
        .skip(1)
        .map(|tag| (attr(tag, "name"), attr(tag, "value")))
        .collect();
    (action, fields)
}

/// The error of an `/oauth2/auth` request answered back at the client: (error, description).
async fn client_error(env: &Env, url: &str) -> (String, String) {
    let r = env.http.get(url).send().await.unwrap();
    let to = r.headers()[LOCATION].to_str().unwrap().to_string();
    assert_eq!(r.status(), 303, "{to}");
    let u = reqwest::Url::parse(&to).unwrap();
    let fragment = u.fragment().unwrap_or_default().to_string();
    let params: BTreeMap<String, String> = u
        .query_pairs()
        .chain(url::form_urlencoded::parse(fragment.as_bytes()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    (
        params.get("error").cloned().unwrap_or_default(),
        params.get("error_description").cloned().unwrap_or_default(),
    )
}

/// A token request by `client` (its secret by basic auth, or only its id when it has none) and
/// the error it gets: (error, description).
async fn token_error(env: &Env, client: &Value, form: &[(&str, &str)]) -> (String, String) {
    let id = client["client_id"].as_str().unwrap();
    let mut form = form.to_vec();
    let req = env.http.post(format!("{}/oauth2/token", env.public));
    let req = match client["client_secret"].as_str() {
        Some(secret) => req.basic_auth(id, Some(secret)),
        None => {
            form.push(("client_id", id));
            req
        }
    };
    let e: Value = req.form(&form).send().await.unwrap().json().await.unwrap();
    (
        e["error"].as_str().unwrap_or_default().to_string(),
        e["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

/// The code of a finished code flow (PKCE `challenge` when given).
async fn code_for(env: &Env, client: &Value, challenge: Option<&str>) -> String {
    let mut params = vec![
        ("client_id", client["client_id"].as_str().unwrap()),
        ("response_type", "code"),
        ("scope", "openid offline_access"),
        ("redirect_uri", "https://rp.example/cb"),
        ("state", "state-12345678"),
    ];
    if let Some(c) = challenge {
        params.extend([("code_challenge", c), ("code_challenge_method", "S256")]);
    }
    let start = auth_url_with(env, &params);
    let done = browse(env, &start, &mut BTreeMap::new(), json!({})).await;
    query_param(&done, "code").unwrap_or_else(|| panic!("{done}"))
}

/// `/oauth2/revoke` with basic auth and a form body (empty when `form` is): (status, body).
async fn revoke(env: &Env, id: &str, secret: &str, form: &[(&str, &str)]) -> (u16, String) {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let r = env
        .http
        .post(format!("{}/oauth2/revoke", env.public))
        .basic_auth(id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

/// Two instances on one database, as a deployment runs them (the first owns the PostgreSQL
/// database, the directory holds the SQLite file).
async fn start_two(backend: Backend) -> (Env, Env, tempfile::TempDir) {
    start_two_with(backend, |_| {}).await
}

/// Two stacks on one database, the second configured further by `configure`.
async fn start_two_with(
    backend: Backend,
    configure: impl FnOnce(&mut Config),
) -> (Env, Env, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let pg = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => common::pg_database().await,
    };
    let dsn = match &pg {
        Some(pg) => pg.dsn.clone(),
        None => {
            quartet::config::Dsn::Sqlite(dir.path().join("shared.sqlite").display().to_string())
        }
    };
    let shared = dsn.clone();
    let mut first = start_with(Backend::Sqlite, |c| c.dsn = shared).await;
    first.pg = pg;
    let second = start_with(Backend::Sqlite, |c| {
        c.dsn = dsn;
        configure(c);
    })
    .await;
    (first, second, dir)
}

async fn put_client(env: &Env, id: &str, body: &Value) -> u16 {
    let url = format!("{}/admin/clients/{id}", env.admin);
    env.http
        .put(url)
        .json(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn delete_client(env: &Env, id: &str) -> u16 {
    let url = format!("{}/admin/clients/{id}", env.admin);
    env.http.delete(url).send().await.unwrap().status().as_u16()
}

async fn cc_token(env: &Env, id: &str, secret: &str, scope: &str) -> (u16, Value) {
    let r = env
        .http
        .post(format!("{}/oauth2/token", env.public))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", scope)])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// A POST to `path` (public or admin base) with this content type and body, basic auth when
/// given: (status, JSON body).
async fn post_raw(
    env: &Env,
    url: String,
    content_type: Option<&str>,
    body: String,
    basic: Option<(&str, &str)>,
) -> (u16, Value) {
    let mut req = env.http.post(url).body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn multipart(boundary: &str, fields: &[(&str, &str)]) -> String {
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    body
}

async fn get_userinfo(env: &Env, token: Option<&str>) -> reqwest::Response {
    let mut req = env.http.get(format!("{}/userinfo", env.public));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

/// One call a token hook received: its path, headers and JSON body.
type HookCall = (String, reqwest::header::HeaderMap, Value);

/// A token hook server on an ephemeral port: records every call, and answers by the calling
/// client's id — `enrich-*` 200 with new claims, `keep-*` 204, `deny-*` 403, `broken-*` 400,
/// `flaky-*` a 500 first then 200, `deny-once-*` a 403 first then 204.
async fn token_hook_server() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<HookCall>,
    tokio::task::JoinHandle<()>,
) {
    use axum::http::StatusCode;
    use std::sync::{Arc, Mutex};
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<HookCall>();
    let seen: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let handler = move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: String| {
        let (tx, seen) = (tx.clone(), seen.clone());
        async move {
            let body: Value = serde_json::from_str(&body).unwrap();
            let path = uri.path().to_string();
            let client = body["request"]["client_id"]
                .as_str()
                .or(body["client_id"].as_str())
                .unwrap_or_default()
                .to_string();
            let calls = {
                let mut seen = seen.lock().unwrap();
                let n = seen.entry(format!("{path} {client}")).or_default();
                *n += 1;
                *n
            };
            let mut h = reqwest::header::HeaderMap::new();
            for (k, v) in &headers {
                h.insert(
                    k.as_str().parse::<reqwest::header::HeaderName>().unwrap(),
                    v.to_str().unwrap().parse().unwrap(),
                );
            }
            tx.send((path.clone(), h, body.clone())).unwrap();
            let claims = if path == "/refresh" {
                json!({"session": {"access_token": {"refreshed": true}, "id_token": {"refreshed_id": true}}})
            } else {
                json!({"session": {"access_token": {"tenant": "t1", "seen_extra": body["session"]["extra"]}, "id_token": {"email": "alice@example.com"}}})
            };
            let ok = (StatusCode::OK, claims.to_string());
            match client.split('-').next().unwrap_or_default() {
                "enrich" => ok,
                "keep" => (StatusCode::NO_CONTENT, String::new()),
                "deny" if client.starts_with("deny-once") && calls > 1 => {
                    (StatusCode::NO_CONTENT, String::new())
                }
                "deny" => (StatusCode::FORBIDDEN, "no".into()),
                "flaky" if calls == 1 => (StatusCode::INTERNAL_SERVER_ERROR, String::new()),
                "flaky" => ok,
                _ => (StatusCode::BAD_REQUEST, String::new()),
            }
        }
    };
    let app = axum::Router::new()
        .route("/token", axum::routing::post(handler.clone()))
        .route("/refresh", axum::routing::post(handler));
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, rx, server)
}

fn next_hook_call(rx: &mut tokio::sync::mpsc::UnboundedReceiver<HookCall>) -> HookCall {
    rx.try_recv().expect("the token hook was called")
}

/// The CORS headers of an answer that allows `origin` with credentials.
fn echoed(origin: &str) -> (Option<String>, Option<String>, bool) {
    (Some(origin.to_string()), Some("true".to_string()), true)
}

/// The CORS headers of an answer: (allow-origin, allow-credentials, vary names Origin).
fn cors_of(r: &reqwest::Response) -> (Option<String>, Option<String>, bool) {
    let h = r.headers();
    let text = |name: &str| h.get(name).map(|v| v.to_str().unwrap().to_string());
    let vary = h
        .get_all("vary")
        .iter()
        .any(|v| v.to_str().unwrap().to_ascii_lowercase().contains("origin"));
    (
        text("access-control-allow-origin"),
        text("access-control-allow-credentials"),
        vary,
    )
}

/// A Kratos admin API stand-in: every request's method, path and `authorization` header.
async fn kratos_admin_receiver() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<(String, String, String)>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(
        move |method: axum::http::Method, uri: axum::http::Uri, headers: axum::http::HeaderMap| {
            let tx = tx.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default();
                tx.send((method.to_string(), uri.path().to_string(), auth))
                    .unwrap();
                axum::http::StatusCode::NO_CONTENT
            }
        },
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, rx, server)
}

/// The browser's cookies after a code flow whose login named `kratos_session`.
async fn login_naming_kratos_session(
    env: &Env,
    start: &str,
    kratos_session: &str,
) -> BTreeMap<String, String> {
    let mut jar = BTreeMap::new();
    let login = json!({"identity_provider_session_id": kratos_session});
    browse_accepting(env, start, &mut jar, json!({}), login).await;
    jar
}

/// The login session id of a browser's cookies (sealed in the cookie; the login request of a
/// new authorization request in that browser names it).
async fn login_session_id(env: &Env, start: &str, jar: &BTreeMap<String, String>) -> String {
    let r = env
        .http
        .get(start)
        .header(COOKIE, cookie_header(jar))
        .send()
        .await
        .unwrap();
    let challenge = query_param(r.headers()[LOCATION].to_str().unwrap(), "login_challenge")
        .expect("a login challenge");
    let request: Value = env
        .http
        .get(format!(
            "{}/admin/oauth2/auth/requests/login?login_challenge={challenge}",
            env.admin
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(request["skip"], true, "the browser holds a login session");
    request["session_id"].as_str().unwrap().to_string()
}

/// Hydra's headless logout of login session `sid`; its status.
async fn headless_logout(env: &Env, sid: &str) -> u16 {
    let url = format!("{}/admin/oauth2/auth/sessions/login?sid={sid}", env.admin);
    env.http.delete(url).send().await.unwrap().status().as_u16()
}
