//! Safe concurrent edits: `ETag` is the version, `If-Match` guards writes (412).

use reqwest::StatusCode;
use serde_json::json;

use crate::client::{Client, Contact};
use crate::helpers::spawn_app;

/// A contact "Tab" at version 2 (its job title set to "One" with `If-Match: "1"`).
async fn given_a_contact_at_version_2(crm: &Client<'_>) -> Contact {
    let tab = crm
        .contacts()
        .create(&json!({"first_name": "Tab"}))
        .await
        .expect(StatusCode::CREATED);
    crm.if_match("\"1\"")
        .contacts()
        .update(tab.id, &json!({"job_title": "One"}))
        .await
        .expect(StatusCode::OK)
}

#[tokio::test]
async fn a_record_carries_its_version_as_its_etag() {
    let app = spawn_app().await;
    let ws = app.signup("tabs").await;
    let crm = app.as_(&ws);
    let tab = crm
        .contacts()
        .create(&json!({"first_name": "Tab"}))
        .await
        .expect(StatusCode::CREATED);

    let read = crm
        .contacts()
        .get(tab.id)
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(read.etag(), Some("\"1\""));

    // Tab one saves with the version it read.
    let saved = crm
        .if_match("\"1\"")
        .contacts()
        .update(tab.id, &json!({"job_title": "One"}))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(saved.etag(), Some("\"2\""));
}

#[tokio::test]
async fn a_stale_or_weak_if_match_is_refused_and_writes_nothing() {
    let app = spawn_app().await;
    let ws = app.signup("tabs-stale").await;
    let crm = app.as_(&ws);
    let tab = given_a_contact_at_version_2(&crm).await;
    let events = app.event_count().await;

    // Tab two saves with the version it read earlier: refused, nothing written.
    let tab_two = crm.if_match("\"1\"");
    tab_two
        .contacts()
        .update(tab.id, &json!({"job_title": "Two"}))
        .await
        .expect_problem(StatusCode::PRECONDITION_FAILED);
    tab_two
        .contacts()
        .delete(tab.id)
        .await
        .expect_problem(StatusCode::PRECONDITION_FAILED);
    crm.if_match("W/\"2\"")
        .contacts()
        .update(tab.id, &json!({"job_title": "Weak"}))
        .await
        .context("weak tags never match")
        .expect_problem(StatusCode::PRECONDITION_FAILED);

    assert_eq!(app.event_count().await, events);
    let now = crm.contacts().get(tab.id).await.expect(StatusCode::OK);
    assert_eq!((now.job_title.as_deref(), now.version), (Some("One"), 2));
}

#[tokio::test]
async fn a_star_or_no_if_match_is_unconditional() {
    let app = spawn_app().await;
    let ws = app.signup("tabs-star").await;
    let crm = app.as_(&ws);
    let tab = given_a_contact_at_version_2(&crm).await;

    crm.if_match("*")
        .contacts()
        .update(tab.id, &json!({"job_title": "Star"}))
        .await
        .expect(StatusCode::OK);
    crm.contacts()
        .delete(tab.id)
        .await
        .expect(StatusCode::NO_CONTENT);
    crm.if_match("\"4\"")
        .contacts()
        .restore(tab.id)
        .await
        .expect(StatusCode::OK);
}

#[tokio::test]
async fn companies_honour_if_match_too() {
    let app = spawn_app().await;
    let ws = app.signup("co-tabs").await;
    let crm = app.as_(&ws);
    let tabbed = crm
        .companies()
        .create(&json!({"name": "Tabbed"}))
        .await
        .expect(StatusCode::CREATED);

    crm.if_match("\"7\"")
        .companies()
        .delete(tabbed.id)
        .await
        .expect_problem(StatusCode::PRECONDITION_FAILED);
    crm.if_match("\"1\"")
        .companies()
        .delete(tabbed.id)
        .await
        .expect(StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn deal_commands_honour_if_match_and_foreign_ids_stay_404() {
    let app = spawn_app().await;
    let a = app.signup("deal-tabs").await;
    let b = app.signup("deal-tabs-b").await;
    let as_a = app.as_(&a);
    let deal = as_a
        .deals()
        .create(&json!({"name": "Guarded"}))
        .await
        .expect(StatusCode::CREATED);
    let events = app.event_count().await;

    let stale = as_a.if_match("\"9\"");
    let foreign = app.as_(&b).if_match("\"1\"");
    for (client, expected) in [
        (&stale, StatusCode::PRECONDITION_FAILED),
        (&foreign, StatusCode::NOT_FOUND),
    ] {
        let deals = client.deals();
        deals
            .update(deal.id, &json!({"name": "x"}))
            .await
            .expect_problem(expected);
        deals
            .win(deal.id, &json!({}))
            .await
            .expect_problem(expected);
        deals
            .lose(deal.id, &json!({"reason": "x"}))
            .await
            .expect_problem(expected);
        deals
            .set_line_items(deal.id, &json!({"items": []}))
            .await
            .expect_problem(expected);
    }
    assert_eq!(app.event_count().await, events);

    as_a.if_match("\"1\"")
        .deals()
        .win(deal.id, &json!({}))
        .await
        .expect(StatusCode::OK);
}
