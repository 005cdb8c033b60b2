//! Rebuilding the read tables from events gives the same tables, row for row.

use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{data_file, spawn_app, uuid_of};

/// Every read table as text, in key order.
async fn snapshot(pool: &PgPool) -> Vec<String> {
    let mut out = Vec::new();
    for table in crm_projections::rebuild::READ_TABLES {
        let rows: Vec<String> =
            sqlx::query_scalar(&format!("SELECT t::text FROM {table} t ORDER BY t::text"))
                .fetch_all(pool)
                .await
                .unwrap();
        out.push(format!("{table}: {}", rows.len()));
        out.extend(rows);
    }
    out
}

#[tokio::test]
async fn rebuilt_tables_equal_the_live_ones_row_for_row() {
    let app = spawn_app().await;
    let a = app.signup("rebuild").await;
    let b = app.signup("rebuild-b").await;
    app.post_csv(
        "/v1/imports/companies",
        &a.token,
        data_file("companies.csv"),
    )
    .await;
    let (_, c) = app
        .post(
            "/v1/companies",
            &b.token,
            json!({"name": "B Co", "annual_revenue": {"amount_minor": 150, "currency": "BHD"}}),
        )
        .await;
    let c = uuid_of(&c["id"]);
    app.patch(
        &format!("/v1/companies/{c}"),
        &b.token,
        json!({"industry": "Retail", "domain": "https://www.b.example/x"}),
    )
    .await;
    app.delete(&format!("/v1/companies/{c}"), &b.token).await;
    let (_, p) = app
        .post(
            "/v1/contacts",
            &b.token,
            json!({"first_name": "P", "email": "p@b.example"}),
        )
        .await;
    let p = uuid_of(&p["id"]);
    app.patch(
        &format!("/v1/contacts/{p}"),
        &b.token,
        json!({"email": null, "last_name": "Q"}),
    )
    .await;

    let owner = app.pool_as(None).await;
    let live = snapshot(&owner).await;
    let replayed = crm_projections::rebuild::rebuild_all(&app.projector_db().await)
        .await
        .unwrap();
    let rebuilt = snapshot(&owner).await;
    assert!(live.len() > 1_250);
    assert_eq!(live, rebuilt);
    assert_eq!(replayed as i64, app.event_count().await);
    // Rebuilding twice changes nothing either.
    crm_projections::rebuild::rebuild_all(&app.projector_db().await)
        .await
        .unwrap();
    assert_eq!(snapshot(&owner).await, live);
}
