//! Input PostgreSQL cannot store never reaches it: a NUL (or another control character)
//! in a body field, a query parameter, a cursor or a CSV cell, and a time outside the
//! years RFC 3339 writes, are each answered 4xx naming the field, and nothing is written.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::client::{Body, Company, Page};
use crate::helpers::spawn_app;

/// Base64 (URL-safe, no padding) of `text`, the form of a list cursor.
fn cursor_of(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[tokio::test]
async fn a_nul_in_a_body_field_is_a_422_naming_it_and_writes_nothing() {
    let app = spawn_app().await;
    let owner = app.signup("nul-body").await;
    let crm = app.as_(&owner);
    let before = app.event_count().await;

    let cases: Vec<(&str, Value, &str)> = vec![
        ("/v1/companies", json!({"name": "Ac\u{0}me"}), "name"),
        (
            "/v1/companies",
            json!({"name": "Acme", "tags": ["ok", "b\u{0}d"]}),
            "tags[1]",
        ),
        (
            "/v1/contacts",
            json!({"first_name": "Ada", "job_title": "CTO\u{7}"}),
            "job_title",
        ),
        (
            "/v1/pipelines",
            json!({"name": "P", "stages": [{"name": "S\u{0}", "probability": "10", "kind": "open"}]}),
            "stages[0].name",
        ),
    ];
    for (path, body, field) in cases {
        let problem = crm
            .post::<Value>(path, &body)
            .await
            .context(format!("POST {path} {body}"))
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(problem.field(), field, "{path} {body}");
    }
    // Signing in and asking for a reset with a NUL in the email: 422, never 500.
    for (path, body) in [
        (
            "/v1/auth/login",
            json!({"email": "a\u{0}@x.example", "password": "whatever it is 1"}),
        ),
        (
            "/v1/auth/password-reset",
            json!({"email": "a\u{0}@x.example"}),
        ),
    ] {
        let problem = app
            .anonymous()
            .post::<Value>(path, &body)
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(problem.field(), "email", "{path}");
    }
    assert_eq!(
        app.event_count().await,
        before,
        "a refused request wrote events"
    );
    let page: Page<Company> = crm.companies().list("").await.expect(StatusCode::OK);
    assert!(page.items.is_empty(), "a refused company was stored");
}

#[tokio::test]
async fn a_nul_in_a_patch_a_reason_or_an_activity_changes_nothing() {
    let app = spawn_app().await;
    let owner = app.signup("nul-patch").await;
    let crm = app.as_(&owner);
    let company = crm
        .companies()
        .create(&json!({"name": "Acme"}))
        .await
        .expect(StatusCode::CREATED);
    let note = crm
        .activities()
        .create(&json!({"kind": "note", "body": "first", "company_ids": [company.id]}))
        .await
        .expect(StatusCode::CREATED);
    crm.companies()
        .update(company.id, &json!({"industry": "Retail"}))
        .await
        .expect(StatusCode::OK);
    let before = app.event_count().await;

    let problem = crm
        .activities()
        .update(note.id, &json!({"body": "line\u{0}"}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem.field(), "body");
    let problem = crm
        .companies()
        .revert(company.id, &json!({"to_version": 1, "reason": "oops\u{0}"}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem.field(), "reason");
    let problem = crm
        .activities()
        .create(
            &json!({"kind": "note", "body": "ok", "company_ids": [company.id],
            "due_at": "-262143-01-01T00:00:00Z"}),
        )
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem.field(), "due_at");
    let problem = crm
        .deals()
        .create(&json!({"name": "Far", "expected_close_date": "+10000-01-01"}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem.field(), "expected_close_date");

    assert_eq!(
        app.event_count().await,
        before,
        "a refused request wrote events"
    );
    let kept = crm.activities().get(note.id).await.expect(StatusCode::OK);
    assert_eq!(kept.title, "first");
    let kept = crm.companies().get(company.id).await.expect(StatusCode::OK);
    assert_eq!(kept.industry.as_deref(), Some("Retail"));
}

#[tokio::test]
async fn a_nul_or_a_far_time_in_a_query_or_a_cursor_is_a_422() {
    let app = spawn_app().await;
    let owner = app.signup("nul-query").await;
    let crm = app.as_(&owner);
    crm.companies()
        .create(&json!({"name": "Acme", "tags": ["vip"]}))
        .await
        .expect(StatusCode::CREATED);
    let nul_cursor = cursor_of(&format!(
        r#"{{"s":"-created_at","k":"x\u0000y","i":"{}"}}"#,
        uuid::Uuid::nil()
    ));
    let far_cursor = cursor_of(&format!(
        r#"{{"s":"-created_at","k":"-262143-01-01T00:00:00Z","i":"{}"}}"#,
        uuid::Uuid::nil()
    ));
    let cases: Vec<(String, &str)> = vec![
        ("/v1/companies?tag=v%00ip".into(), "tag"),
        ("/v1/companies?q=Ac%00me".into(), "q"),
        (
            "/v1/companies?created_before=-262143-01-01T00:00:00Z".into(),
            "created_before",
        ),
        (
            "/v1/companies?created_after=%2B262142-01-01T00:00:00Z".into(),
            "created_after",
        ),
        (format!("/v1/companies?cursor={nul_cursor}"), "cursor"),
        (format!("/v1/companies?cursor={far_cursor}"), "cursor"),
        ("/v1/audit?actor=%00".into(), "actor"),
        (
            "/v1/audit?event_type=Company%00Created".into(),
            "event_type",
        ),
        ("/v1/exports/companies?tag=v%00ip".into(), "tag"),
        (
            "/v1/exports/deals?created_before=-262143-01-01T00:00:00Z".into(),
            "created_before",
        ),
    ];
    for (path, field) in cases {
        let res = crm.get::<Value>(&path).await.context(format!("GET {path}"));
        let problem = res.expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(problem.field(), field, "{path}");
    }
    let company = crm
        .companies()
        .list("")
        .await
        .expect(StatusCode::OK)
        .items
        .remove(0);
    let problem = crm
        .companies()
        .past(company.id, "as_of=-262143-01-01T00:00:00Z")
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem.field(), "as_of");
}

#[tokio::test]
async fn a_csv_row_with_a_nul_fails_alone_and_the_rest_imports() {
    let app = spawn_app().await;
    let owner = app.signup("nul-csv").await;
    let crm = app.as_(&owner);
    let csv = b"name,domain\nGood One,good.example\nBad\x00One,bad.example\nGood Two,two.example\n";
    let report = crm
        .import("companies", "", csv)
        .await
        .expect(StatusCode::OK);
    assert_eq!(report.rows_read, 3);
    assert_eq!(report.created, 2);
    assert_eq!(report.failed, 1);
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].row, 2);
    assert!(
        report.errors[0].message.contains("name"),
        "the error names the column: {:?}",
        report.errors[0]
    );
    let names: Vec<String> = crm
        .companies()
        .list("sort=name")
        .await
        .expect(StatusCode::OK)
        .items
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["Good One", "Good Two"]);

    // A column no field takes is not read, so its content does not matter.
    let extra = b"name,notes\nThird,\x0c form feed\n";
    let report = crm
        .import("companies", "", extra)
        .await
        .expect(StatusCode::OK);
    assert_eq!((report.created, report.failed), (1, 0));
    assert_eq!(report.ignored_columns, ["notes"]);

    let header_nul = b"na\x00me\nAcme\n";
    let problem = crm
        .import("companies", "", header_nul)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem.field(), "file");
}

#[tokio::test]
async fn a_body_with_a_nul_in_a_member_name_is_refused() {
    let app = spawn_app().await;
    let owner = app.signup("nul-key").await;
    let res = app
        .as_(&owner)
        .send::<Value>(
            reqwest::Method::POST,
            "/v1/companies",
            Body::raw("application/json", r#"{"name": "Acme", "x\u0000": 1}"#),
        )
        .await;
    let problem = res.expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem.field(), "body");
}
