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

on_every_backend!(
    clients_crud_pagination_and_hydra_errors,
    client_credentials_introspection_revocation_and_bad_secrets,
    openidconnect_relying_party_runs_the_code_flow_with_pkce_refresh_and_replay,
    authorize_errors_never_redirect_to_unregistered_uris_and_plain_pkce_is_refused,
    keys_rotate_and_every_active_key_is_published,
    jwt_bearer_grant_with_trusted_issuers,
    private_key_jwt_with_jwks_uri,
    front_and_back_channel_logout,
    pairwise_subject_identifiers,
    implicit_and_hybrid_response_types,
    dynamic_registration_is_off_unless_enabled,
    verifiable_credentials_are_refused_with_oauth2_errors,
    remember_for_at_the_integer_limit_saturates,
    response_modes_and_the_audience_are_checked_up_front,
    request_objects_by_value_and_by_reference,
    authorize_checks_run_in_fosites_order_with_its_hints,
    code_and_refresh_grants_answer_with_fosites_hints,
    client_changes_on_another_instance_take_effect_at_once,
    token_revoke_and_introspect_read_bodies_as_fosite,
    userinfo_answers_as_hydra,
    token_hooks_shape_claims_as_hydras,
    clients_allow_their_cors_origins_as_hydra,
    client_secrets_hash_with_the_configured_algorithm,
    id_token_hints_name_the_session_subject,
    logouts_disable_the_identity_providers_session,
);

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

async fn clients_crud_pagination_and_hydra_errors(backend: Backend) {
    let env = start(backend).await;
    let c = env
        .create_client(json!({"client_name": "one", "grant_types": ["client_credentials"]}))
        .await;
    let id = c["client_id"].as_str().unwrap();
    assert_eq!(c["client_secret"].as_str().unwrap().len(), 26);
    assert_eq!(c["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(c["scope"], "offline_access offline openid");
    assert_eq!(c["redirect_uris"], json!([]));
    assert_eq!(c["skip_logout_consent"], json!(false));

    let got: Value = env
        .http
        .get(format!("{}/admin/clients/{id}", env.admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        got.get("client_secret").is_none(),
        "the secret is shown only on create"
    );

    for i in 0..3 {
        env.create_client(json!({"client_name": format!("n{i}"), "owner": "o"}))
            .await;
    }
    let r = env
        .http
        .get(format!("{}/admin/clients?page_size=2", env.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-total-count"], "4");
    let link = r.headers()["link"].to_str().unwrap().to_string();
    assert!(
        link.contains("rel=\"next\"") && link.contains("rel=\"first\""),
        "{link}"
    );
    assert_eq!(r.json::<Vec<Value>>().await.unwrap().len(), 2);
    // A page_token's offset is the client's number: at i64::MAX, an empty page (the next
    // link's offset overflowed: a 500 in debug builds).
    let far = quartet::oauth2::admin::page_token(i64::MAX);
    for path in [
        "/admin/clients",
        "/admin/oauth2/auth/sessions/consent?subject=alice&",
    ] {
        let sep = if path.ends_with('&') { "" } else { "?" };
        let r = env
            .http
            .get(format!("{}{path}{sep}page_token={far}", env.admin))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(!r.headers()["link"]
            .to_str()
            .unwrap()
            .contains("rel=\"next\""));
        assert_eq!(r.json::<Vec<Value>>().await.unwrap(), Vec::<Value>::new());
    }
    let owned: Vec<Value> = env
        .http
        .get(format!("{}/admin/clients?owner=o", env.admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(owned.len(), 3);

    let patched: Value = env
        .http
        .patch(format!("{}/admin/clients/{id}", env.admin))
        .json(&json!([{"op": "replace", "path": "/client_name", "value": "patched"}]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(patched["client_name"], "patched");

    let r = env
        .http
        .post(format!("{}/admin/clients", env.admin))
        .json(&json!({"redirect_uris": ["not a url"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "invalid_redirect_uri"
    );
    let r = env
        .http
        .post(format!("{}/admin/clients", env.admin))
        .json(&json!({"client_id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);

    assert_eq!(
        env.http
            .delete(format!("{}/admin/clients/{id}", env.admin))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let r = env
        .http
        .get(format!("{}/admin/clients/{id}", env.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "Unable to locate the resource", "error_description": ""})
    );
    // unprefixed admin paths answer 307 to /admin<path>
    let r = env
        .http
        .get(format!("{}/clients", env.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    env.finish().await;
}

async fn client_credentials_introspection_revocation_and_bad_secrets(backend: Backend) {
    let env = start(backend).await;
    let c = env.create_client(json!({"grant_types": ["client_credentials"], "scope": "read write.*", "audience": ["https://api.example.com/v1"]})).await;
    let (id, secret) = (
        c["client_id"].as_str().unwrap(),
        c["client_secret"].as_str().unwrap(),
    );
    let token_url = format!("{}/oauth2/token", env.public);
    let r = env
        .http
        .post(&token_url)
        .basic_auth(id, Some(secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "read write.x"),
            ("audience", "https://api.example.com/v1/users"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["token_type"], "bearer");
    assert_eq!(t["scope"], "read write.x");
    let at = t["access_token"].as_str().unwrap();
    assert!(at.starts_with("ory_at_"));
    let i = env.introspect(at).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["sub"], id);
    assert_eq!(i["token_use"], "access_token");
    assert_eq!(i["aud"], json!(["https://api.example.com/v1/users"]));

    // client_secret_post is refused for a basic client, with a hint naming the method
    let r = env
        .http
        .post(&token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.json::<Value>().await.unwrap()["error_description"]
        .as_str()
        .unwrap()
        .contains("client_secret_basic"));
    // wrong secret and unknown client answer identically
    let wrong = env
        .http
        .post(&token_url)
        .basic_auth(id, Some("nope-nope"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let unknown = env
        .http
        .post(&token_url)
        .basic_auth("ghost", Some("nope-nope"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(
        wrong.json::<Value>().await.unwrap(),
        unknown.json::<Value>().await.unwrap()
    );
    // scope not allowed, unknown grant, duplicate parameter
    let r = env
        .http
        .post(&token_url)
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_scope");
    let r = env
        .http
        .post(&token_url)
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    // fosite: no handler takes an unknown grant type, a bare invalid_request (Hydra 2.2 has no
    // password grant), decided before the client's credentials count
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "invalid_request");
    assert_eq!(e["error_description"], "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.");
    let r = env
        .http
        .post(&token_url)
        .basic_auth(id, Some("wrong"))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    // an empty body is fosite's own invalid_request
    let r = env
        .http
        .post(&token_url)
        .basic_auth(id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .ends_with("The POST body can not be empty."),
        "{e}"
    );
    // fosite's client_credentials handler: scope, audience, a public client, the grant type
    let no_grant = env
        .create_client(
            json!({"grant_types": ["authorization_code"], "scope": "read",
            "audience": ["https://api.example/"]}),
        )
        .await;
    let cc = "client_credentials";
    let (e, _) = token_error(&env, &no_grant, &[("grant_type", cc), ("scope", "admin")]).await;
    assert_eq!(e, "invalid_scope");
    let other = ("audience", "https://other.example/");
    let (e, d) = token_error(&env, &no_grant, &[("grant_type", cc), other]).await;
    assert_eq!(e, "invalid_request");
    assert!(d.ends_with("Requested audience 'https://other.example/' has not been whitelisted by the OAuth 2.0 Client."), "{d}");
    let (e, d) = token_error(&env, &no_grant, &[("grant_type", cc), ("scope", "read")]).await;
    assert_eq!(e, "unauthorized_client");
    assert!(
        d.ends_with(
            "The OAuth 2.0 Client is not allowed to use authorization grant 'client_credentials'."
        ),
        "{d}"
    );
    let public = env
        .create_client(json!({"grant_types": [cc], "token_endpoint_auth_method": "none"}))
        .await;
    let (e, d) = token_error(&env, &public, &[("grant_type", cc)]).await;
    assert_eq!(e, "invalid_grant", "{d}");
    assert!(d.ends_with("The OAuth 2.0 Client is marked as public and is thus not allowed to use authorization grant 'client_credentials'."), "{d}");
    // No grant_type at all: fosite's invalid_request naming the parameter.
    let r = env
        .http
        .post(&token_url)
        .basic_auth(id, Some(secret))
        .form(&[("scope", "read")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "invalid_request");
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .contains("'grant_type' is missing"),
        "{e}"
    );
    let r = env
        .http
        .post(&token_url)
        .basic_auth(id, Some(secret))
        .body("grant_type=client_credentials&scope=read&scope=read")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");

    let r = env
        .http
        .post(format!("{}/oauth2/revoke", env.public))
        .basic_auth(id, Some(secret))
        .form(&[("token", at)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(env.introspect(at).await, json!({"active": false}));
    assert_eq!(
        env.introspect("ory_at_garbage.x").await,
        json!({"active": false})
    );
    // revocation surfaces only invalid_request (an empty body) and invalid_client, without
    // hints; a missing or unknown token is a 200
    let (status, body) = revoke(&env, id, secret, &[]).await;
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"error": "invalid_request", "error_description": "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed."})
    );
    let (status, body) = revoke(&env, id, "wrong", &[("token", "ory_at_garbage.x")]).await;
    assert_eq!(status, 401);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"error": "invalid_client", "error_description": "Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method)."})
    );
    assert_eq!(
        revoke(&env, id, secret, &[("token_type_hint", "access_token")])
            .await
            .0,
        200
    );
    assert_eq!(
        revoke(&env, id, secret, &[("token", "ory_at_garbage.x")])
            .await
            .0,
        200
    );
    // introspection: an empty body is an error, a body without a token is inactive
    let introspect_raw = |body: &'static str| {
        env.http
            .post(format!("{}/admin/oauth2/introspect", env.admin))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let r = introspect_raw("").await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    let r = introspect_raw("scope=read").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"active": false}));
    env.finish().await;
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

async fn openidconnect_relying_party_runs_the_code_flow_with_pkce_refresh_and_replay(
    backend: Backend,
) {
    let env = start(backend).await;
    let c = env
        .create_client(json!({
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
            "redirect_uris": ["https://rp.example/cb"], "scope": "openid offline_access profile",
            "token_endpoint_auth_method": "client_secret_post",
        }))
        .await;
    let rp_http = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let issuer = IssuerUrl::new(format!("{}/", env.public)).unwrap();
    let meta = CoreProviderMetadata::discover_async(issuer, &rp_http)
        .await
        .unwrap();
    let client = CoreClient::from_provider_metadata(
        meta,
        ClientId::new(c["client_id"].as_str().unwrap().into()),
        Some(ClientSecret::new(
            c["client_secret"].as_str().unwrap().into(),
        )),
    )
    .set_redirect_uri(RedirectUrl::new("https://rp.example/cb".into()).unwrap())
    .set_auth_type(openidconnect::AuthType::RequestBody);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let mut jar = BTreeMap::new();
    let done = browse(
        &env,
        auth_url.as_str(),
        &mut jar,
        json!({"id_token": {"email": "alice@example.com"}, "access_token": {"roles": ["admin"]}}),
    )
    .await;
    assert_eq!(
        query_param(&done, "state").as_deref(),
        Some(csrf.secret().as_str())
    );
    let code = query_param(&done, "code").unwrap();
    assert!(code.starts_with("ory_ac_"));

    let tokens = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&rp_http)
        .await
        .unwrap();
    let id_token = tokens.id_token().unwrap();
    let claims = id_token
        .claims(&client.id_token_verifier(), &nonce)
        .unwrap();
    assert_eq!(claims.subject().as_str(), "alice");
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        Some("alice@example.com")
    );
    assert!(claims.access_token_hash().is_some());
    let at = tokens.access_token().secret().clone();
    let ext = env.introspect(&at).await;
    assert_eq!(ext["ext"], json!({"roles": ["admin"]}));
    let userinfo: Value = env
        .http
        .get(format!("{}/userinfo", env.public))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["sub"], "alice");
    assert_eq!(userinfo["email"], "alice@example.com");

    // replaying the code fails and revokes what it issued
    let replay = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .request_async(&rp_http)
        .await;
    assert!(replay.is_err());
    assert_eq!(env.introspect(&at).await["active"], false);

    // a second flow skips login (remembered) and consent (remembered) and refreshes
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _, _) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let done = browse(&env, auth_url.as_str(), &mut jar, json!({})).await;
    let code = query_param(&done, "code").unwrap();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&rp_http)
        .await
        .unwrap();
    let rt = tokens.refresh_token().unwrap().secret().clone();
    assert!(rt.starts_with("ory_rt_"));
    let refreshed = client
        .exchange_refresh_token(&RefreshToken::new(rt.clone()))
        .unwrap()
        .request_async(&rp_http)
        .await
        .unwrap();
    let new_at = refreshed.access_token().secret().clone();
    assert_eq!(env.introspect(&new_at).await["active"], true);
    assert_eq!(
        env.introspect(tokens.access_token().secret()).await["active"],
        false,
        "rotation deletes the old access token"
    );
    // replaying the used refresh token revokes the whole grant
    let r = env
        .http
        .post(format!("{}/oauth2/token", env.public))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
            ("client_id", c["client_id"].as_str().unwrap()),
            ("client_secret", c["client_secret"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "token_inactive");
    assert_eq!(env.introspect(&new_at).await["active"], false);

    let sessions: Vec<Value> = env
        .http
        .get(format!(
            "{}/admin/oauth2/auth/sessions/consent?subject=alice",
            env.admin
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!sessions.is_empty());
    assert_eq!(
        sessions[0]["consent_request"]["client"]["client_id"],
        c["client_id"]
    );
    env.finish().await;
}

async fn authorize_errors_never_redirect_to_unregistered_uris_and_plain_pkce_is_refused(
    backend: Backend,
) {
    let env = start(backend).await;
    let c = env
        .create_client(json!({"redirect_uris": ["https://rp.example/cb"], "scope": "openid"}))
        .await;
    let id = c["client_id"].as_str().unwrap();
    let r = env.http.get(format!("{}/oauth2/auth?client_id={id}&response_type=code&state=abcdefgh&redirect_uri=https://evil.example/", env.public)).send().await.unwrap();
    let loc = r.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(
        loc.contains("/oauth2/fallbacks/error?error=invalid_request"),
        "{loc}"
    );
    let r = env
        .http
        .get(format!(
            "{}/oauth2/auth?client_id={id}&response_type=code&state=short",
            env.public
        ))
        .send()
        .await
        .unwrap();
    assert!(r.headers()[LOCATION]
        .to_str()
        .unwrap()
        .starts_with("https://rp.example/cb?error=invalid_state"));
    let r = env.http.get(format!("{}/oauth2/auth?client_id={id}&response_type=code&state=abcdefgh&code_challenge=abc&code_challenge_method=plain", env.public)).send().await.unwrap();
    assert!(r.headers()[LOCATION]
        .to_str()
        .unwrap()
        .contains("error=invalid_request"));
    // a rejected login is returned to the client
    let r = env
        .http
        .get(format!(
            "{}/oauth2/auth?client_id={id}&response_type=code&state=abcdefgh&scope=openid",
            env.public
        ))
        .send()
        .await
        .unwrap();
    let mut jar = BTreeMap::new();
    cookies_from(&r, &mut jar);
    let ch = query_param(r.headers()[LOCATION].to_str().unwrap(), "login_challenge").unwrap();
    let bad = env
        .http
        .put(format!(
            "{}/admin/oauth2/auth/requests/login/accept?login_challenge={ch}",
            env.admin
        ))
        .json(&json!({"subject": "a", "unknown": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400, "unknown fields are refused");
    let a: Value = env
        .http
        .put(format!(
            "{}/admin/oauth2/auth/requests/login/reject?login_challenge={ch}",
            env.admin
        ))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = env
        .http
        .get(a["redirect_to"].as_str().unwrap())
        .header(COOKIE, cookie_header(&jar))
        .send()
        .await
        .unwrap();
    let loc = r.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(
        loc.starts_with("https://rp.example/cb?error=login+request+denied"),
        "{loc}"
    );
    env.finish().await;
}

async fn keys_rotate_and_every_active_key_is_published(backend: Backend) {
    let env = start(backend).await;
    let jwks: Value = env
        .http
        .get(format!("{}/.well-known/jwks.json", env.public))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let before = jwks["keys"].as_array().unwrap().len();
    assert!(
        before >= 2,
        "id-token and access-token keys are created on first start"
    );
    assert!(jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k.get("d").is_none()));
    let r = env
        .http
        .post(format!("{}/admin/keys/hydra.openid.id-token", env.admin))
        .json(&json!({"alg": "ES256", "kid": "es-1", "use": "sig"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let jwks: Value = env
        .http
        .get(format!("{}/.well-known/jwks.json", env.public))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), before + 1);
    let disco: Value = env
        .http
        .get(format!("{}/.well-known/openid-configuration", env.public))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        disco["id_token_signing_alg_values_supported"],
        json!(["ES256"])
    );
    let set: Value = env
        .http
        .get(format!(
            "{}/admin/keys/hydra.openid.id-token/es-1",
            env.admin
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        set["keys"][0].get("d").is_some(),
        "the admin API returns private keys"
    );
    assert_eq!(
        env.http
            .delete(format!(
                "{}/admin/keys/hydra.openid.id-token/es-1",
                env.admin
            ))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    // A key whose material is malformed, or a public-only key in a set Quartet signs with, is
    // refused: stored, it would break every reader of the set or every token (a 500).
    let public_only = json!({"kty": "EC", "crv": "P-256", "kid": "pub-1", "alg": "ES256", "use": "sig",
        "x": set["keys"][0]["x"], "y": set["keys"][0]["y"]});
    for (path, body, reason) in [
        (
            "hydra.openid.id-token",
            json!({"keys": [public_only.clone()]}),
            "has no private part",
        ),
        (
            "qa-set",
            json!({"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig", "n": {}, "e": [1]}]}),
            "not a usable RS256 key",
        ),
        (
            "qa-set/k2",
            json!({"kty": "RSA", "kid": "k2", "alg": "RS256", "use": "sig", "n": "abc", "e": "AQAB"}),
            "not a usable RS256 key",
        ),
    ] {
        let r = env
            .http
            .put(format!("{}/admin/keys/{path}", env.admin))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{path}");
        let text = r.text().await.unwrap();
        assert!(text.contains(reason), "{path}: {text}");
    }
    // A public verification key in a set of its own is fine.
    let r = env
        .http
        .put(format!("{}/admin/keys/partner-keys", env.admin))
        .json(&json!({"keys": [public_only]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = env
        .http
        .get(format!("{}/admin/keys/nope", env.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    env.finish().await;
}

/// Bits of an RSA JWK's modulus.
fn rsa_bits(jwk: &Value) -> usize {
    use base64::Engine;
    let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwk["n"].as_str().unwrap())
        .unwrap();
    n.len() * 8
}

/// Without a configured `secrets.system` (`--dev`, the fixture) the secret that seals the keys
/// is generated once per database: a second start on the same database — a restart, or another
/// instance — opens the keys the first one sealed (a secret generated at every start made JWKS,
/// discovery and every token a 500 after a restart on PostgreSQL or a SQLite file).
#[tokio::test]
async fn a_restart_without_configured_secrets_opens_the_keys_it_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let dsn = quartet::config::Dsn::Sqlite(dir.path().join("q.sqlite").display().to_string());
    let http = reqwest::Client::new();
    let mut published = Vec::new();
    for _ in 0..2 {
        let mut config = Config::ephemeral();
        config.dsn = dsn.clone();
        let stack = Stack::start_roles(config, &[Role::Oauth2]).await.unwrap();
        let public = stack.url(Role::Oauth2, "public").unwrap();
        for path in [
            "/.well-known/jwks.json",
            "/.well-known/openid-configuration",
        ] {
            let r = http.get(format!("{public}{path}")).send().await.unwrap();
            assert_eq!(r.status(), 200, "{path}");
        }
        let jwks: Value = http
            .get(format!("{public}/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        published.push(jwks);
        stack.shutdown().await;
    }
    assert_eq!(
        published[0], published[1],
        "the restart reuses the stored keys"
    );
}

/// Key generation is off the startup path: the whole stack answers `/health/ready` as soon as
/// `Stack::start` returns (the keys are generated in the background; `service.rs`'s unit test
/// holds the generator back to show that readiness and JWKS do not race), and the JWKS still
/// serves both default keys — 2048-bit RSA under `--dev`, Hydra's 4096 bits otherwise.
#[tokio::test]
async fn ready_before_keys_and_jwks_waits_for_them() {
    for (dev, bits) in [(true, 2048), (false, 4096)] {
        let mut config = Config::ephemeral();
        config.dev = dev;
        let stack = Stack::start(config).await.unwrap();
        let http = reqwest::Client::new();
        for (role, listener, path) in [
            (Role::Oauth2, "public", "/health/ready"),
            (Role::Oauth2, "admin", "/health/ready"),
            (Role::Identity, "public", "/health/ready"),
        ] {
            let url = format!("{}{path}", stack.url(role, listener).unwrap());
            assert_eq!(http.get(&url).send().await.unwrap().status(), 200, "{url}");
        }
        let public = stack.url(Role::Oauth2, "public").unwrap();
        let jwks: Value = http
            .get(format!("{public}/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2, "{jwks}");
        for k in keys {
            assert_eq!(k["kty"], "RSA");
            assert_eq!(k["alg"], "RS256");
            assert_eq!(rsa_bits(k), bits, "dev={dev}");
        }
        stack.shutdown().await;
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// RFC 7523: trusted issuers through the admin API with Hydra's shapes and validation, and the
/// jwt-bearer grant checking issuer, subject, scope, audience, expiry, jti replay and signature.
async fn jwt_bearer_grant_with_trusted_issuers(backend: Backend) {
    let env = start(backend).await;
    let issuers = format!("{}/admin/trust/grants/jwt-bearer/issuers", env.admin);
    let token_url = format!("{}/oauth2/token", env.public);
    let idp_key = jose::generate("ES256", "idp-1", "sig", 2048).unwrap();
    let idp_public = jose::to_value(&jose::public(&idp_key).unwrap());

    // Validation in Hydra's order, with Hydra's error code.
    for (body, hint) in [
        (json!({}), "Field 'issuer' is required."),
        (
            json!({"issuer": "https://idp.example"}),
            "One of 'subject' or 'allow_any_subject' field must be set.",
        ),
        (
            json!({"issuer": "https://idp.example", "subject": "alice"}),
            "Field 'expires_at' is required.",
        ),
        (
            json!({"issuer": "https://idp.example", "subject": "alice", "expires_at": "2099-01-01T00:00:00Z", "jwk": {"kty": "EC"}}),
            "Field 'jwk' must contain JWK with kid header.",
        ),
    ] {
        let r = env.http.post(&issuers).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 400);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], "missing_required_parameter");
        assert!(
            v["error_description"].as_str().unwrap().ends_with(hint),
            "{v}"
        );
    }

    let trust = json!({
        "issuer": "https://idp.example", "subject": "alice", "scope": ["read"],
        "jwk": idp_public, "expires_at": "2099-01-01T00:00:00Z",
    });
    let r = env.http.post(&issuers).json(&trust).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let id_location = r.headers()[LOCATION].to_str().unwrap().to_string();
    let grant: Value = r.json().await.unwrap();
    let id = grant["id"].as_str().unwrap().to_string();
    assert_eq!(
        id_location,
        format!("/trust/grants/jwt-bearer/issuers/{id}")
    );
    assert_eq!(grant["issuer"], "https://idp.example");
    assert_eq!(grant["subject"], "alice");
    assert_eq!(grant["allow_any_subject"], false);
    assert_eq!(grant["scope"], json!(["read"]));
    assert_eq!(
        grant["public_key"],
        json!({"set": "https://idp.example", "kid": "idp-1"})
    );
    assert_eq!(grant["expires_at"], "2099-01-01T00:00:00Z");
    assert!(grant["created_at"].as_str().unwrap().ends_with('Z'));
    let r = env.http.post(&issuers).json(&trust).send().await.unwrap();
    assert_eq!(r.status(), 409, "the same issuer key twice");

    let r = env.http.get(&issuers).send().await.unwrap();
    assert_eq!(r.headers()["x-total-count"], "1");
    assert_eq!(r.json::<Value>().await.unwrap(), json!([grant.clone()]));
    let none: Value = env
        .http
        .get(format!("{issuers}?issuer=https://other.example"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(none, json!([]));
    let got: Value = env
        .http
        .get(format!("{issuers}/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got, grant);

    let client = env
        .create_client(json!({
            "grant_types": ["urn:ietf:params:oauth:grant-type:jwt-bearer"],
            "scope": "read write", "token_endpoint_auth_method": "client_secret_post",
        }))
        .await;
    let cid = client["client_id"].as_str().unwrap().to_string();
    let secret = client["client_secret"].as_str().unwrap().to_string();
    let assertion = |key: &josekit::jwk::Jwk, claims: Value| {
        jose::sign(key, claims.as_object().unwrap().clone()).unwrap()
    };
    let claims = |sub: &str, jti: &str| json!({"iss": "https://idp.example", "sub": sub, "aud": [token_url], "exp": now_secs() + 300, "iat": now_secs(), "jti": jti});
    let exchange = |assertion: String, scope: &'static str| {
        let form = vec![
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:jwt-bearer".to_string(),
            ),
            ("assertion", assertion),
            ("scope", scope.to_string()),
            ("client_id", cid.clone()),
            ("client_secret", secret.clone()),
        ];
        env.http.post(&token_url).form(&form).send()
    };

    let good = assertion(&idp_key, claims("alice", "jti-1"));
    let r = exchange(good.clone(), "read").await.unwrap();
    assert_eq!(r.status(), 200);
    let token: Value = r.json().await.unwrap();
    assert!(token["access_token"]
        .as_str()
        .unwrap()
        .starts_with("ory_at_"));
    assert!(token.get("refresh_token").is_none());
    assert_eq!(token["scope"], "read");
    let info = env
        .introspect(token["access_token"].as_str().unwrap())
        .await;
    assert_eq!(info["active"], true);
    assert_eq!(info["sub"], "alice");
    assert_eq!(info["client_id"], cid.as_str());
    assert_eq!(info["aud"], json!([token_url]));

    let error = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        (status, v["error"].as_str().unwrap().to_string())
    };
    assert_eq!(
        error(exchange(good, "read").await.unwrap()).await,
        (400, "jti_known".into()),
        "a replayed assertion is refused"
    );
    // The times the hints print overflowed as microseconds (a 500 in debug builds).
    let mut far_exp = claims("alice", "jti-far-exp");
    far_exp["exp"] = json!(i64::MAX);
    let mut far_nbf = claims("alice", "jti-far-nbf");
    far_nbf["nbf"] = json!(i64::MAX);
    for (claims, what) in [(far_exp, "exp at i64::MAX"), (far_nbf, "nbf at i64::MAX")] {
        assert_eq!(
            error(exchange(assertion(&idp_key, claims), "read").await.unwrap()).await,
            (400, "invalid_grant".into()),
            "{what}"
        );
    }
    assert_eq!(
        error(
            exchange(assertion(&idp_key, claims("alice", "jti-2")), "write")
                .await
                .unwrap()
        )
        .await,
        (400, "invalid_scope".into()),
        "scope outside the trust relationship"
    );
    assert_eq!(
        error(
            exchange(assertion(&idp_key, claims("bob", "jti-3")), "read")
                .await
                .unwrap()
        )
        .await,
        (400, "invalid_grant".into()),
        "subject not trusted"
    );
    let mut wrong_aud = claims("alice", "jti-4");
    wrong_aud["aud"] = json!("https://elsewhere.example/token");
    assert_eq!(
        error(
            exchange(assertion(&idp_key, wrong_aud), "read")
                .await
                .unwrap()
        )
        .await,
        (400, "invalid_grant".into())
    );
    let mut expired = claims("alice", "jti-5");
    expired["exp"] = json!(now_secs() - 10);
    assert_eq!(
        error(
            exchange(assertion(&idp_key, expired), "read")
                .await
                .unwrap()
        )
        .await,
        (400, "invalid_grant".into())
    );
    let forger = jose::generate("ES256", "idp-1", "sig", 2048).unwrap();
    assert_eq!(
        error(
            exchange(assertion(&forger, claims("alice", "jti-6")), "read")
                .await
                .unwrap()
        )
        .await,
        (400, "invalid_grant".into()),
        "a signature by another key with the same kid"
    );
    assert_eq!(
        error(exchange("not-a-jwt".into(), "read").await.unwrap()).await,
        (400, "invalid_grant".into())
    );

    // A client without the grant type may not use it.
    let other = env
        .create_client(json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_post"}))
        .await;
    let r = env
        .http
        .post(&token_url)
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            (
                "assertion",
                assertion(&idp_key, claims("alice", "jti-7")).as_str(),
            ),
            ("client_id", other["client_id"].as_str().unwrap()),
            ("client_secret", other["client_secret"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(error(r).await, (400, "unauthorized_client".into()));

    // allow_any_subject trusts every subject of the issuer.
    let any_key = jose::generate("ES256", "idp-any", "sig", 2048).unwrap();
    let r = env
        .http
        .post(&issuers)
        .json(&json!({"issuer": "https://idp.example", "allow_any_subject": true, "scope": ["read"],
            "jwk": jose::to_value(&jose::public(&any_key).unwrap()), "expires_at": "2099-01-01T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = exchange(assertion(&any_key, claims("carol", "jti-8")), "read")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Deleting the trust relationship ends it.
    let r = env
        .http
        .delete(format!("{issuers}/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        env.http
            .get(format!("{issuers}/{id}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        env.http
            .delete(format!("{issuers}/{id}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        error(
            exchange(assertion(&idp_key, claims("alice", "jti-9")), "read")
                .await
                .unwrap()
        )
        .await,
        (400, "invalid_grant".into())
    );
    env.finish().await;
}

/// private_key_jwt with keys at the client's `jwks_uri`: fetched, cached, and fetched again when
/// the assertion's key is not in the cached set (rotation); an unreachable URI is `invalid_client`.
async fn private_key_jwt_with_jwks_uri(backend: Backend) {
    let env = start(backend).await;
    let served = std::sync::Arc::new(std::sync::Mutex::new(json!({"keys": []})));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get({
            let served = served.clone();
            move || {
                let v = served.lock().unwrap().clone();
                async move { axum::Json(v) }
            }
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let publish = |k: &josekit::jwk::Jwk| {
        *served.lock().unwrap() = json!({"keys": [jose::to_value(&jose::public(k).unwrap())]});
    };
    let k1 = jose::generate("ES256", "rp-1", "sig", 2048).unwrap();
    publish(&k1);
    let client = env
        .create_client(json!({
            "grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "ES256", "jwks_uri": jwks_url,
        }))
        .await;
    let cid = client["client_id"].as_str().unwrap().to_string();
    let token_url = format!("{}/oauth2/token", env.public);
    let exchange_until = |key: &josekit::jwk::Jwk, cid: &str, jti: &str, exp: i64| {
        let claims = json!({"iss": cid, "sub": cid, "aud": [token_url], "exp": exp, "jti": jti});
        let assertion = jose::sign(key, claims.as_object().unwrap().clone()).unwrap();
        env.http
            .post(&token_url)
            .form(&[
                ("grant_type", "client_credentials"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion.as_str()),
            ])
            .send()
    };
    let exchange = |key: &josekit::jwk::Jwk, cid: &str, jti: &str| {
        exchange_until(key, cid, jti, now_secs() + 300)
    };
    assert_eq!(exchange(&k1, &cid, "a1").await.unwrap().status(), 200);
    let k2 = jose::generate("ES256", "rp-2", "sig", 2048).unwrap();
    publish(&k2);
    assert_eq!(
        exchange(&k2, &cid, "a2").await.unwrap().status(),
        200,
        "a rotated key is fetched"
    );
    let r = exchange(&k2, &cid, "a2").await.unwrap();
    assert_eq!(r.status(), 400, "a client assertion's jti is single use");
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "jti_known");
    // An `exp` whose microseconds overflow i64 (a 500 in debug builds; in release ones a wrapped,
    // past expiry that let the same assertion be replayed) is remembered for ever.
    let far = i64::MAX / 1000;
    let r = exchange_until(&k2, &cid, "a-far", far).await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = exchange_until(&k2, &cid, "a-far", far).await.unwrap();
    assert_eq!(r.status(), 400, "a far-future assertion is single use too");
    let r = exchange(&k1, &cid, "a3").await.unwrap();
    assert_eq!(r.status(), 401, "the old key is no longer published");
    server.abort();

    let gone = env
        .create_client(json!({
            "grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "ES256", "jwks_uri": "http://127.0.0.1:9/jwks.json",
        }))
        .await;
    let r = exchange(&k2, gone["client_id"].as_str().unwrap(), "a4")
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_client");
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .contains("Unable to fetch JSON Web Keys"),
        "{v}"
    );
    env.finish().await;
}

/// Runs the code flow for `client` in the browser `jar` and returns its token response.
/// A login and a consent remembered for `i64::MAX` seconds (the UI's number, unchecked by Hydra)
/// finish the flow and are remembered: the expiry saturates (it overflowed — a 500 from
/// `/oauth2/auth` in debug builds, a wrapped expiry in release ones).
async fn remember_for_at_the_integer_limit_saturates(backend: Backend) {
    let env = start(backend).await;
    let c = env
        .create_client(json!({
            "grant_types": ["authorization_code"], "response_types": ["code"],
            "redirect_uris": ["https://rp.example/cb"], "scope": "openid",
        }))
        .await;
    let start = reqwest::Url::parse_with_params(
        &format!("{}/oauth2/auth", env.public),
        &[
            ("client_id", c["client_id"].as_str().unwrap()),
            ("response_type", "code"),
            ("scope", "openid"),
            ("redirect_uri", "https://rp.example/cb"),
            ("state", "state-12345678"),
        ],
    )
    .unwrap();
    let mut jar = BTreeMap::new();
    let mut handled = Vec::new();
    for round in 0..2 {
        let mut url = start.to_string();
        while !url.starts_with("https://rp.example/") {
            let r = env
                .http
                .get(&url)
                .header(COOKIE, cookie_header(&jar))
                .send()
                .await
                .unwrap();
            cookies_from(&r, &mut jar);
            let next = r.headers()[LOCATION].to_str().unwrap().to_string();
            let expected = if next.starts_with("https://rp.example/") {
                303
            } else {
                302
            };
            assert_eq!(r.status(), expected, "round {round}: {url}");
            url = next;
            for kind in ["login", "consent"] {
                let Some(ch) = query_param(&url, &format!("{kind}_challenge")) else {
                    continue;
                };
                let req: Value = env
                    .http
                    .get(format!(
                        "{}/admin/oauth2/auth/requests/{kind}?{kind}_challenge={ch}",
                        env.admin
                    ))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                handled.push((round, kind, req["skip"].clone()));
                let mut body = json!({"remember": true, "remember_for": i64::MAX});
                match kind {
                    "login" => body["subject"] = json!("alice"),
                    _ => body["grant_scope"] = json!(["openid"]),
                }
                let a: Value = env
                    .http
                    .put(format!(
                        "{}/admin/oauth2/auth/requests/{kind}/accept?{kind}_challenge={ch}",
                        env.admin
                    ))
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                url = a["redirect_to"].as_str().unwrap().to_string();
            }
        }
        assert!(query_param(&url, "code").is_some(), "round {round}: {url}");
    }
    // A `max_age` whose microseconds overflow i64 is checked against the remembered login
    // (it overflowed: a 500 in debug builds) and, being that large, lets the login be skipped.
    let r = env
        .http
        .get(format!("{start}&max_age={}", i64::MAX))
        .header(COOKIE, cookie_header(&jar))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let login = r.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(query_param(&login, "login_challenge").is_some(), "{login}");
    // In the second round both are remembered: Hydra's `skip: true` for the login and consent.
    assert_eq!(
        handled,
        [
            (0, "login", json!(false)),
            (0, "consent", json!(false)),
            (1, "login", json!(true)),
            (1, "consent", json!(true)),
        ]
    );
    env.finish().await;
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

async fn front_and_back_channel_logout(backend: Backend) {
    let env = start(backend).await;
    let (bc_url, mut rx, server) = backchannel_receiver().await;
    let both = env
        .create_client(json!({
            "redirect_uris": ["https://rp.example/cb"], "scope": "openid",
            "post_logout_redirect_uris": ["https://rp.example/bye"],
            "frontchannel_logout_uri": "https://rp.example/fc?x=1",
            "backchannel_logout_uri": bc_url,
        }))
        .await;
    let back_only = env
        .create_client(json!({
            "redirect_uris": ["https://rp.example/cb"], "scope": "openid",
            "backchannel_logout_uri": bc_url,
        }))
        .await;
    // an RP whose back-channel endpoint is down does not make the logout fail
    let down = env
        .create_client(json!({
            "redirect_uris": ["https://rp.example/cb"], "scope": "openid",
            "backchannel_logout_uri": "http://127.0.0.1:9/backchannel",
        }))
        .await;
    let bystander = env
        .create_client(json!({
            "redirect_uris": ["https://rp.example/cb"], "scope": "openid",
            "frontchannel_logout_uri": "https://other.example/fc",
            "backchannel_logout_uri": bc_url,
        }))
        .await;
    let mut jar = BTreeMap::new();
    let tokens = code_flow_tokens(&env, &both, &mut jar, "openid").await;
    let id_token = tokens["id_token"].as_str().unwrap().to_string();
    let sid = jwt_claims(&id_token)["sid"].as_str().unwrap().to_string();
    // the same login session (remembered) for two more clients
    let t2 = code_flow_tokens(&env, &back_only, &mut jar, "openid").await;
    assert_eq!(jwt_claims(t2["id_token"].as_str().unwrap())["sid"], sid);
    code_flow_tokens(&env, &down, &mut jar, "openid").await;
    // another browser's login session with the bystander client is not touched
    let mut other_jar = BTreeMap::new();
    let other = code_flow_tokens(&env, &bystander, &mut other_jar, "openid").await;
    let other_sid = jwt_claims(other["id_token"].as_str().unwrap())["sid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(other_sid, sid);
    let disco: Value = env
        .http
        .get(format!("{}/.well-known/openid-configuration", env.public))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let issuer = disco["issuer"].as_str().unwrap().to_string();

    let start = reqwest::Url::parse_with_params(
        &format!("{}/oauth2/sessions/logout", env.public),
        &[
            ("id_token_hint", id_token.as_str()),
            ("post_logout_redirect_uri", "https://rp.example/bye"),
            ("state", "logout-state-1"),
        ],
    )
    .unwrap();
    let r = env
        .http
        .get(start)
        .header(COOKIE, cookie_header(&jar))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let ui = r.headers()[LOCATION].to_str().unwrap().to_string();
    let challenge = query_param(&ui, "logout_challenge").unwrap();
    assert!(
        rx.try_recv().is_err(),
        "nothing is sent before the logout is accepted"
    );
    let accepted: Value = env
        .http
        .put(format!(
            "{}/admin/oauth2/auth/requests/logout/accept?logout_challenge={challenge}",
            env.admin
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = env
        .http
        .get(accepted["redirect_to"].as_str().unwrap())
        .header(COOKIE, cookie_header(&jar))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "a front-channel client gets the iframe page"
    );
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    cookies_from(&r, &mut jar);
    assert!(
        !jar.keys().any(|k| k.starts_with("ory_hydra_session")),
        "the session cookie is cleared: {jar:?}"
    );
    let page = r.text().await.unwrap();
    let frame = format!(
        "<iframe src=\"https://rp.example/fc?x=1&amp;iss={}&amp;sid={sid}\"",
        url_encode(&issuer)
    );
    assert!(page.contains(&frame), "{page}");
    assert_eq!(page.matches("<iframe").count(), 1, "{page}");
    assert!(
        page.contains("\"https://rp.example/bye?state=logout-state-1\""),
        "{page}"
    );

    let keys = published_keys(&env).await;
    let mut auds = Vec::new();
    for _ in 0..2 {
        let claims = next_logout_token(&mut rx, &keys).await;
        assert_eq!(claims["iss"], json!(issuer));
        assert_eq!(claims["sid"], json!(sid));
        assert_eq!(
            claims["events"],
            json!({"http://schemas.openid.net/event/backchannel-logout": {}})
        );
        assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
        assert!((claims["iat"].as_i64().unwrap() - now_secs()).abs() < 60);
        assert!(claims.get("sub").is_none() && claims.get("nonce").is_none());
        let aud = claims["aud"].as_array().unwrap();
        assert_eq!(aud.len(), 1);
        auds.push(aud[0].as_str().unwrap().to_string());
    }
    auds.sort();
    let mut expected = vec![
        both["client_id"].as_str().unwrap().to_string(),
        back_only["client_id"].as_str().unwrap().to_string(),
    ];
    expected.sort();
    assert_eq!(auds, expected);

    // the verifier is single use: no second round of logout requests
    let r = env
        .http
        .get(accepted["redirect_to"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);

    // DELETE …/sessions/login?sid= also fires back-channel logout (the bystander's session)
    let r = env
        .http
        .delete(format!(
            "{}/admin/oauth2/auth/sessions/login?sid={other_sid}",
            env.admin
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let claims = next_logout_token(&mut rx, &keys).await;
    assert_eq!(claims["aud"], json!([bystander["client_id"]]));
    assert_eq!(claims["sid"], json!(other_sid));
    server.abort();
    env.finish().await;
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

async fn pairwise_subject_identifiers(backend: Backend) {
    let env = start_pairwise(backend).await;
    let pairwise = env
        .create_client(json!({
            "redirect_uris": ["https://rp.example/cb"], "scope": "openid",
            "subject_type": "pairwise",
        }))
        .await;
    assert_eq!(pairwise["subject_type"], "pairwise");
    let public = env
        .create_client(json!({"redirect_uris": ["https://rp.example/cb"], "scope": "openid"}))
        .await;
    assert_eq!(public["subject_type"], "public");
    // sector_identifier_uri: https only, and it must be fetchable (Hydra fetches it on write)
    for (uri, hint) in [
        ("http://rp.example/sector.json", "must be an HTTPS URL"),
        ("https://127.0.0.1:9/sector.json", "Unable to connect"),
    ] {
        let r = env
            .http
            .post(format!("{}/admin/clients", env.admin))
            .json(&json!({"redirect_uris": ["https://rp.example/cb"], "subject_type": "pairwise", "sector_identifier_uri": uri}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], "invalid_client_metadata");
        assert!(
            v["error_description"].as_str().unwrap().contains(hint),
            "{v}"
        );
    }

    use sha2::Digest;
    let expected: String = sha2::Sha256::digest(b"rp.examplealicepairwise-salt-1")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut jar = BTreeMap::new();
    let tokens = code_flow_tokens(&env, &pairwise, &mut jar, "openid").await;
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["sub"],
        json!(expected)
    );
    let at = tokens["access_token"].as_str().unwrap();
    let userinfo: Value = env
        .http
        .get(format!("{}/userinfo", env.public))
        .bearer_auth(at)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["sub"], json!(expected));
    let i = env.introspect(at).await;
    assert_eq!(i["sub"], "alice", "introspection keeps the real subject");
    assert_eq!(i["obfuscated_subject"], json!(expected));
    // the logout hint carries the pairwise sub; the logout still finds alice's session
    let hint = tokens["id_token"].as_str().unwrap();
    let r = env
        .http
        .get(format!(
            "{}/oauth2/sessions/logout?id_token_hint={hint}",
            env.public
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let ch = query_param(r.headers()[LOCATION].to_str().unwrap(), "logout_challenge").unwrap();
    let req: Value = env
        .http
        .get(format!(
            "{}/admin/oauth2/auth/requests/logout?logout_challenge={ch}",
            env.admin
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(req["subject"], "alice");

    // a public client of the same login session sees the real subject
    let tokens = code_flow_tokens(&env, &public, &mut jar, "openid").await;
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["sub"],
        "alice"
    );
    let i = env
        .introspect(tokens["access_token"].as_str().unwrap())
        .await;
    assert!(i.get("obfuscated_subject").is_none(), "{i}");
    env.finish().await;

    // without pairwise among the supported types such a client is refused
    let env = start(backend).await;
    let r = env
        .http
        .post(format!("{}/admin/clients", env.admin))
        .json(&json!({"redirect_uris": ["https://rp.example/cb"], "subject_type": "pairwise"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "invalid_client_metadata"
    );
    env.finish().await;
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

/// OpenID Connect request objects as fosite reads them: by value (`request`) or from a
/// registered `request_uri`, signed with the client's keys or unsigned; their claims replace
/// the query's parameters (here the state and the redirect URI); a foreign signature, an
/// expired object, an unregistered `request_uri` or both parameters at once go to the error
/// UI; without the `openid` scope the object is not read at all.
async fn request_objects_by_value_and_by_reference(backend: Backend) {
    let env = start(backend).await;
    let key = jose::generate("ES256", "ro-1", "sig", 2048).unwrap();
    let stranger = jose::generate("ES256", "ro-1", "sig", 2048).unwrap();
    let served = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ro_url = format!("http://{}/ro.jwt", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/ro.jwt",
        axum::routing::get({
            let served = served.clone();
            move || {
                let v = served.lock().unwrap().clone();
                async move { v }
            }
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = env
        .create_client(json!({
            "redirect_uris": ["https://rp.example/cb", "https://rp.example/other"],
            "scope": "openid", "request_uris": [ro_url],
            "jwks": {"keys": [jose::to_value(&jose::public(&key).unwrap())]},
        }))
        .await;
    let cid = client["client_id"].as_str().unwrap().to_string();
    let object = |state: &str, exp: i64| json!({"state": state, "redirect_uri": "https://rp.example/other", "exp": exp});
    let signed = |k: &josekit::jwk::Jwk, claims: Value| {
        jose::sign(k, claims.as_object().unwrap().clone()).unwrap()
    };
    let base = |extra: &[(&str, &str)]| {
        let mut p = vec![
            ("client_id", cid.as_str()),
            ("response_type", "code"),
            ("scope", "openid"),
            ("redirect_uri", "https://rp.example/cb"),
        ];
        p.extend_from_slice(extra);
        auth_url_with(&env, &p)
    };
    let mut jar = BTreeMap::new();
    // by value, signed: the object's state and redirect URI win
    let jwt = signed(&key, object("state-from-object", now_secs() + 300));
    let done = browse(&env, &base(&[("request", &jwt)]), &mut jar, json!({})).await;
    assert!(done.starts_with("https://rp.example/other?"), "{done}");
    assert_eq!(
        query_param(&done, "state").as_deref(),
        Some("state-from-object")
    );
    // unsigned
    let jwt = unsigned_jwt(&object("state-unsigned", now_secs() + 300));
    let done = browse(&env, &base(&[("request", &jwt)]), &mut jar, json!({})).await;
    assert_eq!(
        query_param(&done, "state").as_deref(),
        Some("state-unsigned"),
        "{done}"
    );
    // by reference
    *served.lock().unwrap() = signed(&key, object("state-by-reference", now_secs() + 300));
    let done = browse(
        &env,
        &base(&[("request_uri", &ro_url)]),
        &mut jar,
        json!({}),
    )
    .await;
    assert_eq!(
        query_param(&done, "state").as_deref(),
        Some("state-by-reference"),
        "{done}"
    );

    let error_ui = |to: &str, error: &str| {
        assert!(!to.starts_with("https://rp.example/"), "{to}");
        assert_eq!(query_param(to, "error").as_deref(), Some(error), "{to}");
    };
    let foreign = signed(&stranger, object("state-foreign", now_secs() + 300));
    error_ui(
        &first_redirect(&env, &base(&[("request", &foreign)])).await,
        "invalid_request_object",
    );
    let expired = signed(&key, object("state-expired", now_secs() - 60));
    error_ui(
        &first_redirect(&env, &base(&[("request", &expired)])).await,
        "invalid_request_object",
    );
    error_ui(
        &first_redirect(
            &env,
            &base(&[("request_uri", "https://elsewhere.example/ro.jwt")]),
        )
        .await,
        "invalid_request_uri",
    );
    let jwt = signed(&key, object("state-both", now_secs() + 300));
    error_ui(
        &first_redirect(&env, &base(&[("request", &jwt), ("request_uri", &ro_url)])).await,
        "invalid_request",
    );
    // without `openid` in the query's scope the object is not read: the state is missing
    let to = first_redirect(
        &env,
        &auth_url_with(
            &env,
            &[
                ("client_id", cid.as_str()),
                ("response_type", "code"),
                ("redirect_uri", "https://rp.example/cb"),
                ("request", foreign.as_str()),
            ],
        ),
    )
    .await;
    assert_eq!(
        query_param(&to, "error").as_deref(),
        Some("invalid_state"),
        "{to}"
    );
    server.abort();
    env.finish().await;
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

/// `response_mode` as fosite handles it (Hydra's clients allow query, fragment and form_post):
/// an unknown mode goes to the error UI before the redirect URI is trusted; `form_post`
/// answers with the page that posts the code — or the error — to the client. And every
/// requested audience is checked up front, before any login.
async fn response_modes_and_the_audience_are_checked_up_front(backend: Backend) {
    let env = start(backend).await;
    let client = env
        .create_client(json!({
            "redirect_uris": ["https://rp.example/cb"], "scope": "openid",
            "audience": ["https://api.example/"],
        }))
        .await;
    let to = first_redirect(
        &env,
        &authorize_url(&env, &client, "code", &[("response_mode", "weird")]),
    )
    .await;
    assert!(
        to.contains("/oauth2/fallbacks/error?error=unsupported_response_mode"),
        "{to}"
    );
    assert!(!to.starts_with("https://rp.example/"), "{to}");

    // an audience the client may not request: invalid_request back at the client
    let to = first_redirect(
        &env,
        &authorize_url(
            &env,
            &client,
            "code",
            &[("audience", "https://other.example/")],
        ),
    )
    .await;
    assert_eq!(
        query_param(&to, "error").as_deref(),
        Some("invalid_request"),
        "{to}"
    );
    assert!(
        query_param(&to, "error_description")
            .unwrap()
            .contains("'https://other.example/' has not been whitelisted"),
        "{to}"
    );
    // OpenID Connect's `registration` parameter is refused, as fosite does
    let to = first_redirect(
        &env,
        &authorize_url(&env, &client, "code", &[("registration", "{}")]),
    )
    .await;
    assert_eq!(
        query_param(&to, "error").as_deref(),
        Some("registration_not_supported"),
        "{to}"
    );
    // allowed ones (a path below the allowed one counts) reach the login UI and the request
    let to = first_redirect(
        &env,
        &authorize_url(
            &env,
            &client,
            "code",
            &[("audience", "https://api.example/ https://api.example/v1")],
        ),
    )
    .await;
    let ch = query_param(&to, "login_challenge").expect("the login UI");
    let login: Value = env
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
    assert_eq!(
        login["requested_access_token_audience"],
        json!(["https://api.example/", "https://api.example/v1"])
    );

    // form_post: an error before login is the page too
    let r = env
        .http
        .get(authorize_url(
            &env,
            &client,
            "code",
            &[
                ("response_mode", "form_post"),
                ("code_challenge", &"x".repeat(43)),
                ("code_challenge_method", "plain"),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/html;charset=UTF-8");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let (action, fields) = form_post_fields(&r.text().await.unwrap());
    assert_eq!(action, "https://rp.example/cb");
    assert_eq!(fields["error"], "invalid_request");
    assert_eq!(fields["state"], "state-12345678");
    // and the code after login and consent, redeemable like any other
    let mut jar = BTreeMap::new();
    let page = browse(
        &env,
        &authorize_url(&env, &client, "code", &[("response_mode", "form_post")]),
        &mut jar,
        json!({}),
    )
    .await;
    let page = page.strip_prefix("form_post:").expect("a form_post page");
    assert!(page.contains("document.forms[0].submit()"), "{page}");
    let (action, fields) = form_post_fields(page);
    assert_eq!(action, "https://rp.example/cb");
    assert_eq!(fields["state"], "state-12345678");
    assert_eq!(fields["scope"], "openid");
    let r = env
        .http
        .post(format!("{}/oauth2/token", env.public))
        .basic_auth(
            client["client_id"].as_str().unwrap(),
            client["client_secret"].as_str(),
        )
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", fields["code"].as_str()),
            ("redirect_uri", "https://rp.example/cb"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the form_post code is redeemable");
    env.finish().await;
}

async fn implicit_and_hybrid_response_types(backend: Backend) {
    let env = start(backend).await;
    let all = [
        "code",
        "token",
        "id_token",
        "id_token token",
        "code id_token",
        "code token",
        "code id_token token",
    ];
    let client = env
        .create_client(json!({
            "grant_types": ["authorization_code", "implicit"], "response_types": all,
            "redirect_uris": ["https://rp.example/cb"], "scope": "openid",
        }))
        .await;
    let keys = published_keys(&env).await;
    let mut jar = BTreeMap::new();
    for rt in [
        "token",
        "id_token",
        "token id_token",
        "code id_token",
        "token code",
        "code id_token token",
    ] {
        let url = authorize_url(&env, &client, rt, &[("nonce", "nonce-abcdefgh")]);
        let done = browse(&env, &url, &mut jar, json!({})).await;
        let p = fragment_params(&done);
        assert_eq!(p["state"], "state-12345678", "{rt}: {p:?}");
        let wants = |t: &str| rt.split(' ').any(|x| x == t);
        assert_eq!(p.contains_key("code"), wants("code"), "{rt}: {p:?}");
        assert_eq!(
            p.contains_key("access_token"),
            wants("token"),
            "{rt}: {p:?}"
        );
        assert_eq!(p.contains_key("id_token"), wants("id_token"), "{rt}: {p:?}");
        if wants("token") {
            assert_eq!(p["token_type"], "bearer");
            assert_eq!(p["scope"], "openid");
            assert!(p["expires_in"].parse::<u64>().unwrap() > 0);
            let i = env.introspect(&p["access_token"]).await;
            assert_eq!(i["active"], true);
            assert_eq!(i["sub"], "alice");
        }
        if let Some(code) = p.get("code") {
            assert!(code.starts_with("ory_ac_"));
            let r = env
                .http
                .post(format!("{}/oauth2/token", env.public))
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
            assert_eq!(r.status(), 200, "{rt}: the hybrid code is redeemable");
        }
        if let Some(id) = p.get("id_token") {
            let (header, claims) = jose::verify(id, &keys).expect("the ID token verifies");
            let alg = header["alg"].as_str().unwrap();
            assert_eq!(claims["nonce"], "nonce-abcdefgh");
            assert_eq!(claims["sub"], "alice");
            assert_eq!(claims["aud"], json!([client["client_id"]]));
            match p.get("access_token") {
                Some(at) => assert_eq!(claims["at_hash"], json!(jose::half_hash(alg, at))),
                None => assert!(claims.get("at_hash").is_none()),
            }
            match p.get("code") {
                Some(c) => assert_eq!(claims["c_hash"], json!(jose::half_hash(alg, c))),
                None => assert!(claims.get("c_hash").is_none()),
            }
        }
    }
    // plain `code` still answers in the query
    let done = browse(
        &env,
        &authorize_url(&env, &client, "code", &[]),
        &mut jar,
        json!({}),
    )
    .await;
    assert!(query_param(&done, "code").is_some(), "{done}");

    // errors, answered in the fragment before any login
    let err = |to: &str| {
        assert!(to.starts_with("https://rp.example/cb#"), "{to}");
        fragment_params(to)
    };
    let to = first_redirect(&env, &authorize_url(&env, &client, "id_token", &[])).await;
    let p = err(&to);
    assert_eq!(p["error"], "invalid_request");
    assert!(p["error_description"].contains("nonce"), "{p:?}");
    assert_eq!(p["state"], "state-12345678");
    let to = first_redirect(&env, &authorize_url(&env, &client, "code id_token", &[])).await;
    assert!(err(&to)["error_description"].contains("Hybrid"));
    let to = first_redirect(
        &env,
        &authorize_url(&env, &client, "token", &[("response_mode", "query")]),
    )
    .await;
    assert_eq!(
        query_param(&to, "error").as_deref(),
        Some("unsupported_response_mode"),
        "{to}"
    );
    let to = first_redirect(&env, &authorize_url(&env, &client, "token none", &[])).await;
    assert_eq!(err(&to)["error"], "unsupported_response_type");

    let code_only = env
        .create_client(json!({"redirect_uris": ["https://rp.example/cb"], "scope": "openid", "grant_types": ["authorization_code", "implicit"]}))
        .await;
    let to = first_redirect(&env, &authorize_url(&env, &code_only, "token", &[])).await;
    let p = err(&to);
    assert_eq!(p["error"], "unsupported_response_type");
    assert!(p["error_description"].contains("'token'"), "{p:?}");
    let no_implicit = env
        .create_client(json!({"redirect_uris": ["https://rp.example/cb"], "scope": "openid", "response_types": ["token", "id_token"]}))
        .await;
    for rt in ["token", "id_token"] {
        let to = first_redirect(
            &env,
            &authorize_url(&env, &no_implicit, rt, &[("nonce", "nonce-abcdefgh")]),
        )
        .await;
        assert_eq!(err(&to)["error"], "invalid_grant", "{rt}");
    }
    env.finish().await;
}

/// Hydra's default: `/oauth2/register` and its management endpoints answer 404 until
/// `oidc.dynamic_client_registration.enabled`; then the registration access token manages the
/// client and an update rotates it.
async fn dynamic_registration_is_off_unless_enabled(backend: Backend) {
    let env = start(backend).await;
    let r = env
        .http
        .post(format!("{}/oauth2/register", env.public))
        .json(&json!({"client_name": "dcr"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "Not Found", "error_description": "Dynamic registration is not enabled."})
    );
    env.finish().await;

    let env = start_with(backend, |c| {
        c.oauth2.oidc.dynamic_client_registration.enabled = Some(true);
    })
    .await;
    let r = env
        .http
        .post(format!("{}/oauth2/register", env.public))
        .json(&json!({"client_name": "dcr", "redirect_uris": ["https://rp.example/cb"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let c: Value = r.json().await.unwrap();
    let id = c["client_id"].as_str().unwrap();
    let uri = format!("{}/oauth2/register/{id}", env.public);
    assert_eq!(c["registration_client_uri"], json!(uri));
    let rat = c["registration_access_token"].as_str().unwrap().to_string();
    let get = |token: String| env.http.get(&uri).bearer_auth(token).send();
    let got: Value = get(rat.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(got["client_name"], "dcr");
    assert!(got.get("client_secret").is_none());
    let put: Value = env
        .http
        .put(&uri)
        .bearer_auth(&rat)
        .json(&json!({"client_name": "dcr-2", "redirect_uris": ["https://rp.example/cb"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rotated = put["registration_access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let chosen = env
        .http
        .post(format!("{}/oauth2/register", env.public))
        .json(&json!({"client_secret": "my-own-secret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(chosen.status(), 400);
    assert_eq!(
        chosen.json::<Value>().await.unwrap()["error"],
        "The request was malformed or contained invalid parameters"
    );
    let forbidden = env
        .http
        .put(&uri)
        .bearer_auth(&rotated)
        .json(&json!({"client_secret": "my-own-secret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), 403);
    assert_ne!(rotated, rat);
    let old = get(rat).await.unwrap();
    assert_eq!(old.status(), 401);
    assert_eq!(
        old.json::<Value>().await.unwrap()["error"],
        "The request could not be authorized"
    );
    assert_eq!(
        get(rotated.clone())
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["client_name"],
        "dcr-2"
    );
    let deleted = env
        .http
        .delete(&uri)
        .bearer_auth(&rotated)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(get(rotated).await.unwrap().status(), 401);
    env.finish().await;
}

/// Quartet issues no verifiable credentials; `/credentials` checks the bearer token and the
/// body as Hydra does and answers RFC 6749 errors (never the kernel's 404 envelope).
async fn verifiable_credentials_are_refused_with_oauth2_errors(backend: Backend) {
    let env = start(backend).await;
    let url = format!("{}/credentials", env.public);
    let body = json!({"format": "jwt_vc_json", "types": ["VerifiableCredential"], "proof": {"proof_type": "jwt", "jwt": "a.b.c"}});
    let anonymous = env.http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        anonymous.json::<Value>().await.unwrap()["error"],
        "request_unauthorized"
    );

    let client = env
        .create_client(json!({
            "grant_types": ["authorization_code", "refresh_token"],
            "redirect_uris": ["https://rp.example/cb"],
            "scope": "openid offline_access",
        }))
        .await;
    let mut jar = BTreeMap::new();
    let tokens = code_flow_tokens(&env, &client, &mut jar, "openid offline_access").await;
    let post = |token: &str, body: &Value| env.http.post(&url).bearer_auth(token).json(body).send();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let not_access: Value = post(refresh, &body).await.unwrap().json().await.unwrap();
    assert_eq!(not_access["error"], "invalid_request");
    assert!(not_access["error_description"]
        .as_str()
        .unwrap()
        .ends_with("The provided token is not an access token."));

    let at = tokens["access_token"].as_str().unwrap();
    for (body, hint) in [
        (
            json!({"format": "ldp_vc"}),
            "The format 'ldp_vc' is not supported.",
        ),
        (
            json!({"format": "jwt_vc_json"}),
            "The request body must contain a proof.",
        ),
        (
            body.clone(),
            "Issuing verifiable credentials is not supported by this server.",
        ),
    ] {
        let r = post(at, &body).await.unwrap();
        assert_eq!(r.status(), 400);
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"], "invalid_request");
        let description = e["error_description"].as_str().unwrap();
        assert!(description.ends_with(hint), "{description}");
    }
    env.finish().await;
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

/// fosite's newAuthorizeRequest order (scope, audience, `registration`, the client's response
/// types, state) and then its handlers' (insecure redirect, grant types, nonce, PKCE, query
/// mode), each with fosite's hint; Hydra outside development mode refuses plain http redirects
/// to anything but localhost for the code flow.
async fn authorize_checks_run_in_fosites_order_with_its_hints(backend: Backend) {
    let env = start_with(backend, |c| {
        c.dev = false;
        c.oauth2.oauth2.pkce.enforced_for_public_clients = Some(true);
    })
    .await;
    let client = env
        .create_client(json!({
            "redirect_uris": ["https://rp.example/cb", "http://rp.example/cb", "http://app.localhost/cb"],
            "scope": "openid", "grant_types": ["implicit"], "token_endpoint_auth_method": "none",
            "response_types": ["code", "token", "id_token token", "code token"],
        }))
        .await;
    let client_id = client["client_id"].as_str().unwrap().to_string();
    // the usual parameters, each overridden by `set` (an empty value leaves it out)
    let url = |set: &[(&str, &str)]| {
        let mut params: Vec<(&str, &str)> = vec![
            ("client_id", &client_id),
            ("response_type", "code"),
            ("scope", "openid"),
            ("redirect_uri", "https://rp.example/cb"),
            ("state", "state-12345678"),
        ];
        for (k, v) in set {
            params.retain(|(pk, _)| pk != k);
            params.push((k, v));
        }
        params.retain(|(_, v)| !v.is_empty());
        auth_url_with(&env, &params)
    };
    let challenge = "x".repeat(43);
    let s256 = [
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let and_s256 = |more: &[(&'static str, &'static str)]| {
        let mut all = s256.to_vec();
        all.extend_from_slice(more);
        url(&all)
    };

    // a scope the client may not have beats a short state and the missing code_challenge
    let (e, d) = client_error(&env, &url(&[("scope", "admin"), ("state", "short")])).await;
    assert_eq!(e, "invalid_scope", "{d}");
    // the client's response types before the state
    let (e, d) = client_error(&env, &url(&[("response_type", "id_token"), ("state", "x")])).await;
    assert_eq!(e, "unsupported_response_type");
    assert!(
        d.ends_with("The client is not allowed to request response_type 'id_token'."),
        "{d}"
    );
    let (e, d) = client_error(&env, &url(&[("response_type", "")])).await;
    assert_eq!(e, "unsupported_response_type");
    assert!(
        d.ends_with("`The request is missing the 'response_type' parameter."),
        "{d}"
    );
    // the state counts bytes, as Go's len does, and its hint is fosite's
    let (e, d) = client_error(&env, &url(&[("state", "ab\u{e9}")])).await;
    assert_eq!(e, "invalid_state");
    assert!(d.ends_with("Request parameter 'state' must be at least be 8 characters long to ensure sufficient entropy."), "{d}");
    let to = first_redirect(&env, &and_s256(&[("state", "\u{e9}\u{e9}\u{e9}\u{e9}")])).await;
    assert!(
        query_param(&to, "login_challenge").is_some(),
        "8 bytes: {to}"
    );
    // a public client must send a code_challenge, and only S256 is accepted
    let (e, d) = client_error(&env, &url(&[])).await;
    assert_eq!(e, "invalid_request");
    assert!(d.ends_with("This client must include a code_challenge when performing the authorize code flow, but it is missing."), "{d}");
    let (_, d) = client_error(&env, &url(&[("code_challenge", &challenge)])).await;
    assert!(
        d.ends_with("Clients must use code_challenge_method=S256, plain is not allowed."),
        "{d}"
    );
    let (_, d) = client_error(
        &env,
        &url(&[
            ("code_challenge", &challenge),
            ("code_challenge_method", "S512"),
        ]),
    )
    .await;
    assert!(
        d.ends_with("The code_challenge_method is not supported, use S256 instead."),
        "{d}"
    );
    // plain http to anything but localhost is refused outside development mode
    let (e, d) = client_error(&env, &and_s256(&[("redirect_uri", "http://rp.example/cb")])).await;
    assert_eq!(e, "invalid_request");
    assert!(d.ends_with("Redirect URL is using an insecure protocol, http is only allowed for hosts with suffix 'localhost', for example: http://myapp.localhost/."), "{d}");
    let to = first_redirect(
        &env,
        &and_s256(&[("redirect_uri", "http://app.localhost/cb")]),
    )
    .await;
    assert!(
        query_param(&to, "login_challenge").is_some(),
        "localhost is fine: {to}"
    );
    // the plain code flow checks the grant type only at the token endpoint
    let to = first_redirect(&env, &and_s256(&[])).await;
    assert!(query_param(&to, "login_challenge").is_some(), "{to}");
    // the hybrid flow checks it here; then the query mode's safety
    let (e, d) = client_error(&env, &and_s256(&[("response_type", "code token")])).await;
    assert_eq!(e, "invalid_grant");
    assert!(
        d.ends_with(
            "The OAuth 2.0 Client is not allowed to use authorization grant 'authorization_code'."
        ),
        "{d}"
    );
    let (e, d) = client_error(
        &env,
        &url(&[("response_type", "token"), ("response_mode", "query")]),
    )
    .await;
    assert_eq!(e, "unsupported_response_mode");
    assert!(
        d.ends_with("Insecure response_mode 'query' for the response_type '[token]'."),
        "{d}"
    );
    env.finish().await;
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

/// fosite's authorization_code, PKCE and refresh_token handlers: unknown and expired codes and
/// tokens are a bare invalid_grant, a used code says so and revokes, the redirect_uri must be
/// the same, the verifier's length and alphabet are checked before the challenge, a reused
/// refresh token is a bare token_inactive, and a refresh re-checks the granted scopes
/// against the client's current ones.
async fn code_and_refresh_grants_answer_with_fosites_hints(backend: Backend) {
    let env = start(backend).await;
    let client = env
        .create_client(json!({
            "redirect_uris": ["https://rp.example/cb"], "scope": "openid offline_access",
            "grant_types": ["authorization_code", "refresh_token"],
        }))
        .await;
    let bare = "The provided authorization grant (e.g., authorization code, resource owner credentials) or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.";
    let ac = "authorization_code";
    let cb = ("redirect_uri", "https://rp.example/cb");
    let (e, d) = token_error(
        &env,
        &client,
        &[("grant_type", ac), ("code", "ory_ac_nope.nope"), cb],
    )
    .await;
    assert_eq!((e.as_str(), d.as_str()), ("invalid_grant", bare));

    // PKCE: length, alphabet, then the challenge; a verifier with no challenge fails it too
    let verifier = "v".repeat(43);
    let challenge = {
        use base64::Engine;
        use sha2::Digest;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(verifier.as_bytes()))
    };
    let code = code_for(&env, &client, Some(&challenge)).await;
    let (long, odd, wrong) = (
        "x".repeat(129),
        format!("{}!", "x".repeat(43)),
        "w".repeat(43),
    );
    for (v, hint) in [
        (
            "short",
            "The PKCE code verifier must be at least 43 characters.",
        ),
        (
            long.as_str(),
            "The PKCE code verifier can not be longer than 128 characters.",
        ),
        (
            odd.as_str(),
            "The PKCE code verifier must only contain [a-Z], [0-9], '-', '.', '_', '~'.",
        ),
        (
            wrong.as_str(),
            "The PKCE code challenge did not match the code verifier.",
        ),
    ] {
        let form = [
            ("grant_type", ac),
            ("code", code.as_str()),
            cb,
            ("code_verifier", v),
        ];
        let (e, d) = token_error(&env, &client, &form).await;
        assert_eq!(e, "invalid_grant");
        assert!(d.ends_with(hint), "{v}: {d}");
    }
    let other = [
        ("grant_type", ac),
        ("code", code.as_str()),
        ("redirect_uri", "https://rp.example/other"),
        ("code_verifier", verifier.as_str()),
    ];
    let (_, d) = token_error(&env, &client, &other).await;
    assert!(d.ends_with("The 'redirect_uri' from this request does not match the one from the authorize request."), "{d}");
    let plain = code_for(&env, &client, None).await;
    let (_, d) = token_error(
        &env,
        &client,
        &[
            ("grant_type", ac),
            ("code", plain.as_str()),
            cb,
            ("code_verifier", verifier.as_str()),
        ],
    )
    .await;
    assert!(
        d.ends_with("The PKCE code challenge did not match the code verifier."),
        "{d}"
    );

    // a used code says so
    let exchange = [
        ("grant_type", ac),
        ("code", code.as_str()),
        cb,
        ("code_verifier", verifier.as_str()),
    ];
    let r = env
        .http
        .post(format!("{}/oauth2/token", env.public))
        .basic_auth(
            client["client_id"].as_str().unwrap(),
            client["client_secret"].as_str(),
        )
        .form(&exchange)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    let (e, d) = token_error(&env, &client, &exchange).await;
    assert_eq!(e, "invalid_grant");
    assert!(
        d.ends_with("The authorization code has already been used."),
        "{d}"
    );

    // refresh: unknown is bare; a refresh after the client lost a granted scope is invalid_scope
    let rt = "refresh_token";
    let (e, d) = token_error(
        &env,
        &client,
        &[("grant_type", rt), (rt, "ory_rt_nope.nope")],
    )
    .await;
    assert_eq!((e.as_str(), d.as_str()), ("invalid_grant", bare));
    let code = code_for(&env, &client, None).await;
    let r = env
        .http
        .post(format!("{}/oauth2/token", env.public))
        .basic_auth(
            client["client_id"].as_str().unwrap(),
            client["client_secret"].as_str(),
        )
        .form(&[("grant_type", ac), ("code", code.as_str()), cb])
        .send()
        .await
        .unwrap();
    let fresh: Value = r.json().await.unwrap();
    let refresh = fresh[rt].as_str().unwrap().to_string();
    let id = client["client_id"].as_str().unwrap();
    let r = env
        .http
        .patch(format!("{}/admin/clients/{id}", env.admin))
        .json(&json!([{"op": "replace", "path": "/scope", "value": "offline_access"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (e, d) = token_error(&env, &client, &[("grant_type", rt), (rt, refresh.as_str())]).await;
    assert_eq!(e, "invalid_scope");
    assert!(
        d.ends_with("The OAuth 2.0 Client is not allowed to request scope 'openid'."),
        "{d}"
    );
    // the refresh token of the first exchange was revoked with its code's reuse: token_inactive
    // carries no hint
    let first = tokens[rt].as_str().unwrap();
    let (e, d) = token_error(&env, &client, &[("grant_type", rt), (rt, first)]).await;
    assert_eq!(e, "token_inactive", "{d}");
    assert_eq!(d, "Token is inactive because it is malformed, expired or otherwise invalid. Token validation failed.");
    env.finish().await;
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

/// client_credentials reuses the client an instance read before (its token is stored only if
/// the client's row is unchanged): a scope taken away, a secret rotated, a client deleted or
/// deleted and recreated under the same id — each on the other instance — count on the next
/// request here, and a token answered from the reused copy is stored and introspectable.
async fn client_changes_on_another_instance_take_effect_at_once(backend: Backend) {
    let (a, b, _dir) = start_two(backend).await;
    let c = a
        .create_client(json!({"client_id": "shared-client", "client_secret": "first-secret-0123456789", "grant_types": ["client_credentials"], "scope": "read write"}))
        .await;
    let id = c["client_id"].as_str().unwrap();
    for _ in 0..3 {
        let (status, t) = cc_token(&a, id, "first-secret-0123456789", "read write").await;
        assert_eq!(status, 200, "{t}");
        let i = b.introspect(t["access_token"].as_str().unwrap()).await;
        assert_eq!(i["active"], true, "a token answered is a token stored: {i}");
    }

    // A scope taken away on the other instance.
    let mut narrowed = c.clone();
    narrowed["scope"] = json!("read");
    assert_eq!(put_client(&b, id, &narrowed).await, 200);
    let (status, t) = cc_token(&a, id, "first-secret-0123456789", "read write").await;
    assert_eq!(
        (status, t["error"].as_str()),
        (400, Some("invalid_scope")),
        "{t}"
    );
    let (status, _) = cc_token(&a, id, "first-secret-0123456789", "read").await;
    assert_eq!(status, 200);

    // The secret rotated on the other instance.
    narrowed["client_secret"] = json!("second-secret-0123456789");
    assert_eq!(put_client(&b, id, &narrowed).await, 200);
    let (status, t) = cc_token(&a, id, "first-secret-0123456789", "read").await;
    assert_eq!(
        (status, t["error"].as_str()),
        (401, Some("invalid_client")),
        "{t}"
    );
    for _ in 0..2 {
        let (status, t) = cc_token(&a, id, "second-secret-0123456789", "read").await;
        assert_eq!(status, 200, "{t}");
    }

    // Deleted and recreated under the same id (same secret, another scope) while this
    // instance still holds the old client: the old copy must not pass for the new one.
    assert_eq!(delete_client(&b, id).await, 204);
    b.create_client(json!({"client_id": id, "client_secret": "second-secret-0123456789", "grant_types": ["client_credentials"], "scope": "write"}))
        .await;
    let (status, t) = cc_token(&a, id, "second-secret-0123456789", "read").await;
    assert_eq!(
        (status, t["error"].as_str()),
        (400, Some("invalid_scope")),
        "{t}"
    );
    let (status, t) = cc_token(&a, id, "second-secret-0123456789", "write").await;
    assert_eq!(status, 200, "{t}");

    // Deleted on the other instance.
    assert_eq!(delete_client(&b, id).await, 204);
    for _ in 0..2 {
        let (status, t) = cc_token(&a, id, "second-secret-0123456789", "write").await;
        assert_eq!(
            (status, t["error"].as_str()),
            (401, Some("invalid_client")),
            "{t}"
        );
    }

    b.finish().await;
    a.finish().await;
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

/// fosite reads these bodies as Go's `ParseMultipartForm`: a form or a multipart body counts,
/// any other content type (JSON, none) is an empty body, a multipart body without a boundary
/// is unparsable, and pairs Go's `url.ParseQuery` refuses (bad escapes, `;`) are left out.
async fn token_revoke_and_introspect_read_bodies_as_fosite(backend: Backend) {
    let env = start(backend).await;
    let c = env
        .create_client(json!({"grant_types": ["client_credentials"], "scope": "read write"}))
        .await;
    let auth = Some((
        c["client_id"].as_str().unwrap(),
        c["client_secret"].as_str().unwrap(),
    ));
    let token_url = format!("{}/oauth2/token", env.public);
    let empty = "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed. The POST body can not be empty.";
    let unparsable = "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed. Unable to parse HTTP body, make sure to send a properly formatted form request body.";

    for ct in [Some("application/json"), None, Some("text/plain")] {
        let (status, e) = post_raw(
            &env,
            token_url.clone(),
            ct,
            r#"{"grant_type":"client_credentials"}"#.into(),
            auth,
        )
        .await;
        assert_eq!(
            (status, e["error"].as_str()),
            (400, Some("invalid_request")),
            "{ct:?}: {e}"
        );
        assert_eq!(e["error_description"], empty, "{ct:?}");
    }
    let form = "grant_type=client_credentials&scope=read+write";
    let (status, e) = post_raw(&env, token_url.clone(), None, form.into(), auth).await;
    assert_eq!(
        (status, e["error_description"].as_str()),
        (400, Some(empty)),
        "{e}"
    );

    let body = multipart(
        "xYzZY",
        &[
            ("grant_type", "client_credentials"),
            ("scope", "read write"),
        ],
    );
    let (status, t) = post_raw(
        &env,
        token_url.clone(),
        Some("multipart/form-data; boundary=xYzZY"),
        body.clone(),
        auth,
    )
    .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["scope"], "read write");
    let at = t["access_token"].as_str().unwrap().to_string();
    let (status, e) = post_raw(
        &env,
        token_url.clone(),
        Some("multipart/form-data"),
        body,
        auth,
    )
    .await;
    assert_eq!(
        (status, e["error_description"].as_str()),
        (400, Some(unparsable)),
        "{e}"
    );

    // Go leaves out a pair with a bad escape or a semicolon; the rest of the form counts.
    let (status, t) = post_raw(
        &env,
        token_url.clone(),
        Some("Application/X-WWW-Form-Urlencoded; charset=utf-8"),
        "grant_type=client_credentials&scope=read&scope=%zz&scope=write;x".into(),
        auth,
    )
    .await;
    assert_eq!((status, t["scope"].as_str()), (200, Some("read")), "{t}");

    // Introspection: a multipart body counts, JSON is an empty body.
    let introspect_url = format!("{}/admin/oauth2/introspect", env.admin);
    let body = multipart("b0undary", &[("token", &at)]);
    let (status, i) = post_raw(
        &env,
        introspect_url.clone(),
        Some("multipart/form-data; boundary=b0undary"),
        body,
        None,
    )
    .await;
    assert_eq!((status, i["active"].as_bool()), (200, Some(true)), "{i}");
    let (status, e) = post_raw(
        &env,
        introspect_url,
        Some("application/json"),
        format!(r#"{{"token":"{at}"}}"#),
        None,
    )
    .await;
    assert_eq!(
        (status, e["error_description"].as_str()),
        (400, Some(empty)),
        "{e}"
    );

    // Revocation: JSON is an empty body (fosite's bare invalid_request); multipart revokes.
    let revoke_url = format!("{}/oauth2/revoke", env.public);
    let (status, e) = post_raw(
        &env,
        revoke_url.clone(),
        Some("application/json"),
        format!(r#"{{"token":"{at}"}}"#),
        auth,
    )
    .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("invalid_request")),
        "{e}"
    );
    assert_eq!(env.introspect(&at).await["active"], true);
    let body = multipart("r3voke", &[("token", &at)]);
    let (status, _) = post_raw(
        &env,
        revoke_url,
        Some("multipart/form-data; boundary=r3voke"),
        body,
        auth,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(env.introspect(&at).await["active"], false);
    env.finish().await;
}

async fn get_userinfo(env: &Env, token: Option<&str>) -> reqwest::Response {
    let mut req = env.http.get(format!("{}/userinfo", env.public));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

/// Hydra's `getOidcUserInfo`: the grant's ID-token claims (no `nonce`, `sid`, `at_hash`,
/// `exp`, `jti`), signed with the ID-token key for an `RS256` client; fosite's introspection
/// errors with a `WWW-Authenticate` challenge; a refresh token refused; a client_credentials
/// token answered with `iss`, `aud` and `iat` only.
async fn userinfo_answers_as_hydra(backend: Backend) {
    let env = start(backend).await;
    let mut jar = BTreeMap::new();
    let plain = env
        .create_client(json!({"redirect_uris": ["https://rp.example/cb"], "scope": "openid offline_access", "grant_types": ["authorization_code", "refresh_token"]}))
        .await;
    let tokens = code_flow_tokens(&env, &plain, &mut jar, "openid offline_access").await;
    let r = get_userinfo(&env, tokens["access_token"].as_str()).await;
    assert_eq!(r.status(), 200);
    let claims: Value = r.json().await.unwrap();
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["acr"], "1");
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(claims["aud"], json!([plain["client_id"]]));
    for absent in ["nonce", "sid", "at_hash", "c_hash", "exp", "jti"] {
        assert!(claims.get(absent).is_none(), "{absent}: {claims}");
    }

    // A refresh token is not an access token.
    let r = get_userinfo(&env, tokens["refresh_token"].as_str()).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\",error_description=\"Only access tokens are allowed in the authorization header.\""
    );

    // No token, an unknown one: fosite's request_unauthorized with its default hint.
    let unknown = "ory_at_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    for token in [None, Some(unknown)] {
        let r = get_userinfo(&env, token).await;
        assert_eq!(r.status(), 401);
        let described = "The request could not be authorized. Check that you provided valid credentials in the right format.";
        assert_eq!(
            r.headers()["www-authenticate"].to_str().unwrap(),
            format!("Bearer error=\"request_unauthorized\",error_description=\"{described}\"")
        );
        let e: Value = r.json().await.unwrap();
        assert_eq!(
            e,
            json!({"error": "request_unauthorized", "error_description": described})
        );
    }

    // Signed userinfo (RS256): a JWT under the ID-token key, with a fresh jti.
    let signed = env
        .create_client(json!({"redirect_uris": ["https://rp.example/cb"], "scope": "openid", "userinfo_signed_response_alg": "RS256"}))
        .await;
    let tokens = code_flow_tokens(&env, &signed, &mut jar, "openid").await;
    let r = get_userinfo(&env, tokens["access_token"].as_str()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/jwt");
    let jwt = r.text().await.unwrap();
    let kid = {
        let header = jwt_claims(&format!("x.{}", jwt.split('.').next().unwrap()));
        header["kid"].as_str().unwrap().to_string()
    };
    let key = published_keys(&env)
        .await
        .into_iter()
        .find(|k| k.key_id() == Some(kid.as_str()))
        .expect("the userinfo JWT's key is published");
    let verifier = josekit::jws::RS256.verifier_from_jwk(&key).unwrap();
    let (payload, _) = josekit::jwt::decode_with_verifier(&jwt, &verifier).unwrap();
    assert_eq!(payload.subject(), Some("alice"));
    assert!(payload.jwt_id().is_some());
    assert!(payload.claim("nonce").is_none());

    // client_credentials: no end-user, so no sub; an expired token is fosite's invalid_token.
    let machine = env
        .create_client(json!({"grant_types": ["client_credentials"], "scope": "read", "client_credentials_grant_access_token_lifespan": "1s"}))
        .await;
    let (id, secret) = (
        machine["client_id"].as_str().unwrap(),
        machine["client_secret"].as_str().unwrap(),
    );
    let (status, t) = cc_token(&env, id, secret, "read").await;
    assert_eq!(status, 200, "{t}");
    let at = t["access_token"].as_str().unwrap();
    let claims: Value = get_userinfo(&env, Some(at)).await.json().await.unwrap();
    assert_eq!(claims["aud"], json!([id]), "{claims}");
    assert!(claims.get("sub").is_none(), "{claims}");
    assert!(
        claims["iss"].is_string() && claims["iat"].is_i64(),
        "{claims}"
    );
    env.hand.advance(std::time::Duration::from_millis(2100));
    let r = get_userinfo(&env, Some(at)).await;
    assert_eq!(r.status(), 401);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "invalid_token");
    let d = e["error_description"].as_str().unwrap();
    assert!(
        d.starts_with("Token expired. Access token expired at '20") && d.ends_with(" +0000 UTC'."),
        "{d}"
    );
    env.finish().await;
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

/// Hydra's `oauth2.token_hook` (with an API key header) and the legacy
/// `oauth2.refresh_token_hook` (a bare URL): the hook sees Hydra's session and request, its 200
/// replaces the access token's and the ID token's extra claims, 204 keeps them, 403 refuses the
/// tokens with access_denied and leaves the code usable, a 500 is retried, anything else is a
/// server_error; on a refresh the legacy hook runs first and the token hook sees its claims.
async fn token_hooks_shape_claims_as_hydras(backend: Backend) {
    let (hooks, mut calls, server) = token_hook_server().await;
    let env = start_with(backend, |c| {
        c.oauth2.oauth2.token_hook = Some(
            serde_json::from_value(json!({"url": format!("{hooks}/token"),
                "auth": {"type": "api_key", "config": {"in": "header", "name": "X-Api-Key", "value": "hook-key-1"}}}))
            .unwrap(),
        );
        c.oauth2.oauth2.refresh_token_hook =
            Some(serde_json::from_value(json!(format!("{hooks}/refresh"))).unwrap());
    })
    .await;
    let cc_client = |id: &str| json!({"client_id": id, "client_secret": "hook-secret-0123456789", "grant_types": ["client_credentials"], "scope": "read"});
    for id in ["enrich-cc", "keep-cc", "deny-cc", "broken-cc", "flaky-cc"] {
        env.create_client(cc_client(id)).await;
    }

    // client_credentials: the hook's claims are the token's `ext`, on every request.
    for _ in 0..2 {
        let (status, token) = cc_token(&env, "enrich-cc", "hook-secret-0123456789", "read").await;
        assert_eq!(status, 200, "{token}");
        let info = env
            .introspect(token["access_token"].as_str().unwrap())
            .await;
        assert_eq!(
            info["ext"],
            json!({"tenant": "t1", "seen_extra": {}}),
            "{info}"
        );
        let (path, headers, body) = next_hook_call(&mut calls);
        assert_eq!(path, "/token");
        assert_eq!(headers["x-api-key"], "hook-key-1");
        assert_eq!(headers["content-type"], "application/json; charset=UTF-8");
        assert_eq!(
            body["request"],
            json!({"client_id": "enrich-cc", "granted_scopes": ["read"], "granted_audience": [],
                   "grant_types": ["client_credentials"], "payload": {}})
        );
        assert_eq!(body["session"]["client_id"], "enrich-cc");
        assert_eq!(body["session"]["id_token"]["subject"], "enrich-cc");
        assert_eq!(body["session"]["extra"], json!({}));
    }
    let (status, token) = cc_token(&env, "keep-cc", "hook-secret-0123456789", "read").await;
    assert_eq!(status, 200);
    let info = env
        .introspect(token["access_token"].as_str().unwrap())
        .await;
    assert_eq!(info["active"], true);
    assert!(info.get("ext").is_none(), "{info}");
    next_hook_call(&mut calls);
    for (client, status, error) in [
        ("deny-cc", 403, "access_denied"),
        ("broken-cc", 500, "server_error"),
    ] {
        let answer = cc_token(&env, client, "hook-secret-0123456789", "read").await;
        let description = "The token hook target responded with an error.";
        assert_eq!(
            answer,
            (
                status,
                json!({"error": error, "error_description": description})
            )
        );
        next_hook_call(&mut calls);
    }
    // A 500 is retried (after 1 s, as Hydra's HTTP client) and the second answer counts.
    let (status, token) = cc_token(&env, "flaky-cc", "hook-secret-0123456789", "read").await;
    assert_eq!(status, 200, "{token}");
    next_hook_call(&mut calls);
    next_hook_call(&mut calls);
    assert!(calls.try_recv().is_err());

    // authorization_code: the consent's claims go to the hook, its answer replaces them.
    let code_client = |id: &str| {
        json!({"client_id": id, "client_secret": "hook-secret-0123456789",
        "redirect_uris": ["https://rp.example/cb"], "scope": "openid offline_access",
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"]})
    };
    let enrich = env.create_client(code_client("enrich-code")).await;
    let consent_session =
        json!({"access_token": {"from_consent": 1}, "id_token": {"from_consent_id": 2}});
    let exchange = |client: Value, code: String| {
        let env = &env;
        async move {
            let r = env.exchange_code(&client, &code).await;
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let code_of = |client: Value| {
        let env = &env;
        let session = consent_session.clone();
        async move {
            let start = auth_url_with(
                env,
                &[
                    ("client_id", client["client_id"].as_str().unwrap()),
                    ("response_type", "code"),
                    ("scope", "openid offline_access"),
                    ("redirect_uri", "https://rp.example/cb"),
                    ("state", "state-12345678"),
                    ("nonce", "nonce-12345678"),
                ],
            );
            let done = browse(env, &start, &mut BTreeMap::new(), session).await;
            query_param(&done, "code").unwrap_or_else(|| panic!("{done}"))
        }
    };
    let (status, tokens) = exchange(enrich.clone(), code_of(enrich.clone()).await).await;
    assert_eq!(status, 200, "{tokens}");
    let (_, _, body) = next_hook_call(&mut calls);
    assert_eq!(
        body["request"]["grant_types"],
        json!(["authorization_code"])
    );
    assert_eq!(
        body["request"]["granted_scopes"],
        json!(["openid", "offline_access"])
    );
    let session = &body["session"];
    assert_eq!(session["extra"], json!({"from_consent": 1}));
    let claims = &session["id_token"]["id_token_claims"];
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], json!(["enrich-code"]));
    assert_eq!(claims["nonce"], "nonce-12345678");
    assert_eq!(claims["acr"], "1");
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(claims["ext"]["from_consent_id"], 2);
    assert!(
        claims["ext"]["sid"].as_str().is_some_and(|s| !s.is_empty()),
        "{claims}"
    );
    let id_token = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["email"], "alice@example.com");
    // Hydra replaces the ID token's extras whole: the consent's claim and `sid` are gone.
    assert!(
        id_token.get("from_consent_id").is_none() && id_token.get("sid").is_none(),
        "{id_token}"
    );
    assert_eq!(id_token["nonce"], "nonce-12345678");
    let info = env
        .introspect(tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(
        info["ext"],
        json!({"tenant": "t1", "seen_extra": {"from_consent": 1}})
    );

    // refresh: the legacy hook first (its own body), then the token hook with its claims.
    let r = env
        .http
        .post(format!("{}/oauth2/token", env.public))
        .basic_auth("enrich-code", Some("hook-secret-0123456789"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let refreshed: Value = r.json().await.unwrap();
    let (path, headers, body) = next_hook_call(&mut calls);
    assert_eq!(path, "/refresh");
    assert!(headers.get("x-api-key").is_none());
    assert_eq!(body["subject"], "alice");
    assert_eq!(body["client_id"], "enrich-code");
    assert_eq!(body["requester"]["grant_types"], json!(["refresh_token"]));
    assert_eq!(
        body["session"]["extra"],
        json!({"tenant": "t1", "seen_extra": {"from_consent": 1}})
    );
    let (path, _, body) = next_hook_call(&mut calls);
    assert_eq!(path, "/token");
    assert_eq!(body["request"]["grant_types"], json!(["refresh_token"]));
    assert_eq!(body["session"]["extra"], json!({"refreshed": true}));
    assert_eq!(
        body["session"]["id_token"]["id_token_claims"]["ext"],
        json!({"refreshed_id": true})
    );
    let info = env
        .introspect(refreshed["access_token"].as_str().unwrap())
        .await;
    assert_eq!(
        info["ext"],
        json!({"tenant": "t1", "seen_extra": {"refreshed": true}})
    );

    // A refused exchange leaves the code unspent: the same code works once the hook allows it.
    let deny_once = env.create_client(code_client("deny-once-code")).await;
    let code = code_of(deny_once.clone()).await;
    let (status, e) = exchange(deny_once.clone(), code.clone()).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (403, Some("access_denied")),
        "{e}"
    );
    let (status, tokens) = exchange(deny_once.clone(), code.clone()).await;
    assert_eq!(status, 200, "{tokens}");
    // 204 kept the consent's claims.
    let info = env
        .introspect(tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(info["ext"], json!({"from_consent": 1}));
    let id_token = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["from_consent_id"], 2);
    assert!(id_token["sid"].as_str().is_some());
    let (status, _) = exchange(deny_once, code).await;
    assert_eq!(status, 400, "a spent code stays spent");

    server.abort();
    env.finish().await;
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

/// Hydra's `serve.public.cors` with its OAuth2-aware middleware: an empty origin list allows
/// every origin; with a list, a request to the token, revocation, userinfo, discovery or JWKS
/// endpoint is also allowed the origins of the client it names (`client_id` in the form, basic
/// auth, or the bearer token's client), as gobwas globs; preflights follow the list only.
async fn clients_allow_their_cors_origins_as_hydra(backend: Backend) {
    let cors = |origins: Option<Vec<String>>| quartet::config::CorsConfig {
        enabled: true,
        allowed_origins: origins,
        ..Default::default()
    };
    let env = start_with(backend, |c| {
        c.oauth2.serve.public.cors = Some(cors(Some(vec!["https://listed.example".into()])));
    })
    .await;
    let client = env
        .create_client(
            json!({"client_id": "spa-backend", "client_secret": "cors-secret-0123456789",
            "grant_types": ["client_credentials"], "scope": "read",
            "token_endpoint_auth_method": "client_secret_post",
            "allowed_cors_origins": ["https://*.spa.example"]}),
        )
        .await;
    assert_eq!(
        client["allowed_cors_origins"],
        json!(["https://*.spa.example"])
    );
    let token_from = |origin: &'static str, id: &'static str| {
        env.http
            .post(format!("{}/oauth2/token", env.public))
            .header("origin", origin)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", "cors-secret-0123456789"),
            ])
            .send()
    };
    // client_id in the form: the client's origin is allowed, and the body still reaches the
    // token endpoint.
    let r = token_from("https://app.spa.example", "spa-backend")
        .await
        .unwrap();
    assert_eq!(cors_of(&r), echoed("https://app.spa.example"));
    let exposed = r.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap();
    assert!(
        exposed.to_ascii_lowercase().contains("cache-control"),
        "{exposed}"
    );
    let token: Value = r.json().await.unwrap();
    let access = token["access_token"].as_str().unwrap().to_string();
    // `*` stays within one DNS label; an unknown client allows nothing (and still gets its error).
    let r = token_from("https://a.b.spa.example", "spa-backend")
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), cors_of(&r).0), (200, None));
    let r = token_from("https://app.spa.example", "nobody")
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), cors_of(&r).0), (401, None));
    // The listener's own list, for anyone.
    let r = token_from("https://listed.example", "nobody")
        .await
        .unwrap();
    assert_eq!(cors_of(&r).0.as_deref(), Some("https://listed.example"));
    // Basic auth names the client too; so does a bearer token at userinfo.
    let r = env
        .http
        .post(format!("{}/oauth2/revoke", env.public))
        .header("origin", "https://app.spa.example")
        .basic_auth("spa-backend", Some("wrong-but-named"))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(cors_of(&r).0.as_deref(), Some("https://app.spa.example"));
    let r = env
        .http
        .get(format!("{}/userinfo", env.public))
        .header("origin", "https://app.spa.example")
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status().as_u16(), cors_of(&r).0.as_deref()),
        (200, Some("https://app.spa.example"))
    );
    // Without credentials there is no client to ask; preflights follow the list only.
    let r = env
        .http
        .get(format!("{}/.well-known/openid-configuration", env.public))
        .header("origin", "https://app.spa.example")
        .send()
        .await
        .unwrap();
    assert_eq!(cors_of(&r).0, None);
    let r = env
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/oauth2/token", env.public),
        )
        .header("origin", "https://app.spa.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(cors_of(&r).0, None);
    // Other public endpoints are not OAuth2-aware.
    let r = env
        .http
        .post(format!("{}/oauth2/register", env.public))
        .header("origin", "https://app.spa.example")
        .basic_auth("spa-backend", Some("cors-secret-0123456789"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(cors_of(&r).0, None);
    env.finish().await;

    // Enabled without a list: every origin, as `*` (Hydra's CORS library reads an empty list
    // so) and without credentials — never an echoed origin that any site could use with the
    // user's cookies.
    let env = start_with(backend, |c| c.oauth2.serve.public.cors = Some(cors(None))).await;
    let r = env
        .http
        .get(format!("{}/.well-known/jwks.json", env.public))
        .header("origin", "https://anywhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(cors_of(&r).0.as_deref(), Some("*"));
    assert_eq!(cors_of(&r).1, None);
    env.finish().await;
}

/// `oauth2.hashers.algorithm: bcrypt` (`bcrypt.cost`) hashes new client secrets with bcrypt,
/// which refuses secrets over 72 bytes (a 400 naming the limit) instead of reading only their
/// start; a stored hash verifies by its own format, so an instance on PBKDF2 and one on bcrypt
/// sharing a database authenticate each other's clients.
async fn client_secrets_hash_with_the_configured_algorithm(backend: Backend) {
    let (pbkdf2, bcrypt, _dir) = start_two_with(backend, |c| {
        c.oauth2.oauth2.hashers.algorithm = Some("bcrypt".into());
        c.oauth2.oauth2.hashers.bcrypt.cost = Some(4);
    })
    .await;
    let client = |id: &str, secret: &str| json!({"client_id": id, "client_secret": secret, "grant_types": ["client_credentials"], "scope": "read"});
    let at_limit = "s".repeat(72);
    let over_limit = "s".repeat(73);
    pbkdf2
        .create_client(client("made-on-pbkdf2", "pbkdf2-secret-0123456789"))
        .await;
    bcrypt
        .create_client(client("made-on-bcrypt", &at_limit))
        .await;
    for env in [&pbkdf2, &bcrypt] {
        let (status, body) =
            cc_token(env, "made-on-pbkdf2", "pbkdf2-secret-0123456789", "read").await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = cc_token(env, "made-on-bcrypt", &at_limit, "read").await;
        assert_eq!(status, 200, "{body}");
        // bcrypt never sees past byte 72: a longer secret with the same start is wrong.
        let (status, body) = cc_token(env, "made-on-bcrypt", &over_limit, "read").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );
    }
    let r = bcrypt
        .http
        .post(format!("{}/admin/clients", bcrypt.admin))
        .json(&client("too-long", &over_limit))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .contains("longer than 72 bytes"),
        "{e}"
    );
    // PBKDF2 takes any length.
    pbkdf2
        .create_client(client("long-on-pbkdf2", &over_limit))
        .await;
    bcrypt.finish().await;
    pbkdf2.finish().await;
}

/// `id_token_hint` at `/oauth2/auth` as Hydra and fosite: an ID token of this server (expired
/// ones count) whose subject is the login session's — as is, or as the client sees it
/// (pairwise) — or it is login_required before any UI; without a session its claims go to the
/// login UI in `oidc_context.id_token_hint_claims`, and the subject the flow ends with must be
/// the hint's (the ID token's subject) or it is login_required; a hint that is not our ID token
/// is invalid_request.
async fn id_token_hints_name_the_session_subject(backend: Backend) {
    let env = start_pairwise(backend).await;
    let pairwise = env
        .create_client(json!({"redirect_uris": ["https://rp.example/cb"], "scope": "openid", "subject_type": "pairwise"}))
        .await;
    let public = env
        .create_client(json!({"redirect_uris": ["https://rp.example/cb"], "scope": "openid"}))
        .await;
    let mut jar = BTreeMap::new();
    let public_hint = code_flow_tokens(&env, &public, &mut jar, "openid").await["id_token"]
        .as_str()
        .unwrap()
        .to_string();
    let pairwise_hint = code_flow_tokens(&env, &pairwise, &mut jar, "openid").await["id_token"]
        .as_str()
        .unwrap()
        .to_string();
    let obfuscated = jwt_claims(&pairwise_hint)["sub"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(obfuscated, "alice");
    let url = |client: &Value, hint: &str, prompt: &str| {
        let mut params = vec![
            ("client_id", client["client_id"].as_str().unwrap()),
            ("response_type", "code"),
            ("scope", "openid"),
            ("redirect_uri", "https://rp.example/cb"),
            ("state", "state-12345678"),
            ("nonce", "nonce-12345678"),
            ("id_token_hint", hint),
        ];
        if !prompt.is_empty() {
            params.push(("prompt", prompt));
        }
        auth_url_with(&env, &params)
    };
    let error_of = |done: &str| {
        (
            query_param(done, "error").unwrap_or_default(),
            query_param(done, "error_description").unwrap_or_default(),
        )
    };
    // The session's subject, as is or pairwise: prompt=none goes through.
    for (client, hint) in [(&public, &public_hint), (&pairwise, &pairwise_hint)] {
        let done = browse(
            &env,
            &url(client, hint, "none"),
            &mut jar.clone(),
            json!({}),
        )
        .await;
        assert!(query_param(&done, "code").is_some(), "{done}");
    }
    // Another subject than the session's: login_required before the login UI. The raw subject
    // passes that check, but where the client's ID token names another (pairwise), fosite's
    // prompt validation refuses at the end.
    for (client, hint, refusal) in [
        (
            &public,
            &pairwise_hint,
            "subject claim from id_token_hint does not match subject from authentication session.",
        ),
        (
            &pairwise,
            &public_hint,
            "does not match the current session's subject.",
        ),
    ] {
        let done = browse(
            &env,
            &url(client, hint, "none"),
            &mut jar.clone(),
            json!({}),
        )
        .await;
        let (error, description) = error_of(&done);
        assert_eq!(error, "login_required");
        assert!(description.ends_with(refusal), "{description}");
    }
    // Not an ID token of this server.
    let forged = unsigned_jwt(&json!({"sub": "alice", "iss": env.public}));
    for hint in [forged.as_str(), "not-a-jwt"] {
        let done = browse(&env, &url(&public, hint, ""), &mut jar.clone(), json!({})).await;
        let (error, description) = error_of(&done);
        assert_eq!(error, "invalid_request", "{done}");
        assert!(description.contains("id_token_hint"), "{description}");
    }
    // No session: the login UI sees the hint's claims; logging in as alice at the public
    // client ends the flow with a subject the pairwise hint does not name.
    let first = env
        .http
        .get(url(&public, &pairwise_hint, ""))
        .send()
        .await
        .unwrap();
    let challenge = query_param(
        first.headers()[LOCATION].to_str().unwrap(),
        "login_challenge",
    )
    .unwrap();
    let login: Value = env
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
    assert_eq!(login["skip"], false);
    assert_eq!(
        login["oidc_context"]["id_token_hint_claims"]["sub"],
        json!(obfuscated)
    );
    let done = browse(
        &env,
        &url(&public, &pairwise_hint, ""),
        &mut BTreeMap::new(),
        json!({}),
    )
    .await;
    assert_eq!(error_of(&done).0, "login_required", "{done}");

    // A login that forced the pairwise identifier: a later hint naming it matches the session
    // (Hydra's obfuscated authentication session), and the flow passes when the login UI
    // forces it again — as Hydra asks of the UI on every login.
    let forced = json!({"force_subject_identifier": "forced-alice-1"});
    let mut jar = BTreeMap::new();
    let done = browse_accepting(
        &env,
        &url(&pairwise, &public_hint, ""),
        &mut BTreeMap::new(),
        json!({}),
        json!({}),
    )
    .await;
    assert_eq!(error_of(&done).0, "login_required");
    let start = auth_url_with(
        &env,
        &[
            ("client_id", pairwise["client_id"].as_str().unwrap()),
            ("response_type", "code"),
            ("scope", "openid"),
            ("redirect_uri", "https://rp.example/cb"),
            ("state", "state-12345678"),
            ("nonce", "nonce-12345678"),
        ],
    );
    let done = browse_accepting(&env, &start, &mut jar, json!({}), forced.clone()).await;
    let code = query_param(&done, "code").unwrap_or_else(|| panic!("{done}"));
    let tokens: Value = env
        .exchange_code(&pairwise, &code)
        .await
        .json()
        .await
        .unwrap();
    let forced_hint = tokens["id_token"].as_str().unwrap().to_string();
    assert_eq!(jwt_claims(&forced_hint)["sub"], "forced-alice-1");
    let done = browse_accepting(
        &env,
        &url(&pairwise, &forced_hint, "none"),
        &mut jar.clone(),
        json!({}),
        forced,
    )
    .await;
    assert!(query_param(&done, "code").is_some(), "{done}");
    // Not forced again: the ID token's subject is the computed one, which the hint does not name.
    let done = browse(
        &env,
        &url(&pairwise, &forced_hint, "none"),
        &mut jar.clone(),
        json!({}),
    )
    .await;
    let (error, description) = error_of(&done);
    assert_eq!(error, "login_required");
    assert!(
        description.ends_with("does not match the current session's subject."),
        "{description}"
    );
    // The forced identifier belongs to its client: another client's session check refuses it.
    let done = browse(
        &env,
        &url(&public, &forced_hint, "none"),
        &mut jar.clone(),
        json!({}),
    )
    .await;
    assert!(
        error_of(&done)
            .1
            .ends_with("does not match subject from authentication session."),
        "{done}"
    );
    env.finish().await;
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

/// Hydra 2.2's `urls.identity_provider`: when a login session ends — a browser logout or the
/// admin API's headless logout by `sid` — the Kratos session its login accepted
/// (`identity_provider_session_id`) is disabled with `DELETE <url>/admin/sessions/<id>` and
/// the configured headers; a login without one, or a Kratos that is down, changes nothing.
async fn logouts_disable_the_identity_providers_session(backend: Backend) {
    let (kratos, mut calls, server) = kratos_admin_receiver().await;
    let env = start_with(backend, |c| {
        c.oauth2.urls.identity_provider.url = Some(kratos.clone());
        c.oauth2.urls.identity_provider.headers = BTreeMap::from([(
            "Authorization".to_string(),
            quartet::config::Secret::new("Bearer kratos-admin-token".to_string()),
        )]);
    })
    .await;
    let client = env
        .create_client(json!({"redirect_uris": ["https://rp.example/cb"], "scope": "openid"}))
        .await;
    let start = authorize_url(&env, &client, "code", &[]);

    // A browser logout (OP-initiated, by the session cookie).
    let jar = login_naming_kratos_session(&env, &start, "kratos-session-1").await;
    let r = env
        .http
        .get(format!("{}/oauth2/sessions/logout", env.public))
        .header(COOKIE, cookie_header(&jar))
        .send()
        .await
        .unwrap();
    let location = r.headers()[LOCATION].to_str().unwrap().to_string();
    let challenge =
        query_param(&location, "logout_challenge").unwrap_or_else(|| panic!("{location} {jar:?}"));
    let accepted: Value = env
        .http
        .put(format!(
            "{}/admin/oauth2/auth/requests/logout/accept?logout_challenge={challenge}",
            env.admin
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        calls.try_recv().is_err(),
        "nothing before the logout completes"
    );
    let r = env
        .http
        .get(accepted["redirect_to"].as_str().unwrap())
        .header(COOKIE, cookie_header(&jar))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    assert_eq!(
        calls.try_recv().unwrap(),
        (
            "DELETE".to_string(),
            "/admin/sessions/kratos-session-1".to_string(),
            "Bearer kratos-admin-token".to_string()
        )
    );

    // The headless logout by sid.
    let jar = login_naming_kratos_session(&env, &start, "kratos-session-2").await;
    let sid = login_session_id(&env, &start, &jar).await;
    assert_eq!(headless_logout(&env, &sid).await, 204);
    assert_eq!(
        calls.try_recv().unwrap().1,
        "/admin/sessions/kratos-session-2"
    );

    // Kratos down: the logout still succeeds (the failure is only logged).
    let jar = login_naming_kratos_session(&env, &start, "kratos-session-3").await;
    let sid = login_session_id(&env, &start, &jar).await;
    server.abort();
    let _ = server.await;
    assert_eq!(headless_logout(&env, &sid).await, 204);
    env.finish().await;
}
