//! `GET /metrics`: off unless a token is configured, then only for that token; counts by
//! route template, the application's own counters and the readings a scrape takes.
//! The recorder is one per process, shared by every server of the test binary, so counts
//! are checked as at least what this test did.

use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with, str_of};

const TOKEN: &str = "metrics-token-metrics-token-metrics-token";

/// The value of the first sample whose line starts with `name{` and holds every label
/// of `labels` (`key="value"`), or `None`.
pub(crate) fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|line| {
            line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} "))
        })
        .find(|line| labels.iter().all(|l| line.contains(l)))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

pub(crate) async fn scrape(address: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("{address}/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn metrics_are_off_unless_a_token_is_configured() {
    let app = spawn_app().await;
    assert_eq!(
        scrape(&app.address, None).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        scrape(&app.address, Some(TOKEN)).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_scrape_with_the_token_sees_requests_by_route_sign_in_failures_and_readings() {
    let app = spawn_app_with(|s| s.metrics.token = Some(SecretString::from(TOKEN))).await;
    let ws = app.signup("metrics").await;
    let (status, company) = app
        .post("/v1/companies", &ws.token, json!({"name": "Metered"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{company}");
    let id = str_of(&company["id"]);
    for _ in 0..2 {
        let (status, _) = app.get(&format!("/v1/companies/{id}"), &ws.token).await;
        assert_eq!(status, StatusCode::OK);
    }
    let failed = reqwest::Client::new()
        .post(format!("{}/v1/auth/login", app.address))
        .json(&json!({"email": ws.email, "password": "not the password at all"}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);

    // A method of the client's invention is counted as `other`, not as a series of its own.
    let brewed = reqwest::Client::new()
        .request(
            reqwest::Method::from_bytes(b"BREWCOFFEE").unwrap_or(reqwest::Method::GET),
            format!("{}/v1/companies", app.address),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(brewed.status(), StatusCode::METHOD_NOT_ALLOWED);

    // Without the token, or with another, nothing.
    let anonymous = scrape(&app.address, None).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    assert_eq!(
        scrape(&app.address, Some(&ws.token)).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let answer = scrape(&app.address, Some(TOKEN)).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let content_type = answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = answer.text().await.unwrap_or_default();
    let get_one = [
        "method=\"GET\"",
        "route=\"/v1/companies/{id}\"",
        "status=\"200\"",
    ];
    let gets = sample(&text, "crm_http_requests_total", &get_one);
    assert!(gets.is_some_and(|n| n >= 2.0), "{gets:?} in\n{text}");
    assert!(
        sample(&text, "crm_http_request_duration_seconds_count", &get_one)
            .is_some_and(|n| n >= 2.0),
        "{text}"
    );
    assert!(!text.contains("BREWCOFFEE"), "{text}");
    assert!(
        sample(&text, "crm_http_requests_total", &["method=\"other\""]).is_some_and(|n| n >= 1.0),
        "{text}"
    );
    // Routes by template: no series names a record's id.
    assert!(!text.contains(&id), "an id in a label:\n{text}");
    let failures = sample(
        &text,
        "crm_sign_in_failures_total",
        &["reason=\"wrong_password\""],
    );
    assert!(failures.is_some_and(|n| n >= 1.0), "{failures:?}");
    assert!(
        sample(
            &text,
            "crm_http_requests_total",
            &["route=\"/v1/auth/login\"", "status=\"401\""]
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    // The readings of the scrape: pools, the event readers' lag, the webhook backlog,
    // the password-hashing queue.
    for (name, labels) in [
        (
            "crm_db_pool_connections",
            &["pool=\"app\"", "state=\"idle\""][..],
        ),
        ("crm_db_pool_max_connections", &["pool=\"command\""][..]),
        (
            "crm_event_reader_lag_events",
            &["reader=\"read_models\""][..],
        ),
        ("crm_event_reader_lag_seconds", &["reader=\"webhooks\""][..]),
        (
            "crm_webhook_pending_messages",
            &["endpoint=\"enabled\""][..],
        ),
        ("crm_password_hashes_waiting", &[][..]),
        ("crm_password_hashes_running", &[][..]),
    ] {
        assert!(
            sample(&text, name, labels).is_some(),
            "no {name} {labels:?} in\n{text}"
        );
    }
    assert!(
        sample(&text, "crm_db_pool_max_connections", &["pool=\"command\""])
            .is_some_and(|n| n >= 1.0),
        "{text}"
    );
}
