//! Importing contacts: `First Name`, `Last Name`, `Job Title`, `Company name` (linked to
//! the workspace's company of that name), and `Email`, `Phone Number` when present.

use std::collections::{HashMap, HashSet};

use crm_domain::contact::{Contact, ContactCommand, ContactFields, ContactInput, ContactPatch};
use crm_domain::{Email, EntityId, Guarded, StreamId};
use crm_projections::queries::{companies, contacts};
use crm_store::claims::{self, Claim};
use crm_store::TenantScope;
use uuid::Uuid;

use super::companies::describe;
use super::custom::{Mapped, Proposals};
use super::{
    lock, next_chunk, open, row_metadata, CreateBatch, ImportReport, ImportRun, BATCH_ROWS,
};
use crate::error::AppError;
use crate::unit_of_work::{decide_create, NewStream};
use crm_domain::fields::RecordKind;

const FIRST: &[&str] = &["First Name"];
const LAST: &[&str] = &["Last Name"];
const TITLE: &[&str] = &["Job Title"];
const COMPANY: &[&str] = &["Company name", "Company Name", "Associated Company"];
const EMAIL: &[&str] = &["Email"];
const PHONE: &[&str] = &["Phone Number", "Phone"];

type Key = (String, String, Option<Uuid>);

fn key(first: Option<&str>, last: Option<&str>, company: Option<Uuid>) -> Key {
    (
        first.unwrap_or_default().to_lowercase(),
        last.unwrap_or_default().to_lowercase(),
        company,
    )
}

/// Imports contacts from CSV `data` into the tenant of `meta` (whose `import_id` must be
/// set). A row with the same first and last name (case-insensitively) at the same company
/// as an existing contact is a duplicate, as is a row whose email another contact has. A
/// company name that matches no live company of the workspace is a warning; the contact
/// is created without a company. With `run.upsert`, a row whose email a contact holds
/// updates that contact with its non-empty cells instead (an empty cell changes
/// nothing).
///
/// # Errors
/// 422 for a file with neither name column; 500 for database failures.
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
/// 422 when the file has no header, or none of `First Name`, `Last Name` and `Email`.
pub(super) fn header<R: std::io::Read>(
    data: R,
) -> Result<(csv::Reader<R>, super::Columns), AppError> {
    let (reader, columns) = open(data, &[])?;
    if !columns.has(FIRST) && !columns.has(LAST) && !columns.has(EMAIL) {
        return Err(AppError::invalid(
            "file",
            "missing column \"First Name\", \"Last Name\" or \"Email\"",
        ));
    }
    Ok((reader, columns))
}

async fn rows(
    run: &ImportRun<'_>,
    data: impl std::io::Read + Send,
) -> Result<ImportReport, AppError> {
    let (commands, app, meta) = (run.commands, run.app, &run.meta);
    let scope = TenantScope::for_command(meta);
    let (reader, mut columns) = header(data)?;
    let guard = lock(app, &scope, "contacts").await?;
    let mut report = ImportReport::new("contacts", meta.import_id.unwrap_or_default());
    report.dry_run = run.dry_run;
    let mut mapped = Mapped::resolve(run, RecordKind::Contact, &columns).await?;
    report.ignored_columns =
        columns.ignored(&[FIRST, LAST, TITLE, COMPANY, EMAIL, PHONE, &mapped.names()]);
    let mut proposals = Proposals::new(&columns, &report.ignored_columns);

    let mut batch = CreateBatch::<Contact>::new(commands);
    // A dry run writes nothing, so the contacts it would create are remembered to find
    // later rows' duplicates; an import finds its own earlier batches in the database.
    let mut planned: HashSet<Key> = HashSet::new();
    // The unique values this import's rows took, folded as claims fold them.
    let mut unique_seen = std::collections::HashSet::new();
    let mut records = reader.into_records();
    let mut chunk = Vec::with_capacity(BATCH_ROWS);
    'file: while next_chunk(&mut records, &mut report, &mut chunk) {
        // The workspace's companies the batch names, and its contacts of the batch's names.
        let (company_ids, mut existing) = known(app, &scope, &columns, &chunk).await?;
        // The records the batch's reference cells name that the workspace has, live.
        mapped.load_references(app, &scope, &chunk).await?;
        // Unique custom values the workspace holds, read in the batch's transaction.
        let unique = if mapped.has_unique() {
            let unit = batch.unit(meta).await?;
            Some(mapped.unique_values(unit, &chunk).await?)
        } else {
            None
        };
        let holders = if run.upsert {
            let emails = chunk
                .iter()
                .filter_map(|(_, r)| columns.get(r, EMAIL))
                .filter_map(|e| Email::parse(e).ok())
                .map(|e| e.as_str().to_owned())
                .collect();
            let mut holders = claims::email_holders(app, &scope, emails).await?;
            // A deleted contact keeps its email (a restore takes it back): such a row is
            // no update but a duplicate, as the create path's claim then reports.
            let live = contacts::live(app, &scope, holders.values().copied().collect()).await?;
            holders.retain(|_, id| live.contains(id));
            holders
        } else {
            HashMap::new()
        };
        for (row, record) in chunk.drain(..) {
            proposals.observe(&record);
            if let Err(why) = columns.check(&record) {
                report.fail(row, why);
                continue;
            }
            let first = columns.get(&record, FIRST);
            let last = columns.get(&record, LAST);
            let company = match columns.get(&record, COMPANY) {
                Some(name) => match company_ids.get(&name.to_lowercase()) {
                    Some(id) => Some(*id),
                    None => {
                        report.warn(
                            row,
                            format!("no company named {name:?}: contact created without a company"),
                        );
                        None
                    }
                },
                None => None,
            };
            let k = key(first, last, company);
            // An upsert updates the contact that holds the row's email.
            let holder = columns
                .get(&record, EMAIL)
                .and_then(|e| Email::parse(e).ok())
                .and_then(|e| holders.get(e.as_str()).copied());
            if let Some(holder) = holder {
                let custom = match mapped.values(&record, row, &mut report) {
                    Ok(custom) => custom,
                    Err(why) => {
                        report.fail(row, why);
                        continue;
                    }
                };
                if let Some(unique) = &unique {
                    if let Err(why) =
                        mapped.claim_unique_for_update(&record, unique, &mut unique_seen)
                    {
                        report.duplicate(row, why);
                        continue;
                    }
                }
                let some = |v: Option<&str>| v.map(|v| Some(v.to_owned()));
                let patch = ContactPatch {
                    first_name: some(first),
                    last_name: some(last),
                    phone: some(columns.get(&record, PHONE)),
                    job_title: some(columns.get(&record, TITLE)),
                    company_id: company.map(|c| Some(EntityId(c))),
                    custom,
                    ..ContactPatch::default()
                };
                let holder = EntityId(holder);
                let row_meta = row_metadata(meta);
                let command = Guarded::from(ContactCommand::Update(patch));
                let work = async |unit: &crate::unit_of_work::UnitOfWork| {
                    commands.contact_in(unit, holder, command, &row_meta).await
                };
                let done = if run.dry_run {
                    batch.check_update(&row_meta, work).await
                } else {
                    batch.update(row, &row_meta, work).await
                };
                match done {
                    Ok(appended) if appended.events == 0 => report.update(
                        row,
                        format!("contact {holder} has this email: nothing to change"),
                    ),
                    Ok(_) if run.dry_run => report.update(
                        row,
                        format!("contact {holder} has this email: it would be updated"),
                    ),
                    Ok(_) => {
                        report.update(row, format!("contact {holder} has this email: updated"))
                    }
                    Err(err @ (AppError::Internal(_) | AppError::Unavailable(_))) => {
                        batch.abort(&mut report, row, &err);
                        break 'file;
                    }
                    Err(err) => report.fail(
                        row,
                        format!("contact {holder} has this email: {}", describe(&err)),
                    ),
                }
                continue;
            }
            if (first.is_some() || last.is_some())
                && (existing.contains(&k) || planned.contains(&k))
            {
                // The name is in the stored report; an erasure blanks it out there.
                let who = [first, last]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                report.duplicate(row, format!("{who} exists at the same company"));
                continue;
            }
            let custom = match mapped.values(&record, row, &mut report) {
                Ok(custom) => custom,
                Err(why) => {
                    report.fail(row, why);
                    continue;
                }
            };
            let input = ContactInput {
                custom,
                first_name: first.map(str::to_owned),
                last_name: last.map(str::to_owned),
                email: columns.get(&record, EMAIL).map(str::to_owned),
                phone: columns.get(&record, PHONE).map(str::to_owned),
                job_title: columns.get(&record, TITLE).map(str::to_owned),
                company_id: company.map(EntityId),
                ..ContactInput::default()
            };
            let email = match input
                .email
                .as_deref()
                .map(str::trim)
                .filter(|e| !e.is_empty())
            {
                None => None,
                Some(text) => match Email::parse(text) {
                    Ok(email) => Some(email),
                    Err(e) => {
                        report.fail(row, format!("email: {e}"));
                        continue;
                    }
                },
            };
            let decided = if run.dry_run {
                ContactFields::validate(input)
                    .map(|_| Vec::new())
                    .map_err(AppError::from)
            } else {
                decide_create::<Contact>(Guarded::from(ContactCommand::Create(input))).await
            };
            let events = match decided {
                Ok(events) => events,
                Err(e) => {
                    report.fail(row, describe(&e));
                    continue;
                }
            };
            if let Some(unique) = &unique {
                if let Err(why) = mapped.claim_unique(&record, unique, &mut unique_seen) {
                    report.duplicate(row, why);
                    continue;
                }
            }
            if !run.dry_run {
                let id = EntityId::new();
                let row_meta = row_metadata(meta);
                // The email claim refuses without an error (nothing is written), so a taken
                // email leaves the batch's transaction as it was.
                let claimed = match (email, batch.unit(&row_meta).await) {
                    (_, Err(err)) => Err(err),
                    (None, Ok(_)) => Ok(Claim::Claimed { new: true }),
                    (Some(email), Ok(unit)) => {
                        claims::claim_contact_email(unit.connection(), &scope, email.as_str(), id.0)
                            .await
                            .map_err(AppError::from)
                    }
                };
                match claimed {
                    Ok(Claim::Claimed { .. }) => {}
                    Ok(Claim::Taken { by }) => {
                        report.duplicate(
                            row,
                            format!("another contact ({by}) of this workspace has this email"),
                        );
                        continue;
                    }
                    Err(err) => {
                        batch.abort(&mut report, row, &err);
                        break 'file;
                    }
                }
                report.created += 1;
                existing.insert(k);
                let new = NewStream {
                    stream: StreamId::new(meta.tenant_id, id),
                    events,
                    meta: row_meta,
                };
                // A full batch is written here: any failure of it is a fault.
                if let Err(err) = batch.stage(row, new, &report).await {
                    batch.abort(&mut report, row, &err);
                    break 'file;
                }
            } else {
                report.created += 1;
                planned.insert(k);
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
/// the keys of the workspace's contacts named as its rows are: two queries of an index
/// lookup per name.
async fn known(
    app: &sea_orm::DatabaseConnection,
    scope: &TenantScope,
    columns: &super::Columns,
    chunk: &[(u64, csv::StringRecord)],
) -> Result<(HashMap<String, Uuid>, HashSet<Key>), AppError> {
    // Rows refused as a whole (a control character) are not looked up.
    let rows: Vec<&csv::StringRecord> = chunk
        .iter()
        .map(|(_, r)| r)
        .filter(|r| columns.check(r).is_ok())
        .collect();
    let company_names: Vec<String> = rows
        .iter()
        .filter_map(|r| columns.get(r, COMPANY))
        .map(str::to_owned)
        .collect();
    let people: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            let (first, last) = (columns.get(r, FIRST), columns.get(r, LAST));
            (first.is_some() || last.is_some())
                .then(|| format!("{} {}", first.unwrap_or_default(), last.unwrap_or_default()))
        })
        .collect();
    let company_ids = if company_names.is_empty() {
        HashMap::new()
    } else {
        companies::live_named(app, scope, company_names)
            .await?
            .into_iter()
            .map(|(id, name)| (name.to_lowercase(), id))
            .collect()
    };
    let existing = if people.is_empty() {
        HashSet::new()
    } else {
        contacts::named(app, scope, people)
            .await?
            .into_iter()
            .map(|(f, l, c)| key(f.as_deref(), l.as_deref(), c))
            .collect()
    };
    Ok((company_ids, existing))
}
