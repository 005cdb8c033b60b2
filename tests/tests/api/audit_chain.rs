//! The tamper-evident trail: hash chains computed by the database, checkpoints signed by
//! the server, and tampering as the database superuser detected.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::client::ChainReport;
use crate::helpers::{spawn_app, test_settings, TestApp, Workspace};

/// A workspace with a contact of two events and a checkpoint; returns the contact's stream.
async fn setup(app: &TestApp, slug: &str) -> (Workspace, String) {
    let a = app.signup(slug).await;
    let crm = app.as_(&a);
    let c = crm
        .contacts()
        .create(&json!({"first_name": "Chained"}))
        .await
        .expect(StatusCode::CREATED);
    crm.contacts()
        .update(c.id, &json!({"job_title": "CFO"}))
        .await
        .expect(StatusCode::OK);
    crm.post::<Value>("/v1/audit/checkpoints", &json!({}))
        .await
        .expect(StatusCode::CREATED);
    let stream = format!("{}:{}", a.tenant, c.id);
    (a, stream)
}

/// Runs `sql` as the superuser with triggers off (what an attacker with the database
/// would do), binding the contact's stream as $1.
async fn tamper(app: &TestApp, sql: &str, stream: &str) {
    let owner = app.pool_as(None).await;
    let mut tx = owner.begin().await.unwrap();
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    for statement in sql.split(';').filter(|s| !s.trim().is_empty()) {
        sqlx::query(statement)
            .bind(stream)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

async fn verify(app: &TestApp, owner: &Workspace) -> ChainReport {
    app.as_(owner).audit_verify().await.expect(StatusCode::OK)
}

#[tokio::test]
async fn an_untouched_trail_verifies_and_only_owners_verify() {
    let app = spawn_app().await;
    let (a, _) = setup(&app, "chain-ok").await;
    let report = verify(&app, &a).await;
    assert!(report.intact, "{report:?}");
    assert_eq!(report.checkpoint()["signature_valid"], true);
    assert!(report.events_checked >= 5);
    let admin = app
        .token_for(a.tenant, a.owner, crm_domain::Role::Admin)
        .await;
    app.as_(&admin)
        .audit_verify()
        .await
        .expect_problem(StatusCode::FORBIDDEN);
    let settings = test_settings(&app.db_name);
    crm_api::cli::execute(
        settings,
        crm_api::cli::Command::VerifyAudit {
            workspace: Some("chain-ok".into()),
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn an_edited_event_is_found() {
    let app = spawn_app().await;
    let (a, stream) = setup(&app, "chain-edit").await;
    tamper(&app, r#"UPDATE events SET payload = jsonb_set(payload, '{ContactCreated,first_name}', '"Forged"') WHERE aggregate_id = $1 AND sequence = 1"#, &stream).await;
    let report = verify(&app, &a).await;
    assert!(!report.intact);
    let first_break = report.first_break();
    assert_eq!(
        (
            first_break["stream"].as_str(),
            first_break["sequence"].as_i64()
        ),
        (Some(stream.as_str()), Some(1))
    );
    assert!(
        first_break["reason"].to_string().contains("hash"),
        "{first_break}"
    );
    let settings = test_settings(&app.db_name);
    let err = crm_api::cli::execute(
        settings,
        crm_api::cli::Command::VerifyAudit { workspace: None },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, crm_api::cli::CliError::Tampered(_)), "{err}");
}

#[tokio::test]
async fn a_deleted_event_in_the_middle_is_found() {
    let app = spawn_app().await;
    let (a, stream) = setup(&app, "chain-delete").await;
    tamper(
        &app,
        "DELETE FROM events WHERE aggregate_id = $1 AND sequence = 1",
        &stream,
    )
    .await;

    let report = verify(&app, &a).await;

    assert!(!report.intact);
    let first_break = report.first_break();
    assert_eq!(first_break["sequence"].as_i64(), Some(2));
    assert!(
        first_break["reason"].to_string().contains("missing"),
        "{first_break}"
    );
}

#[tokio::test]
async fn a_deleted_last_event_is_found_by_the_signed_checkpoint() {
    let app = spawn_app().await;
    let (a, stream) = setup(&app, "chain-truncate").await;
    tamper(
        &app,
        "DELETE FROM events WHERE aggregate_id = $1 AND sequence = 2",
        &stream,
    )
    .await;

    let report = verify(&app, &a).await;

    assert_eq!(report.first_break, None, "the chain itself still links");
    assert!(
        !report.intact,
        "the signed checkpoint names the removed head: {report:?}"
    );
    assert_eq!(report.checkpoint()["missing_head"]["id"], json!(stream));
}

#[tokio::test]
async fn reordered_events_are_found() {
    let app = spawn_app().await;
    let (a, stream) = setup(&app, "chain-order").await;
    tamper(
        &app,
        "UPDATE events SET sequence = 99 WHERE aggregate_id = $1 AND sequence = 1; UPDATE events SET sequence = 1 WHERE aggregate_id = $1 AND sequence = 2; UPDATE events SET sequence = 2 WHERE aggregate_id = $1 AND sequence = 99",
        &stream,
    )
    .await;

    let report = verify(&app, &a).await;

    assert!(!report.intact);
    assert_eq!(report.first_break()["stream"], json!(stream));
}

#[tokio::test]
async fn a_forged_checkpoint_is_found() {
    let app = spawn_app().await;
    let (a, _) = setup(&app, "chain-forge").await;
    let owner = app.pool_as(None).await;
    sqlx::query("UPDATE audit_checkpoints SET heads = '[]'::jsonb")
        .execute(&owner)
        .await
        .unwrap();

    let report = verify(&app, &a).await;

    assert!(!report.intact);
    assert_eq!(
        report.checkpoint()["signature_valid"].as_bool(),
        Some(false)
    );
}
