//! Self-service flows: registration with the session hook, browser login with CSRF and the
//! session cookie, expired and malformed flows, settings, bound URLs in schemas and redirects.

use super::*;

on_every_backend!(
    api_registration_validates_and_runs_the_session_hook,
    browser_login_redirects_checks_csrf_and_sets_the_session_cookie,
    expired_flows_answer_410_with_use_flow_id,
    repeated_query_parameters_count_with_their_first_value,
    submissions_naming_a_malformed_flow_are_400_and_an_unknown_one_404,
    settings_changes_profile_and_password,
);

async fn api_registration_validates_and_runs_the_session_hook(backend: Backend) {
    let env = start_with(backend, |c| {
        c.identity
            .selfservice
            .flows
            .registration
            .after
            .password
            .hooks = vec![HookConfig {
            hook: "session".into(),
        }];
    })
    .await;
    let flow: Value = env
        .http
        .get(format!("{}/self-service/registration/api", env.public))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = flow["ui"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["attributes"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["csrf_token", "traits.email", "password", "method"]
    );
    let action = flow["ui"]["action"].as_str().unwrap().to_string();
    assert!(action.starts_with(&env.public));

    let submit = |body: Value| env.http.post(&action).json(&body).send();
    let r = submit(
        json!({"method": "password", "traits": {"email": "bad"}, "password": "a-long-secret-pw"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let f: Value = r.json().await.unwrap();
    let email = f["ui"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["attributes"]["name"] == "traits.email")
        .unwrap();
    assert_eq!(email["messages"][0]["id"], 4000001);
    assert_eq!(email["attributes"]["value"], "bad");

    let r = submit(json!({"method": "password", "traits": {"email": "carol@example.com"}, "password": "password123"})).await.unwrap();
    let f: Value = r.json().await.unwrap();
    let pw = f["ui"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["attributes"]["name"] == "password")
        .unwrap();
    assert_eq!(pw["messages"][0]["id"], 4000034);

    let r = submit(json!({"method": "password", "traits": {"email": "carol@example.com"}, "password": "a-long-secret-pw"})).await.unwrap();
    assert_eq!(r.status(), 200);
    let done: Value = r.json().await.unwrap();
    assert_eq!(done["identity"]["traits"]["email"], "carol@example.com");
    assert!(done["session_token"]
        .as_str()
        .unwrap()
        .starts_with("ory_st_"));
    assert_eq!(done["continue_with"][0]["action"], "set_ory_session_token");

    // duplicate → 4000007 on a fresh flow
    let flow: Value = env
        .http
        .get(format!("{}/self-service/registration/api", env.public))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = env.http.post(flow["ui"]["action"].as_str().unwrap()).json(&json!({"method": "password", "traits": {"email": "CAROL@example.com"}, "password": "another-long-pw-1"})).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let f: Value = r.json().await.unwrap();
    assert_eq!(f["ui"]["messages"][0]["id"], 4000007);
    // API flows refuse browser-looking submissions
    let r = env
        .http
        .post(flow["ui"]["action"].as_str().unwrap())
        .header("origin", "http://evil.test")
        .json(&json!({"method": "password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    env.finish().await;
}

async fn browser_login_redirects_checks_csrf_and_sets_the_session_cookie(backend: Backend) {
    let env = start(backend).await;
    env.create(person("dan@example.com", Some("a-long-secret-pw")))
        .await;
    let (csrf_cookie, flow_id) = a_browser_login_flow_sets_a_csrf_cookie(&env).await;
    let csrf =
        the_flow_needs_the_csrf_cookie_and_masks_its_token(&env, &flow_id, &csrf_cookie).await;
    let action = format!("{}/self-service/login?flow={flow_id}", env.public);
    a_form_post_without_csrf_goes_to_the_error_ui(&env, &action, &csrf_cookie).await;
    let cookie =
        a_form_post_with_csrf_sets_the_session_cookie(&env, &action, &csrf_cookie, &csrf).await;
    a_signed_in_browser_may_only_step_up(&env, &cookie).await;
    browser_logout_ends_the_session(&env, &cookie).await;
    return_to_must_be_on_the_allow_list(&env).await;
    env.finish().await;
}

/// Starts a browser login flow: a redirect to the login UI with the flow id, and a CSRF cookie.
async fn a_browser_login_flow_sets_a_csrf_cookie(env: &Env) -> (String, String) {
    let r = env
        .http
        .get(format!(
            "{}/self-service/login/browser?return_to=http://app.test/after",
            env.public
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let location = r
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(location.starts_with("https://www.ory.sh/kratos/docs/fallback/login?flow="));
    let csrf_cookie = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert!(csrf_cookie.starts_with("csrf_token_"));
    let flow_id = location.split("flow=").nth(1).unwrap().to_string();
    (csrf_cookie, flow_id)
}

/// Returns the flow's (masked) CSRF token.
async fn the_flow_needs_the_csrf_cookie_and_masks_its_token(
    env: &Env,
    flow_id: &str,
    csrf_cookie: &str,
) -> String {
    // GET flow without the cookie → 403; with it → 200
    let r = env
        .http
        .get(format!(
            "{}/self-service/login/flows?id={flow_id}",
            env.public
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["id"], "security_csrf_violation");
    let flow: Value = env
        .http
        .get(format!(
            "{}/self-service/login/flows?id={flow_id}",
            env.public
        ))
        .header("cookie", csrf_cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(flow["return_to"], "http://app.test/after");
    let csrf = flow["ui"]["nodes"][0]["attributes"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    // The node carries a masked token: fresh on every response, never the cookie's raw value.
    let again: Value = env
        .http
        .get(format!(
            "{}/self-service/login/flows?id={flow_id}",
            env.public
        ))
        .header("cookie", csrf_cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf_again = again["ui"]["nodes"][0]["attributes"]["value"]
        .as_str()
        .unwrap();
    let raw = csrf_cookie.split_once('=').unwrap().1;
    assert_ne!(csrf, csrf_again);
    assert_ne!(csrf, raw);
    assert_ne!(csrf_again, raw);
    csrf
}

async fn a_form_post_without_csrf_goes_to_the_error_ui(env: &Env, action: &str, csrf_cookie: &str) {
    // form post without csrf: Kratos keeps the error and sends the browser to the error UI,
    // whose page reads it from /self-service/errors?id=
    let r = env
        .http
        .post(action)
        .header("cookie", csrf_cookie)
        .form(&[
            ("method", "password"),
            ("identifier", "dan@example.com"),
            ("password", "a-long-secret-pw"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let error_id = location
        .strip_prefix("https://www.ory.sh/kratos/docs/fallback/error?id=")
        .unwrap();
    let r = env
        .http
        .get(format!("{}/self-service/errors?id={error_id}", env.public))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let stored: Value = r.json().await.unwrap();
    assert_eq!(stored["id"], error_id);
    assert_eq!(stored["error"]["id"], "security_csrf_violation");
    assert_eq!(stored["error"]["code"], 403);
    // the same failure asked as JSON answers the error itself
    let r = env
        .http
        .post(action)
        .header("cookie", csrf_cookie)
        .header("accept", "application/json")
        .form(&[
            ("method", "password"),
            ("identifier", "dan@example.com"),
            ("password", "a-long-secret-pw"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

/// Returns the session cookie (`name=value`).
async fn a_form_post_with_csrf_sets_the_session_cookie(
    env: &Env,
    action: &str,
    csrf_cookie: &str,
    csrf: &str,
) -> String {
    let r = env
        .http
        .post(action)
        .header("cookie", csrf_cookie)
        .form(&[
            ("method", "password"),
            ("identifier", "dan@example.com"),
            ("password", "a-long-secret-pw"),
            ("csrf_token", csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers().get("location").unwrap(),
        "http://app.test/after"
    );
    let session_cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("ory_kratos_session="))
        .unwrap();
    assert!(session_cookie.contains("HttpOnly") && session_cookie.contains("SameSite=Lax"));
    let cookie = session_cookie.split(';').next().unwrap().to_string();
    let r = env
        .http
        .get(format!("{}/sessions/whoami", env.public))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // tampered cookie → 401
    let tampered = format!("{}x", cookie);
    assert_eq!(
        env.http
            .get(format!("{}/sessions/whoami", env.public))
            .header("cookie", tampered)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    cookie
}

async fn a_signed_in_browser_may_only_step_up(env: &Env, cookie: &str) {
    // already signed in: SPA init → 400 session_already_available
    let r = env
        .http
        .get(format!("{}/self-service/login/browser", env.public))
        .header("cookie", cookie)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // a second factor needs the first one's session: aal2 with a session is a flow asking for
    // it, without one Kratos' 401 session_aal1_required; an unknown level is a 400 either way
    let spa_init = |aal: &str, with_cookie: bool| {
        let mut req = env
            .http
            .get(format!(
                "{}/self-service/login/browser?aal={aal}",
                env.public
            ))
            .header("accept", "application/json");
        if with_cookie {
            req = req.header("cookie", cookie);
        }
        req.send()
    };
    let r = spa_init("aal2", true).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["requested_aal"], "aal2");
    let r = spa_init("aal2", false).await.unwrap();
    assert_eq!(r.status(), 401);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["id"], "session_aal1_required", "{e}");
    let r = env
        .http
        .get(format!("{}/self-service/login/api?aal=aal2", env.public))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(spa_init("aal9", false).await.unwrap().status(), 400);
    // a browser's failed init goes to the error UI, which reads the error back
    let r = env
        .http
        .get(format!(
            "{}/self-service/login/browser?aal=aal2",
            env.public
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let error_id = location
        .strip_prefix("https://www.ory.sh/kratos/docs/fallback/error?id=")
        .unwrap_or_else(|| panic!("{location}"));
    let stored: Value = env
        .http
        .get(format!("{}/self-service/errors?id={error_id}", env.public))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["error"]["id"], "session_aal1_required");
    assert_eq!(stored["error"]["code"], 401);
    assert_eq!(spa_init("aal9", true).await.unwrap().status(), 400);
}

async fn browser_logout_ends_the_session(env: &Env, cookie: &str) {
    // logout via the browser logout URL
    let lo: Value = env
        .http
        .get(format!("{}/self-service/logout/browser", env.public))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(lo["logout_token"].as_str().unwrap().starts_with("ory_lo_"));
    let r = env
        .http
        .get(lo["logout_url"].as_str().unwrap())
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers().get("location").unwrap(), "http://app.test/");
    assert_eq!(
        env.http
            .get(format!("{}/sessions/whoami", env.public))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

async fn return_to_must_be_on_the_allow_list(env: &Env) {
    // return_to not on the allow list
    let r = env
        .http
        .get(format!(
            "{}/self-service/login/browser?return_to=https://evil.test/",
            env.public
        ))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["id"], "self_service_flow_return_to_forbidden");
}

async fn expired_flows_answer_410_with_use_flow_id(backend: Backend) {
    let env = start_with(backend, |c| {
        c.identity.selfservice.flows.login.lifespan = GoDuration(1)
    })
    .await;
    let flow: Value = env
        .http
        .get(format!("{}/self-service/login/api", env.public))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = flow["id"].as_str().unwrap();
    let r = env
        .http
        .get(format!("{}/self-service/login/flows?id={id}", env.public))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["id"], "self_service_flow_expired");
    assert_eq!(e["use_flow_id"], id);
    // a flow of another kind is not found
    let r = env
        .http
        .get(format!(
            "{}/self-service/registration/flows?id={id}",
            env.public
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    env.finish().await;
}

async fn repeated_query_parameters_count_with_their_first_value(backend: Backend) {
    let env = start(backend).await;
    // Go's url.Values.Get: the first value wins, the request is not refused.
    let r = env
        .http
        .get(format!(
            "{}/self-service/login/api?refresh=true&refresh=false",
            env.public
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let flow: Value = r.json().await.unwrap();
    assert_eq!(flow["refresh"], true);
    let r = env
        .http
        .get(format!(
            "{}/self-service/login/api?refresh=maybe",
            env.public
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    env.finish().await;
}

async fn submissions_naming_a_malformed_flow_are_400_and_an_unknown_one_404(backend: Backend) {
    let env = start(backend).await;
    for kind in ["login", "registration", "settings"] {
        for (flow, status) in [
            ("abc", 400),
            ("00000000-0000-0000-0000-000000000000", 400),
            ("", 400),
            ("7f7b1a4e-2b6c-4f4e-9d8a-3c2b1a0f9e8d", 404),
        ] {
            let r = env
                .http
                .post(format!("{}/self-service/{kind}?flow={flow}", env.public))
                .json(&json!({"method": "password"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), status, "{kind}?flow={flow}");
            if status == 400 {
                let e: Value = r.json().await.unwrap();
                assert_eq!(
                    e["error"]["reason"],
                    "The flow query parameter is missing or malformed."
                );
            }
        }
    }
    // A GET of a malformed id is Kratos' 404, not the submission's 400.
    let r = env
        .http
        .get(format!("{}/self-service/login/flows?id=abc", env.public))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    env.finish().await;
}

async fn settings_changes_profile_and_password(backend: Backend) {
    let env = start(backend).await;
    env.create(person("eve@example.com", Some("a-long-secret-pw")))
        .await;
    let login: Value = env
        .api_login("eve@example.com", "a-long-secret-pw")
        .await
        .json()
        .await
        .unwrap();
    let token = login["session_token"].as_str().unwrap();
    assert_eq!(
        env.http
            .get(format!("{}/self-service/settings/api", env.public))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let flow = env.settings_flow(token).await;
    assert_eq!(flow["identity"]["traits"]["email"], "eve@example.com");
    assert_eq!(flow["state"], "show_form");
    let action = flow["ui"]["action"].as_str().unwrap();
    let r = env
        .http
        .post(action)
        .header("x-session-token", token)
        .json(&json!({"method": "profile", "traits": {"email": "eve2@example.com"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let done: Value = r.json().await.unwrap();
    assert_eq!(done["state"], "success");
    assert_eq!(done["ui"]["messages"][0]["id"], 1050001);
    let r = env
        .http
        .post(action)
        .header("x-session-token", token)
        .json(&json!({"method": "password", "password": "a-new-long-secret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        env.api_login("eve2@example.com", "a-new-long-secret")
            .await
            .status(),
        200
    );
    env.finish().await;
}

/// The bound-URL handle without the composition root: the role's own routers served on port 0,
/// the handle filled with the real URLs, as `Stack` does once it passes the handle in. The
/// admin API's `schema_url` and the public port's 307 then name the real ports, not `:0`.
#[tokio::test]
async fn bound_urls_replace_port_zero_in_schema_url_and_redirects() {
    use quartet::identity::BoundUrls;

    let mut config = Config::ephemeral();
    config.apply_dev_defaults();
    config.identity.hashers.bcrypt.cost = Some(4);
    let db = quartet::store::Db::connect(&quartet::config::Dsn::Memory)
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let urls = BoundUrls::default();
    let service = quartet::identity::service_with_urls(&config.identity, db, true, urls.clone())
        .await
        .unwrap();
    let mut bases = std::collections::BTreeMap::new();
    for spec in quartet::identity::listeners(&config.identity, service) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        urls.set(spec.name, &url);
        bases.insert(spec.name, url);
        tokio::spawn(async move { axum::serve(listener, spec.routes).await.unwrap() });
    }
    let (public, admin) = (bases["public"].clone(), bases["admin"].clone());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let created: Value = http
        .post(format!("{admin}/admin/identities"))
        .json(&json!({"schema_id": "default", "traits": {"email": "bound@example.com"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        created["schema_url"],
        format!("{public}/schemas/ZGVmYXVsdA"),
        "schema_url names the bound public port"
    );
    let r = http
        .get(format!("{public}/identities"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(
        r.headers().get("location").unwrap(),
        &format!("{admin}/admin/identities")
    );
    let r = http
        .get(format!("{admin}/admin/schemas"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers().get("location").unwrap(),
        &format!("{public}/schemas")
    );
}
