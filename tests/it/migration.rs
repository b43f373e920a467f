//! The move from a running Ory stack (docs/migrating-from-ory.md): the sample exports in
//! `tests/data/migration/ory-export/` (Ory's own answer shapes) go through
//! `scripts/ory-export convert` and into a stack with the seed's identity schema and OPL model;
//! then identities keep their ids, their imported password hashes sign in, clients with a known
//! secret get tokens, the tuples decide checks, and a second import changes nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use quartet::config::identity::IdentitySchemaRef;
use quartet::config::{Config, Dsn, Role};
use quartet::Stack;
use serde_json::{json, Value};

use crate::common::Backend;

const ANN: &str = "f1faf6ef-1c65-4bbd-b632-830eef6a1f75";
const BO: &str = "69b8deca-bb22-4403-9f6c-7a479ba03ea2";
const CY: &str = "ee609beb-176e-4346-becd-4e587bda884b";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs `scripts/ory-export convert` on the sample exports into `out`; its stderr.
fn convert(out: &Path) -> String {
    let run = Command::new("python3")
        .arg(repo("scripts/ory-export"))
        .arg("convert")
        .arg("--client-secrets")
        .arg(repo("tests/data/migration/client-secrets.json"))
        .arg(repo("tests/data/migration/ory-export"))
        .arg(out)
        .output()
        .expect("python3 runs scripts/ory-export (scripts/setup installs it)");
    let stderr = String::from_utf8_lossy(&run.stderr).to_string();
    assert!(run.status.success(), "ory-export convert failed: {stderr}");
    stderr
}

/// `--dev` defaults (the seed's OPL model included) with the seed's `user` schema.
fn config(dsn: Dsn) -> Config {
    let mut config = Config::ephemeral();
    config.dsn = dsn;
    config.identity.identity.default_schema_id = Some("user".into());
    config.identity.identity.schemas = vec![IdentitySchemaRef {
        id: "user".into(),
        url: format!(
            "file://{}",
            repo("config/imprun/schemas/user.schema.json").display()
        ),
    }];
    config
}

async fn login(http: &reqwest::Client, public: &str, email: &str, password: &str) -> Value {
    let flow: Value = http
        .get(format!("{public}/self-service/login/api"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let flow_id = flow["id"].as_str().unwrap();
    let answer = http
        .post(format!("{public}/self-service/login?flow={flow_id}"))
        .json(&json!({"method": "password", "identifier": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{email} signs in");
    answer.json().await.unwrap()
}

async fn allowed(
    http: &reqwest::Client,
    read: &str,
    object: &str,
    relation: &str,
    who: &str,
) -> bool {
    let answer: Value = http
        .get(format!("{read}/relation-tuples/check/openapi"))
        .query(&[
            ("namespace", "Gateway"),
            ("object", object),
            ("relation", relation),
            ("subject_id", who),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["allowed"].as_bool().unwrap()
}

async fn exported_ory_data_moves_over(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let notes = convert(dir.path());
    assert!(
        notes.contains(&format!(
            "identity {CY}: its `oidc` credential is not carried over"
        )),
        "{notes}"
    );
    assert!(
        notes.contains("client imprun-web: no secret known (client_secret_post)"),
        "{notes}"
    );
    assert!(
        !notes.contains("imprun-m2m"),
        "its secret is known: {notes}"
    );
    assert!(
        !notes.contains("imprun-cli"),
        "a public client needs none: {notes}"
    );

    let pg = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => crate::common::pg_database().await,
    };
    let dsn = match &pg {
        Some(pg) => pg.dsn.clone(),
        None => Dsn::Sqlite(dir.path().join("quartet.sqlite").display().to_string()),
    };
    let files: Vec<PathBuf> = ["identities.json", "clients.json", "tuples.json"]
        .iter()
        .map(|f| dir.path().join(f))
        .collect();
    let stack = Stack::start_with_imports(config(dsn.clone()), &Role::ALL, &files)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let public = stack.url(Role::Identity, "public").unwrap();
    let admin = stack.url(Role::Identity, "admin").unwrap();

    // Identities keep their ids, traits, metadata and verified addresses.
    let ann: Value = http
        .get(format!("{admin}/admin/identities/{ANN}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ann["id"], ANN);
    assert_eq!(ann["traits"]["name"]["first"], "Ann");
    assert_eq!(ann["metadata_admin"], json!({"plan": "pro"}));
    assert_eq!(ann["verifiable_addresses"][0]["verified"], true);
    let cy: Value = http
        .get(format!("{admin}/admin/identities/{CY}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cy["traits"]["email"], "cy@example.com");
    assert!(cy["credentials"].get("password").is_none(), "{cy}");

    // The exported hashes sign in (bcrypt and PBKDF2), as the identities of the tuples.
    let session = login(&http, &public, "ann@example.com", "fixture-password-1").await;
    assert_eq!(session["session"]["identity"]["id"], ANN);
    let session = login(&http, &public, "bo@example.com", "migrated-password-2").await;
    assert_eq!(session["session"]["identity"]["id"], BO);

    // A client whose secret the operator knew gets tokens with it; the others exist.
    let oauth2_public = stack.url(Role::Oauth2, "public").unwrap();
    let token = http
        .post(format!("{oauth2_public}/oauth2/token"))
        .basic_auth("imprun-m2m", Some("m2m-secret-from-the-old-deployment"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
    let oauth2_admin = stack.url(Role::Oauth2, "admin").unwrap();
    for (id, method) in [("imprun-web", "client_secret_post"), ("imprun-cli", "none")] {
        let client: Value = http
            .get(format!("{oauth2_admin}/admin/clients/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(client["token_endpoint_auth_method"], method, "{client}");
    }

    // The tuples, across both Keto pages, decide as they did.
    let read = stack.url(Role::Permission, "read").unwrap();
    assert!(allowed(&http, &read, "gw-1", "delete", ANN).await);
    assert!(
        allowed(&http, &read, "gw-1", "view", BO).await,
        "through acme's members"
    );
    assert!(!allowed(&http, &read, "gw-1", "delete", BO).await);
    stack.shutdown().await;

    // Importing the same files again skips everything already there.
    let again = Stack::start_with_imports(config(dsn), &Role::ALL, &files)
        .await
        .unwrap();
    let admin = again.url(Role::Identity, "admin").unwrap();
    let listed: Vec<Value> = http
        .get(format!("{admin}/admin/identities"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut ids: Vec<&str> = listed.iter().filter_map(|i| i["id"].as_str()).collect();
    ids.sort_unstable();
    let mut expected = vec![ANN, BO, CY];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    again.shutdown().await;
    if let Some(pg) = pg {
        pg.drop_now().await;
    }
}

/// An identity file naming an id that is not a UUID is refused before anything is written.
async fn an_identity_id_that_is_not_a_uuid_is_refused_whole(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let pg = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => crate::common::pg_database().await,
    };
    let dsn = match &pg {
        Some(pg) => pg.dsn.clone(),
        None => Dsn::Sqlite(dir.path().join("quartet.sqlite").display().to_string()),
    };
    let file = dir.path().join("identities.json");
    std::fs::write(
        &file,
        json!([
            {"id": ANN, "schema_id": "user", "traits": {"email": "ann@example.com"}},
            {"id": "bo", "schema_id": "user", "traits": {"email": "bo@example.com"}}
        ])
        .to_string(),
    )
    .unwrap();
    let refused = Stack::start_with_imports(config(dsn.clone()), &[Role::Identity], &[file])
        .await
        .err()
        .expect("the import is refused")
        .to_string();
    assert!(
        refused.contains(r#"identity at index 1: `id` must be a UUID, got "bo""#),
        "{refused}"
    );
    let stack = Stack::start_roles(config(dsn), &[Role::Identity])
        .await
        .unwrap();
    let admin = stack.url(Role::Identity, "admin").unwrap();
    let listed: Vec<Value> = reqwest::get(format!("{admin}/admin/identities"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed, Vec::<Value>::new(), "nothing was written");
    stack.shutdown().await;
    if let Some(pg) = pg {
        pg.drop_now().await;
    }
}

on_every_backend!(
    exported_ory_data_moves_over,
    an_identity_id_that_is_not_a_uuid_is_refused_whole
);
