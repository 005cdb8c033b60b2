//! Activities, tasks and timelines.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::client::{Activity, Client, Company, Contact, Deal};
use crate::helpers::spawn_app;

/// A company, a contact of it, a deal with both, and four activities linked to them.
struct Timeline {
    company: Company,
    contact: Contact,
    deal: Deal,
    /// The meeting, the email, the call and the note, in the order they were logged.
    logged: Vec<Activity>,
}

impl Timeline {
    fn note(&self) -> &Activity {
        &self.logged[3]
    }
}

/// Logs a meeting (January), an email (February), a call and a note (now).
async fn given_a_timeline(crm: &Client<'_>) -> Timeline {
    let company = crm
        .companies()
        .create(&json!({"name": "Acme"}))
        .await
        .expect(StatusCode::CREATED);
    let contact = crm
        .contacts()
        .create(&json!({"first_name": "Tim", "company_id": company.id}))
        .await
        .expect(StatusCode::CREATED);
    let deal = crm
        .deals()
        .create(
            &json!({"name": "Acme deal", "company_id": company.id, "contact_ids": [contact.id]}),
        )
        .await
        .expect(StatusCode::CREATED);
    let (c, co, d) = (contact.id, company.id, deal.id);
    let mut logged = Vec::new();
    for body in [
        json!({"kind": "meeting", "title": "Kick-off", "starts_at": "2026-01-10T09:00:00Z", "ends_at": "2026-01-10T10:00:00Z", "attendees": ["Tim@Acme.example"], "contact_ids": [c], "company_ids": [co]}),
        json!({"kind": "email", "subject": "Proposal", "direction": "outbound", "sent_at": "2026-02-01T12:00:00Z", "contact_ids": [c], "deal_ids": [d]}),
        json!({"kind": "call", "direction": "inbound", "duration_seconds": 300, "outcome": "Connected", "deal_ids": [d]}),
        json!({"kind": "note", "body": "Wants a discount\nsecond line", "contact_ids": [c]}),
    ] {
        let activity = crm
            .activities()
            .create(&body)
            .await
            .context(&body)
            .expect(StatusCode::CREATED);
        logged.push(activity);
    }
    Timeline {
        company,
        contact,
        deal,
        logged,
    }
}

fn titles(items: &[Activity]) -> Vec<&str> {
    items.iter().map(|a| a.title.as_str()).collect()
}

#[tokio::test]
async fn each_activity_records_who_logged_it() {
    let app = spawn_app().await;
    let ws = app.signup("act-who").await;

    let timeline = given_a_timeline(&app.as_(&ws)).await;

    for activity in &timeline.logged {
        assert_eq!(activity.created_by, ws.owner.to_string(), "{activity:?}");
    }
}

#[tokio::test]
async fn a_contact_timeline_pages_newest_first() {
    let app = spawn_app().await;
    let ws = app.signup("timeline").await;
    let crm = app.as_(&ws);
    let t = given_a_timeline(&crm).await;

    let first = crm
        .contacts()
        .timeline(t.contact.id, "limit=2")
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        titles(&first.items),
        ["Wants a discount", "Proposal"],
        "the note was logged now, the email sent in February"
    );

    let rest = crm
        .contacts()
        .timeline(t.contact.id, &format!("limit=2&cursor={}", first.cursor()))
        .await
        .expect(StatusCode::OK);
    assert_eq!(titles(&rest.items), ["Kick-off"]);
    assert_eq!(
        rest.items[0].details["attendees"],
        json!(["tim@acme.example"]),
        "attendees are normalised"
    );
    assert_eq!(rest.next_cursor, None);
}

#[tokio::test]
async fn deal_and_company_timelines_show_their_own_activities() {
    let app = spawn_app().await;
    let ws = app.signup("timeline-own").await;
    let crm = app.as_(&ws);
    let t = given_a_timeline(&crm).await;

    let deal_line = crm
        .deals()
        .timeline(t.deal.id, "")
        .await
        .expect(StatusCode::OK);
    let company_line = crm
        .companies()
        .timeline(t.company.id, "")
        .await
        .expect(StatusCode::OK);

    assert_eq!(deal_line.map(|a| a.kind.clone()), ["call", "email"]);
    assert_eq!(company_line.items.len(), 1);
}

#[tokio::test]
async fn a_deleted_activity_leaves_the_timeline_until_restored() {
    let app = spawn_app().await;
    let ws = app.signup("timeline-del").await;
    let crm = app.as_(&ws);
    let t = given_a_timeline(&crm).await;

    crm.activities()
        .delete(t.note().id)
        .await
        .expect(StatusCode::NO_CONTENT);
    let after = crm
        .contacts()
        .timeline(t.contact.id, "")
        .await
        .expect(StatusCode::OK);
    assert_eq!(titles(&after.items), ["Proposal", "Kick-off"]);

    crm.activities()
        .restore(t.note().id)
        .await
        .expect(StatusCode::OK);
    let back = crm
        .contacts()
        .timeline(t.contact.id, "")
        .await
        .expect(StatusCode::OK);
    assert_eq!(back.items.len(), 3);
}

#[tokio::test]
async fn editing_an_activity_keeps_its_kind_and_changes_only_what_is_given() {
    let app = spawn_app().await;
    let ws = app.signup("timeline-edit").await;
    let crm = app.as_(&ws);
    let t = given_a_timeline(&crm).await;

    let edited = crm
        .activities()
        .update(t.note().id, &json!({"body": "Wants 10 % off"}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(edited.title, "Wants 10 % off");
    assert_eq!(edited.contact_ids, [t.contact.id]);

    crm.activities()
        .update(t.note().id, &json!({"kind": "task"}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
}

/// Three tasks: "Send quote" (high, due November 2026) and "Later" (due March 2027) for
/// the owner, and "Nobody's" for no one. Answers the first.
async fn given_three_tasks(crm: &Client<'_>, owner: uuid::Uuid) -> Activity {
    let task = crm
        .activities()
        .create(&json!({"kind": "task", "title": "Send quote", "due_at": "2026-11-30T17:00:00Z", "assignee_id": owner, "priority": "high"}))
        .await
        .expect(StatusCode::CREATED);
    for body in [
        json!({"kind": "task", "title": "Later", "due_at": "2027-03-01T09:00:00Z", "assignee_id": owner}),
        json!({"kind": "task", "title": "Nobody's"}),
    ] {
        crm.activities()
            .create(&body)
            .await
            .expect(StatusCode::CREATED);
    }
    task
}

async fn task_titles(crm: &Client<'_>, query: &str) -> Vec<String> {
    crm.tasks(query)
        .await
        .expect(StatusCode::OK)
        .map(|t| t.title.clone())
}

#[tokio::test]
async fn a_new_task_is_open_and_open_tasks_list_soonest_due_first() {
    let app = spawn_app().await;
    let ws = app.signup("tasks").await;
    let crm = app.as_(&ws);

    let task = given_three_tasks(&crm, ws.owner).await;

    assert_eq!(task.status.as_deref(), Some("open"));
    assert_eq!(task.priority.as_deref(), Some("high"));
    assert_eq!(
        task_titles(&crm, "assignee=me&status=open").await,
        ["Send quote", "Later"],
        "soonest due first"
    );
    assert_eq!(
        task_titles(&crm, "assignee=me&due_before=2026-12-31T00:00:00Z").await,
        ["Send quote"]
    );
}

#[tokio::test]
async fn a_task_is_completed_once_and_reopened() {
    let app = spawn_app().await;
    let ws = app.signup("tasks-done").await;
    let crm = app.as_(&ws);
    let task = given_three_tasks(&crm, ws.owner).await;

    let done = crm
        .activities()
        .complete(task.id)
        .await
        .expect(StatusCode::OK);
    assert_eq!(done.status.as_deref(), Some("completed"));
    assert!(done.completed_at.is_some());
    crm.activities()
        .complete(task.id)
        .await
        .expect_problem(StatusCode::CONFLICT);
    assert_eq!(
        task_titles(&crm, "assignee=me&status=open").await,
        ["Later"]
    );
    let closed = crm.tasks("status=completed").await.expect(StatusCode::OK);
    assert_eq!(closed.items[0].completed_at, done.completed_at);

    let reopened = crm
        .activities()
        .reopen(task.id)
        .await
        .expect(StatusCode::OK);
    assert_eq!(reopened.status.as_deref(), Some("open"));
}

#[tokio::test]
async fn bad_task_list_parameters_are_refused() {
    let app = spawn_app().await;
    let ws = app.signup("tasks-bad").await;
    let crm = app.as_(&ws);

    for bad in ["status=done", "assignee=someone", "due_before=tomorrow"] {
        crm.tasks(bad)
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[tokio::test]
async fn bad_activities_are_refused_naming_the_field_and_write_nothing() {
    let app = spawn_app().await;
    let a = app.signup("act-bad").await;
    let b = app.signup("act-bad-b").await;
    let mine = app
        .as_(&a)
        .contacts()
        .create(&json!({"first_name": "Mine"}))
        .await
        .expect(StatusCode::CREATED)
        .id;
    let theirs = app
        .as_(&b)
        .contacts()
        .create(&json!({"first_name": "Theirs"}))
        .await
        .expect(StatusCode::CREATED)
        .id;
    let events = app.event_count().await;

    let cases: [(Value, &str); 10] = [
        (json!({"kind": "note", "body": "no link"}), "links"),
        (
            json!({"kind": "note", "body": "x", "due_at": "2026-01-01T00:00:00Z", "contact_ids": [mine]}),
            "due_at",
        ),
        (json!({"kind": "note", "contact_ids": [mine]}), "body"),
        (
            json!({"kind": "meeting", "title": "Back to front", "starts_at": "2026-01-10T10:00:00Z", "ends_at": "2026-01-10T09:00:00Z", "contact_ids": [mine]}),
            "ends_at",
        ),
        (
            json!({"kind": "call", "direction": "inbound", "duration_seconds": 1.5, "contact_ids": [mine]}),
            "duration_seconds",
        ),
        (
            json!({"kind": "call", "direction": "sideways", "duration_seconds": 1, "contact_ids": [mine]}),
            "direction",
        ),
        (json!({"kind": "fax", "contact_ids": [mine]}), "kind"),
        (
            json!({"kind": "note", "body": "x", "contact_ids": [theirs]}),
            "contact_ids",
        ),
        (
            json!({"kind": "task", "title": "x", "assignee_id": b.owner}),
            "assignee_id",
        ),
        (
            json!({"kind": "meeting", "title": "x", "starts_at": "2026-01-10T09:00:00Z", "ends_at": "2026-01-10T10:00:00Z", "attendees": ["not-an-email"], "contact_ids": [mine]}),
            "attendees",
        ),
    ];
    for (body, field) in cases {
        let problem = app
            .as_(&a)
            .activities()
            .create(&body)
            .await
            .context(&body)
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(problem.field(), field, "{body}: {problem:?}");
    }

    assert_eq!(app.event_count().await, events);
}

#[tokio::test]
async fn another_workspace_reaches_no_activity_of_ours() {
    let app = spawn_app().await;
    let a = app.signup("act-iso").await;
    let b = app.signup("act-iso-b").await;
    let as_a = app.as_(&a);
    let mine = as_a
        .contacts()
        .create(&json!({"first_name": "Mine"}))
        .await
        .expect(StatusCode::CREATED);
    let note = as_a
        .activities()
        .create(&json!({"kind": "note", "body": "private", "contact_ids": [mine.id]}))
        .await
        .expect(StatusCode::CREATED);

    let as_b = app.as_(&b);
    let not_found = StatusCode::NOT_FOUND;
    as_b.activities()
        .get(note.id)
        .await
        .expect_problem(not_found);
    as_b.activities()
        .update(note.id, &json!({"body": "mine now"}))
        .await
        .expect_problem(not_found);
    as_b.activities()
        .delete(note.id)
        .await
        .expect_problem(not_found);
    as_b.contacts()
        .timeline(mine.id, "")
        .await
        .expect_problem(not_found);
    let tasks = as_b.tasks("").await.expect(StatusCode::OK);
    assert!(tasks.items.is_empty());
}
