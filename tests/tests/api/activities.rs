//! Activities, tasks and timelines.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, str_of, uuid_of};

#[tokio::test]
async fn activities_build_a_timeline_newest_first() {
    let app = spawn_app().await;
    let a = app.signup("timeline").await;
    let (_, company) = app
        .post("/v1/companies", &a.token, json!({"name": "Acme"}))
        .await;
    let (_, contact) = app
        .post(
            "/v1/contacts",
            &a.token,
            json!({"first_name": "Tim", "company_id": company["id"]}),
        )
        .await;
    let (_, deal) = app.post("/v1/deals", &a.token, json!({"name": "Acme deal", "company_id": company["id"], "contact_ids": [contact["id"]]})).await;
    let (c, co, d) = (
        str_of(&contact["id"]),
        str_of(&company["id"]),
        str_of(&deal["id"]),
    );

    let logged = [
        json!({"kind": "meeting", "title": "Kick-off", "starts_at": "2026-01-10T09:00:00Z", "ends_at": "2026-01-10T10:00:00Z", "attendees": ["Tim@Acme.example"], "contact_ids": [c], "company_ids": [co]}),
        json!({"kind": "email", "subject": "Proposal", "direction": "outbound", "sent_at": "2026-02-01T12:00:00Z", "contact_ids": [c], "deal_ids": [d]}),
        json!({"kind": "call", "direction": "inbound", "duration_seconds": 300, "outcome": "Connected", "deal_ids": [d]}),
        json!({"kind": "note", "body": "Wants a discount\nsecond line", "contact_ids": [c]}),
    ];
    for body in &logged {
        let (status, created) = app.post("/v1/activities", &a.token, body.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{body}: {created}");
        assert_eq!(created["created_by"], json!(a.owner.to_string()));
    }

    let (status, page) = app
        .get(&format!("/v1/contacts/{c}/timeline?limit=2"), &a.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let titles: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| str_of(&i["title"]))
        .collect();
    assert_eq!(
        titles,
        ["Wants a discount", "Proposal"],
        "the note was logged now, the email sent in February"
    );
    let (_, rest) = app
        .get(
            &format!(
                "/v1/contacts/{c}/timeline?limit=2&cursor={}",
                page["next_cursor"].as_str().unwrap()
            ),
            &a.token,
        )
        .await;
    let titles: Vec<String> = rest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| str_of(&i["title"]))
        .collect();
    assert_eq!(titles, ["Kick-off"]);
    assert_eq!(
        rest["items"][0]["details"]["attendees"],
        json!(["tim@acme.example"])
    );
    assert!(rest["next_cursor"].is_null());

    let (_, deal_line) = app.get(&format!("/v1/deals/{d}/timeline"), &a.token).await;
    let kinds: Vec<String> = deal_line["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| str_of(&i["kind"]))
        .collect();
    assert_eq!(kinds, ["call", "email"]);
    let (_, company_line) = app
        .get(&format!("/v1/companies/{co}/timeline"), &a.token)
        .await;
    assert_eq!(company_line["items"].as_array().unwrap().len(), 1);

    // Deleting an activity takes it off the timeline; restoring puts it back.
    let note = page["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.delete(&format!("/v1/activities/{note}"), &a.token)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (_, after) = app
        .get(&format!("/v1/contacts/{c}/timeline"), &a.token)
        .await;
    assert_eq!(after["items"].as_array().unwrap().len(), 2);
    let (status, _) = app
        .post(
            &format!("/v1/activities/{note}/restore"),
            &a.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Editing keeps the kind and changes only what is given.
    let (status, edited) = app
        .patch(
            &format!("/v1/activities/{note}"),
            &a.token,
            json!({"body": "Wants 10 % off"}),
        )
        .await;
    assert_eq!(
        (status, edited["title"].as_str()),
        (StatusCode::OK, Some("Wants 10 % off"))
    );
    assert_eq!(edited["contact_ids"], json!([c]));
    let (status, _) = app
        .patch(
            &format!("/v1/activities/{note}"),
            &a.token,
            json!({"kind": "task"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn tasks_are_listed_completed_and_reopened() {
    let app = spawn_app().await;
    let a = app.signup("tasks").await;
    let (status, task) = app.post("/v1/activities", &a.token, json!({"kind": "task", "title": "Send quote", "due_at": "2026-11-30T17:00:00Z", "assignee_id": a.owner, "priority": "high"})).await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    assert_eq!(
        (task["status"].as_str(), task["priority"].as_str()),
        (Some("open"), Some("high"))
    );
    app.post("/v1/activities", &a.token, json!({"kind": "task", "title": "Later", "due_at": "2027-03-01T09:00:00Z", "assignee_id": a.owner})).await;
    app.post(
        "/v1/activities",
        &a.token,
        json!({"kind": "task", "title": "Nobody's"}),
    )
    .await;
    let id = str_of(&task["id"]);

    let names = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| str_of(&t["title"]))
            .collect()
    };
    let (_, mine) = app.get("/v1/tasks?assignee=me&status=open", &a.token).await;
    assert_eq!(names(&mine), ["Send quote", "Later"], "soonest due first");
    let (_, soon) = app
        .get(
            "/v1/tasks?assignee=me&due_before=2026-12-31T00:00:00Z",
            &a.token,
        )
        .await;
    assert_eq!(names(&soon), ["Send quote"]);

    let (status, done) = app
        .post(
            &format!("/v1/activities/{id}/complete"),
            &a.token,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, done["status"].as_str()),
        (StatusCode::OK, Some("completed"))
    );
    let completed_at = done["completed_at"].clone();
    assert!(completed_at.is_string());
    let (status, _) = app
        .post(
            &format!("/v1/activities/{id}/complete"),
            &a.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, open) = app.get("/v1/tasks?assignee=me&status=open", &a.token).await;
    assert_eq!(names(&open), ["Later"]);
    let (_, closed) = app.get("/v1/tasks?status=completed", &a.token).await;
    assert_eq!(closed["items"][0]["completed_at"], completed_at);
    let (status, reopened) = app
        .post(&format!("/v1/activities/{id}/reopen"), &a.token, json!({}))
        .await;
    assert_eq!(
        (status, reopened["status"].as_str()),
        (StatusCode::OK, Some("open"))
    );

    for bad in [
        "/v1/tasks?status=done",
        "/v1/tasks?assignee=someone",
        "/v1/tasks?due_before=tomorrow",
    ] {
        assert_eq!(
            app.get(bad, &a.token).await.0,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn bad_activities_are_refused_and_write_nothing() {
    let app = spawn_app().await;
    let a = app.signup("act-bad").await;
    let b = app.signup("act-bad-b").await;
    let (_, mine) = app
        .post("/v1/contacts", &a.token, json!({"first_name": "Mine"}))
        .await;
    let (_, theirs) = app
        .post("/v1/contacts", &b.token, json!({"first_name": "Theirs"}))
        .await;
    let events = app.event_count().await;
    for (body, field) in [
        (json!({"kind": "note", "body": "no link"}), "links"),
        (
            json!({"kind": "note", "body": "x", "due_at": "2026-01-01T00:00:00Z", "contact_ids": [mine["id"]]}),
            "due_at",
        ),
        (json!({"kind": "note", "contact_ids": [mine["id"]]}), "body"),
        (
            json!({"kind": "meeting", "title": "Back to front", "starts_at": "2026-01-10T10:00:00Z", "ends_at": "2026-01-10T09:00:00Z", "contact_ids": [mine["id"]]}),
            "ends_at",
        ),
        (
            json!({"kind": "call", "direction": "inbound", "duration_seconds": 1.5, "contact_ids": [mine["id"]]}),
            "duration_seconds",
        ),
        (
            json!({"kind": "call", "direction": "sideways", "duration_seconds": 1, "contact_ids": [mine["id"]]}),
            "direction",
        ),
        (json!({"kind": "fax", "contact_ids": [mine["id"]]}), "kind"),
        (
            json!({"kind": "note", "body": "x", "contact_ids": [theirs["id"]]}),
            "contact_ids",
        ),
        (
            json!({"kind": "task", "title": "x", "assignee_id": b.owner}),
            "assignee_id",
        ),
        (
            json!({"kind": "meeting", "title": "x", "starts_at": "2026-01-10T09:00:00Z", "ends_at": "2026-01-10T10:00:00Z", "attendees": ["not-an-email"], "contact_ids": [mine["id"]]}),
            "attendees",
        ),
    ] {
        let (status, problem) = app.post("/v1/activities", &a.token, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {problem}"
        );
        assert_eq!(
            problem["errors"][0]["field"],
            json!(field),
            "{body}: {problem}"
        );
    }
    assert_eq!(app.event_count().await, events);

    // Another workspace sees none of it.
    let (_, note) = app
        .post(
            "/v1/activities",
            &a.token,
            json!({"kind": "note", "body": "private", "contact_ids": [mine["id"]]}),
        )
        .await;
    let id = str_of(&note["id"]);
    for (method, path) in [
        (Method::GET, format!("/v1/activities/{id}")),
        (Method::PATCH, format!("/v1/activities/{id}")),
        (Method::DELETE, format!("/v1/activities/{id}")),
        (
            Method::GET,
            format!("/v1/contacts/{}/timeline", str_of(&mine["id"])),
        ),
    ] {
        let body = (method == Method::PATCH).then(|| json!({"body": "mine now"}));
        let (status, _) = app.call(method.clone(), &path, Some(&b.token), body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
    }
    let (_, tasks) = app.get("/v1/tasks", &b.token).await;
    assert!(tasks["items"].as_array().unwrap().is_empty());
    let _ = uuid_of(&note["id"]);
}
