//! Importing deals: `Deal Name` (required), `Amount` (decimal text in major units, exact),
//! `Currency` (ISO 4217), `Pipeline` and `Deal Stage` (by name; default: the oldest
//! pipeline and its first open stage), `Close Date` (ISO 8601 date), `Company name` (linked
//! by name). A row whose stage is a won or lost stage is created open and then won or lost
//! ("imported as won/lost"), so the trail shows how it got there.

use std::collections::{HashMap, HashSet};

use chrono::{TimeZone, Utc};
use crm_domain::deal::{Deal, DealCommand, DealInput, StageRef};
use crm_domain::pipeline::StageKind;
use crm_domain::{Currency, DomainError, EntityId, Money};
use crm_projections::entities::pipeline_stage;
use crm_projections::queries::{companies, deals, pipelines};
use crm_store::TenantScope;
use uuid::Uuid;

use super::companies::describe;
use super::custom::{Mapped, Proposals};
use super::{lock, next_chunk, open, row_metadata, ImportReport, ImportRun, RowBatch, BATCH_ROWS};
use crate::error::AppError;
use crm_domain::fields::RecordKind;

const NAME: &[&str] = &["Deal Name", "Name"];
const AMOUNT: &[&str] = &["Amount"];
const CURRENCY: &[&str] = &["Currency", "Deal currency code"];
const PIPELINE: &[&str] = &["Pipeline"];
const STAGE: &[&str] = &["Deal Stage", "Stage"];
const CLOSE: &[&str] = &["Close Date", "Expected close date"];
const COMPANY: &[&str] = &["Company name", "Associated Company"];

fn kind(stage: &pipeline_stage::Model) -> StageKind {
    match stage.kind.as_str() {
        "won" => StageKind::Won,
        "lost" => StageKind::Lost,
        _ => StageKind::Open,
    }
}

fn stage_ref(stage: &pipeline_stage::Model) -> StageRef {
    StageRef {
        pipeline_id: EntityId(stage.pipeline_id),
        stage_id: EntityId(stage.id),
        kind: kind(stage),
    }
}

/// Imports deals from CSV `data` (see the module docs). A row with the same name
/// (case-insensitively) and company as an existing deal is a duplicate.
///
/// # Errors
/// 422 for a file without a `Deal Name` column, or a workspace without a pipeline; 500 for
/// database failures.
pub async fn import(
    run: &ImportRun<'_>,
    data: impl std::io::Read + Send,
) -> Result<ImportReport, AppError> {
    // Re-runs skip what exists; no row marks the request's Idempotency-Key.
    crate::unit_of_work::unkeyed(rows(run, data)).await
}

/// The file's reader past its header, and the header.
///
/// # Errors
/// 422 when the file has no header or no a `Deal name` column.
pub(super) fn header<R: std::io::Read>(
    data: R,
) -> Result<(csv::Reader<R>, super::Columns), AppError> {
    open(data, &[NAME])
}

async fn rows(
    run: &ImportRun<'_>,
    data: impl std::io::Read + Send,
) -> Result<ImportReport, AppError> {
    let (commands, app, meta) = (run.commands, run.app, &run.meta);
    let scope = TenantScope::for_command(meta);
    let (reader, mut columns) = header(data)?;
    let guard = lock(app, &scope, "deals").await?;
    let mut report = ImportReport::new("deals", meta.import_id.unwrap_or_default());
    report.dry_run = run.dry_run;
    let mut mapped = Mapped::resolve(run, RecordKind::Deal, &columns).await?;
    report.ignored_columns = columns.ignored(&[
        NAME,
        AMOUNT,
        CURRENCY,
        PIPELINE,
        STAGE,
        CLOSE,
        COMPANY,
        &mapped.names(),
    ]);
    let mut proposals = Proposals::new(&columns, &report.ignored_columns);

    let pipelines = pipelines::list(app, &scope).await?;
    let Some((default_pipeline, _)) = pipelines.first() else {
        return Err(AppError::invalid("file", "the workspace has no pipeline"));
    };
    let default_pipeline = default_pipeline.id;
    let pipeline_by_name: HashMap<String, Uuid> = pipelines
        .iter()
        .map(|(p, _)| (p.name.to_lowercase(), p.id))
        .collect();
    let active = |pipeline: Uuid| -> Vec<&pipeline_stage::Model> {
        pipelines
            .iter()
            .filter(|(p, _)| p.id == pipeline)
            .flat_map(|(_, s)| s.iter().filter(|s| !s.retired))
            .collect()
    };
    let mut batch = RowBatch::new(commands);
    // A dry run writes nothing, so the deals it would create are remembered to find later
    // rows' duplicates; an import finds its own earlier batches in the database.
    let mut planned: HashSet<(String, Option<Uuid>)> = HashSet::new();
    let mut records = reader.into_records();
    let mut chunk = Vec::with_capacity(BATCH_ROWS);
    'file: while next_chunk(&mut records, &mut report, &mut chunk) {
        // The workspace's companies the batch names, and its deals of the batch's names.
        let (company_ids, mut existing) = known(app, &scope, &columns, &chunk).await?;
        // The records the batch's reference cells name that the workspace has, live.
        mapped.load_references(app, &scope, &chunk).await?;
        for (row, record) in chunk.drain(..) {
            proposals.observe(&record);
            if let Err(why) = columns.check(&record) {
                report.fail(row, why);
                continue;
            }
            let Some(name) = columns.get(&record, NAME) else {
                report.fail(row, "no deal name".into());
                continue;
            };
            let company = match columns.get(&record, COMPANY) {
                Some(c) => match company_ids.get(&c.to_lowercase()) {
                    Some(id) => Some(*id),
                    None => {
                        report.warn(
                            row,
                            format!("no company named {c:?}: deal created without a company"),
                        );
                        None
                    }
                },
                None => None,
            };
            let key = (name.to_lowercase(), company);
            if existing.contains(&key) || planned.contains(&key) {
                report.duplicate(
                    row,
                    format!("a deal named {name:?} exists for the same company"),
                );
                continue;
            }
            let amount = match (columns.get(&record, AMOUNT), columns.get(&record, CURRENCY)) {
                (None, _) => None,
                (Some(text), None) => {
                    report.warn(row, format!("amount {text:?} dropped: no currency"));
                    None
                }
                (Some(text), Some(code)) => match Currency::from_code(code).and_then(|c| {
                    let plain = ungroup(text)
                        .ok_or_else(|| crm_domain::MoneyError::NotANumber(text.to_owned()))?;
                    Money::parse_major(&plain, c)
                }) {
                    Ok(m) => Some(m),
                    Err(e) => {
                        report.warn(row, format!("amount {text:?} {code} dropped: {e}"));
                        None
                    }
                },
            };
            let pipeline = match columns.get(&record, PIPELINE) {
                Some(p) => pipeline_by_name
                    .get(&p.to_lowercase())
                    .copied()
                    .unwrap_or_else(|| {
                        report.warn(
                            row,
                            format!("no pipeline named {p:?}: the default pipeline is used"),
                        );
                        default_pipeline
                    }),
                None => default_pipeline,
            };
            let stages = active(pipeline);
            let first_open = stages.iter().find(|s| s.kind == "open").copied();
            let target = match columns.get(&record, STAGE) {
                Some(s) => stages
                    .iter()
                    .find(|st| st.name.eq_ignore_ascii_case(s))
                    .copied()
                    .or_else(|| {
                        report.warn(
                            row,
                            format!("no stage named {s:?}: the first open stage is used"),
                        );
                        first_open
                    }),
                None => first_open,
            };
            let (Some(open_stage), Some(target)) = (first_open, target) else {
                report.fail(row, "the pipeline has no open stage".into());
                continue;
            };
            let close = match columns.get(&record, CLOSE) {
                Some(text) => match crm_domain::time::parse_date(text) {
                    Some(d) => Some(d),
                    None => {
                        report.warn(
                            row,
                            format!("close date {text:?} dropped: expected YYYY-MM-DD"),
                        );
                        None
                    }
                },
                None => None,
            };
            let start = if kind(target) == StageKind::Open {
                target
            } else {
                open_stage
            };
            let custom = match mapped.values(&record, row, &mut report) {
                Ok(custom) => custom,
                Err(why) => {
                    report.fail(row, why);
                    continue;
                }
            };
            let input = DealInput {
                custom,
                name: name.to_owned(),
                amount,
                stage: Some(stage_ref(start)),
                owner_id: meta.initiated_by,
                company_id: company.map(EntityId),
                expected_close_date: close,
                ..DealInput::default()
            };
            let id = EntityId::new();
            let row_meta = row_metadata(meta);
            let closing = match kind(target) {
                StageKind::Open => None,
                k => {
                    let at = close
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                        .map_or(row_meta.occurred_at, |t| Utc.from_utc_datetime(&t));
                    Some(match k {
                        StageKind::Won => DealCommand::Win {
                            stage: stage_ref(target),
                            reason: Some("imported as won".into()),
                            at,
                        },
                        _ => DealCommand::Lose {
                            stage: stage_ref(target),
                            reason: "imported as lost".into(),
                            at,
                        },
                    })
                }
            };
            let outcome = if run.dry_run {
                validate(&input)
            } else {
                let mut not_closed = None;
                let written = batch
                    .row(&row_meta, async |unit| {
                        commands
                            .create_in::<Deal, _>(unit, id, DealCommand::Create(input), &row_meta)
                            .await?;
                        if let Some(close) = closing {
                            // The deal exists now: a refused close is a warning on a created
                            // row, undone alone (its own savepoint).
                            let inner = unit.savepoint().await?;
                            match commands
                                .run_in::<Deal, _>(&inner, id, close, &row_meta)
                                .await
                            {
                                Ok(_) => inner.commit().await?,
                                Err(e @ (AppError::Internal(_) | AppError::Unavailable(_))) => {
                                    return Err(e)
                                }
                                Err(e) => {
                                    inner.rollback().await?;
                                    not_closed = Some(describe(&e));
                                }
                            }
                        }
                        Ok(())
                    })
                    .await;
                if let Some(why) = not_closed {
                    report.warn(row, format!("created open, but not closed: {why}"));
                }
                written
            };
            match outcome {
                Ok(()) => {
                    report.created += 1;
                    if run.dry_run {
                        planned.insert(key.clone());
                    }
                    existing.insert(key);
                    if !run.dry_run {
                        // A full batch commits here: any failure of it is a fault.
                        if let Err(err) = batch.written(row, &report).await {
                            batch.abort(&mut report, row, &err);
                            break 'file;
                        }
                    }
                }
                Err(AppError::Internal(cause) | AppError::Unavailable(cause)) => {
                    batch.abort(&mut report, row, cause.as_ref());
                    break 'file;
                }
                Err(e) => report.fail(row, describe(&e)),
            }
        }
        if report.aborted.is_some() {
            break;
        }
        // The batch is committed before the next one is checked, which then sees it.
        if let Err(err) = batch.commit(&report).await {
            let last = report.rows_read;
            batch.abort(&mut report, last, &err);
            break;
        }
    }
    batch.finish(&mut report).await;
    guard.commit().await?;
    report.proposed_fields = proposals.finish();
    Ok(report)
}

/// The live companies of the workspace that `chunk`'s rows name (by lowercased name) and
/// the deals of the workspace named as its rows are (lowercased name and company): two
/// queries of an index lookup per name.
async fn known(
    app: &sea_orm::DatabaseConnection,
    scope: &TenantScope,
    columns: &super::Columns,
    chunk: &[(u64, csv::StringRecord)],
) -> Result<(HashMap<String, Uuid>, HashSet<(String, Option<Uuid>)>), AppError> {
    // Rows refused as a whole (a control character) are not looked up.
    let rows: Vec<&csv::StringRecord> = chunk
        .iter()
        .map(|(_, r)| r)
        .filter(|r| columns.check(r).is_ok())
        .collect();
    let names = |column: &[&str]| -> Vec<String> {
        rows.iter()
            .filter_map(|r| columns.get(r, column))
            .map(str::to_owned)
            .collect()
    };
    let (company_names, deal_names) = (names(COMPANY), names(NAME));
    let company_ids = if company_names.is_empty() {
        HashMap::new()
    } else {
        companies::live_named(app, scope, company_names)
            .await?
            .into_iter()
            .map(|(id, name)| (name.to_lowercase(), id))
            .collect()
    };
    let existing = if deal_names.is_empty() {
        HashSet::new()
    } else {
        deals::named(app, scope, deal_names)
            .await?
            .into_iter()
            .map(|(name, company)| (name.to_lowercase(), company))
            .collect()
    };
    Ok((company_ids, existing))
}

/// The deal aggregate's field rules, without writing (for a dry run).
fn validate(input: &DealInput) -> Result<(), AppError> {
    crm_domain::text::required("name", &input.name, crm_domain::deal::NAME_MAX)
        .map_err(DomainError::from)?;
    if input.amount.is_some_and(|m| m.amount_minor < 0) {
        return Err(AppError::invalid("amount", "must not be negative"));
    }
    Ok(())
}

/// Removes thousands separators from an amount: commas only where they group digits by
/// three before an optional `.` decimal part (`1,250.50`). Anything else with a comma
/// (`1,50`, `1441,1`: decimal commas) is `None`, so the amount is dropped with a warning
/// rather than read ten or a thousand times too large.
fn ungroup(text: &str) -> Option<String> {
    let text = text.trim();
    if !text.contains(',') {
        return Some(text.to_owned());
    }
    let (int, frac) = text
        .split_once('.')
        .map_or((text, None), |(i, f)| (i, Some(f)));
    let groups: Vec<&str> = int.trim_start_matches(['-', '+']).split(',').collect();
    let well_formed = groups.first().is_some_and(|g| (1..=3).contains(&g.len()))
        && groups.iter().skip(1).all(|g| g.len() == 3)
        && groups.iter().all(|g| g.chars().all(|c| c.is_ascii_digit()))
        && frac.is_none_or(|f| !f.contains(','));
    well_formed.then(|| text.replace(',', ""))
}

#[cfg(test)]
mod tests {
    use super::ungroup;

    #[test]
    fn only_thousands_groups_lose_their_commas() {
        assert_eq!(ungroup("1,250.50").as_deref(), Some("1250.50"));
        assert_eq!(ungroup("12,345,678").as_deref(), Some("12345678"));
        assert_eq!(ungroup("900").as_deref(), Some("900"));
        for decimal_comma in ["1,50", "1441,1", "1,2345", ",100", "1,000,00"] {
            assert_eq!(ungroup(decimal_comma), None, "{decimal_comma}");
        }
    }
}
