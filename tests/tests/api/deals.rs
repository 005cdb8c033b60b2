//! Pipelines and deals: stages, closing rules, line items, the summary, isolation.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::client::{Client, Deal, Money, Pipeline};
use crate::helpers::spawn_app;

/// A deal created with `body`, checked to be 201.
async fn given_a_deal(crm: &Client<'_>, body: Value) -> Deal {
    crm.deals().create(&body).await.expect(StatusCode::CREATED)
}

/// The names of the deals `query` lists.
async fn deal_names(crm: &Client<'_>, query: &str) -> Vec<String> {
    crm.deals()
        .list(query)
        .await
        .expect(StatusCode::OK)
        .map(|d| d.name.clone())
}

#[tokio::test]
async fn a_workspace_starts_with_a_seven_stage_pipeline() {
    let app = spawn_app().await;
    let ws = app.signup("pipes").await;

    let pipeline = app.as_(&ws).pipelines().default_pipeline().await;

    assert_eq!(pipeline.stages.len(), 7);
    assert_eq!(pipeline.stages[0].probability, "20");
}

#[tokio::test]
async fn a_new_deal_starts_open_in_the_first_stage_owned_by_its_creator() {
    let app = spawn_app().await;
    let ws = app.signup("deals").await;
    let crm = app.as_(&ws);
    let pipeline = crm.pipelines().default_pipeline().await;

    let deal = given_a_deal(
        &crm,
        json!({"name": "Fleet renewal", "amount": {"amount_minor": 1_250_000, "currency": "EUR"}}),
    )
    .await;

    assert_eq!(
        deal.stage_id, pipeline.stages[0].id,
        "starts in the first open stage"
    );
    assert_eq!(
        deal.owner_id,
        Some(ws.owner),
        "the caller owns it by default"
    );
    assert_eq!(deal.status, "open");
}

#[tokio::test]
async fn a_deal_moves_between_open_stages_but_is_not_won_by_moving() {
    let app = spawn_app().await;
    let ws = app.signup("deal-move").await;
    let crm = app.as_(&ws);
    let pipeline = crm.pipelines().default_pipeline().await;
    let deal = given_a_deal(&crm, json!({"name": "Fleet renewal"})).await;
    let qualified = pipeline.stage("Qualified to buy").id;

    let moved = crm
        .deals()
        .move_to(deal.id, qualified)
        .await
        .expect(StatusCode::OK);
    assert_eq!(moved.stage_id, qualified);

    // Moving into a won stage is not how a deal is won.
    crm.deals()
        .move_to(deal.id, pipeline.stage("Closed won").id)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_lost_deal_needs_a_reason_and_moves_only_once_reopened() {
    let app = spawn_app().await;
    let ws = app.signup("deal-lost").await;
    let crm = app.as_(&ws);
    let pipeline = crm.pipelines().default_pipeline().await;
    let deal = given_a_deal(&crm, json!({"name": "Fleet renewal"})).await;
    let qualified = pipeline.stage("Qualified to buy").id;

    crm.deals()
        .lose(deal.id, &json!({}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let lost = crm
        .deals()
        .lose(deal.id, &json!({"reason": "Chose a competitor"}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(lost.status, "lost");
    assert_eq!(lost.close_reason.as_deref(), Some("Chose a competitor"));
    assert!(lost.closed_at.is_some());

    crm.deals()
        .move_to(deal.id, qualified)
        .await
        .expect_problem(StatusCode::CONFLICT);

    let reopened = crm
        .deals()
        .reopen(deal.id, &json!({}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(reopened.status, "open");
    assert_eq!(reopened.closed_at, None);
    crm.deals()
        .move_to(deal.id, qualified)
        .await
        .expect(StatusCode::OK);
}

#[tokio::test]
async fn a_won_deal_keeps_its_closing_time_and_closes_only_once() {
    let app = spawn_app().await;
    let ws = app.signup("deal-won").await;
    let crm = app.as_(&ws);
    let pipeline = crm.pipelines().default_pipeline().await;
    let deal = given_a_deal(&crm, json!({"name": "Fleet renewal"})).await;

    let won = crm
        .deals()
        .win(deal.id, &json!({"reason": "Best fit"}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(won.stage_id, pipeline.stage("Closed won").id);
    assert!(won.closed_at.is_some());

    let edited = crm
        .deals()
        .update(deal.id, &json!({"name": "Fleet renewal 2027"}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(edited.closed_at, won.closed_at);

    crm.deals()
        .win(deal.id, &json!({}))
        .await
        .expect_problem(StatusCode::CONFLICT);
    crm.deals()
        .lose(deal.id, &json!({"reason": "x"}))
        .await
        .expect_problem(StatusCode::CONFLICT);
}

#[tokio::test]
async fn every_step_of_a_deal_is_in_the_trail() {
    let app = spawn_app().await;
    let ws = app.signup("deal-trail").await;
    let crm = app.as_(&ws);
    let pipeline = crm.pipelines().default_pipeline().await;
    let deal = given_a_deal(&crm, json!({"name": "Fleet renewal"})).await;
    let deals = crm.deals();
    let ok = StatusCode::OK;
    deals
        .move_to(deal.id, pipeline.stage("Qualified to buy").id)
        .await
        .expect(ok);
    deals
        .lose(deal.id, &json!({"reason": "budget"}))
        .await
        .expect(ok);
    deals.reopen(deal.id, &json!({})).await.expect(ok);
    deals
        .win(deal.id, &json!({"reason": "Best fit"}))
        .await
        .expect(ok);
    deals
        .update(deal.id, &json!({"name": "Renamed"}))
        .await
        .expect(ok);

    let audit = crm.audit("limit=20").await.expect(ok);

    let types: Vec<&str> = audit
        .items
        .iter()
        .filter(|e| e.entity_id == deal.id.to_string())
        .map(|e| e.event_type.as_str())
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

/// Two line items in EUR, each discounted by half.
fn two_half_price_items() -> Value {
    json!({"items": [
        {"product": "Bolt", "quantity": 3, "unit_price": {"amount_minor": 25, "currency": "EUR"}, "discount_percent": "50"},
        {"product": "Nut", "quantity": 1, "unit_price": {"amount_minor": 101, "currency": "EUR"}, "discount_percent": "50"}
    ]})
}

#[tokio::test]
async fn line_items_price_the_deal_half_to_even() {
    let app = spawn_app().await;
    let ws = app.signup("lines").await;
    let crm = app.as_(&ws);
    let deal = given_a_deal(&crm, json!({"name": "Parts"})).await;

    let priced = crm
        .deals()
        .set_line_items(deal.id, &two_half_price_items())
        .await
        .expect(StatusCode::OK);

    assert_eq!(
        priced.amount,
        Some(Money::new(88, "EUR")),
        "38 + 50, each half to even"
    );
    assert_eq!(priced.line_items[0].total, Money::new(38, "EUR"));
}

#[tokio::test]
async fn bad_line_items_are_refused_and_write_nothing() {
    let app = spawn_app().await;
    let ws = app.signup("lines-bad").await;
    let crm = app.as_(&ws);
    let deal = given_a_deal(&crm, json!({"name": "Parts"})).await;
    crm.deals()
        .set_line_items(deal.id, &two_half_price_items())
        .await
        .expect(StatusCode::OK);
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
        crm.deals()
            .set_line_items(deal.id, &bad)
            .await
            .context(what)
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
    crm.deals()
        .update(
            deal.id,
            &json!({"amount": {"amount_minor": 5, "currency": "EUR"}}),
        )
        .await
        .context("the amount follows the line items")
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);

    assert_eq!(
        app.event_count().await,
        events,
        "a refused request wrote an event"
    );
}

#[tokio::test]
async fn the_summary_never_adds_currencies_and_weights_half_even() {
    let app = spawn_app().await;
    let ws = app.signup("summary").await;
    let crm = app.as_(&ws);
    let pipeline = crm
        .pipelines()
        .create(&json!({"name": "Half", "stages": [
            {"name": "Coin flip", "probability": "50", "kind": "open"},
            {"name": "Won", "probability": "100", "kind": "won"},
            {"name": "Lost", "probability": "0", "kind": "lost"}
        ]}))
        .await
        .expect(StatusCode::CREATED);
    for (name, amount) in [
        ("a", json!({"amount_minor": 25, "currency": "EUR"})),
        ("b", json!({"amount_minor": 10, "currency": "EUR"})),
        ("c", json!({"amount_minor": 3, "currency": "JPY"})),
        ("d", Value::Null),
    ] {
        given_a_deal(
            &crm,
            json!({"name": name, "pipeline_id": pipeline.id, "amount": amount}),
        )
        .await;
    }

    let summary = crm
        .pipelines()
        .summary(pipeline.id)
        .await
        .expect(StatusCode::OK);

    let flip = &summary.stages[0];
    assert_eq!(
        (flip.name.as_str(), flip.deals, flip.deals_without_amount),
        ("Coin flip", 4, 1)
    );
    assert_eq!(
        flip.totals.len(),
        2,
        "one row per currency: {:?}",
        flip.totals
    );
    assert_eq!(flip.totals[0].total, Money::new(35, "EUR"));
    assert_eq!(
        flip.totals[0].weighted,
        Money::new(18, "EUR"),
        "17.5 to even is 18"
    );
    assert_eq!(flip.totals[1].total, Money::new(3, "JPY"));
    assert_eq!(
        flip.totals[1].weighted,
        Money::new(2, "JPY"),
        "1.5 to even is 2"
    );
    assert_eq!(summary.stages[1].deals, 0);
}

#[tokio::test]
async fn a_busy_stage_is_not_retired_and_a_retired_one_takes_no_deals() {
    let app = spawn_app().await;
    let ws = app.signup("stages").await;
    let crm = app.as_(&ws);
    let p = crm.pipelines().default_pipeline().await;
    let first = p.stage("Appointment scheduled").id;
    let deal = given_a_deal(&crm, json!({"name": "Busy"})).await;

    crm.pipelines()
        .remove_stage(p.id, first)
        .await
        .expect_problem(StatusCode::CONFLICT);

    crm.deals()
        .move_to(deal.id, p.stage("Contract sent").id)
        .await
        .expect(StatusCode::OK);
    let after = crm
        .pipelines()
        .remove_stage(p.id, first)
        .await
        .expect(StatusCode::OK);
    assert_eq!(after.stages[0].name, "Qualified to buy");
    let last = after.stages.last().unwrap();
    assert!(last.retired, "{last:?}");

    crm.deals()
        .create(&json!({"name": "Late", "stage_id": first}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_stage_is_added_with_a_decimal_string_probability_up_to_100() {
    let app = spawn_app().await;
    let ws = app.signup("stage-add").await;
    let crm = app.as_(&ws);
    let p = crm.pipelines().default_pipeline().await;

    let added = crm
        .pipelines()
        .add_stage(
            p.id,
            &json!({"name": "Demo", "probability": "33.5", "kind": "open", "position": 0}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(
        (
            added.stages[0].name.as_str(),
            added.stages[0].probability.as_str()
        ),
        ("Demo", "33.5")
    );

    crm.pipelines()
        .add_stage(
            p.id,
            &json!({"name": "Float", "probability": 33.5, "kind": "open"}),
        )
        .await
        .context("a float probability")
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    crm.pipelines()
        .add_stage(
            p.id,
            &json!({"name": "Too sure", "probability": "101", "kind": "open"}),
        )
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn stages_are_reordered_only_all_at_once() {
    let app = spawn_app().await;
    let ws = app.signup("stage-order").await;
    let crm = app.as_(&ws);
    let p = crm.pipelines().default_pipeline().await;
    let mut ids: Vec<String> = p
        .stages
        .iter()
        .filter(|s| !s.retired)
        .map(|s| s.id.to_string())
        .collect();
    ids.reverse();

    let reordered: Pipeline = crm
        .pipelines()
        .reorder_stages(p.id, &json!({"stage_ids": ids}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(reordered.stages[0].id.to_string(), ids[0]);

    crm.pipelines()
        .reorder_stages(p.id, &json!({"stage_ids": &ids[1..]}))
        .await
        .context("a partial order")
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_member_cannot_rename_a_pipeline() {
    let app = spawn_app().await;
    let ws = app.signup("stage-member").await;
    let p = app.as_(&ws).pipelines().default_pipeline().await;
    let member = app
        .token_for(ws.tenant, ws.owner, crm_domain::Role::Member)
        .await;

    app.as_(&member)
        .pipelines()
        .update(p.id, &json!({"name": "Mine"}))
        .await
        .expect_problem(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn another_workspace_reaches_no_deal_or_pipeline_of_ours() {
    let app = spawn_app().await;
    let a = app.signup("deal-a").await;
    let b = app.signup("deal-b").await;
    let as_a = app.as_(&a);
    let pa = as_a.pipelines().default_pipeline().await;
    let contract_sent = pa.stage("Contract sent").id;
    let company = as_a
        .companies()
        .create(&json!({"name": "A Co"}))
        .await
        .expect(StatusCode::CREATED);
    let deal = given_a_deal(
        &as_a,
        json!({"name": "Secret deal", "company_id": company.id}),
    )
    .await;
    let events = app.event_count().await;

    // Every route with A's ids answers B as if they did not exist.
    let as_b = app.as_(&b);
    let (deals, pipes) = (as_b.deals(), as_b.pipelines());
    let id = deal.id;
    let not_found = StatusCode::NOT_FOUND;
    deals.get(id).await.expect_problem(not_found);
    deals
        .update(id, &json!({"name": "x"}))
        .await
        .expect_problem(not_found);
    deals.delete(id).await.expect_problem(not_found);
    deals
        .move_to(id, contract_sent)
        .await
        .expect_problem(not_found);
    deals.win(id, &json!({})).await.expect_problem(not_found);
    deals.restore(id).await.expect_problem(not_found);
    deals
        .set_line_items(id, &json!({"items": []}))
        .await
        .expect_problem(not_found);
    pipes.get(pa.id).await.expect_problem(not_found);
    pipes.summary(pa.id).await.expect_problem(not_found);
    pipes
        .update(pa.id, &json!({"name": "x"}))
        .await
        .expect_problem(not_found);
    pipes
        .remove_stage(pa.id, contract_sent)
        .await
        .expect_problem(not_found);

    // B cannot put its deal in A's stage or link A's company.
    deals
        .create(&json!({"name": "x", "stage_id": contract_sent}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    deals
        .create(&json!({"name": "x", "company_id": company.id}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.event_count().await, events);

    // B's lists show none of it.
    for query in ["", "q=secret", &format!("pipeline_id={}", pa.id)] {
        let page = deals.list(query).await.expect(StatusCode::OK);
        assert!(page.items.is_empty(), "{query}: {page:?}");
    }
    let b_pipes = pipes.list().await.expect(StatusCode::OK);
    assert!(b_pipes.items.iter().all(|p| p.id != pa.id));
}

#[tokio::test]
async fn deal_lists_filter_by_amount_status_owner_stage_and_close_date() {
    let app = spawn_app().await;
    let ws = app.signup("deal-list").await;
    let crm = app.as_(&ws);
    let p = crm.pipelines().default_pipeline().await;
    for (name, minor, code) in [
        ("Small", 1_000, "EUR"),
        ("Large", 90_000, "EUR"),
        ("Dollar", 50_000, "USD"),
    ] {
        given_a_deal(&crm, json!({"name": name, "amount": {"amount_minor": minor, "currency": code}, "expected_close_date": "2026-12-31"})).await;
    }
    let gone = given_a_deal(&crm, json!({"name": "Gone"})).await;
    crm.deals()
        .lose(gone.id, &json!({"reason": "budget"}))
        .await
        .expect(StatusCode::OK);

    assert_eq!(
        deal_names(&crm, "currency=EUR&amount_min=5000").await,
        ["Large"]
    );
    assert_eq!(deal_names(&crm, "status=lost").await, ["Gone"]);
    assert_eq!(
        deal_names(&crm, "owner=me&status=open&sort=-name").await,
        ["Small", "Large", "Dollar"]
    );
    let in_stage = format!(
        "stage_id={}&close_before=2026-12-31&close_after=2026-12-01",
        p.stage("Appointment scheduled").id
    );
    assert_eq!(deal_names(&crm, &in_stage).await.len(), 3);
}

#[tokio::test]
async fn bad_deal_list_parameters_are_refused() {
    let app = spawn_app().await;
    let ws = app.signup("deal-list-bad").await;
    let crm = app.as_(&ws);

    for bad in [
        "amount_min=5",
        "status=maybe",
        "owner=someone",
        "close_before=31/12/2026",
        "currency=EURO",
    ] {
        crm.deals()
            .list(bad)
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
}
