//! HTTP tests of the identity role (Kratos v1.1 wire behaviour) against the in-process stack.
//! Every test runs on SQLite (in memory) and again on PostgreSQL when `TEST_DATABASE_URL` is set
//! (a fresh database per test, dropped afterwards).

use crate::common::{self, Backend};

use quartet::config::identity::{GoDuration, HookConfig};
use quartet::config::{Config, Role};
use quartet::{Clock, Stack};
use serde_json::{json, Value};

mod admin;
mod errors;
mod selfservice;
mod sessions;

struct Env {
    stack: Stack,
    pg: Option<common::PgDatabase>,
    public: String,
    admin: String,
    http: reqwest::Client,
    /// Moves the stack's clock: expiries pass without sleeping.
    hand: quartet::ClockHand,
}

async fn start_with(backend: Backend, edit: impl FnOnce(&mut Config)) -> Env {
    let mut config = Config::ephemeral();
    config.apply_dev_defaults();
    config.identity.hashers.bcrypt.cost = Some(4);
    config.identity.selfservice.default_browser_return_url = Some("http://app.test/".into());
    config.identity.selfservice.allowed_return_urls = vec!["http://app.test/".into()];
    let pg = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(
            common::pg_database()
                .await
                .expect("TEST_DATABASE_URL is set"),
        ),
    };
    if let Some(pg) = &pg {
        config.dsn = pg.dsn.clone();
    }
    edit(&mut config);
    let (clock, hand) = Clock::adjustable();
    let stack = Stack::start_with_clock(config, &[Role::Identity], &[], clock)
        .await
        .unwrap();
    let public = stack.url(Role::Identity, "public").unwrap();
    let admin = stack.url(Role::Identity, "admin").unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Env {
        stack,
        pg,
        public,
        admin,
        http,
        hand,
    }
}

async fn start(backend: Backend) -> Env {
    start_with(backend, |_| {}).await
}

impl Env {
    /// Stops the stack and drops the Postgres database, if any.
    async fn finish(self) {
        self.stack.shutdown().await;
        if let Some(pg) = self.pg {
            // Proves the stack ran on this database: the role's tables exist there.
            let db = quartet::store::Db::connect(&pg.dsn).await.unwrap();
            let (_n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM identity_flows")
                .fetch_one(db.pool())
                .await
                .expect("the stack migrated the Postgres test database");
            db.close().await;
            pg.drop_now().await;
        }
    }
    async fn create(&self, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}/admin/identities", self.admin))
            .json(&body)
            .send()
            .await
            .unwrap()
    }
    /// A new settings flow (API) for the session of `token`.
    async fn settings_flow(&self, token: &str) -> Value {
        self.http
            .get(format!("{}/self-service/settings/api", self.public))
            .header("x-session-token", token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
    async fn api_login(&self, identifier: &str, password: &str) -> reqwest::Response {
        let flow: Value = self
            .http
            .get(format!("{}/self-service/login/api", self.public))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = flow["id"].as_str().unwrap();
        self.http
            .post(format!("{}/self-service/login?flow={id}", self.public))
            .json(&json!({"method": "password", "identifier": identifier, "password": password}))
            .send()
            .await
            .unwrap()
    }
}

fn person(email: &str, password: Option<&str>) -> Value {
    let mut v = json!({"schema_id": "default", "traits": {"email": email}});
    if let Some(p) = password {
        v["credentials"] = json!({"password": {"config": {"password": p}}});
    }
    v
}

async fn whoami_status(env: &Env, token: &str) -> u16 {
    env.http
        .get(format!("{}/sessions/whoami", env.public))
        .header("x-session-token", token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn session_token_of(env: &Env, email: &str, password: &str) -> String {
    let login: Value = env.api_login(email, password).await.json().await.unwrap();
    login["session_token"].as_str().unwrap().to_string()
}
