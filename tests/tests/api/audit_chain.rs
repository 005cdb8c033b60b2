//! The tamper-evident trail: hash chains computed by the database, checkpoints signed by
//! the server, and tampering as the database superuser detected.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, str_of, test_settings, TestApp, Workspace};

/// A workspace with a contact of two events and a checkpoint; returns the contact's stream.
async fn setup(app: &TestApp, slug: &str) -> (Workspace, String) {
    let a = app.signup(slug).await;
    let (_, c) = app
        .post("/v1/contacts", &a.token, json!({"first_name": "Chained"}))
        .await;
    app.patch(
        &format!("/v1/contacts/{}", str_of(&c["id"])),
        &a.token,
        json!({"job_title": "CFO"}),
    )
    .await;
    let (status, _) = app.post("/v1/audit/checkpoints", &a.token, json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
    let stream = format!("{}:{}", a.tenant, str_of(&c["id"]));
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

async fn verify(app: &TestApp, token: &str) -> Value {
    let (status, report) = app.get("/v1/audit/verify", token).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    report
}

#[tokio::test]
async fn an_untouched_trail_verifies_and_only_owners_verify() {
    let app = spawn_app().await;
    let (a, _) = setup(&app, "chain-ok").await;
    let report = verify(&app, &a.token).await;
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["checkpoint"]["signature_valid"], true);
    assert!(report["events_checked"].as_i64().unwrap() >= 5);
    let admin = app
        .token_for(a.tenant, a.owner, crm_domain::Role::Admin)
        .await;
    assert_eq!(
        app.get("/v1/audit/verify", &admin).await.0,
        StatusCode::FORBIDDEN
    );
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
    let report = verify(&app, &a.token).await;
    assert_eq!(report["intact"], false);
    assert_eq!(
        (
            report["first_break"]["stream"].as_str(),
            report["first_break"]["sequence"].as_i64()
        ),
        (Some(stream.as_str()), Some(1))
    );
    assert!(report["first_break"]["reason"]
        .as_str()
        .unwrap()
        .contains("hash"));
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
async fn a_deleted_event_is_found_in_the_middle_and_at_the_end() {
    let app = spawn_app().await;
    let (a, stream) = setup(&app, "chain-delete").await;
    tamper(
        &app,
        "DELETE FROM events WHERE aggregate_id = $1 AND sequence = 1",
        &stream,
    )
    .await;
    let report = verify(&app, &a.token).await;
    assert_eq!(
        (
            report["intact"].as_bool(),
            report["first_break"]["sequence"].as_i64()
        ),
        (Some(false), Some(2))
    );
    assert!(report["first_break"]["reason"]
        .as_str()
        .unwrap()
        .contains("missing"));

    let app = spawn_app().await;
    let (a, stream) = setup(&app, "chain-truncate").await;
    tamper(
        &app,
        "DELETE FROM events WHERE aggregate_id = $1 AND sequence = 2",
        &stream,
    )
    .await;
    let report = verify(&app, &a.token).await;
    assert_eq!(
        report["first_break"],
        Value::Null,
        "the chain itself still links"
    );
    assert_eq!(
        report["intact"], false,
        "the signed checkpoint names the removed head: {report}"
    );
    assert_eq!(report["checkpoint"]["missing_head"]["id"], json!(stream));
}

#[tokio::test]
async fn reordered_events_and_a_forged_checkpoint_are_found() {
    let app = spawn_app().await;
    let (a, stream) = setup(&app, "chain-order").await;
    tamper(
        &app,
        "UPDATE events SET sequence = 99 WHERE aggregate_id = $1 AND sequence = 1; UPDATE events SET sequence = 1 WHERE aggregate_id = $1 AND sequence = 2; UPDATE events SET sequence = 2 WHERE aggregate_id = $1 AND sequence = 99",
        &stream,
    )
    .await;
    let report = verify(&app, &a.token).await;
    assert_eq!(report["intact"], false);
    assert_eq!(report["first_break"]["stream"], json!(stream));

    let app = spawn_app().await;
    let (a, _) = setup(&app, "chain-forge").await;
    let owner = app.pool_as(None).await;
    sqlx::query("UPDATE audit_checkpoints SET heads = '[]'::jsonb")
        .execute(&owner)
        .await
        .unwrap();
    let report = verify(&app, &a.token).await;
    assert_eq!(
        (
            report["intact"].as_bool(),
            report["checkpoint"]["signature_valid"].as_bool()
        ),
        (Some(false), Some(false))
    );
}
