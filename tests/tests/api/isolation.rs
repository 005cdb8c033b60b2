//! Tenant isolation: a second workspace's token on every route with the first's ids, and
//! row-level security underneath.

use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{spawn_app, str_of, uuid_of};

#[tokio::test]
async fn another_workspace_sees_404_or_nothing_on_every_route() {
    let app = spawn_app().await;
    let a = app.signup("alpha").await;
    let b = app.signup("beta").await;
    let (status, company) = app
        .post(
            "/v1/companies",
            &a.token,
            json!({"name": "Secret Corp", "domain": "secret.example"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{company}");
    let company = uuid_of(&company["id"]);
    let (status, contact) = app.post("/v1/contacts", &a.token, json!({"first_name": "Hidden", "email": "hidden@secret.example", "company_id": company})).await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");
    let contact = uuid_of(&contact["id"]);
    let (status, deleted) = app
        .post("/v1/contacts", &a.token, json!({"first_name": "Gone"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{deleted}");
    let deleted = uuid_of(&deleted["id"]);
    // B's own rows that every list below must show (so an empty answer cannot pass), each
    // matching the same filters as A's.
    let (status, b_company) = app
        .post("/v1/companies", &b.token, json!({"name": "Secret Beta"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{b_company}");
    let (status, b_contact) = app
        .post(
            "/v1/contacts",
            &b.token,
            json!({"first_name": "Hidden", "last_name": "Gone"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{b_contact}");
    let b_ids = [str_of(&b_company["id"]), str_of(&b_contact["id"])];
    assert_eq!(
        app.delete(&format!("/v1/contacts/{deleted}"), &a.token)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let events_before = app.event_count().await;

    let body = Some(json!({"first_name": "Mallory"}));
    let company_body = Some(json!({"name": "Mallory"}));
    let cases: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, format!("/v1/companies/{company}"), None),
        (
            Method::PATCH,
            format!("/v1/companies/{company}"),
            company_body.clone(),
        ),
        (Method::DELETE, format!("/v1/companies/{company}"), None),
        (
            Method::POST,
            format!("/v1/companies/{company}/restore"),
            None,
        ),
        (Method::GET, format!("/v1/contacts/{contact}"), None),
        (
            Method::PATCH,
            format!("/v1/contacts/{contact}"),
            body.clone(),
        ),
        (Method::DELETE, format!("/v1/contacts/{contact}"), None),
        (
            Method::POST,
            format!("/v1/contacts/{deleted}/restore"),
            None,
        ),
        (Method::GET, format!("/v1/contacts/{deleted}"), None),
    ];
    for (method, path, body) in cases {
        let (status, response) = app.call(method.clone(), &path, Some(&b.token), body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {response}");
        assert!(
            !response.to_string().contains("Secret Corp")
                && !response.to_string().contains("Hidden")
        );
    }
    // A 404 for another tenant's id is byte-for-byte the 404 of an id that never existed.
    let (_, theirs) = app.get(&format!("/v1/contacts/{contact}"), &b.token).await;
    let (_, nobodys) = app
        .get(&format!("/v1/contacts/{}", Uuid::now_v7()), &b.token)
        .await;
    assert_eq!(theirs, nobodys);

    // Linking B's contact to A's company is refused as if the company did not exist.
    let (status, _) = app
        .post(
            "/v1/contacts",
            &b.token,
            json!({"first_name": "M", "company_id": company}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // The same email in another workspace is not a duplicate.
    let (status, _) = app
        .post(
            "/v1/contacts",
            &b.token,
            json!({"first_name": "Twin", "email": "hidden@secret.example"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // Lists, filters, deleted records and the audit trail show B nothing of A.
    for path in [
        "/v1/companies",
        "/v1/companies?q=secret",
        "/v1/companies?include_deleted=true",
        "/v1/contacts?q=hidden",
        "/v1/contacts?include_deleted=true&q=gone",
        &format!("/v1/contacts?company_id={company}"),
    ] {
        let (status, page) = app.get(path, &b.token).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        if !path.contains("company_id") {
            assert!(
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|item| b_ids.contains(&str_of(&item["id"]))),
                "{path} does not show B's own row: {page}"
            );
        }
        let a_ids = [
            company.to_string(),
            contact.to_string(),
            deleted.to_string(),
        ];
        for item in page["items"].as_array().unwrap() {
            assert!(
                !a_ids.contains(&item["id"].as_str().unwrap().to_owned()),
                "{path} shows A's row: {page}"
            );
        }
    }
    let (status, audit) = app.get("/v1/audit?limit=200", &b.token).await;
    assert_eq!(status, StatusCode::OK);
    for entry in audit["items"].as_array().unwrap() {
        assert_ne!(entry["entity_id"], json!(company.to_string()));
        assert_ne!(entry["entity_id"], json!(contact.to_string()));
        assert_ne!(entry["actor"], json!(a.owner.to_string()));
    }
    // B's attempts changed nothing of A's (B created one contact after the count).
    assert_eq!(app.event_count().await, events_before + 1);
    let (_, still) = app.get(&format!("/v1/contacts/{contact}"), &a.token).await;
    assert_eq!(still["first_name"], "Hidden");
    assert_eq!(still["version"], 1);
}

#[tokio::test]
async fn row_level_security_hides_other_tenants_rows_from_the_app_role() {
    let app = spawn_app().await;
    let a = app.signup("rls-a").await;
    let b = app.signup("rls-b").await;
    let (status, _) = app
        .post("/v1/companies", &a.token, json!({"name": "A Corp"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app
        .post("/v1/companies", &b.token, json!({"name": "B Corp"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
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
    let _ = a;
}

#[tokio::test]
async fn registries_are_row_level_secured_too() {
    let app = spawn_app().await;
    let a = app.signup("reg-a").await;
    let b = app.signup("reg-b").await;
    app.post(
        "/v1/contacts",
        &a.token,
        json!({"first_name": "Claimed", "email": "claimed@a.example"}),
    )
    .await;
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
