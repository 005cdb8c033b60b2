//! Tenant backup and restore: `crm export-workspace` / `crm import-workspace`.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{fresh_database, spawn_app, str_of, test_settings, TestApp, Workspace};
use crm_api::cli::{execute, CliError, Command};

const QUERIES: [&str; 6] = [
    "/v1/companies?include_deleted=true&sort=name",
    "/v1/contacts?sort=name",
    "/v1/deals",
    "/v1/pipelines",
    "/v1/tasks",
    "/v1/contacts?q=ada",
];

async fn answers(app: &TestApp, token: &str, extra: &[String]) -> Vec<Value> {
    let mut out = Vec::new();
    for path in QUERIES
        .iter()
        .map(|p| (*p).to_owned())
        .chain(extra.iter().cloned())
    {
        out.push(app.as_(token).get(&path).await.expect(StatusCode::OK));
    }
    out
}

async fn server_over(db_name: String) -> TestApp {
    TestApp {
        address: String::new(),
        db_name,
        client: reqwest::Client::new(),
    }
    .second_server(|_| {}, std::sync::Arc::new(crm_app::clock::SystemClock))
    .await
}

async fn events_in(db_name: &str) -> i64 {
    let app = TestApp {
        address: String::new(),
        db_name: db_name.to_owned(),
        client: reqwest::Client::new(),
    };
    app.event_count().await
}

/// Workspace "backup-src" (a company with revenue, a deleted one, Ada with a job, a deal
/// and a task) beside another workspace's contact; exported to a temporary file.
struct Backup {
    a: Workspace,
    /// Paths about Ada asked besides `QUERIES`.
    extra: Vec<String>,
    /// The answers to `QUERIES` and `extra` before the export.
    before: Vec<Value>,
    file: std::path::PathBuf,
}

impl Drop for Backup {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

async fn given_a_backup(app: &TestApp) -> Backup {
    let a = app.signup("backup-src").await;
    let other = app.signup("backup-other").await;
    let created = StatusCode::CREATED;
    app.as_(&other)
        .contacts()
        .create(&json!({"first_name": "Not exported"}))
        .await
        .expect(created);
    let crm = app.as_(&a);
    let co = crm
        .companies()
        .create(&json!({"name": "Acme", "annual_revenue": {"amount_minor": 25_000_000, "currency": "USD"}}))
        .await
        .expect(created);
    let gone = crm
        .companies()
        .create(&json!({"name": "Gone Ltd"}))
        .await
        .expect(created);
    crm.companies()
        .delete(gone.id)
        .await
        .expect(StatusCode::NO_CONTENT);
    let ada = crm
        .contacts()
        .create(&json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@acme.example", "company_id": co.id}))
        .await
        .expect(created);
    crm.contacts()
        .update(ada.id, &json!({"job_title": "Analyst"}))
        .await
        .expect(StatusCode::OK);
    crm.deals()
        .create(&json!({"name": "Engines", "contact_ids": [ada.id], "amount": {"amount_minor": 99_999, "currency": "EUR"}}))
        .await
        .expect(created);
    crm.activities()
        .create(&json!({"kind": "task", "title": "Call Ada", "due_at": "2026-12-01T09:00:00Z", "assignee_id": a.owner, "contact_ids": [ada.id]}))
        .await
        .expect(created);
    let extra = vec![
        format!("/v1/contacts/{}", ada.id),
        format!("/v1/contacts/{}/timeline", ada.id),
        "/v1/companies?q=acme".to_owned(),
    ];
    let before = answers(app, &a.token, &extra).await;
    assert_eq!(before[0]["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(before[1]["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(before[2]["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(before[4]["items"].as_array().map(Vec::len), Some(1));

    let file = std::env::temp_dir().join(format!("crm-backup-{}.ndjson", uuid::Uuid::new_v4()));
    execute(
        test_settings(&app.db_name),
        Command::ExportWorkspace {
            slug: "backup-src".into(),
            file: file.clone(),
        },
    )
    .await
    .unwrap();
    Backup {
        a,
        extra,
        before,
        file,
    }
}

/// Restores `file` into a fresh database; answers the database's name.
async fn restored_from(file: &std::path::Path) -> String {
    let target = fresh_database().await;
    execute(
        test_settings(&target),
        Command::ImportWorkspace {
            file: file.to_owned(),
            allow_unsigned: false,
        },
    )
    .await
    .unwrap();
    target
}

#[tokio::test]
async fn a_round_trip_gives_identical_answers_a_whole_trail_and_the_same_claims() {
    let app = spawn_app().await;
    let backup = given_a_backup(&app).await;
    let text = std::fs::read_to_string(&backup.file).unwrap();
    assert!(!text.contains("Not exported"), "another workspace leaked");
    let lines: Vec<&str> = text.lines().collect();

    // Restore into an empty database, then ask the same questions.
    let target = restored_from(&backup.file).await;

    let keys = lines
        .iter()
        .filter(|l| l.contains("\"contact_key\""))
        .count();
    assert_eq!(keys, 1, "Ada's data key travels with the backup");
    assert_eq!(events_in(&target).await, (lines.len() - 2 - keys) as i64);
    let restored = server_over(target).await;
    let (tenant, owner) = (backup.a.tenant, backup.a.owner);
    let token = restored
        .token_for(tenant, owner, crm_domain::Role::Owner)
        .await;
    let after = answers(&restored, &token, &backup.extra).await;
    for (i, (b, r)) in backup.before.iter().zip(&after).enumerate() {
        assert_eq!(b, r, "answer {i} differs after the round trip");
    }
    let crm = restored.as_(&token);
    let report = crm.audit_verify().await.expect(StatusCode::OK);
    assert!(report.intact, "{report:?}");
    // Uniqueness claims came back with the data.
    crm.contacts()
        .create(&json!({"email": "ADA@acme.example"}))
        .await
        .expect_problem(StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_second_restore_of_the_same_workspace_is_refused() {
    let app = spawn_app().await;
    let backup = given_a_backup(&app).await;
    let target = restored_from(&backup.file).await;

    let err = execute(
        test_settings(&target),
        Command::ImportWorkspace {
            file: backup.file.clone(),
            allow_unsigned: false,
        },
    )
    .await
    .unwrap_err();

    assert!(matches!(err, CliError::WorkspaceExists(_)), "{err}");
}

#[tokio::test]
async fn a_damaged_backup_is_refused_at_its_line_and_writes_nothing() {
    let app = spawn_app().await;
    let backup = given_a_backup(&app).await;
    let text = std::fs::read_to_string(&backup.file).unwrap();
    let lines: Vec<&str> = text.lines().collect();

    // Damage: an edited payload, a cut file, a line from nowhere. Each is refused with its
    // line, and nothing is written.
    let edited: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i == 5 {
                l.replacen("\"payload\":{", "\"payload\":{\"X\":1,", 1)
                    .replace("{\"X\":1,}", "{\"X\":1}")
            } else {
                (*l).to_owned()
            }
        })
        .collect();
    let cut: Vec<String> = lines[..lines.len() - 1]
        .iter()
        .map(|l| (*l).to_owned())
        .collect();
    let mut junk: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    junk.insert(3, "{\"hello\": \"world\"}".into());
    // An event moved into another workspace's stream.
    let mut foreign: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    foreign[2] = foreign[2].replace(
        &format!("\"aggregate_id\":\"{}:", backup.a.tenant),
        &format!("\"aggregate_id\":\"{}:", uuid::Uuid::new_v4()),
    );
    assert_ne!(foreign[2], lines[2]);
    for (name, content, line) in [
        ("edited", edited, 6),
        ("cut", cut.clone(), cut.len() + 1),
        ("junk", junk, 4),
        ("foreign", foreign, 3),
    ] {
        let damaged =
            std::env::temp_dir().join(format!("crm-{name}-{}.ndjson", uuid::Uuid::new_v4()));
        std::fs::write(&damaged, content.join("\n") + "\n").unwrap();
        let empty = fresh_database().await;
        let err = execute(
            test_settings(&empty),
            Command::ImportWorkspace {
                file: damaged.clone(),
                allow_unsigned: false,
            },
        )
        .await
        .unwrap_err();
        match err {
            CliError::Damaged { line: at, .. } => assert_eq!(at, line, "{name}: {err}"),
            other => panic!("{name}: {other}"),
        }
        assert_eq!(events_in(&empty).await, 0, "{name} wrote events");
        let _ = std::fs::remove_file(damaged);
    }
}

async fn import(
    settings: crm_app::config::Settings,
    file: &std::path::Path,
    allow_unsigned: bool,
) -> Result<(), CliError> {
    execute(
        settings,
        Command::ImportWorkspace {
            file: file.to_owned(),
            allow_unsigned,
        },
    )
    .await
}

#[tokio::test]
async fn a_backup_is_signed_and_a_forged_or_unsigned_file_is_refused() {
    let app = spawn_app().await;
    let a = app.signup("backup-signed").await;
    app.as_(&a)
        .companies()
        .create(&json!({"name": "Signed Co"}))
        .await
        .expect(StatusCode::CREATED);
    let file = std::env::temp_dir().join(format!("crm-signed-{}.ndjson", uuid::Uuid::new_v4()));
    execute(
        test_settings(&app.db_name),
        Command::ExportWorkspace {
            slug: "backup-signed".into(),
            file: file.clone(),
        },
    )
    .await
    .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let last = lines.len();
    assert!(
        lines[last - 1].contains("\"mac\":\""),
        "{}",
        lines[last - 1]
    );

    // A forger who edits an event and recomputes its chain hash passes the store's check,
    // but not the signature.
    let owner = app.pool_as(None).await;
    let at = lines
        .iter()
        .position(|l| l.contains("CompanyCreated"))
        .unwrap();
    let mut event: Value = serde_json::from_str(&lines[at]).unwrap();
    event["payload"]["CompanyCreated"]["name"] = json!("Forged Co");
    let hash: String = sqlx::query_scalar(
        "SELECT encode(crm_event_hash(NULL, $1, $2, $3, $4, $5, $6, $7), 'hex')",
    )
    .bind(str_of(&event["aggregate_type"]))
    .bind(str_of(&event["aggregate_id"]))
    .bind(event["sequence"].as_i64().unwrap())
    .bind(str_of(&event["event_type"]))
    .bind(str_of(&event["event_version"]))
    .bind(&event["payload"])
    .bind(&event["metadata"])
    .fetch_one(&owner)
    .await
    .unwrap();
    event["hash"] = json!(hash);
    let mut forged = lines.clone();
    forged[at] = event.to_string();
    // The same file under another server's key.
    let mut foreign_key = None;
    for (name, content, settings_key) in [
        ("forged", forged, None),
        (
            "foreign",
            lines.clone(),
            Some("YW5vdGhlci1rZXktYW5vdGhlci1rZXktYW5vdGhlci0w"),
        ),
    ] {
        let path = std::env::temp_dir().join(format!("crm-{name}-{}.ndjson", uuid::Uuid::new_v4()));
        std::fs::write(&path, content.join("\n") + "\n").unwrap();
        let target = fresh_database().await;
        let mut settings = test_settings(&target);
        if let Some(key) = settings_key {
            settings.audit.checkpoint_key = Some(secrecy::SecretString::from(key));
            foreign_key = Some(key);
        }
        let err = import(settings, &path, false).await.unwrap_err();
        match err {
            CliError::Damaged { line, ref reason } => {
                assert_eq!(line, last, "{name}: {err}");
                assert!(reason.contains("signature"), "{name}: {reason}");
            }
            other => panic!("{name}: {other}"),
        }
        assert_eq!(events_in(&target).await, 0, "{name} wrote events");
        let _ = std::fs::remove_file(path);
    }
    assert!(foreign_key.is_some());

    // Unsigned (a server without a checkpoint key): refused unless asked for.
    let unsigned =
        std::env::temp_dir().join(format!("crm-unsigned-{}.ndjson", uuid::Uuid::new_v4()));
    let mut settings = test_settings(&app.db_name);
    settings.audit.checkpoint_key = None;
    execute(
        settings,
        Command::ExportWorkspace {
            slug: "backup-signed".into(),
            file: unsigned.clone(),
        },
    )
    .await
    .unwrap();
    assert!(std::fs::read_to_string(&unsigned)
        .unwrap()
        .contains("\"mac\":null"));
    let target = fresh_database().await;
    let err = import(test_settings(&target), &unsigned, false)
        .await
        .unwrap_err();
    assert!(matches!(err, CliError::Damaged { .. }), "{err}");
    assert_eq!(events_in(&target).await, 0);
    import(test_settings(&target), &unsigned, true)
        .await
        .unwrap();
    assert!(events_in(&target).await > 0);
    let _ = std::fs::remove_file(unsigned);
    let _ = std::fs::remove_file(file);
}
