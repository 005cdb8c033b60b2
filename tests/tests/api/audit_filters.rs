//! `GET /v1/audit` filters and its 12-month default window; `GET /v1/audit/export` as
//! NDJSON and CSV.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::client::{AuditEntry, Client, Response};
use crate::helpers::spawn_app;

/// The entries `query` lists (up to 200).
async fn entries(crm: &Client<'_>, query: &str) -> Vec<AuditEntry> {
    crm.audit(&format!("limit=200&{query}"))
        .await
        .context(query)
        .expect(StatusCode::OK)
        .items
}

/// Grace (created, then made an admiral) and the company Navy; answers Grace's id.
async fn given_grace_and_navy(crm: &Client<'_>) -> Uuid {
    let grace = crm
        .contacts()
        .create(&json!({"first_name": "Grace"}))
        .await
        .expect(StatusCode::CREATED);
    crm.contacts()
        .update(grace.id, &json!({"job_title": "Admiral"}))
        .await
        .expect(StatusCode::OK);
    crm.companies()
        .create(&json!({"name": "Navy"}))
        .await
        .expect(StatusCode::CREATED);
    grace.id
}

#[tokio::test]
async fn filters_narrow_the_trail() {
    let app = spawn_app().await;
    let a = app.signup("audit-filter").await;
    let crm = app.as_(&a);
    let grace = given_grace_and_navy(&crm).await;

    let all = entries(&crm, "").await;
    assert!(all.len() >= 4, "{all:?}");
    let contacts = entries(&crm, "entity_type=Contact").await;
    assert_eq!(contacts.len(), 2);
    assert!(contacts.iter().all(|e| e.entity_type == "Contact"));
    let one = entries(&crm, &format!("entity_id={grace}")).await;
    assert_eq!(one.len(), 2);
    assert!(one.iter().all(|e| e.entity_id == grace.to_string()));
    let updates = entries(&crm, "event_type=ContactUpdated").await;
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].payload["ContactUpdated"]["job_title"], "Admiral");
    let mine = entries(&crm, &format!("actor={}", a.owner)).await;
    assert!(mine.len() >= 3);
    let nobody = entries(&crm, &format!("actor={}", Uuid::new_v4())).await;
    assert!(nobody.is_empty());
    assert!(entries(&crm, "to=2000-01-01T00:00:00Z").await.is_empty());
}

#[tokio::test]
async fn an_event_older_than_12_months_is_listed_only_when_asked_for() {
    let app = spawn_app().await;
    let a = app.signup("audit-window").await;
    let crm = app.as_(&a);
    given_grace_and_navy(&crm).await;
    let all = entries(&crm, "").await;

    // Backdated as the superuser: out of the default window, still in the store.
    let owner = app.pool_as(None).await;
    let mut tx = owner.begin().await.unwrap();
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE events SET recorded_at = now() - interval '2 years'
          WHERE tenant_id = $1 AND event_type = 'CompanyCreated'",
    )
    .bind(a.tenant)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let recent = entries(&crm, "").await;
    assert_eq!(recent.len(), all.len() - 1);
    assert!(recent.iter().all(|e| e.event_type != "CompanyCreated"));
    let old = entries(&crm, "from=2000-01-01T00:00:00Z&entity_type=Company").await;
    assert_eq!(old.len(), 1);
    assert_eq!(old[0].event_type, "CompanyCreated");
}

#[tokio::test]
async fn bad_audit_filters_are_refused() {
    let app = spawn_app().await;
    let a = app.signup("audit-bad").await;
    let crm = app.as_(&a);

    for bad in [
        "entity_type=Spaceship",
        "entity_id=42",
        "from=yesterday",
        "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        "format=csv",
        "colour=blue",
    ] {
        crm.audit(bad)
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[tokio::test]
async fn another_workspaces_entity_id_finds_nothing() {
    let app = spawn_app().await;
    let a = app.signup("audit-iso").await;
    let b = app.signup("audit-iso-b").await;
    let grace = given_grace_and_navy(&app.as_(&a)).await;

    let found = entries(&app.as_(&b), &format!("entity_id={grace}")).await;

    assert!(found.is_empty(), "{found:?}");
}

/// `GET /v1/audit/export?query`.
async fn export(crm: &Client<'_>, query: &str) -> Response<Value> {
    crm.get(&format!("/v1/audit/export?{query}")).await
}

/// Three contacts whose names look like formulas.
async fn given_three_contacts(crm: &Client<'_>) {
    for i in 0..3 {
        crm.contacts()
            .create(&json!({"first_name": format!("=HYPERLINK({i})")}))
            .await
            .expect(StatusCode::CREATED);
    }
}

#[tokio::test]
async fn the_trail_exports_as_ndjson_line_for_entry() {
    let app = spawn_app().await;
    let a = app.signup("audit-export").await;
    let crm = app.as_(&a);
    given_three_contacts(&crm).await;
    let listed = entries(&crm, "").await;

    let answer = export(&crm, "").await.expect_status(StatusCode::OK);

    assert_eq!(answer.header("content-type"), Some("application/x-ndjson"));
    let lines: Vec<AuditEntry> = answer
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), listed.len());
    assert_eq!(lines[0].position, listed[0].position);
}

#[tokio::test]
async fn the_trail_exports_as_csv_with_the_same_filters_and_no_formula() {
    let app = spawn_app().await;
    let a = app.signup("audit-csv").await;
    let crm = app.as_(&a);
    given_three_contacts(&crm).await;

    let table = export(&crm, "format=csv&entity_type=Contact")
        .await
        .expect_csv(StatusCode::OK);

    assert_eq!(&table.header[6], "event_type");
    assert_eq!(table.rows.len(), 3);
    assert!(table.rows.iter().all(|r| &r[3] == "Contact"));
    // The payload is JSON text and never starts a formula.
    assert!(
        table.rows.iter().all(|r| r[16].starts_with('{')),
        "{:?}",
        table.rows
    );
}

#[tokio::test]
async fn the_export_is_not_for_members_and_checks_its_parameters() {
    let app = spawn_app().await;
    let a = app.signup("audit-export-bad").await;
    let member = app
        .token_for(a.tenant, a.owner, crm_domain::Role::Member)
        .await;
    let crm = app.as_(&a);

    export(&app.as_(&member), "")
        .await
        .expect_problem(StatusCode::FORBIDDEN);
    export(&crm, "format=xml")
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    export(&crm, "limit=5")
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
}
