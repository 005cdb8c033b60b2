//! `crm-bench`: how close the API comes to what the machine's PostgreSQL can do.
//!
//! Against a scratch database on the configured PostgreSQL (created, then dropped), it
//! runs back to back, at each concurrency of `--connections` (default 1, 8, 32), for
//! `--seconds` each:
//!
//! 1. **insert limit**: single-row `INSERT`s, each its own transaction, one connection per
//!    worker (what `pgbench` measures with a one-statement custom script);
//! 2. **create company**: `POST /v1/companies` through the server, which runs in a
//!    process of its own (this program again, with `--serve`; the release build when run
//!    with `--release`), one keep-alive HTTP connection per worker, with the server's
//!    resident-set peak during the creates;
//! 3. **get company**: `GET /v1/companies/{id}` the same way;
//! 4. **list companies**: `GET /v1/companies?limit=20` (a first page of the companies
//!    the run created).
//!
//! It prints requests per second, p50 and p99 latency, and the ratio of each API rate to
//! the insert limit at the same concurrency. Then, for each size of `--import-rows`, it
//! imports a generated companies file over HTTP and `COPY`s the same bytes into a table of
//! the file's columns, and prints both rates, the resident memory after the import and
//! what the import added to it at its peak (the file's own size beside it).
//! Then it reads the bench workspace (list, search, get at 8 connections) alone in the
//! database, seeds `--workspaces` × `--records` company streams through the store's
//! trigger, prints the rate of a full rebuild of the read tables beside the in-database
//! projection limit (one `INSERT … SELECT` of the same events into a table shaped like
//! `companies`) and of a one-workspace rebuild, reads the bench workspace again among the
//! seeded ones (p99 ratio to the first reads), signs in `--storm` times at once (the
//! server's memory during the storm), and last prints the peak resident memory of the
//! server and of this process.
//! Run it on a quiet machine: `cargo run --release -p crm-bench`.

#![allow(clippy::print_stdout)] // the report on standard output is what this command is for

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection};

/// Command-line options.
#[derive(Debug, Parser)]
#[command(about = "Measure the API against PostgreSQL's single-row insert limit")]
struct Options {
    /// The PostgreSQL server, as an owner's URL; its database part, if any, is replaced
    /// by the scratch database's.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432"
    )]
    database_url: String,
    /// Concurrencies to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    connections: Vec<usize>,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Connections per pool of the server under test (`database.max_connections`).
    #[arg(long, default_value_t = 10)]
    max_connections: u32,
    /// Workspaces the rebuild measurement seeds (0 skips it).
    #[arg(long, default_value_t = 100)]
    workspaces: u32,
    /// Company streams per seeded workspace.
    #[arg(long, default_value_t = 1_000)]
    records: u32,
    /// Sizes of the generated companies files to import, comma-separated (0 skips).
    #[arg(long, value_delimiter = ',', default_value = "20000,200000")]
    import_rows: Vec<u64>,
    /// Sign-ins of the login storm, all at once (0 skips it).
    #[arg(long, default_value_t = 64)]
    storm: usize,
    /// Internal: run the server under test over this database URL (the bench starts
    /// itself with it as a child process, so that the server's memory is its own).
    #[arg(long, hide = true)]
    serve: Option<String>,
}

/// What one measurement saw.
struct Run {
    ops: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Run {
    fn rate(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&mut self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        self.latencies.sort_unstable();
        let rank = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[rank.min(self.latencies.len() - 1)]
    }
}

/// Runs `workers` copies of `op` for `seconds`; each worker gets its own state from
/// `setup`.
async fn measure<S, Fut, Op, OpFut>(workers: usize, seconds: u64, setup: Fut, op: Op) -> Run
where
    S: Send + 'static,
    Fut: Fn(usize) -> OpFut + Clone,
    OpFut: std::future::Future<Output = S>,
    Op: Fn(&mut S, usize) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + '_>>
        + Send
        + Sync
        + Copy
        + 'static,
{
    let mut states = Vec::with_capacity(workers);
    for w in 0..workers {
        states.push(setup(w).await);
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = states
        .into_iter()
        .enumerate()
        .map(|(w, mut state)| {
            tokio::spawn(async move {
                let (mut ok, mut failed, mut latencies) = (0_usize, 0_usize, Vec::new());
                let mut i = 0_usize;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    if op(&mut state, w * 1_000_000_000 + i).await {
                        ok += 1;
                        latencies.push(t.elapsed());
                    } else {
                        failed += 1;
                    }
                    i += 1;
                }
                (ok, failed, latencies)
            })
        })
        .collect();
    let mut run = Run {
        ops: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for (ok, failed, latencies) in futures::future::join_all(tasks).await.into_iter().flatten() {
        run.ops += ok;
        run.errors += failed;
        run.latencies.extend(latencies);
    }
    run.elapsed = started.elapsed();
    run
}

fn fail(what: &str, err: impl std::fmt::Display) -> ! {
    eprintln!("crm-bench: {what}: {err}");
    std::process::exit(1)
}

#[tokio::main]
async fn main() {
    let options = Options::parse();
    if let Some(url) = &options.serve {
        if let Err(why) = serve(url, options.max_connections).await {
            fail("the server under test", why);
        }
        return;
    }
    let base = server_part(&options.database_url);
    let name = format!("crm_bench_{}", std::process::id());
    let mut admin = PgConnection::connect(&format!("{base}/postgres"))
        .await
        .unwrap_or_else(|e| fail("connecting to PostgreSQL", e));
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap_or_else(|e| fail("creating the scratch database", e));
    let url = format!("{base}/{name}");
    let result = bench(&options, &url).await;
    let _ = admin
        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await;
    if let Err(why) = result {
        fail("benchmark", why);
    }
}

/// `scheme://user@host:port` of a PostgreSQL URL, without its database and parameters.
fn server_part(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..]
        .find(['/', '?'])
        .map_or(url.len(), |i| after_scheme + i);
    url[..end].to_owned()
}

/// The settings of the server under test over `url`: the configured ones, with the
/// limits that would cap a measurement lifted.
fn server_settings(url: &str, max_connections: u32) -> Result<crm_app::config::Settings, String> {
    let mut settings = crm_app::config::Settings::load().map_err(|e| e.to_string())?;
    settings.database.url = secrecy::SecretString::from(url.to_owned());
    settings.database.max_connections = max_connections;
    settings.database.private_cluster_dir = String::new();
    settings.server.port = 0;
    // The per-workspace limit (6,000 a minute by default) would cap the measurement.
    settings.server.workspace_requests_per_minute = 0;
    // A 200,000-row file is about 20 MB.
    settings.server.import_limit_bytes = 256 * 1024 * 1024;
    // The catch-up projector would replay the seeded events behind the measurements.
    settings.projector.enabled = false;
    // The login storm comes from one address and signs in to one account: the per-address
    // and per-account limits would answer it before any password is hashed.
    settings.auth.login_max_per_ip = 1_000_000;
    settings.auth.login_max_failures_per_account = 1_000_000;
    settings.webhooks.enabled = false;
    Ok(settings)
}

/// The child process: runs the server under test and prints `port <n>` on standard output
/// once it listens.
async fn serve(url: &str, max_connections: u32) -> Result<(), String> {
    use std::io::Write as _;
    let settings = server_settings(url, max_connections)?;
    let server = crm_api::startup::Application::build(settings)
        .await
        .map_err(|e| e.to_string())?;
    println!("port {}", server.port());
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    server.run_until_stopped().await.map_err(|e| e.to_string())
}

/// The server under test: this program again (`--serve`), a process of its own, killed
/// when dropped.
struct Server {
    _child: tokio::process::Child,
    pid: u32,
    address: String,
}

impl Server {
    async fn start(url: &str, max_connections: u32) -> Result<Self, String> {
        use tokio::io::AsyncBufReadExt as _;
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = tokio::process::Command::new(exe)
            .arg("--serve")
            .arg(url)
            .arg("--max-connections")
            .arg(max_connections.to_string())
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting the server: {e}"))?;
        let pid = child.id().ok_or("the server exited at once")?;
        let stdout = child.stdout.take().ok_or("no standard output")?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let port = loop {
            match lines.next_line().await.map_err(|e| e.to_string())? {
                Some(line) => {
                    if let Some(port) = line.strip_prefix("port ") {
                        break port.trim().to_owned();
                    }
                }
                None => return Err("the server stopped before it listened".into()),
            }
        };
        Ok(Self {
            _child: child,
            pid,
            address: format!("http://127.0.0.1:{port}"),
        })
    }
}

async fn bench(options: &Options, url: &str) -> Result<(), String> {
    // The server under test, in a process of its own, over the scratch database.
    let rebuild_settings = server_settings(url, options.max_connections)?;
    let server = Server::start(url, options.max_connections).await?;
    let memory = Memory::of(server.pid);
    let address = server.address.clone();

    let client = reqwest::Client::new();
    let signup: Value = client
        .post(format!("{address}/v1/auth/signup"))
        .json(
            &json!({"workspace_name": "Bench", "workspace_slug": "bench",
            "email": "owner@bench.example", "password": "violet harbour engine 42",
            "display_name": "Bench"}),
        )
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let token = signup["access_token"]
        .as_str()
        .ok_or_else(|| format!("signup failed: {signup}"))?
        .to_owned();
    let company: Value = client
        .post(format!("{address}/v1/companies"))
        .bearer_auth(&token)
        .json(&json!({"name": "Target"}))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let company_path = format!(
        "{address}/v1/companies/{}",
        company["id"].as_str().ok_or("no company id")?
    );

    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .map_err(|e| e.to_string())?;
    sqlx::query(
        "CREATE TABLE bench_rows (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, name text NOT NULL)",
    )
    .execute(&pool)
    .await
    .map_err(|e| e.to_string())?;
    sqlx::query("CREATE TABLE bench_sql_companies (LIKE companies INCLUDING ALL)")
        .execute(&pool)
        .await
        .map_err(|e| e.to_string())?;
    pool.close().await;

    println!(
        "{:<16} {:>5} {:>10} {:>9} {:>9} {:>7} {:>8}",
        "path", "conns", "ops/s", "p50 ms", "p99 ms", "errors", "÷ insert"
    );
    let seconds = options.seconds;
    for &conns in &options.connections {
        let url_sql = url.to_owned();
        let url = url.to_owned();
        let mut insert = measure(
            conns,
            seconds,
            move |_| {
                let url = url.clone();
                async move {
                    PgConnection::connect(&url)
                        .await
                        .unwrap_or_else(|e| fail("connecting", e))
                }
            },
            |conn: &mut PgConnection, _| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO bench_rows VALUES ($1, $2, 'bench')")
                        .bind(uuid::Uuid::now_v7())
                        .bind(uuid::Uuid::nil())
                        .execute(&mut *conn)
                        .await
                        .is_ok()
                })
            },
        )
        .await;
        let limit = insert.rate();
        report("insert limit", conns, &mut insert, limit);

        let made = (address.clone(), token.clone());
        let peak_reset = memory.reset_peak();
        let mut create = measure(
            conns,
            seconds,
            move |_| {
                let (address, token) = made.clone();
                async move { (reqwest::Client::new(), address, token) }
            },
            |(client, address, token): &mut (reqwest::Client, String, String), i| {
                Box::pin(async move {
                    client
                        .post(format!("{address}/v1/companies"))
                        .bearer_auth(&*token)
                        .json(&json!({ "name": format!("Company {i}") }))
                        .send()
                        .await
                        .is_ok_and(|r| r.status().as_u16() == 201)
                })
            },
        )
        .await;
        report("create company", conns, &mut create, limit);
        println!(
            "{:<16} server RSS peak during the creates: {}",
            "",
            mib(memory.peak_since_reset_kib().filter(|_| peak_reset))
        );

        // The create's own writes by SQL alone, one transaction each: its event through
        // the store's trigger (tenant check, hash chain) and its row in a copy of
        // `companies` with all its indexes. What no server in front could beat.
        let mut sql_create = measure(
            conns,
            seconds,
            move |_| {
                let url = url_sql.clone();
                async move {
                    SqlCreate::connect(&url)
                        .await
                        .unwrap_or_else(|e| fail("connecting", e))
                }
            },
            |this: &mut SqlCreate, _| Box::pin(async move { create_by_sql(this).await.is_ok() }),
        )
        .await;
        report("create by SQL", conns, &mut sql_create, limit);

        let mut get = measure_get(conns, seconds, &company_path, &token).await;
        report("get company", conns, &mut get, limit);
        let first_page = format!("{address}/v1/companies?limit=20");
        let mut list = measure_get(conns, seconds, &first_page, &token).await;
        report("list companies", conns, &mut list, limit);
    }
    for &rows in options.import_rows.iter().filter(|&&n| n > 0) {
        import(&address, &token, url, rows, &memory).await?;
    }
    // Reads of the bench workspace, first with it alone in the database, then with
    // `--workspaces` × `--records` more companies around it (after the rebuild).
    let reads = [
        ("list companies", format!("{address}/v1/companies?limit=20")),
        (
            "search companies",
            format!("{address}/v1/companies?q=Company%2042&limit=20"),
        ),
        ("get company", company_path.clone()),
    ];
    let mut alone = Vec::new();
    if options.workspaces > 0 {
        println!();
        println!("reads of one workspace, alone in the database (8 connections):");
        for (name, path) in &reads {
            let mut run = measure_get(8, seconds, path, &token).await;
            report(name, 8, &mut run, 0.0);
            alone.push(run);
        }
        rebuild(options, url, &rebuild_settings).await?;
        println!();
        println!(
            "the same reads among {} workspaces ({} more companies); last column: p99 ÷ p99 alone:",
            options.workspaces + 1,
            u64::from(options.workspaces) * u64::from(options.records)
        );
        for ((name, path), before) in reads.iter().zip(&mut alone) {
            let mut run = measure_get(8, seconds, path, &token).await;
            let ratio = run.percentile(0.99).as_secs_f64() / before.percentile(0.99).as_secs_f64();
            report(name, 8, &mut run, 0.0);
            println!("{:<16} p99 ratio {ratio:.2}", "");
        }
    }
    if options.storm > 0 {
        storm(&address, options.storm, &memory).await?;
    }
    println!();
    println!(
        "peak RSS: the server {}, the load generator (and rebuild) {}",
        mib(memory.peak_kib()),
        mib(Memory::of(std::process::id()).peak_kib())
    );
    Ok(())
}

/// Seeds `--workspaces` × `--records` company streams through the store's insert trigger
/// (copies of the run's first `CompanyCreated`, under new workspaces, ids and names), then
/// measures, one after the other: the reference, one `INSERT … SELECT` projecting those
/// events into an empty copy of `companies` with all its indexes (the in-database
/// projection limit); and a full `rebuild_all` of every read table from every event.
async fn rebuild(
    options: &Options,
    url: &str,
    settings: &crm_app::config::Settings,
) -> Result<(), String> {
    let err = |e: sqlx::Error| e.to_string();
    let owner = PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .map_err(err)?;
    let started = Instant::now();
    let seeded = sqlx::query(
        "INSERT INTO events (tenant_id, aggregate_type, aggregate_id, sequence, event_type,
                             event_version, payload, metadata, hash)
         SELECT t.tenant, e.aggregate_type, t.tenant || ':' || gen_random_uuid(), 1, e.event_type,
                e.event_version,
                jsonb_set(e.payload, ARRAY[e.event_type, 'name'], to_jsonb('Seeded company ' || r)),
                jsonb_set(e.metadata, '{tenant_id}', to_jsonb(t.tenant::text)), ''::bytea
           FROM (SELECT * FROM events WHERE event_type = 'CompanyCreated'
                  ORDER BY global_position LIMIT 1) e,
                (SELECT md5('bench workspace ' || w)::uuid AS tenant
                   FROM generate_series(1, $1) w) t,
                generate_series(1, $2) r",
    )
    .bind(i64::from(options.workspaces))
    .bind(i64::from(options.records))
    .execute(&owner)
    .await
    .map_err(err)?
    .rows_affected();
    let seed_seconds = started.elapsed().as_secs_f64();
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&owner)
        .await
        .map_err(err)?;
    let companies: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'CompanyCreated'")
            .fetch_one(&owner)
            .await
            .map_err(err)?;

    sqlx::query("CREATE TABLE bench_companies (LIKE companies INCLUDING ALL)")
        .execute(&owner)
        .await
        .map_err(err)?;
    let started = Instant::now();
    sqlx::query(
        "INSERT INTO bench_companies (tenant_id, id, name, version, created_at, updated_at,
                                      created_by, updated_by)
         SELECT tenant_id, split_part(aggregate_id, ':', 2)::uuid,
                payload -> event_type ->> 'name', sequence, recorded_at, recorded_at,
                coalesce(metadata ->> 'user_id', 'system'), coalesce(metadata ->> 'user_id', 'system')
           FROM events WHERE event_type = 'CompanyCreated'",
    )
    .execute(&owner)
    .await
    .map_err(err)?;
    let reference = companies as f64 / started.elapsed().as_secs_f64();
    owner.close().await;

    let (pools, commands) = crm_api::startup::connect(settings)
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let replayed = crm_projections::rebuild::rebuild_all(&pools.projector, commands.keyring())
        .await
        .map_err(|e| e.to_string())?;
    let rebuild_seconds = started.elapsed().as_secs_f64();
    let ours = replayed as f64 / rebuild_seconds;

    // One workspace's rows, rebuilt in place in one transaction.
    let first = sqlx::query_scalar::<_, uuid::Uuid>("SELECT md5('bench workspace 1')::uuid")
        .fetch_one(&pools.store)
        .await
        .map_err(err)?;
    let scope = crm_store::TenantScope::for_system(crm_domain::TenantId(first));
    let started = Instant::now();
    let one = crm_projections::rebuild::rebuild_tenant(
        &pools.projector,
        commands.keyring(),
        &scope,
        |_| {},
    )
    .await
    .map_err(|e| e.to_string())?;
    let one_seconds = started.elapsed().as_secs_f64();
    // The largest workspace (the bench's own, with its imports) rebuilt the same way: what
    // a one-workspace rebuild costs at hundreds of thousands of events.
    let largest: uuid::Uuid = sqlx::query_scalar(
        "SELECT tenant_id FROM events GROUP BY tenant_id ORDER BY count(*) DESC LIMIT 1",
    )
    .fetch_one(&pools.store)
    .await
    .map_err(err)?;
    let started = Instant::now();
    let big = crm_projections::rebuild::rebuild_tenant(
        &pools.projector,
        commands.keyring(),
        &crm_store::TenantScope::for_system(crm_domain::TenantId(largest)),
        |_| {},
    )
    .await
    .map_err(|e| e.to_string())?;
    let big_seconds = started.elapsed().as_secs_f64();

    println!();
    println!(
        "{:<36} {:>10} {:>9} {:>10} {:>9}",
        "rebuild", "events", "seconds", "events/s", "÷ ref"
    );
    println!(
        "{:<36} {:>10} {:>9.1} {:>10.0} {:>9}",
        "seed: SQL append through triggers",
        seeded,
        seed_seconds,
        seeded as f64 / seed_seconds,
        "-"
    );
    println!(
        "{:<36} {:>10} {:>9.1} {:>10.0} {:>9.3}",
        "reference: INSERT … SELECT (companies)",
        companies,
        companies as f64 / reference,
        reference,
        1.0
    );
    println!(
        "{:<36} {:>10} {:>9.1} {:>10.0} {:>9.3}",
        "rebuild_all (every read table)",
        replayed,
        rebuild_seconds,
        ours,
        ours / reference
    );
    println!(
        "{:<36} {:>10} {:>9.1} {:>10.0} {:>9.3}",
        "rebuild_tenant (one workspace)",
        one,
        one_seconds,
        one as f64 / one_seconds,
        one as f64 / one_seconds / reference
    );
    println!(
        "{:<36} {:>10} {:>9.1} {:>10.0} {:>9.3}",
        "rebuild_tenant (largest workspace)",
        big,
        big_seconds,
        big as f64 / big_seconds,
        big as f64 / big_seconds / reference
    );
    if u64::try_from(total).unwrap_or(0) != replayed {
        return Err(format!("the rebuild replayed {replayed} of {total} events"));
    }
    Ok(())
}

/// What [`create_by_sql`] copies: the run's first `CompanyCreated` (its workspace,
/// payload and metadata), on its own connection.
struct SqlCreate {
    conn: PgConnection,
    tenant: uuid::Uuid,
    payload: Value,
    metadata: Value,
}

impl SqlCreate {
    async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        let mut conn = PgConnection::connect(url).await?;
        let (tenant, payload, metadata): (uuid::Uuid, Value, Value) = sqlx::query_as(
            "SELECT tenant_id, payload, metadata FROM events
              WHERE event_type = 'CompanyCreated' ORDER BY global_position LIMIT 1",
        )
        .fetch_one(&mut conn)
        .await?;
        Ok(Self {
            conn,
            tenant,
            payload,
            metadata,
        })
    }
}

/// One company created by SQL alone, in one transaction: a copy of the run's first
/// `CompanyCreated` on a new stream of the same workspace, appended through the store's
/// trigger, and its row in `bench_sql_companies`, returned as the API's create returns it.
async fn create_by_sql(this: &mut SqlCreate) -> Result<(), sqlx::Error> {
    let mut txn = this.conn.begin().await?;
    let id = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         VALUES ('Company', $1, 1, 'CompanyCreated', '1.0', $2, $3)",
    )
    .bind(format!("{}:{id}", this.tenant))
    .bind(&this.payload)
    .bind(&this.metadata)
    .execute(&mut *txn)
    .await?;
    sqlx::query(
        "INSERT INTO bench_sql_companies (tenant_id, id, name, version, created_at, updated_at,
                                          created_by, updated_by)
         VALUES ($1, $2, 'Company by SQL', 1, now(), now(), 'bench', 'bench')
         RETURNING *",
    )
    .bind(this.tenant)
    .bind(id)
    .fetch_one(&mut *txn)
    .await?;
    txn.commit().await
}

/// A companies file of `rows` rows with every column the import reads, each row a new
/// company (`Imported <tag> <i>`, its own domain, exact revenue).
fn companies_file(rows: u64, tag: &str) -> Vec<u8> {
    let mut csv = String::from(
        "Company name,Company Domain Name,Industry,Country/Region,Currency,Number of Employees,Annual Revenue\n",
    );
    for i in 1..=rows {
        csv.push_str(&format!(
            "Imported {tag} {i},i{i}.{tag}.example,Retail,Sweden,EUR,{},\"€ {}.5 million\"\n",
            i % 5_000,
            i % 900
        ));
    }
    csv.into_bytes()
}

/// Imports a generated file of `rows` companies over HTTP (one request, answered with the
/// report), then `COPY`s the same bytes into a table of the file's columns, and prints
/// both rates, their ratio, the process's resident memory after the import and the most
/// the import added to it.
async fn import(
    address: &str,
    token: &str,
    url: &str,
    rows: u64,
    memory: &Memory,
) -> Result<(), String> {
    let tag = format!("r{rows}");
    let file = companies_file(rows, &tag);
    let file_mib = file.len() as f64 / 1_048_576.0;
    let rss_before = memory.now_kib();
    let peak_reset = memory.reset_peak();
    let started = Instant::now();
    let report: Value = reqwest::Client::new()
        .post(format!("{address}/v1/imports/companies"))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(file.clone())
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let api_seconds = started.elapsed().as_secs_f64();
    if report["created"].as_u64() != Some(rows) {
        return Err(format!("the import did not create every row: {report}"));
    }
    let rss_after = memory.now_kib();
    let peak = memory.peak_since_reset_kib().filter(|_| peak_reset);
    // What the import added to the server at its peak, over its resident set before.
    let import_peak = match (rss_before, peak) {
        (Some(before), Some(peak)) => mib(Some(peak.saturating_sub(before))),
        _ => "-".into(),
    };

    let mut conn = PgConnection::connect(url)
        .await
        .map_err(|e| e.to_string())?;
    let table = format!("copy_reference_{rows}");
    conn.execute(
        format!(
            "CREATE TABLE {table} (name text, domain text, industry text, country text, \
             currency text, employees text, revenue text)"
        )
        .as_str(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut copy = conn
        .copy_in_raw(&format!(
            "COPY {table} FROM STDIN WITH (FORMAT csv, HEADER true)"
        ))
        .await
        .map_err(|e| e.to_string())?;
    copy.send(file).await.map_err(|e| e.to_string())?;
    let copied = copy.finish().await.map_err(|e| e.to_string())?;
    let copy_seconds = started.elapsed().as_secs_f64();
    if copied != rows {
        return Err(format!("COPY loaded {copied} of {rows} rows"));
    }
    // What the same rows cost the database alone: one CompanyCreated event each appended
    // by SQL through the store's trigger (tenant check, hash chain), and one row each in a
    // table shaped like `companies` with all its indexes, in one transaction.
    conn.execute(format!("CREATE TABLE {table}_companies (LIKE companies INCLUDING ALL)").as_str())
        .await
        .map_err(|e| e.to_string())?;
    let tenant = uuid::Uuid::now_v7();
    let started = Instant::now();
    let mut txn = conn.begin().await.map_err(|e| e.to_string())?;
    sqlx::query(&format!(
        "INSERT INTO events (tenant_id, aggregate_type, aggregate_id, sequence, event_type,
                             event_version, payload, metadata, hash)
         SELECT $1, 'Company', $1::text || ':' || gen_random_uuid(), 1, 'CompanyCreated', '1.0',
                jsonb_build_object('CompanyCreated', jsonb_build_object('name', name,
                  'domain', domain, 'industry', industry, 'country', country,
                  'currency', currency, 'employee_count', employees, 'annual_revenue_text', revenue)),
                jsonb_build_object('tenant_id', $1::text, 'actor', 'system:import'), ''::bytea
           FROM {table}"
    ))
    .bind(tenant)
    .execute(&mut *txn)
    .await
    .map_err(|e| e.to_string())?;
    sqlx::query(&format!(
        "INSERT INTO {table}_companies (tenant_id, id, name, domain, industry, country, currency,
                                         annual_revenue_text, version, created_at, updated_at,
                                         created_by, updated_by)
         SELECT $1, gen_random_uuid(), name, domain, industry, country, currency, revenue, 1,
                now(), now(), 'system:import', 'system:import'
           FROM {table}"
    ))
    .bind(tenant)
    .execute(&mut *txn)
    .await
    .map_err(|e| e.to_string())?;
    txn.commit().await.map_err(|e| e.to_string())?;
    let sql_seconds = started.elapsed().as_secs_f64();
    let (api, reference, sql) = (
        rows as f64 / api_seconds,
        rows as f64 / copy_seconds,
        rows as f64 / sql_seconds,
    );
    println!();
    println!(
        "import of {rows} companies over HTTP: {api:.0} rows/s ({api_seconds:.1} s); server RSS: peak {}, after {}",
        mib(peak),
        mib(rss_after)
    );
    println!(
        "  the file: {file_mib:.1} MiB; the import's peak over the server's resident set before it: {import_peak}"
    );
    println!(
        "  COPY of the same file into a table of its columns: {reference:.0} rows/s; ratio {:.3}",
        api / reference
    );
    println!(
        "  the same rows by SQL alone (events through the trigger, rows into a copy of \
         `companies`): {sql:.0} rows/s; ratio {:.3}",
        api / sql
    );
    Ok(())
}

/// `GET path` with `token` from `conns` workers for `seconds`; a 200 counts as done.
async fn measure_get(conns: usize, seconds: u64, path: &str, token: &str) -> Run {
    let target = (path.to_owned(), token.to_owned());
    measure(
        conns,
        seconds,
        move |_| {
            let (path, token) = target.clone();
            async move { (reqwest::Client::new(), path, token) }
        },
        |(client, path, token): &mut (reqwest::Client, String, String), _| {
            Box::pin(async move {
                client
                    .get(&*path)
                    .bearer_auth(&*token)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().as_u16() == 200)
            })
        },
    )
    .await
}

/// Signs in to the bench workspace's owner `n` times at once (each its own connection) and
/// prints how many got in, how many were told to come back (503), the time the storm took
/// and the server's resident-set peak during it (each argon2id verification takes 19 MiB;
/// the server runs one per core at a time).
async fn storm(address: &str, n: usize, memory: &Memory) -> Result<(), String> {
    let peak_reset = memory.reset_peak();
    let before = memory.now_kib();
    let started = Instant::now();
    let mut sign_ins = tokio::task::JoinSet::new();
    for _ in 0..n {
        let url = format!("{address}/v1/auth/login");
        sign_ins.spawn(async move {
            reqwest::Client::new()
                .post(url)
                .json(&json!({"email": "owner@bench.example", "password": "violet harbour engine 42"}))
                .send()
                .await
                .map(|r| r.status().as_u16())
        });
    }
    let (mut ok, mut busy, mut other) = (0, 0, Vec::new());
    while let Some(answer) = sign_ins.join_next().await {
        match answer.map_err(|e| e.to_string())? {
            Ok(200) => ok += 1,
            Ok(503) => busy += 1,
            Ok(status) => other.push(status.to_string()),
            Err(e) => other.push(e.to_string()),
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!();
    println!(
        "login storm of {n} at once: {ok} signed in, {busy} told to retry (503), {} otherwise, \
         in {seconds:.1} s; server RSS before {}, peak during it {}",
        other.len(),
        mib(before),
        mib(memory.peak_since_reset_kib().filter(|_| peak_reset))
    );
    if !other.is_empty() {
        return Err(format!("sign-ins of the storm failed: {other:?}"));
    }
    Ok(())
}

/// The resident memory of one process, from `/proc/<pid>/status` (Linux; `None`
/// elsewhere).
struct Memory {
    pid: u32,
    /// The high-water mark before the last [`Memory::reset_peak`], in KiB.
    earlier_peak: AtomicU64,
}

impl Memory {
    fn of(pid: u32) -> Self {
        Self {
            pid,
            earlier_peak: AtomicU64::new(0),
        }
    }

    /// The resident set now, in KiB (`VmRSS`).
    fn now_kib(&self) -> Option<u64> {
        self.status_kib("VmRSS:")
    }

    /// The resident-set high-water mark since the last [`Memory::reset_peak`], in KiB
    /// (`VmHWM`).
    fn peak_since_reset_kib(&self) -> Option<u64> {
        self.status_kib("VmHWM:")
    }

    /// The high-water mark over the process's life, across every reset, in KiB.
    fn peak_kib(&self) -> Option<u64> {
        self.peak_since_reset_kib()
            .map(|peak| peak.max(self.earlier_peak.load(Ordering::Relaxed)))
    }

    /// Resets the kernel's high-water mark to the resident set now (`5` into
    /// `/proc/<pid>/clear_refs`, Linux 4.0+), keeping the mark so far for
    /// [`Memory::peak_kib`]; false when the kernel refuses.
    fn reset_peak(&self) -> bool {
        if let Some(peak) = self.peak_since_reset_kib() {
            self.earlier_peak.fetch_max(peak, Ordering::Relaxed);
        }
        std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5").is_ok()
    }

    /// A `kB` line of the process's status.
    fn status_kib(&self, key: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

/// KiB as whole MiB, or `-` when unknown.
fn mib(kib: Option<u64>) -> String {
    kib.map_or("-".into(), |kib| format!("{:.0} MiB", kib as f64 / 1024.0))
}

#[allow(clippy::print_stdout)] // the report is this command's output
fn report(path: &str, conns: usize, run: &mut Run, limit: f64) {
    let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
    let (p50, p99) = (run.percentile(0.50), run.percentile(0.99));
    let ratio = if limit > 0.0 { run.rate() / limit } else { 0.0 };
    println!(
        "{:<16} {:>5} {:>10.0} {:>9.2} {:>9.2} {:>7} {:>8.3}",
        path,
        conns,
        run.rate(),
        ms(p50),
        ms(p99),
        run.errors,
        ratio
    );
}
