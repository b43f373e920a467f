//! JSON Web Keys: rotation and publication, keys sealed under generated secrets across
//! restarts, readiness before the keys exist.

use super::*;

on_every_backend!(keys_rotate_and_every_active_key_is_published,);

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
