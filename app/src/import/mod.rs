//! CSV import of companies and contacts (HubSpot-style headers), taking real exports as
//! they are: every row becomes a command under the import's actor and import id, and the
//! report accounts for every row: `rows_read = created + duplicates + failed`.

use std::collections::HashMap;

use chrono::Utc;
use crm_domain::EventMetadata;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::commands::Commands;
use crate::error::AppError;

pub mod companies;
pub mod contacts;
pub mod custom;
pub mod deals;
pub mod jobs;
pub mod revenue;

pub use jobs::{ImportJob, ImportKind, JobState};

/// One import run: where commands go, under which metadata (its `import_id` set), and
/// whether it only reports (`dry_run`: every row is read, validated by the same rules the
/// aggregates apply and checked for duplicates, and nothing is written).
pub struct ImportRun<'a> {
    /// The write side.
    pub commands: &'a Commands,
    /// The application pool (tenant-scoped reads).
    pub app: &'a sea_orm::DatabaseConnection,
    /// Metadata of every command; `import_id` must be set.
    pub meta: EventMetadata,
    /// Report without writing.
    pub dry_run: bool,
    /// Columns of the file mapped to custom fields: `(column, field key)`.
    pub mapping: Vec<(String, String)>,
    /// Update the record a row matches instead of skipping the row as a duplicate: a
    /// contact by its email, a company by its domain (companies and contacts only).
    pub upsert: bool,
}

/// A note about one row. `row` counts data records from 1 (the header is not a row;
/// a quoted field may span lines, so this is the record's number, not its line).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct RowNote {
    /// Record number, from 1.
    pub row: u64,
    /// What happened.
    pub message: String,
}

/// The outcome of an import.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ImportReport {
    /// Recorded as `import_id` in the metadata of every event the import wrote.
    pub import_id: Uuid,
    /// `companies`, `contacts` or `deals`.
    pub kind: String,
    /// Data rows read (the header not counted).
    pub rows_read: u64,
    /// Rows that created a record.
    pub created: u64,
    /// Rows that matched a record (an upsert: a contact by email, a company by domain)
    /// and updated it with their non-empty cells; each has an entry in `updates`. Then
    /// `rows_read = created + updated + skipped_duplicates + failed`.
    #[serde(default)]
    pub updated: u64,
    /// Rows skipped because the record exists already.
    pub skipped_duplicates: u64,
    /// Rows that failed; each has an entry in `errors`.
    pub failed: u64,
    /// Which rows were duplicates, of what.
    pub duplicates: Vec<RowNote>,
    /// Which rows updated which record, and what changed.
    #[serde(default)]
    pub updates: Vec<RowNote>,
    /// Rows imported with a value dropped or kept as text.
    pub warnings: Vec<RowNote>,
    /// Rows not imported, and why.
    pub errors: Vec<RowNote>,
    /// Columns of the file that no field takes.
    pub ignored_columns: Vec<String>,
    /// For each ignored column, the custom field it could become (its values' type).
    #[serde(default)]
    pub proposed_fields: Vec<custom::ProposedField>,
    /// True when nothing was written: `created` then counts rows that would be created.
    pub dry_run: bool,
    /// Set when a fault of the server stopped the import: the rows before it stay
    /// imported (a re-run skips them as duplicates), the row it stopped at is in `errors`,
    /// and rows after it were not read.
    pub aborted: Option<String>,
}

impl ImportReport {
    fn new(kind: &'static str, import_id: Uuid) -> Self {
        Self {
            import_id,
            kind: kind.to_owned(),
            rows_read: 0,
            created: 0,
            updated: 0,
            skipped_duplicates: 0,
            failed: 0,
            duplicates: Vec::new(),
            updates: Vec::new(),
            warnings: Vec::new(),
            errors: Vec::new(),
            ignored_columns: Vec::new(),
            proposed_fields: Vec::new(),
            aborted: None,
            dry_run: false,
        }
    }

    /// Records a server fault at `row` and marks the import aborted. The report then ends
    /// at `row`: rows after it (read, but in the batch the fault rolled back) are taken
    /// out of every count and note, so `rows_read = created + skipped + failed` holds
    /// (the caller has already taken the rolled-back rows off `created`).
    fn abort(&mut self, row: u64, cause: &(dyn std::error::Error + Send + Sync)) {
        tracing::error!(import_id = %self.import_id, row, error = %cause, "import aborted");
        for notes in [
            &mut self.duplicates,
            &mut self.updates,
            &mut self.warnings,
            &mut self.errors,
        ] {
            notes.retain(|n| n.row < row);
        }
        self.skipped_duplicates = self.duplicates.len() as u64;
        self.updated = self.updates.len() as u64;
        self.failed = self.errors.len() as u64;
        self.rows_read = row;
        self.fail(
            row,
            "a fault of the server or the database; the import stopped here".into(),
        );
        self.aborted = Some(format!(
            "stopped at row {row} by a fault of the server or the database; rows before it \
             are imported, and running the import again imports the rest"
        ));
    }

    fn duplicate(&mut self, row: u64, message: String) {
        self.skipped_duplicates += 1;
        self.duplicates.push(RowNote { row, message });
    }

    fn update(&mut self, row: u64, message: String) {
        self.updated += 1;
        self.updates.push(RowNote { row, message });
    }

    fn fail(&mut self, row: u64, message: String) {
        self.failed += 1;
        self.errors.push(RowNote { row, message });
    }

    fn warn(&mut self, row: u64, message: String) {
        self.warnings.push(RowNote { row, message });
    }

    /// A one-line summary for the command line.
    pub fn summary(&self) -> String {
        format!(
            "{}: {} rows read, {} created, {} updated, {} duplicates skipped, {} failed, {} warnings (import {})",
            self.kind,
            self.rows_read,
            self.created,
            self.updated,
            self.skipped_duplicates,
            self.failed,
            self.warnings.len(),
            self.import_id
        )
    }
}

/// A CSV file's header, looked up by name case-insensitively.
pub(crate) struct Columns {
    index: HashMap<String, usize>,
    names: Vec<String>,
    /// Whether a field takes the column (all, until [`Columns::ignored`] says).
    used: Vec<bool>,
}

impl Columns {
    fn new(headers: &csv::StringRecord) -> Self {
        let names: Vec<String> = headers
            .iter()
            .map(|h| h.trim().trim_start_matches('\u{feff}').to_owned())
            .collect();
        let index = names
            .iter()
            .enumerate()
            .map(|(i, h)| (h.to_lowercase(), i))
            .collect();
        let used = vec![true; names.len()];
        Self { index, names, used }
    }

    /// The index of column `name` (case-insensitive).
    fn position(&self, name: &str) -> Option<usize> {
        self.index.get(&name.trim().to_lowercase()).copied()
    }

    /// The trimmed, non-empty value of the first present column among `names`.
    fn get<'r>(&self, record: &'r csv::StringRecord, names: &[&str]) -> Option<&'r str> {
        names
            .iter()
            .find_map(|n| self.index.get(&n.to_lowercase()))
            .and_then(|&i| record.get(i))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    /// Refuses a row with a cell no text of the API accepts (a control character other
    /// than tab and line breaks, or a date outside the years 0000 to 9999), naming the
    /// column; the same rule the JSON and query boundary applies. Columns no field
    /// takes are not read, so not checked.
    fn check(&self, record: &csv::StringRecord) -> Result<(), String> {
        for (i, cell) in record.iter().enumerate() {
            if !self.used.get(i).copied().unwrap_or(false) {
                continue;
            }
            let column = self.names.get(i).map_or("(extra)", String::as_str);
            if let Some(c) = crm_domain::text::forbidden_char(cell) {
                return Err(format!(
                    "column {column:?} holds a control character (U+{:04X})",
                    u32::from(c)
                ));
            }
            if crm_domain::time::out_of_range(cell) {
                return Err(format!(
                    "column {column:?} holds a date outside the years 0000 to 9999"
                ));
            }
        }
        Ok(())
    }

    fn has(&self, names: &[&str]) -> bool {
        names
            .iter()
            .any(|n| self.index.contains_key(&n.to_lowercase()))
    }

    /// Columns not in `known` (each an alias list); from now on [`Columns::check`] skips
    /// them.
    fn ignored(&mut self, known: &[&[&str]]) -> Vec<String> {
        let takes = |name: &String| {
            known
                .iter()
                .any(|aliases| aliases.iter().any(|a| a.eq_ignore_ascii_case(name)))
        };
        self.used = self.names.iter().map(takes).collect();
        self.names
            .iter()
            .filter(|name| !takes(name))
            .cloned()
            .collect()
    }
}

/// Reads the header of `data`.
///
/// # Errors
/// 422 when the file has no header or lacks every alias of a required column.
fn open<R: std::io::Read>(
    data: R,
    required: &[&[&str]],
) -> Result<(csv::Reader<R>, Columns), AppError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(data);
    let headers = reader
        .headers()
        .map_err(|e| AppError::invalid("file", format!("not a CSV file: {e}")))?
        .clone();
    if let Some(c) = headers.iter().find_map(crm_domain::text::forbidden_char) {
        return Err(AppError::invalid(
            "file",
            format!(
                "the header holds a control character (U+{:04X})",
                u32::from(c)
            ),
        ));
    }
    let columns = Columns::new(&headers);
    for aliases in required {
        if !columns.has(aliases) {
            return Err(AppError::invalid(
                "file",
                format!(
                    "missing column {:?}",
                    aliases.first().copied().unwrap_or_default()
                ),
            ));
        }
    }
    Ok((reader, columns))
}

/// Serialises imports of one kind into one workspace (a double submit, or the command
/// line and the API at once, would otherwise both miss each other's rows and create
/// duplicates): an advisory lock held by a transaction that lives as long as the import.
///
/// # Errors
/// Any database error.
async fn lock(
    app: &sea_orm::DatabaseConnection,
    scope: &crm_store::TenantScope,
    kind: &str,
) -> Result<sea_orm::DatabaseTransaction, AppError> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let txn = scope.begin(app).await?;
    txn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock(hashtext($1))",
        [format!("crm-import:{}:{kind}", scope.tenant()).into()],
    ))
    .await?;
    Ok(txn)
}

/// Reads the file's next rows, up to [`BATCH_ROWS`], into `chunk` (emptied first), each
/// with its number (counted in `report`; an unreadable row is failed there instead).
/// False when the file had no row left. An import checks a batch of rows against the
/// workspace at once and then forgets it, so its memory does not grow with the file.
fn next_chunk<R: std::io::Read>(
    records: &mut csv::StringRecordsIntoIter<R>,
    report: &mut ImportReport,
    chunk: &mut Vec<(u64, csv::StringRecord)>,
) -> bool {
    chunk.clear();
    let mut read = false;
    while chunk.len() < BATCH_ROWS {
        let Some(record) = records.next() else {
            break;
        };
        read = true;
        report.rows_read += 1;
        match record {
            Ok(record) => chunk.push((report.rows_read, record)),
            Err(e) => report.fail(report.rows_read, format!("unreadable row: {e}")),
        }
    }
    read
}

/// Rows an import writes per transaction.
pub const BATCH_ROWS: usize = 500;

/// The open transaction of an import's current batch of rows: up to [`BATCH_ROWS`] row
/// commands commit together, instead of a commit per row. A row refused by its aggregate
/// writes nothing and leaves the batch usable; a fault of the database ends the import
/// (the batch's rows are then not imported, and the report says from which row).
pub(crate) struct RowBatch<'a> {
    commands: &'a Commands,
    unit: Option<crate::unit_of_work::UnitOfWork>,
    /// The rows written in the open transaction.
    pending: Vec<u64>,
    /// How many of them updated a record rather than created one.
    pending_updates: u64,
}

impl<'a> RowBatch<'a> {
    pub(crate) fn new(commands: &'a Commands) -> Self {
        Self {
            commands,
            unit: None,
            pending: Vec::new(),
            pending_updates: 0,
        }
    }

    /// The open transaction, begun for `meta`'s tenant if none is.
    pub(crate) async fn unit(
        &mut self,
        meta: &EventMetadata,
    ) -> Result<&crate::unit_of_work::UnitOfWork, AppError> {
        if self.unit.is_none() {
            self.unit = Some(self.commands.unit(meta).await?);
        }
        self.unit
            .as_ref()
            .ok_or_else(|| AppError::Internal("no open batch".into()))
    }

    /// Runs one row's `work` in a savepoint of the open transaction: kept when it
    /// succeeds, undone alone when it fails.
    pub(crate) async fn row(
        &mut self,
        meta: &EventMetadata,
        work: impl AsyncFnOnce(&crate::unit_of_work::UnitOfWork) -> Result<(), AppError>,
    ) -> Result<(), AppError> {
        let unit = self.unit(meta).await?.savepoint().await?;
        match work(&unit).await {
            Ok(()) => unit.commit().await,
            Err(err) => {
                unit.rollback().await?;
                Err(err)
            }
        }
    }

    /// Commits what is open at the end of an import that did not stop at a fault; a
    /// failure of that commit is one.
    pub(crate) async fn finish(&mut self, report: &mut ImportReport) {
        if report.aborted.is_none() {
            if let Err(err) = self.commit(report).await {
                let last = report.rows_read;
                self.abort(report, last, &err);
            }
        }
    }

    /// Counts `row` as written in the open transaction; commits when the batch is full.
    pub(crate) async fn written(
        &mut self,
        row: u64,
        report: &ImportReport,
    ) -> Result<(), AppError> {
        self.pending.push(row);
        if self.pending.len() >= BATCH_ROWS {
            self.commit(report).await?;
        }
        Ok(())
    }

    /// Commits the open transaction, and with it the job's counts as `report` has them
    /// (see [`jobs`]).
    pub(crate) async fn commit(&mut self, report: &ImportReport) -> Result<(), AppError> {
        if let Some(unit) = self.unit.take() {
            jobs::progress(unit.connection(), unit.tenant(), report).await?;
            unit.commit().await?;
        }
        self.pending.clear();
        self.pending_updates = 0;
        Ok(())
    }

    /// Ends the import at a fault: the open transaction rolls back, so its rows are
    /// taken off the report's count and the report stops at the first of them.
    pub(crate) fn abort(
        &mut self,
        report: &mut ImportReport,
        row: u64,
        cause: &(dyn std::error::Error + Send + Sync),
    ) {
        self.unit = None;
        let first = self.pending.first().copied().unwrap_or(row);
        report.created -= self.pending.len() as u64 - self.pending_updates;
        self.pending.clear();
        self.pending_updates = 0;
        report.abort(first, cause);
    }
}

/// An import's batch of new records decided in memory: up to [`BATCH_ROWS`] creates of
/// aggregate `A` are appended in one statement, projected many rows to a statement and
/// committed together with their claims and the job's counts
/// ([`crate::unit_of_work::UnitOfWork::create_many`]), instead of a savepoint, an append
/// and a read-row insert per row. A row is checked before it is staged: by its aggregate
/// in memory ([`crate::unit_of_work::decide_create`]), against the workspace's records
/// of the batch's names (looked up per batch, under the import's lock), and by claims
/// that refuse without an error
/// (a contact's email, in [`CreateBatch::unit`]'s transaction), so a refused row has
/// written nothing and needs no savepoint. A fault ends the import, and the batch's rows
/// are then not imported (the report says from which row).
pub(crate) struct CreateBatch<'a, A: cqrs_es::Aggregate> {
    /// The open transaction (for claims) and the rows staged, in order.
    batch: RowBatch<'a>,
    staged: Vec<crate::unit_of_work::NewStream<A::Event>>,
}

impl<'a, A> CreateBatch<'a, A>
where
    A: cqrs_es::Aggregate,
    A::Event: Into<crm_store::event::AnyEvent>,
{
    pub(crate) fn new(commands: &'a Commands) -> Self {
        Self {
            batch: RowBatch::new(commands),
            staged: Vec::new(),
        }
    }

    /// The batch's open transaction, begun for `meta`'s tenant if none is: for the claims
    /// a row takes before it is staged.
    pub(crate) async fn unit(
        &mut self,
        meta: &EventMetadata,
    ) -> Result<&crate::unit_of_work::UnitOfWork, AppError> {
        self.batch.unit(meta).await
    }

    /// Stages `row`'s new stream; writes the batch when it is full (`report` counting the
    /// row already).
    pub(crate) async fn stage(
        &mut self,
        row: u64,
        new: crate::unit_of_work::NewStream<A::Event>,
        report: &ImportReport,
    ) -> Result<(), AppError> {
        self.staged.push(new);
        self.batch.pending.push(row);
        if self.staged.len() >= BATCH_ROWS {
            self.commit(report).await?;
        }
        Ok(())
    }

    /// Runs row `row`'s update of an existing record (`work`) in a savepoint of the open
    /// transaction (undone alone when it fails); commits with the batch.
    pub(crate) async fn update<T>(
        &mut self,
        row: u64,
        meta: &EventMetadata,
        work: impl AsyncFnOnce(&crate::unit_of_work::UnitOfWork) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        let unit = self.batch.unit(meta).await?.savepoint().await?;
        match work(&unit).await {
            Ok(done) => {
                unit.commit().await?;
                self.batch.pending.push(row);
                self.batch.pending_updates += 1;
                Ok(done)
            }
            Err(err) => {
                unit.rollback().await?;
                Err(err)
            }
        }
    }

    /// Checks row `row`'s update of an existing record (`work`) as [`Self::update`] runs
    /// it, against the record as stored, in a savepoint that is always undone: a dry run
    /// refuses what the import would refuse and changes nothing.
    pub(crate) async fn check_update<T>(
        &mut self,
        meta: &EventMetadata,
        work: impl AsyncFnOnce(&crate::unit_of_work::UnitOfWork) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        let unit = self.batch.unit(meta).await?.savepoint().await?;
        let done = work(&unit).await;
        unit.rollback().await?;
        done
    }

    /// Writes what is staged and commits it with the claims and the job's counts as
    /// `report` has them.
    pub(crate) async fn commit(&mut self, report: &ImportReport) -> Result<(), AppError> {
        if let Some(first) = self.staged.first() {
            let meta = first.meta.clone();
            let staged = std::mem::take(&mut self.staged);
            let commands = self.batch.commands;
            let keyring = commands.keyring();
            self.batch
                .unit(&meta)
                .await?
                .create_many::<A>(keyring, staged)
                .await?;
        }
        self.batch.commit(report).await
    }

    /// Commits what is staged at the end of an import that did not stop at a fault; a
    /// failure of that commit is one.
    pub(crate) async fn finish(&mut self, report: &mut ImportReport) {
        if report.aborted.is_none() {
            if let Err(err) = self.commit(report).await {
                let last = report.rows_read;
                self.abort(report, last, &err);
            }
        }
    }

    /// Ends the import at a fault: the open transaction rolls back, so the staged rows are
    /// taken off the report's count and the report stops at the first of them.
    pub(crate) fn abort(
        &mut self,
        report: &mut ImportReport,
        row: u64,
        cause: &(dyn std::error::Error + Send + Sync),
    ) {
        self.staged.clear();
        self.batch.abort(report, row, cause);
    }
}

/// Metadata of one row's command: the import's, stamped now.
fn row_metadata(template: &EventMetadata) -> EventMetadata {
    let mut meta = template.clone();
    meta.occurred_at = Utc::now();
    meta
}

/// What an undo did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UndoReport {
    /// The import undone.
    pub import_id: Uuid,
    /// Records the undo deleted.
    pub deleted: u64,
    /// Records the import created that were already deleted (left as they were).
    pub already_deleted: u64,
}

/// Undoes import `import_id` of the caller's workspace: deletes, by new events carrying
/// `"undo import <id>: <reason>"`, every company, contact and deal it created. Records
/// deleted since are counted, not touched again, so a second undo changes nothing (which
/// is also why no delete marks the request's `Idempotency-Key`).
///
/// # Errors
/// A validation error for a reason that is not 1 to 500 characters; [`AppError::NotFound`]
/// when the workspace has no such import; the store's errors.
pub async fn undo(
    commands: &Commands,
    app: &sea_orm::DatabaseConnection,
    caller: &crate::caller::Caller,
    meta: &EventMetadata,
    import_id: Uuid,
    reason: &str,
) -> Result<UndoReport, AppError> {
    use crm_domain::company::CompanyCommand;
    use crm_domain::contact::ContactCommand;
    use crm_domain::deal::DealCommand;
    use crm_domain::{EntityId, Guarded};

    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(AppError::invalid("reason", "must be 1 to 500 characters"));
    }
    let created = crm_store::history::created_by_import(app, &caller.scope, import_id).await?;
    if created.is_empty() {
        return Err(AppError::NotFound);
    }
    let mut meta = meta.clone();
    meta.reason = Some(format!("undo import {import_id}: {reason}"));
    let meta = &meta;
    crate::unit_of_work::unkeyed(async move {
        let (mut deleted, mut already) = (0_u64, 0_u64);
        for (kind, id) in created {
            let id = EntityId(id);
            let result = match kind.as_str() {
                "Company" => {
                    commands
                        .company(id, Guarded::from(CompanyCommand::Delete), meta)
                        .await
                }
                "Contact" => {
                    commands
                        .contact(id, Guarded::from(ContactCommand::Delete), meta)
                        .await
                }
                "Deal" => {
                    commands
                        .deal(id, Guarded::from(DealCommand::Delete), meta)
                        .await
                }
                _ => continue,
            };
            match result {
                Ok(()) => deleted += 1,
                Err(AppError::Conflict(_)) => already += 1,
                Err(err) => return Err(err),
            }
        }
        Ok(UndoReport {
            import_id,
            deleted,
            already_deleted: already,
        })
    })
    .await
}
