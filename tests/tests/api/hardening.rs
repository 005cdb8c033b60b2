//! HTTP hardening: security headers on every response, errors included; CORS for the
//! configured origins only.

use std::sync::Arc;

use crm_app::clock::ManualClock;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::client::{Body, Response};
use crate::helpers::{spawn_app, spawn_app_with_clock};

#[track_caller]
fn assert_hardened<T>(res: &Response<T>, what: &str) {
    assert_eq!(
        res.header("content-security-policy"),
        Some("default-src 'none'; frame-ancestors 'none'"),
        "{what}"
    );
    assert!(
        res.header("strict-transport-security")
            .is_some_and(|v| v.starts_with("max-age=")),
        "{what}"
    );
    assert_eq!(res.header("x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(
        res.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(res.header("referrer-policy"), Some("no-referrer"), "{what}");
    assert!(res.header("server").is_none(), "{what}: a server banner");
    assert!(res.header("x-request-id").is_some(), "{what}");
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    let a = app.signup("headers").await;

    let ok = app
        .anonymous()
        .get::<Value>("/health")
        .await
        .expect_status(StatusCode::OK);
    let not_found = app
        .as_(&a)
        .get::<Value>("/v1/nothing")
        .await
        .expect_status(StatusCode::NOT_FOUND);
    let unauthorized = app
        .anonymous()
        .me()
        .await
        .expect_status(StatusCode::UNAUTHORIZED);

    assert_hardened(&ok, "200");
    assert_hardened(&not_found, "404");
    assert_hardened(&unauthorized, "401");
}

#[tokio::test]
async fn a_500_is_hardened_quotes_its_request_id_and_keeps_its_cause_in_the_log() {
    let app = spawn_app().await;
    let a = app.signup("headers-500").await;
    // The read table is gone under the server's feet.
    let owner = app.pool_as(None).await;
    sqlx::query("DROP TABLE companies CASCADE")
        .execute(&owner)
        .await
        .unwrap();

    let res = app
        .as_(&a)
        .companies()
        .list("")
        .await
        .expect_status(StatusCode::INTERNAL_SERVER_ERROR);

    assert_hardened(&res, "500");
    let id = res
        .header("x-request-id")
        .unwrap_or_else(|| panic!("a 500 without a request id"))
        .to_owned();
    let problem = res.expect_problem(StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        problem.detail.contains(&id),
        "the 500 quotes its request id: {problem:?}"
    );
    assert!(
        !format!("{problem:?}").contains("companies"),
        "the cause stays in the log: {problem:?}"
    );
}

/// A CORS preflight of `POST /v1/companies` from `origin`.
async fn preflight(app: &crate::helpers::TestApp, origin: &str) -> Response<Value> {
    app.anonymous()
        .with_header("origin", origin)
        .with_header("access-control-request-method", "POST")
        .with_header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send(Method::OPTIONS, "/v1/companies", Body::Empty)
        .await
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let app = spawn_app().await;

    let allowed = preflight(&app, "https://app.example.com")
        .await
        .expect_status(StatusCode::OK);
    let refused = preflight(&app, "https://evil.example")
        .await
        .expect_status(StatusCode::BAD_REQUEST);
    let simple = app
        .anonymous()
        .with_header("origin", "https://evil.example")
        .get::<Value>("/health")
        .await
        .expect_status(StatusCode::OK);

    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert!(refused.header("access-control-allow-origin").is_none());
    assert!(simple.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn each_workspace_has_a_request_budget_per_minute() {
    // On a clock that stands still, all twelve requests fall in one calendar minute.
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_with_clock(|s| s.server.workspace_requests_per_minute = 5, clock).await;
    let a = app.signup("budget").await;
    let b = app.signup("budget-b").await;
    let crm = app.as_(&a);

    // Reads (whose session check shares their query's transaction) and writes (whose
    // check commits on its own) draw on the same budget, whichever pooled connection
    // each lands on; a read or a write refused after its check (a malformed cursor, an
    // invalid email) counts too.
    let mut statuses = Vec::new();
    for i in 0..11 {
        statuses.push(match i {
            4 => {
                crm.contacts()
                    .create(&json!({"first_name": "Refused", "email": "not an email"}))
                    .await
                    .status
            }
            1 | 7 | 10 => {
                crm.contacts()
                    .create(&json!({"first_name": format!("Budget {i}")}))
                    .await
                    .status
            }
            2 => crm.contacts().list("cursor=xyz").await.status,
            _ => crm.contacts().list("").await.status,
        });
    }
    let limited = crm.contacts().list("").await;
    statuses.push(limited.status);

    let mut expected = vec![
        StatusCode::OK,
        StatusCode::CREATED,
        StatusCode::UNPROCESSABLE_ENTITY,
        StatusCode::OK,
        StatusCode::UNPROCESSABLE_ENTITY,
    ];
    expected.extend([StatusCode::TOO_MANY_REQUESTS; 7]);
    assert_eq!(statuses, expected);
    let retry: u64 = limited
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After in seconds: {limited:?}"));
    assert!((1..=60).contains(&retry), "{retry}");
    limited.expect_problem(StatusCode::TOO_MANY_REQUESTS);
    app.as_(&b)
        .contacts()
        .list("")
        .await
        .context("another workspace's budget")
        .expect(StatusCode::OK);
}
