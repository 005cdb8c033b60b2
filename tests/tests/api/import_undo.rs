//! Undo of one import: every record it created is deleted by new events with a reason;
//! the import's events stay, and records made otherwise are untouched.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, str_of};

fn names(page: &Value) -> Vec<String> {
    let mut names: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| str_of(&c["name"]))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn undo_deletes_what_one_import_created_and_nothing_else() {
    let app = spawn_app().await;
    let a = app.signup("undo-a").await;
    let (_, kept) = app
        .post("/v1/companies", &a.token, json!({"name": "Made By Hand"}))
        .await;
    let csv = "Company name,Company Domain Name\n\
               Alpha,alpha.example\nBeta,beta.example\nGamma,gamma.example\n";
    let (status, report) = app
        .post_csv("/v1/imports/companies", &a.token, csv.as_bytes().to_vec())
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["created"], 3);
    let import_id = str_of(&report["import_id"]);
    let (_, list) = app.get("/v1/companies?sort=name", &a.token).await;
    let ids: Vec<(String, String)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (str_of(&c["name"]), str_of(&c["id"])))
        .collect();
    let id_of = |n: &str| ids.iter().find(|(name, _)| name == n).unwrap().1.clone();
    // One imported record edited since, one already deleted.
    app.patch(
        &format!("/v1/companies/{}", id_of("Alpha")),
        &a.token,
        json!({"industry": "Software"}),
    )
    .await;
    app.delete(&format!("/v1/companies/{}", id_of("Gamma")), &a.token)
        .await;
    let undo = format!("/v1/imports/{import_id}/undo");
    let body = json!({"reason": "wrong file"});

    // Unhappy paths write nothing.
    let b = app.signup("undo-b").await;
    let events = app.event_count().await;
    let member = app
        .token_for(a.tenant, a.owner, crm_domain::Role::Member)
        .await;
    assert_eq!(
        app.post(&undo, &member, body.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post(&undo, &b.token, body.clone()).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post(
            &format!("/v1/imports/{}/undo", uuid::Uuid::new_v4()),
            &a.token,
            body.clone()
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post(&undo, &a.token, json!({"reason": ""})).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(app.event_count().await, events);

    let (status, result) = app.post(&undo, &a.token, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(result["deleted"], 2);
    assert_eq!(result["already_deleted"], 1);
    assert_eq!(app.event_count().await, events + 2);

    let (_, list) = app.get("/v1/companies", &a.token).await;
    assert_eq!(names(&list), ["Made By Hand"]);
    assert_eq!(str_of(&list["items"][0]["id"]), str_of(&kept["id"]));
    let (_, history) = app
        .get(
            &format!("/v1/companies/{}/history", id_of("Alpha")),
            &a.token,
        )
        .await;
    let items = history["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "created, edited, deleted: {history}");
    assert_eq!(items[0]["import_id"], json!(import_id));
    assert_eq!(items[2]["event_type"], "CompanyDeleted");
    assert_eq!(
        items[2]["reason"],
        json!(format!("undo import {import_id}: wrong file"))
    );
    // The deleted records can still be restored one by one; a second undo changes nothing.
    let (status, again) = app.post(&undo, &a.token, body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["deleted"], 0);
    assert_eq!(again["already_deleted"], 3);
    let (status, _) = app
        .post(
            &format!("/v1/companies/{}/restore", id_of("Beta")),
            &a.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}
