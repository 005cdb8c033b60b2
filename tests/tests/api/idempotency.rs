//! `Idempotency-Key`: retries replay the first answer and write nothing.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_retried_post_replays_the_first_response() {
    let app = spawn_app().await;
    let a = app.signup("retry").await;
    let b = app.signup("retry-b").await;
    let post = |token: String, key: &'static str, body: Value| {
        let client = app.client.clone();
        let url = format!("{}/v1/contacts", app.address);
        async move {
            client
                .post(url)
                .bearer_auth(token)
                .header("idempotency-key", key)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let body = json!({"first_name": "Once", "email": "once@x.example"});
    let first = post(a.token.clone(), "key-1", body.clone()).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let location = first.headers().get("location").cloned();
    let first: Value = first.json().await.unwrap();
    let events = app.event_count().await;

    let again = post(a.token.clone(), "key-1", body.clone()).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(
        again
            .headers()
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    assert_eq!(again.headers().get("location").cloned(), location);
    assert_eq!(
        again.headers().get("etag").and_then(|v| v.to_str().ok()),
        Some("\"1\"")
    );
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first);
    assert_eq!(
        app.event_count().await,
        events,
        "a replay appended an event"
    );

    // The same key with another body is refused; another key runs anew (and meets the
    // duplicate email).
    let other = post(a.token.clone(), "key-1", json!({"first_name": "Twice"})).await;
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let fresh = post(a.token.clone(), "key-2", body.clone()).await;
    assert_eq!(fresh.status(), StatusCode::CONFLICT);
    // A refusal is remembered too: the retry gets the same 409 without running.
    let fresh_again = post(a.token.clone(), "key-2", body.clone()).await;
    assert_eq!(fresh_again.status(), StatusCode::CONFLICT);
    assert!(fresh_again.headers().get("idempotent-replayed").is_some());

    // Keys belong to a workspace: B's "key-1" is its own.
    let theirs = post(b.token.clone(), "key-1", body.clone()).await;
    assert_eq!(theirs.status(), StatusCode::CREATED);
    assert!(theirs.headers().get("idempotent-replayed").is_none());
    let theirs: Value = theirs.json().await.unwrap();
    assert_ne!(theirs["id"], first["id"]);

    // Keys belong to a user too: a read-only colleague reusing the owner's key and body is
    // not handed the owner's stored answer; its own request runs, and is refused.
    let colleague = app
        .token_for(a.tenant, uuid::Uuid::now_v7(), crm_domain::Role::ReadOnly)
        .await;
    let theirs = post(colleague, "key-1", body.clone()).await;
    assert_eq!(theirs.status(), StatusCode::FORBIDDEN);
    assert!(theirs.headers().get("idempotent-replayed").is_none());

    // A malformed key is refused before anything runs.
    let events = app.event_count().await;
    let bad = app
        .client
        .post(format!("{}/v1/contacts", app.address))
        .bearer_auth(&a.token)
        .header("idempotency-key", "has space")
        .json(&json!({"first_name": "X"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.event_count().await, events);
}
