//! Rebuilding the read tables from events gives the same tables, row for row.

use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{data_file, keyring, spawn_app, PASSWORD};

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
    app.as_(&a)
        .import("companies", "", &data_file("companies.csv"))
        .await
        .expect(StatusCode::OK);
    let crm = app.as_(&b);
    let (ok, created) = (StatusCode::OK, StatusCode::CREATED);
    let c = crm
        .companies()
        .create(
            &json!({"name": "B Co", "annual_revenue": {"amount_minor": 150, "currency": "BHD"}}),
        )
        .await
        .expect(created)
        .id;
    crm.companies()
        .update(
            c,
            &json!({"industry": "Retail", "domain": "https://www.b.example/x"}),
        )
        .await
        .expect(ok);
    crm.companies()
        .delete(c)
        .await
        .expect(StatusCode::NO_CONTENT);
    let p = crm
        .contacts()
        .create(&json!({"first_name": "P", "email": "p@b.example"}))
        .await
        .expect(created)
        .id;
    crm.contacts()
        .update(p, &json!({"email": null, "last_name": "Q"}))
        .await
        .expect(ok);

    // Deals and pipelines: stage changes, line items, closing.
    let pipeline = crm.pipelines().default_pipeline().await;
    let (pid, first) = (pipeline.id, pipeline.stages[0].id);
    crm.pipelines()
        .add_stage(
            pid,
            &json!({"name": "Demo", "probability": "45", "kind": "open", "position": 1}),
        )
        .await
        .expect(created);
    let d = crm
        .deals()
        .create(&json!({"name": "Rebuilt deal", "contact_ids": [p]}))
        .await
        .expect(created)
        .id;
    crm.deals()
        .set_line_items(d, &json!({"items": [{"product": "X", "quantity": 2, "unit_price": {"amount_minor": 999, "currency": "USD"}, "discount_percent": "12.5"}]}))
        .await
        .expect(ok);
    crm.deals()
        .win(d, &json!({"reason": "fit"}))
        .await
        .expect(ok);
    crm.pipelines().remove_stage(pid, first).await.expect(ok);

    let other = crm
        .companies()
        .create(&json!({"name": "Linked Co"}))
        .await
        .expect(created);
    crm.contacts()
        .link_company(p, other.id, &json!({"role": "Buyer"}))
        .await
        .expect(ok);
    crm.activities()
        .create(&json!({"kind": "note", "body": "rebuilt", "contact_ids": [p]}))
        .await
        .expect(created);
    // A merge, and a merge undone: tombstones, moved links and claims rebuild too.
    for undo in [false, true] {
        let twin = crm
            .contacts()
            .create(
                &json!({"first_name": "P", "last_name": format!("Twin {undo}"),
                            "email": format!("twin-{undo}@b.example"), "tags": ["twin"]}),
            )
            .await
            .expect(created)
            .id;
        crm.activities()
            .create(&json!({"kind": "note", "body": "twin", "contact_ids": [twin]}))
            .await
            .expect(created);
        let (status, body) = app
            .post(
                &format!("/v1/contacts/{p}/merge"),
                &b.token,
                json!({"from": twin}),
            )
            .await;
        assert_eq!(status, ok, "{body}");
        if undo {
            let (status, body) = app
                .post(
                    &format!("/v1/contacts/{p}/unmerge"),
                    &b.token,
                    json!({"from": twin}),
                )
                .await;
            assert_eq!(status, ok, "{body}");
        }
    }
    let twin_co = crm
        .companies()
        .create(&json!({"name": "Linked Co Inc", "industry": "Twins"}))
        .await
        .expect(created)
        .id;
    crm.contacts()
        .link_company(p, twin_co, &json!({"role": "Twin"}))
        .await
        .expect(ok);
    let (status, body) = app
        .post(
            &format!("/v1/companies/{}/merge", other.id),
            &b.token,
            json!({"from": twin_co}),
        )
        .await;
    assert_eq!(status, ok, "{body}");

    let owner = app.pool_as(None).await;
    app.settle().await;
    let live = snapshot(&owner).await;
    let replayed = crm_projections::rebuild::rebuild_all(&app.projector_db().await, &keyring())
        .await
        .unwrap();
    // Events above the rebuild's horizon (the cluster's oldest running transaction) are
    // left to the catch-up projector.
    app.settle().await;
    let rebuilt = snapshot(&owner).await;
    assert!(live.len() > 1_250);
    assert_eq!(live, rebuilt);
    assert!(replayed > 1_250 && replayed as i64 <= app.event_count().await);
    // Rebuilding twice changes nothing either.
    crm_projections::rebuild::rebuild_all(&app.projector_db().await, &keyring())
        .await
        .unwrap();
    app.settle().await;
    assert_eq!(snapshot(&owner).await, live);
}

/// One workspace's read rows as text, in key order.
async fn tenant_rows(pool: &PgPool, tenant: uuid::Uuid) -> Vec<String> {
    let mut out = Vec::new();
    for table in crm_projections::rebuild::READ_TABLES {
        let rows: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT t::text FROM {table} t WHERE tenant_id = $1 ORDER BY t::text"
        ))
        .bind(tenant)
        .fetch_all(pool)
        .await
        .unwrap();
        out.push(format!("{table}: {}", rows.len()));
        out.extend(rows);
    }
    out
}

#[tokio::test]
async fn one_workspace_rebuilds_under_concurrent_writes_and_others_are_untouched() {
    let app = spawn_app().await;
    let a = app.signup("rebuild-one").await;
    let b = app.signup("rebuild-two").await;
    for ws in [&a, &b] {
        for i in 0..5 {
            app.as_(ws)
                .contacts()
                .create(&json!({"first_name": format!("Person {i}")}))
                .await
                .expect(StatusCode::CREATED);
        }
    }
    // Damage both workspaces' read rows behind the projector's back.
    let owner = app.pool_as(None).await;
    sqlx::query("UPDATE contacts SET first_name = 'CORRUPT'")
        .execute(&owner)
        .await
        .unwrap();

    // Writes to the workspace keep coming while it rebuilds.
    let writer = async {
        for i in 0..20 {
            app.as_(&a)
                .contacts()
                .create(&json!({"first_name": format!("Late {i}")}))
                .await
                .expect(StatusCode::CREATED);
        }
    };
    let mut reports = Vec::new();
    let scope = crm_store::TenantScope::for_system(crm_domain::TenantId(a.tenant));
    let (projector, keys) = (app.projector_db().await, keyring());
    let rebuild =
        crm_projections::rebuild::rebuild_tenant(&projector, &keys, &scope, |p| reports.push(p));
    let ((), rebuilt) = tokio::join!(writer, rebuild);
    rebuilt.unwrap();
    app.settle().await;
    let last = reports.last().copied().unwrap();
    assert_eq!(last.replayed, last.total);
    assert!((last.percent() - 100.0).abs() < f64::EPSILON);
    assert!(last.events_per_second > 0.0);

    let corrupt = |tenant: uuid::Uuid| {
        let owner = owner.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM contacts WHERE tenant_id = $1 AND first_name = 'CORRUPT'",
            )
            .bind(tenant)
            .fetch_one(&owner)
            .await
            .unwrap()
        }
    };
    assert_eq!(
        corrupt(a.tenant).await,
        0,
        "the rebuilt workspace is repaired"
    );
    assert_eq!(
        corrupt(b.tenant).await,
        5,
        "the other workspace is untouched"
    );
    let list = app
        .as_(&a)
        .contacts()
        .list("limit=200")
        .await
        .expect(StatusCode::OK);
    assert_eq!(list.items.len(), 25);

    // Equal, row for row, to a fresh rebuild of everything.
    app.settle().await;
    let rebuilt_one = tenant_rows(&owner, a.tenant).await;
    crm_projections::rebuild::rebuild_all(&app.projector_db().await, &keyring())
        .await
        .unwrap();
    app.settle().await;
    assert_eq!(tenant_rows(&owner, a.tenant).await, rebuilt_one);
    assert_eq!(corrupt(b.tenant).await, 0);
}

#[tokio::test]
async fn a_workspace_rebuilt_behind_a_long_transaction_keeps_every_row_and_session() {
    let app = spawn_app().await;
    let owner = app.pool_as(None).await;
    // A transaction left open (a backup, a report, another database of the cluster)
    // holds the cluster's oldest running transaction back, and the catch-up projector
    // with it: nothing written from here on, the workspace itself included, is below
    // its horizon.
    let mut held = owner.begin().await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *held)
        .await
        .unwrap();
    let a = app.signup("rebuild-held").await;
    let crm = app.as_(&a);
    for i in 0..3 {
        crm.contacts()
            .create(&json!({"first_name": format!("After {i}")}))
            .await
            .expect(StatusCode::CREATED);
    }
    // A second session, signed in after the held transaction began too.
    let again = app
        .anonymous()
        .auth()
        .login(&a.email, PASSWORD)
        .await
        .expect(StatusCode::OK)
        .access_token;
    let scope = crm_store::TenantScope::for_system(crm_domain::TenantId(a.tenant));
    let replayed = crm_projections::rebuild::rebuild_tenant(
        &app.projector_db().await,
        &keyring(),
        &scope,
        |_| {},
    )
    .await
    .unwrap();
    assert!(replayed >= 3, "the new events are replayed ({replayed})");

    // No waiting for the catch-up projector: the rows are there at once, and the
    // workspace's sessions still let their users in.
    let list = app
        .as_(&again)
        .contacts()
        .list("limit=50")
        .await
        .expect(StatusCode::OK);
    assert_eq!(list.items.len(), 3);
    crm.contacts().list("limit=50").await.expect(StatusCode::OK);
    held.rollback().await.unwrap();
}

/// The shape of the read tables: columns, indexes (by name), policies, grants and
/// row-level security flags.
async fn catalog(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT x FROM (
           -- The column's place among the table's columns (a dropped column leaves a gap
           -- in ordinal_position that a table made anew does not have).
           SELECT 'column ' || table_name || ' '
                  || row_number() OVER (PARTITION BY table_name ORDER BY ordinal_position)
                  || ' ' || column_name || ' '
                  || data_type || ' ' || coalesce(generation_expression, '') || coalesce(column_default, '') AS x
             FROM information_schema.columns
            WHERE table_schema = 'public' AND table_name = ANY (crm_read_tables())
           UNION ALL
           SELECT 'index ' || indexname || ' ' || indexdef FROM pg_indexes
            WHERE schemaname = 'public' AND tablename = ANY (crm_read_tables())
           UNION ALL
           SELECT 'policy ' || tablename || ' ' || policyname || ' ' || cmd || ' ' || roles::text
                  || ' ' || coalesce(qual, '') || ' ' || coalesce(with_check, '')
             FROM pg_policies WHERE schemaname = 'public' AND tablename = ANY (crm_read_tables())
           UNION ALL
           SELECT 'grant ' || table_name || ' ' || grantee || ' ' || privilege_type
             FROM information_schema.role_table_grants
            WHERE table_schema = 'public' AND table_name = ANY (crm_read_tables())
           UNION ALL
           SELECT 'rls ' || relname || ' ' || relrowsecurity || ' ' || relforcerowsecurity
             FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relname = ANY (crm_read_tables())
         ) s ORDER BY x",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_full_rebuild_serves_from_the_live_tables_resumes_after_an_interruption_and_switches_in_the_same_tables(
) {
    use crm_projections::rebuild::{prepare, rebuild_all_with, step, READ_TABLES};
    let app = spawn_app().await;
    let a = app.signup("shadow").await;
    let crm = app.as_(&a);
    crm.import("companies", "", &data_file("companies.csv"))
        .await
        .expect(StatusCode::OK);
    let owner = app.pool_as(None).await;
    let names: Vec<String> = sqlx::query_scalar("SELECT unnest(crm_read_tables())")
        .fetch_all(&owner)
        .await
        .unwrap();
    assert_eq!(
        names, READ_TABLES,
        "the database and the code name the same tables"
    );
    app.settle().await;
    let shape = catalog(&owner).await;
    assert!(
        shape
            .iter()
            .any(|l| l.starts_with("index contacts_by_name ")),
        "{shape:?}"
    );

    // Start, replay one batch into the shadow tables, and stop there.
    let db = app.projector_db().await;
    let k = keyring();
    assert!(!prepare(&db).await.unwrap(), "a fresh rebuild");
    assert_eq!(step(&db, &k, 300).await.unwrap(), 300);
    let shadow: i64 = sqlx::query_scalar("SELECT count(*) FROM crm_rebuild.companies")
        .fetch_one(&owner)
        .await
        .unwrap();
    assert!(
        shadow > 0 && shadow < 1_250,
        "{shadow} companies in the shadow"
    );
    // Meanwhile the live tables serve and take writes.
    let page = crm
        .companies()
        .list("limit=200")
        .await
        .expect(StatusCode::OK);
    assert_eq!(page.items.len(), 200);
    crm.companies()
        .create(&json!({"name": "Written during the rebuild"}))
        .await
        .expect(StatusCode::CREATED);
    app.settle().await;
    let live = snapshot(&owner).await;

    // Started again, it resumes from its checkpoint, then switches.
    assert!(
        prepare(&db).await.unwrap(),
        "the interrupted rebuild is found"
    );
    let mut reports = Vec::new();
    let replayed = rebuild_all_with(&db, &k, |p| reports.push(p))
        .await
        .unwrap();
    assert!(!reports.is_empty());
    assert!(
        reports[0].replayed > 300,
        "resumed, not restarted: {:?}",
        reports[0]
    );
    assert!(
        replayed < app.event_count().await as u64,
        "the first 300 were not replayed again"
    );
    app.settle().await;
    assert_eq!(snapshot(&owner).await, live);
    assert_eq!(
        catalog(&owner).await,
        shape,
        "the same tables, indexes, policies and grants"
    );
    let leftover: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'crm_rebuild')",
    )
    .fetch_one(&owner)
    .await
    .unwrap();
    assert!(!leftover, "the shadow schema is gone");
    // Tenancy still holds on the switched-in tables.
    let other = app.signup("shadow-other").await;
    let none = app
        .as_(&other)
        .companies()
        .list("")
        .await
        .expect(StatusCode::OK);
    assert!(none.items.is_empty(), "{none:?}");
}

#[tokio::test]
async fn a_rebuild_whose_copies_no_longer_match_the_live_tables_is_refused_and_can_be_discarded() {
    use crm_projections::rebuild::{discard, prepare, rebuild_all, step};
    let app = spawn_app().await;
    let a = app.signup("shadow-drift").await;
    let crm = app.as_(&a);
    crm.companies()
        .create(&json!({"name": "Drift Co"}))
        .await
        .expect(StatusCode::CREATED);
    app.settle().await;
    let db = app.projector_db().await;
    let k = keyring();
    assert!(!prepare(&db).await.unwrap());
    step(&db, &k, 5).await.unwrap();
    // A migration changes a live read table while the rebuild is interrupted.
    let owner = app.pool_as(None).await;
    sqlx::query("ALTER TABLE companies ADD COLUMN added_later integer")
        .execute(&owner)
        .await
        .unwrap();
    let err = rebuild_all(&db, &k).await.unwrap_err();
    assert!(err.to_string().contains("no longer match"), "{err}");
    let page = crm.companies().list("").await.expect(StatusCode::OK);
    assert_eq!(
        page.items[0].name, "Drift Co",
        "the live tables still serve"
    );
    discard(&db).await.unwrap();
    rebuild_all(&db, &k).await.unwrap();
    app.settle().await;
    let page = crm.companies().list("").await.expect(StatusCode::OK);
    assert_eq!(page.items[0].name, "Drift Co");
    let kept: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'companies' AND column_name = 'added_later'",
    )
    .fetch_one(&owner)
    .await
    .unwrap();
    assert_eq!(kept, 1, "the rebuilt table has the new shape");
    // With no rebuild in progress, a replay step refuses rather than fall through to the
    // live tables.
    let err = step(&db, &k, 5).await.unwrap_err();
    assert!(err.to_string().contains("no rebuild in progress"), "{err}");
    let checkpoints: i64 =
        sqlx::query_scalar("SELECT count(*) FROM projector_checkpoints WHERE name = 'rebuild'")
            .fetch_one(&owner)
            .await
            .unwrap();
    assert_eq!(checkpoints, 0);
}
