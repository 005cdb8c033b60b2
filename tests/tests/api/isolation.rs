//! Tenant isolation: a second workspace's token on every route with the first's ids, and
//! row-level security underneath.

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::client::{Company, Contact};
use crate::helpers::{spawn_app, TestApp, Workspace};

/// Workspace A with a company "Secret Corp", a contact "Hidden" of it and a deleted
/// contact "Gone"; workspace B with rows of its own that match the same searches (so an
/// empty list cannot pass for an isolated one).
struct TwoWorkspaces {
    a: Workspace,
    b: Workspace,
    company: Company,
    contact: Contact,
    deleted: Contact,
    b_ids: [Uuid; 2],
}

impl TwoWorkspaces {
    fn a_ids(&self) -> [Uuid; 3] {
        [self.company.id, self.contact.id, self.deleted.id]
    }
}

async fn given_two_workspaces(app: &TestApp) -> TwoWorkspaces {
    let a = app.signup("alpha").await;
    let b = app.signup("beta").await;
    let (as_a, as_b) = (app.as_(&a), app.as_(&b));
    let created = StatusCode::CREATED;
    let company = as_a
        .companies()
        .create(&json!({"name": "Secret Corp", "domain": "secret.example"}))
        .await
        .expect(created);
    let contact = as_a
        .contacts()
        .create(&json!({"first_name": "Hidden", "email": "hidden@secret.example", "company_id": company.id}))
        .await
        .expect(created);
    let deleted = as_a
        .contacts()
        .create(&json!({"first_name": "Gone"}))
        .await
        .expect(created);
    as_a.contacts()
        .delete(deleted.id)
        .await
        .expect(StatusCode::NO_CONTENT);
    let b_company = as_b
        .companies()
        .create(&json!({"name": "Secret Beta"}))
        .await
        .expect(created);
    let b_contact = as_b
        .contacts()
        .create(&json!({"first_name": "Hidden", "last_name": "Gone"}))
        .await
        .expect(created);
    TwoWorkspaces {
        a,
        b,
        company,
        contact,
        deleted,
        b_ids: [b_company.id, b_contact.id],
    }
}

#[tokio::test]
async fn another_workspace_gets_404_on_every_record_route_and_changes_nothing() {
    let app = spawn_app().await;
    let w = given_two_workspaces(&app).await;
    let events_before = app.event_count().await;
    let as_b = app.as_(&w.b);
    let (companies, contacts) = (as_b.companies(), as_b.contacts());
    let (company, contact, deleted) = (w.company.id, w.contact.id, w.deleted.id);

    let answers = [
        companies.get(company).await.untyped(),
        companies
            .update(company, &json!({"name": "Mallory"}))
            .await
            .untyped(),
        companies.delete(company).await.untyped(),
        companies.restore(company).await.untyped(),
        contacts.get(contact).await.untyped(),
        contacts
            .update(contact, &json!({"first_name": "Mallory"}))
            .await
            .untyped(),
        contacts.delete(contact).await.untyped(),
        contacts.restore(deleted).await.untyped(),
        contacts.get(deleted).await.untyped(),
    ];

    for answer in answers {
        let text = answer.text().to_owned();
        answer.expect_problem(StatusCode::NOT_FOUND);
        assert!(
            !text.contains("Secret Corp") && !text.contains("Hidden"),
            "a 404 leaked data: {text}"
        );
    }
    assert_eq!(app.event_count().await, events_before);
    let still = app
        .as_(&w.a)
        .contacts()
        .get(contact)
        .await
        .expect(StatusCode::OK);
    assert_eq!(still.first_name.as_deref(), Some("Hidden"));
    assert_eq!(still.version, 1);
}

#[tokio::test]
async fn another_workspace_gets_the_very_404_of_an_id_that_never_existed() {
    let app = spawn_app().await;
    let w = given_two_workspaces(&app).await;
    let as_b = app.as_(&w.b);
    let contacts = as_b.contacts();

    let theirs = contacts
        .get(w.contact.id)
        .await
        .expect_status(StatusCode::NOT_FOUND);
    let nobodys = contacts
        .get(Uuid::now_v7())
        .await
        .expect_status(StatusCode::NOT_FOUND);

    assert_eq!(theirs.text(), nobodys.text(), "byte for byte");
}

#[tokio::test]
async fn another_workspace_cannot_link_our_company_but_may_reuse_our_contacts_email() {
    let app = spawn_app().await;
    let w = given_two_workspaces(&app).await;
    let as_b = app.as_(&w.b);

    // Linking B's contact to A's company is refused as if the company did not exist.
    as_b.contacts()
        .create(&json!({"first_name": "M", "company_id": w.company.id}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    // The same email in another workspace is not a duplicate.
    as_b.contacts()
        .create(&json!({"first_name": "Twin", "email": "hidden@secret.example"}))
        .await
        .expect(StatusCode::CREATED);
}

#[tokio::test]
async fn another_workspace_lists_only_its_own_rows_whatever_the_filter() {
    let app = spawn_app().await;
    let w = given_two_workspaces(&app).await;
    let as_b = app.as_(&w.b);

    let mut listed: Vec<(String, Vec<Uuid>)> = Vec::new();
    for query in ["", "q=secret", "include_deleted=true"] {
        let page = as_b.companies().list(query).await.expect(StatusCode::OK);
        listed.push((format!("companies?{query}"), page.map(|c| c.id)));
    }
    for query in ["q=hidden", "include_deleted=true&q=gone"] {
        let page = as_b.contacts().list(query).await.expect(StatusCode::OK);
        listed.push((format!("contacts?{query}"), page.map(|c| c.id)));
    }
    let by_a_company = as_b
        .contacts()
        .list(&format!("company_id={}", w.company.id))
        .await
        .expect(StatusCode::OK);

    for (list, ids) in &listed {
        assert!(
            ids.iter().any(|id| w.b_ids.contains(id)),
            "{list} does not show B's own row: {ids:?}"
        );
        assert!(
            ids.iter().all(|id| !w.a_ids().contains(id)),
            "{list} shows A's row: {ids:?}"
        );
    }
    assert!(by_a_company.items.is_empty(), "{by_a_company:?}");
}

#[tokio::test]
async fn another_workspace_reads_none_of_our_audit_trail() {
    let app = spawn_app().await;
    let w = given_two_workspaces(&app).await;

    let audit = app
        .as_(&w.b)
        .audit("limit=200")
        .await
        .expect(StatusCode::OK);

    assert!(!audit.items.is_empty(), "B's own events are missing");
    for entry in &audit.items {
        assert_ne!(entry.entity_id, w.company.id.to_string());
        assert_ne!(entry.entity_id, w.contact.id.to_string());
        assert_ne!(entry.actor, Some(w.a.owner.to_string()));
    }
}

#[tokio::test]
async fn row_level_security_hides_other_tenants_rows_from_the_app_role() {
    let app = spawn_app().await;
    let a = app.signup("rls-a").await;
    let b = app.signup("rls-b").await;
    for (ws, name) in [(&a, "A Corp"), (&b, "B Corp")] {
        app.as_(ws)
            .companies()
            .create(&json!({ "name": name }))
            .await
            .expect(StatusCode::CREATED);
    }
    let pool = app.pool_as(Some("crm_app")).await;

    // No tenant set: nothing at all, not even with an explicit filter.
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM companies")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 0);

    // B's tenant set: a query that forgets its filter still sees only B's rows.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(b.tenant.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM companies")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(names, vec!["B Corp".to_owned()]);
    let tenants: Vec<Uuid> = sqlx::query_scalar("SELECT DISTINCT tenant_id FROM events")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(tenants, vec![b.tenant]);
    tx.commit().await.unwrap();

    // The setting is transaction-local: the pooled connection does not keep it.
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 0);

    // The app role cannot write read models or bypass the policies.
    let err = sqlx::query("UPDATE companies SET name = 'x'")
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    let bypass: bool =
        sqlx::query_scalar("SELECT rolbypassrls FROM pg_roles WHERE rolname = 'crm_app'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(!bypass);
    let owns: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tableowner = 'crm_app'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(owns, 0);
}

#[tokio::test]
async fn registries_are_row_level_secured_too() {
    let app = spawn_app().await;
    let a = app.signup("reg-a").await;
    let b = app.signup("reg-b").await;
    app.as_(&a)
        .contacts()
        .create(&json!({"first_name": "Claimed", "email": "claimed@a.example"}))
        .await
        .expect(StatusCode::CREATED);
    let pool = app.pool_as(Some("crm_app")).await;
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(b.tenant.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    for (table, expected) in [
        ("credentials", 1_i64),
        ("workspace_slugs", 1),
        ("contact_emails", 0),
    ] {
        let tenants: Vec<Uuid> = sqlx::query_scalar(&format!("SELECT tenant_id FROM {table}"))
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        assert_eq!(tenants.len() as i64, expected, "{table}");
        assert!(
            tenants.iter().all(|t| *t == b.tenant),
            "{table} shows another tenant"
        );
    }
    // B cannot take or drop A's claim: the rows are invisible to its writes.
    let deleted = sqlx::query("DELETE FROM contact_emails")
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(deleted, 0);
    let err = sqlx::query(
        "INSERT INTO contact_emails (tenant_id, email, contact_id) VALUES ($1, 'x@y.example', $2)",
    )
    .bind(a.tenant)
    .bind(Uuid::now_v7())
    .execute(&mut *tx)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("row-level security"), "{err}");
}
