//! What merging two records moves, and how a link list changes when one record takes
//! another's place (merge) or gives it back (unmerge).
//!
//! A merge is one command of the application spanning streams: the merged record becomes
//! a tombstone (`ContactMergedInto`), the records that named it name the survivor
//! instead (each by its own event), and the survivor records what moved
//! ([`MergeMoves`], in `ContactMerged`), so that an unmerge can give back exactly that.

use serde::{Deserialize, Serialize};

use crate::{DomainError, EntityId};

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
    /// Contacts whose company (`company_id`) was the merged company.
    #[serde(default)]
    pub contacts: Vec<Moved>,
    /// Contact–company associations of the merged record moved to the survivor: of a
    /// merged contact, its companies; of a merged company, its contacts.
    #[serde(default)]
    pub associations: Vec<MovedAssociation>,
}

/// A contact–company association of a merged record, moved to the survivor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovedAssociation {
    /// The other side: a company of a merged contact, a contact of a merged company.
    pub id: EntityId,
    /// The contact's role there.
    pub role: Option<String>,
    /// Whether the survivor had that association already (its own role stays).
    pub shared: bool,
}

/// An aggregate that can be merged: its [`MergeState`].
pub trait Merges {
    /// Its merges: as a tombstone, and as a survivor.
    fn merges(&self) -> &MergeState;
}

/// A merge a survivor holds: what [`MergeState::record`] decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeRecord {
    /// The merged record.
    pub from: EntityId,
    /// The survivor's version before the merge.
    pub before: u64,
    /// The survivor's version once the merge had changed its fields (`before` when it
    /// changed none).
    pub updated: u64,
    /// What moved.
    pub moves: MergeMoves,
}

/// The merge side of a record's state, the same for every mergeable aggregate: whether
/// it is a tombstone, and which merges into it were not undone. Each aggregate keeps one,
/// decides its merge commands with it, and applies its merge events to it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeState {
    /// The survivor this record was merged into, while it is a tombstone.
    #[serde(default)]
    merged_into: Option<EntityId>,
    /// Records merged into this one, and not given back.
    #[serde(default)]
    merges: Vec<MergeRecord>,
}

impl MergeState {
    /// The survivor, while this record is a tombstone.
    pub fn merged_into(&self) -> Option<EntityId> {
        self.merged_into
    }

    /// The merges into this record not undone, oldest first.
    pub fn held(&self) -> impl Iterator<Item = &MergeRecord> {
        self.merges.iter()
    }

    /// The merge of `from` into this record, while held.
    pub fn merge_of(&self, from: EntityId) -> Option<&MergeRecord> {
        self.merges.iter().find(|m| m.from == from)
    }

    /// A tombstone is restored only by an unmerge.
    ///
    /// # Errors
    /// [`DomainError::Conflict`] for a tombstone.
    pub fn check_restore(&self) -> Result<(), DomainError> {
        match self.merged_into {
            Some(into) => Err(DomainError::Conflict(format!(
                "the record was merged into {into}: unmerge it there instead"
            ))),
            None => Ok(()),
        }
    }

    /// The survivor an unmerge gives this tombstone back from.
    ///
    /// # Errors
    /// [`DomainError::Conflict`] when it is not a tombstone.
    pub fn check_unmerge(&self) -> Result<EntityId, DomainError> {
        self.merged_into
            .ok_or_else(|| DomainError::Conflict("the record was not merged into another".into()))
    }

    /// A survivor records the merge of `from` once.
    ///
    /// # Errors
    /// [`DomainError::Conflict`] when it holds that merge already.
    pub fn check_record(&self, from: EntityId) -> Result<(), DomainError> {
        match self.merge_of(from) {
            Some(_) => Err(DomainError::Conflict(format!(
                "{from} is merged into this record already"
            ))),
            None => Ok(()),
        }
    }

    /// A survivor undoes only a merge it holds.
    ///
    /// # Errors
    /// [`DomainError::Conflict`] otherwise.
    pub fn check_undo(&self, from: EntityId) -> Result<(), DomainError> {
        match self.merge_of(from) {
            Some(_) => Ok(()),
            None => Err(DomainError::Conflict(format!(
                "{from} was not merged into this record, or was given back already"
            ))),
        }
    }

    /// Applies "merged into `into`".
    pub fn merged(&mut self, into: EntityId) {
        self.merged_into = Some(into);
    }

    /// Applies "unmerged".
    pub fn unmerged(&mut self) {
        self.merged_into = None;
    }

    /// Applies "`record` was merged into this one".
    pub fn recorded(&mut self, record: MergeRecord) {
        self.merges.push(record);
    }

    /// Applies "the merge of `from` was undone".
    pub fn undone(&mut self, from: EntityId) {
        self.merges.retain(|m| m.from != from);
    }
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
