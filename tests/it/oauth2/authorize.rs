//! The authorization endpoint through login and consent: the code flow with PKCE as an
//! OpenID Connect relying party runs it, redirect and PKCE errors, remember, pairwise
//! subjects, request objects, response modes and types, fosite's order of checks.

use super::*;

on_every_backend!(
    openidconnect_relying_party_runs_the_code_flow_with_pkce_refresh_and_replay,
    authorize_errors_never_redirect_to_unregistered_uris_and_plain_pkce_is_refused,
    remember_for_at_the_integer_limit_saturates,
    pairwise_subject_identifiers,
    request_objects_by_value_and_by_reference,
    response_modes_and_the_audience_are_checked_up_front,
    implicit_and_hybrid_response_types,
    verifiable_credentials_are_refused_with_oauth2_errors,
    authorize_checks_run_in_fosites_order_with_its_hints,
);

async fn openidconnect_relying_party_runs_the_code_flow_with_pkce_refresh_and_replay(
    backend: Backend,
) {
    let env = start(backend).await;
    let rp = RelyingParty::discover(&env).await;
    let mut jar = BTreeMap::new();
    let (code, at) = the_code_flow_with_pkce_yields_verified_tokens(&env, &rp, &mut jar).await;
    replaying_the_code_revokes_what_it_issued(&env, &rp, code, &at).await;
    let (rt, new_at) =
        a_remembered_flow_skips_login_and_consent_and_refreshes(&env, &rp, &mut jar).await;
    replaying_the_used_refresh_token_revokes_the_grant(&env, &rp, &rt, &new_at).await;
    the_consent_session_names_the_client(&env, &rp).await;
    env.finish().await;
}

/// The `openidconnect` client as discovery and registration configure it.
type RpClient = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// A relying party that the `openidconnect` crate plays: registered, then set up by discovery.
struct RelyingParty {
    /// The registered client as the admin API answered.
    registered: Value,
    client: RpClient,
    http: openidconnect::reqwest::Client,
}

impl RelyingParty {
    async fn discover(env: &Env) -> Self {
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
        RelyingParty {
            registered: c,
            client,
            http: rp_http,
        }
    }

    /// An authorization URL asking for `offline_access` with a fresh PKCE challenge; also its
    /// state, nonce and PKCE verifier.
    fn pkce_authorize_url(
        &self,
    ) -> (
        openidconnect::url::Url,
        CsrfToken,
        Nonce,
        openidconnect::PkceCodeVerifier,
    ) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (auth_url, csrf, nonce) = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("offline_access".into()))
            .set_pkce_challenge(challenge)
            .url();
        (auth_url, csrf, nonce, verifier)
    }
}

/// The first flow logs in and consents; the ID token verifies and the claims the consent set
/// reach the ID token, introspection and userinfo. Returns the code and the access token.
async fn the_code_flow_with_pkce_yields_verified_tokens(
    env: &Env,
    rp: &RelyingParty,
    jar: &mut BTreeMap<String, String>,
) -> (String, String) {
    let RelyingParty {
        client,
        http: rp_http,
        ..
    } = rp;
    let (auth_url, csrf, nonce, verifier) = rp.pkce_authorize_url();
    let done = browse(
        env,
        auth_url.as_str(),
        jar,
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
        .request_async(rp_http)
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
    (code, at)
}

async fn replaying_the_code_revokes_what_it_issued(
    env: &Env,
    rp: &RelyingParty,
    code: String,
    at: &str,
) {
    let replay = rp
        .client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .request_async(&rp.http)
        .await;
    assert!(replay.is_err());
    assert_eq!(env.introspect(at).await["active"], false);
}

/// A second flow skips login (remembered) and consent (remembered) and refreshes; rotation
/// deletes the old access token. Returns the used refresh token and the new access token.
async fn a_remembered_flow_skips_login_and_consent_and_refreshes(
    env: &Env,
    rp: &RelyingParty,
    jar: &mut BTreeMap<String, String>,
) -> (String, String) {
    let RelyingParty {
        client,
        http: rp_http,
        ..
    } = rp;
    let (auth_url, _, _, verifier) = rp.pkce_authorize_url();
    let done = browse(env, auth_url.as_str(), jar, json!({})).await;
    let code = query_param(&done, "code").unwrap();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(rp_http)
        .await
        .unwrap();
    let rt = tokens.refresh_token().unwrap().secret().clone();
    assert!(rt.starts_with("ory_rt_"));
    let refreshed = client
        .exchange_refresh_token(&RefreshToken::new(rt.clone()))
        .unwrap()
        .request_async(rp_http)
        .await
        .unwrap();
    let new_at = refreshed.access_token().secret().clone();
    assert_eq!(env.introspect(&new_at).await["active"], true);
    assert_eq!(
        env.introspect(tokens.access_token().secret()).await["active"],
        false,
        "rotation deletes the old access token"
    );
    (rt, new_at)
}

async fn replaying_the_used_refresh_token_revokes_the_grant(
    env: &Env,
    rp: &RelyingParty,
    rt: &str,
    new_at: &str,
) {
    let c = &rp.registered;
    let r = env
        .http
        .post(format!("{}/oauth2/token", env.public))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", c["client_id"].as_str().unwrap()),
            ("client_secret", c["client_secret"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "token_inactive");
    assert_eq!(env.introspect(new_at).await["active"], false);
}

async fn the_consent_session_names_the_client(env: &Env, rp: &RelyingParty) {
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
        rp.registered["client_id"]
    );
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
