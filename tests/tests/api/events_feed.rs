//! The changes feed: every event of the workspace once, in commit order, with changes and
//! states of records; filters; long polling; isolation and refusals.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app, str_of, TestApp, Workspace};

/// Every event of the feed after `after` under `query`, page by page of `limit`, and the
/// last cursor.
async fn walk(
    app: &TestApp,
    ws: &Workspace,
    query: &str,
    limit: u32,
    after: Option<String>,
) -> (Vec<Value>, String) {
    let mut events = Vec::new();
    let mut cursor = after;
    for _ in 0..200 {
        let path = match &cursor {
            Some(c) => format!("/v1/events?limit={limit}&after={c}{query}"),
            None => format!("/v1/events?limit={limit}{query}"),
        };
        let (status, page) = app.get(&path, &ws.token).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        let next = str_of(&page["next_cursor"]);
        let items = page["items"].as_array().expect("items").clone();
        let done = Some(&next) == cursor.as_ref();
        events.extend(items);
        cursor = Some(next);
        if done {
            break;
        }
    }
    (events, cursor.unwrap_or_default())
}

#[tokio::test]
async fn the_feed_gives_every_event_once_in_commit_order_with_changes_and_states() {
    let app = spawn_app().await;
    let ws = app.signup("feed").await;
    let other = app.signup("feed-other").await;
    let (status, company) = app
        .post("/v1/companies", &ws.token, json!({"name": "Ericsson"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{company}");
    let id = str_of(&company["id"]);
    let (status, _) = app
        .patch(
            &format!("/v1/companies/{id}"),
            &ws.token,
            json!({"industry": "Telecom"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .post("/v1/contacts", &ws.token, json!({"first_name": "Börje"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    app.post("/v1/companies", &other.token, json!({"name": "Elsewhere"}))
        .await;

    let owner = app.pool_as(None).await;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE tenant_id = $1")
        .bind(ws.tenant)
        .fetch_one(&owner)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The feed shows a transaction once none older runs anywhere in the cluster (other
    // tests' included): walk on, waiting, until every stored event has come.
    let (mut events, mut cursor) = walk(&app, &ws, "", 2, None).await;
    for _ in 0..100 {
        if events.len() as i64 >= stored {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let (more, next) = walk(&app, &ws, "", 2, Some(cursor)).await;
        events.extend(more);
        cursor = next;
    }
    assert_eq!(events.len() as i64, stored, "{events:?}");
    let ids: std::collections::HashSet<String> = events.iter().map(|e| str_of(&e["id"])).collect();
    assert_eq!(ids.len(), events.len(), "each event once");
    let types: Vec<String> = events.iter().map(|e| str_of(&e["type"])).collect();
    let position = |t: &str| {
        types
            .iter()
            .position(|x| x == t)
            .unwrap_or_else(|| panic!("{t}: {types:?}"))
    };
    assert!(position("company.created") < position("company.updated"));
    assert!(position("company.updated") < position("contact.created"));
    let updated = &events[position("company.updated")];
    assert_eq!(updated["entity_id"], json!(id));
    assert_eq!(
        updated["changes"],
        json!([{"field": "industry", "before": null, "after": "Telecom"}])
    );
    assert_eq!(updated["state"]["industry"], "Telecom");
    assert_eq!(updated["actor"], json!(ws.owner.to_string()));
    // Filters.
    let (companies, _) = walk(&app, &ws, "&types=company.*", 50, None).await;
    assert_eq!(
        companies
            .iter()
            .map(|e| str_of(&e["type"]))
            .collect::<Vec<_>>(),
        ["company.created", "company.updated"]
    );
    let (contacts, _) = walk(&app, &ws, "&entity_type=contact", 50, None).await;
    assert_eq!(contacts.len(), 1);
    // Nothing new: the same cursor; a wait sees an event that commits meanwhile.
    let (status, idle) = app
        .get(&format!("/v1/events?after={cursor}"), &ws.token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(idle["items"], json!([]));
    assert_eq!(idle["next_cursor"], json!(cursor));
    let writer = {
        let (address, token) = (app.address.clone(), ws.token.clone());
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            reqwest::Client::new()
                .post(format!("{address}/v1/companies"))
                .bearer_auth(token)
                .json(&json!({"name": "Late"}))
                .send()
                .await
                .map(|r| r.status())
        })
    };
    let (status, waited) = app
        .get(&format!("/v1/events?after={cursor}&wait=10"), &ws.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{waited}");
    assert_eq!(waited["items"][0]["type"], "company.created", "{waited}");
    assert_eq!(
        writer.await.ok().and_then(Result::ok),
        Some(StatusCode::CREATED)
    );
    // The other workspace sees only its own.
    let (theirs, _) = walk(&app, &other, "&types=company.*", 50, None).await;
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["state"]["name"], "Elsewhere");
}

#[tokio::test]
async fn the_feed_refuses_other_roles_and_bad_parameters() {
    let app = spawn_app().await;
    let ws = app.signup("feed-refusals").await;
    let member = app
        .token_for(ws.tenant, Uuid::now_v7(), crm_domain::Role::Member)
        .await;
    let (status, _) = app.get("/v1/events", &member).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for query in [
        "after=nope",
        "after=eyJ0IjoiLTEiLCJwIjowfQ",
        "limit=0",
        "limit=501",
        "wait=31",
        "types=company",
        "types=Company.Created",
        "entity_type=user",
        "since=1",
    ] {
        let (status, body) = app.get(&format!("/v1/events?{query}"), &ws.token).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
    }
}

/// Server-Sent Events read from an open stream: `(id, event, data)`.
struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    async fn open(
        app: &TestApp,
        token: &str,
        query: &str,
        last_event_id: Option<&str>,
    ) -> reqwest::Response {
        let mut request = app
            .client
            .get(format!("{}/v1/events/stream{query}", app.address))
            .bearer_auth(token);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        request.send().await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// Reads until `n` events came (comments skipped), within 20 s.
    async fn next(&mut self, n: usize) -> Vec<(String, String, Value)> {
        let mut events = Vec::new();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        while events.len() < n {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut kind, mut data) = (String::new(), String::new(), Value::Null);
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        kind = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = serde_json::from_str(v).unwrap_or_else(|e| panic!("{v}: {e}"));
                    }
                }
                if !kind.is_empty() {
                    events.push((id, kind, data));
                }
            }
            if events.len() >= n {
                break;
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("only {} events came: {events:?}", events.len()))
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|| panic!("the stream ended after {} events", events.len()));
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
        events
    }
}

#[tokio::test]
async fn the_stream_serves_the_feed_as_server_sent_events_and_resumes_from_last_event_id() {
    let app = spawn_app().await;
    let ws = app.signup("feed-stream").await;
    for name in ["First", "Second"] {
        let (status, _) = app
            .post("/v1/companies", &ws.token, json!({"name": name}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let response = EventStream::open(&app, &ws.token, "?types=company.*", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let mut stream = EventStream {
        response,
        buffer: String::new(),
    };
    let events = stream.next(2).await;
    assert_eq!(events[0].1, "company.created");
    assert_eq!(events[0].2["state"]["name"], "First");
    assert_eq!(events[1].2["state"]["name"], "Second");
    // A new event arrives on the open stream.
    let (status, _) = app
        .post("/v1/companies", &ws.token, json!({"name": "Third"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let more = stream.next(1).await;
    assert_eq!(more[0].2["state"]["name"], "Third");
    // The feed gives the same ids; a reconnect from the first event's id resumes after it.
    let (_, page) = app.get("/v1/events?types=company.*", &ws.token).await;
    assert_eq!(page["items"][0]["id"], events[0].2["id"]);
    let response = EventStream::open(&app, &ws.token, "?types=company.*", Some(&events[0].0)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut resumed = EventStream {
        response,
        buffer: String::new(),
    };
    let names: Vec<Value> = resumed
        .next(2)
        .await
        .into_iter()
        .map(|(_, _, data)| data["state"]["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("Second"), json!("Third")]);

    // Refusals come before the stream starts.
    let member = app
        .token_for(ws.tenant, Uuid::now_v7(), crm_domain::Role::Member)
        .await;
    let refused = EventStream::open(&app, &member, "", None).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let bad = EventStream::open(&app, &ws.token, "", Some("not-a-cursor")).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad = EventStream::open(&app, &ws.token, "?types=Company", None).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
