//! Benchmark: a record's past state (`GET /v1/companies/{id}?version=N`) on a long stream,
//! replayed from the first event (no snapshot) against from the nearest snapshot (one is
//! kept at every 100th version). Prints its figures; run with
//! `cargo bench -p crm-tests --bench past_states` (PostgreSQL as for the tests).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs,
    dead_code
)]

#[path = "../tests/api/helpers.rs"]
mod helpers;

use std::time::{Duration, Instant};

use serde_json::json;

/// Updates on the benchmarked record (its stream has one more event, the creation).
const UPDATES: usize = 2_000;
/// Requests timed per figure.
const ROUNDS: usize = 15;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::main]
async fn main() {
    let app = helpers::spawn_app().await;
    let a = app.signup("bench-past").await;
    let (_, co) = app
        .post("/v1/companies", &a.token, json!({"name": "Bench Co"}))
        .await;
    let id = helpers::str_of(&co["id"]);
    let started = Instant::now();
    for i in 0..UPDATES {
        app.patch(
            &format!("/v1/companies/{id}"),
            &a.token,
            json!({"industry": format!("Industry {i}")}),
        )
        .await;
    }
    println!(
        "stream of {} events written in {:.1} s",
        UPDATES + 1,
        started.elapsed().as_secs_f64()
    );
    let owner = app.pool_as(None).await;
    println!("version  from the first event  from a snapshot  (median of {ROUNDS} requests)");
    for version in [150, 1_050, 2_001] {
        let path = format!("/v1/companies/{id}?version={version}");
        let mut cold = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            sqlx::query("DELETE FROM record_snapshots")
                .execute(&owner)
                .await
                .unwrap();
            let t = Instant::now();
            let (status, _) = app.get(&path, &a.token).await;
            cold.push(t.elapsed());
            assert!(status.is_success());
        }
        let mut warm = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let t = Instant::now();
            let (status, _) = app.get(&path, &a.token).await;
            warm.push(t.elapsed());
            assert!(status.is_success());
        }
        println!(
            "{version:>7}  {:>17.1} ms  {:>12.1} ms",
            median(cold).as_secs_f64() * 1e3,
            median(warm).as_secs_f64() * 1e3
        );
    }
}
