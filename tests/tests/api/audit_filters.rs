//! `GET /v1/audit` filters and its 12-month default window; `GET /v1/audit/export` as
//! NDJSON and CSV.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, str_of, TestApp};

async fn entries(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let (status, page) = app
        .get(&format!("/v1/audit?limit=200&{query}"), token)
        .await;
    assert_eq!(status, StatusCode::OK, "{query}: {page}");
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn filters_narrow_the_trail_and_old_events_are_asked_for() {
    let app = spawn_app().await;
    let a = app.signup("audit-filter").await;
    let (_, c) = app
        .post("/v1/contacts", &a.token, json!({"first_name": "Grace"}))
        .await;
    let contact = str_of(&c["id"]);
    app.patch(
        &format!("/v1/contacts/{contact}"),
        &a.token,
        json!({"job_title": "Admiral"}),
    )
    .await;
    app.post("/v1/companies", &a.token, json!({"name": "Navy"}))
        .await;

    let all = entries(&app, &a.token, "").await;
    assert!(all.len() >= 4, "{all:?}");
    let contacts = entries(&app, &a.token, "entity_type=Contact").await;
    assert_eq!(contacts.len(), 2);
    assert!(contacts.iter().all(|e| e["entity_type"] == "Contact"));
    let one = entries(&app, &a.token, &format!("entity_id={contact}")).await;
    assert_eq!(one.len(), 2);
    assert!(one.iter().all(|e| e["entity_id"] == json!(contact)));
    let updates = entries(&app, &a.token, "event_type=ContactUpdated").await;
    assert_eq!(updates.len(), 1);
    assert_eq!(
        updates[0]["payload"]["ContactUpdated"]["job_title"],
        "Admiral"
    );
    let mine = entries(&app, &a.token, &format!("actor={}", a.owner)).await;
    assert!(mine.len() >= 3);
    let nobody = entries(&app, &a.token, &format!("actor={}", uuid::Uuid::new_v4())).await;
    assert!(nobody.is_empty());
    assert!(entries(&app, &a.token, "to=2000-01-01T00:00:00Z")
        .await
        .is_empty());

    // An event older than 12 months (backdated as the superuser) leaves the default
    // window but is still in the store and listed when asked for.
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
    let recent = entries(&app, &a.token, "").await;
    assert_eq!(recent.len(), all.len() - 1);
    assert!(recent.iter().all(|e| e["event_type"] != "CompanyCreated"));
    let old = entries(
        &app,
        &a.token,
        "from=2000-01-01T00:00:00Z&entity_type=Company",
    )
    .await;
    assert_eq!(old.len(), 1);
    assert_eq!(old[0]["event_type"], "CompanyCreated");

    // Bad filters are refused.
    for bad in [
        "entity_type=Spaceship",
        "entity_id=42",
        "from=yesterday",
        "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        "format=csv",
        "colour=blue",
    ] {
        let (status, _) = app.get(&format!("/v1/audit?{bad}"), &a.token).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    // Another workspace's entity id finds nothing here.
    let b = app.signup("audit-filter-b").await;
    assert!(entries(&app, &b.token, &format!("entity_id={contact}"))
        .await
        .is_empty());
}

async fn export(app: &TestApp, token: &str, query: &str) -> (StatusCode, String, String) {
    let res = app
        .request(
            Method::GET,
            &format!("/v1/audit/export?{query}"),
            Some(token),
            None,
        )
        .await;
    let status = res.status();
    let kind = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, res.text().await.unwrap())
}

#[tokio::test]
async fn the_trail_exports_as_ndjson_and_csv_with_the_same_filters() {
    let app = spawn_app().await;
    let a = app.signup("audit-export").await;
    for i in 0..3 {
        app.post(
            "/v1/contacts",
            &a.token,
            json!({"first_name": format!("=HYPERLINK({i})")}),
        )
        .await;
    }
    let listed = entries(&app, &a.token, "").await;

    let (status, kind, body) = export(&app, &a.token, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(kind, "application/x-ndjson");
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), listed.len());
    assert_eq!(lines[0]["position"], listed[0]["position"]);

    let (status, kind, body) = export(&app, &a.token, "format=csv&entity_type=Contact").await;
    assert_eq!(status, StatusCode::OK);
    assert!(kind.starts_with("text/csv"), "{kind}");
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    assert_eq!(&reader.headers().unwrap()[6], "event_type");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| &r[3] == "Contact"));
    // The payload is JSON text and never starts a formula.
    assert!(rows.iter().all(|r| r[16].starts_with('{')), "{rows:?}");

    let member = app
        .token_for(a.tenant, a.owner, crm_domain::Role::Member)
        .await;
    assert_eq!(export(&app, &member, "").await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        export(&app, &a.token, "format=xml").await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        export(&app, &a.token, "limit=5").await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}
