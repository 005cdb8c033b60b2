//! Bad input gets a clear problem and changes nothing; roles are enforced.

use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{spawn_app, spawn_app_with, uuid_of};

#[tokio::test]
async fn malformed_bodies_are_refused_with_the_failing_field() {
    let app = spawn_app().await;
    let a = app.signup("strict").await;
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
        let (status, problem) = app.post("/v1/companies", &a.token, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {problem}"
        );
        let reported = problem["errors"][0]["field"].as_str().unwrap_or_default();
        assert!(
            reported == field || reported.starts_with(field),
            "{body}: expected {field}, got {problem}"
        );
    }
    let (status, problem) = app
        .post(
            "/v1/contacts",
            &a.token,
            json!({"first_name": "X", "email": "not-an-email"}),
        )
        .await;
    assert_eq!(
        (status, problem["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("email"))
    );

    // Syntax, media type and size.
    let raw = |body: &'static str, ctype: &'static str| {
        app.client
            .post(format!("{}/v1/companies", app.address))
            .bearer_auth(&a.token)
            .header("content-type", ctype)
            .body(body)
            .send()
    };
    assert_eq!(
        raw("{\"name\": ", "application/json")
            .await
            .unwrap()
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        raw("name=x", "application/x-www-form-urlencoded")
            .await
            .unwrap()
            .status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let huge = json!({"name": "x".repeat(70_000)});
    let (status, _) = app.post("/v1/companies", &a.token, huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        app.event_count().await,
        events,
        "a refused request wrote an event"
    );
}

#[tokio::test]
async fn lifecycle_conflicts_and_bad_parameters() {
    let app = spawn_app().await;
    let a = app.signup("rules").await;
    let (_, c) = app
        .post(
            "/v1/contacts",
            &a.token,
            json!({"first_name": "Ann", "email": "ann@x.example"}),
        )
        .await;
    let id = uuid_of(&c["id"]);
    let events = app.event_count().await;

    // Duplicate email in the workspace (case-insensitive), restore of a live record.
    let (status, _) = app
        .post(
            "/v1/contacts",
            &a.token,
            json!({"first_name": "Twin", "email": "ANN@x.example"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app
        .post(&format!("/v1/contacts/{id}/restore"), &a.token, json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // A PATCH that changes nothing writes nothing.
    let (status, same) = app
        .patch(
            &format!("/v1/contacts/{id}"),
            &a.token,
            json!({"first_name": "Ann"}),
        )
        .await;
    assert_eq!(
        (status, same["version"].as_i64()),
        (StatusCode::OK, Some(1))
    );
    assert_eq!(app.event_count().await, events);

    // Update or delete of a deleted record.
    assert_eq!(
        app.delete(&format!("/v1/contacts/{id}"), &a.token).await.0,
        StatusCode::NO_CONTENT
    );
    let (status, _) = app
        .patch(
            &format!("/v1/contacts/{id}"),
            &a.token,
            json!({"first_name": "Zed"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app.delete(&format!("/v1/contacts/{id}"), &a.token).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // A deleted contact keeps its email: a new contact cannot take it.
    let (status, _) = app
        .post(
            "/v1/contacts",
            &a.token,
            json!({"first_name": "Other", "email": "ann@x.example"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // Moving an email frees the old one.
    app.post(&format!("/v1/contacts/{id}/restore"), &a.token, json!({}))
        .await;
    let (status, _) = app
        .patch(
            &format!("/v1/contacts/{id}"),
            &a.token,
            json!({"email": "ann@new.example"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .post(
            "/v1/contacts",
            &a.token,
            json!({"first_name": "Other", "email": "ann@x.example"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // Unknown ids, malformed ids, unknown routes.
    assert_eq!(
        app.get(&format!("/v1/contacts/{}", Uuid::now_v7()), &a.token)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/v1/contacts/not-a-uuid", &a.token).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/v1/nothing-here", &a.token).await.0,
        StatusCode::NOT_FOUND
    );
    // Bad list parameters.
    for path in [
        "/v1/contacts?limit=0",
        "/v1/contacts?limit=201",
        "/v1/contacts?sort=email",
        "/v1/contacts?cursor=xyz",
        "/v1/contacts?colour=red",
        "/v1/audit?cursor=abc",
    ] {
        let (status, problem) = app.get(path, &a.token).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {problem}"
        );
    }
    // A cursor of one sort order is refused for another.
    for i in 0..3 {
        app.post(
            "/v1/contacts",
            &a.token,
            json!({"first_name": format!("P{i}")}),
        )
        .await;
    }
    let (_, page) = app.get("/v1/contacts?limit=1&sort=name", &a.token).await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let (status, _) = app
        .get(
            &format!("/v1/contacts?limit=1&sort=-created_at&cursor={cursor}"),
            &a.token,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn roles_are_enforced_on_the_server() {
    let app = spawn_app().await;
    let a = app.signup("roles").await;
    let (_, c) = app
        .post("/v1/companies", &a.token, json!({"name": "Target"}))
        .await;
    let id = uuid_of(&c["id"]);
    let events = app.event_count().await;
    let reader = app
        .token_for(a.tenant, a.owner, crm_domain::Role::ReadOnly)
        .await;
    let member = app
        .token_for(a.tenant, a.owner, crm_domain::Role::Member)
        .await;
    for (token, method, path, body) in [
        (
            &reader,
            Method::POST,
            "/v1/companies".to_owned(),
            Some(json!({"name": "No"})),
        ),
        (
            &reader,
            Method::PATCH,
            format!("/v1/companies/{id}"),
            Some(json!({"name": "No"})),
        ),
        (&reader, Method::DELETE, format!("/v1/companies/{id}"), None),
        (&member, Method::GET, "/v1/audit".to_owned(), None),
        (
            &member,
            Method::GET,
            "/v1/companies?include_deleted=true".to_owned(),
            None,
        ),
        (
            &member,
            Method::POST,
            format!("/v1/companies/{id}/restore"),
            None,
        ),
    ] {
        let (status, problem) = app.call(method.clone(), &path, Some(token), body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
        assert!(
            !problem.to_string().contains("Target"),
            "a 403 leaked data: {problem}"
        );
    }
    assert_eq!(app.event_count().await, events);
    // Reading is allowed to every role.
    assert_eq!(
        app.get(&format!("/v1/companies/{id}"), &reader).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn health_ready_and_headers() {
    let app = spawn_app().await;
    let res = app.request(Method::GET, "/health", None, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("x-request-id").is_some());
    assert_eq!(
        res.headers()
            .get("x-content-type-options")
            .and_then(|v| v.to_str().ok()),
        Some("nosniff")
    );
    assert_eq!(
        app.call(Method::GET, "/ready", None, None).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn email_claims_follow_clearing_and_company_links_must_be_live() {
    let app = spawn_app().await;
    let a = app.signup("claims").await;
    let (_, c) = app
        .post(
            "/v1/contacts",
            &a.token,
            json!({"first_name": "Cleo", "email": "cleo@x.example"}),
        )
        .await;
    let id = uuid_of(&c["id"]);
    // Clearing with blank text frees the address at once.
    let (status, cleared) = app
        .patch(
            &format!("/v1/contacts/{id}"),
            &a.token,
            json!({"email": "  "}),
        )
        .await;
    assert_eq!(
        (status, &cleared["email"]),
        (StatusCode::OK, &serde_json::Value::Null)
    );
    let (status, _) = app
        .post(
            "/v1/contacts",
            &a.token,
            json!({"first_name": "Next", "email": "cleo@x.example"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // Setting the email a contact already has, in a patch that fails, keeps the claim.
    let (_, d) = app
        .post(
            "/v1/contacts",
            &a.token,
            json!({"first_name": "Dora", "email": "dora@x.example"}),
        )
        .await;
    let d = uuid_of(&d["id"]);
    let (status, _) = app
        .patch(
            &format!("/v1/contacts/{d}"),
            &a.token,
            json!({"email": "dora@x.example", "phone": "no digits"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .post(
            "/v1/contacts",
            &a.token,
            json!({"first_name": "Copy", "email": "dora@x.example"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // A new email whose command fails is released again.
    let (status, _) = app
        .patch(
            &format!("/v1/contacts/{d}"),
            &a.token,
            json!({"email": "new@x.example", "phone": "no digits"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .post(
            "/v1/contacts",
            &a.token,
            json!({"first_name": "Taker", "email": "new@x.example"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // A deleted company cannot be linked.
    let (_, co) = app
        .post("/v1/companies", &a.token, json!({"name": "Gone Ltd"}))
        .await;
    let co = uuid_of(&co["id"]);
    app.delete(&format!("/v1/companies/{co}"), &a.token).await;
    let (status, problem) = app
        .post(
            "/v1/contacts",
            &a.token,
            json!({"first_name": "L", "company_id": co}),
        )
        .await;
    assert_eq!(
        (status, problem["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("company_id"))
    );
}

#[tokio::test]
async fn an_oversized_csv_is_refused_and_writes_nothing() {
    let app = spawn_app_with(|s| s.server.import_limit_bytes = 1_024).await;
    let a = app.signup("big-csv").await;
    let events = app.event_count().await;
    let mut csv = String::from("Company name\n");
    for i in 0..200 {
        csv.push_str(&format!("Company number {i}\n"));
    }
    let (status, _) = app
        .post_csv("/v1/imports/companies", &a.token, csv.into_bytes())
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.event_count().await, events);
}
