//! Webhooks: a real receiver on loopback (allow-listed) that verifies every signature with
//! the `standardwebhooks` crate (an implementation independent of ours), records what
//! it gets and answers as scripted; retries on the schedule with a moved clock, 410,
//! rotation, ordering, two server processes, leases, refusals and isolation.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crm_app::clock::ManualClock;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app_with_clock, str_of, TestApp, Workspace};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) id: String,
    timestamp: String,
    signature: String,
    body: Vec<u8>,
}

impl Received {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON: {e}"))
    }

    /// Whether `secret` (`whsec_…`) verifies it, by the `standardwebhooks` crate.
    fn verifies_with(&self, secret: &str) -> bool {
        let mut headers = http::HeaderMap::new();
        for (name, value) in [
            ("webhook-id", &self.id),
            ("webhook-timestamp", &self.timestamp),
            ("webhook-signature", &self.signature),
        ] {
            if let Ok(value) = http::HeaderValue::from_str(value) {
                headers.insert(name, value);
            }
        }
        standardwebhooks::Webhook::new(secret)
            .unwrap_or_else(|e| panic!("secret {secret}: {e:?}"))
            .verify(&self.body, &headers)
            .is_ok()
    }
}

/// A scripted answer: a status and an optional `Retry-After`.
type Answer = (u16, Option<&'static str>);

/// A receiver: records requests and answers each with the next scripted status (and
/// `Retry-After`), 200 when the script is empty.
#[derive(Clone, Default)]
pub(crate) struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Answer>>>,
    /// How long the next request waits before its answer (once).
    stall: Arc<Mutex<Option<Duration>>>,
    /// How long every request waits before its answer.
    pub(crate) delay: Duration,
    /// Requests being answered now, by message id.
    in_flight: Arc<Mutex<HashMap<String, usize>>>,
    /// Requests that came while another of the same message was being answered.
    overlaps: Arc<Mutex<usize>>,
    port: u16,
}

impl Receiver {
    pub(crate) async fn start() -> Self {
        Self::start_with(Duration::ZERO).await
    }

    /// A receiver that waits `delay` before each answer.
    pub(crate) async fn start_with(delay: Duration) -> Self {
        let mut receiver = Self {
            delay,
            ..Self::default()
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        receiver.port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let state = receiver.clone();
        let server = actix_web::HttpServer::new(move || {
            let state = state.clone();
            actix_web::App::new().default_service(actix_web::web::to(
                move |req: actix_web::HttpRequest, body: actix_web::web::Bytes| {
                    let state = state.clone();
                    async move {
                        let header = |name: &str| {
                            req.headers()
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned()
                        };
                        let got = Received {
                            id: header("webhook-id"),
                            timestamp: header("webhook-timestamp"),
                            signature: header("webhook-signature"),
                            body: body.to_vec(),
                        };
                        let answer = state
                            .script
                            .lock()
                            .map(|mut s| s.pop_front())
                            .ok()
                            .flatten();
                        let id = got.id.clone();
                        if let Ok(mut r) = state.received.lock() {
                            r.push(got);
                        }
                        let overlapping = state
                            .in_flight
                            .lock()
                            .map(|mut f| {
                                let n = f.entry(id.clone()).or_default();
                                *n += 1;
                                *n > 1
                            })
                            .unwrap_or(false);
                        if overlapping {
                            if let Ok(mut o) = state.overlaps.lock() {
                                *o += 1;
                            }
                        }
                        let stall = state.stall.lock().map(|mut s| s.take()).ok().flatten();
                        if let Some(stall) = stall {
                            tokio::time::sleep(stall).await;
                        }
                        tokio::time::sleep(state.delay).await;
                        if let Ok(mut f) = state.in_flight.lock() {
                            if let Some(n) = f.get_mut(&id) {
                                *n -= 1;
                            }
                        }
                        let (status, retry_after) = answer.unwrap_or((200, None));
                        let mut response = actix_web::HttpResponse::build(
                            actix_web::http::StatusCode::from_u16(status)
                                .unwrap_or(actix_web::http::StatusCode::OK),
                        );
                        if let Some(after) = retry_after {
                            response.insert_header(("retry-after", after));
                        }
                        response.body("thanks")
                    }
                },
            ))
        })
        .workers(1)
        .listen(listener)
        .unwrap_or_else(|e| panic!("{e}"))
        .run();
        tokio::spawn(server);
        receiver
    }

    /// Requests that came while another request of the same message was being answered.
    pub(crate) fn overlaps(&self) -> usize {
        self.overlaps.lock().map(|o| *o).unwrap_or(usize::MAX)
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn script(&self, answers: &[Answer]) {
        if let Ok(mut s) = self.script.lock() {
            s.extend(answers.iter().copied());
        }
    }

    pub(crate) fn all(&self) -> Vec<Received> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Waits (up to 20 s) until it has `n` test messages (`webhook.test`); returns them.
    async fn wait_for_tests(&self, n: usize) -> Vec<Received> {
        for _ in 0..400 {
            let tests: Vec<Received> = self
                .all()
                .into_iter()
                .filter(|r| r.json()["type"] == "webhook.test")
                .collect();
            if tests.len() >= n {
                return tests;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the receiver got fewer than {n} test messages: {:?}",
            self.all()
        );
    }

    /// Waits (up to 20 s) until it has `n` requests; returns them.
    pub(crate) async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..400 {
            let all = self.all();
            if all.len() >= n {
                return all;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the receiver got {} requests, not {n}", self.all().len());
    }
}

/// A server with the webhook worker on, on a clock the test moves.
async fn app_with_webhooks() -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_with_clock(|s| s.webhooks.enabled = true, clock.clone()).await;
    (app, clock)
}

/// Makes an endpoint of `ws` for `url` and `types`; returns its id and secret.
async fn endpoint(app: &TestApp, ws: &Workspace, url: &str, types: Value) -> (String, String) {
    let (status, made) = app
        .post(
            "/v1/webhooks",
            &ws.token,
            json!({"url": url, "description": "test receiver", "event_types": types}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let secret = str_of(&made["secret"]);
    assert!(secret.starts_with("whsec_"), "{made}");
    (str_of(&made["id"]), secret)
}

/// The endpoint's one message (its detail), waiting until `done` holds (up to 20 s).
async fn message_until(
    app: &TestApp,
    ws: &Workspace,
    endpoint: &str,
    message: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let path = format!("/v1/webhooks/{endpoint}/messages/{message}");
    for _ in 0..400 {
        let (status, detail) = app.get(&path, &ws.token).await;
        assert_eq!(status, StatusCode::OK, "{detail}");
        if done(&detail) {
            return detail;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, detail) = app.get(&path, &ws.token).await;
    panic!("the message never got there: {detail}");
}

#[tokio::test]
async fn an_endpoint_gets_signed_messages_of_its_types_in_commit_order_with_changes() {
    let (app, _) = app_with_webhooks().await;
    let ws = app.signup("hooks").await;
    let receiver = Receiver::start().await;
    let (id, secret) = endpoint(&app, &ws, &receiver.url(), json!(["company.*"])).await;

    let (status, company) = app
        .post("/v1/companies", &ws.token, json!({"name": "Ericsson"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{company}");
    let company_id = str_of(&company["id"]);
    let (status, _) = app
        .post(
            "/v1/contacts",
            &ws.token,
            json!({"first_name": "Not", "last_name": "Sent"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app
        .patch(
            &format!("/v1/companies/{company_id}"),
            &ws.token,
            json!({"industry": "Telecom"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let got = receiver.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_now = receiver.all();
    assert_eq!(got_now.len(), 2, "only company events: {got_now:?}");
    let bodies: Vec<Value> = got.iter().map(Received::json).collect();
    assert_eq!(
        bodies
            .iter()
            .map(|b| str_of(&b["type"]))
            .collect::<Vec<_>>(),
        vec!["company.created", "company.updated"]
    );
    for (r, body) in got.iter().zip(&bodies) {
        assert!(r.verifies_with(&secret), "signature {r:?}");
        assert!(!r.verifies_with("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
        assert_eq!(body["data"]["id"], Value::String(r.id.clone()), "{body}");
        assert_eq!(str_of(&body["data"]["entity_id"]), company_id);
    }
    assert_eq!(bodies[1]["data"]["state"]["industry"], "Telecom");
    let changed: Vec<String> = bodies[1]["data"]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| str_of(&c["field"]))
        .collect();
    assert!(changed.contains(&"industry".to_owned()), "{changed:?}");
    // The webhook-id is the changes feed's id of the event: a receiver of both dedupes.
    let (status, feed) = app.get("/v1/events?types=company.*", &ws.token).await;
    assert_eq!(status, StatusCode::OK);
    let feed_ids: Vec<String> = feed["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| str_of(&e["id"]))
        .collect();
    assert_eq!(
        feed_ids,
        got.iter().map(|r| r.id.clone()).collect::<Vec<_>>()
    );

    // The delivery log: both delivered at the first attempt, with the answer kept.
    let (status, log) = app
        .get(&format!("/v1/webhooks/{id}/messages"), &ws.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let items = log["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{log}");
    let first = message_until(&app, &ws, &id, &got[0].id, |m| m["status"] == "delivered").await;
    assert_eq!(first["attempts"][0]["status"], 200, "{first}");
    assert_eq!(first["attempts"][0]["response"], "thanks");
    assert_eq!(first["attempt_count"], 1, "{first}");
    // The secret is shown once: never in the endpoint, its list, or the trail.
    let (_, shown) = app.get(&format!("/v1/webhooks/{id}"), &ws.token).await;
    let (_, listed) = app.get("/v1/webhooks", &ws.token).await;
    let (_, trail) = app.get("/v1/audit?limit=200", &ws.token).await;
    for text in [shown.to_string(), listed.to_string(), trail.to_string()] {
        assert!(!text.contains(&secret[6..]), "the secret leaked: {text}");
    }
    assert!(
        trail.to_string().contains("WebhookEndpointCreated"),
        "{trail}"
    );
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT secret FROM webhook_endpoints WHERE id = $1")
        .bind(Uuid::parse_str(&id).unwrap_or_default())
        .fetch_one(&app.pool_as(None).await)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let raw = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &secret[6..])
        .unwrap_or_default();
    assert_eq!(raw.len(), 32);
    assert!(
        !sealed.windows(raw.len()).any(|w| w == raw.as_slice()),
        "stored in the clear"
    );
}

#[tokio::test]
async fn failures_are_retried_on_the_schedule_honouring_retry_after_and_410_turns_it_off() {
    let (app, clock) = app_with_webhooks().await;
    let ws = app.signup("hooks-retry").await;
    let receiver = Receiver::start().await;
    receiver.script(&[(500, None), (503, Some("120")), (200, None)]);
    let (id, secret) = endpoint(&app, &ws, &receiver.url(), json!(["deal.won"])).await;
    let (status, queued) = app
        .post(&format!("/v1/webhooks/{id}/test"), &ws.token, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let message = str_of(&queued["id"]);

    // First attempt: 500, retried after 5 s ± 10 %.
    let after_one = message_until(&app, &ws, &id, &message, |m| {
        m["attempts"].as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    assert_eq!(after_one["status"], "pending");
    let attempt = &after_one["attempts"][0];
    assert_eq!(attempt["status"], 500);
    let wait = seconds_between(&attempt["started_at"], &attempt["next_attempt_at"]);
    assert!((4.4..=5.6).contains(&wait), "first retry after {wait} s");
    // Not before it is due.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(receiver.all().len(), 1);
    clock.advance(chrono::Duration::seconds(6));
    // Second: 503 with Retry-After: 120.
    let after_two = message_until(&app, &ws, &id, &message, |m| {
        m["attempts"].as_array().is_some_and(|a| a.len() == 2)
    })
    .await;
    let attempt = &after_two["attempts"][1];
    assert_eq!(attempt["status"], 503);
    let wait = seconds_between(&attempt["started_at"], &attempt["next_attempt_at"]);
    assert!(
        (119.0..=121.0).contains(&wait),
        "Retry-After honoured: {wait} s"
    );
    clock.advance(chrono::Duration::seconds(121));
    let done = message_until(&app, &ws, &id, &message, |m| m["status"] == "delivered").await;
    assert_eq!(done["attempts"].as_array().map(Vec::len), Some(3), "{done}");
    let got = receiver.all();
    assert_eq!(got.len(), 3);
    assert!(
        got.iter()
            .all(|r| r.id == message && r.verifies_with(&secret)),
        "same webhook-id each time"
    );
    assert_eq!(got[0].json()["type"], "webhook.test");

    // 410 Gone turns the endpoint off, says why, and records it in the trail.
    receiver.script(&[(410, None)]);
    let (status, queued) = app
        .post(&format!("/v1/webhooks/{id}/test"), &ws.token, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let gone = str_of(&queued["id"]);
    message_until(&app, &ws, &id, &gone, |m| {
        m["attempts"].as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    let mut off = Value::Null;
    for _ in 0..100 {
        off = app.get(&format!("/v1/webhooks/{id}"), &ws.token).await.1;
        if off["enabled"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(off["enabled"], false, "{off}");
    assert!(str_of(&off["disabled_reason"]).contains("410"), "{off}");
    let (_, trail) = app.get("/v1/audit?limit=200", &ws.token).await;
    assert!(
        trail.to_string().contains("WebhookEndpointDisabled"),
        "{trail}"
    );
    // Nothing more is sent until a person turns it on.
    let (status, _) = app
        .post(&format!("/v1/webhooks/{id}/test"), &ws.token, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.all().len(), 4);
    let (status, on) = app
        .patch(
            &format!("/v1/webhooks/{id}"),
            &ws.token,
            json!({"enabled": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{on}");
    assert_eq!(on["disabled_reason"], Value::Null);
    receiver.wait_for(5).await;
}

/// Seconds from one RFC 3339 time to another.
fn seconds_between(from: &Value, to: &Value) -> f64 {
    let parse = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(&str_of(v)).unwrap_or_else(|e| panic!("{v}: {e}"))
    };
    (parse(to) - parse(from)).num_milliseconds() as f64 / 1000.0
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_new_one_for_a_day() {
    let (app, clock) = app_with_webhooks().await;
    let ws = app.signup("hooks-rotate").await;
    let receiver = Receiver::start().await;
    let (id, old) = endpoint(&app, &ws, &receiver.url(), json!([])).await;
    let (status, rotated) = app
        .post(
            &format!("/v1/webhooks/{id}/rotate-secret"),
            &ws.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new = str_of(&rotated["secret"]);
    assert_ne!(new, old);
    let (status, _) = app
        .post(&format!("/v1/webhooks/{id}/test"), &ws.token, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let tests = receiver.wait_for_tests(1).await;
    assert_eq!(tests[0].signature.split(' ').count(), 2, "{:?}", tests[0]);
    assert!(tests[0].verifies_with(&old) && tests[0].verifies_with(&new));

    // A day later only the new secret signs: a message queued while the endpoint is off,
    // sent after the clock moved.
    let (status, _) = app
        .patch(
            &format!("/v1/webhooks/{id}"),
            &ws.token,
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .post(&format!("/v1/webhooks/{id}/test"), &ws.token, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    clock.advance(chrono::Duration::hours(25));
    sqlx::query("UPDATE webhook_endpoints SET enabled = true WHERE id = $1")
        .bind(Uuid::parse_str(&id).unwrap_or_default())
        .execute(&app.pool_as(None).await)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let tests = receiver.wait_for_tests(2).await;
    let late = &tests[1];
    assert_eq!(late.signature.split(' ').count(), 1, "{late:?}");
    assert!(late.verifies_with(&new) && !late.verifies_with(&old));
}

#[tokio::test]
async fn messages_go_one_at_a_time_in_order_and_a_lost_lease_is_sent_again() {
    let (app, clock) = app_with_webhooks().await;
    let ws = app.signup("hooks-order").await;
    let receiver = Receiver::start().await;
    let (id, _) = endpoint(&app, &ws, &receiver.url(), json!(["company.created"])).await;
    // The first message fails once: the ones after it wait for it.
    receiver.script(&[(500, None)]);
    for n in 0..5 {
        let (status, _) = app
            .post(
                "/v1/companies",
                &ws.token,
                json!({"name": format!("Company {n}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    receiver.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        receiver.all().len(),
        1,
        "the later messages wait for the first"
    );
    clock.advance(chrono::Duration::seconds(6));
    let got = receiver.wait_for(6).await;
    let names: Vec<String> = got
        .iter()
        .map(|r| str_of(&r.json()["data"]["state"]["name"]))
        .collect();
    assert_eq!(
        names,
        [
            "Company 0",
            "Company 0",
            "Company 1",
            "Company 2",
            "Company 3",
            "Company 4"
        ]
    );

    // A process that took a message and died (its lease held, nothing recorded): the
    // message goes again, with the same id, once the lease runs out. The message first
    // fails once, so it is pending and known when the dead process's lease is put on it.
    receiver.script(&[(500, None)]);
    let (status, company) = app
        .post("/v1/companies", &ws.token, json!({"name": "Leased"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{company}");
    let failed_once = receiver.wait_for(7).await;
    let leased_id = failed_once[6].id.clone();
    message_until(&app, &ws, &id, &leased_id, |m| {
        m["attempts"].as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    let leased = sqlx::query(
        "UPDATE webhook_messages SET lease_owner = gen_random_uuid(), lease_until = next_attempt_at + interval '1 hour'
          WHERE endpoint_id = $1 AND id = $2 AND status = 'pending'",
    )
    .bind(Uuid::parse_str(&id).unwrap_or_default())
    .bind(Uuid::parse_str(&leased_id).unwrap_or_default())
    .execute(&app.pool_as(None).await)
    .await
    .map(|r| r.rows_affected())
    .unwrap_or(0);
    assert_eq!(leased, 1);
    clock.advance(chrono::Duration::seconds(6));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        receiver.all().len(),
        7,
        "a leased message is not sent twice at once"
    );
    clock.advance(chrono::Duration::hours(2));
    let got = receiver.wait_for(8).await;
    assert_eq!(got[7].id, leased_id);
    assert_eq!(got[7].json()["data"]["state"]["name"], "Leased");
}

#[tokio::test]
async fn two_server_processes_deliver_every_message_once() {
    let (app, clock) = app_with_webhooks().await;
    let second = app
        .second_server(|s| s.webhooks.enabled = true, clock.clone())
        .await;
    let ws = app.signup("hooks-two").await;
    let receiver = Receiver::start().await;
    endpoint(&app, &ws, &receiver.url(), json!(["company.created"])).await;
    for n in 0..30 {
        let server = if n % 2 == 0 { &app } else { &second };
        let (status, _) = server
            .post(
                "/v1/companies",
                &ws.token,
                json!({"name": format!("Company {n:02}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let got = receiver.wait_for(30).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got_now = receiver.all();
    assert_eq!(got_now.len(), 30, "nothing sent twice");
    let mut ids: Vec<&String> = got.iter().map(|r| &r.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 30);
}

#[tokio::test]
async fn a_replay_sends_past_events_again_with_their_ids() {
    let (app, _) = app_with_webhooks().await;
    let ws = app.signup("hooks-replay").await;
    let receiver = Receiver::start().await;
    let (id, _) = endpoint(&app, &ws, &receiver.url(), json!(["company.*"])).await;
    for name in ["A", "B"] {
        let (status, _) = app
            .post("/v1/companies", &ws.token, json!({"name": name}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let first = receiver.wait_for(2).await;
    let (status, replayed) = app
        .post(
            &format!("/v1/webhooks/{id}/replay"),
            &ws.token,
            json!({"since": "2000-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{replayed}");
    assert_eq!(replayed["queued"], 2, "{replayed}");
    let all = receiver.wait_for(4).await;
    assert_eq!(
        all[2..].iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        first.iter().map(|r| r.id.clone()).collect::<Vec<_>>()
    );
    for bad in [
        json!({}),
        json!({"since": "2000-01-01T00:00:00Z", "after": "x"}),
        json!({"after": "nope"}),
    ] {
        let (status, body) = app
            .post(&format!("/v1/webhooks/{id}/replay"), &ws.token, bad.clone())
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad} -> {body}");
    }
}

#[tokio::test]
async fn private_addresses_are_refused_and_other_workspaces_and_roles_get_nothing() {
    // No allow-list here: loopback is private like any other.
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_with_clock(
        |s| {
            s.webhooks.enabled = true;
            s.webhooks.allow_hosts = String::new();
        },
        clock,
    )
    .await;
    let ws = app.signup("hooks-safe").await;
    let other = app.signup("hooks-safe-other").await;
    let receiver = Receiver::start().await;
    for url in [
        receiver.url(),
        format!("https://127.0.0.1:{}/hook", receiver.port),
        "https://10.0.0.5/hook".to_owned(),
        "https://169.254.169.254/latest/meta-data".to_owned(),
        "https://[::1]/hook".to_owned(),
        "https://user:pw@hooks.example.com/".to_owned(),
        "ftp://hooks.example.com/".to_owned(),
        "https://hooks.example.com/\u{0}".to_owned(),
        "not a url".to_owned(),
    ] {
        let (status, body) = app
            .post("/v1/webhooks", &ws.token, json!({"url": url}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url} -> {body}");
    }
    for bad in [
        json!({"url": "https://hooks.example.com/", "event_types": ["Contact"]}),
        json!({"url": "https://hooks.example.com/", "description": "x".repeat(501)}),
        json!({"url": "https://hooks.example.com/", "secret": "mine"}),
        json!({"url": 5}),
    ] {
        let (status, body) = app.post("/v1/webhooks", &ws.token, bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad} -> {body}");
    }
    // A name that resolves to loopback passes the form check and is refused at delivery,
    // after resolving: nothing reaches the receiver.
    let (id, _) = endpoint(
        &app,
        &ws,
        &format!("https://localhost:{}/hook", receiver.port),
        json!(["deal.won"]),
    )
    .await;
    let (status, queued) = app
        .post(&format!("/v1/webhooks/{id}/test"), &ws.token, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let message = str_of(&queued["id"]);
    let tried = message_until(&app, &ws, &id, &message, |m| {
        m["attempts"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    let attempt = &tried["attempts"][0];
    assert_eq!(attempt["status"], Value::Null, "{tried}");
    assert!(str_of(&attempt["error"]).contains("not allowed"), "{tried}");
    assert!(receiver.all().is_empty());

    // Another workspace's endpoint and messages are not found; other roles are refused.
    for (method, path) in [
        (reqwest::Method::GET, format!("/v1/webhooks/{id}")),
        (reqwest::Method::PATCH, format!("/v1/webhooks/{id}")),
        (reqwest::Method::DELETE, format!("/v1/webhooks/{id}")),
        (reqwest::Method::POST, format!("/v1/webhooks/{id}/test")),
        (
            reqwest::Method::POST,
            format!("/v1/webhooks/{id}/rotate-secret"),
        ),
        (reqwest::Method::GET, format!("/v1/webhooks/{id}/messages")),
        (
            reqwest::Method::GET,
            format!("/v1/webhooks/{id}/messages/{message}"),
        ),
        (
            reqwest::Method::POST,
            format!("/v1/webhooks/{id}/messages/{message}/retry"),
        ),
    ] {
        let body = (method != reqwest::Method::GET && method != reqwest::Method::DELETE)
            .then(|| json!({}));
        let (status, answer) = app
            .call(method.clone(), &path, Some(&other.token), body)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path} -> {answer}");
    }
    let (status, theirs) = app.get("/v1/webhooks", &other.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(theirs["items"], json!([]));
    let member = app
        .token_for(ws.tenant, Uuid::now_v7(), crm_domain::Role::Member)
        .await;
    let (status, _) = app.get("/v1/webhooks", &member).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post(
            "/v1/webhooks",
            &member,
            json!({"url": "https://hooks.example.com/"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Deleted: gone for its workspace too.
    let (status, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/webhooks/{id}"),
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get(&format!("/v1/webhooks/{id}"), &ws.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn personal_data_erased_before_a_send_never_leaves() {
    let (app, clock) = app_with_webhooks().await;
    let ws = app.signup("hooks-erased").await;
    let receiver = Receiver::start().await;
    let (id, _) = endpoint(&app, &ws, &receiver.url(), json!(["contact.created"])).await;
    // The first attempt fails; the contact is erased before the retry.
    receiver.script(&[(500, None)]);
    let (status, contact) = app
        .post(
            "/v1/contacts",
            &ws.token,
            json!({"first_name": "Ingrid", "last_name": "Zyxwvutsson", "email": "ingrid.zyxw@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");
    let first = receiver.wait_for(1).await;
    assert!(String::from_utf8_lossy(&first[0].body).contains("Zyxwvutsson"));
    message_until(&app, &ws, &id, &first[0].id, |m| {
        m["attempts"].as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    let (status, erased) = app
        .post(
            &format!("/v1/contacts/{}/erase", str_of(&contact["id"])),
            &ws.token,
            json!({"reason": "DSR-7"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{erased}");
    clock.advance(chrono::Duration::seconds(6));
    let got = receiver.wait_for(2).await;
    assert_eq!(got[1].id, first[0].id);
    let body = String::from_utf8_lossy(&got[1].body).to_string();
    for piece in ["Ingrid", "Zyxwvutsson", "ingrid.zyxw"] {
        assert!(!body.contains(piece), "{piece} left after erasure: {body}");
    }
    assert_eq!(got[1].json()["data"]["personal_data"], "erased", "{body}");
}

#[tokio::test]
async fn an_endpoint_that_opts_out_of_order_gets_later_messages_while_one_waits() {
    let (app, clock) = app_with_webhooks().await;
    let ws = app.signup("hooks-parallel").await;
    let receiver = Receiver::start().await;
    let (status, made) = app
        .post(
            "/v1/webhooks",
            &ws.token,
            json!({"url": receiver.url(), "event_types": ["company.created"], "ordered": false}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["ordered"], false);
    receiver.script(&[(500, None)]);
    for n in 0..3 {
        let (status, _) = app
            .post(
                "/v1/companies",
                &ws.token,
                json!({"name": format!("Company {n}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    // The first fails and waits for its retry; the other two do not wait for it.
    let got = receiver.wait_for(3).await;
    let mut names: Vec<String> = got
        .iter()
        .map(|r| str_of(&r.json()["data"]["state"]["name"]))
        .collect();
    names.sort();
    assert_eq!(names, ["Company 0", "Company 1", "Company 2"]);
    clock.advance(chrono::Duration::seconds(6));
    let again = receiver.wait_for(4).await;
    assert_eq!(again[3].id, got[0].id, "the failed one is sent again");
    // Back to ordered by a patch, in the trail.
    let id = str_of(&made["id"]);
    let (status, patched) = app
        .patch(
            &format!("/v1/webhooks/{id}"),
            &ws.token,
            json!({"ordered": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["ordered"], true);
    let (_, trail) = app.get("/v1/audit?limit=200", &ws.token).await;
    assert!(
        trail.to_string().contains("WebhookEndpointUpdated"),
        "{trail}"
    );
}

#[tokio::test]
async fn a_process_that_dies_mid_delivery_leaves_the_message_to_another_with_the_same_id() {
    // The server that dies: a worker of its own, on the test's clock, stopped (its task
    // dropped, its connections closed) while the receiver holds its request.
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_with_clock(|_| {}, clock.clone()).await;
    let ws = app.signup("hooks-killed").await;
    let receiver = Receiver::start().await;
    let (id, secret) = endpoint(&app, &ws, &receiver.url(), json!(["deal.won"])).await;
    let (status, queued) = app
        .post(&format!("/v1/webhooks/{id}/test"), &ws.token, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let message = str_of(&queued["id"]);
    if let Ok(mut stall) = receiver.stall.lock() {
        *stall = Some(Duration::from_secs(30));
    }
    let settings = crate::helpers::test_settings(&app.db_name);
    let pools = crm_app::db::connect(&settings.database)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let hooks = crm_app::webhooks::Webhooks {
        secrets: crm_app::totp::SecretBox::new(settings.auth.totp_key()),
        destinations: crm_app::webhooks::destinations::Destinations::new("127.0.0.1"),
    };
    let doomed = crm_app::webhooks::delivery::Worker::new(
        pools.projector.clone(),
        pools.app.clone(),
        crm_app::commands::Commands::new(&pools, crate::helpers::keyring()),
        hooks,
        clock.clone(),
        4,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let task = tokio::spawn(async move { doomed.run_once().await });
    let first = receiver.wait_for(1).await;
    task.abort();
    assert!(task.await.is_err(), "the worker was stopped mid-delivery");
    assert_eq!(first[0].id, message);

    // Another process takes over: not while the dead one's lease holds, then with the
    // same webhook-id.
    let second = app
        .second_server(|s| s.webhooks.enabled = true, clock.clone())
        .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.all().len(), 1, "the lease holds");
    clock.advance(chrono::Duration::seconds(61));
    let got = receiver.wait_for(2).await;
    assert_eq!(got[1].id, message);
    assert!(got[1].verifies_with(&secret));
    let done = message_until(&second, &ws, &id, &message, |m| m["status"] == "delivered").await;
    assert_eq!(done["attempts"].as_array().map(Vec::len), Some(1), "{done}");
}

#[tokio::test]
async fn an_endpoint_failing_for_five_days_is_turned_off_and_says_why() {
    let (app, clock) = app_with_webhooks().await;
    let ws = app.signup("hooks-five-days").await;
    let receiver = Receiver::start().await;
    receiver.script(&[(500, None), (500, None)]);
    let (id, _) = endpoint(&app, &ws, &receiver.url(), json!(["deal.won"])).await;
    let (status, queued) = app
        .post(&format!("/v1/webhooks/{id}/test"), &ws.token, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let message = str_of(&queued["id"]);
    message_until(&app, &ws, &id, &message, |m| {
        m["attempts"].as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    let (_, shown) = app.get(&format!("/v1/webhooks/{id}"), &ws.token).await;
    assert!(shown["failing_since"].is_string(), "{shown}");
    assert_eq!(shown["enabled"], true);
    // Five days on (the token has expired by then: the database is read directly), the
    // retry fails again and the endpoint is turned off.
    clock.advance(chrono::Duration::days(5) + chrono::Duration::minutes(1));
    let db = app.pool_as(None).await;
    let endpoint_id = Uuid::parse_str(&id).unwrap_or_default();
    let mut state: (bool, Option<String>) = (true, None);
    for _ in 0..400 {
        state =
            sqlx::query_as("SELECT enabled, disabled_reason FROM webhook_endpoints WHERE id = $1")
                .bind(endpoint_id)
                .fetch_one(&db)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        if !state.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!state.0, "still on");
    assert!(
        state
            .1
            .as_deref()
            .unwrap_or_default()
            .contains("failed since"),
        "{state:?}"
    );
    assert_eq!(receiver.all().len(), 2);
    let disabled: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE event_type = 'WebhookEndpointDisabled' AND metadata->>'actor' = 'webhooks'",
    )
    .fetch_one(&db)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(disabled, 1);
}
