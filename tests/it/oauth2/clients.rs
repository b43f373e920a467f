//! OAuth2 clients over Hydra's admin API: CRUD and pagination, dynamic registration, changes
//! seen at once by another instance, per-client CORS, secret hashing.

use super::*;

on_every_backend!(
    clients_crud_pagination_and_hydra_errors,
    dynamic_registration_is_off_unless_enabled,
    client_changes_on_another_instance_take_effect_at_once,
    clients_allow_their_cors_origins_as_hydra,
    client_secrets_hash_with_the_configured_algorithm,
);

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
