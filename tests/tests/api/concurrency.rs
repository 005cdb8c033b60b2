//! Safe concurrent edits: `ETag` is the version, `If-Match` guards writes (412).

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{spawn_app, uuid_of};

#[tokio::test]
async fn two_tabs_cannot_overwrite_each_other() {
    let app = spawn_app().await;
    let a = app.signup("tabs").await;
    let (_, c) = app
        .post("/v1/contacts", &a.token, json!({"first_name": "Tab"}))
        .await;
    let id = uuid_of(&c["id"]);
    let url = format!("{}/v1/contacts/{id}", app.address);
    let res = app
        .client
        .get(&url)
        .bearer_auth(&a.token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers().get("etag").and_then(|v| v.to_str().ok()),
        Some("\"1\"")
    );

    // Tab one saves with the version it read.
    let res = app
        .client
        .patch(&url)
        .bearer_auth(&a.token)
        .header("if-match", "\"1\"")
        .json(&json!({"job_title": "One"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers().get("etag").and_then(|v| v.to_str().ok()),
        Some("\"2\"")
    );
    let events = app.event_count().await;

    // Tab two saves with the version it read earlier: refused, nothing written.
    for (method, body) in [
        (Method::PATCH, Some(json!({"job_title": "Two"}))),
        (Method::DELETE, None),
    ] {
        let mut req = app
            .client
            .request(method.clone(), &url)
            .bearer_auth(&a.token)
            .header("if-match", "\"1\"");
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED, "{method}");
        assert_eq!(
            res.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json")
        );
    }
    let res = app
        .client
        .patch(&url)
        .bearer_auth(&a.token)
        .header("if-match", "W/\"2\"")
        .json(&json!({"job_title": "Weak"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::PRECONDITION_FAILED,
        "weak tags never match"
    );
    assert_eq!(app.event_count().await, events);
    let (_, now) = app.get(&format!("/v1/contacts/{id}"), &a.token).await;
    assert_eq!(
        (now["job_title"].as_str(), now["version"].as_i64()),
        (Some("One"), Some(2))
    );

    // `*` and no header at all are unconditional.
    let res = app
        .client
        .patch(&url)
        .bearer_auth(&a.token)
        .header("if-match", "*")
        .json(&json!({"job_title": "Star"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/contacts/{id}"),
            Some(&a.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let res = app
        .client
        .post(format!("{url}/restore"))
        .bearer_auth(&a.token)
        .header("if-match", "\"4\"")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn companies_honour_if_match_too() {
    let app = spawn_app().await;
    let a = app.signup("co-tabs").await;
    let (_, c) = app
        .post("/v1/companies", &a.token, json!({"name": "Tabbed"}))
        .await;
    let url = format!("{}/v1/companies/{}", app.address, uuid_of(&c["id"]));
    let stale = app
        .client
        .delete(&url)
        .bearer_auth(&a.token)
        .header("if-match", "\"7\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    let fresh = app
        .client
        .delete(&url)
        .bearer_auth(&a.token)
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn deal_commands_honour_if_match_and_foreign_ids_stay_404() {
    let app = spawn_app().await;
    let a = app.signup("deal-tabs").await;
    let b = app.signup("deal-tabs-b").await;
    let (_, d) = app
        .post("/v1/deals", &a.token, json!({"name": "Guarded"}))
        .await;
    let url = format!("{}/v1/deals/{}", app.address, d["id"].as_str().unwrap());
    let events = app.event_count().await;
    for (method, path, body) in [
        (Method::PATCH, url.clone(), json!({"name": "x"})),
        (Method::POST, format!("{url}/win"), json!({})),
        (Method::POST, format!("{url}/lose"), json!({"reason": "x"})),
        (
            Method::PUT,
            format!("{url}/line-items"),
            json!({"items": []}),
        ),
    ] {
        let stale = app
            .client
            .request(method.clone(), &path)
            .bearer_auth(&a.token)
            .header("if-match", "\"9\"")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            stale.status(),
            StatusCode::PRECONDITION_FAILED,
            "{method} {path}"
        );
        let foreign = app
            .client
            .request(method.clone(), &path)
            .bearer_auth(&b.token)
            .header("if-match", "\"1\"")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            foreign.status(),
            StatusCode::NOT_FOUND,
            "{method} {path} from another workspace"
        );
    }
    assert_eq!(app.event_count().await, events);
    let fresh = app
        .client
        .post(format!("{url}/win"))
        .bearer_auth(&a.token)
        .header("if-match", "\"1\"")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), StatusCode::OK);
}
