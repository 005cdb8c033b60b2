//! Imports as jobs: every import run, from the API or the command line, has a row in
//! `import_jobs` (migration 000027) holding its state and running counts, so a client can
//! start a large import in the background and follow it (`GET /v1/imports/{id}`), and
//! read any import's outcome afterwards.
//!
//! The counts move in the same transaction as the rows they count (each batch of
//! [`super::BATCH_ROWS`] commits its rows and the job's counts together), so what the job
//! says was created is exactly what a reader can see.

use chrono::{DateTime, Utc};
use crm_store::TenantScope;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde::Serialize;
use uuid::Uuid;

use super::{ImportReport, ImportRun};
use crate::error::AppError;

/// What is imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    /// `Company name`, `Company Domain Name`, … (see [`super::companies`]).
    Companies,
    /// `First Name`, `Last Name`, `Email`, … (see [`super::contacts`]).
    Contacts,
    /// `Deal name`, `Amount`, … (see [`super::deals`]).
    Deals,
}

impl ImportKind {
    /// The name used in reports, jobs and routes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Companies => "companies",
            Self::Contacts => "contacts",
            Self::Deals => "deals",
        }
    }
}

/// Where an import job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Rows are being read and written (or the import waits for another import of the
    /// same kind into the workspace to end).
    Running,
    /// Every row was read and is accounted for in the report.
    Completed,
    /// A fault of the server or the database stopped it; the report says at which row.
    /// Running the same file again imports the rest (rows already imported are skipped
    /// as duplicates).
    Aborted,
    /// The file was refused as a whole (no header, a required column missing); nothing
    /// was written. `error` says why.
    Failed,
    /// The process running it ended before it did: no batch committed for
    /// [`STALE_AFTER_MINUTES`] minutes. Rows of committed batches stay imported; run the
    /// file again to import the rest.
    Interrupted,
}

/// Minutes without a committed batch after which a running job counts as interrupted. A
/// batch of [`super::BATCH_ROWS`] rows commits in seconds; an import waiting for another
/// import of the same kind into the same workspace does not move its heartbeat, so this
/// is generous.
pub const STALE_AFTER_MINUTES: i64 = 10;

/// An import job as `GET /v1/imports/{import_id}` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportJob {
    /// The import's id: the `import_id` of every event it wrote.
    pub import_id: Uuid,
    /// `companies`, `contacts` or `deals`.
    pub kind: String,
    /// Where the job is.
    pub state: JobState,
    /// Whether the import only reports (writes nothing).
    pub dry_run: bool,
    /// Data rows read so far, as of the last committed batch (the header not counted).
    pub rows_read: u64,
    /// Rows that created a record, as of the last committed batch.
    pub created: u64,
    /// Rows skipped as duplicates, as of the last committed batch.
    pub skipped_duplicates: u64,
    /// Rows refused, as of the last committed batch.
    pub failed: u64,
    /// When the import was asked for.
    pub started_at: DateTime<Utc>,
    /// When its last batch committed (or it started).
    pub updated_at: DateTime<Utc>,
    /// When it ended (completed, aborted or failed).
    pub finished_at: Option<DateTime<Utc>>,
    /// The whole report, once the import ended with one (completed or aborted).
    pub report: Option<ImportReport>,
    /// Why the file was refused (state `failed`).
    pub error: Option<String>,
}

/// Checks the header of `data` for an import of `kind`, so a background import of a file
/// that would be refused as a whole is refused at once instead.
///
/// # Errors
/// 422 when the file has no header or lacks a required column.
pub fn check(kind: ImportKind, data: impl std::io::Read) -> Result<(), AppError> {
    match kind {
        ImportKind::Companies => super::companies::header(data).map(drop),
        ImportKind::Contacts => super::contacts::header(data).map(drop),
        ImportKind::Deals => super::deals::header(data).map(drop),
    }
}

/// Records that the import `run` (its `meta.import_id`) of `kind` started, asked for by
/// `requested_by` (none for the command line), and returns the job as it now stands (the
/// answer to a background import, with no second read). One transaction on the
/// application pool, committed at once so the job is visible.
///
/// # Errors
/// A validation error on `mode` for an upsert of deals; [`AppError::Internal`] when
/// `run.meta` has no `import_id`; database errors.
pub async fn open(
    run: &ImportRun<'_>,
    kind: ImportKind,
    requested_by: Option<Uuid>,
) -> Result<ImportJob, AppError> {
    if run.upsert && kind == ImportKind::Deals {
        return Err(AppError::invalid(
            "mode",
            "deals are not matched to existing ones: upsert is for companies and contacts",
        ));
    }
    let id = job_id(run)?;
    let scope = TenantScope::for_command(&run.meta);
    let txn = scope.begin(run.app).await?;
    let started: DateTime<Utc> = txn
        .query_one(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO import_jobs (tenant_id, id, kind, dry_run, requested_by, state)
             VALUES ($1, $2, $3, $4, $5, 'running')
             RETURNING started_at",
            [
                scope.tenant().0.into(),
                id.into(),
                kind.as_str().into(),
                run.dry_run.into(),
                requested_by.into(),
            ],
        ))
        .await?
        .ok_or_else(|| AppError::Internal("the new import job was not returned".into()))?
        .try_get("", "started_at")?;
    txn.commit().await?;
    Ok(ImportJob {
        import_id: id,
        kind: kind.as_str().to_owned(),
        state: JobState::Running,
        dry_run: run.dry_run,
        rows_read: 0,
        created: 0,
        skipped_duplicates: 0,
        failed: 0,
        started_at: started,
        updated_at: started,
        finished_at: None,
        report: None,
        error: None,
    })
}

/// Runs the import `run` of `kind` over `data` (read as the rows go: a file, a spooled
/// request body, or bytes in memory), whose job [`open`] recorded, and records
/// how it ended: `completed` or `aborted` with the report, or `failed` with the reason
/// the file was refused.
///
/// # Errors
/// The import's own errors (a refused file is [`AppError::Validation`]); recording the
/// end is best effort (a job whose end could not be written turns `interrupted`).
pub async fn execute(
    run: &ImportRun<'_>,
    kind: ImportKind,
    data: impl std::io::Read + Send,
) -> Result<ImportReport, AppError> {
    let outcome = match kind {
        ImportKind::Companies => super::companies::import(run, data).await,
        ImportKind::Contacts => super::contacts::import(run, data).await,
        ImportKind::Deals => super::deals::import(run, data).await,
    };
    let (state, report, error) = match &outcome {
        Ok(report) if report.aborted.is_some() => (JobState::Aborted, Some(report), None),
        Ok(report) => (JobState::Completed, Some(report), None),
        // A fault after some batches committed: their rows stay, and the job keeps the
        // counts of its last committed batch; the cause is logged, not served.
        Err(AppError::Internal(_) | AppError::Unavailable(_)) => (
            JobState::Aborted,
            None,
            Some("stopped by a fault of the server or the database; rows of committed batches are imported, and running the import again imports the rest".to_owned()),
        ),
        Err(err) => (
            JobState::Failed,
            None,
            Some(super::companies::describe(err)),
        ),
    };
    if let Err(err) = close(run, state, report, error).await {
        tracing::warn!(error = %err, "the end of an import could not be recorded");
    }
    outcome
}

/// Writes the end of the job.
async fn close(
    run: &ImportRun<'_>,
    state: JobState,
    report: Option<&ImportReport>,
    error: Option<String>,
) -> Result<(), AppError> {
    let id = job_id(run)?;
    let scope = TenantScope::for_command(&run.meta);
    let state = serde_json::to_value(state).map_err(AppError::internal)?;
    let report_json = report
        .map(serde_json::to_value)
        .transpose()
        .map_err(AppError::internal)?;
    // Without a report, the counts of the last committed batch stay.
    let counts = report.map_or([None; 4], |r| {
        [r.rows_read, r.created, r.skipped_duplicates, r.failed].map(|n| Some(as_i64(n)))
    });
    let txn = scope.begin(run.app).await?;
    txn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE import_jobs
            SET state = $3, report = $4, rows_read = coalesce($5, rows_read),
                created = coalesce($6, created), skipped = coalesce($7, skipped),
                failed = coalesce($8, failed), heartbeat_at = now(), finished_at = now()
          WHERE tenant_id = $1 AND id = $2",
        [
            scope.tenant().0.into(),
            id.into(),
            state.as_str().unwrap_or("failed").into(),
            report_json
                .or_else(|| error.map(|e| serde_json::json!({ "error": e })))
                .into(),
            counts[0].into(),
            counts[1].into(),
            counts[2].into(),
            counts[3].into(),
        ],
    ))
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The counts of `report` written into the job of `import_id` inside `conn`, the
/// transaction that commits the rows they count (a batch's).
///
/// # Errors
/// Database errors.
pub(crate) async fn progress<C: ConnectionTrait>(
    conn: &C,
    tenant: crm_domain::TenantId,
    report: &ImportReport,
) -> Result<(), sea_orm::DbErr> {
    let [rows_read, created, skipped, failed] = [
        report.rows_read,
        report.created,
        report.skipped_duplicates,
        report.failed,
    ]
    .map(as_i64);
    conn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE import_jobs
            SET rows_read = $3, created = $4, skipped = $5, failed = $6, heartbeat_at = now()
          WHERE tenant_id = $1 AND id = $2",
        [
            tenant.0.into(),
            report.import_id.into(),
            rows_read.into(),
            created.into(),
            skipped.into(),
            failed.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// The job `import_id` of `scope`'s workspace.
///
/// # Errors
/// [`AppError::NotFound`] when the workspace has no such import; database errors.
pub async fn find(
    app: &sea_orm::DatabaseConnection,
    scope: &TenantScope,
    import_id: Uuid,
) -> Result<ImportJob, AppError> {
    let txn = scope.read(app).await?;
    let row = txn
        .query_one(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT kind, state, dry_run, rows_read, created, skipped, failed, report,
                    started_at, heartbeat_at, finished_at,
                    state = 'running' AND heartbeat_at < now() - make_interval(mins => $3) AS stale
               FROM import_jobs WHERE tenant_id = $1 AND id = $2",
            [
                scope.tenant().0.into(),
                import_id.into(),
                i32::try_from(STALE_AFTER_MINUTES)
                    .unwrap_or(i32::MAX)
                    .into(),
            ],
        ))
        .await?
        .ok_or(AppError::NotFound)?;
    txn.commit().await?;
    let state: String = row.try_get("", "state")?;
    let stale: bool = row.try_get("", "stale")?;
    let state = match state.as_str() {
        _ if stale => JobState::Interrupted,
        "running" => JobState::Running,
        "completed" => JobState::Completed,
        "aborted" => JobState::Aborted,
        _ => JobState::Failed,
    };
    let document: Option<serde_json::Value> = row.try_get("", "report")?;
    let (report, error) = match (state, document) {
        (_, Some(doc)) if doc.get("error").is_some() => {
            (None, doc["error"].as_str().map(str::to_owned))
        }
        (_, Some(doc)) => (
            Some(serde_json::from_value(doc).map_err(AppError::internal)?),
            None,
        ),
        (_, None) => (None, None),
    };
    let count = |column: &str| -> Result<u64, AppError> {
        Ok(u64::try_from(row.try_get::<i64>("", column)?).unwrap_or(0))
    };
    Ok(ImportJob {
        import_id,
        kind: row.try_get("", "kind")?,
        state,
        dry_run: row.try_get("", "dry_run")?,
        rows_read: count("rows_read")?,
        created: count("created")?,
        skipped_duplicates: count("skipped")?,
        failed: count("failed")?,
        started_at: row.try_get("", "started_at")?,
        updated_at: row.try_get("", "heartbeat_at")?,
        finished_at: row.try_get("", "finished_at")?,
        report,
        error,
    })
}

fn job_id(run: &ImportRun<'_>) -> Result<Uuid, AppError> {
    run.meta
        .import_id
        .ok_or_else(|| AppError::Internal("an import run without an import_id".into()))
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
