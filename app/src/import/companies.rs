//! Importing companies: `Company name` (required), `Company Domain Name`, `Country/Region`,
//! `Industry`, `Currency`, `Number of Employees`, `Annual Revenue`.

use std::collections::{HashMap, HashSet};

use crm_domain::company::{
    Amount, Company, CompanyCommand, CompanyFields, CompanyInput, CompanyPatch,
};
use crm_domain::{Currency, EntityId, Guarded, Money, StreamId, WebDomain};
use crm_projections::queries::companies;
use crm_store::TenantScope;

use super::custom::{Mapped, Proposals};
use super::revenue::{parse_employees, parse_revenue, RevenueText};
use super::{
    lock, next_chunk, open, row_metadata, CreateBatch, ImportReport, ImportRun, BATCH_ROWS,
};
use crate::error::AppError;
use crate::unit_of_work::{decide_create, NewStream};
use crm_domain::fields::RecordKind;

const NAME: &[&str] = &["Company name", "Name"];
const DOMAIN: &[&str] = &["Company Domain Name", "Domain", "Website URL"];
const COUNTRY: &[&str] = &["Country/Region", "Country"];
const INDUSTRY: &[&str] = &["Industry"];
const CURRENCY: &[&str] = &["Currency"];
const EMPLOYEES: &[&str] = &["Number of Employees"];
const REVENUE: &[&str] = &["Annual Revenue"];

/// Imports companies from CSV `data` into the tenant of `meta`, whose `import_id` must be
/// set. A row whose name (case-insensitively) or domain matches an existing company of the
/// workspace is a duplicate. Revenue becomes exact [`Money`] when the currency is
/// unambiguous; otherwise the text is kept in `annual_revenue_text` with a warning.
///
/// # Errors
/// 422 for a file without a header or a `Company name` column; 500 for database failures
/// (rows already imported stay imported; a re-run skips them).
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
/// 422 when the file has no header or no a `Company name` column.
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
    let guard = lock(app, &scope, "companies").await?;
    let mut report = ImportReport::new("companies", meta.import_id.unwrap_or_default());
    report.dry_run = run.dry_run;
    let mut mapped = Mapped::resolve(run, RecordKind::Company, &columns).await?;
    report.ignored_columns = columns.ignored(&[
        NAME,
        DOMAIN,
        COUNTRY,
        INDUSTRY,
        CURRENCY,
        EMPLOYEES,
        REVENUE,
        &mapped.names(),
    ]);
    let mut proposals = Proposals::new(&columns, &report.ignored_columns);

    let mut batch = CreateBatch::<Company>::new(commands);
    // A dry run writes nothing, so the rows it would create are remembered to find later
    // rows' duplicates; an import finds its own earlier batches in the database.
    let mut planned = Known::default();
    // The companies this import created: an upsert does not update those (they may be
    // staged, not yet written); a later row of the same domain is a duplicate.
    let mut made: HashSet<String> = HashSet::new();
    // The unique values this import's rows took, folded as claims fold them.
    let mut unique_seen = std::collections::HashSet::new();
    let mut records = reader.into_records();
    let mut chunk = Vec::with_capacity(BATCH_ROWS);
    'file: while next_chunk(&mut records, &mut report, &mut chunk) {
        // The workspace's companies that the batch's names and domains could duplicate.
        let mut known = Known::of(app, &scope, &columns, &chunk).await?;
        // The records the batch's reference cells name that the workspace has, live.
        mapped.load_references(app, &scope, &chunk).await?;
        // Unique custom values the workspace holds, read in the batch's transaction.
        let unique = if mapped.has_unique() {
            let unit = batch.unit(meta).await?;
            Some(mapped.unique_values(unit, &chunk).await?)
        } else {
            None
        };
        for (row, record) in chunk.drain(..) {
            proposals.observe(&record);
            if let Err(why) = columns.check(&record) {
                report.fail(row, why);
                continue;
            }
            let Some(name) = columns.get(&record, NAME) else {
                report.fail(row, "no company name".into());
                continue;
            };
            let name_key = name.to_lowercase();
            let domain = match columns.get(&record, DOMAIN).map(WebDomain::parse) {
                Some(Ok(d)) => Some(d),
                Some(Err(e)) => {
                    report.warn(row, format!("domain dropped: {e}"));
                    None
                }
                None => None,
            };
            // An upsert updates the company of the row's domain, unless this import made it.
            let target = domain
                .as_ref()
                .filter(|_| run.upsert)
                .and_then(|d| known.live_domain(d.as_str()))
                .filter(|id| !made.contains(*id))
                .cloned();
            let named = known.name(&name_key).or_else(|| planned.name(&name_key));
            if let Some(existing) = named.filter(|_| target.is_none()) {
                report.duplicate(row, format!("a company named {name:?} exists ({existing})"));
                continue;
            }
            if let Some(existing) = domain.as_ref().filter(|_| target.is_none()).and_then(|d| {
                known
                    .domain(d.as_str())
                    .or_else(|| planned.domain(d.as_str()))
            }) {
                report.duplicate(
                    row,
                    format!(
                        "a company with domain {} exists ({existing})",
                        domain.as_ref().map(WebDomain::as_str).unwrap_or_default()
                    ),
                );
                continue;
            }
            let currency = match columns.get(&record, CURRENCY).map(Currency::from_code) {
                Some(Ok(c)) => Some(c),
                Some(Err(e)) => {
                    report.warn(row, format!("currency dropped: {e}"));
                    None
                }
                None => None,
            };
            let employee_count = match columns
                .get(&record, EMPLOYEES)
                .map(|t| (t, parse_employees(t)))
            {
                Some((_, Ok(n))) => n,
                Some((text, Err(reason))) => {
                    report.warn(row, format!("employee count {text:?} dropped: {reason}"));
                    None
                }
                None => None,
            };
            let (annual_revenue, annual_revenue_text) = match columns.get(&record, REVENUE) {
                None => (None, None),
                Some(text) => match parse_revenue(text, currency.map(Currency::iso)) {
                    RevenueText::Empty => (None, None),
                    RevenueText::Exact {
                        amount, currency, ..
                    } => match Currency::try_from(currency)
                        .and_then(|c| Money::from_major_exact(amount, c).map(|_| c))
                    {
                        Ok(currency) => (Some(Amount::Major { amount, currency }), None),
                        Err(e) => {
                            report.warn(row, format!("revenue {text:?} kept as text: {e}"));
                            (None, Some(text.to_owned()))
                        }
                    },
                    RevenueText::Ambiguous { reason } => {
                        report.warn(row, format!("revenue {text:?} kept as text: {reason}"));
                        (None, Some(text.to_owned()))
                    }
                },
            };
            let custom = match mapped.values(&record, row, &mut report) {
                Ok(custom) => custom,
                Err(why) => {
                    report.fail(row, why);
                    continue;
                }
            };
            if let (Some(_), Some(unique)) = (&target, &unique) {
                if let Err(why) = mapped.claim_unique_for_update(&record, unique, &mut unique_seen)
                {
                    report.duplicate(row, why);
                    continue;
                }
            }
            if let Some(existing) = target {
                let patch = CompanyPatch {
                    name: Some(name.to_owned()),
                    industry: columns.get(&record, INDUSTRY).map(|v| Some(v.to_owned())),
                    country: columns.get(&record, COUNTRY).map(|v| Some(v.to_owned())),
                    currency: currency.map(|c| Some(c.code().to_owned())),
                    employee_count: employee_count.map(Some),
                    annual_revenue: annual_revenue.map(Some),
                    annual_revenue_text: annual_revenue_text.map(Some),
                    custom,
                    ..CompanyPatch::default()
                };
                let what = format!("company {existing} has this domain");
                let Ok(id) = uuid::Uuid::parse_str(&existing) else {
                    report.fail(row, format!("{what}: not an id"));
                    continue;
                };
                let row_meta = row_metadata(meta);
                let command = Guarded::from(CompanyCommand::Update(patch));
                let work = async |unit: &crate::unit_of_work::UnitOfWork| {
                    commands
                        .run_in::<Company, _>(unit, EntityId(id), command, &row_meta)
                        .await
                };
                let done = if run.dry_run {
                    batch.check_update(&row_meta, work).await
                } else {
                    batch.update(row, &row_meta, work).await
                };
                match done {
                    Ok(appended) if appended.events == 0 => {
                        report.update(row, format!("{what}: nothing to change"));
                    }
                    Ok(_) if run.dry_run => {
                        report.update(row, format!("{what}: it would be updated"));
                    }
                    Ok(_) => report.update(row, format!("{what}: updated")),
                    Err(err @ (AppError::Internal(_) | AppError::Unavailable(_))) => {
                        batch.abort(&mut report, row, &err);
                        break 'file;
                    }
                    Err(err) => report.fail(row, format!("{what}: {}", describe(&err))),
                }
                continue;
            }
            let input = CompanyInput {
                custom,
                name: name.to_owned(),
                domain: domain.as_ref().map(ToString::to_string),
                industry: columns.get(&record, INDUSTRY).map(str::to_owned),
                country: columns.get(&record, COUNTRY).map(str::to_owned),
                currency: currency.map(|c| c.code().to_owned()),
                employee_count,
                annual_revenue,
                annual_revenue_text,
                ..CompanyInput::default()
            };
            let id = EntityId::new();
            let decided = if run.dry_run {
                CompanyFields::validate(input)
                    .map(|_| Vec::new())
                    .map_err(AppError::from)
            } else {
                decide_create::<Company>(Guarded::from(CompanyCommand::Create(input))).await
            };
            if let (Ok(_), Some(unique)) = (&decided, &unique) {
                if let Err(why) = mapped.claim_unique(&record, unique, &mut unique_seen) {
                    report.duplicate(row, why);
                    continue;
                }
            }
            match decided {
                Ok(events) => {
                    report.created += 1;
                    let domain = domain.map(|d| d.to_string());
                    if run.dry_run {
                        planned.insert(name_key.clone(), domain.clone(), id);
                    }
                    known.insert(name_key, domain, id);
                    made.insert(id.to_string());
                    if !run.dry_run {
                        let new = NewStream {
                            stream: StreamId::new(meta.tenant_id, id),
                            events,
                            meta: row_metadata(meta),
                        };
                        // A full batch is written here: any failure of it is a fault.
                        if let Err(err) = batch.stage(row, new, &report).await {
                            batch.abort(&mut report, row, &err);
                            break 'file;
                        }
                    }
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

/// Companies by lowercased name and by domain, with their ids: those of the workspace
/// that a batch of rows could duplicate, and the rows created so far.
#[derive(Debug, Default)]
struct Known {
    by_name: HashMap<String, String>,
    by_domain: HashMap<String, String>,
    /// The live companies by domain: what an upsert may update (a deleted company or a
    /// merge's tombstone is never updated; its domain still makes a row a duplicate).
    live_by_domain: HashMap<String, String>,
}

impl Known {
    /// The workspace's companies (deleted ones too) whose name or domain is one of
    /// `chunk`'s rows': one query, two index lookups.
    async fn of(
        app: &sea_orm::DatabaseConnection,
        scope: &TenantScope,
        columns: &super::Columns,
        chunk: &[(u64, csv::StringRecord)],
    ) -> Result<Self, AppError> {
        let mut known = Self::default();
        // Rows refused as a whole (a control character) are not looked up.
        let rows: Vec<&csv::StringRecord> = chunk
            .iter()
            .map(|(_, r)| r)
            .filter(|r| columns.check(r).is_ok())
            .collect();
        let names: Vec<String> = rows
            .iter()
            .filter_map(|r| columns.get(r, NAME))
            .map(str::to_owned)
            .collect();
        let domains: Vec<String> = rows
            .iter()
            .filter_map(|r| columns.get(r, DOMAIN))
            .filter_map(|d| WebDomain::parse(d).ok())
            .map(|d| d.to_string())
            .collect();
        if names.is_empty() && domains.is_empty() {
            return Ok(known);
        }
        for (id, name, domain, live) in companies::matching(app, scope, names, domains).await? {
            if let Some(domain) = domain.as_ref().filter(|_| live) {
                known.live_by_domain.insert(domain.clone(), id.to_string());
            }
            // Lowercased here, as the file's names are: the database's lower() follows
            // its collation, which may fold fewer letters.
            known.insert(name.to_lowercase(), domain, EntityId(id));
        }
        Ok(known)
    }

    fn name(&self, key: &str) -> Option<&String> {
        self.by_name.get(key)
    }

    fn domain(&self, domain: &str) -> Option<&String> {
        self.by_domain.get(domain)
    }

    fn live_domain(&self, domain: &str) -> Option<&String> {
        self.live_by_domain.get(domain)
    }

    fn insert(&mut self, name_key: String, domain: Option<String>, id: EntityId) {
        self.by_name.insert(name_key, id.to_string());
        if let Some(domain) = domain {
            self.by_domain.insert(domain, id.to_string());
        }
    }
}

/// A row-level refusal as one sentence.
pub fn describe(err: &AppError) -> String {
    match err {
        AppError::Validation(fields) => fields
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}
