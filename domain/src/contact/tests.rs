use cqrs_es::test::TestFramework;

use super::*;
use crate::merge::MergeRecord;
use crate::Guarded;

type Given = TestFramework<Contact>;

fn input() -> ContactInput {
    ContactInput {
        first_name: Some("Börje".into()),
        last_name: Some("Ekholm".into()),
        email: Some(" Borje.Ekholm@Ericsson.COM ".into()),
        phone: Some("+46 10 719 00 00".into()),
        job_title: Some("President & CEO".into()),
        company_id: None,
        tags: vec![],
        custom: Default::default(),
    }
}

fn created() -> ContactEvent {
    ContactEvent::ContactCreated(ContactFields::validate(input()).unwrap_or_else(|e| panic!("{e}")))
}

fn email(s: &str) -> Email {
    Email::parse(s).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn create_normalises_email() {
    let ContactEvent::ContactCreated(fields) = created() else {
        panic!("not a create")
    };
    assert_eq!(fields.email, Some(email("borje.ekholm@ericsson.com")));
    Given::with(())
        .given_no_previous_events()
        .when(ContactCommand::Create(input()).into())
        .then_expect_events(vec![created()]);
}

#[test]
fn invalid_email_is_refused() {
    let bad = ContactInput {
        email: Some("borje@".into()),
        ..input()
    };
    let result = Given::with(())
        .given_no_previous_events()
        .when(ContactCommand::Create(bad).into())
        .inspect_result();
    assert!(
        matches!(result, Err(DomainError::Invalid { field: "email", .. })),
        "{result:?}"
    );
}

#[test]
fn invalid_email_in_update_is_refused() {
    let patch = ContactPatch {
        email: Some(Some("two@@x.com".into())),
        ..Default::default()
    };
    let result = Given::with(())
        .given(vec![created()])
        .when(ContactCommand::Update(patch).into())
        .inspect_result();
    assert!(matches!(
        result,
        Err(DomainError::Invalid { field: "email", .. })
    ));
}

#[test]
fn contact_needs_a_name_or_an_email() {
    let nameless = ContactInput {
        first_name: None,
        last_name: Some(" ".into()),
        email: None,
        ..input()
    };
    let result = Given::with(())
        .given_no_previous_events()
        .when(ContactCommand::Create(nameless).into())
        .inspect_result();
    assert!(matches!(result, Err(DomainError::Invalid { .. })));
    let email_only = ContactInput {
        first_name: None,
        last_name: None,
        ..input()
    };
    assert!(Given::with(())
        .given_no_previous_events()
        .when(ContactCommand::Create(email_only).into())
        .inspect_result()
        .is_ok());
}

#[test]
fn phone_rules() {
    for good in ["+46 10 719 00 00", "(555) 010-9999", "030/1234567"] {
        assert!(validate_phone(good).is_ok(), "{good}");
    }
    for bad in [
        "12",
        "call me",
        "46+10",
        "1234567890123456789012345678901234",
    ] {
        assert!(validate_phone(bad).is_err(), "{bad}");
    }
}

#[test]
fn update_records_only_changes_and_clearing() {
    let patch = ContactPatch {
        job_title: Some(Some("CEO".into())),
        phone: Some(None),
        first_name: Some(Some("Börje".into())),
        ..Default::default()
    };
    Given::with(())
        .given(vec![created()])
        .when(ContactCommand::Update(patch).into())
        .then_expect_events(vec![ContactEvent::ContactUpdated(ContactChanges {
            job_title: Some(Some("CEO".into())),
            phone: Some(None),
            ..Default::default()
        })]);
}

#[test]
fn update_of_deleted_contact_is_refused() {
    let patch = ContactPatch {
        job_title: Some(Some("CEO".into())),
        ..Default::default()
    };
    Given::with(())
        .given(vec![created(), ContactEvent::ContactDeleted])
        .when(ContactCommand::Update(patch).into())
        .then_expect_error(DomainError::Deleted);
}

#[test]
fn restore_of_live_contact_is_refused() {
    Given::with(())
        .given(vec![created()])
        .when(ContactCommand::Restore.into())
        .then_expect_error(DomainError::NotDeleted);
}

#[test]
fn delete_restore_cycle() {
    Given::with(())
        .given(vec![created()])
        .when(ContactCommand::Delete.into())
        .then_expect_events(vec![ContactEvent::ContactDeleted]);
    Given::with(())
        .given(vec![created(), ContactEvent::ContactDeleted])
        .when(ContactCommand::Restore.into())
        .then_expect_events(vec![ContactEvent::ContactRestored]);
    Given::with(())
        .given(vec![created(), ContactEvent::ContactDeleted])
        .when(ContactCommand::Delete.into())
        .then_expect_error(DomainError::Deleted);
}

#[test]
fn commands_on_an_empty_stream_are_not_found() {
    for cmd in [
        ContactCommand::Delete,
        ContactCommand::Restore,
        ContactCommand::Update(ContactPatch::default()),
    ] {
        Given::with(())
            .given_no_previous_events()
            .when(cmd.into())
            .then_expect_error(DomainError::NotFound);
    }
}

#[test]
fn a_stale_version_is_refused() {
    Given::with(())
        .given(vec![
            created(),
            ContactEvent::ContactDeleted,
            ContactEvent::ContactRestored,
        ])
        .when(Guarded::at(2, ContactCommand::Delete))
        .then_expect_error(DomainError::StaleVersion {
            expected: 2,
            current: 3,
        });
    Given::with(())
        .given(vec![created()])
        .when(Guarded::at(1, ContactCommand::Delete))
        .then_expect_events(vec![ContactEvent::ContactDeleted]);
}

#[test]
fn companies_are_linked_with_a_role_relinked_and_unlinked() {
    let co = EntityId::new();
    let linked = ContactEvent::ContactCompanyLinked {
        company_id: co,
        role: Some("Decision maker".into()),
    };
    Given::with(())
        .given(vec![created()])
        .when(
            ContactCommand::LinkCompany {
                company_id: co,
                role: Some(" Decision maker ".into()),
            }
            .into(),
        )
        .then_expect_events(vec![linked.clone()]);
    Given::with(())
        .given(vec![created(), linked.clone()])
        .when(
            ContactCommand::LinkCompany {
                company_id: co,
                role: Some("Decision maker".into()),
            }
            .into(),
        )
        .then_expect_events(vec![]);
    Given::with(())
        .given(vec![created(), linked.clone()])
        .when(
            ContactCommand::LinkCompany {
                company_id: co,
                role: None,
            }
            .into(),
        )
        .then_expect_events(vec![ContactEvent::ContactCompanyLinked {
            company_id: co,
            role: None,
        }]);
    Given::with(())
        .given(vec![created(), linked.clone()])
        .when(ContactCommand::UnlinkCompany { company_id: co }.into())
        .then_expect_events(vec![ContactEvent::ContactCompanyUnlinked {
            company_id: co,
        }]);
    let r = Given::with(())
        .given(vec![created()])
        .when(ContactCommand::UnlinkCompany { company_id: co }.into())
        .inspect_result();
    assert!(matches!(
        r,
        Err(DomainError::Invalid {
            field: "company_id",
            ..
        })
    ));
    Given::with(())
        .given(vec![created(), ContactEvent::ContactDeleted])
        .when(
            ContactCommand::LinkCompany {
                company_id: co,
                role: None,
            }
            .into(),
        )
        .then_expect_error(DomainError::Deleted);
}

#[test]
fn erase_records_the_erasure_once() {
    Given::with(())
        .given(vec![created()])
        .when(ContactCommand::Erase.into())
        .then_expect_events(vec![ContactEvent::ContactErased]);
    Given::with(())
        .given(vec![created(), ContactEvent::ContactDeleted])
        .when(ContactCommand::Erase.into())
        .then_expect_events(vec![ContactEvent::ContactErased]);
    let again = Given::with(())
        .given(vec![created(), ContactEvent::ContactErased])
        .when(ContactCommand::Erase.into())
        .inspect_result();
    assert!(matches!(again, Err(DomainError::Conflict(_))), "{again:?}");
    let missing = Given::with(())
        .given_no_previous_events()
        .when(ContactCommand::Erase.into())
        .inspect_result();
    assert_eq!(missing, Err(DomainError::NotFound));
}

#[test]
fn an_erased_contact_takes_no_personal_data_but_can_still_be_deleted() {
    let patch = ContactPatch {
        first_name: Some(Some("Again".into())),
        ..Default::default()
    };
    let result = Given::with(())
        .given(vec![created(), ContactEvent::ContactErased])
        .when(ContactCommand::Update(patch).into())
        .inspect_result();
    assert!(
        matches!(result, Err(DomainError::Conflict(_))),
        "{result:?}"
    );
    Given::with(())
        .given(vec![created(), ContactEvent::ContactErased])
        .when(ContactCommand::Delete.into())
        .then_expect_events(vec![ContactEvent::ContactDeleted]);
}

#[test]
fn erasure_clears_the_personal_fields_of_the_state_and_keeps_the_rest() {
    let company = EntityId::new();
    let mut contact = Contact::default();
    let mut fields = ContactFields::validate(input()).unwrap_or_else(|e| panic!("{e}"));
    fields.company_id = Some(company);
    fields.tags = vec!["vip".into()];
    contact.apply(ContactEvent::ContactCreated(fields));
    contact.apply(ContactEvent::ContactErased);
    assert!(contact.erased());
    assert_eq!(contact.email(), None);
    let state = serde_json::to_value(&contact).unwrap_or_default();
    for field in PERSONAL_FIELDS {
        assert_eq!(state["fields"][field], serde_json::Value::Null, "{field}");
    }
    assert_eq!(state["fields"]["company_id"], serde_json::json!(company));
    assert_eq!(state["fields"]["tags"], serde_json::json!(["vip"]));
}

fn other() -> EntityId {
    EntityId(uuid::Uuid::from_u128(7))
}

#[test]
fn a_merged_contact_is_a_tombstone_that_only_an_unmerge_brings_back() {
    let merged_into = ContactEvent::ContactMergedInto { into: other() };
    Given::with(())
        .given(vec![created()])
        .when(ContactCommand::MergeInto { into: other() }.into())
        .then_expect_events(vec![merged_into.clone()]);
    // A tombstone is neither changed, merged again, nor restored: only unmerged.
    for command in [
        ContactCommand::Update(ContactPatch {
            job_title: Some(Some("CTO".into())),
            ..ContactPatch::default()
        }),
        ContactCommand::MergeInto { into: other() },
    ] {
        let result = Given::with(())
            .given(vec![created(), merged_into.clone()])
            .when(command.into())
            .inspect_result();
        assert_eq!(result, Err(DomainError::Deleted));
    }
    let result = Given::with(())
        .given(vec![created(), merged_into.clone()])
        .when(ContactCommand::Restore.into())
        .inspect_result();
    assert!(
        matches!(result, Err(DomainError::Conflict(_))),
        "{result:?}"
    );
    Given::with(())
        .given(vec![created(), merged_into.clone()])
        .when(ContactCommand::Unmerge.into())
        .then_expect_events(vec![ContactEvent::ContactUnmerged { from: other() }]);
    // Only a tombstone is unmerged.
    let result = Given::with(())
        .given(vec![created()])
        .when(ContactCommand::Unmerge.into())
        .inspect_result();
    assert!(
        matches!(result, Err(DomainError::Conflict(_))),
        "{result:?}"
    );
}

#[test]
fn a_survivor_records_each_merge_once_and_undoes_only_what_it_holds() {
    let record = MergeRecord {
        from: other(),
        before: 1,
        updated: 2,
        moves: crate::merge::MergeMoves::default(),
    };
    let merge = || ContactCommand::RecordMerge(record.clone());
    Given::with(())
        .given(vec![created()])
        .when(merge().into())
        .then_expect_events(vec![ContactEvent::ContactMerged(record.clone())]);
    let result = Given::with(())
        .given(vec![created(), ContactEvent::ContactMerged(record.clone())])
        .when(merge().into())
        .inspect_result();
    assert!(
        matches!(result, Err(DomainError::Conflict(_))),
        "{result:?}"
    );
    Given::with(())
        .given(vec![created(), ContactEvent::ContactMerged(record.clone())])
        .when(ContactCommand::UndoMerge { from: other() }.into())
        .then_expect_events(vec![ContactEvent::ContactMergeUndone { from: other() }]);
    let result = Given::with(())
        .given(vec![
            created(),
            ContactEvent::ContactMerged(record.clone()),
            ContactEvent::ContactMergeUndone { from: other() },
        ])
        .when(ContactCommand::UndoMerge { from: other() }.into())
        .inspect_result();
    assert!(
        matches!(result, Err(DomainError::Conflict(_))),
        "{result:?}"
    );
    // A deleted survivor takes no merge.
    let result = Given::with(())
        .given(vec![created(), ContactEvent::ContactDeleted])
        .when(merge().into())
        .inspect_result();
    assert_eq!(result, Err(DomainError::Deleted));
}
