//! Erasure inside the append-only store: personal fields are sealed in events with a
//! per-contact key, and erasing the contact destroys the key.

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use crate::client::Client;
use crate::helpers::{fresh_database, keyring, spawn_app, test_settings, TestApp};
use crm_api::cli::{execute, CliError, Command};

/// Distinctive pieces of the erased person's data: none may be found anywhere afterwards.
const SECRETS: [&str; 4] = ["Quillfeather", "Zebulon", "7946 0123", "Zoologist"];

fn contains_secret(text: &str) -> Option<&'static str> {
    let lower = text.to_lowercase();
    SECRETS
        .into_iter()
        .find(|s| lower.contains(&s.to_lowercase()))
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

/// The erased person (created with an Idempotency-Key, then edited, so at version 2) and
/// a control contact that must stay readable.
struct Subject {
    id: Uuid,
    control: Uuid,
}

async fn seed(crm: &Client<'_>) -> Subject {
    let company = crm
        .companies()
        .create(&json!({"name": "Menagerie Ltd"}))
        .await
        .expect(StatusCode::CREATED);
    let subject = crm
        .with_header("idempotency-key", "create-subject")
        .contacts()
        .create(&json!({
            "first_name": "Zebulon", "last_name": "Quillfeather",
            "email": "z.quillfeather@erasure.example", "phone": "+44 20 7946 0123",
            "company_id": company.id, "tags": ["vip"]
        }))
        .await
        .expect(StatusCode::CREATED);
    crm.contacts()
        .update(subject.id, &json!({"job_title": "Chief Zoologist"}))
        .await
        .expect(StatusCode::OK);
    let control = crm
        .contacts()
        .create(
            &json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@erasure.example"}),
        )
        .await
        .expect(StatusCode::CREATED);
    Subject {
        id: subject.id,
        control: control.id,
    }
}

/// The seeded subject, erased for "DSR-2026-0042", the projections settled.
async fn given_an_erased_subject(app: &TestApp, crm: &Client<'_>) -> Subject {
    let s = seed(crm).await;
    crm.contacts()
        .erase(s.id, &json!({"reason": "DSR-2026-0042"}))
        .await
        .expect(StatusCode::OK);
    app.settle().await;
    s
}

#[tokio::test]
async fn personal_data_reads_through_the_api_but_is_never_stored_in_clear() {
    let app = spawn_app().await;
    let a = app.signup("erasure").await;
    let crm = app.as_(&a);
    let s = seed(&crm).await;
    let owner = app.pool_as(None).await;

    let before = crm.contacts().get(s.id).await.expect(StatusCode::OK);
    assert_eq!(before.last_name.as_deref(), Some("Quillfeather"));
    assert_eq!(before.erased_at, None);
    let history = crm
        .contacts()
        .history(s.id)
        .await
        .expect_text(StatusCode::OK);
    assert!(history.contains("Chief Zoologist"), "{history}");
    let audit = crm
        .audit("entity_type=Contact")
        .await
        .expect_text(StatusCode::OK);
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
    // The stored idempotent answer does hold the data (so the scans after an erasure
    // mean something).
    assert!(rows_holding(&owner, "Quillfeather")
        .await
        .iter()
        .any(|(t, _)| t == "idempotency_keys.body"));
}

#[tokio::test]
async fn only_an_owner_erases_with_a_reason_at_the_current_version() {
    let app = spawn_app().await;
    let a = app.signup("erasure-who").await;
    let crm = app.as_(&a);
    let s = seed(&crm).await;
    let admin = app
        .token_for(a.tenant, Uuid::now_v7(), crm_domain::Role::Admin)
        .await;
    let other = app.signup("erasure-other").await;
    let events = app.event_count().await;
    let dsr = json!({"reason": "DSR-1"});

    app.as_(&admin)
        .contacts()
        .erase(s.id, &dsr)
        .await
        .expect_problem(StatusCode::FORBIDDEN);
    crm.contacts()
        .erase(s.id, &json!({"reason": "  "}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    crm.contacts()
        .erase(s.id, &json!({"why": "DSR-1"}))
        .await
        .context("an unknown field")
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.as_(&other)
        .contacts()
        .erase(s.id, &dsr)
        .await
        .context("another workspace's contact")
        .expect_problem(StatusCode::NOT_FOUND);
    // The contact is at version 2.
    crm.if_version(1)
        .contacts()
        .erase(s.id, &json!({"reason": "DSR-stale"}))
        .await
        .expect_problem(StatusCode::PRECONDITION_FAILED);

    assert_eq!(app.event_count().await, events, "a refused erasure wrote");
}

#[tokio::test]
async fn an_erased_contact_keeps_only_the_workspaces_own_data_for_good() {
    let app = spawn_app().await;
    let a = app.signup("erasure-fields").await;
    let crm = app.as_(&a);
    let s = seed(&crm).await;

    let erased = crm
        .contacts()
        .erase(s.id, &json!({"reason": "DSR-2026-0042"}))
        .await
        .expect(StatusCode::OK);

    assert!(erased.erased_at.is_some());
    let personal = [
        &erased.first_name,
        &erased.last_name,
        &erased.email,
        &erased.phone,
        &erased.job_title,
    ];
    assert!(personal.iter().all(|f| f.is_none()), "{erased:?}");
    assert_eq!(erased.tags, ["vip"], "the workspace's own data stays");
    crm.contacts()
        .erase(s.id, &json!({"reason": "again"}))
        .await
        .expect_problem(StatusCode::CONFLICT);
    crm.contacts()
        .update(s.id, &json!({"first_name": "Zebulon"}))
        .await
        .context("personal data cannot come back")
        .expect_problem(StatusCode::CONFLICT);
}

#[tokio::test]
async fn an_erased_contact_is_unreadable_everywhere_in_the_api() {
    let app = spawn_app().await;
    let a = app.signup("erasure-api").await;
    let crm = app.as_(&a);
    let s = given_an_erased_subject(&app, &crm).await;

    for path in [
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
    ] {
        let body = crm.get::<Value>(&path).await.expect_text(StatusCode::OK);
        assert_eq!(
            contains_secret(&body),
            None,
            "{path} shows erased data: {body}"
        );
    }
    let found = crm
        .contacts()
        .list("q=quillfeather")
        .await
        .expect(StatusCode::OK);
    assert!(found.items.is_empty(), "{found:?}");
}

#[tokio::test]
async fn the_history_and_the_trail_record_the_erasure_and_hide_what_was_erased() {
    let app = spawn_app().await;
    let a = app.signup("erasure-trail").await;
    let crm = app.as_(&a);
    let s = given_an_erased_subject(&app, &crm).await;

    let history = crm.contacts().history(s.id).await.expect(StatusCode::OK);
    let last = history.items.last().unwrap();
    assert_eq!(last.event_type, "ContactErased");
    assert_eq!(last.reason.as_deref(), Some("erasure: DSR-2026-0042"));
    assert_eq!(history.items[0].personal_data.as_deref(), Some("erased"));

    let audit = crm
        .audit(&format!("entity_id={}", s.id))
        .await
        .expect(StatusCode::OK);
    let created = audit
        .items
        .iter()
        .find(|e| e.event_type == "ContactCreated")
        .unwrap_or_else(|| panic!("no ContactCreated in {audit:?}"));
    assert_eq!(created.payload["ContactCreated"]["personal_data"], "erased");
    assert_eq!(created.payload["ContactCreated"]["tags"], json!(["vip"]));

    // The erasure is an event, and the chain still verifies.
    let report = crm.audit_verify().await.expect(StatusCode::OK);
    assert!(report.intact, "{report:?}");
}

#[tokio::test]
async fn an_erased_contact_is_nowhere_in_the_database_and_its_key_is_destroyed() {
    let app = spawn_app().await;
    let a = app.signup("erasure-db").await;
    let crm = app.as_(&a);
    let s = given_an_erased_subject(&app, &crm).await;
    let owner = app.pool_as(None).await;

    for secret in SECRETS {
        assert_eq!(
            rows_holding(&owner, secret).await,
            vec![],
            "{secret} is still stored"
        );
    }
    let (tombstone,): (Option<Vec<u8>>,) =
        sqlx::query_as("SELECT wrapped FROM contact_keys WHERE contact_id = $1")
            .bind(s.id)
            .fetch_one(&owner)
            .await
            .unwrap();
    assert_eq!(tombstone, None, "the data key is destroyed");
}

#[tokio::test]
async fn an_erasure_blanks_the_contact_out_of_stored_import_reports() {
    let app = spawn_app().await;
    let a = app.signup("erasure-import").await;
    let crm = app.as_(&a);
    let s = seed(&crm).await;
    let report = crm
        .import(
            "contacts",
            "",
            b"First Name,Last Name,Company name\nZebulon,Quillfeather,Menagerie Ltd\n",
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(report.skipped_duplicates, 1, "{report:?}");
    let before = crm
        .import_job(report.import_id)
        .await
        .expect(StatusCode::OK);
    let note = &before.report.expect("a report").duplicates[0];
    assert!(note.message.contains("Zebulon Quillfeather"), "{note:?}");

    crm.contacts()
        .erase(s.id, &json!({"reason": "DSR-2026-0043"}))
        .await
        .expect(StatusCode::OK);
    app.settle().await;

    let after = crm
        .import_job(report.import_id)
        .await
        .expect(StatusCode::OK);
    assert_eq!(after.skipped_duplicates, 1);
    let kept = after.report.expect("the report stays");
    assert_eq!(kept.duplicates.len(), 1);
    assert_eq!(kept.duplicates[0].row, 1);
    assert!(
        kept.duplicates[0].message.contains("[erased]"),
        "{:?}",
        kept.duplicates[0]
    );
    let owner = app.pool_as(None).await;
    for secret in SECRETS {
        assert_eq!(
            rows_holding(&owner, secret).await,
            vec![],
            "{secret} is still stored"
        );
    }
}

#[tokio::test]
async fn blanking_a_report_keeps_it_valid_json_whatever_the_needle() {
    let app = spawn_app().await;
    let owner = app.pool_as(None).await;
    // A tab is written `\t` in JSON's text, so "tom Lee" would match inside the escape if
    // the text were edited (and leave `\[erased]`, not JSON); ':' and '0,' would match
    // its structure. Only string values are searched, case-insensitively.
    let (blanked,): (Value,) = sqlx::query_as(
        "SELECT crm_blank_out($1, ARRAY['tom Lee', ':', '0,'])",
    )
    .bind(json!({"notes": ["X\tom Lee", {"message": "TOM LEE exists", "row": 10}], "count": 0}))
    .fetch_one(&owner)
    .await
    .unwrap();
    assert_eq!(
        blanked,
        json!({"notes": ["X\tom Lee", {"message": "[erased] exists", "row": 10}], "count": 0})
    );
}

#[tokio::test]
async fn an_erasure_leaves_other_contacts_alone_and_frees_the_email() {
    let app = spawn_app().await;
    let a = app.signup("erasure-control").await;
    let crm = app.as_(&a);
    let s = given_an_erased_subject(&app, &crm).await;

    let ada = crm.contacts().get(s.control).await.expect(StatusCode::OK);
    assert_eq!(ada.last_name.as_deref(), Some("Lovelace"));
    crm.contacts()
        .create(&json!({"first_name": "New", "email": "z.quillfeather@erasure.example"}))
        .await
        .expect(StatusCode::CREATED);
}

#[tokio::test]
async fn erasure_survives_a_full_rebuild() {
    let app = spawn_app().await;
    let a = app.signup("erasure-rebuild").await;
    let crm = app.as_(&a);
    let s = given_an_erased_subject(&app, &crm).await;

    // A full rebuild replays the sealed events: the subject stays erased, the control
    // contact's data comes back from its key.
    crm_projections::rebuild::rebuild_all(&app.projector_db().await, &keyring())
        .await
        .unwrap();
    app.settle().await;

    let subject = crm.contacts().get(s.id).await.expect(StatusCode::OK);
    assert_eq!(subject.last_name, None);
    assert!(subject.erased_at.is_some());
    let ada = crm.contacts().get(s.control).await.expect(StatusCode::OK);
    assert_eq!(ada.email.as_deref(), Some("ada@erasure.example"));
}

/// Exports workspace `slug` to a fresh temporary file and answers its path.
async fn backup(app: &TestApp, slug: &str) -> std::path::PathBuf {
    let file = std::env::temp_dir().join(format!("crm-erasure-{}.ndjson", Uuid::new_v4()));
    execute(
        test_settings(&app.db_name),
        Command::ExportWorkspace {
            slug: slug.into(),
            file: file.clone(),
        },
    )
    .await
    .unwrap();
    file
}

#[tokio::test]
async fn a_backup_holds_nothing_of_an_erased_contact_and_needs_the_same_master_key() {
    let app = spawn_app().await;
    let a = app.signup("erasure-backup").await;
    given_an_erased_subject(&app, &app.as_(&a)).await;

    // A backup holds the control's wrapped key but nothing of the subject.
    let file = backup(&app, "erasure-backup").await;
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
    let _ = std::fs::remove_file(file);
}

#[tokio::test]
async fn a_restored_backup_keeps_the_erased_contact_erased() {
    let app = spawn_app().await;
    let a = app.signup("erasure-restore").await;
    let s = given_an_erased_subject(&app, &app.as_(&a)).await;
    let file = backup(&app, "erasure-restore").await;

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
    let crm = restored.as_(&token);

    let subject = crm.contacts().get(s.id).await.expect(StatusCode::OK);
    assert_eq!(subject.first_name, None);
    assert!(subject.erased_at.is_some());
    let ada = crm.contacts().get(s.control).await.expect(StatusCode::OK);
    assert_eq!(ada.last_name.as_deref(), Some("Lovelace"));
    let report = crm.audit_verify().await.expect(StatusCode::OK);
    assert!(report.intact, "{report:?}");
    let _ = std::fs::remove_file(file);
}

#[tokio::test]
async fn data_written_in_clear_before_sealing_existed_is_hidden_once_erased() {
    let app = spawn_app().await;
    let a = app.signup("erasure-legacy").await;
    let crm = app.as_(&a);
    let company = crm
        .companies()
        .create(&json!({"name": "Legacy Ltd"}))
        .await
        .expect(StatusCode::CREATED);
    // A contact stream as a store without sealing wrote it: the fields in clear (the
    // metadata is borrowed from the company's creation).
    let owner = app.pool_as(None).await;
    let contact = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         SELECT 'Contact', $1, 1, 'ContactCreated', '1.0', $2, metadata FROM events
          WHERE aggregate_id = $3",
    )
    .bind(format!("{}:{contact}", a.tenant))
    .bind(json!({"ContactCreated": {"first_name": "Zebulon", "last_name": "Quillfeather", "email": null, "phone": null, "job_title": null, "company_id": null, "tags": []}}))
    .bind(format!("{}:{}", a.tenant, company.id))
    .execute(&owner)
    .await
    .unwrap();
    app.settle().await;
    let before = crm.contacts().get(contact).await.expect(StatusCode::OK);
    assert_eq!(
        before.last_name.as_deref(),
        Some("Quillfeather"),
        "readable until erased"
    );

    crm.contacts()
        .erase(contact, &json!({"reason": "DSR-legacy"}))
        .await
        .expect(StatusCode::OK);
    app.settle().await;

    for path in [
        format!("/v1/contacts/{contact}"),
        format!("/v1/contacts/{contact}/history"),
        format!("/v1/contacts/{contact}?version=1"),
        "/v1/audit/export?format=ndjson".to_owned(),
    ] {
        let text = crm.get::<Value>(&path).await.expect_text(StatusCode::OK);
        assert_eq!(contains_secret(&text), None, "{path}: {text}");
    }
    // A rebuild does not bring it back either.
    crm_projections::rebuild::rebuild_all(&app.projector_db().await, &keyring())
        .await
        .unwrap();
    app.settle().await;
    let after = crm.contacts().get(contact).await.expect(StatusCode::OK);
    assert_eq!(after.last_name, None);
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
