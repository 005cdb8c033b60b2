//! Erasure inside the append-only store: personal fields are sealed in events with a
//! per-contact key, and erasing the contact destroys the key.

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{fresh_database, keyring, spawn_app, str_of, test_settings, TestApp};
use crm_api::cli::{execute, CliError, Command};

/// Distinctive pieces of the erased person's data: none may be found anywhere afterwards.
const SECRETS: [&str; 4] = ["Quillfeather", "Zebulon", "7946 0123", "Zoologist"];

fn contains_secret(text: &str) -> Option<&'static str> {
    let lower = text.to_lowercase();
    SECRETS
        .into_iter()
        .find(|s| lower.contains(&s.to_lowercase()))
}

async fn text_of(app: &TestApp, path: &str, token: &str) -> (StatusCode, String) {
    let res = app
        .client
        .get(format!("{}{path}", app.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (res.status(), res.text().await.unwrap())
}

/// Every row of every table of the database, as text (bytea columns decoded as UTF-8
/// where they are), in which `needle` occurs: `(table, count)`.
async fn rows_holding(owner: &PgPool, needle: &str) -> Vec<(String, i64)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )
    .fetch_all(owner)
    .await
    .unwrap();
    let mut found = Vec::new();
    for table in tables {
        let count: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {table} t WHERE t::text ILIKE '%' || $1 || '%'"
        ))
        .bind(needle)
        .fetch_one(owner)
        .await
        .unwrap();
        if count > 0 {
            found.push((table, count));
        }
    }
    // Stored answers are bytes: t::text shows them as hex, so look inside them too.
    let answers: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM idempotency_keys
          WHERE lower(convert_from(coalesce(body, ''::bytea), 'UTF8')) LIKE '%' || lower($1) || '%'",
    )
    .bind(needle)
    .fetch_one(owner)
    .await
    .unwrap();
    if answers > 0 {
        found.push(("idempotency_keys.body".into(), answers));
    }
    found
}

struct Subject {
    id: String,
    control: String,
}

/// A workspace with the subject (created with an Idempotency-Key, then edited) and a
/// control contact that must stay readable.
async fn seed(app: &TestApp, token: &str) -> Subject {
    let (_, company) = app
        .post("/v1/companies", token, json!({"name": "Menagerie Ltd"}))
        .await;
    let res = app
        .client
        .post(format!("{}/v1/contacts", app.address))
        .bearer_auth(token)
        .header("idempotency-key", "create-subject")
        .json(&json!({
            "first_name": "Zebulon", "last_name": "Quillfeather",
            "email": "z.quillfeather@erasure.example", "phone": "+44 20 7946 0123",
            "company_id": company["id"], "tags": ["vip"]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let subject: Value = res.json().await.unwrap();
    let id = str_of(&subject["id"]);
    let (status, _) = app
        .patch(
            &format!("/v1/contacts/{id}"),
            token,
            json!({"job_title": "Chief Zoologist"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, control) = app
        .post(
            "/v1/contacts",
            token,
            json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@erasure.example"}),
        )
        .await;
    Subject {
        id,
        control: str_of(&control["id"]),
    }
}

#[tokio::test]
async fn an_erased_contact_is_unreadable_everywhere_and_its_chain_still_verifies() {
    let app = spawn_app().await;
    let a = app.signup("erasure").await;
    let t = &a.token;
    let s = seed(&app, t).await;
    let owner = app.pool_as(None).await;

    // Before: readable through the API, but never stored in clear in the events.
    let (_, before) = app.get(&format!("/v1/contacts/{}", s.id), t).await;
    assert_eq!(before["last_name"], "Quillfeather");
    assert_eq!(before["erased_at"], Value::Null);
    let (_, history) = text_of(&app, &format!("/v1/contacts/{}/history", s.id), t).await;
    assert!(history.contains("Chief Zoologist"), "{history}");
    let (_, audit) = text_of(&app, "/v1/audit?entity_type=Contact", t).await;
    assert!(audit.contains("Quillfeather"), "{audit}");
    let raw: Vec<String> =
        sqlx::query_scalar("SELECT payload::text FROM events WHERE aggregate_type = 'Contact'")
            .fetch_all(&owner)
            .await
            .unwrap();
    assert!(raw.iter().any(|p| p.contains("\"sealed\"")));
    for payload in &raw {
        assert_eq!(contains_secret(payload), None, "stored in clear: {payload}");
        assert!(!payload.contains("Lovelace"), "stored in clear: {payload}");
    }
    // The stored idempotent answer does hold the data (so the scan below means something).
    assert!(rows_holding(&owner, "Quillfeather")
        .await
        .iter()
        .any(|(t, _)| t == "idempotency_keys.body"));

    // Who may erase, and with what.
    let erase = format!("/v1/contacts/{}/erase", s.id);
    let admin = app
        .token_for(a.tenant, uuid::Uuid::now_v7(), crm_domain::Role::Admin)
        .await;
    let other = app.signup("erasure-other").await;
    let events = app.event_count().await;
    let (status, _) = app.post(&erase, &admin, json!({"reason": "DSR-1"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.post(&erase, t, json!({"reason": "  "})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app.post(&erase, t, json!({"why": "DSR-1"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "an unknown field");
    let (status, _) = app
        .post(&erase, &other.token, json!({"reason": "DSR-1"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another workspace's contact");
    assert_eq!(app.event_count().await, events, "a refused erasure wrote");

    // A stale If-Match (the contact is at version 2) is a 412 and erases nothing.
    let res = app
        .client
        .post(format!("{}{erase}", app.address))
        .bearer_auth(t)
        .header("if-match", "\"1\"")
        .json(&json!({"reason": "DSR-stale"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(app.event_count().await, events, "a stale erasure wrote");
    let (status, erased) = app
        .post(&erase, t, json!({"reason": "DSR-2026-0042"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{erased}");
    assert_ne!(erased["erased_at"], Value::Null);
    for field in ["first_name", "last_name", "email", "phone", "job_title"] {
        assert_eq!(erased[field], Value::Null, "{field}");
    }
    assert_eq!(
        erased["tags"],
        json!(["vip"]),
        "the workspace's own data stays"
    );
    let (status, _) = app.post(&erase, t, json!({"reason": "again"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app
        .patch(
            &format!("/v1/contacts/{}", s.id),
            t,
            json!({"first_name": "Zebulon"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "personal data cannot come back"
    );
    app.settle().await;

    // After: nowhere in the API.
    let paths = [
        format!("/v1/contacts/{}", s.id),
        format!("/v1/contacts/{}?version=2", s.id),
        format!("/v1/contacts/{}/history", s.id),
        format!("/v1/contacts/{}/export", s.id),
        "/v1/contacts?q=quillfeather".to_owned(),
        "/v1/contacts?include_deleted=true".to_owned(),
        "/v1/audit?entity_type=Contact".to_owned(),
        "/v1/audit/export?format=ndjson".to_owned(),
        "/v1/audit/export?format=csv".to_owned(),
        "/v1/exports/contacts".to_owned(),
    ];
    for path in &paths {
        let (status, body) = text_of(&app, path, t).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(
            contains_secret(&body),
            None,
            "{path} shows erased data: {body}"
        );
    }
    let (_, found) = app.get("/v1/contacts?q=quillfeather", t).await;
    assert_eq!(found["items"], json!([]));
    let (_, history) = app.get(&format!("/v1/contacts/{}/history", s.id), t).await;
    let versions = history["items"].as_array().unwrap();
    let last = versions.last().unwrap();
    assert_eq!(last["event_type"], "ContactErased");
    assert_eq!(last["reason"], "erasure: DSR-2026-0042");
    assert_eq!(versions[0]["personal_data"], "erased");
    let (_, audit) = app.get(&format!("/v1/audit?entity_id={}", s.id), t).await;
    let created = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "ContactCreated")
        .unwrap();
    assert_eq!(
        created["payload"]["ContactCreated"]["personal_data"],
        "erased"
    );
    assert_eq!(created["payload"]["ContactCreated"]["tags"], json!(["vip"]));

    // Nowhere in the database, in any table.
    for secret in SECRETS {
        assert_eq!(
            rows_holding(&owner, secret).await,
            vec![],
            "{secret} is still stored"
        );
    }
    let (tombstone,): (Option<Vec<u8>>,) =
        sqlx::query_as("SELECT wrapped FROM contact_keys WHERE contact_id = $1::uuid")
            .bind(&s.id)
            .fetch_one(&owner)
            .await
            .unwrap();
    assert_eq!(tombstone, None, "the data key is destroyed");

    // The trail is whole: the erasure is an event, and the chain still verifies.
    let (status, report) = app.get("/v1/audit/verify", t).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["intact"], true, "{report}");

    // The control contact is untouched, and the erased email is free again.
    let (_, ada) = app.get(&format!("/v1/contacts/{}", s.control), t).await;
    assert_eq!(ada["last_name"], "Lovelace");
    let (status, _) = app
        .post(
            "/v1/contacts",
            t,
            json!({"first_name": "New", "email": "z.quillfeather@erasure.example"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn erasure_survives_a_rebuild_and_a_backup_and_restore() {
    let app = spawn_app().await;
    let a = app.signup("erasure-backup").await;
    let t = &a.token;
    let s = seed(&app, t).await;
    let (status, _) = app
        .post(
            &format!("/v1/contacts/{}/erase", s.id),
            t,
            json!({"reason": "DSR-7"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    app.settle().await;

    // A full rebuild replays the sealed events: the subject stays erased, the control
    // contact's data comes back from its key.
    crm_projections::rebuild::rebuild_all(&app.projector_db().await, &keyring())
        .await
        .unwrap();
    app.settle().await;
    let (_, subject) = app.get(&format!("/v1/contacts/{}", s.id), t).await;
    assert_eq!(subject["last_name"], Value::Null);
    assert_ne!(subject["erased_at"], Value::Null);
    let (_, ada) = app.get(&format!("/v1/contacts/{}", s.control), t).await;
    assert_eq!(ada["email"], "ada@erasure.example");

    // A backup holds the control's wrapped key but nothing of the subject.
    let file = std::env::temp_dir().join(format!("crm-erasure-{}.ndjson", uuid::Uuid::new_v4()));
    execute(
        test_settings(&app.db_name),
        Command::ExportWorkspace {
            slug: "erasure-backup".into(),
            file: file.clone(),
        },
    )
    .await
    .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(contains_secret(&text), None, "the backup holds erased data");
    assert!(
        !text.contains("Lovelace"),
        "the backup holds clear personal data"
    );
    assert_eq!(text.matches("\"contact_key\"").count(), 1, "one live key");

    // Restored under another master key: refused at the key line, nothing written.
    let elsewhere = fresh_database().await;
    let mut wrong = test_settings(&elsewhere);
    wrong.personal_data.master_key = Some(secrecy::SecretString::from(
        "b3RoZXIta2V5LW90aGVyLWtleS1vdGhlci1rZXktMDA=",
    ));
    let err = execute(
        wrong,
        Command::ImportWorkspace {
            file: file.clone(),
            allow_unsigned: false,
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, CliError::Damaged { line: 2, .. }), "{err}");
    let elsewhere_app = TestApp {
        address: String::new(),
        db_name: elsewhere.clone(),
        client: reqwest::Client::new(),
    };
    assert_eq!(elsewhere_app.event_count().await, 0);

    // Restored under the same master key: the control reads, the subject stays erased.
    let target = fresh_database().await;
    execute(
        test_settings(&target),
        Command::ImportWorkspace {
            file: file.clone(),
            allow_unsigned: false,
        },
    )
    .await
    .unwrap();
    let restored = TestApp {
        address: String::new(),
        db_name: target,
        client: reqwest::Client::new(),
    }
    .second_server(|_| {}, std::sync::Arc::new(crm_app::clock::SystemClock))
    .await;
    let token = restored
        .token_for(a.tenant, a.owner, crm_domain::Role::Owner)
        .await;
    let (_, subject) = restored
        .get(&format!("/v1/contacts/{}", s.id), &token)
        .await;
    assert_eq!(subject["first_name"], Value::Null);
    assert_ne!(subject["erased_at"], Value::Null);
    let (_, ada) = restored
        .get(&format!("/v1/contacts/{}", s.control), &token)
        .await;
    assert_eq!(ada["last_name"], "Lovelace");
    let (_, report) = restored.get("/v1/audit/verify", &token).await;
    assert_eq!(report["intact"], true, "{report}");
    let _ = std::fs::remove_file(file);
}

#[tokio::test]
async fn data_written_in_clear_before_sealing_existed_is_hidden_once_erased() {
    let app = spawn_app().await;
    let a = app.signup("erasure-legacy").await;
    let t = &a.token;
    let (_, company) = app
        .post("/v1/companies", t, json!({"name": "Legacy Ltd"}))
        .await;
    // A contact stream as a store without sealing wrote it: the fields in clear (the
    // metadata is borrowed from the company's creation).
    let owner = app.pool_as(None).await;
    let contact = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         SELECT 'Contact', $1, 1, 'ContactCreated', '1.0', $2, metadata FROM events
          WHERE aggregate_id = $3",
    )
    .bind(format!("{}:{contact}", a.tenant))
    .bind(json!({"ContactCreated": {"first_name": "Zebulon", "last_name": "Quillfeather", "email": null, "phone": null, "job_title": null, "company_id": null, "tags": []}}))
    .bind(format!("{}:{}", a.tenant, str_of(&company["id"])))
    .execute(&owner)
    .await
    .unwrap();
    app.settle().await;
    let (_, before) = app.get(&format!("/v1/contacts/{contact}"), t).await;
    assert_eq!(before["last_name"], "Quillfeather", "readable until erased");

    let (status, body) = app
        .post(
            &format!("/v1/contacts/{contact}/erase"),
            t,
            json!({"reason": "DSR-legacy"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.settle().await;
    for path in [
        format!("/v1/contacts/{contact}"),
        format!("/v1/contacts/{contact}/history"),
        format!("/v1/contacts/{contact}?version=1"),
        "/v1/audit/export?format=ndjson".to_owned(),
    ] {
        let (status, text) = text_of(&app, &path, t).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(contains_secret(&text), None, "{path}: {text}");
    }
    // A rebuild does not bring it back either.
    crm_projections::rebuild::rebuild_all(&app.projector_db().await, &keyring())
        .await
        .unwrap();
    app.settle().await;
    let (_, after) = app.get(&format!("/v1/contacts/{contact}"), t).await;
    assert_eq!(after["last_name"], Value::Null);
}

#[tokio::test]
async fn a_server_with_another_master_key_refuses_to_start() {
    let app = spawn_app().await;
    let mut settings = test_settings(&app.db_name);
    settings.personal_data.master_key = Some(secrecy::SecretString::from(
        "b3RoZXIta2V5LW90aGVyLWtleS1vdGhlci1rZXktMDA=",
    ));
    let started = crm_api::startup::Application::build(settings).await;
    let err = started.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.contains("master_key"),
        "started, or failed otherwise: {err}"
    );
}
