//! CSV exports: every row of the filtered list, streamed, defused, tenant-scoped.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{csv_rows, data_file, spawn_app, TestApp};

async fn export(app: &TestApp, token: &str, path: &str) -> (StatusCode, Option<String>, String) {
    let res = app
        .client
        .get(format!("{}{}", app.address, path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let ctype = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (res.status(), ctype, res.text().await.unwrap())
}

fn records(text: &str) -> Vec<csv::StringRecord> {
    csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap())
        .collect()
}

#[tokio::test]
async fn exports_stream_every_filtered_row_exactly() {
    let app = spawn_app().await;
    let a = app.signup("export").await;
    let b = app.signup("export-b").await;
    let companies = data_file("companies.csv");
    app.post_csv("/v1/imports/companies", &a.token, companies.clone())
        .await;
    app.post("/v1/companies", &b.token, json!({"name": "B only"}))
        .await;

    let (status, ctype, text) = export(&app, &a.token, "/v1/exports/companies").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ctype.as_deref(), Some("text/csv; charset=utf-8"));
    let rows = records(&text);
    assert_eq!(
        rows.len() as u64,
        csv_rows(&companies),
        "every company, across many pages"
    );
    let header = csv::Reader::from_reader(text.as_bytes())
        .headers()
        .unwrap()
        .clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert!(
        rows.iter().all(|r| &r[col("name")] != "B only"),
        "another workspace's row"
    );
    let ericsson = rows.iter().find(|r| &r[col("name")] == "Ericsson").unwrap();
    assert_eq!(
        &ericsson[col("annual_revenue_text")],
        "247.880 billion kr (2024)"
    );
    let exact = rows
        .iter()
        .find(|r| !r[col("annual_revenue_minor")].is_empty())
        .unwrap();
    let minor: i64 = exact[col("annual_revenue_minor")].parse().unwrap();
    let major: rust_decimal::Decimal = exact[col("annual_revenue")].parse().unwrap();
    assert_eq!(
        major * rust_decimal::Decimal::from(100),
        rust_decimal::Decimal::from(minor),
        "major and minor agree exactly"
    );

    let (_, _, filtered) = export(&app, &a.token, "/v1/exports/companies?q=ericsson").await;
    assert!(records(&filtered)
        .iter()
        .all(|r| r[col("name")].to_lowercase().contains("ericsson")));
    assert!(!records(&filtered).is_empty());
}

#[tokio::test]
async fn exports_defuse_formulas_and_check_roles_and_parameters() {
    let app = spawn_app().await;
    let a = app.signup("export-safe").await;
    app.post("/v1/contacts", &a.token, json!({"first_name": "=HYPERLINK(\"http://evil\")", "last_name": "-1+1", "email": "x@y.example"})).await;
    let (_, deal) = app
        .post(
            "/v1/deals",
            &a.token,
            json!({"name": "Sized", "amount": {"amount_minor": 1250, "currency": "EUR"}}),
        )
        .await;
    let (status, _, text) = export(&app, &a.token, "/v1/exports/contacts").await;
    assert_eq!(status, StatusCode::OK);
    let row = &records(&text)[0];
    assert_eq!(&row[1], "'=HYPERLINK(\"http://evil\")");
    assert_eq!(&row[2], "'-1+1");
    let (_, _, deals) = export(&app, &a.token, "/v1/exports/deals?status=open").await;
    let row = &records(&deals)[0];
    assert_eq!(
        (&row[0], &row[2], &row[3], &row[4]),
        (deal["id"].as_str().unwrap(), "12.50", "1250", "EUR")
    );

    let member = app
        .token_for(a.tenant, a.owner, crm_domain::Role::Member)
        .await;
    assert_eq!(
        export(&app, &member, "/v1/exports/contacts").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        export(&app, &a.token, "/v1/exports/contacts?limit=5")
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        export(&app, &a.token, "/v1/exports/deals?amount_min=1")
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}
