use chrono::{Duration, TimeZone, Utc};
use cqrs_es::test::TestFramework;

use super::*;

type Given = TestFramework<Activity>;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0)
        .single()
        .unwrap_or_default()
}

fn links() -> Links {
    Links {
        contact_ids: vec![EntityId::new()],
        ..Default::default()
    }
}

fn task() -> ActivityKind {
    ActivityKind::Task {
        title: "Send the quote".into(),
        due_at: Some(t0()),
        assignee_id: None,
        priority: Priority::High,
        body: None,
    }
}

fn logged_task() -> ActivityEvent {
    ActivityEvent::ActivityLogged {
        custom: Default::default(),
        kind: task(),
        links: Links::default(),
    }
}

#[test]
fn a_note_needs_a_link_and_a_body() {
    let r = Given::with(())
        .given_no_previous_events()
        .when(
            ActivityCommand::Log {
                custom: Default::default(),
                kind: ActivityKind::Note {
                    body: "Called back".into(),
                },
                links: Links::default(),
            }
            .into(),
        )
        .inspect_result();
    assert!(
        matches!(r, Err(DomainError::Invalid { field: "links", .. })),
        "{r:?}"
    );
    let r = Given::with(())
        .given_no_previous_events()
        .when(
            ActivityCommand::Log {
                custom: Default::default(),
                kind: ActivityKind::Note { body: "  ".into() },
                links: links(),
            }
            .into(),
        )
        .inspect_result();
    assert!(matches!(r, Err(DomainError::Invalid { field: "body", .. })));
    let l = links();
    Given::with(())
        .given_no_previous_events()
        .when(
            ActivityCommand::Log {
                custom: Default::default(),
                kind: ActivityKind::Note {
                    body: " Line one\nline two ".into(),
                },
                links: l.clone(),
            }
            .into(),
        )
        .then_expect_events(vec![ActivityEvent::ActivityLogged {
            custom: Default::default(),
            kind: ActivityKind::Note {
                body: "Line one\nline two".into(),
            },
            links: l,
        }]);
}

#[test]
fn a_task_may_stand_alone() {
    Given::with(())
        .given_no_previous_events()
        .when(
            ActivityCommand::Log {
                custom: Default::default(),
                kind: task(),
                links: Links::default(),
            }
            .into(),
        )
        .then_expect_events(vec![logged_task()]);
}

#[test]
fn a_meeting_ends_after_it_starts_and_calls_are_bounded() {
    let meeting = ActivityKind::Meeting {
        title: "Demo".into(),
        starts_at: t0(),
        ends_at: t0(),
        attendees: vec![],
        body: None,
    };
    let r = Given::with(())
        .given_no_previous_events()
        .when(
            ActivityCommand::Log {
                custom: Default::default(),
                kind: meeting,
                links: links(),
            }
            .into(),
        )
        .inspect_result();
    assert!(matches!(
        r,
        Err(DomainError::Invalid {
            field: "ends_at",
            ..
        })
    ));
    let call = ActivityKind::Call {
        direction: Direction::Outbound,
        duration_seconds: MAX_CALL_SECONDS + 1,
        outcome: None,
        body: None,
    };
    let r = Given::with(())
        .given_no_previous_events()
        .when(
            ActivityCommand::Log {
                custom: Default::default(),
                kind: call,
                links: links(),
            }
            .into(),
        )
        .inspect_result();
    assert!(matches!(
        r,
        Err(DomainError::Invalid {
            field: "duration_seconds",
            ..
        })
    ));
}

#[test]
fn tasks_complete_once_and_reopen() {
    Given::with(())
        .given(vec![logged_task()])
        .when(ActivityCommand::Complete { at: t0() }.into())
        .then_expect_events(vec![ActivityEvent::TaskCompleted { completed_at: t0() }]);
    let done = ActivityEvent::TaskCompleted { completed_at: t0() };
    let r = Given::with(())
        .given(vec![logged_task(), done.clone()])
        .when(
            ActivityCommand::Complete {
                at: t0() + Duration::hours(1),
            }
            .into(),
        )
        .inspect_result();
    assert!(
        matches!(r, Err(DomainError::Conflict(_))),
        "a done task keeps its completion time"
    );
    Given::with(())
        .given(vec![logged_task(), done])
        .when(ActivityCommand::Reopen.into())
        .then_expect_events(vec![ActivityEvent::TaskReopened]);
    let r = Given::with(())
        .given(vec![logged_task()])
        .when(ActivityCommand::Reopen.into())
        .inspect_result();
    assert!(matches!(r, Err(DomainError::Conflict(_))));
}

#[test]
fn only_tasks_complete_and_kinds_do_not_change() {
    let note = ActivityEvent::ActivityLogged {
        custom: Default::default(),
        kind: ActivityKind::Note { body: "x".into() },
        links: links(),
    };
    let r = Given::with(())
        .given(vec![note.clone()])
        .when(ActivityCommand::Complete { at: t0() }.into())
        .inspect_result();
    assert!(matches!(r, Err(DomainError::Invalid { field: "kind", .. })));
    let r = Given::with(())
        .given(vec![note])
        .when(
            ActivityCommand::Edit {
                custom: Default::default(),
                kind: task(),
                links: None,
            }
            .into(),
        )
        .inspect_result();
    assert!(matches!(r, Err(DomainError::Invalid { field: "kind", .. })));
}

#[test]
fn deleted_activities_do_not_change() {
    Given::with(())
        .given(vec![logged_task(), ActivityEvent::ActivityDeleted])
        .when(ActivityCommand::Complete { at: t0() }.into())
        .then_expect_error(DomainError::Deleted);
    Given::with(())
        .given(vec![logged_task(), ActivityEvent::ActivityDeleted])
        .when(ActivityCommand::Restore.into())
        .then_expect_events(vec![ActivityEvent::ActivityRestored]);
    Given::with(())
        .given_no_previous_events()
        .when(ActivityCommand::Delete.into())
        .then_expect_error(DomainError::NotFound);
}

#[test]
fn events_serialise_with_a_kind_tag() {
    let json = serde_json::to_value(logged_task()).unwrap_or_default();
    assert_eq!(json["ActivityLogged"]["kind"], "task");
    assert_eq!(json["ActivityLogged"]["priority"], "high");
    let back: ActivityEvent = serde_json::from_value(json).unwrap_or(ActivityEvent::TaskReopened);
    assert_eq!(back, logged_task());
}

#[test]
fn an_edit_changes_fields_and_links_together_or_not_at_all() {
    let l = links();
    let note = ActivityEvent::ActivityLogged {
        custom: Default::default(),
        kind: ActivityKind::Note { body: "x".into() },
        links: l.clone(),
    };
    let other = Links {
        company_ids: vec![EntityId::new()],
        ..Default::default()
    };
    Given::with(())
        .given(vec![note.clone()])
        .when(
            ActivityCommand::Edit {
                custom: Default::default(),
                kind: ActivityKind::Note { body: "y".into() },
                links: Some(other.clone()),
            }
            .into(),
        )
        .then_expect_events(vec![
            ActivityEvent::ActivityEdited {
                kind: ActivityKind::Note { body: "y".into() },
            },
            ActivityEvent::ActivityRelinked { links: other },
        ]);
    let r = Given::with(())
        .given(vec![note])
        .when(
            ActivityCommand::Edit {
                custom: Default::default(),
                kind: ActivityKind::Note { body: "y".into() },
                links: Some(Links::default()),
            }
            .into(),
        )
        .inspect_result();
    assert!(
        matches!(r, Err(DomainError::Invalid { field: "links", .. })),
        "a refused relink refuses the edit too"
    );
}

#[test]
fn an_edit_of_custom_values_alone_records_only_their_changes() {
    use crate::fields::CustomInput;
    let field = uuid::Uuid::from_u128(9);
    let note = ActivityEvent::ActivityLogged {
        custom: [(field, serde_json::json!(3))].into(),
        kind: ActivityKind::Note { body: "x".into() },
        links: links(),
    };
    Given::with(())
        .given(vec![note.clone()])
        .when(
            ActivityCommand::Edit {
                custom: CustomInput::checked([(field, Some(serde_json::json!(5)))].into()),
                kind: ActivityKind::Note { body: "x".into() },
                links: None,
            }
            .into(),
        )
        .then_expect_events(vec![ActivityEvent::ActivityCustomChanged {
            custom: [(field, Some(serde_json::json!(5)))].into(),
        }]);
    Given::with(())
        .given(vec![note])
        .when(
            ActivityCommand::Edit {
                custom: CustomInput::checked([(field, Some(serde_json::json!(3)))].into()),
                kind: ActivityKind::Note { body: "x".into() },
                links: None,
            }
            .into(),
        )
        .then_expect_events(vec![]);
}
