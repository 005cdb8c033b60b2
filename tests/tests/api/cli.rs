//! The command line: import by workspace slug, and rebuild.

use crm_api::cli::{self, CliError, Command, ImportKind};
use reqwest::StatusCode;

use crate::helpers::{csv_rows, data_file, spawn_app, test_settings};

#[tokio::test]
async fn cli_import_uses_the_import_actor_and_rebuild_keeps_answers() {
    let app = spawn_app().await;
    let a = app.signup("cli").await;
    let settings = test_settings(&app.db_name);
    let dir = std::env::var("CRM_DATA_DIR")
        .unwrap_or_else(|_| format!("{}/../../shared/data", env!("CARGO_MANIFEST_DIR")));
    let companies = std::path::PathBuf::from(format!("{dir}/companies.csv"));

    let events = app.event_count().await;
    let err = cli::import_file(
        &settings,
        ImportKind::Companies,
        &companies,
        "no-such-workspace",
        false,
        false,
        Vec::new(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, CliError::UnknownWorkspace(_)), "{err}");
    let err = cli::import_file(
        &settings,
        ImportKind::Companies,
        std::path::Path::new("/nonexistent.csv"),
        "cli",
        false,
        false,
        Vec::new(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, CliError::Io(_)), "{err}");
    assert_eq!(app.event_count().await, events);

    let (status, field) = app
        .post(
            "/v1/schema/fields",
            &a.token,
            serde_json::json!({"record": "company", "key": "ticker", "label": "Ticker", "type": "text"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{field}");
    let report = cli::import_file(
        &settings,
        ImportKind::Companies,
        &companies,
        "cli",
        false,
        false,
        vec![("Ticker".into(), "ticker".into())],
    )
    .await
    .unwrap();
    assert_eq!(report.rows_read, csv_rows(&data_file("companies.csv")));
    assert_eq!(report.created, report.rows_read);
    let crm = app.as_(&a);
    let audit = crm.audit("limit=1").await.expect(StatusCode::OK);
    let last = &audit.items[0];
    assert_eq!(last.actor.as_deref(), Some("import"));
    assert_eq!(last.actor_type.as_deref(), Some("system"));
    assert_eq!(last.import_id, Some(report.import_id.to_string()));

    // The whole answers, compared as JSON.
    let page = || async {
        crm.get::<serde_json::Value>("/v1/companies?limit=200&sort=-name")
            .await
            .expect(StatusCode::OK)
    };
    let before = page().await;
    cli::execute(settings, Command::RebuildProjections { workspace: None })
        .await
        .unwrap();
    assert_eq!(page().await, before);
}
