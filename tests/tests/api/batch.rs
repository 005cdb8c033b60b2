//! Batch create and update: each item answered on its own.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::client::{Client, Contact};
use crate::helpers::spawn_app;

/// One@x.example and Five, created by a batch whose other three items failed.
async fn given_a_batch_of_five_contacts(crm: &Client<'_>) -> crate::client::BatchResults<Contact> {
    crm.contacts()
        .batch_create(&json!({"items": [
            {"first_name": "One", "email": "one@x.example"},
            {"first_name": "Two", "email": "not-an-email"},
            {"first_name": "Three", "email": "ONE@x.example"},
            {"first_name": "Four", "unknown": 1},
            {"first_name": "Five"}
        ]}))
        .await
        .expect(StatusCode::OK)
}

#[tokio::test]
async fn each_created_item_succeeds_or_fails_on_its_own() {
    let app = spawn_app().await;
    let a = app.signup("batch").await;
    let events = app.event_count().await;

    let out = given_a_batch_of_five_contacts(&app.as_(&a)).await;

    assert_eq!(out.statuses(), [201, 422, 409, 422, 201]);
    assert_eq!(out.results[1].problem().field(), "email");
    assert_eq!(out.results[3].problem().field(), "unknown");
    assert_eq!(
        app.event_count().await,
        events + 2,
        "only the good items wrote"
    );
}

#[tokio::test]
async fn each_updated_item_succeeds_or_fails_on_its_own() {
    let app = spawn_app().await;
    let a = app.signup("batch-up").await;
    let b = app.signup("batch-up-b").await;
    let crm = app.as_(&a);
    let created = given_a_batch_of_five_contacts(&crm).await;
    let (one, five) = (
        created.results[0].record().id,
        created.results[4].record().id,
    );
    let theirs = app
        .as_(&b)
        .contacts()
        .create(&json!({"first_name": "Theirs"}))
        .await
        .expect(StatusCode::CREATED);

    let out = crm
        .contacts()
        .batch_update(&json!({"items": [
            {"id": one, "changes": {"job_title": "CEO"}},
            {"id": five, "if_version": 7, "changes": {"job_title": "CTO"}},
            {"id": theirs.id, "changes": {"job_title": "Spy"}},
            {"id": five, "if_version": 1, "changes": {"job_title": "CFO"}}
        ]}))
        .await
        .expect(StatusCode::OK);

    assert_eq!(out.statuses(), [200, 412, 404, 200]);
    assert_eq!(out.results[3].record().job_title.as_deref(), Some("CFO"));
    let still = app
        .as_(&b)
        .contacts()
        .get(theirs.id)
        .await
        .expect(StatusCode::OK);
    assert_eq!(still.job_title, None);
}

#[tokio::test]
async fn companies_are_batched_too() {
    let app = spawn_app().await;
    let a = app.signup("batch-co").await;
    let crm = app.as_(&a);

    let created = crm
        .companies()
        .batch_create(&json!({"items": [{"name": "Co A"}, {"name": ""}]}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(created.statuses(), [201, 422]);
    let id = created.results[0].record().id;

    let updated = crm
        .companies()
        .batch_update(&json!({"items": [{"id": id, "changes": {"industry": "Retail"}}]}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(updated.statuses(), [200]);
    assert_eq!(
        updated.results[0].record().industry.as_deref(),
        Some("Retail")
    );
}

#[tokio::test]
async fn a_batch_holds_one_to_100_items_and_is_not_for_read_only_users() {
    let app = spawn_app().await;
    let a = app.signup("batch-limits").await;
    let crm = app.as_(&a);
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"first_name": format!("P{i}")}))
        .collect();
    let reader = app
        .token_for(a.tenant, a.owner, crm_domain::Role::ReadOnly)
        .await;

    crm.contacts()
        .batch_create(&json!({ "items": many }))
        .await
        .context("101 items")
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    crm.contacts()
        .batch_create(&json!({"items": []}))
        .await
        .context("no item")
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.as_(&reader)
        .contacts()
        .batch_create(&json!({"items": [{"first_name": "X"}]}))
        .await
        .expect_problem(StatusCode::FORBIDDEN);
}
