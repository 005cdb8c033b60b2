//! The event store is append-only in the database, and checks each event's tenant.

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn events_cannot_be_updated_deleted_or_truncated_by_anyone() {
    let app = spawn_app().await;
    let a = app.signup("ledger").await;
    app.as_(&a)
        .companies()
        .create(&json!({"name": "Ledger Ltd"}))
        .await
        .expect(reqwest::StatusCode::CREATED);
    let before = app.event_count().await;
    assert!(before >= 3);

    // The application roles have no such grant.
    for role in ["crm_store", "crm_app", "crm_projector"] {
        let pool = app.pool_as(Some(role)).await;
        for sql in [
            "UPDATE events SET payload = '{}'",
            "DELETE FROM events",
            "TRUNCATE events",
        ] {
            let err = sqlx::query(sql).execute(&pool).await.expect_err(sql);
            assert!(
                err.to_string().contains("permission denied"),
                "{role}: {sql}: {err}"
            );
        }
    }
    // The owner (here a superuser) is stopped by the trigger.
    let owner = app.pool_as(None).await;
    for sql in [
        "UPDATE events SET payload = '{}'",
        "DELETE FROM events",
        "TRUNCATE events",
    ] {
        let err = sqlx::query(sql).execute(&owner).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(app.event_count().await, before);
}

#[tokio::test]
async fn the_database_derives_the_tenant_and_refuses_a_foreign_stream() {
    let app = spawn_app().await;
    let a = app.signup("stamp").await;
    let b = app.signup("stamp-b").await;
    let store = app.pool_as(Some("crm_store")).await;
    let insert = "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
                  VALUES ('Company', $1, 1, 'CompanyDeleted', '1.0', '\"CompanyDeleted\"', $2)";
    let entity = uuid::Uuid::now_v7();

    // Metadata of tenant B on a stream of tenant A.
    let err = sqlx::query(insert)
        .bind(format!("{}:{entity}", a.tenant))
        .bind(json!({"tenant_id": b.tenant.to_string()}))
        .execute(&store)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not own stream"), "{err}");
    // No tenant at all.
    let err = sqlx::query(insert)
        .bind(format!("{}:{entity}", a.tenant))
        .bind(json!({}))
        .execute(&store)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no tenant_id"), "{err}");

    // A matching one is stamped by the database: tenant, transaction and time.
    sqlx::query(insert)
        .bind(format!("{}:{entity}", a.tenant))
        .bind(json!({"tenant_id": a.tenant.to_string()}))
        .execute(&store)
        .await
        .unwrap();
    let (tenant, has_tx, recent): (uuid::Uuid, bool, bool) = sqlx::query_as(
        "SELECT tenant_id, transaction_id IS NOT NULL, recorded_at > now() - interval '1 minute' FROM events WHERE aggregate_id = $1",
    )
    .bind(format!("{}:{entity}", a.tenant))
    .fetch_one(&store)
    .await
    .unwrap();
    assert_eq!((tenant, has_tx, recent), (a.tenant, true, true));
}
