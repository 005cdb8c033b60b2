use cqrs_es::test::TestFramework;

use super::*;

type Given = TestFramework<Workspace>;

fn created() -> WorkspaceEvent {
    WorkspaceEvent::WorkspaceCreated {
        name: "Acme".into(),
        slug: "acme".into(),
    }
}

#[test]
fn create_records_name_and_slug() {
    Given::with(())
        .given_no_previous_events()
        .when(
            WorkspaceCommand::Create {
                name: " Acme ".into(),
                slug: "acme".into(),
            }
            .into(),
        )
        .then_expect_events(vec![created()]);
}

#[test]
fn create_twice_is_refused() {
    Given::with(())
        .given(vec![created()])
        .when(
            WorkspaceCommand::Create {
                name: "Other".into(),
                slug: "other".into(),
            }
            .into(),
        )
        .then_expect_error(DomainError::AlreadyExists);
}

#[test]
fn slug_must_be_url_safe() {
    for bad in [
        "ab",
        "Acme",
        "acme!",
        "-acme",
        "acme-",
        "a b c",
        &"a".repeat(64),
    ] {
        let result = Given::with(())
            .given_no_previous_events()
            .when(
                WorkspaceCommand::Create {
                    name: "Acme".into(),
                    slug: bad.to_owned(),
                }
                .into(),
            )
            .inspect_result();
        assert!(
            matches!(result, Err(DomainError::Invalid { field: "slug", .. })),
            "{bad:?} accepted"
        );
    }
}

#[test]
fn rename_changes_name_and_same_name_is_no_event() {
    Given::with(())
        .given(vec![created()])
        .when(
            WorkspaceCommand::Rename {
                name: "Acme Corp".into(),
            }
            .into(),
        )
        .then_expect_events(vec![WorkspaceEvent::WorkspaceRenamed {
            name: "Acme Corp".into(),
        }]);
    Given::with(())
        .given(vec![created()])
        .when(
            WorkspaceCommand::Rename {
                name: "Acme".into(),
            }
            .into(),
        )
        .then_expect_events(vec![]);
}

#[test]
fn rename_of_missing_workspace_is_not_found() {
    Given::with(())
        .given_no_previous_events()
        .when(WorkspaceCommand::Rename { name: "X".into() }.into())
        .then_expect_error(DomainError::NotFound);
}

#[test]
fn empty_name_is_refused() {
    Given::with(())
        .given_no_previous_events()
        .when(
            WorkspaceCommand::Create {
                name: "  ".into(),
                slug: "acme".into(),
            }
            .into(),
        )
        .then_expect_error(DomainError::invalid("name", "name must not be empty"));
}
