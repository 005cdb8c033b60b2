//! Duplicate candidates among a workspace's live contacts or companies: pairs of records
//! that share a match key (migration 000035: a contact's email without its `+tag`, the
//! last nine digits of its phone; a company's domain) or whose names are similar by
//! trigrams (pg_trgm's `%`, then a similarity floor). Each pair is found once, from its
//! smaller id, through indexes that start with `tenant_id`; pages follow the pairs' ids.

use base64::Engine as _;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crm_store::page::CursorError;
use crm_store::TenantScope;

/// Which records to pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Contacts: same email, same phone, similar names.
    Contacts,
    /// Companies: same domain, similar names.
    Companies,
}

/// A pair of records that may be one, with the evidence the database found.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The pair's smaller id.
    pub first: Uuid,
    /// The pair's larger id.
    pub second: Uuid,
    /// Same email key (contacts).
    pub same_email: bool,
    /// Same phone key (contacts).
    pub same_phone: bool,
    /// Same domain (companies).
    pub same_domain: bool,
    /// Trigram similarity of the names, 0 to 1 (0 when either has no name).
    pub name_similarity: f64,
    /// How likely the two are one record, 0 to 1 (see [`candidates`]).
    pub score: f64,
}

/// Where the next page of pairs starts: after the pair `(k, i)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairCursor {
    /// The last pair's first id.
    pub k: Uuid,
    /// The last pair's second id.
    pub i: Uuid,
}

impl PairCursor {
    /// The opaque text form: URL-safe base64 of the JSON, as the lists' cursors.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// Reads a cursor this server issued.
    ///
    /// # Errors
    /// [`CursorError::Malformed`] for anything else.
    pub fn decode(text: &str) -> Result<Self, CursorError> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| CursorError::Malformed)?;
        serde_json::from_slice(&bytes).map_err(|_| CursorError::Malformed)
    }
}

/// Up to `limit` candidate pairs after `after`, in id order, among the workspace's live
/// records of `kind`, whose score is at least `min_score`.
///
/// The score (0 to 1) combines the evidence as independent signals (noisy-OR):
/// `1 - (1 - 0.95·email)(1 - 0.8·phone)(1 - 0.95·domain)(1 - 0.9·similarity)`, each
/// match 1 or 0 and the names' trigram similarity 0 to 1; the weights say how often such
/// a match means the same person or company, and are this project's choice.
///
/// # Errors
/// Any database error.
pub async fn candidates(
    db: &DatabaseConnection,
    scope: &TenantScope,
    kind: Kind,
    after: Option<PairCursor>,
    limit: u64,
    min_score: f64,
) -> Result<Vec<Candidate>, DbErr> {
    // The lateral probe names each key against the anchor's, so each `OR` arm is one
    // index's range (or trigram search) within the workspace: a BitmapOr per anchor.
    // The lateral probe names each key against the anchor's, so each `OR` arm is one
    // index's range (or trigram search) within the workspace: a BitmapOr per anchor.
    let (keys, probe) = match kind {
        Kind::Contacts => (
            "coalesce(a.dedupe_email = b.dedupe_email, false) AS same_email,
             coalesce(a.dedupe_phone = b.dedupe_phone, false) AS same_phone,
             false AS same_domain",
            "SELECT id, dedupe_email, dedupe_phone, dedupe_name FROM contacts b
              WHERE b.tenant_id = $1 AND NOT b.deleted AND b.id > a.id
                AND (b.dedupe_email = a.dedupe_email OR b.dedupe_phone = a.dedupe_phone
                     OR b.dedupe_name % a.dedupe_name)",
        ),
        Kind::Companies => (
            "false AS same_email, false AS same_phone,
             coalesce(a.domain = b.domain, false) AS same_domain",
            "SELECT id, domain, dedupe_name FROM companies b
              WHERE b.tenant_id = $1 AND NOT b.deleted AND b.id > a.id
                AND (b.domain = a.domain OR b.dedupe_name % a.dedupe_name)",
        ),
    };
    let table = match kind {
        Kind::Contacts => "contacts",
        Kind::Companies => "companies",
    };
    // Noisy-OR of independent evidence: 1 - (1 - 0.95 email)(1 - 0.8 phone)
    // (1 - 0.95 domain)(1 - 0.9 name similarity).
    let sql = format!(
        "SELECT * FROM (
           SELECT p.*, 1 - (1 - 0.95 * p.same_email::int) * (1 - 0.8 * p.same_phone::int)
                         * (1 - 0.95 * p.same_domain::int) * (1 - 0.9 * p.name_similarity)
                    AS score
             FROM (SELECT a.id AS first, b.id AS second, {keys},
                          coalesce(similarity(a.dedupe_name, b.dedupe_name), 0)::float8
                            AS name_similarity
                     FROM {table} a CROSS JOIN LATERAL ({probe}) AS b
                    WHERE a.tenant_id = $1 AND NOT a.deleted AND a.id >= $2
                      AND (a.id, b.id) > ($2, $3)) AS p) AS s
          WHERE s.score >= $5
          ORDER BY s.first, s.second
          LIMIT $4"
    );
    let after = after.unwrap_or(PairCursor {
        k: Uuid::nil(),
        i: Uuid::nil(),
    });
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let txn = scope.read(db).await?;
    // `%` matches from pg_trgm's threshold (0.3 unless set): a name that is the only
    // evidence needs `min_score / 0.9` to reach the floor, so the index returns no more
    // rows than that (never under 0.3, the extension's default, so weak names still come
    // along with an email or phone match).
    let threshold = (min_score / 0.9).clamp(0.3, 1.0);
    txn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT set_config('pg_trgm.similarity_threshold', $1, true)",
        [threshold.to_string().into()],
    ))
    .await?;
    let rows = txn
        .query_all(Statement::from_sql_and_values(
            DbBackend::Postgres,
            &sql,
            [
                scope.tenant().0.into(),
                after.k.into(),
                after.i.into(),
                limit.into(),
                min_score.into(),
            ],
        ))
        .await?;
    txn.commit().await?;
    rows.iter()
        .map(|row| {
            Ok(Candidate {
                first: row.try_get("", "first")?,
                second: row.try_get("", "second")?,
                same_email: row.try_get("", "same_email")?,
                same_phone: row.try_get("", "same_phone")?,
                same_domain: row.try_get("", "same_domain")?,
                name_similarity: row.try_get("", "name_similarity")?,
                score: row.try_get("", "score")?,
            })
        })
        .collect()
}
