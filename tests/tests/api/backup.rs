//! Tenant backup and restore: `crm export-workspace` / `crm import-workspace`.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{fresh_database, spawn_app, str_of, test_settings, TestApp};
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
        let (status, body) = app.get(&path, token).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        out.push(body);
    }
    out
}

async fn server_over(db_name: String) -> TestApp {
    TestApp {
        address: String::new(),
        db_name,
        client: reqwest::Client::new(),
    }
    .second_server(|_| {}, std::sync::Arc::new(crm_api::clock::SystemClock))
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

#[tokio::test]
async fn a_round_trip_gives_identical_answers_and_damage_is_refused() {
    let app = spawn_app().await;
    let a = app.signup("backup-src").await;
    let other = app.signup("backup-other").await;
    app.post(
        "/v1/contacts",
        &other.token,
        json!({"first_name": "Not exported"}),
    )
    .await;
    let (_, co) = app
        .post(
            "/v1/companies",
            &a.token,
            json!({"name": "Acme", "annual_revenue": {"amount_minor": 25_000_000, "currency": "USD"}}),
        )
        .await;
    let (_, gone) = app
        .post("/v1/companies", &a.token, json!({"name": "Gone Ltd"}))
        .await;
    app.delete(&format!("/v1/companies/{}", str_of(&gone["id"])), &a.token)
        .await;
    let (_, ada) = app
        .post(
            "/v1/contacts",
            &a.token,
            json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@acme.example", "company_id": co["id"]}),
        )
        .await;
    let ada_id = str_of(&ada["id"]);
    app.patch(
        &format!("/v1/contacts/{ada_id}"),
        &a.token,
        json!({"job_title": "Analyst"}),
    )
    .await;
    app.post(
        "/v1/deals",
        &a.token,
        json!({"name": "Engines", "contact_ids": [ada_id], "amount": {"amount_minor": 99_999, "currency": "EUR"}}),
    )
    .await;
    app.post(
        "/v1/activities",
        &a.token,
        json!({"kind": "task", "title": "Call Ada", "due_at": "2026-12-01T09:00:00Z", "assignee_id": a.owner, "contact_ids": [ada_id]}),
    )
    .await;
    let extra = vec![
        format!("/v1/contacts/{ada_id}"),
        format!("/v1/contacts/{ada_id}/timeline"),
        "/v1/companies?q=acme".to_owned(),
    ];
    let before = answers(&app, &a.token, &extra).await;
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
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains("Not exported"), "another workspace leaked");
    let lines: Vec<&str> = text.lines().collect();

    // Restore into an empty database, then ask the same questions.
    let target = fresh_database().await;
    execute(
        test_settings(&target),
        Command::ImportWorkspace { file: file.clone() },
    )
    .await
    .unwrap();
    let keys = lines
        .iter()
        .filter(|l| l.contains("\"contact_key\""))
        .count();
    assert_eq!(keys, 1, "Ada's data key travels with the backup");
    assert_eq!(events_in(&target).await, (lines.len() - 2 - keys) as i64);
    let restored = server_over(target.clone()).await;
    let token = restored
        .token_for(a.tenant, a.owner, crm_domain::Role::Owner)
        .await;
    let after = answers(&restored, &token, &extra).await;
    for (i, (b, r)) in before.iter().zip(&after).enumerate() {
        assert_eq!(b, r, "answer {i} differs after the round trip");
    }
    let (_, report) = restored.get("/v1/audit/verify", &token).await;
    assert_eq!(report["intact"], true, "{report}");
    // Uniqueness claims came back with the data.
    let (status, _) = restored
        .post("/v1/contacts", &token, json!({"email": "ADA@acme.example"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // A second restore of the same workspace is refused.
    let err = execute(
        test_settings(&target),
        Command::ImportWorkspace { file: file.clone() },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, CliError::WorkspaceExists(_)), "{err}");

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
        &format!("\"aggregate_id\":\"{}:", a.tenant),
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
    let _ = std::fs::remove_file(file);
}
