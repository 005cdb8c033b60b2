//! Bad input gets a clear problem and changes nothing; roles are enforced.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::client::{Body, Client, Contact};
use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn malformed_company_bodies_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let ws = app.signup("strict").await;
    let crm = app.as_(&ws);
    let events = app.event_count().await;

    for (body, field) in [
        (
            json!({"name": "X", "annual_revenue": {"amount_minor": 1.5, "currency": "EUR"}}),
            "annual_revenue.amount_minor",
        ),
        (
            json!({"name": "X", "annual_revenue": {"amount_minor": 9_223_372_036_854_775_808_u64, "currency": "EUR"}}),
            "annual_revenue.amount_minor",
        ),
        (
            json!({"name": "X", "annual_revenue": {"amount_minor": "12", "currency": "EUR"}}),
            "annual_revenue.amount_minor",
        ),
        (
            json!({"name": "X", "annual_revenue": {"amount_minor": 12, "currency": "EURO"}}),
            "annual_revenue.currency",
        ),
        (
            json!({"name": "X", "annual_revenue": {"amount_minor": -12, "currency": "EUR"}}),
            "annual_revenue",
        ),
        (json!({"name": "X", "unknown": true}), "unknown"),
        (json!({"name": "X", "employee_count": -3}), "employee_count"),
        (json!({"name": "X", "currency": "ABC"}), "currency"),
        (json!({"name": ""}), "name"),
        (json!({"domain": "x.example"}), "name"),
    ] {
        let problem = crm
            .companies()
            .create(&body)
            .await
            .context(&body)
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
        let reported = problem.field();
        assert!(
            reported == field || reported.starts_with(field),
            "{body}: expected {field}, got {problem:?}"
        );
    }

    assert_eq!(app.event_count().await, events);
}

#[tokio::test]
async fn a_bad_contact_email_is_refused_naming_the_field() {
    let app = spawn_app().await;
    let ws = app.signup("strict-email").await;

    let problem = app
        .as_(&ws)
        .contacts()
        .create(&json!({"first_name": "X", "email": "not-an-email"}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);

    assert_eq!(problem.field(), "email");
}

#[tokio::test]
async fn broken_json_other_media_types_and_huge_bodies_are_refused() {
    let app = spawn_app().await;
    let ws = app.signup("strict-raw").await;
    let crm = app.as_(&ws);
    let events = app.event_count().await;
    let post_raw = |content_type: &str, bytes: &str| {
        crm.send::<Value>(
            Method::POST,
            "/v1/companies",
            Body::raw(content_type, bytes),
        )
    };

    post_raw("application/json", "{\"name\": ")
        .await
        .expect_problem(StatusCode::BAD_REQUEST);
    post_raw("application/x-www-form-urlencoded", "name=x")
        .await
        .expect_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    crm.companies()
        .create(&json!({"name": "x".repeat(70_000)}))
        .await
        .expect_problem(StatusCode::PAYLOAD_TOO_LARGE);

    assert_eq!(
        app.event_count().await,
        events,
        "a refused request wrote an event"
    );
}

/// Ann, ann@x.example.
async fn given_ann(crm: &Client<'_>) -> Contact {
    crm.contacts()
        .create(&json!({"first_name": "Ann", "email": "ann@x.example"}))
        .await
        .expect(StatusCode::CREATED)
}

#[tokio::test]
async fn a_duplicate_email_and_restoring_a_live_contact_conflict_and_write_nothing() {
    let app = spawn_app().await;
    let ws = app.signup("rules").await;
    let crm = app.as_(&ws);
    let ann = given_ann(&crm).await;
    let events = app.event_count().await;

    crm.contacts()
        .create(&json!({"first_name": "Twin", "email": "ANN@x.example"}))
        .await
        .context("the same email, in capitals")
        .expect_problem(StatusCode::CONFLICT);
    crm.contacts()
        .restore(ann.id)
        .await
        .expect_problem(StatusCode::CONFLICT);

    assert_eq!(app.event_count().await, events);
}

#[tokio::test]
async fn a_patch_that_changes_nothing_writes_nothing() {
    let app = spawn_app().await;
    let ws = app.signup("rules-same").await;
    let crm = app.as_(&ws);
    let ann = given_ann(&crm).await;
    let events = app.event_count().await;

    let same = crm
        .contacts()
        .update(ann.id, &json!({"first_name": "Ann"}))
        .await
        .expect(StatusCode::OK);

    assert_eq!(same.version, 1);
    assert_eq!(app.event_count().await, events);
}

#[tokio::test]
async fn a_deleted_contact_is_not_changed_or_deleted_again_and_keeps_its_email() {
    let app = spawn_app().await;
    let ws = app.signup("rules-deleted").await;
    let crm = app.as_(&ws);
    let ann = given_ann(&crm).await;

    crm.contacts()
        .delete(ann.id)
        .await
        .expect(StatusCode::NO_CONTENT);

    crm.contacts()
        .update(ann.id, &json!({"first_name": "Zed"}))
        .await
        .expect_problem(StatusCode::CONFLICT);
    crm.contacts()
        .delete(ann.id)
        .await
        .expect_problem(StatusCode::CONFLICT);
    crm.contacts()
        .create(&json!({"first_name": "Other", "email": "ann@x.example"}))
        .await
        .context("a deleted contact keeps its email")
        .expect_problem(StatusCode::CONFLICT);
}

#[tokio::test]
async fn moving_an_email_frees_the_old_one() {
    let app = spawn_app().await;
    let ws = app.signup("rules-move").await;
    let crm = app.as_(&ws);
    let ann = given_ann(&crm).await;
    crm.contacts()
        .delete(ann.id)
        .await
        .expect(StatusCode::NO_CONTENT);
    crm.contacts().restore(ann.id).await.expect(StatusCode::OK);

    crm.contacts()
        .update(ann.id, &json!({"email": "ann@new.example"}))
        .await
        .expect(StatusCode::OK);

    crm.contacts()
        .create(&json!({"first_name": "Other", "email": "ann@x.example"}))
        .await
        .expect(StatusCode::CREATED);
}

#[tokio::test]
async fn unknown_ids_malformed_ids_and_unknown_routes_are_404() {
    let app = spawn_app().await;
    let ws = app.signup("rules-404").await;
    let crm = app.as_(&ws);

    crm.contacts()
        .get(Uuid::now_v7())
        .await
        .expect_problem(StatusCode::NOT_FOUND);
    crm.contacts()
        .get("not-a-uuid")
        .await
        .expect_problem(StatusCode::NOT_FOUND);
    crm.get::<Value>("/v1/nothing-here")
        .await
        .expect_problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_list_parameters_are_refused() {
    let app = spawn_app().await;
    let ws = app.signup("rules-params").await;
    let crm = app.as_(&ws);

    for query in [
        "limit=0",
        "limit=201",
        "sort=email",
        "cursor=xyz",
        "colour=red",
    ] {
        crm.contacts()
            .list(query)
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
    crm.audit("cursor=abc")
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_cursor_of_one_sort_order_is_refused_for_another() {
    let app = spawn_app().await;
    let ws = app.signup("rules-cursor").await;
    let crm = app.as_(&ws);
    for i in 0..3 {
        crm.contacts()
            .create(&json!({"first_name": format!("P{i}")}))
            .await
            .expect(StatusCode::CREATED);
    }
    let by_name = crm
        .contacts()
        .list("limit=1&sort=name")
        .await
        .expect(StatusCode::OK);

    crm.contacts()
        .list(&format!(
            "limit=1&sort=-created_at&cursor={}",
            by_name.cursor()
        ))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn roles_are_enforced_on_the_server_and_a_403_leaks_nothing() {
    let app = spawn_app().await;
    let ws = app.signup("roles").await;
    let target = app
        .as_(&ws)
        .companies()
        .create(&json!({"name": "Target"}))
        .await
        .expect(StatusCode::CREATED);
    let id = target.id;
    let events = app.event_count().await;
    let reader = app
        .token_for(ws.tenant, ws.owner, crm_domain::Role::ReadOnly)
        .await;
    let member = app
        .token_for(ws.tenant, ws.owner, crm_domain::Role::Member)
        .await;
    let (as_reader, as_member) = (app.as_(&reader), app.as_(&member));

    let answers = [
        as_reader
            .companies()
            .create(&json!({"name": "No"}))
            .await
            .untyped(),
        as_reader
            .companies()
            .update(id, &json!({"name": "No"}))
            .await
            .untyped(),
        as_reader.companies().delete(id).await.untyped(),
        as_member.audit("").await.untyped(),
        as_member
            .companies()
            .list("include_deleted=true")
            .await
            .untyped(),
        as_member.companies().restore(id).await.untyped(),
    ];

    for answer in answers {
        let text = answer.text().to_owned();
        answer.expect_problem(StatusCode::FORBIDDEN);
        assert!(!text.contains("Target"), "a 403 leaked data: {text}");
    }
    assert_eq!(app.event_count().await, events);
    // Reading is allowed to every role.
    as_reader.companies().get(id).await.expect(StatusCode::OK);
}

#[tokio::test]
async fn health_and_ready_answer_with_a_request_id_and_nosniff() {
    let app = spawn_app().await;
    let anonymous = app.anonymous();

    let health = anonymous
        .get::<Value>("/health")
        .await
        .expect_status(StatusCode::OK);

    assert!(health.header("x-request-id").is_some());
    assert_eq!(health.header("x-content-type-options"), Some("nosniff"));
    anonymous
        .get::<Value>("/ready")
        .await
        .assert_status(StatusCode::OK);
}

/// A contact with `email`.
async fn given_a_contact_with(crm: &Client<'_>, first_name: &str, email: &str) -> Contact {
    crm.contacts()
        .create(&json!({"first_name": first_name, "email": email}))
        .await
        .expect(StatusCode::CREATED)
}

#[tokio::test]
async fn clearing_an_email_with_blank_text_frees_it_at_once() {
    let app = spawn_app().await;
    let ws = app.signup("claims").await;
    let crm = app.as_(&ws);
    let cleo = given_a_contact_with(&crm, "Cleo", "cleo@x.example").await;

    let cleared = crm
        .contacts()
        .update(cleo.id, &json!({"email": "  "}))
        .await
        .expect(StatusCode::OK);

    assert_eq!(cleared.email, None);
    given_a_contact_with(&crm, "Next", "cleo@x.example").await;
}

#[tokio::test]
async fn a_failed_patch_keeps_the_email_the_contact_already_had() {
    let app = spawn_app().await;
    let ws = app.signup("claims-keep").await;
    let crm = app.as_(&ws);
    let dora = given_a_contact_with(&crm, "Dora", "dora@x.example").await;

    crm.contacts()
        .update(
            dora.id,
            &json!({"email": "dora@x.example", "phone": "no digits"}),
        )
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);

    crm.contacts()
        .create(&json!({"first_name": "Copy", "email": "dora@x.example"}))
        .await
        .expect_problem(StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_new_email_whose_patch_fails_is_released_again() {
    let app = spawn_app().await;
    let ws = app.signup("claims-release").await;
    let crm = app.as_(&ws);
    let dora = given_a_contact_with(&crm, "Dora", "dora@x.example").await;

    crm.contacts()
        .update(
            dora.id,
            &json!({"email": "new@x.example", "phone": "no digits"}),
        )
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);

    given_a_contact_with(&crm, "Taker", "new@x.example").await;
}

#[tokio::test]
async fn a_deleted_company_cannot_be_linked() {
    let app = spawn_app().await;
    let ws = app.signup("claims-company").await;
    let crm = app.as_(&ws);
    let gone = crm
        .companies()
        .create(&json!({"name": "Gone Ltd"}))
        .await
        .expect(StatusCode::CREATED);
    crm.companies()
        .delete(gone.id)
        .await
        .expect(StatusCode::NO_CONTENT);

    let problem = crm
        .contacts()
        .create(&json!({"first_name": "L", "company_id": gone.id}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);

    assert_eq!(problem.field(), "company_id");
}

#[tokio::test]
async fn an_oversized_csv_is_refused_and_writes_nothing() {
    let app = spawn_app_with(|s| s.server.import_limit_bytes = 1_024).await;
    let ws = app.signup("big-csv").await;
    let events = app.event_count().await;
    let mut csv = String::from("Company name\n");
    for i in 0..200 {
        csv.push_str(&format!("Company number {i}\n"));
    }

    // A problem body, as the contract documents for every 413.
    app.as_(&ws)
        .import("companies", "", csv.as_bytes())
        .await
        .expect_problem(StatusCode::PAYLOAD_TOO_LARGE);

    assert_eq!(app.event_count().await, events);
}

#[tokio::test]
async fn an_email_claim_left_by_a_create_that_died_is_taken_over_after_a_minute() {
    let app = spawn_app().await;
    let owner = app.signup("orphan-claim").await;
    let crm = app.as_(&owner);
    // Claims a create took and then died before appending: no contact has these ids.
    let db = app.pool_as(None).await;
    for (email, age) in [
        ("old@orphan.example", "2 minutes"),
        ("new@orphan.example", "0 seconds"),
    ] {
        sqlx::query(&format!(
            "INSERT INTO contact_emails (tenant_id, email, contact_id, claimed_at)
             VALUES ($1, $2, $3, now() - interval '{age}')"
        ))
        .bind(owner.tenant)
        .bind(email)
        .bind(uuid::Uuid::now_v7())
        .execute(&db)
        .await
        .unwrap_or_else(|e| panic!("seeding the claim of {email}: {e}"));
    }
    // Older than a minute, with no event behind it: the retry of that create succeeds.
    let made = crm
        .contacts()
        .create(&json!({"first_name": "Ada", "email": "old@orphan.example"}))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(made.email.as_deref(), Some("old@orphan.example"));
    // A fresh claim may be a create still in flight: it holds.
    crm.contacts()
        .create(&json!({"first_name": "Bob", "email": "new@orphan.example"}))
        .await
        .expect_problem(StatusCode::CONFLICT);
    // A claim of a contact that exists is never taken over, however old.
    sqlx::query(
        "UPDATE contact_emails SET claimed_at = now() - interval '1 hour' WHERE tenant_id = $1",
    )
    .bind(owner.tenant)
    .execute(&db)
    .await
    .unwrap_or_else(|e| panic!("ageing the claims: {e}"));
    crm.contacts()
        .create(&json!({"first_name": "Eve", "email": "old@orphan.example"}))
        .await
        .expect_problem(StatusCode::CONFLICT);
}
