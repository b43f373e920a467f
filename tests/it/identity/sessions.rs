//! Sessions: API login, whoami and logout, the cacheable-sessions hint, the session cache's
//! bound, the revoke-active-sessions hook, brute-force protection.

use super::*;

on_every_backend!(
    api_login_whoami_sessions_and_logout,
    cacheable_sessions_flag_adds_the_cache_hint,
    session_cache_is_bounded_by_its_ttl_across_instances,
    revoke_active_sessions_hooks_revoke_the_other_sessions,
    brute_force_protection_answers_429_then_recovers_on_success_path,
);

async fn api_login_whoami_sessions_and_logout(backend: Backend) {
    let env = start(backend).await;
    env.create(person("bob@example.com", Some("a-long-secret-pw")))
        .await;
    wrong_credentials_are_400(&env).await;
    let body = the_login_answers_a_session_token(&env).await;
    let token = body["session_token"].as_str().unwrap().to_string();
    whoami_reads_the_token_from_either_header(&env, &token).await;
    whoami_refuses_missing_forged_and_untemplated_tokens(&env, &token).await;
    my_sessions_list_the_others_and_revoke_them(&env, &token).await;
    let sid = body["session"]["id"].as_str().unwrap();
    admin_reads_extends_and_lists_sessions(&env, sid).await;
    native_logout_ends_the_session(&env, &token).await;
    env.finish().await;
}

/// A wrong password and an unknown identifier are both a 400 flow.
async fn wrong_credentials_are_400(env: &Env) {
    let r = env.api_login("bob@example.com", "wrong-password").await;
    assert_eq!(r.status(), 400);
    let flow: Value = r.json().await.unwrap();
    assert_eq!(flow["ui"]["messages"][0]["id"], 4000006);
    let r = env.api_login("nobody@example.com", "wrong-password").await;
    assert_eq!(r.status(), 400);
}

/// Logs in (the identifier's case does not matter); returns the login's answer.
async fn the_login_answers_a_session_token(env: &Env) -> Value {
    let r = env.api_login("BOB@example.com", "a-long-secret-pw").await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let token = body["session_token"].as_str().unwrap().to_string();
    assert!(token.starts_with("ory_st_"));
    assert_eq!(
        body["session"]["authentication_methods"][0]["method"],
        "password"
    );
    assert!(body["session"]["identity"].get("credentials").is_none());
    body
}

async fn whoami_reads_the_token_from_either_header(env: &Env, token: &str) {
    for (name, value) in [
        ("x-session-token", token.to_string()),
        ("authorization", format!("Bearer {token}")),
    ] {
        let r = env
            .http
            .get(format!("{}/sessions/whoami", env.public))
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let id = r
            .headers()
            .get("x-kratos-authenticated-identity-id")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let s: Value = r.json().await.unwrap();
        assert_eq!(s["identity"]["id"], id);
        assert_eq!(s["active"], true);
    }
}

async fn whoami_refuses_missing_forged_and_untemplated_tokens(env: &Env, token: &str) {
    let r = env
        .http
        .get(format!("{}/sessions/whoami", env.public))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = env
        .http
        .get(format!("{}/sessions/whoami", env.public))
        .header("x-session-token", "ory_st_forged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // No tokenizer template is configured: tokenize_as names an unknown one → 400, after the
    // session check (an anonymous caller still gets 401).
    let r = env
        .http
        .get(format!("{}/sessions/whoami?tokenize_as=jwt", env.public))
        .header("x-session-token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error"]["reason"].as_str().unwrap().contains("\"jwt\""),
        "{e}"
    );
    let r = env
        .http
        .get(format!("{}/sessions/whoami?tokenize_as=jwt", env.public))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// A second session; listing mine excludes the current one, and revoking the others ends it.
async fn my_sessions_list_the_others_and_revoke_them(env: &Env, token: &str) {
    let second: Value = env
        .api_login("bob@example.com", "a-long-secret-pw")
        .await
        .json()
        .await
        .unwrap();
    let mine: Vec<Value> = env
        .http
        .get(format!("{}/sessions", env.public))
        .header("x-session-token", token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["id"], second["session"]["id"]);
    let r: Value = env
        .http
        .delete(format!("{}/sessions", env.public))
        .header("x-session-token", token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["count"], 1);
    let st = second["session_token"].as_str().unwrap();
    assert_eq!(
        env.http
            .get(format!("{}/sessions/whoami", env.public))
            .header("x-session-token", st)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

/// The admin API reads and extends a session and lists all of them, revoked ones included.
async fn admin_reads_extends_and_lists_sessions(env: &Env, sid: &str) {
    let r = env
        .http
        .get(format!(
            "{}/admin/sessions/{sid}?expand=identity",
            env.admin
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = env
        .http
        .patch(format!("{}/admin/sessions/{sid}/extend", env.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let all: Vec<Value> = env
        .http
        .get(format!("{}/admin/sessions", env.admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
}

/// Native logout ends the session; an unknown token is a 403.
async fn native_logout_ends_the_session(env: &Env, token: &str) {
    let r = env
        .http
        .delete(format!("{}/self-service/logout/api", env.public))
        .json(&json!({"session_token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        env.http
            .get(format!("{}/sessions/whoami", env.public))
            .header("x-session-token", token)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let r = env
        .http
        .delete(format!("{}/self-service/logout/api", env.public))
        .json(&json!({"session_token": "ory_st_unknown"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

/// `feature_flags.cacheable_sessions`: whoami says how long its answer may be cached
/// (`Ory-Session-Cache-For`, seconds until the session expires); a request without any
/// credential may be cached for a minute, a bad credential not at all. Off: no header.
async fn cacheable_sessions_flag_adds_the_cache_hint(backend: Backend) {
    for enabled in [true, false] {
        let env = start_with(backend, |c| {
            c.identity.feature_flags.cacheable_sessions = enabled;
        })
        .await;
        env.create(person("cache@example.com", Some("a-long-secret-pw")))
            .await;
        let body: Value = env
            .api_login("cache@example.com", "a-long-secret-pw")
            .await
            .json()
            .await
            .unwrap();
        let token = body["session_token"].as_str().unwrap().to_string();
        let whoami = |token: Option<&str>| {
            let mut rb = env.http.get(format!("{}/sessions/whoami", env.public));
            if let Some(t) = token {
                rb = rb.header("x-session-token", t);
            }
            rb.send()
        };
        let hint = |r: &reqwest::Response| {
            r.headers()
                .get("ory-session-cache-for")
                .map(|v| v.to_str().unwrap().parse::<i64>().unwrap())
        };
        let ok = whoami(Some(&token)).await.unwrap();
        assert_eq!(ok.status(), 200);
        let anonymous = whoami(None).await.unwrap();
        assert_eq!(anonymous.status(), 401);
        let forged = whoami(Some("ory_st_forged")).await.unwrap();
        assert_eq!(forged.status(), 401);
        assert_eq!(hint(&forged), None, "a bad credential is never cacheable");
        if enabled {
            // Dev default lifespan is 24h: the hint is the time left, within a minute of it.
            let left = hint(&ok).expect("hint on success");
            assert!((86_340..=86_400).contains(&left), "{left}");
            assert_eq!(hint(&anonymous), Some(60));
        } else {
            assert_eq!(hint(&ok), None);
            assert_eq!(hint(&anonymous), None);
        }
        env.finish().await;
    }
}

/// `quartet.session_cache`: two instances on one database, the first caching whoami for 2 s.
/// A revocation through the caching instance takes effect at once; one through the other
/// instance is seen by the cache at the latest `ttl` later — the documented bound.
async fn session_cache_is_bounded_by_its_ttl_across_instances(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = quartet::config::Dsn::Sqlite(dir.path().join("q.sqlite").display().to_string());
    let caching = start_with(backend, |c| {
        c.identity.quartet.session_cache.ttl = GoDuration::parse("2s").unwrap();
        if matches!(backend, Backend::Sqlite) {
            c.dsn = sqlite.clone();
        }
    })
    .await;
    let mut config = Config::ephemeral();
    config.apply_dev_defaults();
    config.dsn = match &caching.pg {
        Some(pg) => pg.dsn.clone(),
        None => sqlite.clone(),
    };
    let other = Stack::start_roles(config, &[Role::Identity]).await.unwrap();
    let other_admin = other.url(Role::Identity, "admin").unwrap();
    let other_public = other.url(Role::Identity, "public").unwrap();

    caching
        .create(person("cached@example.com", Some("a-long-secret-pw")))
        .await;
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let body: Value = caching
            .api_login("cached@example.com", "a-long-secret-pw")
            .await
            .json()
            .await
            .unwrap();
        sessions.push((
            body["session_token"].as_str().unwrap().to_string(),
            body["session"]["id"].as_str().unwrap().to_string(),
        ));
    }
    let whoami = |public: &str, token: &str| {
        caching
            .http
            .get(format!("{public}/sessions/whoami"))
            .header("x-session-token", token)
            .send()
    };
    for (token, _) in &sessions {
        assert_eq!(whoami(&caching.public, token).await.unwrap().status(), 200);
    }
    let revoke = |admin: &str, sid: &str| {
        caching
            .http
            .delete(format!("{admin}/admin/sessions/{sid}"))
            .send()
    };
    // Revoked through the caching instance: at once.
    let (token, sid) = &sessions[0];
    assert_eq!(revoke(&caching.admin, sid).await.unwrap().status(), 204);
    assert_eq!(whoami(&caching.public, token).await.unwrap().status(), 401);
    // Revoked through the other instance: the other sees it at once, the cache within 2 s.
    // (The local revocation above emptied the cache: fill it again first.)
    let (token, sid) = &sessions[1];
    assert_eq!(whoami(&caching.public, token).await.unwrap().status(), 200);
    assert_eq!(revoke(&other_admin, sid).await.unwrap().status(), 204);
    assert_eq!(whoami(&other_public, token).await.unwrap().status(), 401);
    assert_eq!(
        whoami(&caching.public, token).await.unwrap().status(),
        200,
        "still inside the ttl: the cached answer"
    );
    caching.hand.advance(std::time::Duration::from_millis(2100));
    assert_eq!(whoami(&caching.public, token).await.unwrap().status(), 401);
    other.shutdown().await;
    caching.finish().await;
}

/// Kratos' `revoke_active_sessions` hook: after a login (here the password method's hook) or
/// a settings update (here the flow's global hook), every other session of the identity is
/// revoked and the one that authenticated stays; without the hook, sessions live side by side.
async fn revoke_active_sessions_hooks_revoke_the_other_sessions(backend: Backend) {
    use quartet::config::identity::HookConfig;
    let revoke = || {
        vec![HookConfig {
            hook: "revoke_active_sessions".into(),
        }]
    };
    let env = start_with(backend, |c| {
        c.identity.selfservice.flows.login.after.password.hooks = revoke();
    })
    .await;
    env.create(person("ann@example.com", Some("a-long-secret-pw")))
        .await;
    let first = session_token_of(&env, "ann@example.com", "a-long-secret-pw").await;
    let second = session_token_of(&env, "ann@example.com", "a-long-secret-pw").await;
    assert_eq!(whoami_status(&env, &first).await, 401);
    assert_eq!(whoami_status(&env, &second).await, 200);
    env.finish().await;

    let env = start_with(backend, |c| {
        c.identity.selfservice.flows.settings.after.hooks = revoke();
    })
    .await;
    env.create(person("bo@example.com", Some("a-long-secret-pw")))
        .await;
    let first = session_token_of(&env, "bo@example.com", "a-long-secret-pw").await;
    let second = session_token_of(&env, "bo@example.com", "a-long-secret-pw").await;
    assert_eq!(
        whoami_status(&env, &first).await,
        200,
        "logins revoke nothing here"
    );
    let flow = env.settings_flow(&second).await;
    let r = env
        .http
        .post(flow["ui"]["action"].as_str().unwrap())
        .header("x-session-token", &second)
        .json(&json!({"method": "profile", "traits": {"email": "bo@example.com"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(whoami_status(&env, &first).await, 401);
    assert_eq!(whoami_status(&env, &second).await, 200);
    env.finish().await;
}

async fn brute_force_protection_answers_429_then_recovers_on_success_path(backend: Backend) {
    let env = start_with(backend, |c| {
        // On in production; `--dev` (and so `Config::ephemeral()`) turns it off.
        c.identity.quartet.brute_force.enabled = true;
        c.identity.quartet.brute_force.free_failures_per_identifier = 2;
        c.identity.quartet.brute_force.base_delay = GoDuration(60_000_000_000);
    })
    .await;
    env.create(person("frank@example.com", Some("a-long-secret-pw")))
        .await;
    assert_eq!(
        env.api_login("frank@example.com", "nope-nope-1")
            .await
            .status(),
        400
    );
    assert_eq!(
        env.api_login("frank@example.com", "nope-nope-2")
            .await
            .status(),
        400
    );
    let r = env.api_login("frank@example.com", "a-long-secret-pw").await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], 429);
    // another identifier from the same client is not blocked
    env.create(person("grace@example.com", Some("a-long-secret-pw")))
        .await;
    assert_eq!(
        env.api_login("grace@example.com", "a-long-secret-pw")
            .await
            .status(),
        200
    );
    env.finish().await;
}
