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
