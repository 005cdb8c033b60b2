//! Pipelines and deals: stages, closing rules, line items, the summary, isolation.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, str_of, uuid_of, TestApp, Workspace};

async fn default_pipeline(app: &TestApp, ws: &Workspace) -> Value {
    let (status, list) = app.get("/v1/pipelines", &ws.token).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["items"][0].clone()
}

fn stage_id(pipeline: &Value, name: &str) -> String {
    pipeline["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .map(|s| str_of(&s["id"]))
        .unwrap_or_else(|| panic!("no stage {name}"))
}

#[tokio::test]
async fn a_deal_moves_is_lost_reopened_and_won_by_the_rules() {
    let app = spawn_app().await;
    let a = app.signup("deals").await;
    let pipeline = default_pipeline(&app, &a).await;
    assert_eq!(pipeline["stages"].as_array().unwrap().len(), 7);
    assert_eq!(pipeline["stages"][0]["probability"], "20");

    let (status, deal) = app.post("/v1/deals", &a.token, json!({"name": "Fleet renewal", "amount": {"amount_minor": 1_250_000, "currency": "EUR"}})).await;
    assert_eq!(status, StatusCode::CREATED, "{deal}");
    assert_eq!(
        deal["stage_id"], pipeline["stages"][0]["id"],
        "starts in the first open stage"
    );
    assert_eq!(
        deal["owner_id"],
        json!(a.owner.to_string()),
        "the caller owns it by default"
    );
    assert_eq!(deal["status"], "open");
    let id = uuid_of(&deal["id"]);

    let qualified = stage_id(&pipeline, "Qualified to buy");
    let (status, moved) = app
        .post(
            &format!("/v1/deals/{id}/move"),
            &a.token,
            json!({"stage_id": qualified}),
        )
        .await;
    assert_eq!(
        (status, moved["stage_id"].as_str()),
        (StatusCode::OK, Some(qualified.as_str()))
    );
    // Moving into a won stage is not how a deal is won.
    let (status, _) = app
        .post(
            &format!("/v1/deals/{id}/move"),
            &a.token,
            json!({"stage_id": stage_id(&pipeline, "Closed won")}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Losing needs a reason; a lost deal cannot move until reopened.
    let (status, _) = app
        .post(&format!("/v1/deals/{id}/lose"), &a.token, json!({}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, lost) = app
        .post(
            &format!("/v1/deals/{id}/lose"),
            &a.token,
            json!({"reason": "Chose a competitor"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{lost}");
    assert_eq!(
        (lost["status"].as_str(), lost["close_reason"].as_str()),
        (Some("lost"), Some("Chose a competitor"))
    );
    assert!(lost["closed_at"].is_string());
    let (status, _) = app
        .post(
            &format!("/v1/deals/{id}/move"),
            &a.token,
            json!({"stage_id": qualified}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, reopened) = app
        .post(&format!("/v1/deals/{id}/reopen"), &a.token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (reopened["status"].as_str(), &reopened["closed_at"]),
        (Some("open"), &Value::Null)
    );

    // Won: the closing time stays through edits, and a second win is refused.
    let (status, won) = app
        .post(
            &format!("/v1/deals/{id}/win"),
            &a.token,
            json!({"reason": "Best fit"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(won["stage_id"], json!(stage_id(&pipeline, "Closed won")));
    let closed_at = won["closed_at"].clone();
    let (status, edited) = app
        .patch(
            &format!("/v1/deals/{id}"),
            &a.token,
            json!({"name": "Fleet renewal 2027"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(edited["closed_at"], closed_at);
    let (status, _) = app
        .post(&format!("/v1/deals/{id}/win"), &a.token, json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app
        .post(
            &format!("/v1/deals/{id}/lose"),
            &a.token,
            json!({"reason": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // The trail has every step.
    let (_, audit) = app.get("/v1/audit?limit=20", &a.token).await;
    let types: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["entity_id"] == json!(id.to_string()))
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    assert_eq!(
        types,
        [
            "DealUpdated",
            "DealWon",
            "DealReopened",
            "DealLost",
            "DealStageChanged",
            "DealCreated"
        ]
    );
}

#[tokio::test]
async fn line_items_price_the_deal_exactly() {
    let app = spawn_app().await;
    let a = app.signup("lines").await;
    let (_, deal) = app
        .post("/v1/deals", &a.token, json!({"name": "Parts"}))
        .await;
    let id = uuid_of(&deal["id"]);
    let url = format!("/v1/deals/{id}/line-items");
    let put = |body: Value| app.call(Method::PUT, &url, Some(&a.token), Some(body));

    let (status, priced) = put(json!({"items": [
        {"product": "Bolt", "quantity": 3, "unit_price": {"amount_minor": 25, "currency": "EUR"}, "discount_percent": "50"},
        {"product": "Nut", "quantity": 1, "unit_price": {"amount_minor": 101, "currency": "EUR"}, "discount_percent": "50"}
    ]}))
    .await;
    assert_eq!(status, StatusCode::OK, "{priced}");
    assert_eq!(
        priced["amount"],
        json!({"amount_minor": 88, "currency": "EUR"}),
        "38 + 50, each half to even"
    );
    assert_eq!(
        priced["line_items"][0]["total"],
        json!({"amount_minor": 38, "currency": "EUR"})
    );
    let events = app.event_count().await;

    for (bad, what) in [
        (
            json!({"items": [{"product": "A", "quantity": 1, "unit_price": {"amount_minor": 1, "currency": "EUR"}}, {"product": "B", "quantity": 1, "unit_price": {"amount_minor": 1, "currency": "USD"}}]}),
            "mixed currencies",
        ),
        (
            json!({"items": [{"product": "A", "quantity": 1, "unit_price": {"amount_minor": 1, "currency": "EUR"}, "discount_percent": 12.5}]}),
            "a float discount",
        ),
        (
            json!({"items": [{"product": "A", "quantity": 1, "unit_price": {"amount_minor": 1.5, "currency": "EUR"}}]}),
            "a fractional minor amount",
        ),
        (
            json!({"items": [{"product": "A", "quantity": 1_000_000_000, "unit_price": {"amount_minor": 9_223_372_036_854_775_i64, "currency": "EUR"}}]}),
            "an overflowing line",
        ),
        (
            json!({"items": [{"product": "A", "quantity": 1, "unit_price": {"amount_minor": 9_223_372_036_854_775_807_i64, "currency": "EUR"}}, {"product": "B", "quantity": 1, "unit_price": {"amount_minor": 1, "currency": "EUR"}}]}),
            "an overflowing sum",
        ),
        (
            json!({"items": [{"product": "A", "quantity": 1, "unit_price": {"amount_minor": 1, "currency": "XYZ"}}]}),
            "an unknown currency",
        ),
    ] {
        let (status, problem) = put(bad).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {problem}"
        );
    }
    let (status, _) = app
        .patch(
            &format!("/v1/deals/{id}"),
            &a.token,
            json!({"amount": {"amount_minor": 5, "currency": "EUR"}}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the amount follows the line items"
    );
    assert_eq!(
        app.event_count().await,
        events,
        "a refused request wrote an event"
    );
}

#[tokio::test]
async fn the_summary_never_adds_currencies_and_weights_half_even() {
    let app = spawn_app().await;
    let a = app.signup("summary").await;
    let (status, p) = app
        .post(
            "/v1/pipelines",
            &a.token,
            json!({"name": "Half", "stages": [
                {"name": "Coin flip", "probability": "50", "kind": "open"},
                {"name": "Won", "probability": "100", "kind": "won"},
                {"name": "Lost", "probability": "0", "kind": "lost"}
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let pid = str_of(&p["id"]);
    for (name, amount) in [
        ("a", json!({"amount_minor": 25, "currency": "EUR"})),
        ("b", json!({"amount_minor": 10, "currency": "EUR"})),
        ("c", json!({"amount_minor": 3, "currency": "JPY"})),
        ("d", Value::Null),
    ] {
        let (status, d) = app
            .post(
                "/v1/deals",
                &a.token,
                json!({"name": name, "pipeline_id": pid, "amount": amount}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{d}");
    }
    let (status, summary) = app
        .get(&format!("/v1/pipelines/{pid}/summary"), &a.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    let flip = &summary["stages"][0];
    assert_eq!(
        (
            flip["name"].as_str(),
            flip["deals"].as_i64(),
            flip["deals_without_amount"].as_i64()
        ),
        (Some("Coin flip"), Some(4), Some(1))
    );
    let totals = flip["totals"].as_array().unwrap();
    assert_eq!(totals.len(), 2, "one row per currency: {totals:?}");
    assert_eq!(
        totals[0]["total"],
        json!({"amount_minor": 35, "currency": "EUR"})
    );
    assert_eq!(
        totals[0]["weighted"],
        json!({"amount_minor": 18, "currency": "EUR"}),
        "17.5 to even is 18"
    );
    assert_eq!(
        totals[1]["total"],
        json!({"amount_minor": 3, "currency": "JPY"})
    );
    assert_eq!(
        totals[1]["weighted"],
        json!({"amount_minor": 2, "currency": "JPY"}),
        "1.5 to even is 2"
    );
    assert_eq!(summary["stages"][1]["deals"], 0);
}

#[tokio::test]
async fn stages_are_managed_and_a_busy_stage_is_not_retired() {
    let app = spawn_app().await;
    let a = app.signup("stages").await;
    let p = default_pipeline(&app, &a).await;
    let pid = str_of(&p["id"]);
    let first = stage_id(&p, "Appointment scheduled");
    let (_, deal) = app
        .post("/v1/deals", &a.token, json!({"name": "Busy"}))
        .await;

    let (status, problem) = app
        .delete(&format!("/v1/pipelines/{pid}/stages/{first}"), &a.token)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    app.post(
        &format!("/v1/deals/{}/move", str_of(&deal["id"])),
        &a.token,
        json!({"stage_id": stage_id(&p, "Contract sent")}),
    )
    .await;
    let (status, after) = app
        .delete(&format!("/v1/pipelines/{pid}/stages/{first}"), &a.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after["stages"][0]["name"], "Qualified to buy");
    assert_eq!(
        after["stages"].as_array().unwrap().last().unwrap()["retired"],
        true
    );
    // A retired stage takes no deals.
    let (status, _) = app
        .post(
            "/v1/deals",
            &a.token,
            json!({"name": "Late", "stage_id": first}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, added) = app
        .post(
            &format!("/v1/pipelines/{pid}/stages"),
            &a.token,
            json!({"name": "Demo", "probability": "33.5", "kind": "open", "position": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(
        (
            added["stages"][0]["name"].as_str(),
            added["stages"][0]["probability"].as_str()
        ),
        (Some("Demo"), Some("33.5"))
    );
    let (status, _) = app
        .post(
            &format!("/v1/pipelines/{pid}/stages"),
            &a.token,
            json!({"name": "Float", "probability": 33.5, "kind": "open"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a float probability"
    );
    let (status, _) = app
        .post(
            &format!("/v1/pipelines/{pid}/stages"),
            &a.token,
            json!({"name": "Too sure", "probability": "101", "kind": "open"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let mut ids: Vec<String> = added["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["retired"] == false)
        .map(|s| str_of(&s["id"]))
        .collect();
    ids.reverse();
    let (status, reordered) = app
        .call(
            Method::PUT,
            &format!("/v1/pipelines/{pid}/stages"),
            Some(&a.token),
            Some(json!({"stage_ids": ids})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reordered}");
    assert_eq!(reordered["stages"][0]["id"], json!(ids[0]));
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/v1/pipelines/{pid}/stages"),
            Some(&a.token),
            Some(json!({"stage_ids": &ids[1..]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a partial order");

    let member = app
        .token_for(a.tenant, a.owner, crm_domain::Role::Member)
        .await;
    let (status, _) = app
        .patch(
            &format!("/v1/pipelines/{pid}"),
            &member,
            json!({"name": "Mine"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn deals_and_pipelines_are_isolated_by_workspace() {
    let app = spawn_app().await;
    let a = app.signup("deal-a").await;
    let b = app.signup("deal-b").await;
    let pa = default_pipeline(&app, &a).await;
    let pid = str_of(&pa["id"]);
    let (_, company) = app
        .post("/v1/companies", &a.token, json!({"name": "A Co"}))
        .await;
    let (_, deal) = app
        .post(
            "/v1/deals",
            &a.token,
            json!({"name": "Secret deal", "company_id": company["id"]}),
        )
        .await;
    let id = str_of(&deal["id"]);
    let events = app.event_count().await;
    for (method, path, body) in [
        (Method::GET, format!("/v1/deals/{id}"), None),
        (
            Method::PATCH,
            format!("/v1/deals/{id}"),
            Some(json!({"name": "x"})),
        ),
        (Method::DELETE, format!("/v1/deals/{id}"), None),
        (
            Method::POST,
            format!("/v1/deals/{id}/move"),
            Some(json!({"stage_id": stage_id(&pa, "Contract sent")})),
        ),
        (Method::POST, format!("/v1/deals/{id}/win"), Some(json!({}))),
        (Method::POST, format!("/v1/deals/{id}/restore"), None),
        (
            Method::PUT,
            format!("/v1/deals/{id}/line-items"),
            Some(json!({"items": []})),
        ),
        (Method::GET, format!("/v1/pipelines/{pid}"), None),
        (Method::GET, format!("/v1/pipelines/{pid}/summary"), None),
        (
            Method::PATCH,
            format!("/v1/pipelines/{pid}"),
            Some(json!({"name": "x"})),
        ),
        (
            Method::DELETE,
            format!(
                "/v1/pipelines/{pid}/stages/{}",
                stage_id(&pa, "Contract sent")
            ),
            None,
        ),
    ] {
        let (status, body) = app.call(method.clone(), &path, Some(&b.token), body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
    }
    // B cannot put its deal in A's stage or link A's company.
    let (status, _) = app
        .post(
            "/v1/deals",
            &b.token,
            json!({"name": "x", "stage_id": stage_id(&pa, "Contract sent")}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .post(
            "/v1/deals",
            &b.token,
            json!({"name": "x", "company_id": company["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.event_count().await, events);
    for path in [
        "/v1/deals",
        "/v1/deals?q=secret",
        &format!("/v1/deals?pipeline_id={pid}"),
    ] {
        let (_, page) = app.get(path, &b.token).await;
        assert!(
            page["items"].as_array().unwrap().is_empty(),
            "{path}: {page}"
        );
    }
    let (_, pipes) = app.get("/v1/pipelines", &b.token).await;
    assert!(pipes["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["id"] != json!(pid)));
}

#[tokio::test]
async fn deal_lists_filter_and_check_their_parameters() {
    let app = spawn_app().await;
    let a = app.signup("deal-list").await;
    let p = default_pipeline(&app, &a).await;
    for (name, minor, code) in [
        ("Small", 1_000, "EUR"),
        ("Large", 90_000, "EUR"),
        ("Dollar", 50_000, "USD"),
    ] {
        app.post("/v1/deals", &a.token, json!({"name": name, "amount": {"amount_minor": minor, "currency": code}, "expected_close_date": "2026-12-31"})).await;
    }
    let (_, lost) = app
        .post("/v1/deals", &a.token, json!({"name": "Gone"}))
        .await;
    app.post(
        &format!("/v1/deals/{}/lose", str_of(&lost["id"])),
        &a.token,
        json!({"reason": "budget"}),
    )
    .await;

    let names = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| str_of(&d["name"]))
            .collect()
    };
    let (_, page) = app
        .get("/v1/deals?currency=EUR&amount_min=5000", &a.token)
        .await;
    assert_eq!(names(&page), ["Large"]);
    let (_, page) = app.get("/v1/deals?status=lost", &a.token).await;
    assert_eq!(names(&page), ["Gone"]);
    let (_, page) = app
        .get("/v1/deals?owner=me&status=open&sort=-name", &a.token)
        .await;
    assert_eq!(names(&page), ["Small", "Large", "Dollar"]);
    let (_, page) = app
        .get(
            &format!(
                "/v1/deals?stage_id={}&close_before=2026-12-31&close_after=2026-12-01",
                stage_id(&p, "Appointment scheduled")
            ),
            &a.token,
        )
        .await;
    assert_eq!(names(&page).len(), 3);
    for bad in [
        "/v1/deals?amount_min=5",
        "/v1/deals?status=maybe",
        "/v1/deals?owner=someone",
        "/v1/deals?close_before=31/12/2026",
        "/v1/deals?currency=EURO",
    ] {
        let (status, problem) = app.get(bad, &a.token).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {problem}");
    }
}
