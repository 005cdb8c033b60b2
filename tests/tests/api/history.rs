//! Record history with field-level diffs, and past states by `version` or `as_of`.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, str_of};

fn changes(version: &Value) -> Vec<(String, Value, Value)> {
    version["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (str_of(&c["field"]), c["before"].clone(), c["after"].clone()))
        .collect()
}

#[tokio::test]
async fn history_and_past_states_span_a_delete_and_a_restore() {
    let app = spawn_app().await;
    let a = app.signup("hist-a").await;
    let (status, c) = app
        .post(
            "/v1/contacts",
            &a.token,
            json!({"first_name": "Ada", "job_title": "CTO"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let url = format!("/v1/contacts/{}", str_of(&c["id"]));
    let (status, _) = app.patch(&url, &a.token, json!({"job_title": "CEO"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.delete(&url, &a.token).await.0, StatusCode::NO_CONTENT);
    let (status, _) = app
        .post(&format!("{url}/restore"), &a.token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, history) = app.get(&format!("{url}/history"), &a.token).await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let items = history["items"].as_array().unwrap();
    let versions: Vec<i64> = items
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2, 3, 4]);
    assert_eq!(items[0]["event_type"], "ContactCreated");
    assert!(changes(&items[0])
        .iter()
        .any(|(f, b, a)| f == "first_name" && b.is_null() && a == "Ada"));
    assert_eq!(
        changes(&items[1]),
        [("job_title".to_owned(), json!("CTO"), json!("CEO"))]
    );
    assert_eq!(
        changes(&items[2]),
        [("deleted".to_owned(), json!(false), json!(true))]
    );
    assert_eq!(
        changes(&items[3]),
        [("deleted".to_owned(), json!(true), json!(false))]
    );
    for item in items {
        assert_eq!(item["actor"], json!(a.owner.to_string()));
        assert_eq!(item["actor_role"], "owner");
    }

    // By version: right after each event.
    let (status, v2) = app.get(&format!("{url}?version=2"), &a.token).await;
    assert_eq!(status, StatusCode::OK, "{v2}");
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["record"]["job_title"], "CEO");
    assert_eq!(v2["record"]["deleted"], false);
    let (_, v3) = app.get(&format!("{url}?version=3"), &a.token).await;
    assert_eq!(v3["record"]["deleted"], true);
    assert_eq!(v3["record"]["first_name"], "Ada");

    // By time: the first event's time shows the record as created; before it, nothing.
    let first: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(items[0]["recorded_at"].clone()).unwrap();
    let at = |t: chrono::DateTime<chrono::Utc>| {
        format!(
            "{url}?as_of={}",
            t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                .replace('+', "%2B")
        )
    };
    let (status, v1) = app.get(&at(first), &a.token).await;
    assert_eq!(status, StatusCode::OK, "{v1}");
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["record"]["job_title"], "CTO");
    let before = first - chrono::Duration::seconds(1);
    assert_eq!(
        app.get(&at(before), &a.token).await.0,
        StatusCode::NOT_FOUND
    );

    // Bad parameters change nothing and say why.
    let (status, body) = app.get(&format!("{url}?version=9"), &a.token).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        app.get(&format!("{url}?version=0"), &a.token).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (status, _) = app
        .get(
            &format!("{url}?version=1&as_of=2026-01-01T00:00:00Z"),
            &a.token,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app.get(&format!("{url}?as_of=yesterday"), &a.token).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // The present is unchanged.
    let (status, now) = app.get(&url, &a.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(now["job_title"], "CEO");
}

#[tokio::test]
async fn history_is_for_the_workspace_and_the_roles_that_read_the_audit() {
    let app = spawn_app().await;
    let a = app.signup("hist-own").await;
    let b = app.signup("hist-other").await;
    let (_, company) = app
        .post("/v1/companies", &a.token, json!({"name": "Acme"}))
        .await;
    let url = format!("/v1/companies/{}", str_of(&company["id"]));
    app.patch(&url, &a.token, json!({"name": "Acme Ltd"})).await;

    let (status, history) = app.get(&format!("{url}/history"), &a.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        changes(&history["items"][1]),
        [("name".to_owned(), json!("Acme"), json!("Acme Ltd"))]
    );

    // Another workspace's owner sees nothing, by history or by past state.
    assert_eq!(
        app.get(&format!("{url}/history"), &b.token).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&format!("{url}?version=1"), &b.token).await.0,
        StatusCode::NOT_FOUND
    );

    // A member reads the record now, but not its history or its past.
    let member = app
        .token_for(a.tenant, a.owner, crm_domain::Role::Member)
        .await;
    assert_eq!(app.get(&url, &member).await.0, StatusCode::OK);
    assert_eq!(
        app.get(&format!("{url}/history"), &member).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get(&format!("{url}?version=1"), &member).await.0,
        StatusCode::FORBIDDEN
    );
    let admin = app
        .token_for(a.tenant, a.owner, crm_domain::Role::Admin)
        .await;
    let (status, past) = app.get(&format!("{url}?version=1"), &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(past["record"]["name"], "Acme");

    // Unknown record types and unknown ids are 404.
    let id = str_of(&company["id"]);
    assert_eq!(
        app.get(&format!("/v1/users/{id}/history"), &a.token)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let missing = uuid::Uuid::new_v4();
    assert_eq!(
        app.get(&format!("/v1/deals/{missing}/history"), &a.token)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}
