//! Reads from a hot standby (`database.replica_url`): a private primary cluster and a
//! streaming standby made from it with `pg_basebackup`, both started by this test. Lists,
//! search, exports, the audit trail and history read there once it has replayed the
//! caller's writes; while its replay is paused they read the primary, and while it is
//! stopped too; once it is back they return to it. Where each read ran is counted by the
//! server's metrics (`crm_replica_reads_total`, `crm_replica_fallbacks_total`), which
//! only this test's server records (no other test configures a standby).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{json, Value};
use sqlx::Connection;

use crate::client::{Client, Company};
use crate::cluster::Cluster;
use crate::helpers::{serve, test_settings, TestApp};
use crate::metrics::{sample, scrape};

const TOKEN: &str = "replica-token-replica-token-replica-token";
const DB: &str = "crm_replica";

/// The standby reads so far and the fallbacks to the primary for `reason` (`any`: for
/// every reason).
async fn counts(app: &TestApp, reason: &str) -> (f64, f64) {
    let res = scrape(&app.address, Some(TOKEN)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap_or_else(|e| panic!("{e}"));
    let reasons = match reason {
        "any" => vec!["behind", "down", "failed"],
        one => vec![one],
    };
    let fallbacks = reasons
        .iter()
        .map(|r| {
            let label = format!("reason=\"{r}\"");
            sample(&text, "crm_replica_fallbacks_total", &[&label]).unwrap_or(0.0)
        })
        .sum();
    (
        sample(&text, "crm_replica_reads_total", &[]).unwrap_or(0.0),
        fallbacks,
    )
}

/// The standby gauges a scrape reads: `crm_replica_up` and `crm_replica_lag_bytes`.
async fn standby_gauges(app: &TestApp) -> (Option<f64>, Option<f64>) {
    let res = scrape(&app.address, Some(TOKEN)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap_or_else(|e| panic!("{e}"));
    (
        sample(&text, "crm_replica_up", &[]),
        sample(&text, "crm_replica_lag_bytes", &[]),
    )
}

/// Creates a company named `name` and reads it back at once through every kind of read
/// the standby serves: the list, a search, the export, its history, the audit trail, its
/// first version, its timeline, and the lists of deals and tasks. Returns how many such
/// reads were made.
async fn write_then_read(crm: &Client<'_>, name: &str) -> f64 {
    let made: Company = crm
        .companies()
        .create(&json!({"name": name}))
        .await
        .expect(StatusCode::CREATED);
    let names: Vec<String> = crm
        .companies()
        .list("sort=name&limit=200")
        .await
        .expect(StatusCode::OK)
        .items
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert!(names.contains(&name.to_owned()), "{name} not in {names:?}");
    let found = crm
        .companies()
        .list(&format!("q={name}"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(found.items.len(), 1, "search for {name}");
    let export = crm.export("companies", "").await.expect_csv(StatusCode::OK);
    assert!(export.column("name").contains(&name), "{name} not exported");
    let history = crm
        .companies()
        .history(made.id)
        .await
        .expect(StatusCode::OK);
    assert_eq!(history.items.len(), 1, "history of {name}");
    let trail = crm.audit("limit=200").await.expect(StatusCode::OK);
    assert!(
        trail
            .items
            .iter()
            .any(|e| e.entity_id == made.id.to_string() && e.event_type == "CompanyCreated"),
        "the audit trail lacks {name}'s creation"
    );
    let first = crm
        .companies()
        .at_version(made.id, 1)
        .await
        .expect(StatusCode::OK);
    assert_eq!(first.record["name"], name);
    let timeline: Value = crm
        .get(&format!("/v1/companies/{}/timeline", made.id))
        .await
        .expect(StatusCode::OK);
    assert_eq!(timeline["items"].as_array().map(Vec::len), Some(0));
    for list in ["/v1/deals", "/v1/tasks"] {
        let page: Value = crm.get(list).await.expect(StatusCode::OK);
        assert!(page["items"].is_array(), "{list}: {page}");
    }
    9.0
}

/// How many rows of `companies` the standby holds named `name` (as its superuser, who
/// is not bound by row-level security).
async fn on_standby(standby: &Cluster, name: &str) -> i64 {
    let mut conn = sqlx::PgConnection::connect(&standby.url(DB))
        .await
        .unwrap_or_else(|e| panic!("the standby: {e}"));
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM companies WHERE name = $1")
        .bind(name)
        .fetch_one(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("the standby: {e}"));
    n
}

async fn on_standby_sql(standby: &Cluster, sql: &str) {
    let mut conn = sqlx::PgConnection::connect(&standby.url("postgres"))
        .await
        .unwrap_or_else(|e| panic!("the standby: {e}"));
    sqlx::query(sql)
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[tokio::test]
async fn reads_go_to_a_caught_up_standby_and_to_the_primary_while_it_lags_or_is_stopped() {
    let primary = Cluster::start("replica-primary");
    let standby = Cluster::standby_of(&primary, "replica-standby");
    let mut settings = test_settings(DB);
    settings.database.url = primary.url(DB).into();
    settings.database.replica_url = Some(SecretString::from(standby.url(DB)));
    settings.database.create_if_missing = true;
    settings.database.replica_wait_ms = 1_000;
    settings.database.replica_retry_ms = 500;
    settings.metrics.token = Some(SecretString::from(TOKEN));
    let app = serve(settings, DB).await;
    let owner = app.signup("replica").await;
    let crm = app.as_(&owner);

    // Caught up: each read right after its write sees it, and the standby served them.
    let (reads, behind) = counts(&app, "any").await;
    let mut made = 0.0;
    for n in 0..4 {
        made += write_then_read(&crm, &format!("Replicated {n}")).await;
    }
    let (reads_after, behind_after) = counts(&app, "any").await;
    let (served, fell_back) = (reads_after - reads, behind_after - behind);
    assert!(served >= 1.0, "no read went to the standby");
    assert_eq!(
        served + fell_back,
        made,
        "every read is counted once, at the standby or as a fallback"
    );

    let (up, lag) = standby_gauges(&app).await;
    assert_eq!(up, Some(1.0));
    assert!(lag.is_some_and(|bytes| bytes >= 0.0), "lag {lag:?}");

    // Behind: with replay paused the standby lacks the new company; the reads after the
    // write go to the primary and see it.
    on_standby_sql(&standby, "SELECT pg_wal_replay_pause()").await;
    let (reads, behind) = counts(&app, "any").await;
    let made = write_then_read(&crm, "While paused").await;
    assert_eq!(on_standby(&standby, "While paused").await, 0);
    let (_, lag) = standby_gauges(&app).await;
    assert!(
        lag.is_some_and(|bytes| bytes > 0.0),
        "no lag while paused: {lag:?}"
    );
    let (reads_after, behind_after) = counts(&app, "any").await;
    assert_eq!(
        reads_after, reads,
        "a read went to a standby that was behind"
    );
    assert_eq!(behind_after - behind, made);

    // Caught up again once replay resumes (after the short window in which reads skip a
    // standby that lagged: `crm_app::replica::LAGGING_MS`, here the 500 ms retry period).
    on_standby_sql(&standby, "SELECT pg_wal_replay_resume()").await;
    let (reads, _) = counts(&app, "behind").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    for n in 0.. {
        write_then_read(&crm, &format!("After the pause {n}")).await;
        if counts(&app, "behind").await.0 > reads {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no read went back to the standby within 20 s of its replay resuming"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(on_standby(&standby, "While paused").await, 1);

    // Stopped: the reads fall back to the primary and answer as before.
    standby.stop();
    let (_, down) = counts(&app, "down").await;
    write_then_read(&crm, "While stopped").await;
    let (_, down_after) = counts(&app, "down").await;
    assert!(
        down_after > down,
        "no fallback was counted as the standby being down"
    );
    assert_eq!(
        standby_gauges(&app).await.0,
        Some(0.0),
        "the standby is down"
    );

    // Back: after the retry period the standby serves again.
    standby.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    let (reads, _) = counts(&app, "down").await;
    loop {
        let page = crm.companies().list("").await.expect(StatusCode::OK);
        assert!(page.items.iter().any(|c| c.name == "While stopped"));
        let (now, _) = counts(&app, "down").await;
        if now > reads {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the standby did not serve again within 30 s of its restart"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A second server whose replica_url is the primary itself (its WAL positions compare,
    // but it is not in recovery) never reads there. In the same test, so that the counts
    // are this server's alone (the first one is idle now).
    let mut settings = test_settings(DB);
    settings.database.url = primary.url(DB).into();
    settings.database.replica_url = Some(SecretString::from(primary.url(DB)));
    settings.projector.enabled = false;
    let second = serve(settings, DB).await;
    let (reads, down) = counts(&app, "down").await;
    for _ in 0..3 {
        let page = second
            .as_(&owner)
            .companies()
            .list("")
            .await
            .expect(StatusCode::OK);
        assert!(page.items.iter().any(|c| c.name == "While stopped"));
    }
    let (reads_after, down_after) = counts(&app, "down").await;
    assert_eq!(
        reads_after, reads,
        "a read went to a server not in recovery"
    );
    assert_eq!(down_after - down, 3.0);
}
