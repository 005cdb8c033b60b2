//! With PostgreSQL unreachable the API answers 503 with `Retry-After` quickly, and it
//! recovers without a restart once PostgreSQL is back. The outage is a private cluster
//! that this test starts and stops, never the shared one.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::client::Company;
use crate::cluster::Cluster;
use crate::helpers::{serve, test_settings};

#[tokio::test]
async fn an_outage_is_a_quick_503_and_the_server_recovers_without_a_restart() {
    let cluster = Cluster::start("outage-test");
    let mut settings = test_settings("crm_outage");
    settings.database.url = cluster.url("crm_outage").into();
    settings.database.create_if_missing = true;
    settings.database.acquire_timeout_ms = 1_500;
    let app = serve(settings, "crm_outage").await;
    let owner = app.signup("outage").await;
    let crm = app.as_(&owner);
    crm.companies()
        .create(&json!({"name": "Before"}))
        .await
        .expect(StatusCode::CREATED);

    cluster.stop();

    let started = Instant::now();
    let res = crm.companies().list("").await;
    let waited = started.elapsed();
    res.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.header("retry-after"), Some("2"));
    assert_eq!(res.header("content-type"), Some("application/problem+json"));
    assert!(
        waited < Duration::from_secs(3),
        "the 503 took {waited:?} (acquire timeout 1.5 s)"
    );

    let create = crm
        .with_header("idempotency-key", "outage-create-1")
        .companies()
        .create(&json!({"name": "During"}))
        .await;
    create.assert_status(StatusCode::SERVICE_UNAVAILABLE);

    let started = Instant::now();
    let ready = app.anonymous().get::<Value>("/ready").await;
    let waited = started.elapsed();
    ready.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    assert!(waited < Duration::from_secs(2), "/ready took {waited:?}");

    cluster.restart();

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let res = crm.companies().list("").await;
        if res.status == StatusCode::OK {
            break;
        }
        res.assert_status(StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            Instant::now() < deadline,
            "the server did not recover within 20 s of PostgreSQL's return"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.anonymous()
        .get::<Value>("/ready")
        .await
        .assert_status(StatusCode::OK);
    // The create answered 503 was not stored under its key: sent again, it runs.
    let made: Company = crm
        .with_header("idempotency-key", "outage-create-1")
        .companies()
        .create(&json!({"name": "During"}))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(made.name, "During");
    let names: Vec<String> = crm
        .companies()
        .list("sort=name")
        .await
        .expect(StatusCode::OK)
        .items
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["Before", "During"]);
}
