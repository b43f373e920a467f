//! Logout: front- and back-channel logout, `id_token_hint`, and revoking the identity
//! provider's session.

use super::*;

on_every_backend!(
    front_and_back_channel_logout,
    id_token_hints_name_the_session_subject,
    logouts_disable_the_identity_providers_session,
);

async fn front_and_back_channel_logout(backend: Backend) {
    let env = start(backend).await;
    let (bc_url, mut rx, server) = backchannel_receiver().await;
    let rps = LogoutClients::create(&env, &bc_url).await;
    let mut login = one_browser_signs_in_to_three_clients_another_to_one(&env, &rps).await;
    let redirect_to =
        an_accepted_logout_serves_the_front_channel_page(&env, &mut login, &mut rx).await;
    let keys = published_keys(&env).await;
    the_back_channel_tells_the_sessions_clients(&mut rx, &keys, &login, &rps).await;
    the_logout_verifier_is_single_use(&env, &redirect_to).await;
    deleting_a_login_session_tells_its_clients(&env, &mut rx, &keys, &login, &rps).await;
    server.abort();
    env.finish().await;
}

type LogoutTokens = tokio::sync::mpsc::UnboundedReceiver<String>;

/// The relying parties of [`front_and_back_channel_logout`].
struct LogoutClients {
    /// Front- and back-channel logout, and a post-logout redirect.
    both: Value,
    back_only: Value,
    /// Its back-channel endpoint is down; that does not make the logout fail.
    down: Value,
    /// Signed in by another browser only.
    bystander: Value,
}

impl LogoutClients {
    async fn create(env: &Env, bc_url: &str) -> Self {
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
        LogoutClients {
            both,
            back_only,
            down,
            bystander,
        }
    }
}

/// What the logins of [`front_and_back_channel_logout`] leave.
struct LoggedIn {
    /// The cookies of the browser signed in to three clients.
    jar: BTreeMap<String, String>,
    id_token: String,
    sid: String,
    /// The login session of the other browser.
    other_sid: String,
    issuer: String,
}

/// One browser signs in to three clients (one login session, remembered); another browser
/// signs in to the bystander.
async fn one_browser_signs_in_to_three_clients_another_to_one(
    env: &Env,
    rps: &LogoutClients,
) -> LoggedIn {
    let LogoutClients {
        both,
        back_only,
        down,
        bystander,
    } = rps;
    let mut jar = BTreeMap::new();
    let tokens = code_flow_tokens(env, both, &mut jar, "openid").await;
    let id_token = tokens["id_token"].as_str().unwrap().to_string();
    let sid = jwt_claims(&id_token)["sid"].as_str().unwrap().to_string();
    // the same login session (remembered) for two more clients
    let t2 = code_flow_tokens(env, back_only, &mut jar, "openid").await;
    assert_eq!(jwt_claims(t2["id_token"].as_str().unwrap())["sid"], sid);
    code_flow_tokens(env, down, &mut jar, "openid").await;
    // another browser's login session with the bystander client is not touched
    let mut other_jar = BTreeMap::new();
    let other = code_flow_tokens(env, bystander, &mut other_jar, "openid").await;
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
    LoggedIn {
        jar,
        id_token,
        sid,
        other_sid,
        issuer,
    }
}

/// Returns the accepted logout's `redirect_to`.
async fn an_accepted_logout_serves_the_front_channel_page(
    env: &Env,
    login: &mut LoggedIn,
    rx: &mut LogoutTokens,
) -> String {
    let LoggedIn {
        jar,
        id_token,
        sid,
        issuer,
        ..
    } = login;
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
        .header(COOKIE, cookie_header(jar))
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
        .header(COOKIE, cookie_header(jar))
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
    cookies_from(&r, jar);
    assert!(
        !jar.keys().any(|k| k.starts_with("ory_hydra_session")),
        "the session cookie is cleared: {jar:?}"
    );
    let page = r.text().await.unwrap();
    let frame = format!(
        "<iframe src=\"https://rp.example/fc?x=1&amp;iss={}&amp;sid={sid}\"",
        url_encode(issuer)
    );
    assert!(page.contains(&frame), "{page}");
    assert_eq!(page.matches("<iframe").count(), 1, "{page}");
    assert!(
        page.contains("\"https://rp.example/bye?state=logout-state-1\""),
        "{page}"
    );
    accepted["redirect_to"].as_str().unwrap().to_string()
}

/// One logout token for each client of the session with a back-channel endpoint that answers.
async fn the_back_channel_tells_the_sessions_clients(
    rx: &mut LogoutTokens,
    keys: &[josekit::jwk::Jwk],
    login: &LoggedIn,
    rps: &LogoutClients,
) {
    let LoggedIn { sid, issuer, .. } = login;
    let LogoutClients {
        both, back_only, ..
    } = rps;
    let mut auds = Vec::new();
    for _ in 0..2 {
        let claims = next_logout_token(rx, keys).await;
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
}

/// No second round of logout requests.
async fn the_logout_verifier_is_single_use(env: &Env, redirect_to: &str) {
    let r = env.http.get(redirect_to).send().await.unwrap();
    assert_eq!(r.status(), 302);
}

/// `DELETE …/sessions/login?sid=` also fires back-channel logout (the bystander's session).
async fn deleting_a_login_session_tells_its_clients(
    env: &Env,
    rx: &mut LogoutTokens,
    keys: &[josekit::jwk::Jwk],
    login: &LoggedIn,
    rps: &LogoutClients,
) {
    let other_sid = &login.other_sid;
    let bystander = &rps.bystander;
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
    let claims = next_logout_token(rx, keys).await;
    assert_eq!(claims["aud"], json!([bystander["client_id"]]));
    assert_eq!(claims["sid"], json!(other_sid));
}

/// `id_token_hint` at `/oauth2/auth` as Hydra and fosite: an ID token of this server (expired
/// ones count) whose subject is the login session's — as is, or as the client sees it
/// (pairwise) — or it is login_required before any UI; without a session its claims go to the
/// login UI in `oidc_context.id_token_hint_claims`, and the subject the flow ends with must be
/// the hint's (the ID token's subject) or it is login_required; a hint that is not our ID token
/// is invalid_request.
async fn id_token_hints_name_the_session_subject(backend: Backend) {
    let hints = Hints::sign_in(start_pairwise(backend).await).await;
    hints_naming_the_sessions_subject_pass_prompt_none(&hints).await;
    hints_naming_another_subject_are_login_required(&hints).await;
    hints_not_issued_here_are_invalid_request(&hints).await;
    without_a_session_the_login_ui_sees_the_hints_claims(&hints).await;
    a_forced_subject_identifier_matches_the_hints_naming_it(&hints).await;
    hints.env.finish().await;
}

/// A browser signed in to a public and a pairwise client, and the ID tokens it got.
struct Hints {
    env: Env,
    pairwise: Value,
    public: Value,
    jar: BTreeMap<String, String>,
    public_hint: String,
    pairwise_hint: String,
    /// The pairwise client's subject for alice.
    obfuscated: String,
}

impl Hints {
    async fn sign_in(env: Env) -> Self {
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
        Hints {
            env,
            pairwise,
            public,
            jar,
            public_hint,
            pairwise_hint,
            obfuscated,
        }
    }

    /// The authorization URL of `client` with `hint` (and `prompt`, unless empty).
    fn url(&self, client: &Value, hint: &str, prompt: &str) -> String {
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
        auth_url_with(&self.env, &params)
    }
}

/// The `error` and `error_description` the flow ended with (empty when none).
fn error_of(done: &str) -> (String, String) {
    (
        query_param(done, "error").unwrap_or_default(),
        query_param(done, "error_description").unwrap_or_default(),
    )
}

/// The session's subject, as is or pairwise: prompt=none goes through.
async fn hints_naming_the_sessions_subject_pass_prompt_none(hints: &Hints) {
    let Hints {
        env,
        pairwise,
        public,
        jar,
        public_hint,
        pairwise_hint,
        ..
    } = hints;
    for (client, hint) in [(public, public_hint), (pairwise, pairwise_hint)] {
        let done = browse(
            env,
            &hints.url(client, hint, "none"),
            &mut jar.clone(),
            json!({}),
        )
        .await;
        assert!(query_param(&done, "code").is_some(), "{done}");
    }
}

/// Another subject than the session's: login_required before the login UI. The raw subject
/// passes that check, but where the client's ID token names another (pairwise), fosite's
/// prompt validation refuses at the end.
async fn hints_naming_another_subject_are_login_required(hints: &Hints) {
    let Hints {
        env,
        pairwise,
        public,
        jar,
        public_hint,
        pairwise_hint,
        ..
    } = hints;
    for (client, hint, refusal) in [
        (
            public,
            pairwise_hint,
            "subject claim from id_token_hint does not match subject from authentication session.",
        ),
        (
            pairwise,
            public_hint,
            "does not match the current session's subject.",
        ),
    ] {
        let done = browse(
            env,
            &hints.url(client, hint, "none"),
            &mut jar.clone(),
            json!({}),
        )
        .await;
        let (error, description) = error_of(&done);
        assert_eq!(error, "login_required");
        assert!(description.ends_with(refusal), "{description}");
    }
}

/// Not an ID token of this server.
async fn hints_not_issued_here_are_invalid_request(hints: &Hints) {
    let Hints {
        env, public, jar, ..
    } = hints;
    let forged = unsigned_jwt(&json!({"sub": "alice", "iss": env.public}));
    for hint in [forged.as_str(), "not-a-jwt"] {
        let done = browse(
            env,
            &hints.url(public, hint, ""),
            &mut jar.clone(),
            json!({}),
        )
        .await;
        let (error, description) = error_of(&done);
        assert_eq!(error, "invalid_request", "{done}");
        assert!(description.contains("id_token_hint"), "{description}");
    }
}

/// No session: the login UI sees the hint's claims; logging in as alice at the public client
/// ends the flow with a subject the pairwise hint does not name.
async fn without_a_session_the_login_ui_sees_the_hints_claims(hints: &Hints) {
    let Hints {
        env,
        public,
        pairwise_hint,
        obfuscated,
        ..
    } = hints;
    let first = env
        .http
        .get(hints.url(public, pairwise_hint, ""))
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
        env,
        &hints.url(public, pairwise_hint, ""),
        &mut BTreeMap::new(),
        json!({}),
    )
    .await;
    assert_eq!(error_of(&done).0, "login_required", "{done}");
}

/// A login that forced the pairwise identifier: a later hint naming it matches the session
/// (Hydra's obfuscated authentication session), and the flow passes when the login UI forces
/// it again — as Hydra asks of the UI on every login.
async fn a_forced_subject_identifier_matches_the_hints_naming_it(hints: &Hints) {
    let Hints {
        env,
        pairwise,
        public,
        public_hint,
        ..
    } = hints;
    let forced = json!({"force_subject_identifier": "forced-alice-1"});
    let mut jar = BTreeMap::new();
    let done = browse_accepting(
        env,
        &hints.url(pairwise, public_hint, ""),
        &mut BTreeMap::new(),
        json!({}),
        json!({}),
    )
    .await;
    assert_eq!(error_of(&done).0, "login_required");
    let start = auth_url_with(
        env,
        &[
            ("client_id", pairwise["client_id"].as_str().unwrap()),
            ("response_type", "code"),
            ("scope", "openid"),
            ("redirect_uri", "https://rp.example/cb"),
            ("state", "state-12345678"),
            ("nonce", "nonce-12345678"),
        ],
    );
    let done = browse_accepting(env, &start, &mut jar, json!({}), forced.clone()).await;
    let code = query_param(&done, "code").unwrap_or_else(|| panic!("{done}"));
    let tokens: Value = env
        .exchange_code(pairwise, &code)
        .await
        .json()
        .await
        .unwrap();
    let forced_hint = tokens["id_token"].as_str().unwrap().to_string();
    assert_eq!(jwt_claims(&forced_hint)["sub"], "forced-alice-1");
    let done = browse_accepting(
        env,
        &hints.url(pairwise, &forced_hint, "none"),
        &mut jar.clone(),
        json!({}),
        forced,
    )
    .await;
    assert!(query_param(&done, "code").is_some(), "{done}");
    // Not forced again: the ID token's subject is the computed one, which the hint does not name.
    let done = browse(
        env,
        &hints.url(pairwise, &forced_hint, "none"),
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
        env,
        &hints.url(public, &forced_hint, "none"),
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
