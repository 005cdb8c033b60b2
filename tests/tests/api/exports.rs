//! CSV exports: every row of the filtered list, streamed, defused, tenant-scoped.

use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::json;

use crate::helpers::{csv_rows, data_file, spawn_app};

#[tokio::test]
async fn a_company_export_holds_every_row_of_the_workspace_across_pages() {
    let app = spawn_app().await;
    let a = app.signup("export").await;
    let b = app.signup("export-b").await;
    let crm = app.as_(&a);
    let companies = data_file("companies.csv");
    crm.import("companies", "", &companies)
        .await
        .expect(StatusCode::OK);
    app.as_(&b)
        .companies()
        .create(&json!({"name": "B only"}))
        .await
        .expect(StatusCode::CREATED);

    let answer = crm
        .export("companies", "")
        .await
        .expect_status(StatusCode::OK);

    assert_eq!(
        answer.header("content-type"),
        Some("text/csv; charset=utf-8")
    );
    let table = answer.expect_csv(StatusCode::OK);
    assert_eq!(
        table.rows.len() as u64,
        csv_rows(&companies),
        "every company, across many pages"
    );
    let name = table.col("name");
    assert!(
        table.rows.iter().all(|r| &r[name] != "B only"),
        "another workspace's row"
    );
    let ericsson = table
        .rows
        .iter()
        .find(|r| &r[name] == "Ericsson")
        .unwrap_or_else(|| panic!("no Ericsson row"));
    assert_eq!(
        &ericsson[table.col("annual_revenue_text")],
        "247.880 billion kr (2024)"
    );
    let (minor_col, major_col) = (
        table.col("annual_revenue_minor"),
        table.col("annual_revenue"),
    );
    let exact = table
        .rows
        .iter()
        .find(|r| !r[minor_col].is_empty())
        .unwrap_or_else(|| panic!("no exact revenue in the export"));
    let minor: i64 = exact[minor_col].parse().unwrap();
    let major: Decimal = exact[major_col].parse().unwrap();
    assert_eq!(
        major * Decimal::from(100),
        Decimal::from(minor),
        "major and minor agree exactly"
    );
}

#[tokio::test]
async fn an_export_follows_the_list_filters() {
    let app = spawn_app().await;
    let a = app.signup("export-filter").await;
    let crm = app.as_(&a);
    for name in ["Ericsson", "Ericsson Labs", "Nokia"] {
        crm.companies()
            .create(&json!({ "name": name }))
            .await
            .expect(StatusCode::CREATED);
    }

    let filtered = crm
        .export("companies", "q=ericsson")
        .await
        .expect_csv(StatusCode::OK);

    let names = filtered.column("name");
    assert!(!names.is_empty());
    assert!(
        names.iter().all(|n| n.to_lowercase().contains("ericsson")),
        "{names:?}"
    );
}

#[tokio::test]
async fn exports_defuse_formulas() {
    let app = spawn_app().await;
    let a = app.signup("export-safe").await;
    let crm = app.as_(&a);
    crm.contacts()
        .create(&json!({"first_name": "=HYPERLINK(\"http://evil\")", "last_name": "-1+1", "email": "x@y.example"}))
        .await
        .expect(StatusCode::CREATED);

    let table = crm.export("contacts", "").await.expect_csv(StatusCode::OK);

    let row = &table.rows[0];
    assert_eq!(
        &row[table.col("first_name")],
        "'=HYPERLINK(\"http://evil\")"
    );
    assert_eq!(&row[table.col("last_name")], "'-1+1");
}

#[tokio::test]
async fn a_deal_export_shows_money_in_major_and_minor_units() {
    let app = spawn_app().await;
    let a = app.signup("export-deals").await;
    let crm = app.as_(&a);
    let deal = crm
        .deals()
        .create(&json!({"name": "Sized", "amount": {"amount_minor": 1250, "currency": "EUR"}}))
        .await
        .expect(StatusCode::CREATED);

    let table = crm
        .export("deals", "status=open")
        .await
        .expect_csv(StatusCode::OK);

    let row = &table.rows[0];
    let id = deal.id.to_string();
    let cell = |name: &str| -> &str { &row[table.col(name)] };
    assert_eq!(
        (
            cell("id"),
            cell("amount"),
            cell("amount_minor"),
            cell("currency")
        ),
        (id.as_str(), "12.50", "1250", "EUR")
    );
    assert_eq!(cell("line_items"), "[]", "line items are exported as JSON");
}

#[tokio::test]
async fn exports_are_not_for_members_and_check_their_parameters() {
    let app = spawn_app().await;
    let a = app.signup("export-params").await;
    let member = app
        .token_for(a.tenant, a.owner, crm_domain::Role::Member)
        .await;

    app.as_(&member)
        .export("contacts", "")
        .await
        .expect_problem(StatusCode::FORBIDDEN);
    let crm = app.as_(&a);
    crm.export("contacts", "limit=5")
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    crm.export("deals", "amount_min=1")
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn export_headers_name_every_declared_column_in_order() {
    let app = spawn_app().await;
    let a = app.signup("export-headers").await;
    let crm = app.as_(&a);
    let header = |table: &crate::client::CsvTable| -> Vec<String> {
        table.header.iter().map(str::to_owned).collect()
    };
    let companies = crm.export("companies", "").await.expect_csv(StatusCode::OK);
    assert_eq!(
        header(&companies),
        [
            "id",
            "name",
            "domain",
            "industry",
            "country",
            "currency",
            "employee_count",
            "annual_revenue_text",
            "tags",
            "annual_revenue",
            "annual_revenue_minor",
            "annual_revenue_currency",
            "merged_into",
            "deleted",
            "created_at",
            "updated_at",
        ]
    );
    let contacts = crm.export("contacts", "").await.expect_csv(StatusCode::OK);
    assert_eq!(
        header(&contacts),
        [
            "id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "job_title",
            "company_id",
            "tags",
            "erased_at",
            "merged_into",
            "deleted",
            "created_at",
            "updated_at",
        ]
    );
    let deals = crm.export("deals", "").await.expect_csv(StatusCode::OK);
    assert_eq!(
        header(&deals),
        [
            "id",
            "name",
            "owner_id",
            "company_id",
            "contact_ids",
            "expected_close_date",
            "tags",
            "amount",
            "amount_minor",
            "currency",
            "pipeline_id",
            "stage_id",
            "status",
            "close_reason",
            "closed_at",
            "line_items",
            "deleted",
            "created_at",
            "updated_at",
        ]
    );
}
