//! Record history with field-level diffs, and past states by `version` or `as_of`.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, str_of};

fn changes(version: &Value) -> Vec<(String, Value, Value)> {
    version["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (str_of(&c["field"]), c["before"].clone(), c["after"].clone()))
        .collect()
}

#[tokio::test]
async fn history_and_past_states_span_a_delete_and_a_restore() {
    let app = spawn_app().await;
    let a = app.signup("hist-a").await;
    let (status, c) = app
        .post(
            "/v1/contacts",
            &a.token,
            json!({"first_name": "Ada", "job_title": "CTO"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let url = format!("/v1/contacts/{}", str_of(&c["id"]));
    let (status, _) = app.patch(&url, &a.token, json!({"job_title": "CEO"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.delete(&url, &a.token).await.0, StatusCode::NO_CONTENT);
    let (status, _) = app
        .post(&format!("{url}/restore"), &a.token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, history) = app.get(&format!("{url}/history"), &a.token).await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let items = history["items"].as_array().unwrap();
    let versions: Vec<i64> = items
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2, 3, 4]);
    assert_eq!(items[0]["event_type"], "ContactCreated");
    assert!(changes(&items[0])
        .iter()
        .any(|(f, b, a)| f == "first_name" && b.is_null() && a == "Ada"));
    assert_eq!(
        changes(&items[1]),
        [("job_title".to_owned(), json!("CTO"), json!("CEO"))]
    );
    assert_eq!(
        changes(&items[2]),
        [("deleted".to_owned(), json!(false), json!(true))]
    );
    assert_eq!(
        changes(&items[3]),
        [("deleted".to_owned(), json!(true), json!(false))]
    );
    for item in items {
        assert_eq!(item["actor"], json!(a.owner.to_string()));
        assert_eq!(item["actor_role"], "owner");
    }

    // By version: right after each event.
    let (status, v2) = app.get(&format!("{url}?version=2"), &a.token).await;
    assert_eq!(status, StatusCode::OK, "{v2}");
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["record"]["job_title"], "CEO");
    assert_eq!(v2["record"]["deleted"], false);
    let (_, v3) = app.get(&format!("{url}?version=3"), &a.token).await;
    assert_eq!(v3["record"]["deleted"], true);
    assert_eq!(v3["record"]["first_name"], "Ada");

    // By time: the first event's time shows the record as created; before it, nothing.
    let first: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(items[0]["recorded_at"].clone()).unwrap();
    let at = |t: chrono::DateTime<chrono::Utc>| {
        format!(
            "{url}?as_of={}",
            t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                .replace('+', "%2B")
        )
    };
    let (status, v1) = app.get(&at(first), &a.token).await;
    assert_eq!(status, StatusCode::OK, "{v1}");
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["record"]["job_title"], "CTO");
    let before = first - chrono::Duration::seconds(1);
    assert_eq!(
        app.get(&at(before), &a.token).await.0,
        StatusCode::NOT_FOUND
    );

    // Bad parameters change nothing and say why.
    let (status, body) = app.get(&format!("{url}?version=9"), &a.token).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        app.get(&format!("{url}?version=0"), &a.token).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (status, _) = app
        .get(
            &format!("{url}?version=1&as_of=2026-01-01T00:00:00Z"),
            &a.token,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app.get(&format!("{url}?as_of=yesterday"), &a.token).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // The present is unchanged.
    let (status, now) = app.get(&url, &a.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(now["job_title"], "CEO");
}

#[tokio::test]
async fn history_is_for_the_workspace_and_the_roles_that_read_the_audit() {
    let app = spawn_app().await;
    let a = app.signup("hist-own").await;
    let b = app.signup("hist-other").await;
    let (_, company) = app
        .post("/v1/companies", &a.token, json!({"name": "Acme"}))
        .await;
    let url = format!("/v1/companies/{}", str_of(&company["id"]));
    app.patch(&url, &a.token, json!({"name": "Acme Ltd"})).await;

    let (status, history) = app.get(&format!("{url}/history"), &a.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        changes(&history["items"][1]),
        [("name".to_owned(), json!("Acme"), json!("Acme Ltd"))]
    );

    // Another workspace's owner sees nothing, by history or by past state.
    assert_eq!(
        app.get(&format!("{url}/history"), &b.token).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&format!("{url}?version=1"), &b.token).await.0,
        StatusCode::NOT_FOUND
    );

    // A member reads the record now, but not its history or its past.
    let member = app
        .token_for(a.tenant, a.owner, crm_domain::Role::Member)
        .await;
    assert_eq!(app.get(&url, &member).await.0, StatusCode::OK);
    assert_eq!(
        app.get(&format!("{url}/history"), &member).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get(&format!("{url}?version=1"), &member).await.0,
        StatusCode::FORBIDDEN
    );
    let admin = app
        .token_for(a.tenant, a.owner, crm_domain::Role::Admin)
        .await;
    let (status, past) = app.get(&format!("{url}?version=1"), &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(past["record"]["name"], "Acme");

    // Unknown record types and unknown ids are 404.
    let id = str_of(&company["id"]);
    assert_eq!(
        app.get(&format!("/v1/users/{id}/history"), &a.token)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let missing = uuid::Uuid::new_v4();
    assert_eq!(
        app.get(&format!("/v1/deals/{missing}/history"), &a.token)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_revert_after_two_later_edits_is_a_new_event_with_its_reason() {
    let app = spawn_app().await;
    let a = app.signup("revert-a").await;
    let (_, c) = app
        .post(
            "/v1/contacts",
            &a.token,
            json!({"first_name": "Ada", "job_title": "CTO"}),
        )
        .await;
    let url = format!("/v1/contacts/{}", str_of(&c["id"]));
    app.patch(&url, &a.token, json!({"job_title": "CEO"})).await;
    app.patch(&url, &a.token, json!({"phone": "+44 20 7946 0000"}))
        .await;
    let revert = format!("{url}/revert");

    // Unhappy paths first: none of them writes anything.
    let member = app
        .token_for(a.tenant, a.owner, crm_domain::Role::Member)
        .await;
    let body = json!({"to_version": 1, "reason": "bad edits"});
    assert_eq!(
        app.post(&revert, &member, body.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    let b = app.signup("revert-b").await;
    assert_eq!(
        app.post(&revert, &b.token, body.clone()).await.0,
        StatusCode::NOT_FOUND
    );
    for bad in [
        json!({"to_version": 3, "reason": "latest"}),
        json!({"to_version": 0, "reason": "zero"}),
        json!({"to_version": 1, "reason": "  "}),
        json!({"to_version": 1}),
        json!({"to_version": 1, "reason": "x", "force": true}),
    ] {
        let (status, _) = app.post(&revert, &a.token, bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let stale = app
        .client
        .post(format!("{}{revert}", app.address))
        .bearer_auth(&a.token)
        .header("If-Match", "\"2\"")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    let (_, still) = app.get(&url, &a.token).await;
    assert_eq!(still["job_title"], "CEO");

    // The revert itself.
    let (status, reverted) = app.post(&revert, &a.token, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{reverted}");
    assert_eq!(reverted["job_title"], "CTO");
    assert_eq!(reverted["phone"], Value::Null);
    assert_eq!(reverted["first_name"], "Ada");

    let (_, history) = app.get(&format!("{url}/history"), &a.token).await;
    let items = history["items"].as_array().unwrap();
    assert_eq!(items.len(), 4, "the past is kept and one event added");
    assert_eq!(items[1]["event_type"], "ContactUpdated");
    assert_eq!(
        changes(&items[1]),
        [("job_title".to_owned(), json!("CTO"), json!("CEO"))]
    );
    assert_eq!(items[3]["reason"], "revert to version 1: bad edits");
    assert_eq!(
        changes(&items[3]),
        [
            ("job_title".to_owned(), json!("CEO"), json!("CTO")),
            ("phone".to_owned(), json!("+44 20 7946 0000"), Value::Null),
        ]
    );
    // Nothing left to revert to version 1; a deleted record must be restored first.
    assert_eq!(
        app.post(&revert, &a.token, body.clone()).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    app.delete(&url, &a.token).await;
    let body = json!({"to_version": 2, "reason": "undo"});
    assert_eq!(
        app.post(&revert, &a.token, body.clone()).await.0,
        StatusCode::CONFLICT
    );
    // Only contacts and companies revert.
    assert_eq!(
        app.post(
            &format!("/v1/deals/{}/revert", uuid::Uuid::new_v4()),
            &a.token,
            body
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_company_reverts_its_revenue_in_minor_units() {
    let app = spawn_app().await;
    let a = app.signup("revert-co").await;
    let (status, co) = app
        .post(
            "/v1/companies",
            &a.token,
            json!({"name": "Acme", "annual_revenue": {"amount_minor": 123456, "currency": "EUR"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{co}");
    let url = format!("/v1/companies/{}", str_of(&co["id"]));
    app.patch(
        &url,
        &a.token,
        json!({"name": "Acme Ltd", "annual_revenue": null}),
    )
    .await;
    let (status, back) = app
        .post(
            &format!("{url}/revert"),
            &a.token,
            json!({"to_version": 1, "reason": "wrong company edited"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{back}");
    assert_eq!(back["name"], "Acme");
    assert_eq!(back["annual_revenue"]["amount_minor"], 123456);
    assert_eq!(back["annual_revenue"]["currency"], "EUR");
}

#[tokio::test]
async fn past_states_of_long_streams_start_from_snapshots_and_answer_the_same() {
    let app = spawn_app().await;
    let a = app.signup("hist-long").await;
    let t = &a.token;
    let (_, co) = app
        .post("/v1/companies", t, json!({"name": "Long Stream Co"}))
        .await;
    let id = str_of(&co["id"]);
    for i in 2..=230 {
        let (status, _) = app
            .patch(
                &format!("/v1/companies/{id}"),
                t,
                json!({"industry": format!("Industry {i}")}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let owner = app.pool_as(None).await;
    let snapshots = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT version FROM record_snapshots WHERE aggregate_id LIKE '%' || $1 ORDER BY version",
        )
        .bind(&id)
        .fetch_all(&owner)
        .await
        .unwrap()
    };
    let versions = [1_i64, 99, 100, 101, 150, 199, 200, 230];
    let mut cold = Vec::new();
    for v in versions {
        let (status, body) = app.get(&format!("/v1/companies/{id}?version={v}"), t).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["version"], v);
        let want = if v == 1 {
            Value::Null
        } else {
            json!(format!("Industry {v}"))
        };
        assert_eq!(body["record"]["industry"], want, "version {v}");
        cold.push(body);
    }
    // Those reads kept the states at versions 100 and 200.
    assert_eq!(snapshots().await, [100, 200]);
    // Read again from the snapshots: the same answers; as_of too.
    for (v, want) in versions.iter().zip(&cold) {
        let (_, body) = app.get(&format!("/v1/companies/{id}?version={v}"), t).await;
        assert_eq!(&body, want, "version {v} from a snapshot");
    }
    let (_, history) = app.get(&format!("/v1/companies/{id}/history"), t).await;
    let at_150 = history["items"][149]["occurred_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, by_time) = app
        .get(
            &format!("/v1/companies/{id}?as_of={}", at_150.replace('+', "%2B")),
            t,
        )
        .await;
    assert_eq!(by_time, cold[4]);
    // A snapshot that no longer fits the aggregate is passed over (and corrected).
    sqlx::query("UPDATE record_snapshots SET state = '{\"version\": \"not a number\"}'::jsonb WHERE version = 100")
        .execute(&owner)
        .await
        .unwrap();
    let (status, body) = app.get(&format!("/v1/companies/{id}?version=150"), t).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, cold[4]);
    // A snapshot of another format (an older build's) is ignored, not trusted.
    sqlx::query("UPDATE record_snapshots SET format = 0, state = '{}'::jsonb")
        .execute(&owner)
        .await
        .unwrap();
    let (status, body) = app.get(&format!("/v1/companies/{id}?version=150"), t).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, cold[4]);
    let current: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM record_snapshots WHERE version = 100 AND format = $1 AND state <> '{}'::jsonb",
    )
    .bind(crm_store::snapshots::FORMAT)
    .fetch_one(&owner)
    .await
    .unwrap();
    assert_eq!(current, 1, "the stale snapshot was replaced");
    // Another workspace reads none of it.
    let b = app.signup("hist-long-b").await;
    let (status, _) = app
        .get(&format!("/v1/companies/{id}?version=150"), &b.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
