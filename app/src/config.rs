//! Layered configuration: built-in defaults, then an optional TOML file (`crm.toml` in the
//! working directory, or the path in `CRM_CONFIG`), then environment variables `CRM_…`
//! (sections separated by `__`, e.g. `CRM_SERVER__PORT=9000`), then `DATABASE_URL`.
//! Secrets are [`SecretString`]s: they never reach a log through `Debug`.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sqlx::postgres::PgConnectOptions;

/// Everything the server and the command line read from configuration.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// HTTP server.
    pub server: ServerSettings,
    /// PostgreSQL.
    pub database: DatabaseSettings,
    /// Authentication.
    pub auth: AuthSettings,
    /// The catch-up projector.
    pub projector: ProjectorSettings,
    /// The tamper-evident trail.
    #[serde(default)]
    pub audit: AuditSettings,
    /// Encryption of contacts' personal data (erasure).
    pub personal_data: PersonalDataSettings,
    /// Webhook delivery.
    #[serde(default)]
    pub webhooks: WebhookSettings,
    /// The Prometheus endpoint.
    #[serde(default)]
    pub metrics: MetricsSettings,
}

/// The Prometheus endpoint (`[metrics]`, `CRM_METRICS__…`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MetricsSettings {
    /// The bearer token a scraper sends to `GET /metrics`, at least 32 characters. When
    /// absent (the default) the endpoint answers 404: metrics are never public by
    /// default.
    pub token: Option<SecretString>,
}

/// Webhook delivery settings (`[webhooks]`, `CRM_WEBHOOKS__…`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct WebhookSettings {
    /// Run the dispatcher and delivery worker in this process. Default true.
    pub enabled: bool,
    /// Comma-separated hosts (names or IP addresses) webhooks may reach although they
    /// are private, loopback or link-local, and over `http`. Default none.
    pub allow_hosts: String,
    /// Pause when there is nothing to send, milliseconds. Default 1,000.
    pub idle_ms: u64,
    /// Messages sent at once per process. Default 16.
    pub concurrency: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            allow_hosts: String::new(),
            idle_ms: 1_000,
            concurrency: 16,
        }
    }
}

/// Settings of the encryption that makes erasure possible in an append-only store.
#[derive(Debug, Clone, Deserialize)]
pub struct PersonalDataSettings {
    /// AES-256 master key that wraps every contact's data key: 32 bytes, base64. Kept out
    /// of the database on purpose. Losing it makes every contact's personal data
    /// unreadable, as if erased: keep it with the database's backups, but apart from them.
    pub master_key: Option<SecretString>,
    /// Where a master key is kept when `master_key` is not set: read from this file, or
    /// generated into it (mode 0600, with a warning) on the first start, so personal data
    /// stays readable across restarts of a development server. Default
    /// `.data/master.key`.
    pub master_key_file: String,
}

impl PersonalDataSettings {
    /// The keyring over the configured master key, or the one in `master_key_file`
    /// (generated there when the file does not exist).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a key that is not 32 bytes of base64, or a key file
    /// that cannot be read or written.
    pub fn keyring(&self) -> Result<crm_store::personal_data::Keyring, ConfigError> {
        use base64::Engine;
        let engine = base64::engine::general_purpose::STANDARD;
        let decode = |text: &str, source: &str| -> Result<[u8; 32], ConfigError> {
            engine
                .decode(text.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| ConfigError::Invalid(format!("{source} must be 32 bytes of base64")))
        };
        let key = match &self.master_key {
            Some(key) => decode(key.expose_secret(), "personal_data.master_key")?,
            None => {
                let path = std::path::Path::new(&self.master_key_file);
                let io = |e: std::io::Error| {
                    ConfigError::Invalid(format!(
                        "personal_data.master_key_file {}: {e}",
                        path.display()
                    ))
                };
                if !path.exists() {
                    tracing::warn!(file = %path.display(), "no personal_data.master_key configured: generated one into this file; set the key in production");
                    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                        std::fs::create_dir_all(dir).map_err(io)?;
                    }
                    let mut raw = [0_u8; 32];
                    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
                    write_private(path, engine.encode(raw).as_bytes()).map_err(io)?;
                }
                let text = std::fs::read_to_string(path).map_err(io)?;
                decode(&text, "personal_data.master_key_file")?
            }
        };
        Ok(crm_store::personal_data::Keyring::new(key))
    }
}

/// Creates `path` (failing if it exists) readable by its owner only, and writes `bytes`.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

/// Audit trail settings.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuditSettings {
    /// HMAC key signing checkpoints of the trail (base64, at least 32 bytes). Kept out of
    /// the database on purpose. When absent the server generates one at start (with a
    /// warning), and checkpoints signed before a restart no longer verify.
    pub checkpoint_key: Option<SecretString>,
}

impl AuditSettings {
    /// The configured checkpoint key (base64, at least 32 bytes), if any.
    pub fn configured_key(&self) -> Option<Vec<u8>> {
        use base64::Engine;
        self.checkpoint_key
            .as_ref()
            .and_then(|k| {
                base64::engine::general_purpose::STANDARD
                    .decode(k.expose_secret().trim())
                    .ok()
            })
            .filter(|k| k.len() >= 32)
    }

    /// The checkpoint key: the configured one, or a random one (with a warning).
    pub fn key(&self) -> Vec<u8> {
        self.configured_key().unwrap_or_else(|| {
            tracing::warn!("no audit.checkpoint_key configured: generated one; checkpoints will not verify after a restart");
            let mut key = vec![0_u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
            key
        })
    }
}

/// HTTP server settings.
#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    /// Address to bind; default `127.0.0.1`.
    pub host: String,
    /// Port to bind; `0` picks a free one (tests). Default 8080.
    pub port: u16,
    /// Largest JSON request body, bytes. Default 65,536.
    pub json_limit_bytes: usize,
    /// Largest CSV import body, bytes. Default 20 MiB.
    pub import_limit_bytes: usize,
    /// Take the client address from `Forwarded`/`X-Forwarded-For` (only behind a proxy
    /// that sets them). Default false: the TCP peer address.
    pub trust_forwarded_for: bool,
    /// Requests one workspace may make per minute, all its users and keys together
    /// (429 past it). Default 6,000; 0 for no limit.
    pub workspace_requests_per_minute: u64,
    /// Browser origins allowed by CORS, comma-separated (`https://app.example.com`).
    /// Default empty: no cross-origin browser access at all.
    pub cors_allowed_origins: String,
}

impl ServerSettings {
    /// The CORS origins as a list.
    pub fn cors_origins(&self) -> Vec<String> {
        self.cors_allowed_origins
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// PostgreSQL settings.
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// The owner's connection URL: migrations run as this user. The server's own roles
    /// (`crm_app`, `crm_store`, `crm_projector`) connect to the same host and database.
    /// Default `postgres://postgres@127.0.0.1:5432/crm`.
    pub url: SecretString,
    /// Password of the server's roles. When set, the server gives it to `crm_store`,
    /// `crm_app` and `crm_projector` after migrating (as the owner) and signs in with it;
    /// needed wherever PostgreSQL asks for passwords (md5, SCRAM). Default none: the roles
    /// sign in without one, which works under `trust` or `peer` only.
    pub role_password: Option<SecretString>,
    /// Connections per pool. Default 10.
    pub max_connections: u32,
    /// How long a request waits for a connection (milliseconds) before it is answered
    /// 503 with `Retry-After`: when PostgreSQL is down, or every connection is busy.
    /// Default 1,500, so an outage is told within 2 s.
    pub acquire_timeout_ms: u64,
    /// Create the database when it does not exist. Default true.
    pub create_if_missing: bool,
    /// When nothing answers at a loopback `url` and PostgreSQL's binaries are installed,
    /// start a private cluster in this folder. Default `.data/postgres`; empty disables.
    pub private_cluster_dir: String,
    /// A PostgreSQL hot standby of `url`'s server (streaming replication), as a URL of the
    /// same form: its host, port and database are used, with the server's roles and
    /// `role_password` as at `url`. When set, lists, search, exports, audit reads and
    /// history read there once it has replayed what the primary had flushed when the
    /// request was authenticated ([`crate::replica`]). Default none: every read goes to
    /// the primary.
    #[serde(default)]
    pub replica_url: Option<SecretString>,
    /// How long a read waits for the standby to replay up to the request's position
    /// (milliseconds) before it reads the primary instead. Default 100.
    pub replica_wait_ms: u64,
    /// How long reads stay on the primary after the standby failed a check or a read
    /// (milliseconds), before it is tried again. Default 5,000.
    pub replica_retry_ms: u64,
}

/// Authentication settings.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    /// HS256 signing secret for access tokens, at least 32 bytes (RFC 7518 §3.2). When
    /// absent the server generates one at start and tokens do not survive a restart.
    pub jwt_secret: Option<SecretString>,
    /// Access token lifetime, seconds, 1 to 900. Default 900 (15 minutes).
    pub access_token_ttl_seconds: u64,
    /// Refresh token (session) lifetime, seconds. Default 2,592,000 (30 days).
    pub refresh_token_ttl_seconds: u64,
    /// Length of the sign-in rate-limit window, seconds. Default 900.
    pub login_window_seconds: u64,
    /// Sign-in attempts allowed per client address per window. Default 20.
    pub login_max_per_ip: u64,
    /// Failed sign-ins allowed per account (email) per window. Default 5.
    pub login_max_failures_per_account: u64,
    /// A file of refused common passwords, one a line (default: the built-in list).
    pub common_passwords_file: Option<String>,
    /// AES-256 key for TOTP secrets at rest: 32 bytes, base64. When absent the server
    /// generates one at start (with a warning): two-factor enrolments then do not survive a
    /// restart.
    pub totp_encryption_key: Option<SecretString>,
}

/// Catch-up projector settings.
#[derive(Debug, Clone, Deserialize)]
pub struct ProjectorSettings {
    /// Run the catch-up projector in the server. Default true.
    pub enabled: bool,
    /// Pause when caught up, milliseconds. Default 500.
    pub idle_ms: u64,
    /// Events per batch. Default 500.
    pub batch: u64,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The sources could not be read or merged.
    #[error(transparent)]
    Load(#[from] config::ConfigError),
    /// A value is out of range.
    #[error("{0}")]
    Invalid(String),
    /// The database URL does not parse.
    #[error("database url: {0}")]
    DatabaseUrl(#[from] sqlx::Error),
}

/// The default database URL.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/crm";

impl Settings {
    /// Loads the layers in order (see the module docs).
    ///
    /// # Errors
    /// [`ConfigError`] when a layer does not parse or a value is out of range.
    pub fn load() -> Result<Self, ConfigError> {
        let file = std::env::var("CRM_CONFIG").unwrap_or_else(|_| "crm.toml".to_owned());
        let mut builder = config::Config::builder()
            .set_default("server.host", "127.0.0.1")?
            .set_default("server.port", 8080)?
            .set_default("server.json_limit_bytes", 65_536)?
            .set_default("server.import_limit_bytes", 20 * 1024 * 1024)?
            .set_default("server.trust_forwarded_for", false)?
            .set_default("server.cors_allowed_origins", "")?
            .set_default("server.workspace_requests_per_minute", 6_000)?
            .set_default("database.url", DEFAULT_DATABASE_URL)?
            .set_default("database.max_connections", 10)?
            .set_default("database.acquire_timeout_ms", 1_500)?
            .set_default("database.create_if_missing", true)?
            .set_default("database.private_cluster_dir", ".data/postgres")?
            .set_default("database.replica_wait_ms", 100)?
            .set_default("database.replica_retry_ms", 5_000)?
            .set_default("auth.access_token_ttl_seconds", 900)?
            .set_default("auth.refresh_token_ttl_seconds", 2_592_000)?
            .set_default("auth.login_window_seconds", 900)?
            .set_default("auth.login_max_per_ip", 20)?
            .set_default("auth.login_max_failures_per_account", 5)?
            .set_default("projector.enabled", true)?
            .set_default("projector.idle_ms", 500)?
            .set_default("projector.batch", 500)?
            .set_default("personal_data.master_key_file", ".data/master.key")?
            .add_source(config::File::with_name(&file).required(false))
            .add_source(
                config::Environment::with_prefix("CRM")
                    .prefix_separator("_")
                    .separator("__"),
            );
        if let Ok(url) = std::env::var("DATABASE_URL") {
            builder = builder.set_override("database.url", url)?;
        }
        let settings: Self = builder.build()?.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks ranges that types cannot express.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=900).contains(&self.auth.access_token_ttl_seconds) {
            return Err(ConfigError::Invalid(
                "auth.access_token_ttl_seconds must be 1 to 900".into(),
            ));
        }
        if let Some(secret) = &self.auth.jwt_secret {
            if secret.expose_secret().len() < 32 {
                return Err(ConfigError::Invalid(
                    "auth.jwt_secret must be at least 32 bytes".into(),
                ));
            }
        }
        if let Some(key) = &self.auth.totp_encryption_key {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(key.expose_secret().trim())
                .map_err(|_| {
                    ConfigError::Invalid("auth.totp_encryption_key must be base64".into())
                })?;
            if bytes.len() != 32 {
                return Err(ConfigError::Invalid(
                    "auth.totp_encryption_key must be 32 bytes".into(),
                ));
            }
        }
        if let Some(token) = &self.metrics.token {
            if token.expose_secret().len() < 32 {
                return Err(ConfigError::Invalid(
                    "metrics.token must be at least 32 characters".into(),
                ));
            }
        }
        if self.database.acquire_timeout_ms == 0 {
            return Err(ConfigError::Invalid(
                "database.acquire_timeout_ms must be at least 1".into(),
            ));
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::Invalid(
                "database.max_connections must be at least 1".into(),
            ));
        }
        if self.database.replica_wait_ms > 10_000 {
            return Err(ConfigError::Invalid(
                "database.replica_wait_ms must be at most 10,000".into(),
            ));
        }
        self.database.owner_options()?;
        self.database.replica_options("crm_app")?;
        Ok(())
    }
}

impl DatabaseSettings {
    /// Connection options of the owner (the `url` as given).
    ///
    /// # Errors
    /// [`ConfigError::DatabaseUrl`] when the URL does not parse.
    pub fn owner_options(&self) -> Result<PgConnectOptions, ConfigError> {
        Ok(self.url.expose_secret().parse::<PgConnectOptions>()?)
    }

    /// Connection options for one of the server's roles: the owner's host, port and
    /// database, with the role as user and [`DatabaseSettings::role_password`] (or no
    /// password) as password.
    ///
    /// # Errors
    /// [`ConfigError::DatabaseUrl`].
    pub fn role_options(&self, role: &str) -> Result<PgConnectOptions, ConfigError> {
        let options = self.owner_options()?.username(role);
        Ok(match &self.role_password {
            Some(password) => options.password(password.expose_secret()),
            None => options.password(""),
        })
    }

    /// Connection options for one of the server's roles at the standby
    /// ([`DatabaseSettings::replica_url`]'s host, port and database, the role's user and
    /// password as in [`DatabaseSettings::role_options`]); `None` without a standby.
    ///
    /// # Errors
    /// [`ConfigError::DatabaseUrl`] when the URL does not parse.
    pub fn replica_options(&self, role: &str) -> Result<Option<PgConnectOptions>, ConfigError> {
        let Some(url) = &self.replica_url else {
            return Ok(None);
        };
        let options = url
            .expose_secret()
            .parse::<PgConnectOptions>()?
            .username(role);
        Ok(Some(match &self.role_password {
            Some(password) => options.password(password.expose_secret()),
            None => options.password(""),
        }))
    }
}

impl ProjectorSettings {
    /// The idle pause as a duration.
    pub fn idle(&self) -> Duration {
        Duration::from_millis(self.idle_ms)
    }
}

impl AuthSettings {
    /// The TOTP encryption key: the configured one, or a random one (with a warning).
    pub fn totp_key(&self) -> [u8; 32] {
        use base64::Engine;
        let configured = self
            .totp_encryption_key
            .as_ref()
            .and_then(|k| {
                base64::engine::general_purpose::STANDARD
                    .decode(k.expose_secret().trim())
                    .ok()
            })
            .and_then(|b| <[u8; 32]>::try_from(b).ok());
        configured.unwrap_or_else(|| {
            tracing::warn!("no auth.totp_encryption_key configured: generated one; two-factor enrolments will not survive a restart");
            let mut key = [0_u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
            key
        })
    }
}
