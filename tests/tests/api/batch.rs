//! Batch create and update: each item answered on its own.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, str_of};

#[tokio::test]
async fn each_item_succeeds_or_fails_on_its_own() {
    let app = spawn_app().await;
    let a = app.signup("batch").await;
    let b = app.signup("batch-b").await;
    let events = app.event_count().await;
    let (status, out) = app
        .post(
            "/v1/contacts/batch/create",
            &a.token,
            json!({"items": [
                {"first_name": "One", "email": "one@x.example"},
                {"first_name": "Two", "email": "not-an-email"},
                {"first_name": "Three", "email": "ONE@x.example"},
                {"first_name": "Four", "unknown": 1},
                {"first_name": "Five"}
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let results = out["results"].as_array().unwrap();
    let statuses: Vec<i64> = results
        .iter()
        .map(|r| r["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [201, 422, 409, 422, 201]);
    assert_eq!(results[1]["problem"]["errors"][0]["field"], "email");
    assert_eq!(results[3]["problem"]["errors"][0]["field"], "unknown");
    assert_eq!(
        app.event_count().await,
        events + 2,
        "only the good items wrote"
    );

    let one = str_of(&results[0]["record"]["id"]);
    let five = str_of(&results[4]["record"]["id"]);
    let (_, theirs) = app
        .post("/v1/contacts", &b.token, json!({"first_name": "Theirs"}))
        .await;
    let (status, out) = app
        .post(
            "/v1/contacts/batch/update",
            &a.token,
            json!({"items": [
                {"id": one, "changes": {"job_title": "CEO"}},
                {"id": five, "if_version": 7, "changes": {"job_title": "CTO"}},
                {"id": theirs["id"], "changes": {"job_title": "Spy"}},
                {"id": five, "if_version": 1, "changes": {"job_title": "CFO"}}
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let statuses: Vec<i64> = out["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 412, 404, 200]);
    assert_eq!(out["results"][3]["record"]["job_title"], "CFO");
    let (_, still) = app
        .get(&format!("/v1/contacts/{}", str_of(&theirs["id"])), &b.token)
        .await;
    assert_eq!(still["job_title"], Value::Null);

    let (status, out) = app
        .post(
            "/v1/companies/batch/create",
            &a.token,
            json!({"items": [{"name": "Co A"}, {"name": ""}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(out["results"][0]["status"], 201);
    assert_eq!(out["results"][1]["status"], 422);
    let id = str_of(&out["results"][0]["record"]["id"]);
    let (_, out) = app
        .post(
            "/v1/companies/batch/update",
            &a.token,
            json!({"items": [{"id": id, "changes": {"industry": "Retail"}}]}),
        )
        .await;
    assert_eq!(out["results"][0]["record"]["industry"], "Retail");

    // At most 100 items, at least one; a read-only user may not batch.
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"first_name": format!("P{i}")}))
        .collect();
    assert_eq!(
        app.post(
            "/v1/contacts/batch/create",
            &a.token,
            json!({"items": many})
        )
        .await
        .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.post("/v1/contacts/batch/create", &a.token, json!({"items": []}))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let reader = app
        .token_for(a.tenant, a.owner, crm_domain::Role::ReadOnly)
        .await;
    assert_eq!(
        app.post(
            "/v1/contacts/batch/create",
            &reader,
            json!({"items": [{"first_name": "X"}]})
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
}
