//! Rebuilding the read tables from events gives the same tables, row for row.

use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{data_file, keyring, spawn_app, uuid_of};

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
            app.post(
                "/v1/contacts",
                &ws.token,
                json!({"first_name": format!("Person {i}")}),
            )
            .await;
        }
    }
    // Damage both workspaces' read rows behind the projector's back.
    let owner = app.pool_as(None).await;
    sqlx::query("UPDATE contacts SET first_name = 'CORRUPT'")
        .execute(&owner)
        .await
        .unwrap();

    // Writes to the workspace keep coming while it rebuilds.
    let writer = {
        let (client, address, token) = (app.client.clone(), app.address.clone(), a.token.clone());
        tokio::spawn(async move {
            for i in 0..20 {
                let res = client
                    .post(format!("{address}/v1/contacts"))
                    .bearer_auth(&token)
                    .json(&json!({"first_name": format!("Late {i}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), reqwest::StatusCode::CREATED);
            }
        })
    };
    let mut reports = Vec::new();
    let scope = crm_store::TenantScope::for_system(crm_domain::TenantId(a.tenant));
    crm_projections::rebuild::rebuild_tenant(&app.projector_db().await, &keyring(), &scope, |p| {
        reports.push(p)
    })
    .await
    .unwrap();
    writer.await.unwrap();
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
    let (_, list) = app.get("/v1/contacts?limit=200", &a.token).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 25);

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

/// The shape of the read tables: columns, indexes (by name), policies, grants and
/// row-level security flags.
async fn catalog(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT x FROM (
           SELECT 'column ' || table_name || ' ' || ordinal_position || ' ' || column_name || ' '
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
    app.post_csv(
        "/v1/imports/companies",
        &a.token,
        data_file("companies.csv"),
    )
    .await;
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
    let (_, page) = app.get("/v1/companies?limit=200", &a.token).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(200));
    let (status, _) = app
        .post(
            "/v1/companies",
            &a.token,
            json!({"name": "Written during the rebuild"}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED);
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
    let (_, none) = app.get("/v1/companies", &other.token).await;
    assert_eq!(none["items"], json!([]));
}

#[tokio::test]
async fn a_rebuild_whose_copies_no_longer_match_the_live_tables_is_refused_and_can_be_discarded() {
    use crm_projections::rebuild::{discard, prepare, rebuild_all, step};
    let app = spawn_app().await;
    let a = app.signup("shadow-drift").await;
    app.post("/v1/companies", &a.token, json!({"name": "Drift Co"}))
        .await;
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
    let (_, page) = app.get("/v1/companies", &a.token).await;
    assert_eq!(
        page["items"][0]["name"], "Drift Co",
        "the live tables still serve"
    );
    discard(&db).await.unwrap();
    rebuild_all(&db, &k).await.unwrap();
    app.settle().await;
    let (_, page) = app.get("/v1/companies", &a.token).await;
    assert_eq!(page["items"][0]["name"], "Drift Co");
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
