//! The shape of one page of a list, shared by the event store's audit trail (here) and the
//! read models' keyset lists (`crm_projections::queries::page`, which adds sorts and
//! cursors): the rows, the opaque cursor of the next page, the page-size bounds and the
//! errors a list reports.

/// Most rows one page may hold.
pub const MAX_LIMIT: u64 = 200;
/// Rows per page when the caller names no limit.
pub const DEFAULT_LIMIT: u64 = 50;

/// One page of rows, and the cursor of the next page if there is one.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The rows, in order.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A cursor or sort the caller sent that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    /// Not a cursor this server issued.
    #[error("malformed cursor")]
    Malformed,
    /// The cursor was issued for another sort order.
    #[error("the cursor belongs to another sort order")]
    WrongSort,
    /// An unknown sort.
    #[error("unknown sort {0:?}: use name, -name, created_at or -created_at")]
    Sort(String),
}

/// Clamps a requested page size to `1..=MAX_LIMIT`, [`DEFAULT_LIMIT`] when absent.
pub fn clamp_limit(limit: Option<u64>) -> u64 {
    limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}

/// A failed list query.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The cursor or sort cannot be used (the caller's fault).
    #[error(transparent)]
    Cursor(#[from] CursorError),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_clamped() {
        assert_eq!(clamp_limit(None), DEFAULT_LIMIT);
        assert_eq!(clamp_limit(Some(0)), 1);
        assert_eq!(clamp_limit(Some(10_000)), MAX_LIMIT);
    }
}
