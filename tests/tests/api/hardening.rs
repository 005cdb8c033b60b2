//! HTTP hardening: security headers on every response, errors included; CORS for the
//! configured origins only.

use reqwest::{Method, StatusCode};

use crate::helpers::spawn_app;

fn assert_hardened(res: &reqwest::Response, what: &str) {
    let h = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(
        h("content-security-policy").as_deref(),
        Some("default-src 'none'; frame-ancestors 'none'"),
        "{what}"
    );
    assert!(
        h("strict-transport-security").is_some_and(|v| v.starts_with("max-age=")),
        "{what}"
    );
    assert_eq!(h("x-frame-options").as_deref(), Some("DENY"), "{what}");
    assert_eq!(
        h("x-content-type-options").as_deref(),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        h("referrer-policy").as_deref(),
        Some("no-referrer"),
        "{what}"
    );
    assert!(h("server").is_none(), "{what}: a server banner");
    assert!(h("x-request-id").is_some(), "{what}");
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    let a = app.signup("headers").await;
    assert_hardened(
        &app.request(Method::GET, "/health", None, None).await,
        "200",
    );
    let not_found = app
        .request(Method::GET, "/v1/nothing", Some(&a.token), None)
        .await;
    assert_eq!(not_found.status(), StatusCode::NOT_FOUND);
    assert_hardened(&not_found, "404");
    assert_hardened(&app.request(Method::GET, "/v1/me", None, None).await, "401");

    // A 500: the read table is gone under the server's feet.
    let owner = app.pool_as(None).await;
    sqlx::query("DROP TABLE companies CASCADE")
        .execute(&owner)
        .await
        .unwrap();
    let res = app
        .request(Method::GET, "/v1/companies", Some(&a.token), None)
        .await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_hardened(&res, "500");
    let id = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains(&id),
        "the 500 quotes its request id: {body}"
    );
    assert!(
        !body.to_string().contains("companies"),
        "the cause stays in the log: {body}"
    );
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let app = spawn_app().await;
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, format!("{}/v1/companies", app.address))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let allowed = preflight("https://app.example.com").await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://app.example.com")
    );
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(!refused.status().is_success(), "{}", refused.status());
    assert!(refused
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    let simple = app
        .client
        .get(format!("{}/health", app.address))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(simple
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}

#[tokio::test]
async fn each_workspace_has_a_request_budget_per_minute() {
    let app = crate::helpers::spawn_app_with(|s| s.server.workspace_requests_per_minute = 5).await;
    let a = app.signup("budget").await;
    let b = app.signup("budget-b").await;
    let mut statuses = Vec::new();
    // Twelve requests span at most two calendar minutes, which allow ten together.
    for _ in 0..12 {
        statuses.push(
            app.request(Method::GET, "/v1/contacts", Some(&a.token), None)
                .await,
        );
    }
    let limited = statuses
        .iter()
        .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(
        limited >= 2,
        "{:?}",
        statuses
            .iter()
            .map(reqwest::Response::status)
            .collect::<Vec<_>>()
    );
    let last = statuses
        .iter()
        .find(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .unwrap();
    let retry: u64 = last
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(
        app.request(Method::GET, "/v1/contacts", Some(&b.token), None)
            .await
            .status(),
        StatusCode::OK,
        "another workspace's budget"
    );
}
