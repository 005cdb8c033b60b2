//! Imports as jobs: a large file in the background (`Prefer: respond-async`), followed
//! through `GET /v1/imports/{id}`, with every row accounted for in the report.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::client::{Client, ImportJob};
use crate::helpers::spawn_app;

/// What the import must say of one generated row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Created,
    /// Created, with a warning.
    Warned,
    Duplicate,
    Failed,
}

/// A companies file of `rows` rows, every one valid but for a rule per residue: no name
/// (every 97th), a control character in a cell (every 83rd), the name of the row before
/// it in other letter case (every 89th), a domain that is no domain (every 71st, imported
/// without it), revenue in no stated currency (every 61st, kept as text). Returns the file
/// and what the import must say of each row (index 0 is row 1).
fn messy_file(rows: u64) -> (Vec<u8>, Vec<Expect>) {
    let mut csv = String::from(
        "Company name,Company Domain Name,Industry,Currency,Number of Employees,Annual Revenue\n",
    );
    let mut expect = Vec::new();
    for i in 1..=rows {
        let (mut name, mut domain, mut industry, mut revenue) = (
            format!("Company {i}"),
            format!("c{i}.example"),
            "Retail".to_owned(),
            "US$ 1.5 million".to_owned(),
        );
        let mut outcome = Expect::Created;
        if i % 71 == 0 {
            domain = "not a domain!!".into();
            outcome = Expect::Warned;
        }
        if i % 61 == 0 {
            revenue = "about 5 million".into();
            outcome = Expect::Warned;
        }
        if i % 89 == 0 {
            name = format!("COMPANY {}", i - 1);
            domain = String::new();
            let before = expect[usize::try_from(i - 2).unwrap()];
            outcome = if matches!(before, Expect::Created | Expect::Warned) {
                Expect::Duplicate
            } else {
                outcome
            };
        }
        if i % 83 == 0 {
            industry = "Ret\u{1}ail".into();
            outcome = Expect::Failed;
        }
        if i % 97 == 0 {
            name = String::new();
            outcome = Expect::Failed;
        }
        csv.push_str(&format!(
            "{name},{domain},{industry},USD,{},\"{revenue}\"\n",
            i % 500
        ));
        expect.push(outcome);
    }
    (csv.into_bytes(), expect)
}

/// Follows `import_id` until it is no longer running, checking on the way that its counts
/// only grow. Panics after five minutes.
async fn follow(crm: &Client<'_>, import_id: uuid::Uuid) -> ImportJob {
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut last = 0;
    loop {
        let job = crm.import_job(import_id).await.expect(StatusCode::OK);
        assert!(job.rows_read >= last, "counts went back: {job:?}");
        last = job.rows_read;
        assert_eq!(
            job.rows_read,
            job.created + job.skipped_duplicates + job.failed
        );
        if job.state != "running" {
            return job;
        }
        assert!(Instant::now() < deadline, "still running: {job:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Asserts that `notes` names exactly the rows of `expect` that are one of `which`,
/// showing a few of the rows that differ, with their notes.
#[track_caller]
fn assert_rows(what: &str, notes: &[crate::client::RowNote], expect: &[Expect], which: &[Expect]) {
    let got: BTreeSet<u64> = notes.iter().map(|n| n.row).collect();
    let want = rows_where(expect, which);
    let extra: Vec<_> = notes
        .iter()
        .filter(|n| !want.contains(&n.row))
        .take(3)
        .collect();
    let missing: Vec<_> = want.difference(&got).take(5).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "{what}: unexpected {extra:?}, missing rows {missing:?}"
    );
}

fn rows_where(expect: &[Expect], which: &[Expect]) -> BTreeSet<u64> {
    (1_u64..)
        .zip(expect)
        .filter(|(_, e)| which.contains(e))
        .map(|(row, _)| row)
        .collect()
}

#[tokio::test]
async fn twenty_thousand_messy_rows_import_in_the_background_each_row_accounted_for() {
    let app = spawn_app().await;
    let a = app.signup("job-big").await;
    let crm = app.as_(&a);
    let (file, expect) = messy_file(20_000);
    let events = app.event_count().await;

    let answer = crm.import_in_background("companies", "", &file).await;
    let location = answer.header("location").map(str::to_owned);
    assert_eq!(answer.header("preference-applied"), Some("respond-async"));
    let started = answer.expect(StatusCode::ACCEPTED);
    assert_eq!(
        location.as_deref(),
        Some(format!("/v1/imports/{}", started.import_id).as_str())
    );
    assert_eq!((started.state.as_str(), started.rows_read), ("running", 0));
    let job = follow(&crm, started.import_id).await;

    assert_eq!(job.state, "completed", "{:?}", job.error);
    assert_eq!(job.kind, "companies");
    let report = job.report.expect("a completed job has its report");
    assert_eq!(report.import_id, started.import_id);
    assert_eq!(report.rows_read, 20_000);
    let created = rows_where(&expect, &[Expect::Created, Expect::Warned]);
    assert_eq!(report.created, created.len() as u64);
    assert_eq!(
        (job.created, job.skipped_duplicates, job.failed),
        (report.created, report.skipped_duplicates, report.failed)
    );
    assert_rows("errors", &report.errors, &expect, &[Expect::Failed]);
    assert_eq!(report.failed as usize, report.errors.len());
    assert_rows(
        "duplicates",
        &report.duplicates,
        &expect,
        &[Expect::Duplicate],
    );
    assert_rows("warnings", &report.warnings, &expect, &[Expect::Warned]);
    for note in &report.errors {
        let row = note.row;
        // The cells are checked before the name is read.
        if row % 83 == 0 {
            assert!(note.message.contains("\"Industry\""), "row {row}: {note:?}");
        } else {
            assert_eq!(note.message, "no company name", "row {row}");
        }
    }
    // One event per created company, nothing else.
    assert_eq!(app.event_count().await - events, report.created as i64);
    let second = crm
        .companies()
        .list("q=Company%202&limit=1")
        .await
        .expect(StatusCode::OK);
    assert_eq!(second.items.len(), 1, "{second:?}");
}

#[tokio::test]
async fn an_import_answered_at_once_has_a_job_with_the_same_report() {
    let app = spawn_app().await;
    let a = app.signup("job-sync").await;
    let crm = app.as_(&a);
    let (file, _) = messy_file(200);

    let report = crm
        .import("companies", "", &file)
        .await
        .expect(StatusCode::OK);
    let job = crm
        .import_job(report.import_id)
        .await
        .expect(StatusCode::OK);

    assert_eq!(job.state, "completed");
    assert!(!job.dry_run);
    assert!(job.finished_at.is_some());
    let stored = job.report.expect("the report");
    assert_eq!(stored.created, report.created);
    assert_eq!(stored.errors, report.errors);
    assert_eq!(stored.duplicates, report.duplicates);
    assert_eq!(stored.warnings, report.warnings);
}

#[tokio::test]
async fn a_background_import_of_a_file_without_its_name_column_is_refused_at_once() {
    let app = spawn_app().await;
    let a = app.signup("job-refused").await;
    let events = app.event_count().await;

    app.as_(&a)
        .import_in_background("companies", "", b"Domain,Industry\nx.example,Retail\n")
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);

    assert_eq!(app.event_count().await, events);
}

#[tokio::test]
async fn an_import_job_is_its_workspace_importers_only() {
    let app = spawn_app().await;
    let a = app.signup("job-a").await;
    let b = app.signup("job-b").await;
    let (file, _) = messy_file(20);
    let report = app
        .as_(&a)
        .import("companies", "", &file)
        .await
        .expect(StatusCode::OK);

    app.as_(&b)
        .import_job(report.import_id)
        .await
        .expect_problem(StatusCode::NOT_FOUND);
    let reader = app
        .token_for(a.tenant, a.owner, crm_domain::Role::ReadOnly)
        .await;
    app.as_(&reader)
        .import_job(report.import_id)
        .await
        .expect_problem(StatusCode::FORBIDDEN);
    app.as_(&a)
        .import_job(uuid::Uuid::now_v7())
        .await
        .expect_problem(StatusCode::NOT_FOUND);
    app.as_(&a)
        .get::<serde_json::Value>("/v1/imports/not-a-uuid")
        .await
        .expect_problem(StatusCode::NOT_FOUND);
}
