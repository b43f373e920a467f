//! URL schemes, HTML and outbound fetches of the oauth2 role: script URLs are refused in every
//! client URI field on every write path; the `form_post` and front-channel logout pages escape
//! what they show and carry a strict nonce-based CSP; with
//! `clients.http.disallow_private_ip_ranges` a client's fetched URLs may not point inside, and
//! every fetch of a client's URL has a body cap and a timeout.

use std::collections::BTreeMap;

use reqwest::header::{CONTENT_SECURITY_POLICY, COOKIE, LOCATION, SET_COOKIE};
use serde_json::{json, Value};

use super::harness::{client, Server};

const DCR: &str = "oauth2:\n  oidc:\n    dynamic_client_registration:\n      enabled: true\n";

const SCRIPT_URLS: [&str; 5] = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(document.domain)",
    "javascript://rp.example/%0aalert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
];

/// (field, the value carrying `bad`, Hydra's error code).
fn fields(bad: &str) -> Vec<(&'static str, Value, &'static str)> {
    vec![
        ("redirect_uris", json!([bad]), "invalid_redirect_uri"),
        (
            "post_logout_redirect_uris",
            json!([bad]),
            "invalid_client_metadata",
        ),
        (
            "frontchannel_logout_uri",
            json!(bad),
            "invalid_client_metadata",
        ),
        (
            "backchannel_logout_uri",
            json!(bad),
            "invalid_client_metadata",
        ),
    ]
}

async fn expect_refused(r: reqwest::Response, code: &str, what: &str) {
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 400, "{what}: {body}");
    assert_eq!(body["error"], code, "{what}: {body}");
}

#[tokio::test]
async fn script_urls_are_refused_in_every_uri_field_on_every_write_path() {
    let server = Server::dev_with(DCR);
    let http = client();
    let admin = server.url("oauth2", "admin");
    let public = server.url("oauth2", "public");
    let good = json!({"redirect_uris": ["https://rp.example/cb"], "scope": "openid"});
    let created: Value = http
        .post(format!("{admin}/admin/clients"))
        .json(&good)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["client_id"].as_str().unwrap().to_string();
    let registered: Value = http
        .post(format!("{public}/oauth2/register"))
        .json(&good)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dcr_id = registered["client_id"].as_str().unwrap().to_string();
    let dcr_token = registered["registration_access_token"]
        .as_str()
        .unwrap()
        .to_string();

    for bad in SCRIPT_URLS {
        for (field, value, code) in fields(bad) {
            let mut doc = good.clone();
            doc[field] = value.clone();
            let what = |path: &str| format!("{path} with {field} = {bad}");
            let r = http
                .post(format!("{admin}/admin/clients"))
                .json(&doc)
                .send()
                .await
                .unwrap();
            expect_refused(r, code, &what("admin create")).await;
            let r = http
                .put(format!("{admin}/admin/clients/{id}"))
                .json(&doc)
                .send()
                .await
                .unwrap();
            expect_refused(r, code, &what("admin PUT")).await;
            let r = http
                .patch(format!("{admin}/admin/clients/{id}"))
                .json(&json!([{"op": "add", "path": format!("/{field}"), "value": value}]))
                .send()
                .await
                .unwrap();
            expect_refused(r, code, &what("admin PATCH")).await;
            let r = http
                .post(format!("{public}/oauth2/register"))
                .json(&doc)
                .send()
                .await
                .unwrap();
            expect_refused(r, code, &what("dynamic registration")).await;
            let r = http
                .put(format!("{public}/oauth2/register/{dcr_id}"))
                .bearer_auth(&dcr_token)
                .json(&doc)
                .send()
                .await
                .unwrap();
            expect_refused(r, code, &what("dynamic registration update")).await;
        }
    }
    // nothing was stored: the client still has only its https redirect URI
    let stored: Value = http
        .get(format!("{admin}/admin/clients/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["redirect_uris"], json!(["https://rp.example/cb"]));
}

fn cookies_from(r: &reqwest::Response, jar: &mut BTreeMap<String, String>) {
    for v in r.headers().get_all(SET_COOKIE) {
        let text = v.to_str().unwrap();
        let pair = text.split(';').next().unwrap_or("");
        if let Some((k, val)) = pair.split_once('=') {
            if val.is_empty() || text.contains("Max-Age=-1") || text.contains("Max-Age=0") {
                jar.remove(k);
            } else {
                jar.insert(k.to_string(), val.to_string());
            }
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
    reqwest::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Plays browser and login/consent UI from `start` until a response that is not a redirect to
/// the login or consent UI: that response.
async fn browse(
    server: &Server,
    start: &str,
    jar: &mut BTreeMap<String, String>,
) -> reqwest::Response {
    let http = client();
    let admin = server.url("oauth2", "admin");
    let mut url = start.to_string();
    for _ in 0..10 {
        let r = http
            .get(&url)
            .header(COOKIE, cookie_header(jar))
            .send()
            .await
            .unwrap();
        cookies_from(&r, jar);
        let Some(next) = r.headers().get(LOCATION) else {
            return r;
        };
        let next = next.to_str().unwrap().to_string();
        if let Some(ch) = query_param(&next, "login_challenge") {
            let a: Value = http
                .put(format!(
                    "{admin}/admin/oauth2/auth/requests/login/accept?login_challenge={ch}"
                ))
                .json(&json!({"subject": "alice", "remember": true, "remember_for": 3600}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            url = a["redirect_to"].as_str().unwrap().to_string();
        } else if let Some(ch) = query_param(&next, "consent_challenge") {
            let a: Value = http
                .put(format!(
                    "{admin}/admin/oauth2/auth/requests/consent/accept?consent_challenge={ch}"
                ))
                .json(&json!({"grant_scope": ["openid"], "remember": true}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            url = a["redirect_to"].as_str().unwrap().to_string();
        } else {
            return r;
        }
    }
    panic!("the flow did not finish: {url}");
}

/// The CSP's nonce, after checking the policy's strict parts.
fn strict_csp(r: &reqwest::Response) -> (String, String) {
    let csp = r
        .headers()
        .get(CONTENT_SECURITY_POLICY)
        .unwrap_or_else(|| panic!("no Content-Security-Policy: {:?}", r.headers()))
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("base-uri 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    let start = csp.find("script-src 'nonce-").unwrap() + "script-src 'nonce-".len();
    let nonce = csp[start..start + csp[start..].find('\'').unwrap()].to_string();
    assert!(nonce.len() >= 16, "{csp}");
    (csp, nonce)
}

/// Every `<script` of `page` carries the response's nonce, and no script or handler came from
/// a value.
fn only_nonced_scripts(page: &str, nonce: &str) {
    let tag = format!("<script nonce=\"{nonce}\">");
    assert_eq!(
        page.matches("<script").count(),
        page.matches(&tag).count(),
        "{page}"
    );
    assert!(!page.contains("alert("), "{page}");
    assert!(!page.contains(" onload="), "{page}");
    assert!(!page.contains(" onerror="), "{page}");
}

#[tokio::test]
async fn the_form_post_page_escapes_the_redirect_uri_and_sends_a_strict_csp() {
    let server = Server::dev();
    let http = client();
    let admin = server.url("oauth2", "admin");
    let public = server.url("oauth2", "public");
    // a legitimate https redirect URI whose query holds markup characters
    let redirect = "https://rp.example/cb?x=\"><script>alert(1)</script>";
    let c: Value = http
        .post(format!("{admin}/admin/clients"))
        .json(&json!({"redirect_uris": [redirect], "scope": "openid"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(c["redirect_uris"], json!([redirect]), "{c}");
    let start = reqwest::Url::parse_with_params(
        &format!("{public}/oauth2/auth"),
        &[
            ("client_id", c["client_id"].as_str().unwrap()),
            ("response_type", "code"),
            ("scope", "openid"),
            ("redirect_uri", redirect),
            ("response_mode", "form_post"),
            ("state", "\"><img src=x onerror=alert(2)>"),
        ],
    )
    .unwrap();
    let mut jar = BTreeMap::new();
    let r = browse(&server, start.as_str(), &mut jar).await;
    assert_eq!(r.status(), 200);
    let (csp, nonce) = strict_csp(&r);
    assert!(csp.contains("form-action https://rp.example"), "{csp}");
    let page = r.text().await.unwrap();
    assert!(
        page.contains(
            "action=\"https://rp.example/cb?x=&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""
        ),
        "{page}"
    );
    assert!(page.contains("value=\"&quot;&gt;&lt;img src=x onerror=alert(2)&gt;\""));
    let scrubbed = page
        .replace("alert(1)&lt;", "")
        .replace("onerror=alert(2)&gt;", "");
    only_nonced_scripts(&scrubbed, &nonce);
}

#[tokio::test]
async fn the_frontchannel_logout_page_escapes_its_frames_and_sends_a_strict_csp() {
    let server = Server::dev();
    let http = client();
    let admin = server.url("oauth2", "admin");
    let public = server.url("oauth2", "public");
    let c: Value = http
        .post(format!("{admin}/admin/clients"))
        .json(&json!({
            "redirect_uris": ["https://rp.example/cb"], "scope": "openid",
            "frontchannel_logout_uri": "https://rp.example/fc?a=1&b=\"><script>alert(1)</script>",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let start = reqwest::Url::parse_with_params(
        &format!("{public}/oauth2/auth"),
        &[
            ("client_id", c["client_id"].as_str().unwrap()),
            ("response_type", "code"),
            ("scope", "openid"),
            ("redirect_uri", "https://rp.example/cb"),
            ("state", "state-12345"),
        ],
    )
    .unwrap();
    let mut jar = BTreeMap::new();
    let r = browse(&server, start.as_str(), &mut jar).await;
    assert_eq!(r.status(), 303);
    // OP-initiated logout of this browser's session, accepted by the logout UI
    let r = http
        .get(format!("{public}/oauth2/sessions/logout"))
        .header(COOKIE, cookie_header(&jar))
        .send()
        .await
        .unwrap();
    let ui = r.headers()[LOCATION].to_str().unwrap().to_string();
    let challenge = query_param(&ui, "logout_challenge").unwrap_or_else(|| panic!("{ui}"));
    let accepted: Value = http
        .put(format!(
            "{admin}/admin/oauth2/auth/requests/logout/accept?logout_challenge={challenge}"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = http
        .get(accepted["redirect_to"].as_str().unwrap())
        .header(COOKIE, cookie_header(&jar))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (csp, nonce) = strict_csp(&r);
    assert!(csp.contains("frame-src https://rp.example"), "{csp}");
    let page = r.text().await.unwrap();
    assert!(
        page.contains("<iframe src=\"https://rp.example/fc?a=1&amp;b="),
        "{page}"
    );
    assert_eq!(page.matches("<iframe").count(), 1, "{page}");
    // the URL's markup characters arrive percent-encoded, never as markup
    assert!(page.contains("%3Cscript%3Ealert%281%29"), "{page}");
    only_nonced_scripts(&page, &nonce);
}

/// A local server: `/ro.jwt` answers an unsigned request object, `/big` 2 MiB, `/slow` never,
/// `/hop` redirects to `/ro.jwt` by the name `localhost`.
async fn fetch_target() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hop_target = format!(
        "http://localhost:{}/ro.jwt",
        listener.local_addr().unwrap().port()
    );
    let app = axum::Router::new()
        .route(
            "/hop",
            axum::routing::get(move || async move {
                (
                    axum::http::StatusCode::FOUND,
                    [(axum::http::header::LOCATION, hop_target)],
                )
            }),
        )
        .route(
            "/ro.jwt",
            axum::routing::get(|| async {
                use base64::Engine;
                let b64 = |v: Value| {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .encode(serde_json::to_vec(&v).unwrap())
                };
                format!(
                    "{}.{}.",
                    b64(json!({"alg": "none"})),
                    b64(json!({"state": "state-from-object"}))
                )
            }),
        )
        .route("/big", axum::routing::get(|| async { "x".repeat(2 << 20) }))
        .route(
            "/slow",
            axum::routing::get(|| async {
                std::future::pending::<()>().await;
                ""
            }),
        );
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, task)
}

/// A client document with a redirect URI, `openid`, a public key (fosite reads request objects
/// only for clients with keys) and `request_uris`.
fn with_request_uris(uris: &[&str]) -> Value {
    use quartet::oauth2::jose;
    let key = jose::generate("ES256", "k1", "sig", 2048).unwrap();
    json!({
        "redirect_uris": ["https://rp.example/cb"], "scope": "openid", "request_uris": uris,
        "jwks": {"keys": [jose::to_value(&jose::public(&key).unwrap())]},
    })
}

async fn create(server: &Server, doc: Value) -> (u16, Value) {
    let r = client()
        .post(format!("{}/admin/clients", server.url("oauth2", "admin")))
        .json(&doc)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The first redirect of an authorization request by reference to `request_uri`.
async fn authorize_by_reference(server: &Server, client_id: &str, request_uri: &str) -> String {
    let url = reqwest::Url::parse_with_params(
        &format!("{}/oauth2/auth", server.url("oauth2", "public")),
        &[
            ("client_id", client_id),
            ("response_type", "code"),
            ("scope", "openid"),
            ("redirect_uri", "https://rp.example/cb"),
            ("state", "state-12345"),
            ("request_uri", request_uri),
        ],
    )
    .unwrap();
    let r = client().get(url).send().await.unwrap();
    r.headers()[LOCATION].to_str().unwrap().to_string()
}

#[tokio::test]
async fn client_urls_inside_the_network_are_refused_when_private_ranges_are_disallowed() {
    let (base, task) = fetch_target().await;
    let allowed = format!("{base}/ro.jwt");
    let hop = format!("{base}/hop");
    let server = Server::dev_with(&format!(
        "oauth2:\n  clients:\n    http:\n      disallow_private_ip_ranges: true\n      private_ip_exception_urls:\n        - {allowed}\n        - {hop}\n"
    ));
    let port = base.rsplit(':').next().unwrap();
    for (field, value) in [
        ("jwks_uri", json!(format!("{base}/jwks.json"))),
        ("request_uris", json!([format!("{base}/other.jwt")])),
        (
            "backchannel_logout_uri",
            json!(format!("http://localhost:{port}/bc")),
        ),
        ("jwks_uri", json!("http://[::ffff:127.0.0.1]/jwks.json")),
        (
            "jwks_uri",
            json!("http://169.254.169.254/latest/meta-data/"),
        ),
    ] {
        let mut doc = json!({"redirect_uris": ["https://rp.example/cb"], "scope": "openid"});
        doc[field] = value.clone();
        let (status, body) = create(&server, doc).await;
        assert_eq!(status, 400, "{field} = {value}: {body}");
        assert_eq!(body["error"], "invalid_client_metadata", "{body}");
        let why = body["error_description"].as_str().unwrap();
        assert!(why.contains(field), "{why}");
        assert!(why.contains("disallow_private_ip_ranges"), "{why}");
    }
    // the listed exception is accepted and fetched
    let (status, c) = create(&server, with_request_uris(&[&allowed])).await;
    assert_eq!(status, 201, "{c}");
    let to = authorize_by_reference(&server, c["client_id"].as_str().unwrap(), &allowed).await;
    assert!(query_param(&to, "login_challenge").is_some(), "{to}");
    // an exempt URL that redirects inside: the redirect target is checked on its own
    let (status, c) = create(&server, with_request_uris(&[&hop])).await;
    assert_eq!(status, 201, "{c}");
    let to = authorize_by_reference(&server, c["client_id"].as_str().unwrap(), &hop).await;
    assert_eq!(
        query_param(&to, "error").as_deref(),
        Some("invalid_request_uri"),
        "{to}"
    );
    let why = query_param(&to, "error_description").unwrap();
    assert!(why.contains("disallow_private_ip_ranges"), "{why}");
    task.abort();
}

#[tokio::test]
async fn fetched_client_urls_have_a_body_cap_and_a_timeout() {
    let (base, task) = fetch_target().await;
    let server = Server::dev();
    let (big, slow) = (format!("{base}/big"), format!("{base}/slow"));
    let (status, c) = create(&server, with_request_uris(&[&big, &slow])).await;
    assert_eq!(status, 201, "{c}");
    let id = c["client_id"].as_str().unwrap();
    let to = authorize_by_reference(&server, id, &big).await;
    assert_eq!(
        query_param(&to, "error").as_deref(),
        Some("invalid_request_uri"),
        "{to}"
    );
    let why = query_param(&to, "error_description").unwrap();
    assert!(why.contains("larger than 1048576 bytes"), "{why}");
    let started = std::time::Instant::now();
    let to = authorize_by_reference(&server, id, &slow).await;
    assert_eq!(
        query_param(&to, "error").as_deref(),
        Some("invalid_request_uri"),
        "{to}"
    );
    let why = query_param(&to, "error_description").unwrap();
    assert!(why.contains("did not answer within"), "{why}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));

    // a client's JWK set is read up to the cap as well (it was read whole before)
    let (status, c) = create(
        &server,
        json!({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": big, "grant_types": ["client_credentials"]}),
    )
    .await;
    assert_eq!(status, 201, "{c}");
    use base64::Engine;
    let b64 = |v: Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap())
    };
    let assertion = format!(
        "{}.{}.c2ln",
        b64(json!({"alg": "ES256", "kid": "k1"})),
        b64(json!({"iss": c["client_id"], "sub": c["client_id"]}))
    );
    let r = client()
        .post(format!("{}/oauth2/token", server.url("oauth2", "public")))
        .form(&[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client", "{body}");
    let why = body["error_description"].as_str().unwrap();
    assert!(why.contains("larger than 1048576 bytes"), "{why}");
    task.abort();
}
