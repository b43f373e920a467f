//! The token endpoint and what reads tokens: client_credentials, code and refresh grants with
//! fosite's hints, introspection, revocation, userinfo and the token hooks.

use super::*;

on_every_backend!(
    client_credentials_introspection_revocation_and_bad_secrets,
    code_and_refresh_grants_answer_with_fosites_hints,
    token_revoke_and_introspect_read_bodies_as_fosite,
    userinfo_answers_as_hydra,
    token_hooks_shape_claims_as_hydras,
);

async fn client_credentials_introspection_revocation_and_bad_secrets(backend: Backend) {
    let env = start(backend).await;
    let c = env.create_client(json!({"grant_types": ["client_credentials"], "scope": "read write.*", "audience": ["https://api.example.com/v1"]})).await;
    let cc = CcClient {
        id: c["client_id"].as_str().unwrap().to_string(),
        secret: c["client_secret"].as_str().unwrap().to_string(),
        token_url: format!("{}/oauth2/token", env.public),
    };
    let at = client_credentials_buy_a_token_for_the_audience(&env, &cc).await;
    bad_client_authentication_is_a_401_that_tells_nothing(&env, &cc).await;
    bad_token_requests_get_fosites_errors(&env, &cc).await;
    the_client_credentials_handler_checks_scope_audience_and_client(&env).await;
    missing_or_repeated_parameters_are_invalid_request(&env, &cc).await;
    revocation_ends_the_token_and_answers_only_two_errors(&env, &cc, &at).await;
    introspection_of_no_token_is_inactive(&env).await;
    env.finish().await;
}

/// A confidential client allowed client_credentials (`client_secret_basic`).
struct CcClient {
    id: String,
    secret: String,
    token_url: String,
}

impl CcClient {
    fn parts(&self) -> (&str, &str, &str) {
        (&self.id, &self.secret, &self.token_url)
    }
}

/// Returns the access token.
async fn client_credentials_buy_a_token_for_the_audience(env: &Env, cc: &CcClient) -> String {
    let (id, secret, token_url) = cc.parts();
    let r = env
        .http
        .post(token_url)
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
    at.to_string()
}

async fn bad_client_authentication_is_a_401_that_tells_nothing(env: &Env, cc: &CcClient) {
    let (id, secret, token_url) = cc.parts();
    // client_secret_post is refused for a basic client, with a hint naming the method
    let r = env
        .http
        .post(token_url)
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
        .post(token_url)
        .basic_auth(id, Some("nope-nope"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let unknown = env
        .http
        .post(token_url)
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
}

async fn bad_token_requests_get_fosites_errors(env: &Env, cc: &CcClient) {
    let (id, secret, token_url) = cc.parts();
    // scope not allowed, unknown grant
    let r = env
        .http
        .post(token_url)
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_scope");
    let r = env
        .http
        .post(token_url)
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
        .post(token_url)
        .basic_auth(id, Some("wrong"))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    // an empty body is fosite's own invalid_request
    let r = env
        .http
        .post(token_url)
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
}

/// fosite's client_credentials handler: scope, audience, a public client, the grant type.
async fn the_client_credentials_handler_checks_scope_audience_and_client(env: &Env) {
    let no_grant = env
        .create_client(
            json!({"grant_types": ["authorization_code"], "scope": "read",
            "audience": ["https://api.example/"]}),
        )
        .await;
    let cc = "client_credentials";
    let (e, _) = token_error(env, &no_grant, &[("grant_type", cc), ("scope", "admin")]).await;
    assert_eq!(e, "invalid_scope");
    let other = ("audience", "https://other.example/");
    let (e, d) = token_error(env, &no_grant, &[("grant_type", cc), other]).await;
    assert_eq!(e, "invalid_request");
    assert!(d.ends_with("Requested audience 'https://other.example/' has not been whitelisted by the OAuth 2.0 Client."), "{d}");
    let (e, d) = token_error(env, &no_grant, &[("grant_type", cc), ("scope", "read")]).await;
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
    let (e, d) = token_error(env, &public, &[("grant_type", cc)]).await;
    assert_eq!(e, "invalid_grant", "{d}");
    assert!(d.ends_with("The OAuth 2.0 Client is marked as public and is thus not allowed to use authorization grant 'client_credentials'."), "{d}");
}

/// No grant_type at all: fosite's invalid_request naming the parameter; so is a parameter
/// given twice.
async fn missing_or_repeated_parameters_are_invalid_request(env: &Env, cc: &CcClient) {
    let (id, secret, token_url) = cc.parts();
    let r = env
        .http
        .post(token_url)
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
        .post(token_url)
        .basic_auth(id, Some(secret))
        .body("grant_type=client_credentials&scope=read&scope=read")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
}

async fn revocation_ends_the_token_and_answers_only_two_errors(env: &Env, cc: &CcClient, at: &str) {
    let (id, secret, _) = cc.parts();
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
    let (status, body) = revoke(env, id, secret, &[]).await;
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"error": "invalid_request", "error_description": "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed."})
    );
    let (status, body) = revoke(env, id, "wrong", &[("token", "ory_at_garbage.x")]).await;
    assert_eq!(status, 401);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"error": "invalid_client", "error_description": "Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method)."})
    );
    assert_eq!(
        revoke(env, id, secret, &[("token_type_hint", "access_token")])
            .await
            .0,
        200
    );
    assert_eq!(
        revoke(env, id, secret, &[("token", "ory_at_garbage.x")])
            .await
            .0,
        200
    );
}

/// Introspection: an empty body is an error, a body without a token is inactive.
async fn introspection_of_no_token_is_inactive(env: &Env) {
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
    an_unknown_code_is_a_bare_invalid_grant(&env, &client).await;
    let verifier = "v".repeat(43);
    let code = a_code_needs_its_pkce_verifier_and_redirect_uri(&env, &client, &verifier).await;
    let tokens = a_used_code_says_so(&env, &client, &code, &verifier).await;
    a_refresh_after_the_client_lost_a_scope_is_invalid_scope(&env, &client).await;
    a_reused_codes_refresh_token_is_inactive_without_a_hint(&env, &client, &tokens).await;
    env.finish().await;
}

/// fosite's invalid_grant description, with no hint.
const BARE_INVALID_GRANT: &str = "The provided authorization grant (e.g., authorization code, resource owner credentials) or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.";
const AC: &str = "authorization_code";
const RT: &str = "refresh_token";
const CB: (&str, &str) = ("redirect_uri", "https://rp.example/cb");

async fn an_unknown_code_is_a_bare_invalid_grant(env: &Env, client: &Value) {
    let (e, d) = token_error(
        env,
        client,
        &[("grant_type", AC), ("code", "ory_ac_nope.nope"), CB],
    )
    .await;
    assert_eq!(
        (e.as_str(), d.as_str()),
        ("invalid_grant", BARE_INVALID_GRANT)
    );
}

/// PKCE: length, alphabet, then the challenge; a verifier with no challenge fails it too; the
/// redirect_uri must be the authorization request's. Returns a code for `verifier`, unused.
async fn a_code_needs_its_pkce_verifier_and_redirect_uri(
    env: &Env,
    client: &Value,
    verifier: &str,
) -> String {
    let challenge = {
        use base64::Engine;
        use sha2::Digest;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(verifier.as_bytes()))
    };
    let code = code_for(env, client, Some(&challenge)).await;
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
            ("grant_type", AC),
            ("code", code.as_str()),
            CB,
            ("code_verifier", v),
        ];
        let (e, d) = token_error(env, client, &form).await;
        assert_eq!(e, "invalid_grant");
        assert!(d.ends_with(hint), "{v}: {d}");
    }
    let other = [
        ("grant_type", AC),
        ("code", code.as_str()),
        ("redirect_uri", "https://rp.example/other"),
        ("code_verifier", verifier),
    ];
    let (_, d) = token_error(env, client, &other).await;
    assert!(d.ends_with("The 'redirect_uri' from this request does not match the one from the authorize request."), "{d}");
    let plain = code_for(env, client, None).await;
    let (_, d) = token_error(
        env,
        client,
        &[
            ("grant_type", AC),
            ("code", plain.as_str()),
            CB,
            ("code_verifier", verifier),
        ],
    )
    .await;
    assert!(
        d.ends_with("The PKCE code challenge did not match the code verifier."),
        "{d}"
    );
    code
}

/// Returns the tokens of the first exchange.
async fn a_used_code_says_so(env: &Env, client: &Value, code: &str, verifier: &str) -> Value {
    let exchange = [
        ("grant_type", AC),
        ("code", code),
        CB,
        ("code_verifier", verifier),
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
    let (e, d) = token_error(env, client, &exchange).await;
    assert_eq!(e, "invalid_grant");
    assert!(
        d.ends_with("The authorization code has already been used."),
        "{d}"
    );
    tokens
}

/// An unknown refresh token is a bare invalid_grant; a refresh after the client lost a granted
/// scope is invalid_scope.
async fn a_refresh_after_the_client_lost_a_scope_is_invalid_scope(env: &Env, client: &Value) {
    let (e, d) = token_error(env, client, &[("grant_type", RT), (RT, "ory_rt_nope.nope")]).await;
    assert_eq!(
        (e.as_str(), d.as_str()),
        ("invalid_grant", BARE_INVALID_GRANT)
    );
    let code = code_for(env, client, None).await;
    let r = env
        .http
        .post(format!("{}/oauth2/token", env.public))
        .basic_auth(
            client["client_id"].as_str().unwrap(),
            client["client_secret"].as_str(),
        )
        .form(&[("grant_type", AC), ("code", code.as_str()), CB])
        .send()
        .await
        .unwrap();
    let fresh: Value = r.json().await.unwrap();
    let refresh = fresh[RT].as_str().unwrap().to_string();
    let id = client["client_id"].as_str().unwrap();
    let r = env
        .http
        .patch(format!("{}/admin/clients/{id}", env.admin))
        .json(&json!([{"op": "replace", "path": "/scope", "value": "offline_access"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (e, d) = token_error(env, client, &[("grant_type", RT), (RT, refresh.as_str())]).await;
    assert_eq!(e, "invalid_scope");
    assert!(
        d.ends_with("The OAuth 2.0 Client is not allowed to request scope 'openid'."),
        "{d}"
    );
}

/// The refresh token of the first exchange was revoked with its code's reuse: token_inactive
/// carries no hint.
async fn a_reused_codes_refresh_token_is_inactive_without_a_hint(
    env: &Env,
    client: &Value,
    tokens: &Value,
) {
    let first = tokens[RT].as_str().unwrap();
    let (e, d) = token_error(env, client, &[("grant_type", RT), (RT, first)]).await;
    assert_eq!(e, "token_inactive", "{d}");
    assert_eq!(d, "Token is inactive because it is malformed, expired or otherwise invalid. Token validation failed.");
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
    the_hooks_claims_are_the_client_credentials_tokens_ext(&env, &mut calls).await;
    a_hooks_204_keeps_the_claims_and_403_or_400_refuse(&env, &mut calls).await;
    a_hooks_500_is_retried(&env, &mut calls).await;
    let tokens = the_hooks_answer_replaces_the_consents_claims(&env, &mut calls).await;
    a_refresh_runs_the_legacy_hook_then_the_token_hook(&env, &mut calls, &tokens).await;
    a_refused_exchange_leaves_the_code_unspent(&env).await;
    server.abort();
    env.finish().await;
}

type HookCalls = tokio::sync::mpsc::UnboundedReceiver<HookCall>;

/// client_credentials: the hook's claims are the token's `ext`, on every request.
async fn the_hooks_claims_are_the_client_credentials_tokens_ext(env: &Env, calls: &mut HookCalls) {
    for _ in 0..2 {
        let (status, token) = cc_token(env, "enrich-cc", "hook-secret-0123456789", "read").await;
        assert_eq!(status, 200, "{token}");
        let info = env
            .introspect(token["access_token"].as_str().unwrap())
            .await;
        assert_eq!(
            info["ext"],
            json!({"tenant": "t1", "seen_extra": {}}),
            "{info}"
        );
        let (path, headers, body) = next_hook_call(calls);
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
}

async fn a_hooks_204_keeps_the_claims_and_403_or_400_refuse(env: &Env, calls: &mut HookCalls) {
    let (status, token) = cc_token(env, "keep-cc", "hook-secret-0123456789", "read").await;
    assert_eq!(status, 200);
    let info = env
        .introspect(token["access_token"].as_str().unwrap())
        .await;
    assert_eq!(info["active"], true);
    assert!(info.get("ext").is_none(), "{info}");
    next_hook_call(calls);
    for (client, status, error) in [
        ("deny-cc", 403, "access_denied"),
        ("broken-cc", 500, "server_error"),
    ] {
        let answer = cc_token(env, client, "hook-secret-0123456789", "read").await;
        let description = "The token hook target responded with an error.";
        assert_eq!(
            answer,
            (
                status,
                json!({"error": error, "error_description": description})
            )
        );
        next_hook_call(calls);
    }
}

/// A 500 is retried (after 1 s, as Hydra's HTTP client) and the second answer counts.
async fn a_hooks_500_is_retried(env: &Env, calls: &mut HookCalls) {
    let (status, token) = cc_token(env, "flaky-cc", "hook-secret-0123456789", "read").await;
    assert_eq!(status, 200, "{token}");
    next_hook_call(calls);
    next_hook_call(calls);
    assert!(calls.try_recv().is_err());
}

/// A client of the code flow whose id picks the hook's answer.
fn hook_code_client(id: &str) -> Value {
    json!({"client_id": id, "client_secret": "hook-secret-0123456789",
    "redirect_uris": ["https://rp.example/cb"], "scope": "openid offline_access",
    "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"]})
}

/// The status and body of exchanging `code`.
async fn hook_exchange(env: &Env, client: &Value, code: &str) -> (u16, Value) {
    let r = env.exchange_code(client, code).await;
    (r.status().as_u16(), r.json::<Value>().await.unwrap())
}

/// A code for `client` whose consent grants claims to both tokens.
async fn hook_code_of(env: &Env, client: &Value) -> String {
    let session = json!({"access_token": {"from_consent": 1}, "id_token": {"from_consent_id": 2}});
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

/// authorization_code: the consent's claims go to the hook, its answer replaces them. Returns
/// the tokens.
async fn the_hooks_answer_replaces_the_consents_claims(env: &Env, calls: &mut HookCalls) -> Value {
    let enrich = env.create_client(hook_code_client("enrich-code")).await;
    let (status, tokens) = hook_exchange(env, &enrich, &hook_code_of(env, &enrich).await).await;
    assert_eq!(status, 200, "{tokens}");
    let (_, _, body) = next_hook_call(calls);
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
    tokens
}

/// refresh: the legacy hook first (its own body), then the token hook with its claims.
async fn a_refresh_runs_the_legacy_hook_then_the_token_hook(
    env: &Env,
    calls: &mut HookCalls,
    tokens: &Value,
) {
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
    let (path, headers, body) = next_hook_call(calls);
    assert_eq!(path, "/refresh");
    assert!(headers.get("x-api-key").is_none());
    assert_eq!(body["subject"], "alice");
    assert_eq!(body["client_id"], "enrich-code");
    assert_eq!(body["requester"]["grant_types"], json!(["refresh_token"]));
    assert_eq!(
        body["session"]["extra"],
        json!({"tenant": "t1", "seen_extra": {"from_consent": 1}})
    );
    let (path, _, body) = next_hook_call(calls);
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
}

/// A refused exchange leaves the code unspent: the same code works once the hook allows it.
async fn a_refused_exchange_leaves_the_code_unspent(env: &Env) {
    let deny_once = env.create_client(hook_code_client("deny-once-code")).await;
    let code = hook_code_of(env, &deny_once).await;
    let (status, e) = hook_exchange(env, &deny_once, &code).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (403, Some("access_denied")),
        "{e}"
    );
    let (status, tokens) = hook_exchange(env, &deny_once, &code).await;
    assert_eq!(status, 200, "{tokens}");
    // 204 kept the consent's claims.
    let info = env
        .introspect(tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(info["ext"], json!({"from_consent": 1}));
    let id_token = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["from_consent_id"], 2);
    assert!(id_token["sid"].as_str().is_some());
    let (status, _) = hook_exchange(env, &deny_once, &code).await;
    assert_eq!(status, 400, "a spent code stays spent");
}
