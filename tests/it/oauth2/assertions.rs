//! Signed client assertions: the jwt-bearer grant with trusted issuers and `private_key_jwt`
//! client authentication with a `jwks_uri`.

use super::*;

on_every_backend!(
    jwt_bearer_grant_with_trusted_issuers,
    private_key_jwt_with_jwks_uri,
);

/// RFC 7523: trusted issuers through the admin API with Hydra's shapes and validation, and the
/// jwt-bearer grant checking issuer, subject, scope, audience, expiry, jti replay and signature.
async fn jwt_bearer_grant_with_trusted_issuers(backend: Backend) {
    let env = start(backend).await;
    let issuers = format!("{}/admin/trust/grants/jwt-bearer/issuers", env.admin);
    let idp_key = jose::generate("ES256", "idp-1", "sig", 2048).unwrap();
    trusted_issuers_are_validated_in_hydras_order(&env, &issuers).await;
    let id = a_trusted_issuer_is_created_once_listed_and_read(&env, &issuers, &idp_key).await;
    let bearer = Bearer::new(&env, issuers, idp_key).await;
    a_trusted_assertion_is_exchanged_once(&bearer).await;
    assertions_past_the_trust_are_refused(&bearer).await;
    a_client_without_the_grant_type_may_not_use_it(&bearer).await;
    allow_any_subject_trusts_every_subject_of_the_issuer(&bearer).await;
    deleting_the_trust_relationship_ends_it(&bearer, &id).await;
    env.finish().await;
}

/// Validation in Hydra's order, with Hydra's error code.
async fn trusted_issuers_are_validated_in_hydras_order(env: &Env, issuers: &str) {
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
        let r = env.http.post(issuers).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 400);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], "missing_required_parameter");
        assert!(
            v["error_description"].as_str().unwrap().ends_with(hint),
            "{v}"
        );
    }
}

/// Trusts `idp_key` for alice's assertions at `https://idp.example`; returns the id.
async fn a_trusted_issuer_is_created_once_listed_and_read(
    env: &Env,
    issuers: &str,
    idp_key: &josekit::jwk::Jwk,
) -> String {
    let idp_public = jose::to_value(&jose::public(idp_key).unwrap());
    let trust = json!({
        "issuer": "https://idp.example", "subject": "alice", "scope": ["read"],
        "jwk": idp_public, "expires_at": "2099-01-01T00:00:00Z",
    });
    let r = env.http.post(issuers).json(&trust).send().await.unwrap();
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
    let r = env.http.post(issuers).json(&trust).send().await.unwrap();
    assert_eq!(r.status(), 409, "the same issuer key twice");

    let r = env.http.get(issuers).send().await.unwrap();
    assert_eq!(r.headers()["x-total-count"], "1");
    assert_eq!(r.json::<Value>().await.unwrap(), json!([grant.clone()]));
    let r = env
        .http
        .get(format!("{issuers}?issuer=https://other.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["x-total-count"],
        "0",
        "the total counts the filter"
    );
    assert_eq!(r.json::<Value>().await.unwrap(), json!([]));
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
    id
}

/// A client allowed the jwt-bearer grant, and what it takes to sign and exchange assertions.
struct Bearer<'a> {
    env: &'a Env,
    issuers: String,
    token_url: String,
    /// The trusted issuer's key.
    idp_key: josekit::jwk::Jwk,
    cid: String,
    secret: String,
}

impl<'a> Bearer<'a> {
    async fn new(env: &'a Env, issuers: String, idp_key: josekit::jwk::Jwk) -> Self {
        let client = env
            .create_client(json!({
                "grant_types": ["urn:ietf:params:oauth:grant-type:jwt-bearer"],
                "scope": "read write", "token_endpoint_auth_method": "client_secret_post",
            }))
            .await;
        Bearer {
            env,
            issuers,
            token_url: format!("{}/oauth2/token", env.public),
            idp_key,
            cid: client["client_id"].as_str().unwrap().to_string(),
            secret: client["client_secret"].as_str().unwrap().to_string(),
        }
    }

    /// Valid claims of an assertion by the trusted issuer about `sub`.
    fn claims(&self, sub: &str, jti: &str) -> Value {
        json!({"iss": "https://idp.example", "sub": sub, "aud": [self.token_url], "exp": now_secs() + 300, "iat": now_secs(), "jti": jti})
    }

    /// Exchanges `assertion` for an access token with `scope`.
    async fn exchange(&self, assertion: String, scope: &str) -> reqwest::Response {
        let form = vec![
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:jwt-bearer".to_string(),
            ),
            ("assertion", assertion),
            ("scope", scope.to_string()),
            ("client_id", self.cid.clone()),
            ("client_secret", self.secret.clone()),
        ];
        self.env
            .http
            .post(&self.token_url)
            .form(&form)
            .send()
            .await
            .unwrap()
    }
}

/// `claims` signed with `key`.
fn assertion(key: &josekit::jwk::Jwk, claims: Value) -> String {
    jose::sign(key, claims.as_object().unwrap().clone()).unwrap()
}

/// The status and the `error` of a refused exchange.
async fn grant_error(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    (status, v["error"].as_str().unwrap().to_string())
}

/// The issuer's assertion about alice buys a token of the trusted scope, once.
async fn a_trusted_assertion_is_exchanged_once(bearer: &Bearer<'_>) {
    let Bearer {
        env,
        token_url,
        idp_key,
        cid,
        ..
    } = bearer;
    let good = assertion(idp_key, bearer.claims("alice", "jti-1"));
    let r = bearer.exchange(good.clone(), "read").await;
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
    assert_eq!(
        grant_error(bearer.exchange(good, "read").await).await,
        (400, "jti_known".into()),
        "a replayed assertion is refused"
    );
}

/// Times out of range, a scope or subject outside the trust, another audience, expiry,
/// another key and no JWT at all are refused.
async fn assertions_past_the_trust_are_refused(bearer: &Bearer<'_>) {
    let idp_key = &bearer.idp_key;
    // The times the hints print overflowed as microseconds (a 500 in debug builds).
    let mut far_exp = bearer.claims("alice", "jti-far-exp");
    far_exp["exp"] = json!(i64::MAX);
    let mut far_nbf = bearer.claims("alice", "jti-far-nbf");
    far_nbf["nbf"] = json!(i64::MAX);
    for (claims, what) in [(far_exp, "exp at i64::MAX"), (far_nbf, "nbf at i64::MAX")] {
        assert_eq!(
            grant_error(bearer.exchange(assertion(idp_key, claims), "read").await).await,
            (400, "invalid_grant".into()),
            "{what}"
        );
    }
    assert_eq!(
        grant_error(
            bearer
                .exchange(assertion(idp_key, bearer.claims("alice", "jti-2")), "write")
                .await
        )
        .await,
        (400, "invalid_scope".into()),
        "scope outside the trust relationship"
    );
    assert_eq!(
        grant_error(
            bearer
                .exchange(assertion(idp_key, bearer.claims("bob", "jti-3")), "read")
                .await
        )
        .await,
        (400, "invalid_grant".into()),
        "subject not trusted"
    );
    let mut wrong_aud = bearer.claims("alice", "jti-4");
    wrong_aud["aud"] = json!("https://elsewhere.example/token");
    assert_eq!(
        grant_error(bearer.exchange(assertion(idp_key, wrong_aud), "read").await).await,
        (400, "invalid_grant".into())
    );
    let mut expired = bearer.claims("alice", "jti-5");
    expired["exp"] = json!(now_secs() - 10);
    assert_eq!(
        grant_error(bearer.exchange(assertion(idp_key, expired), "read").await).await,
        (400, "invalid_grant".into())
    );
    let forger = jose::generate("ES256", "idp-1", "sig", 2048).unwrap();
    assert_eq!(
        grant_error(
            bearer
                .exchange(assertion(&forger, bearer.claims("alice", "jti-6")), "read")
                .await
        )
        .await,
        (400, "invalid_grant".into()),
        "a signature by another key with the same kid"
    );
    assert_eq!(
        grant_error(bearer.exchange("not-a-jwt".into(), "read").await).await,
        (400, "invalid_grant".into())
    );
}

async fn a_client_without_the_grant_type_may_not_use_it(bearer: &Bearer<'_>) {
    let Bearer {
        env,
        token_url,
        idp_key,
        ..
    } = bearer;
    let other = env
        .create_client(json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_post"}))
        .await;
    let r = env
        .http
        .post(token_url.as_str())
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            (
                "assertion",
                assertion(idp_key, bearer.claims("alice", "jti-7")).as_str(),
            ),
            ("client_id", other["client_id"].as_str().unwrap()),
            ("client_secret", other["client_secret"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(grant_error(r).await, (400, "unauthorized_client".into()));
}

async fn allow_any_subject_trusts_every_subject_of_the_issuer(bearer: &Bearer<'_>) {
    let Bearer { env, issuers, .. } = bearer;
    let any_key = jose::generate("ES256", "idp-any", "sig", 2048).unwrap();
    let r = env
        .http
        .post(issuers.as_str())
        .json(&json!({"issuer": "https://idp.example", "allow_any_subject": true, "scope": ["read"],
            "jwk": jose::to_value(&jose::public(&any_key).unwrap()), "expires_at": "2099-01-01T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = bearer
        .exchange(assertion(&any_key, bearer.claims("carol", "jti-8")), "read")
        .await;
    assert_eq!(r.status(), 200);
}

async fn deleting_the_trust_relationship_ends_it(bearer: &Bearer<'_>, id: &str) {
    let Bearer {
        env,
        issuers,
        idp_key,
        ..
    } = bearer;
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
        grant_error(
            bearer
                .exchange(assertion(idp_key, bearer.claims("alice", "jti-9")), "read")
                .await
        )
        .await,
        (400, "invalid_grant".into())
    );
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
