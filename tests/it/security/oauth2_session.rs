//! The OAuth2 login-session cookie and RP-initiated logout, attacked from a browser that is not
//! the victim's: a session cookie made from values a relying party or token holder sees (the ID
//! token's `sid`, the login request's `session_id`) or sealed under another secret is no login
//! session; the victim's own cookie still is, on every instance that shares the secrets; and a
//! logout carrying the victim's `id_token_hint` ends the victim's session only in a browser that
//! holds that session's cookie.

use std::collections::BTreeMap;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{json, Value};

use super::harness::{client, Options, Server};

/// `--dev` suffixes Hydra's cookie names.
const SESSION_COOKIE: &str = "ory_hydra_session_dev";

type Jar = BTreeMap<String, String>;

/// One oauth2 instance as a test sees it.
struct Op {
    public: String,
    admin: String,
    http: reqwest::Client,
    _server: Server,
}

impl Op {
    fn start(config: &str) -> Op {
        let server = Server::start(Options {
            dev: true,
            config: config.to_string(),
            roles: vec!["oauth2".into()],
            ..Options::default()
        });
        Op {
            public: server.url("oauth2", "public"),
            admin: server.url("oauth2", "admin"),
            http: client(),
            _server: server,
        }
    }

    async fn create_client(&self) -> Value {
        let r = self
            .http
            .post(format!("{}/admin/clients", self.admin))
            .json(&json!({
                "redirect_uris": ["https://rp.example/cb"],
                "post_logout_redirect_uris": ["https://rp.example/bye"],
                "scope": "openid",
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        r.json().await.unwrap()
    }

    fn authorize_url(&self, client: &Value) -> String {
        reqwest::Url::parse_with_params(
            &format!("{}/oauth2/auth", self.public),
            &[
                ("client_id", client["client_id"].as_str().unwrap()),
                ("response_type", "code"),
                ("scope", "openid"),
                ("redirect_uri", "https://rp.example/cb"),
                ("state", "state-12345678"),
                ("nonce", "nonce-12345678"),
            ],
        )
        .unwrap()
        .to_string()
    }

    async fn get(&self, url: &str, jar: &mut Jar) -> reqwest::Response {
        let r = self
            .http
            .get(url)
            .header(COOKIE, cookie_header(jar))
            .send()
            .await
            .unwrap();
        cookies_from(&r, jar);
        r
    }

    async fn admin_json(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.admin));
        if !body.is_null() {
            request = request.json(&body);
        }
        let r = request.send().await.unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// Starts an authorization request at `client` in the browser `jar` and returns the login
    /// request the login UI would read.
    async fn login_request(&self, client: &Value, jar: &mut Jar) -> (String, Value) {
        let r = self.get(&self.authorize_url(client), jar).await;
        assert_eq!(r.status(), 302);
        let to = r.headers()[LOCATION].to_str().unwrap().to_string();
        let challenge = query_param(&to, "login_challenge").unwrap_or_else(|| panic!("{to}"));
        let path = format!("/admin/oauth2/auth/requests/login?login_challenge={challenge}");
        let request = self
            .admin_json(reqwest::Method::GET, &path, json!(null))
            .await;
        (challenge, request)
    }

    /// A full login (remembered) and consent as `subject` at `client` in the browser `jar`;
    /// returns the ID token.
    async fn log_in(&self, client: &Value, jar: &mut Jar, subject: &str) -> String {
        let (challenge, _) = self.login_request(client, jar).await;
        let accepted = self
            .admin_json(
                reqwest::Method::PUT,
                &format!("/admin/oauth2/auth/requests/login/accept?login_challenge={challenge}"),
                json!({"subject": subject, "remember": true, "remember_for": 3600}),
            )
            .await;
        let r = self
            .get(accepted["redirect_to"].as_str().unwrap(), jar)
            .await;
        assert_eq!(r.status(), 302);
        let to = r.headers()[LOCATION].to_str().unwrap().to_string();
        let challenge = query_param(&to, "consent_challenge").unwrap_or_else(|| panic!("{to}"));
        let accepted = self
            .admin_json(
                reqwest::Method::PUT,
                &format!(
                    "/admin/oauth2/auth/requests/consent/accept?consent_challenge={challenge}"
                ),
                json!({"grant_scope": ["openid"]}),
            )
            .await;
        let r = self
            .get(accepted["redirect_to"].as_str().unwrap(), jar)
            .await;
        let to = r.headers()[LOCATION].to_str().unwrap().to_string();
        let code = query_param(&to, "code").unwrap_or_else(|| panic!("{to}"));
        let r = self
            .http
            .post(format!("{}/oauth2/token", self.public))
            .basic_auth(
                client["client_id"].as_str().unwrap(),
                client["client_secret"].as_str(),
            )
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", "https://rp.example/cb"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let tokens: Value = r.json().await.unwrap();
        tokens["id_token"].as_str().unwrap().to_string()
    }

    /// Whether the browser `jar` is logged in as `subject` at `client`: the login request
    /// skips with that subject.
    async fn skips_as(&self, client: &Value, jar: &Jar, subject: &str) -> bool {
        let mut jar = jar.clone();
        let (_, request) = self.login_request(client, &mut jar).await;
        request["skip"] == json!(true) && request["subject"] == json!(subject)
    }

    /// An RP-initiated logout with `hint` in the browser `jar`, confirmed by the logout UI
    /// (accepted through the admin API) and completed in the same browser.
    async fn logout_with_hint(&self, hint: &str, jar: &mut Jar) {
        let start = reqwest::Url::parse_with_params(
            &format!("{}/oauth2/sessions/logout", self.public),
            &[("id_token_hint", hint)],
        )
        .unwrap();
        let r = self.get(start.as_str(), jar).await;
        assert_eq!(r.status(), 302);
        let to = r.headers()[LOCATION].to_str().unwrap().to_string();
        let Some(challenge) = query_param(&to, "logout_challenge") else {
            return; // nothing to log out
        };
        let accepted = self
            .admin_json(
                reqwest::Method::PUT,
                &format!("/admin/oauth2/auth/requests/logout/accept?logout_challenge={challenge}"),
                json!(null),
            )
            .await;
        let r = self
            .get(accepted["redirect_to"].as_str().unwrap(), jar)
            .await;
        assert!(r.status().is_redirection(), "{}", r.status());
    }
}

fn cookies_from(r: &reqwest::Response, jar: &mut Jar) {
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

fn cookie_header(jar: &Jar) -> String {
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

fn jwt_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn only_session(value: &str) -> Jar {
    Jar::from([(SESSION_COOKIE.to_string(), value.to_string())])
}

/// Values a relying party or anyone holding the victim's ID token sees — the `sid` claim, the
/// login request's `session_id`, the consent request's `login_session_id` — set as the session
/// cookie in a fresh browser give no login session at another client; the victim's own
/// cookie still does.
#[tokio::test]
async fn client_visible_session_ids_are_not_session_cookies() {
    let op = Op::start("");
    let rp = op.create_client().await;
    let other = op.create_client().await;
    let mut victim = Jar::new();
    let id_token = op.log_in(&rp, &mut victim, "victim").await;
    let sid = jwt_claims(&id_token)["sid"].as_str().unwrap().to_string();
    assert!(!sid.is_empty());
    assert!(victim.contains_key(SESSION_COOKIE), "{victim:?}");

    // the login request a relying party's login UI reads names the session too
    let (_, request) = op.login_request(&other, &mut victim.clone()).await;
    let session_id = request["session_id"].as_str().unwrap().to_string();

    for forged in [
        sid.clone(),
        session_id,
        format!("{sid}; {SESSION_COOKIE}={sid}"),
        String::new(),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
    ] {
        let attacker = only_session(&forged);
        assert!(
            !op.skips_as(&other, &attacker, "victim").await,
            "a session cookie of {forged:?} logged the attacker in as the victim"
        );
    }
    // the victim's cookie value planted after a forged one (cookie tossing) is still the
    // victim's, and the forged one does not shadow it
    assert!(op.skips_as(&other, &victim, "victim").await);
    let mut tossed = victim.clone();
    tossed.insert(format!("a; {SESSION_COOKIE}"), sid.clone()); // sent before the real one
    assert!(op.skips_as(&other, &tossed, "victim").await);
}

/// Instances on one database with the same secrets accept each other's session cookies; one
/// whose cookie secret differs does not; one that rotated (new secret first, old one kept)
/// still does.
#[tokio::test]
async fn session_cookies_are_sealed_with_the_cookie_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let dsn = format!("sqlite://{}", dir.path().join("shared.sqlite").display());
    let config = |cookie: &[&str]| {
        let list: Vec<String> = cookie.iter().map(|c| format!("\"{c}\"")).collect();
        format!(
            "dsn: {dsn}\noauth2:\n  secrets:\n    system: [\"a-system-secret-shared-by-all-of-them\"]\n    cookie: [{}]\n",
            list.join(", ")
        )
    };
    let first = Op::start(&config(&["cookie-secret-number-one-0123456789"]));
    let rp = first.create_client().await;
    let mut victim = Jar::new();
    first.log_in(&rp, &mut victim, "victim").await;
    assert!(first.skips_as(&rp, &victim, "victim").await);

    let same = Op::start(&config(&["cookie-secret-number-one-0123456789"]));
    assert!(
        same.skips_as(&rp, &victim, "victim").await,
        "an instance with the same secrets accepts the cookie"
    );
    let foreign = Op::start(&config(&["cookie-secret-number-two-0123456789"]));
    assert!(
        !foreign.skips_as(&rp, &victim, "victim").await,
        "a cookie sealed under another secret is no session"
    );
    let rotated = Op::start(&config(&[
        "cookie-secret-number-two-0123456789",
        "cookie-secret-number-one-0123456789",
    ]));
    assert!(
        rotated.skips_as(&rp, &victim, "victim").await,
        "an old secret kept second still opens the cookie"
    );
    // a cookie the rotated instance sets opens where its first secret is known only
    let mut fresh = Jar::new();
    rotated.log_in(&rp, &mut fresh, "someone").await;
    assert!(foreign.skips_as(&rp, &fresh, "someone").await);
    assert!(!first.skips_as(&rp, &fresh, "someone").await);
}

/// Under `--dev` without configured secrets, instances on one database seal with the secret
/// generated once for it, so each accepts the other's session cookie.
#[tokio::test]
async fn dev_instances_on_one_database_share_their_cookie_secret() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "dsn: sqlite://{}\n",
        dir.path().join("shared.sqlite").display()
    );
    let first = Op::start(&config);
    let second = Op::start(&config);
    let rp = first.create_client().await;
    let mut victim = Jar::new();
    first.log_in(&rp, &mut victim, "victim").await;
    assert!(second.skips_as(&rp, &victim, "victim").await);
    let mut other = Jar::new();
    second.log_in(&rp, &mut other, "someone").await;
    assert!(first.skips_as(&rp, &other, "someone").await);
}

/// An RP-initiated logout with the victim's `id_token_hint`, confirmed in the logout UI by a
/// browser that does not hold the victim's session (no cookie, or the attacker's own), ends
/// nothing; the victim's own browser ends it.
#[tokio::test]
async fn a_logout_hint_ends_only_the_browsers_own_session() {
    let op = Op::start("");
    let rp = op.create_client().await;
    let other = op.create_client().await;
    let mut victim = Jar::new();
    let hint = op.log_in(&rp, &mut victim, "victim").await;

    op.logout_with_hint(&hint, &mut Jar::new()).await;
    assert!(
        op.skips_as(&other, &victim, "victim").await,
        "a browser without the victim's cookie ended the victim's session"
    );

    let mut attacker = Jar::new();
    op.log_in(&rp, &mut attacker, "mallory").await;
    op.logout_with_hint(&hint, &mut attacker).await;
    assert!(
        op.skips_as(&other, &victim, "victim").await,
        "the attacker's own session cookie ended the victim's session"
    );

    let cookie_before = victim.clone();
    op.logout_with_hint(&hint, &mut victim).await;
    assert!(
        !victim.contains_key(SESSION_COOKIE),
        "the victim's cookie is cleared"
    );
    assert!(
        !op.skips_as(&other, &cookie_before, "victim").await,
        "the victim's own logout ends the session (its old cookie no longer skips)"
    );
}
