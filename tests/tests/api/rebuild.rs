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

    // Deals and pipelines: stage changes, line items, closing.
    let (_, pipes) = app.get("/v1/pipelines", &b.token).await;
    let pid = pipes["items"][0]["id"].as_str().unwrap().to_owned();
    let first = pipes["items"][0]["stages"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(
        &format!("/v1/pipelines/{pid}/stages"),
        &b.token,
        json!({"name": "Demo", "probability": "45", "kind": "open", "position": 1}),
    )
    .await;
    let (_, d) = app
        .post(
            "/v1/deals",
            &b.token,
            json!({"name": "Rebuilt deal", "contact_ids": [p]}),
        )
        .await;
    let d = uuid_of(&d["id"]);
    app.call(
        reqwest::Method::PUT,
        &format!("/v1/deals/{d}/line-items"),
        Some(&b.token),
        Some(json!({"items": [{"product": "X", "quantity": 2, "unit_price": {"amount_minor": 999, "currency": "USD"}, "discount_percent": "12.5"}]})),
    )
    .await;
    app.post(
        &format!("/v1/deals/{d}/win"),
        &b.token,
        json!({"reason": "fit"}),
    )
    .await;
    let (status, _) = app
        .delete(&format!("/v1/pipelines/{pid}/stages/{first}"), &b.token)
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);

    let (_, other) = app
        .post("/v1/companies", &b.token, json!({"name": "Linked Co"}))
        .await;
    app.call(
        reqwest::Method::PUT,
        &format!(
            "/v1/contacts/{p}/companies/{}",
            other["id"].as_str().unwrap()
        ),
        Some(&b.token),
        Some(json!({"role": "Buyer"})),
    )
    .await;
    app.post(
        "/v1/activities",
        &b.token,
        json!({"kind": "note", "body": "rebuilt", "contact_ids": [p]}),
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
