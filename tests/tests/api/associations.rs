//! Contact-to-company associations with a role.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{spawn_app, str_of};

#[tokio::test]
async fn contacts_associate_with_companies_in_a_role() {
    let app = spawn_app().await;
    let a = app.signup("assoc").await;
    let b = app.signup("assoc-b").await;
    let (_, home) = app
        .post("/v1/companies", &a.token, json!({"name": "Home Co"}))
        .await;
    let (_, board) = app
        .post("/v1/companies", &a.token, json!({"name": "Board Co"}))
        .await;
    let (_, theirs) = app
        .post("/v1/companies", &b.token, json!({"name": "Their Co"}))
        .await;
    let (_, person) = app
        .post(
            "/v1/contacts",
            &a.token,
            json!({"first_name": "Pat", "company_id": home["id"]}),
        )
        .await;
    let (id, board_id) = (str_of(&person["id"]), str_of(&board["id"]));
    let link = format!("/v1/contacts/{id}/companies/{board_id}");

    let (status, linked) = app
        .call(
            Method::PUT,
            &link,
            Some(&a.token),
            Some(json!({"role": "Decision maker"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{linked}");
    assert_eq!(
        linked["companies"],
        json!([{"company_id": board_id, "role": "Decision maker"}])
    );
    assert_eq!(
        linked["company_id"], home["id"],
        "the primary company stays"
    );
    let (_, relinked) = app
        .call(
            Method::PUT,
            &link,
            Some(&a.token),
            Some(json!({"role": "Board member"})),
        )
        .await;
    assert_eq!(relinked["companies"][0]["role"], "Board member");

    // The company's contact list includes associated contacts.
    let (_, members) = app
        .get(&format!("/v1/contacts?company_id={board_id}"), &a.token)
        .await;
    assert_eq!(members["items"].as_array().unwrap().len(), 1);
    let (_, got) = app.get(&format!("/v1/contacts/{id}"), &a.token).await;
    assert_eq!(got["companies"][0]["company_id"], json!(board_id));

    // Unhappy paths: another workspace's company, a missing link, another workspace's caller.
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/v1/contacts/{id}/companies/{}", str_of(&theirs["id"])),
            Some(&a.token),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .call(
            Method::PUT,
            &link,
            Some(&b.token),
            Some(json!({"role": "Spy"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, unlinked) = app.call(Method::DELETE, &link, Some(&a.token), None).await;
    assert_eq!(
        (status, unlinked["companies"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(0))
    );
    let (status, _) = app.call(Method::DELETE, &link, Some(&a.token), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, members) = app
        .get(&format!("/v1/contacts?company_id={board_id}"), &a.token)
        .await;
    assert!(members["items"].as_array().unwrap().is_empty());

    let (_, audit) = app.get("/v1/audit?limit=3", &a.token).await;
    let types: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    assert_eq!(
        types,
        [
            "ContactCompanyUnlinked",
            "ContactCompanyLinked",
            "ContactCompanyLinked"
        ]
    );
}
