//! What merging two records moves, and how a link list changes when one record takes
//! another's place (merge) or gives it back (unmerge).
//!
//! A merge is one command of the application spanning streams: the merged record becomes
//! a tombstone (`ContactMergedInto`), the records that named it name the survivor
//! instead (each by its own event), and the survivor records what moved
//! ([`MergeMoves`], in `ContactMerged`), so that an unmerge can give back exactly that.

use serde::{Deserialize, Serialize};

use crate::EntityId;

/// A record whose links a merge changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moved {
    /// The record (a deal, an activity, a contact).
    pub id: EntityId,
    /// Whether it named the survivor already before the merge (then the merge only
    /// dropped the merged record, and an unmerge only adds it back).
    pub shared: bool,
}

/// What a merge moved from the merged record to the survivor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeMoves {
    /// Deals that named the merged record.
    #[serde(default)]
    pub deals: Vec<Moved>,
    /// Activities that named the merged record.
    #[serde(default)]
    pub activities: Vec<Moved>,
    /// Companies the survivor was newly associated with (the merged contact's).
    #[serde(default)]
    pub companies: Vec<EntityId>,
}

/// Which links a [`Swap`] changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkTo {
    /// Links to contacts.
    Contact,
    /// Links to companies.
    Company,
}

/// A change of one link list: drop `remove`, then add `add` (where `remove` was, when it
/// was there; at the end otherwise), never twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Swap {
    /// The id to drop, if any.
    pub remove: Option<EntityId>,
    /// The id to add, if any.
    pub add: Option<EntityId>,
}

impl Swap {
    /// `ids` after the swap, in their order.
    pub fn apply(&self, ids: &[EntityId]) -> Vec<EntityId> {
        let mut out: Vec<EntityId> = Vec::with_capacity(ids.len() + 1);
        let mut added = false;
        for id in ids {
            let id = if Some(*id) == self.remove {
                match self.add {
                    Some(add) if !added => {
                        added = true;
                        add
                    }
                    _ => continue,
                }
            } else {
                *id
            };
            if !out.contains(&id) {
                out.push(id);
            }
        }
        if let Some(add) = self.add {
            if !out.contains(&add) {
                out.push(add);
            }
        }
        out
    }

    /// A single link after the swap: `add` in place of `remove`, else unchanged.
    pub fn apply_one(&self, id: Option<EntityId>) -> Option<EntityId> {
        match id {
            Some(id) if Some(id) == self.remove => self.add,
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u128) -> Vec<EntityId> {
        (1..=n)
            .map(|i| EntityId(uuid::Uuid::from_u128(i)))
            .collect()
    }

    #[test]
    fn a_swap_replaces_in_place_and_never_doubles() {
        let [a, b, c, d] = ids(4)[..] else {
            unreachable!()
        };
        let merge = Swap {
            remove: Some(b),
            add: Some(d),
        };
        assert_eq!(merge.apply(&[a, b, c]), vec![a, d, c]);
        // The survivor was there already: the merged one just goes.
        assert_eq!(merge.apply(&[d, b, c]), vec![d, c]);
        // Nothing to remove: the survivor is added at the end.
        assert_eq!(merge.apply(&[a, c]), vec![a, c, d]);
        let add_back = Swap {
            remove: None,
            add: Some(b),
        };
        assert_eq!(add_back.apply(&[d, c]), vec![d, c, b]);
        assert_eq!(merge.apply_one(Some(b)), Some(d));
        assert_eq!(merge.apply_one(Some(a)), Some(a));
        assert_eq!(merge.apply_one(None), None);
    }
}
