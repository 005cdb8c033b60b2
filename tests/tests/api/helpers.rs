//! `spawn_app()`: a server on port 0 over its own database, cloned from a migrated
//! template, so tests run in parallel and never see each other's rows.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use crm_api::startup::Application;
use crm_app::config::{
    AuthSettings, DatabaseSettings, ProjectorSettings, ServerSettings, Settings,
};
use reqwest::{Client, Method, Response, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};
use uuid::Uuid;

/// The token secret of every test server (tests mint tokens with it for role checks).
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";
/// The password every test user signs up with.
pub const PASSWORD: &str = "violet harbour engine 42";

/// The server's admin URL: `CRM_TEST_DATABASE_URL`, else `DATABASE_URL`, else the local
/// default. Tests create databases next to the one it names.
pub fn admin_options() -> PgConnectOptions {
    let url = std::env::var("CRM_TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    url.parse()
        .unwrap_or_else(|e| panic!("bad test database url {url}: {e}"))
}

fn template_name() -> String {
    format!("crm_template_{:016x}", crm_migrations::fingerprint())
}

static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
static LOGS: OnceLock<()> = OnceLock::new();

/// Makes sure the migrated template exists: once per process, and across processes under
/// an advisory lock (nextest runs each test in its own process). Also drops test databases
/// older than two hours that earlier runs left behind.
async fn template() -> String {
    TEMPLATE
        .get_or_init(|| async {
            let admin = admin_options().database("postgres");
            let mut conn = match admin.connect().await {
                Ok(c) => c,
                Err(_) => {
                    // Nothing answers: let the server's fallback start a private cluster.
                    let dir = std::env::var("CRM_TEST_PRIVATE_CLUSTER_DIR").unwrap_or_else(|_| "../.data/postgres".to_owned());
                    crm_app::private_cluster::start(&admin, &dir).unwrap_or_else(|e| panic!("no PostgreSQL for the tests: {e}"));
                    admin.connect().await.unwrap_or_else(|e| panic!("private cluster unreachable: {e}"))
                }
            };
            sqlx::query("SELECT pg_advisory_lock(hashtext('crm-test-template'))").execute(&mut conn).await.unwrap_or_else(|e| panic!("{e}"));
            let name = template_name();
            let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(&name)
                .fetch_one(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            if !exists {
                let building = format!("{name}_building");
                sqlx::query(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)")).execute(&mut conn).await.unwrap_or_else(|e| panic!("{e}"));
                sqlx::query(&format!("CREATE DATABASE {building}")).execute(&mut conn).await.unwrap_or_else(|e| panic!("{e}"));
                crm_app::db::migrate(admin_options().database(&building)).await.unwrap_or_else(|e| panic!("migrating the template: {e}"));
                sqlx::query(&format!("ALTER DATABASE {building} RENAME TO {name}")).execute(&mut conn).await.unwrap_or_else(|e| panic!("{e}"));
            }
            let stale: Vec<String> = sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'crm\\_test\\_%' OR (datname LIKE 'crm\\_template\\_%' AND datname <> $1)")
                .bind(&name)
                .fetch_all(&mut conn)
                .await
                .unwrap_or_default();
            let now = unix_now();
            for db in stale {
                let old = db.strip_prefix("crm_test_").and_then(|rest| rest.split('_').next()).and_then(|ts| ts.parse::<u64>().ok()).is_none_or(|ts| now.saturating_sub(ts) > 7200);
                if old {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).execute(&mut conn).await;
                }
            }
            sqlx::query("SELECT pg_advisory_unlock(hashtext('crm-test-template'))").execute(&mut conn).await.unwrap_or_else(|e| panic!("{e}"));
            name
        })
        .await
        .clone()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The databases a test thread created; dropped when the thread ends, that is when its
/// test ends (libtest runs each test on a thread of its own), after the test's runtime
/// and its servers are gone.
struct Created(Vec<String>);

impl Drop for Created {
    fn drop(&mut self) {
        let names = std::mem::take(&mut self.0);
        if names.is_empty() {
            return;
        }
        // A thread of its own: this one's thread-locals (tokio's too) are being torn down.
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let Ok(mut conn) = admin_options().database("postgres").connect().await else {
                    return;
                };
                for name in names {
                    if let Err(e) =
                        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut conn)
                            .await
                    {
                        eprintln!("could not drop test database {name}: {e}");
                    }
                }
            });
        });
        let _ = dropper.join();
    }
}

thread_local! {
    static CREATED: std::cell::RefCell<Created> = const { std::cell::RefCell::new(Created(Vec::new())) };
}

/// A fresh database cloned from the template; returns its name. It is dropped when the
/// test ends.
pub async fn fresh_database() -> String {
    let template = template().await;
    let name = format!("crm_test_{}_{}", unix_now(), Uuid::new_v4().simple());
    let mut conn = admin_options()
        .database("postgres")
        .connect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut tries = 0;
    loop {
        match sqlx::query(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .execute(&mut conn)
            .await
        {
            Ok(_) => {
                CREATED.with(|created| created.borrow_mut().0.push(name.clone()));
                return name;
            }
            // "source database is being accessed by other users": a concurrent clone.
            Err(e) if tries < 20 => {
                tries += 1;
                tracing_pause(&e).await;
            }
            Err(e) => panic!("cloning the template: {e}"),
        }
    }
}

async fn tracing_pause(_e: &sqlx::Error) {
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
}

/// A running server and what a test needs to talk to it and to its database.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// The test database's name.
    pub db_name: String,
    /// An HTTP client.
    pub client: Client,
}

/// Settings of a test server over `db_name`.
pub fn test_settings(db_name: &str) -> Settings {
    let admin = admin_options();
    let url = format!(
        "postgres://{}@{}:{}/{}",
        admin.get_username(),
        admin.get_host(),
        admin.get_port(),
        db_name
    );
    Settings {
        server: ServerSettings {
            host: "127.0.0.1".into(),
            port: 0,
            json_limit_bytes: 65_536,
            import_limit_bytes: 20 * 1024 * 1024,
            trust_forwarded_for: false,
            cors_allowed_origins: "https://app.example.com".into(),
            workspace_requests_per_minute: 0,
        },
        database: DatabaseSettings {
            url: SecretString::from(url),
            role_password: None,
            max_connections: 5,
            // Generous: the whole suite runs in parallel on two cores.
            acquire_timeout_ms: 10_000,
            create_if_missing: false,
            private_cluster_dir: String::new(),
            replica_url: None,
            replica_wait_ms: 100,
            replica_retry_ms: 5_000,
        },
        auth: AuthSettings {
            jwt_secret: Some(SecretString::from(JWT_SECRET)),
            access_token_ttl_seconds: 900,
            refresh_token_ttl_seconds: 86_400,
            login_window_seconds: 900,
            login_max_per_ip: 1_000,
            login_max_failures_per_account: 5,
            common_passwords_file: None,
            totp_encryption_key: Some(SecretString::from(
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            )),
        },
        projector: ProjectorSettings {
            enabled: true,
            idle_ms: 100,
            batch: 500,
        },
        audit: crm_app::config::AuditSettings {
            checkpoint_key: Some(SecretString::from(
                "Y2hlY2twb2ludC1rZXktY2hlY2twb2ludC1rZXktMDA=",
            )),
        },
        personal_data: crm_app::config::PersonalDataSettings {
            master_key: Some(SecretString::from(MASTER_KEY)),
            master_key_file: String::new(),
        },
        // Off unless a test turns it on: every server would otherwise poll for messages.
        // The test receivers listen on loopback, which only an allow-list lets through.
        webhooks: crm_app::config::WebhookSettings {
            enabled: false,
            allow_hosts: "127.0.0.1".into(),
            idle_ms: 50,
            concurrency: 8,
        },
        metrics: crm_app::config::MetricsSettings::default(),
    }
}

/// The personal-data master key of every test server (32 bytes, base64).
pub const MASTER_KEY: &str = "bWFzdGVyLWtleS1tYXN0ZXIta2V5LW1hc3Rlci1rZXk=";

/// The keyring of every test server.
pub fn keyring() -> crm_store::personal_data::Keyring {
    test_settings("unused")
        .personal_data
        .keyring()
        .unwrap_or_else(|e| panic!("test master key: {e}"))
}

/// Starts a server on port 0 over a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server with settings adjusted by `adjust`.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with_clock(adjust, std::sync::Arc::new(crm_app::clock::SystemClock)).await
}

/// Starts a server with adjusted settings and the given clock.
pub async fn spawn_app_with_clock(
    adjust: impl FnOnce(&mut Settings),
    clock: std::sync::Arc<dyn crm_app::clock::Clock>,
) -> TestApp {
    spawn_app_full(
        adjust,
        clock,
        std::sync::Arc::new(crm_app::mailer::MemoryMailer::default()),
    )
    .await
}

/// Starts a server with adjusted settings, the given clock and the given mailer.
pub async fn spawn_app_full(
    adjust: impl FnOnce(&mut Settings),
    clock: std::sync::Arc<dyn crm_app::clock::Clock>,
    mailer: std::sync::Arc<dyn crm_app::mailer::Mailer>,
) -> TestApp {
    LOGS.get_or_init(|| {
        if std::env::var("TEST_LOG").is_ok() {
            let _ = crm_api::telemetry::init();
        }
    });
    let db_name = fresh_database().await;
    let mut settings = test_settings(&db_name);
    adjust(&mut settings);
    let app = Application::build_with(settings, clock, mailer)
        .await
        .unwrap_or_else(|e| panic!("server failed to start: {e}"));
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        db_name,
        client: Client::new(),
    }
}

/// Starts a server with `settings` as given (a private cluster's URL, say) over the
/// database `db_name`, which the caller owns and drops.
pub async fn serve(settings: Settings, db_name: &str) -> TestApp {
    let app = Application::build(settings)
        .await
        .unwrap_or_else(|e| panic!("server failed to start: {e}"));
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        db_name: db_name.to_owned(),
        client: Client::new(),
    }
}

/// A signed-up workspace: its token, tenant, owner and slug.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The owner's access token.
    pub token: String,
    /// The tenant id.
    pub tenant: Uuid,
    /// The owner's user id.
    pub owner: Uuid,
    /// The owner's email.
    pub email: String,
}

impl TestApp {
    /// A second server over the same database (another process, as far as the database
    /// can tell), with the same settings adjustments.
    pub async fn second_server(
        &self,
        adjust: impl FnOnce(&mut Settings),
        clock: std::sync::Arc<dyn crm_app::clock::Clock>,
    ) -> TestApp {
        let mut settings = test_settings(&self.db_name);
        adjust(&mut settings);
        let mailer = std::sync::Arc::new(crm_app::mailer::MemoryMailer::default());
        let app = Application::build_with(settings, clock, mailer)
            .await
            .unwrap_or_else(|e| panic!("second server failed: {e}"));
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        TestApp {
            address,
            db_name: self.db_name.clone(),
            client: Client::new(),
        }
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.address, path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send()
            .await
            .unwrap_or_else(|e| panic!("request {path}: {e}"))
    }

    /// Sends a request and returns its status and JSON body (`Null` when empty); panics
    /// when the body is not JSON. New tests use the typed client (`app.as_(..)`).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let what = format!("{method} {path}");
        let res = self.request(method, path, token, body).await;
        let status = res.status();
        let text = res
            .text()
            .await
            .unwrap_or_else(|e| panic!("{what}: reading the body: {e}"));
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{what} -> {status}: the body is not JSON: {e}\n{text}"))
        };
        (status, json)
    }

    /// GET with a token.
    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// POST JSON with a token.
    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// PATCH JSON with a token.
    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    /// POST a CSV body with a token.
    pub async fn post_csv(&self, path: &str, token: &str, csv: Vec<u8>) -> (StatusCode, Value) {
        let res = self
            .client
            .post(format!("{}{}", self.address, path))
            .bearer_auth(token)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let status = res.status();
        let text = res
            .text()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: reading the body: {e}"));
        let json = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!("POST {path} -> {status}: the body is not JSON: {e}\n{text}")
        });
        (status, json)
    }

    /// Signs up a workspace with the given slug (checked to be 201).
    pub async fn signup(&self, slug: &str) -> Workspace {
        let email = format!("owner@{slug}.example.com");
        let (status, body) = self
            .call(
                Method::POST,
                "/v1/auth/signup",
                None,
                Some(json!({"workspace_name": format!("Workspace {slug}"), "workspace_slug": slug, "email": email, "password": PASSWORD, "display_name": "Owner"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "signing up {slug}: {body}");
        let uuid = |v: &Value| {
            v.as_str()
                .and_then(|s| Uuid::parse_str(s).ok())
                .unwrap_or_else(|| panic!("signing up {slug}: not a uuid: {v} in {body}"))
        };
        Workspace {
            token: str_of(&body["access_token"]),
            tenant: uuid(&body["workspace"]["id"]),
            owner: uuid(&body["user"]["id"]),
            email,
        }
    }

    /// A pool on the test database as `user` (the owner when `None`).
    pub async fn pool_as(&self, user: Option<&str>) -> PgPool {
        let mut options: PgConnectOptions = admin_options().database(&self.db_name);
        if let Some(user) = user {
            options = options.username(user);
        }
        PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A sea-orm connection on the test database as `crm_projector`.
    pub async fn projector_db(&self) -> sea_orm::DatabaseConnection {
        sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(
            self.pool_as(Some("crm_projector")).await,
        )
    }

    /// Mints a token for `user` of `tenant` with `role`, signed with the test secret, in a
    /// fresh session written straight to the database (so role checks can be tested for
    /// roles no sign-up creates); a made-up user gets an active read row.
    pub async fn token_for(&self, tenant: Uuid, user: Uuid, role: crm_domain::Role) -> String {
        let sid = Uuid::now_v7();
        let owner = self.pool_as(None).await;
        // A user the test made up gets an active read row (sessions need an active user).
        sqlx::query(
            "INSERT INTO users (tenant_id, id, email, display_name, role, status, version, created_at, updated_at)
             VALUES ($1, $2, $2::text || '@test.example', 'Test user', $3, 'active', 1, now(), now()) ON CONFLICT DO NOTHING",
        )
        .bind(tenant)
        .bind(user)
        .bind(role.as_str())
        .execute(&owner)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        sqlx::query("INSERT INTO sessions (tenant_id, id, user_id, created_at, last_used_at, expires_at) VALUES ($1, $2, $3, now(), now(), now() + interval '1 day')")
            .bind(tenant)
            .bind(sid)
            .bind(user)
            .execute(&owner)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let keys =
            crm_app::access_token::TokenKeys::new(Some(&SecretString::from(JWT_SECRET)), 900);
        keys.issue(
            crm_domain::TenantId(tenant),
            crm_domain::UserId(user),
            role,
            sid,
            chrono::Utc::now(),
        )
        .map(|t| t.access_token)
        .unwrap_or_else(|e| panic!("minting a test token: {e}"))
    }

    /// Waits until the catch-up projector has applied every committed event (an inline
    /// apply that lost a race under load is left to it), so read tables can be compared.
    pub async fn settle(&self) {
        let catchup = crm_projections::catchup::CatchUp::new(self.projector_db().await, keyring());
        let owner = self.pool_as(None).await;
        // Every event past the checkpoint must be applied; the projector reads only below
        // the cluster's oldest running transaction, so this may take a few rounds.
        for _ in 0..3_000 {
            let report = catchup.run_once(1_000).await.unwrap();
            if report.read > 0 {
                continue;
            }
            let pending: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM events e, projector_checkpoints c
                  WHERE c.name = $1
                    AND (e.transaction_id, e.global_position) > (c.last_transaction_id, c.last_position)",
            )
            .bind(crm_projections::catchup::READ_MODELS)
            .fetch_one(&owner)
            .await
            .unwrap();
            if pending == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the catch-up projector did not catch up within a minute");
    }

    /// Number of rows in `events`, read as the owner.
    pub async fn event_count(&self) -> i64 {
        let pool = self.pool_as(None).await;
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&pool)
            .await
            .unwrap_or_else(|e| panic!("counting events: {e}"))
    }
}

/// A JSON string value as `String`; panics when it is not a string (a test must not go
/// on with an empty id).
pub fn str_of(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a JSON string, got {v}"))
        .to_owned()
}

/// The shared data folder (`../shared/data` beside the repository).
pub fn data_file(name: &str) -> Vec<u8> {
    let dir = std::env::var("CRM_DATA_DIR")
        .unwrap_or_else(|_| format!("{}/../../shared/data", env!("CARGO_MANIFEST_DIR")));
    std::fs::read(format!("{dir}/{name}")).unwrap_or_else(|e| panic!("{dir}/{name}: {e}"))
}

/// Number of data records of a CSV file.
pub fn csv_rows(data: &[u8]) -> u64 {
    csv::Reader::from_reader(data).records().count() as u64
}
