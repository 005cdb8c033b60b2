//! Duplicate candidates among a workspace's contacts or companies (`GET
//! /v1/{contacts,companies}/duplicates`): pairs of live records with a score and the
//! reasons, found by the read model's match keys (`crm_projections::queries::duplicates`).

use crm_domain::Action;
use crm_projections::queries::duplicates::{self as query, Kind, PairCursor};
use crm_store::page::Page;
use serde::Serialize;
use uuid::Uuid;

use super::companies::Companies;
use super::contacts::Contacts;
use super::{Record, Services};
use crate::caller::Caller;
use crate::error::AppError;

/// Score below which a pair is not shown unless the caller asks for lower
/// (`min_score`): a name similarity alone must be about 0.55 (pg_trgm) to reach it.
pub const DEFAULT_MIN_SCORE: f64 = 0.5;

/// Name similarity from which it is given as a reason (below it, names that merely share
/// a few trigrams would be listed beside a real match).
const SHOWN_SIMILARITY: f64 = 0.4;

/// A record type whose duplicates can be looked for.
pub trait Deduplicated: Record {
    /// Which match keys it has.
    const KIND: Kind;
}

impl Deduplicated for Contacts {
    const KIND: Kind = Kind::Contacts;
}

impl Deduplicated for Companies {
    const KIND: Kind = Kind::Companies;
}

/// Why two records may be one.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// The same email once lowercased and without a `+tag` (RFC 5233 subaddress).
    SameEmail,
    /// The same last nine digits of the phone number.
    SamePhone,
    /// The same web domain.
    SameDomain,
    /// Names alike by trigrams (pg_trgm): "Acme, Inc." and "ACME Incorporated" are 1.0
    /// once legal forms and punctuation are dropped.
    SimilarName {
        /// Trigram similarity, 0 to 1.
        similarity: f64,
    },
}

/// Two records that may be one, the smaller id first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DuplicatePair<V> {
    /// The two records as their `GET` shows them.
    pub records: Vec<V>,
    /// How likely they are one, 0 to 1: the noisy-OR of the reasons' evidence
    /// (`1 - (1 - 0.95·email)(1 - 0.8·phone)(1 - 0.95·domain)(1 - 0.9·similarity)`).
    pub score: f64,
    /// What they share.
    pub reasons: Vec<Reason>,
}

/// A page of candidate pairs among the workspace's live records of `R`, in the order of
/// their ids (so pages never skip or repeat a pair), each with a score of at least
/// `min_score` (default [`DEFAULT_MIN_SCORE`]).
///
/// # Errors
/// 422 for a malformed cursor, or a `min_score` outside 0 to 1; database errors.
pub async fn duplicates<R: Deduplicated>(
    s: Services<'_>,
    caller: &Caller,
    cursor: Option<&str>,
    limit: Option<u64>,
    min_score: Option<f64>,
) -> Result<Page<DuplicatePair<R::View>>, AppError>
where
    R::View: Clone,
{
    caller.require(Action::ReadRecords)?;
    let min_score = min_score.unwrap_or(DEFAULT_MIN_SCORE);
    if !(0.0..=1.0).contains(&min_score) {
        return Err(AppError::invalid("min_score", "must be 0 to 1"));
    }
    let after = cursor
        .map(PairCursor::decode)
        .transpose()
        .map_err(|e| AppError::invalid("cursor", e.to_string()))?;
    let limit = crm_store::page::clamp_limit(limit);
    let mut found = query::candidates(
        s.db,
        &caller.scope,
        R::KIND,
        after,
        limit + 1,
        min_score.max(f64::EPSILON),
    )
    .await?;
    let more = found.len() as u64 > limit;
    found.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let ids: Vec<Uuid> = found.iter().flat_map(|c| [c.first, c.second]).collect();
    let rows = crm_projections::queries::rows::<R::Table>(s.db, &caller.scope, ids).await?;
    let views: std::collections::HashMap<Uuid, R::View> = rows
        .into_iter()
        .map(|row| {
            (
                crm_projections::entities::RecordRow::id(&row),
                R::View::from(row),
            )
        })
        .collect();
    let next_cursor = match found.last() {
        Some(last) if more => Some(
            PairCursor {
                k: last.first,
                i: last.second,
            }
            .encode(),
        ),
        _ => None,
    };
    let items = found
        .into_iter()
        .filter_map(|c| {
            // A record deleted between the two reads drops its pair.
            let records = vec![views.get(&c.first)?.clone(), views.get(&c.second)?.clone()];
            Some(DuplicatePair {
                records,
                score: (c.score * 1000.0).round() / 1000.0,
                reasons: reasons(&c),
            })
        })
        .collect();
    Ok(Page { items, next_cursor })
}

/// The reasons the database found for a pair.
fn reasons(c: &query::Candidate) -> Vec<Reason> {
    let mut out = Vec::new();
    if c.same_email {
        out.push(Reason::SameEmail);
    }
    if c.same_phone {
        out.push(Reason::SamePhone);
    }
    if c.same_domain {
        out.push(Reason::SameDomain);
    }
    if c.name_similarity >= SHOWN_SIMILARITY {
        out.push(Reason::SimilarName {
            similarity: (c.name_similarity * 1000.0).round() / 1000.0,
        });
    }
    out
}
