//! The catch-up projector: durable, idempotent, and never skips an event whose
//! transaction commits late.

use crm_projections::catchup::CatchUp;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{keyring, spawn_app_with};

/// Runs the projector until it has read `want` events (or 20 s pass): transaction ids are
/// cluster-wide, so a transaction open in another test's database holds the horizon back
/// for a moment. Returns (read, applied).
async fn drain(catch_up: &CatchUp, want: u64) -> (u64, u64) {
    let (mut read, mut applied) = (0, 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while read < want && std::time::Instant::now() < deadline {
        let report = catch_up.run_once(10_000).await.unwrap();
        read += report.read;
        applied += report.applied;
        if report.read == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    (read, applied)
}

/// A server whose own catch-up projector is off, so the test drives it alone.
async fn spawn() -> crate::helpers::TestApp {
    spawn_app_with(|s| s.projector.enabled = false).await
}

#[tokio::test]
async fn a_lost_read_row_comes_back_from_the_events() {
    let app = spawn().await;
    let a = app.signup("durable").await;
    let crm = app.as_(&a);
    let id = crm
        .contacts()
        .create(&json!({"first_name": "Lost", "email": "lost@x.example"}))
        .await
        .expect(StatusCode::CREATED)
        .id;
    crm.contacts()
        .update(id, &json!({"job_title": "CTO"}))
        .await
        .expect(StatusCode::OK);

    // Wipe the row and the checkpoint, as if the inline projection had never run.
    let owner = app.pool_as(None).await;
    sqlx::query("DELETE FROM contacts WHERE id = $1")
        .bind(id)
        .execute(&owner)
        .await
        .unwrap();
    sqlx::query("UPDATE projector_checkpoints SET last_transaction_id = '0', last_position = 0")
        .execute(&owner)
        .await
        .unwrap();
    let catch_up = CatchUp::new(app.projector_db().await, keyring());
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&owner)
        .await
        .unwrap();
    let (_, applied) = drain(&catch_up, total as u64).await;
    assert_eq!(applied, 2, "the contact's two events, nothing else");
    let back = crm.contacts().get(id).await.expect(StatusCode::OK);
    assert_eq!(back.job_title.as_deref(), Some("CTO"));
    assert_eq!(back.version, 2);
    // Applying everything again changes nothing (idempotent by version).
    sqlx::query("UPDATE projector_checkpoints SET last_transaction_id = '0', last_position = 0")
        .execute(&owner)
        .await
        .unwrap();
    let (read, applied) = drain(&catch_up, total as u64).await;
    assert_eq!((read, applied), (total as u64, 0));
}

#[tokio::test]
async fn an_event_that_commits_late_is_not_skipped() {
    let app = spawn().await;
    let a = app.signup("late").await;
    let projector = app.projector_db().await;
    let catch_up = CatchUp::new(projector, keyring());
    // Settle: everything so far is projected and checkpointed.
    drain(&catch_up, app.event_count().await as u64).await;

    let store = app.pool_as(Some("crm_store")).await;
    let insert = "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
                  VALUES ('Company', $1, 1, 'CompanyCreated', '1.0', $2, $3)";
    let meta = |who: &str| {
        json!({"tenant_id": a.tenant.to_string(), "actor": who, "actor_type": "system", "actor_role": "system",
               "request_id": uuid::Uuid::now_v7().to_string(), "ip": "", "user_agent": "", "occurred_at": "2026-01-01T00:00:00Z"})
    };
    let payload = |name: &str| json!({"CompanyCreated": {"name": name, "domain": null, "industry": null, "country": null, "currency": null, "employee_count": null, "annual_revenue": null, "annual_revenue_text": null}});
    let early = uuid::Uuid::now_v7();
    let later = uuid::Uuid::now_v7();

    // T1 takes its position first but commits last.
    let mut t1 = store.begin().await.unwrap();
    sqlx::query(insert)
        .bind(format!("{}:{early}", a.tenant))
        .bind(payload("Early"))
        .bind(meta("t1"))
        .execute(&mut *t1)
        .await
        .unwrap();
    sqlx::query(insert)
        .bind(format!("{}:{later}", a.tenant))
        .bind(payload("Later"))
        .bind(meta("t2"))
        .execute(&store)
        .await
        .unwrap();

    // While T1 is open, T2's event (newer transaction) is not read past T1.
    let report = catch_up.run_once(1_000).await.unwrap();
    assert_eq!(report.read, 0, "read past a running transaction");
    t1.commit().await.unwrap();
    assert_eq!(drain(&catch_up, 2).await, (2, 2));

    let page = app
        .as_(&a)
        .companies()
        .list("")
        .await
        .expect(StatusCode::OK);
    assert_eq!(page.map(|c| c.name.clone()), ["Early", "Later"]);
}

#[tokio::test]
async fn a_batch_holding_the_lock_past_its_age_is_ended_by_another_process() {
    use std::time::{Duration, Instant};
    let app = spawn().await;
    app.signup("overdue").await;
    // A batch the lease cannot end: a projector session holding the lock, marked as a
    // batch, inside a statement (not idle) that would run for a minute.
    let projector = app.pool_as(Some("crm_projector")).await;
    let mut conn = projector.acquire().await.unwrap();
    let holder_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let stuck = tokio::spawn(async move {
        let mut txn = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::query(
            "SELECT set_config('application_name', 'crm/0 projector-batch', true),
                    pg_advisory_xact_lock(hashtext('crm-projector:read_models'))",
        )
        .execute(&mut *txn)
        .await?;
        sqlx::query("SELECT pg_sleep(60)").execute(&mut *txn).await
    });
    let owner = app.pool_as(None).await;
    let holds = || async {
        sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = $1 AND locktype = 'advisory' AND granted)",
        )
        .bind(holder_pid)
        .fetch_one(&owner)
        .await
        .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !holds().await {
        assert!(
            Instant::now() < deadline,
            "the stuck batch never took the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A projector that ends batches older than 1 s: busy at first, then it ends the
    // holder's session and goes on.
    let catch_up =
        CatchUp::new(app.projector_db().await, keyring()).overdue_after(Duration::from_secs(1));
    let first = catch_up.run_once(1_000).await.unwrap();
    assert!(
        first.busy,
        "the lock was free while the stuck batch held it"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let report = catch_up.run_once(1_000).await.unwrap();
        if !report.busy {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the overdue holder was not ended within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ended = stuck.await.unwrap();
    let code = ended
        .as_ref()
        .err()
        .and_then(|e| e.as_database_error())
        .and_then(|e| e.code().map(|c| c.into_owned()));
    assert_eq!(code.as_deref(), Some("57P01"), "{ended:?}");
}

#[tokio::test]
async fn a_lock_holder_that_is_not_an_overdue_batch_is_left_alone() {
    use std::time::Duration;
    let app = spawn().await;
    app.signup("not-overdue").await;
    // A rebuild-like holder: the same lock, without the batch's mark, for longer than the
    // overdue age.
    let projector = app.pool_as(Some("crm_projector")).await;
    let mut txn = projector.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('crm-projector:read_models'))")
        .execute(&mut *txn)
        .await
        .unwrap();
    let catch_up =
        CatchUp::new(app.projector_db().await, keyring()).overdue_after(Duration::from_millis(200));
    tokio::time::sleep(Duration::from_millis(400)).await;
    for _ in 0..3 {
        let report = catch_up.run_once(1_000).await.unwrap();
        assert!(report.busy, "the lock was taken from an unmarked holder");
    }
    let alive: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut *txn)
        .await
        .unwrap();
    assert_eq!(alive, 1);
    txn.commit().await.unwrap();
}
