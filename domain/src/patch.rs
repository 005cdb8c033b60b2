//! Three-state fields for partial updates (JSON merge-patch semantics, RFC 7396): a field
//! that is absent is unchanged, `null` clears it, a value sets it.

use serde::{Deserialize, Deserializer};

/// Deserializes `Option<Option<T>>` so that an absent field is `None`, an explicit `null` is
/// `Some(None)` and a value is `Some(Some(v))`. Use with `#[serde(default, deserialize_with =
/// "crm_domain::patch::double_option")]`.
///
/// # Errors
/// Whatever `T`'s deserializer reports.
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
