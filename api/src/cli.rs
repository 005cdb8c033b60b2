//! The `crm` command line: `serve` (the default), `migrate`, `import`,
//! `rebuild-projections`.

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use crm_access::credentials::tenant_of_slug;
use crm_domain::{EventMetadata, TenantId};
use uuid::Uuid;

use crate::startup::{self, Application};
use crm_app::audit_chain::CheckpointKey;
use crm_app::config::Settings;
use crm_app::import;

/// The CRM backend.
#[derive(Debug, Parser)]
#[command(
    name = "crm",
    version,
    about = "Event-sourced, multi-tenant CRM backend"
)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate, then serve the HTTP API (default).
    Serve,
    /// Create the database if missing and apply pending migrations.
    Migrate,
    /// Print the OpenAPI 3.1 document of every route (the one `GET /openapi.json` serves
    /// and `docs/openapi.json` holds); needs no database.
    Openapi,
    /// Import a CSV file into a workspace, as the `import` system actor.
    Import {
        /// What the file holds.
        kind: ImportKind,
        /// The CSV file.
        file: PathBuf,
        /// The workspace's slug.
        #[arg(long)]
        workspace: String,
        /// Read and check every row, write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Update the record a row matches (a contact by email, a company by domain)
        /// instead of skipping the row as a duplicate.
        #[arg(long)]
        upsert: bool,
        /// Map a column to a custom field of the record type: `--map 'Ticker=ticker'`
        /// (repeatable).
        #[arg(long = "map", value_parser = mapping)]
        map: Vec<(String, String)>,
    },
    /// Rebuild the read tables from the event store, logging progress after every batch.
    /// Every workspace's: into shadow tables while the live ones serve, then a switch in
    /// one short transaction; an interrupted run resumes where it stopped. One
    /// workspace's (`--workspace`): in one transaction, the others untouched.
    RebuildProjections {
        /// The workspace's slug (all when absent).
        #[arg(long)]
        workspace: Option<String>,
    },
    /// Verify the audit trail (hash chains and the latest signed checkpoint) of one
    /// workspace, or of all; exits non-zero when any is not intact.
    VerifyAudit {
        /// The workspace's slug (all when absent).
        #[arg(long)]
        workspace: Option<String>,
    },
    /// Write every event of a workspace, with its hash, to an NDJSON backup file.
    ExportWorkspace {
        /// The workspace's slug.
        slug: String,
        /// The file to write.
        file: PathBuf,
    },
    /// Create a support account (staff outside every workspace, who reach one only through
    /// an Owner's grant). The password is read from the `CRM_SUPPORT_PASSWORD` environment
    /// variable, never from the command line.
    CreateSupportAccount {
        /// The account's email.
        email: String,
        /// The name shown to Owners.
        #[arg(long, default_value = "Support")]
        name: String,
    },
    /// Restore a workspace from a backup file into a database that does not have it:
    /// verifies every hash, appends the events, rebuilds the read models.
    ImportWorkspace {
        /// The backup file.
        file: PathBuf,
        /// Accept a file without a signature (one written by a server without
        /// `audit.checkpoint_key`).
        #[arg(long)]
        allow_unsigned: bool,
    },
}

/// Importable record kinds.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ImportKind {
    /// `companies.csv`-style files.
    Companies,
    /// `contacts.csv`-style files.
    Contacts,
    /// Deals (HubSpot-style headers: Deal Name, Amount, Currency, Pipeline, Deal Stage…).
    Deals,
}

/// A command-line failure, printed as one line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Configuration.
    #[error(transparent)]
    Config(#[from] crm_app::config::ConfigError),
    /// Startup.
    #[error(transparent)]
    Startup(#[from] startup::StartupError),
    /// Database.
    #[error(transparent)]
    Db(#[from] crm_app::db::DbError),
    /// A query failed.
    #[error(transparent)]
    Query(#[from] sea_orm::DbErr),
    /// Reading a file or writing output.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// No workspace has that slug.
    #[error("no workspace with slug {0:?}")]
    UnknownWorkspace(String),
    /// The import refused the file.
    #[error("import: {0}")]
    Import(String),
    /// The audit trail of these workspaces is not intact.
    #[error("the audit trail is not intact in: {0}")]
    Tampered(String),
    /// A check failed on the server's side.
    #[error("{0}")]
    Api(String),
    /// A backup file is damaged; nothing was written.
    #[error("backup refused at line {line}: {reason}")]
    Damaged {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The database already has this workspace (or its slug).
    #[error("the database already has workspace {0:?}")]
    WorkspaceExists(String),
}

impl From<crm_app::backup::BackupError> for CliError {
    fn from(err: crm_app::backup::BackupError) -> Self {
        use crm_app::backup::BackupError;
        match err {
            BackupError::UnknownWorkspace(slug) => Self::UnknownWorkspace(slug),
            BackupError::Query(e) => Self::Query(e),
            BackupError::Io(e) => Self::Io(e),
            BackupError::Key(m) => Self::Api(m),
            BackupError::Damaged { line, reason } => Self::Damaged { line, reason },
            BackupError::WorkspaceExists(slug) => Self::WorkspaceExists(slug),
        }
    }
}

/// Runs the command line with the layered configuration.
///
/// # Errors
/// [`CliError`].
pub async fn run(cli: Cli) -> Result<(), CliError> {
    if matches!(cli.command, Some(Command::Openapi)) {
        let json = crate::openapi::to_json(&crate::openapi::document())
            .map_err(|e| CliError::Api(e.to_string()))?;
        std::io::Write::write_all(&mut std::io::stdout(), json.as_bytes())?;
        return Ok(());
    }
    let settings = Settings::load()?;
    execute(settings, cli.command.unwrap_or(Command::Serve)).await
}

/// Runs one command with `settings`. An import prints its report as JSON on standard
/// output.
///
/// # Errors
/// [`CliError`].
pub async fn execute(settings: Settings, command: Command) -> Result<(), CliError> {
    match command {
        Command::Serve => {
            let app = Application::build(settings).await?;
            app.run_until_stopped().await?;
        }
        Command::Openapi => {
            let json = crate::openapi::to_json(&crate::openapi::document())
                .map_err(|e| CliError::Api(e.to_string()))?;
            std::io::Write::write_all(&mut std::io::stdout(), json.as_bytes())?;
        }
        Command::Migrate => {
            crm_app::db::prepare(&settings.database).await?;
            tracing::info!("migrations applied");
        }
        Command::Import {
            kind,
            file,
            workspace,
            dry_run,
            upsert,
            map,
        } => {
            let report =
                import_file(&settings, kind, &file, &workspace, dry_run, upsert, map).await?;
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &report).map_err(std::io::Error::other)?;
            writeln!(out)?;
            tracing::info!("{}", report.summary());
        }
        Command::VerifyAudit { workspace } => {
            let (pools, _) = startup::connect(&settings).await?;
            let key = crm_app::audit_chain::CheckpointKey::new(settings.audit.key());
            let mut broken = Vec::new();
            let mut out = std::io::stdout().lock();
            for (tenant, slug) in crm_store::audit_chain::tenants(&pools.projector).await? {
                if workspace.as_deref().is_some_and(|w| w != slug) {
                    continue;
                }
                let report = crm_app::audit_chain::verify(&pools.projector, &key, TenantId(tenant))
                    .await
                    .map_err(|e| CliError::Api(e.to_string()))?;
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({"workspace": slug, "report": report})
                )?;
                if !report.intact {
                    broken.push(slug);
                }
            }
            if !broken.is_empty() {
                return Err(CliError::Tampered(broken.join(", ")));
            }
        }
        Command::CreateSupportAccount { email, name } => {
            let password = std::env::var("CRM_SUPPORT_PASSWORD").map_err(|_| {
                CliError::Api("set CRM_SUPPORT_PASSWORD to the new password".into())
            })?;
            let (pools, _) = startup::connect(&settings).await?;
            let totp_box = crm_app::totp::SecretBox::new(settings.auth.totp_key());
            let account = crm_app::support_accounts::create_account(
                &pools.app,
                &totp_box,
                &email,
                &name,
                secrecy::SecretString::from(password),
            )
            .await
            .map_err(|e| CliError::Api(e.to_string()))?;
            tracing::info!(id = %account.id, %email, "support account created");
            // Shown once, for the staff member's authenticator: it signs in with its codes.
            writeln!(std::io::stdout(), "{}", account.otpauth_uri)?;
        }
        Command::ExportWorkspace { slug, file } => {
            let (pools, _) = startup::connect(&settings).await?;
            let signing = settings.audit.configured_key().map(CheckpointKey::new);
            let events =
                crm_app::backup::export_workspace(&pools, signing.as_ref(), &slug, &file).await?;
            tracing::info!(events, workspace = %slug, "workspace exported");
        }
        Command::ImportWorkspace {
            file,
            allow_unsigned,
        } => {
            let (pools, commands) = startup::connect(&settings).await?;
            let signing = settings.audit.configured_key().map(CheckpointKey::new);
            let (slug, events) = crm_app::backup::import_workspace(
                &pools,
                commands.keyring(),
                signing.as_ref(),
                allow_unsigned,
                &file,
            )
            .await?;
            tracing::info!(events, workspace = %slug, "workspace restored");
        }
        Command::RebuildProjections {
            workspace: Some(slug),
        } => {
            let (pools, commands) = startup::connect(&settings).await?;
            let tenant = tenant_of_slug(&pools.projector, &slug)
                .await?
                .ok_or_else(|| CliError::UnknownWorkspace(slug.clone()))?;
            let scope = crm_store::TenantScope::for_system(TenantId(tenant));
            let keyring = commands.keyring();
            let events = crm_projections::rebuild::rebuild_tenant(
                &pools.projector,
                keyring,
                &scope,
                log_progress,
            )
            .await?;
            tracing::info!(events, workspace = %slug, "workspace projections rebuilt");
        }
        Command::RebuildProjections { workspace: None } => {
            let (pools, commands) = startup::connect(&settings).await?;
            let started = std::time::Instant::now();
            let events = crm_projections::rebuild::rebuild_all_with(
                &pools.projector,
                commands.keyring(),
                log_progress,
            )
            .await?;
            tracing::info!(
                events,
                seconds = started.elapsed().as_secs_f64(),
                "projections rebuilt"
            );
        }
    }
    Ok(())
}

/// `COLUMN=KEY` of `--map`.
fn mapping(text: &str) -> Result<(String, String), String> {
    text.rsplit_once('=')
        .map(|(column, key)| (column.to_owned(), key.to_owned()))
        .ok_or_else(|| format!("{text:?}: expected COLUMN=KEY"))
}

/// `crm import KIND FILE --workspace SLUG [--dry-run] [--map COLUMN=KEY]…`: imports as the `import` system actor under a
/// new import id, with a progress bar on a terminal, and returns the report.
///
/// # Errors
/// [`CliError::UnknownWorkspace`], [`CliError::Io`] for an unreadable file,
/// [`CliError::Import`] when the file is refused.
pub async fn import_file(
    settings: &Settings,
    kind: ImportKind,
    file: &std::path::Path,
    workspace: &str,
    dry_run: bool,
    upsert: bool,
    mapping: Vec<(String, String)>,
) -> Result<import::ImportReport, CliError> {
    let (pools, commands) = startup::connect(settings).await?;
    let tenant = tenant_of_slug(&pools.projector, workspace)
        .await?
        .ok_or_else(|| CliError::UnknownWorkspace(workspace.to_owned()))?;
    // Read as the rows go, twice (the header first): memory does not grow with the file.
    let data = || std::fs::File::open(file);
    let mut meta = EventMetadata::for_system(TenantId(tenant), "import");
    meta.import_id = Some(Uuid::now_v7());
    let run = import::ImportRun {
        commands: &commands,
        app: &pools.app,
        meta,
        dry_run,
        mapping,
        upsert,
    };
    let kind = match kind {
        ImportKind::Companies => import::ImportKind::Companies,
        ImportKind::Contacts => import::ImportKind::Contacts,
        ImportKind::Deals => import::ImportKind::Deals,
    };
    import::jobs::check(kind, data()?)
        .map_err(|e| CliError::Import(import::companies::describe(&e)))?;
    import::jobs::open(&run, kind, None)
        .await
        .map_err(|e| CliError::Import(import::companies::describe(&e)))?;
    // A progress bar on standard error, in bytes of the file read (rows are read as they
    // go, so their number is known only at the end); drawn only on a terminal.
    let bar = indicatif::ProgressBar::new(std::fs::metadata(file)?.len());
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {bytes}/{total_bytes} read, {bytes_per_sec}, {eta} left",
    ) {
        bar.set_style(style);
    }
    let report = import::jobs::execute(&run, kind, bar.wrap_read(data()?))
        .await
        .map_err(|e| CliError::Import(import::companies::describe(&e)));
    bar.finish_and_clear();
    report
}

/// Logs a rebuild's progress: events replayed, of how many, percent, events per second.
fn log_progress(p: crm_projections::rebuild::Progress) {
    tracing::info!(
        replayed = p.replayed,
        total = p.total,
        percent = format!("{:.1}", p.percent()),
        events_per_second = format!("{:.0}", p.events_per_second),
        "rebuilding"
    );
}
