//! `GET /v1/contacts/{id}/export`: the data-subject access request.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, str_of};

#[tokio::test]
async fn a_contact_export_holds_everything_about_them_and_nothing_else() {
    let app = spawn_app().await;
    let a = app.signup("dsar-a").await;
    let (_, company) = app
        .post("/v1/companies", &a.token, json!({"name": "Acme"}))
        .await;
    let (_, contact) = app
        .post(
            "/v1/contacts",
            &a.token,
            json!({"first_name": "Lin", "email": "lin@acme.example"}),
        )
        .await;
    let (_, other) = app
        .post("/v1/contacts", &a.token, json!({"first_name": "Other"}))
        .await;
    let c = str_of(&contact["id"]);
    let (status, _) = app
        .call(
            reqwest::Method::PUT,
            &format!("/v1/contacts/{c}/companies/{}", str_of(&company["id"])),
            Some(&a.token),
            Some(json!({"role": "buyer"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    app.patch(
        &format!("/v1/contacts/{c}"),
        &a.token,
        json!({"phone": "+1 555 0100"}),
    )
    .await;
    let (status, _) = app
        .post(
            "/v1/deals",
            &a.token,
            json!({"name": "Lin's deal", "contact_ids": [c]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    app.post(
        "/v1/deals",
        &a.token,
        json!({"name": "Unrelated", "contact_ids": [other["id"]]}),
    )
    .await;
    app.post(
        "/v1/activities",
        &a.token,
        json!({"kind": "note", "body": "Prefers email", "contact_ids": [c]}),
    )
    .await;
    app.post(
        "/v1/activities",
        &a.token,
        json!({"kind": "note", "body": "Not about Lin", "contact_ids": [other["id"]]}),
    )
    .await;

    let url = format!("/v1/contacts/{c}/export");
    let (status, doc) = app.get(&url, &a.token).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(doc["workspace_id"], json!(a.tenant.to_string()));
    assert_eq!(doc["contact"]["email"], "lin@acme.example");
    assert_eq!(doc["contact"]["phone"], "+1 555 0100");
    assert_eq!(doc["companies"][0]["name"], "Acme");
    assert_eq!(doc["companies"][0]["role"], "buyer");
    let deals: Vec<String> = doc["deals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| str_of(&d["name"]))
        .collect();
    assert_eq!(deals, ["Lin's deal"]);
    let notes = doc["activities"].as_array().unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["details"]["body"], "Prefers email", "{notes:?}");
    let history = doc["history"].as_array().unwrap();
    assert!(history.len() >= 3, "{history:?}");
    assert_eq!(history[0]["event_type"], "ContactCreated");
    assert!(history
        .iter()
        .all(|v| v["actor"] == json!(a.owner.to_string())));

    // Deleted contacts are still exported (the data is still held).
    app.delete(&format!("/v1/contacts/{c}"), &a.token).await;
    let (status, doc) = app.get(&url, &a.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["contact"]["deleted"], true);

    // Only the workspace's Owner and Admin; another workspace sees 404.
    let member = app
        .token_for(a.tenant, a.owner, crm_domain::Role::Member)
        .await;
    assert_eq!(app.get(&url, &member).await.0, StatusCode::FORBIDDEN);
    let b = app.signup("dsar-b").await;
    assert_eq!(app.get(&url, &b.token).await.0, StatusCode::NOT_FOUND);
}
