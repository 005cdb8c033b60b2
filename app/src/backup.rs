//! Tenant backup and restore: every event of one workspace, with its hash, as NDJSON.
//!
//! File shape, one JSON object per line:
//! 1. header `{"format": "crm-workspace-backup", "version": 1, "workspace_id", "slug",
//!    "exported_at"}`;
//! 2. (version 2) one line per contact with a live data key, `{"contact_key":
//!    {"contact_id", "wrapped"}}`, the key still wrapped by the master key (base64), so a
//!    restore under the same master key reads the contacts' personal data; erased contacts
//!    have no key and stay erased;
//! 3. one line per event in commit order: `{"aggregate_type", "aggregate_id", "sequence",
//!    "event_type", "event_version", "payload", "metadata", "hash"}` (`hash` is the
//!    store's SHA-256 chain hash, lowercase hex);
//! 4. trailer `{"end": true, "events": N, "mac": hex}`, so a cut file is refused; `mac` is
//!    HMAC-SHA256 (RFC 2104) under the server's `audit.checkpoint_key` over every line
//!    before it (each with its newline), so a file that was changed and had its hashes
//!    recomputed is refused too. Without a configured key the file is written unsigned
//!    (`"mac": null`, with a warning), and a restore takes it only with
//!    `--allow-unsigned`.
//!
//! A restore appends the events in one transaction and compares each hash the database
//! computes on insert (the same function that guards the live trail) with the file's: the
//! first line that does not match, or does not parse, or belongs to another workspace,
//! rolls everything back. Secrets (password hashes, sessions, TOTP secrets, API keys)
//! are not events and are not in the file: after a restore users set a password through
//! the reset flow. `recorded_at` and positions are those of the restore; the time each
//! command was accepted stays in the metadata (`occurred_at`), which read models use.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use crm_domain::TenantId;
use crm_store::personal_data::Keyring;
use crm_store::TenantScope;
use futures::TryStreamExt;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use uuid::Uuid;

use crate::audit_chain::CheckpointKey;
use crate::db::Pools;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Why a backup or a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// No workspace has that slug.
    #[error("no workspace with slug {0:?}")]
    UnknownWorkspace(String),
    /// A query failed.
    #[error(transparent)]
    Query(#[from] sea_orm::DbErr),
    /// Reading or writing the file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The signing key is unusable, or a file's signature or keys do not verify.
    #[error("{0}")]
    Key(String),
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

const FORMAT: &str = "crm-workspace-backup";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    format: String,
    version: u32,
    workspace_id: Uuid,
    slug: String,
    exported_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: serde_json::Value,
    metadata: serde_json::Value,
    hash: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyLine {
    contact_key: ContactKey,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactKey {
    contact_id: Uuid,
    /// base64 of `nonce || AES-256-GCM(master key, data key)`.
    wrapped: String,
}

/// The backup format this server writes; it reads 1 (no keys) and 2.
const VERSION: u32 = 2;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Trailer {
    end: bool,
    events: u64,
    /// Lowercase hex HMAC of every line before this one; `None` for an unsigned file.
    #[serde(default)]
    mac: Option<String>,
}

/// Writes `value` as one line to `out` and into `mac` (when signing).
fn write_line(
    out: &mut impl Write,
    mac: &mut Option<Hmac<Sha256>>,
    value: &impl Serialize,
) -> Result<(), BackupError> {
    let mut line = serde_json::to_string(value).map_err(std::io::Error::other)?;
    line.push('\n');
    if let Some(mac) = mac {
        mac.update(line.as_bytes());
    }
    out.write_all(line.as_bytes())?;
    Ok(())
}

/// `crm export-workspace SLUG FILE`: writes the workspace's events to `file`; returns how
/// many.
///
/// # Errors
/// [`BackupError::UnknownWorkspace`], database and I/O errors.
pub async fn export_workspace(
    pools: &Pools,
    signing: Option<&CheckpointKey>,
    slug: &str,
    file: &Path,
) -> Result<u64, BackupError> {
    let mut mac = signing
        .map(CheckpointKey::backup_mac)
        .transpose()
        .map_err(|e| BackupError::Key(e.to_string()))?;
    if mac.is_none() {
        tracing::warn!("no audit.checkpoint_key configured: the backup is not signed");
    }
    let tenant = crm_access::credentials::tenant_of_slug(&pools.projector, slug)
        .await?
        .ok_or_else(|| BackupError::UnknownWorkspace(slug.to_owned()))?;
    let mut out = BufWriter::new(std::fs::File::create(file)?);
    let header = Header {
        format: FORMAT.into(),
        version: VERSION,
        workspace_id: tenant,
        slug: slug.to_owned(),
        exported_at: chrono::Utc::now(),
    };
    write_line(&mut out, &mut mac, &header)?;
    // One snapshot for keys and events: a contact created meanwhile is in both or neither.
    let mut tx = pools.store.begin().await.map_err(db)?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    let keys: Vec<(Uuid, Vec<u8>)> = sqlx::query_as(
        "SELECT contact_id, wrapped FROM contact_keys
          WHERE tenant_id = $1 AND wrapped IS NOT NULL ORDER BY contact_id",
    )
    .bind(tenant)
    .fetch_all(&mut *tx)
    .await
    .map_err(db)?;
    for (contact_id, wrapped) in keys {
        use base64::Engine;
        let line = KeyLine {
            contact_key: ContactKey {
                contact_id,
                wrapped: base64::engine::general_purpose::STANDARD.encode(wrapped),
            },
        };
        write_line(&mut out, &mut mac, &line)?;
    }
    let mut rows = sqlx::query(
        "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload,
                metadata, encode(hash, 'hex') AS hash
           FROM events WHERE tenant_id = $1 ORDER BY global_position",
    )
    .bind(tenant)
    .fetch(&mut *tx);
    let mut count = 0_u64;
    while let Some(row) = rows.try_next().await.map_err(db)? {
        let line = Line {
            aggregate_type: row.try_get("aggregate_type").map_err(db)?,
            aggregate_id: row.try_get("aggregate_id").map_err(db)?,
            sequence: row.try_get("sequence").map_err(db)?,
            event_type: row.try_get("event_type").map_err(db)?,
            event_version: row.try_get("event_version").map_err(db)?,
            payload: row.try_get("payload").map_err(db)?,
            metadata: row.try_get("metadata").map_err(db)?,
            hash: row.try_get("hash").map_err(db)?,
        };
        write_line(&mut out, &mut mac, &line)?;
        count += 1;
    }
    drop(rows);
    tx.commit().await.map_err(db)?;
    let trailer = Trailer {
        end: true,
        events: count,
        mac: mac.map(|m| hex::encode(m.finalize().into_bytes())),
    };
    write_line(&mut out, &mut None, &trailer)?;
    out.flush()?;
    Ok(count)
}

fn db(err: sqlx::Error) -> BackupError {
    BackupError::Query(sea_orm::DbErr::Custom(err.to_string()))
}

fn damaged(line: usize, reason: impl Into<String>) -> BackupError {
    BackupError::Damaged {
        line,
        reason: reason.into(),
    }
}

/// `crm import-workspace FILE`: restores a workspace written by [`export_workspace`] into
/// a database that does not have it, then rebuilds the read models and the uniqueness
/// claims (workspace slug, contact emails). Returns the workspace's slug and how many
/// events were appended.
///
/// # Errors
/// [`BackupError::Damaged`] with the first bad line (nothing is written);
/// [`BackupError::WorkspaceExists`] when the database already has the workspace or its slug;
/// database and I/O errors.
pub async fn import_workspace(
    pools: &Pools,
    keyring: &Keyring,
    signing: Option<&CheckpointKey>,
    allow_unsigned: bool,
    file: &Path,
) -> Result<(String, u64), BackupError> {
    let mut mac = signing
        .map(CheckpointKey::backup_mac)
        .transpose()
        .map_err(|e| BackupError::Key(e.to_string()))?;
    let mut lines = BufReader::new(std::fs::File::open(file)?).lines();
    let first = lines.next().transpose()?.unwrap_or_default();
    if let Some(mac) = &mut mac {
        mac.update(first.as_bytes());
        mac.update(b"\n");
    }
    let header: Header = serde_json::from_str(&first)
        .map_err(|e| damaged(1, format!("not a workspace backup header: {e}")))?;
    if header.format != FORMAT || !(1..=VERSION).contains(&header.version) {
        return Err(damaged(1, "unknown backup format or version"));
    }
    let tenant = header.workspace_id;
    if crm_access::credentials::tenant_of_slug(&pools.projector, &header.slug)
        .await?
        .is_some()
    {
        return Err(BackupError::WorkspaceExists(header.slug));
    }
    let present: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_one(&pools.store)
        .await
        .map_err(db)?;
    if present > 0 {
        return Err(BackupError::WorkspaceExists(header.slug));
    }
    let prefix = format!("{tenant}:");
    let mut tx = pools.store.begin().await.map_err(db)?;
    let mut count = 0_u64;
    let mut ended = false;
    let mut number = 1;
    for text in lines {
        let text = text?;
        number += 1;
        if ended {
            return Err(damaged(number, "text after the end marker"));
        }
        if let Ok(trailer) = serde_json::from_str::<Trailer>(&text) {
            if !trailer.end || trailer.events != count {
                return Err(damaged(
                    number,
                    format!(
                        "end marker counts {} events, the file has {count}",
                        trailer.events
                    ),
                ));
            }
            match (trailer.mac.as_deref(), mac.take()) {
                (Some(text), Some(expected)) => {
                    let given = hex::decode(text).unwrap_or_default();
                    if expected.verify_slice(&given).is_err() {
                        return Err(damaged(
                            number,
                            "the file's signature does not match this server's audit.checkpoint_key: it was changed, or signed with another key",
                        ));
                    }
                }
                (Some(_), None) => {
                    return Err(damaged(
                        number,
                        "the file is signed, and this server has no audit.checkpoint_key to check it with",
                    ));
                }
                (None, _) if !allow_unsigned => {
                    return Err(damaged(
                        number,
                        "the file is not signed (restore it with --allow-unsigned to accept that)",
                    ));
                }
                (None, _) => {}
            }
            ended = true;
            continue;
        }
        if let Some(mac) = &mut mac {
            mac.update(text.as_bytes());
            mac.update(b"\n");
        }
        if let Ok(KeyLine { contact_key }) = serde_json::from_str::<KeyLine>(&text) {
            use base64::Engine;
            let wrapped = base64::engine::general_purpose::STANDARD
                .decode(&contact_key.wrapped)
                .map_err(|_| damaged(number, "a contact key is not base64"))?;
            if !keyring.unwraps(tenant, contact_key.contact_id, &wrapped) {
                return Err(damaged(
                    number,
                    "a contact key does not unwrap with this server's personal_data.master_key",
                ));
            }
            sqlx::query(
                "INSERT INTO contact_keys (tenant_id, contact_id, wrapped) VALUES ($1, $2, $3)",
            )
            .bind(tenant)
            .bind(contact_key.contact_id)
            .bind(wrapped)
            .execute(&mut *tx)
            .await
            .map_err(|e| damaged(number, format!("refused by the key table: {e}")))?;
            continue;
        }
        let line: Line = serde_json::from_str(&text)
            .map_err(|e| damaged(number, format!("not an event: {e}")))?;
        if !line.aggregate_id.starts_with(&prefix) {
            return Err(damaged(number, "the event belongs to another workspace"));
        }
        if let Some(slug) = line.payload.pointer("/WorkspaceCreated/slug") {
            if slug.as_str() != Some(header.slug.as_str()) {
                return Err(damaged(
                    number,
                    "the workspace's slug differs from the header's",
                ));
            }
        }
        let stored: String = sqlx::query_scalar(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,
                                 event_version, payload, metadata)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             RETURNING encode(hash, 'hex')",
        )
        .bind(&line.aggregate_type)
        .bind(&line.aggregate_id)
        .bind(line.sequence)
        .bind(&line.event_type)
        .bind(&line.event_version)
        .bind(&line.payload)
        .bind(&line.metadata)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| damaged(number, format!("refused by the event store: {e}")))?;
        if stored != line.hash {
            return Err(damaged(
                number,
                "hash does not match: the event or one before it in its stream was changed",
            ));
        }
        count += 1;
    }
    if !ended {
        return Err(damaged(number + 1, "the file ends before its end marker"));
    }
    tx.commit().await.map_err(db)?;
    let scope = TenantScope::for_system(TenantId(tenant));
    // A rebuild replays events below the oldest running transaction of the cluster, so
    // it may not see the restore yet while an older transaction elsewhere is open: run it
    // until it has replayed everything appended (up to a minute).
    let mut tries = 0;
    while crm_projections::rebuild::rebuild_tenant(&pools.projector, keyring, &scope, |_| {})
        .await?
        < count
    {
        tries += 1;
        if tries > 600 {
            return Err(BackupError::Key(
                "the restored events stay invisible to the rebuild: an old transaction is open"
                    .into(),
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    restore_claims(pools, TenantId(tenant)).await?;
    Ok((header.slug, count))
}

/// Claims are not events: they are derived again from the rebuilt read models (a
/// deleted contact keeps its email's claim, as it does live).
async fn restore_claims(pools: &Pools, tenant: TenantId) -> Result<(), BackupError> {
    let scope = TenantScope::for_system(tenant);
    let txn = scope.begin(&pools.app).await?;
    txn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO workspace_slugs (slug, tenant_id)
         SELECT slug, tenant_id FROM workspaces WHERE tenant_id = $1
         ON CONFLICT DO NOTHING",
        [tenant.0.into()],
    ))
    .await?;
    txn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO contact_emails (tenant_id, email, contact_id)
         SELECT tenant_id, email, id FROM contacts
          WHERE tenant_id = $1 AND email IS NOT NULL
         ON CONFLICT DO NOTHING",
        [tenant.0.into()],
    ))
    .await?;
    txn.commit().await?;
    Ok(())
}
