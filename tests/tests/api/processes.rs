//! Several server processes on one database: real OS processes (this test binary started
//! again to run [`serve_as_a_child_process`] alone), so that one can be killed with
//! SIGKILL or stopped with SIGSTOP like a crashed or stuck server. Writes, reads,
//! idempotency and rate limits go through any of them; the catch-up projector runs in
//! each, one at a time under a lock that a killed process gives up at once and a stuck
//! one after the lease (`crm_projections::catchup::LEASE_SECONDS`).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio::io::AsyncBufReadExt;
use uuid::Uuid;

use crate::helpers::{spawn_app_with, str_of, test_settings, PASSWORD};
use crate::webhooks::Receiver;

/// The variable that makes [`serve_as_a_child_process`] serve over its database.
const CHILD_DB: &str = "CRM_TEST_CHILD_DATABASE";

/// Not a test of its own (ignored, and a no-op without [`CHILD_DB`]): the body of a
/// server child process, started by [`Child::start`]. It serves the database named in
/// [`CHILD_DB`] with the test settings, the projector and the webhook worker on, prints
/// `CRM_CHILD_PORT=<n>` and serves until killed.
#[tokio::test]
#[ignore = "the body of a child process of the tests below"]
#[allow(clippy::print_stdout)] // the port, to the parent that reads this process's output
async fn serve_as_a_child_process() {
    let Ok(db) = std::env::var(CHILD_DB) else {
        return;
    };
    let mut settings = test_settings(&db);
    settings.projector.idle_ms = 50;
    settings.webhooks.enabled = true;
    let app = crm_api::startup::Application::build(settings)
        .await
        .unwrap_or_else(|e| panic!("child server: {e}"));
    // After whatever the test harness printed on the same line.
    println!("\nCRM_CHILD_PORT={}", app.port());
    let _ = app.run_until_stopped().await;
}

/// A server in a child process, killed when dropped.
struct Child {
    process: tokio::process::Child,
    pid: u32,
    address: String,
}

impl Child {
    async fn start(db: &str) -> Self {
        let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
        let mut process = tokio::process::Command::new(exe)
            .args([
                "--exact",
                "processes::serve_as_a_child_process",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DB, db)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting a child server: {e}"));
        let pid = process.id().unwrap_or_default();
        let stdout = process.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let port = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some((_, port)) = line.split_once("CRM_CHILD_PORT=") {
                    return port.trim().to_owned();
                }
            }
            panic!("the child server stopped before it listened")
        })
        .await
        .unwrap_or_else(|_| panic!("the child server did not listen within a minute"));
        // The rest of its output, read so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            process,
            pid,
            address: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Sends `signal` (`KILL`, `STOP`, `CONT`) to the process.
    fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.pid.to_string()])
            .status()
            .unwrap_or_else(|e| panic!("kill -{signal}: {e}"));
        assert!(status.success(), "kill -{signal} {}", self.pid);
    }
}

/// The pid whose connection holds the catch-up projector's lock now, if any (from
/// `pg_locks` and the `crm/<pid>` application name every server connection carries).
async fn projector_lock_holder(db: &PgPool) -> Option<u32> {
    let name: Option<String> = sqlx::query_scalar(
        "SELECT a.application_name FROM pg_locks l
           JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND l.granted
            AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND l.objid::bigint = (hashtext('crm-projector:read_models')::bigint & 4294967295)",
    )
    .fetch_optional(db)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    // `crm/<pid>`, with ` projector-batch` after it while a batch runs.
    name.and_then(|n| {
        let pid = n.strip_prefix("crm/")?.split(' ').next()?;
        pid.parse().ok()
    })
}

/// Appends `n` company streams of `tenant` by SQL (through the store's trigger), copies
/// of its first `CompanyCreated` under new ids and names: events no request projected,
/// which only the catch-up projector turns into rows.
async fn append_behind_the_api(db: &PgPool, tenant: Uuid, n: i64, tag: &str) {
    sqlx::query(
        "INSERT INTO events (tenant_id, aggregate_type, aggregate_id, sequence, event_type,
                             event_version, payload, metadata, hash)
         SELECT e.tenant_id, e.aggregate_type, e.tenant_id || ':' || gen_random_uuid(), 1,
                e.event_type, e.event_version,
                jsonb_set(e.payload, ARRAY[e.event_type, 'name'], to_jsonb($3 || ' ' || r)),
                e.metadata, ''::bytea
           FROM (SELECT * FROM events WHERE tenant_id = $1 AND event_type = 'CompanyCreated'
                  ORDER BY global_position LIMIT 1) e,
                generate_series(1, $2) r",
    )
    .bind(tenant)
    .bind(n)
    .bind(tag)
    .execute(db)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}

async fn companies_of(db: &PgPool, tenant: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM companies WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_one(db)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Waits until some process holds the projector's lock; returns its pid.
async fn wait_for_holder(db: &PgPool) -> u32 {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if let Some(pid) = projector_lock_holder(db).await {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("no process took the projector's lock within 20 s")
}

/// Waits up to `within` until `tenant` has `expected` companies; returns how long it took.
async fn converges(db: &PgPool, tenant: Uuid, expected: i64, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let now = companies_of(db, tenant).await;
        if now == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{now} of {expected} companies after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = client.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.unwrap_or_else(|e| panic!("{e}"));
    let (status, headers) = (response.status(), response.headers().clone());
    let body = response.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

#[tokio::test]
async fn three_processes_share_writes_keys_limits_and_a_dead_or_stuck_projector_is_taken_over() {
    // The test's own server only signs up and then stays out of the projector's way.
    let app = spawn_app_with(|s| s.projector.enabled = false).await;
    let ws = app.signup("processes").await;
    let db = app.pool_as(None).await;
    let mut children = Vec::new();
    for _ in 0..3 {
        children.push(Child::start(&app.db_name).await);
    }
    let client = reqwest::Client::new();

    // Writes through each process; each reads them all.
    let mut companies = Vec::new();
    for (i, child) in children.iter().enumerate() {
        let (status, _, made) = call(
            &client,
            reqwest::Method::POST,
            format!("{}/v1/companies", child.address),
            &ws.token,
            Some(json!({"name": format!("Written through process {i}")})),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{made}");
        companies.push(str_of(&made["id"]));
    }
    for child in &children {
        let (status, _, page) = call(
            &client,
            reqwest::Method::GET,
            format!("{}/v1/companies?q=process", child.address),
            &ws.token,
            None,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["items"].as_array().map(Vec::len), Some(3), "{page}");
    }

    // An Idempotency-Key used on one process is answered from its record on another.
    let key = Uuid::now_v7().to_string();
    let mut ids = Vec::new();
    for child in &children[..2] {
        let (status, headers, made) = call(
            &client,
            reqwest::Method::POST,
            format!("{}/v1/companies", child.address),
            &ws.token,
            Some(json!({"name": "Keyed"})),
            Some(&key),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{made}");
        ids.push((
            str_of(&made["id"]),
            headers.get("idempotent-replayed").cloned(),
        ));
    }
    assert_eq!(ids[0].0, ids[1].0, "one company for one key");
    assert_eq!(ids[0].1, None);
    assert_eq!(
        ids[1].1.as_ref().and_then(|v| v.to_str().ok()),
        Some("true")
    );

    // The sign-in limit (5 failures an account) counts across processes.
    let login = |i: usize| {
        client
            .post(format!("{}/v1/auth/login", children[i % 3].address))
            .json(&json!({"email": ws.email, "password": "wrong wrong wrong"}))
            .send()
    };
    for i in 0..5 {
        let answer = login(i).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let sixth = login(5).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sixth.status(), StatusCode::TOO_MANY_REQUESTS);
    let right = client
        .post(format!("{}/v1/auth/login", children[1].address))
        .json(&json!({"email": ws.email, "password": PASSWORD}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        right.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the limit holds on every process"
    );

    // Webhooks: an endpoint made through one process gets the messages of updates made
    // through all three, each once, and never one message twice at a time, whichever
    // process leases it (every request is held 20 ms, so overlaps would show).
    let receiver = Receiver::start_with(Duration::from_millis(20)).await;
    let (status, _, endpoint) = call(
        &client,
        reqwest::Method::POST,
        format!("{}/v1/webhooks", children[0].address),
        &ws.token,
        Some(json!({"url": receiver.url(), "description": "processes", "event_types": ["company.updated"]})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{endpoint}");
    let update = |n: usize, through: &Child| {
        call(
            &client,
            reqwest::Method::PATCH,
            format!("{}/v1/companies/{}", through.address, companies[n % 3]),
            &ws.token,
            Some(json!({"industry": format!("Industry {n}")})),
            None,
        )
    };
    for n in 0..12 {
        let (status, _, body) = update(n, &children[n % 3]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let delivered = |got: &[crate::webhooks::Received]| {
        let mut ids: Vec<&String> = got.iter().map(|r| &r.id).collect();
        ids.sort();
        ids.dedup();
        ids.len()
    };
    let got = receiver.wait_for(12).await;
    assert_eq!(delivered(&got), 12, "each message once");

    // Events appended behind the API: the catch-up projector of some process takes them;
    // that process is killed (SIGKILL) mid-way, another finishes within 5 s.
    let before = companies_of(&db, ws.tenant).await;
    assert_eq!(before, 4);
    append_behind_the_api(&db, ws.tenant, 3_000, "Killed").await;
    let holder = wait_for_holder(&db).await;
    let killed = children
        .iter()
        .position(|c| c.pid == holder)
        .unwrap_or_else(|| panic!("the lock holder {holder} is not a child"));
    children[killed].signal("KILL");
    let _ = children[killed].process.wait().await;
    let partway = companies_of(&db, ws.tenant).await;
    let took = converges(&db, ws.tenant, before + 3_000, Duration::from_secs(5)).await;
    eprintln!("killed the holder at {partway} companies; converged {took:?} later");
    let others: Vec<&Child> = children
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != killed)
        .map(|(_, c)| c)
        .collect();

    // Deliveries go on through the survivors.
    for n in 12..18 {
        let (status, _, body) = update(n, others[n % 2]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let got = receiver.wait_for(18).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.all().len(), 18, "nothing sent twice");
    assert_eq!(delivered(&got), 18, "each message once");
    assert_eq!(receiver.overlaps(), 0, "a message was sent twice at once");

    // A stuck holder (SIGSTOP) loses the lock: it is stopped while it holds it, so the
    // lease (or, when PostgreSQL is blocked sending it rows, the others ending its overdue
    // batch) must free it; another process finishes.
    let mut expected = before + 3_000;
    let mut stuck = None;
    for attempt in 0..20 {
        // More events only when the last ones are all projected (no batch left to catch).
        if companies_of(&db, ws.tenant).await == expected {
            append_behind_the_api(&db, ws.tenant, 3_000, &format!("Stuck {attempt}")).await;
            expected += 3_000;
        }
        let holder = wait_for_holder(&db).await;
        let child = others
            .iter()
            .find(|c| c.pid == holder)
            .unwrap_or_else(|| panic!("the lock holder {holder} is not a live child"));
        child.signal("STOP");
        if projector_lock_holder(&db).await == Some(holder) {
            stuck = Some(*child);
            break;
        }
        // It ended its batch just before it stopped: try again.
        child.signal("CONT");
    }
    let stuck = stuck.unwrap_or_else(|| panic!("never stopped a process while it held the lock"));
    let within = Duration::from_secs(crm_projections::catchup::OVERDUE_SECONDS + 30);
    let took = converges(&db, ws.tenant, expected, within).await;
    eprintln!("stopped the holder; converged {took:?} later");
    stuck.signal("CONT");
    // Back, it serves again (its lost database session is replaced; a client's kept-alive
    // connection to it may have been closed meanwhile, so each try is a new one).
    let mut served = None;
    for _ in 0..50 {
        served = reqwest::Client::new()
            .get(format!("{}/v1/companies?limit=1", stuck.address))
            .bearer_auth(&ws.token)
            .send()
            .await
            .ok()
            .map(|r| r.status());
        if served == Some(StatusCode::OK) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(served, Some(StatusCode::OK));
}
