//! Custom fields: the schema's routes and rules, values on companies, contacts and deals
//! by API key, archive and restore, rename, revert, rebuild, and isolation.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app, str_of, TestApp, Workspace};

/// Defines a field as `ws`'s owner; returns it, checked to be 201.
async fn define(app: &TestApp, ws: &Workspace, body: Value) -> Value {
    let (status, field) = app.post("/v1/schema/fields", &ws.token, body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body} -> {field}");
    field
}

/// A company created with `custom`, checked to be 201.
async fn company(app: &TestApp, ws: &Workspace, custom: Value) -> Value {
    let (status, body) = app
        .post(
            "/v1/companies",
            &ws.token,
            json!({"name": "Ericsson", "custom": custom}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// The `errors[0].field` and `detail`-ish message of a 422 answer.
fn refused_on(status: StatusCode, body: &Value) -> (String, String) {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let error = &body["errors"][0];
    (str_of(&error["field"]), error["message"].to_string())
}

async fn company_count(app: &TestApp, ws: &Workspace) -> usize {
    let (status, list) = app.get("/v1/companies?limit=200", &ws.token).await;
    assert_eq!(status, StatusCode::OK);
    list["items"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn owners_define_fields_every_reader_sees_them_and_members_may_not_define() {
    let app = spawn_app().await;
    let ws = app.signup("schema").await;
    let field = define(
        &app,
        &ws,
        json!({"record": "company", "key": "ticker", "label": "Ticker", "type": "text", "max_length": 12}),
    )
    .await;
    assert_eq!(field["key"], "ticker");
    assert_eq!(field["max_length"], 12);
    assert_eq!(field["archived"], false);

    let member = app
        .token_for(ws.tenant, Uuid::now_v7(), crm_domain::Role::Member)
        .await;
    let (status, schema) = app.get("/v1/schema", &member).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(schema["fields"].as_array().map(Vec::len), Some(1));
    assert_eq!(schema["fields"][0]["id"], field["id"]);

    let (status, _) = app
        .post(
            "/v1/schema/fields",
            &member,
            json!({"record": "company", "key": "isin", "label": "ISIN", "type": "text"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let id = str_of(&field["id"]);
    let (status, _) = app
        .post(
            &format!("/v1/schema/fields/{id}/archive"),
            &member,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, schema) = app.get("/v1/schema", &ws.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(schema["fields"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn bad_definitions_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let ws = app.signup("schema-bad").await;
    define(
        &app,
        &ws,
        json!({"record": "company", "key": "ticker", "label": "Ticker", "type": "text"}),
    )
    .await;
    for (body, status) in [
        (
            json!({"record": "company", "key": "ticker", "label": "Other", "type": "integer"}),
            StatusCode::CONFLICT,
        ),
        (
            json!({"record": "company", "key": "isin", "label": "ticker", "type": "text"}),
            StatusCode::CONFLICT,
        ),
        (
            json!({"record": "company", "key": "Ticker2", "label": "T2", "type": "text"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"record": "company", "key": "a\u{0}b", "label": "T2", "type": "text"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"record": "company", "key": "t2", "label": "T\u{0}2", "type": "text"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"record": "company", "key": "t2", "label": "T2", "type": "colour"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"record": "planet", "key": "t2", "label": "T2", "type": "text"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"record": "company", "key": "t2", "label": "T2", "type": "integer", "max_length": 3}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"record": "company", "key": "t2", "label": "T2", "type": "reference"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"record": "company", "key": "t2", "label": "T2", "type": "text", "extra": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (got, answer) = app.post("/v1/schema/fields", &ws.token, body.clone()).await;
        assert_eq!(got, status, "{body} -> {answer}");
    }
    let (status, schema) = app.get("/v1/schema", &ws.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(schema["fields"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn values_are_set_read_changed_and_cleared_by_api_key() {
    let app = spawn_app().await;
    let ws = app.signup("values").await;
    define(
        &app,
        &ws,
        json!({"record": "company", "key": "ticker", "label": "Ticker", "type": "text"}),
    )
    .await;
    define(
        &app,
        &ws,
        json!({"record": "company", "key": "founded", "label": "Founded", "type": "date"}),
    )
    .await;
    let tier = define(
        &app,
        &ws,
        json!({"record": "company", "key": "tier", "label": "Tier", "type": "single_select", "options": ["Gold", "Silver"]}),
    )
    .await;
    let gold = str_of(&tier["options"][0]["id"]);

    let created = company(
        &app,
        &ws,
        json!({"ticker": " ERIC ", "founded": "1876-04-01", "tier": gold}),
    )
    .await;
    assert_eq!(
        created["custom"],
        json!({"ticker": "ERIC", "founded": "1876-04-01", "tier": gold})
    );
    let id = str_of(&created["id"]);

    let (status, got) = app.get(&format!("/v1/companies/{id}"), &ws.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["custom"], created["custom"]);

    let (status, patched) = app
        .patch(
            &format!("/v1/companies/{id}"),
            &ws.token,
            json!({"custom": {"founded": null}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["custom"], json!({"ticker": "ERIC", "tier": gold}));
    assert_eq!(patched["version"], 2);

    let (status, list) = app.get("/v1/companies", &ws.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"][0]["custom"], patched["custom"]);

    // The event keeps the value by field id; the history shows the change.
    let (status, history) = app
        .get(&format!("/v1/companies/{id}/history"), &ws.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    assert!(history.to_string().contains("1876-04-01"), "{history}");
}

#[tokio::test]
async fn each_type_keeps_one_form_and_refuses_what_is_not_of_it() {
    let app = spawn_app().await;
    let ws = app.signup("types").await;
    let (status, other) = app
        .post("/v1/companies", &ws.token, json!({"name": "Parent"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let parent = str_of(&other["id"]);
    let multi = define(
        &app,
        &ws,
        json!({"record": "company", "key": "regions", "label": "Regions", "type": "multi_select", "options": ["EU", "US"]}),
    )
    .await;
    let (eu, us) = (
        str_of(&multi["options"][0]["id"]),
        str_of(&multi["options"][1]["id"]),
    );
    for (key, kind, extra) in [
        ("notes", "long_text", json!({})),
        ("employees", "integer", json!({})),
        ("share", "decimal", json!({"scale": 2})),
        ("capital", "money", json!({})),
        ("listed_at", "date_time", json!({})),
        ("public", "boolean", json!({})),
        ("site", "url", json!({})),
        ("ir_email", "email", json!({})),
        ("switchboard", "phone", json!({})),
        ("parent", "reference", json!({"references": "company"})),
    ] {
        let mut body = json!({"record": "company", "key": key, "label": key, "type": kind});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        define(&app, &ws, body).await;
    }
    let good = json!({
        "notes": "line one\nline two",
        "employees": 94000,
        "share": "12.5",
        "capital": {"amount_minor": 125_000, "currency": "SEK"},
        "listed_at": "1976-04-01T10:00:00+02:00",
        "public": true,
        "site": "https://www.ericsson.com/en",
        "ir_email": "IR@Ericsson.com",
        "switchboard": "+46 10 719 00 00",
        "parent": parent,
        "regions": [us, eu, us],
    });
    let created = company(&app, &ws, good).await;
    assert_eq!(
        created["custom"],
        json!({
            "notes": "line one\nline two",
            "employees": 94000,
            "share": "12.50",
            "capital": {"amount_minor": 125_000, "currency": "SEK"},
            "listed_at": "1976-04-01T08:00:00Z",
            "public": true,
            "site": "https://www.ericsson.com/en",
            "ir_email": "ir@ericsson.com",
            "switchboard": "+46 10 719 00 00",
            "parent": parent,
            "regions": [us, eu],
        })
    );
    let before = company_count(&app, &ws).await;
    let (status, other_ws) = (StatusCode::CREATED, app.signup("types-other").await);
    let (s2, foreign) = app
        .post("/v1/companies", &other_ws.token, json!({"name": "Theirs"}))
        .await;
    assert_eq!((s2, status), (StatusCode::CREATED, StatusCode::CREATED));
    for bad in [
        json!({"employees": "94000"}),
        json!({"employees": 1.5}),
        json!({"employees": 18_446_744_073_709_551_615u64}),
        json!({"share": "1.234"}),
        json!({"capital": {"amount_minor": 1, "currency": "XXQ"}}),
        json!({"capital": {"amount_minor": 9_223_372_036_854_775_808u64, "currency": "SEK"}}),
        json!({"listed_at": "-262143-01-01T00:00:00Z"}),
        json!({"listed_at": "0000-06-01T00:00:00Z"}),
        json!({"listed_at": "0001-01-01T00:30:00+01:00"}),
        json!({"public": "yes"}),
        json!({"site": "javascript:alert(1)"}),
        json!({"ir_email": "nobody"}),
        json!({"switchboard": "call us"}),
        json!({"parent": Uuid::now_v7().to_string()}),
        json!({"parent": foreign["id"]}),
        json!({"regions": [Uuid::now_v7().to_string()]}),
        json!({"notes": "a\u{0}b"}),
        json!({"no_such_field": 1}),
    ] {
        let (status, body) = app
            .post(
                "/v1/companies",
                &ws.token,
                json!({"name": "Bad", "custom": bad}),
            )
            .await;
        let (field, _) = refused_on(status, &body);
        assert!(field.starts_with("custom"), "{bad} -> {body}");
    }
    assert_eq!(
        company_count(&app, &ws).await,
        before,
        "nothing was created"
    );
}

#[tokio::test]
async fn a_required_field_is_needed_on_create_and_cannot_be_cleared() {
    let app = spawn_app().await;
    let ws = app.signup("required").await;
    let plain = company(&app, &ws, json!({})).await;
    define(
        &app,
        &ws,
        json!({"record": "company", "key": "ticker", "label": "Ticker", "type": "text", "required": true}),
    )
    .await;
    let (status, body) = app
        .post("/v1/companies", &ws.token, json!({"name": "No ticker"}))
        .await;
    let (field, message) = refused_on(status, &body);
    assert_eq!(field, "custom");
    assert!(message.contains("ticker"), "{message}");

    let created = company(&app, &ws, json!({"ticker": "ERIC"})).await;
    let (status, body) = app
        .patch(
            &format!("/v1/companies/{}", str_of(&created["id"])),
            &ws.token,
            json!({"custom": {"ticker": null}}),
        )
        .await;
    refused_on(status, &body);
    // A record older than the field may still change its other fields.
    let (status, body) = app
        .patch(
            &format!("/v1/companies/{}", str_of(&plain["id"])),
            &ws.token,
            json!({"industry": "Telecom"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_rename_changes_no_record_and_archiving_hides_values_until_restored() {
    let app = spawn_app().await;
    let ws = app.signup("archive").await;
    let field = define(
        &app,
        &ws,
        json!({"record": "company", "key": "ticker", "label": "Ticker", "type": "text"}),
    )
    .await;
    let fid = str_of(&field["id"]);
    let first = company(&app, &ws, json!({"ticker": "ERIC"})).await;
    let id = str_of(&first["id"]);
    let (status, _) = app
        .patch(
            &format!("/v1/companies/{id}"),
            &ws.token,
            json!({"custom": {"ticker": "ERIC B"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let events = app.event_count().await;
    let (status, renamed) = app
        .patch(
            &format!("/v1/schema/fields/{fid}"),
            &ws.token,
            json!({"label": "Stock symbol"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["label"], "Stock symbol");
    assert_eq!(
        app.event_count().await,
        events + 1,
        "one schema event, no record event"
    );
    let (_, got) = app.get(&format!("/v1/companies/{id}"), &ws.token).await;
    assert_eq!(got["custom"], json!({"ticker": "ERIC B"}));
    assert_eq!(got["version"], 2);

    let (status, archived) = app
        .post(
            &format!("/v1/schema/fields/{fid}/archive"),
            &ws.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{archived}");
    assert_eq!(archived["archived"], true);
    let (_, got) = app.get(&format!("/v1/companies/{id}"), &ws.token).await;
    assert_eq!(got["custom"], json!({}));
    let (status, body) = app
        .patch(
            &format!("/v1/companies/{id}"),
            &ws.token,
            json!({"custom": {"ticker": "X"}}),
        )
        .await;
    refused_on(status, &body);
    let (status, _) = app
        .post(
            &format!("/v1/schema/fields/{fid}/archive"),
            &ws.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (status, _) = app
        .post(
            &format!("/v1/schema/fields/{fid}/restore"),
            &ws.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, got) = app.get(&format!("/v1/companies/{id}"), &ws.token).await;
    assert_eq!(
        got["custom"],
        json!({"ticker": "ERIC B"}),
        "the latest value is back"
    );
}

#[tokio::test]
async fn options_are_archived_never_removed() {
    let app = spawn_app().await;
    let ws = app.signup("options").await;
    let tier = define(
        &app,
        &ws,
        json!({"record": "deal", "key": "tier", "label": "Tier", "type": "single_select", "options": ["Gold", "Silver"]}),
    )
    .await;
    let (fid, gold, silver) = (
        str_of(&tier["id"]),
        str_of(&tier["options"][0]["id"]),
        str_of(&tier["options"][1]["id"]),
    );
    let path = format!("/v1/schema/fields/{fid}");
    let (status, body) = app
        .patch(
            &path,
            &ws.token,
            json!({"options": [{"id": gold, "label": "Gold"}]}),
        )
        .await;
    refused_on(status, &body);
    // A new label with refused options changes neither.
    let (status, body) = app
        .patch(
            &path,
            &ws.token,
            json!({"label": "Level", "options": [{"id": gold, "label": "Gold"}]}),
        )
        .await;
    refused_on(status, &body);
    let (status, schema) = app.get("/v1/schema", &ws.token).await;
    assert_eq!(status, StatusCode::OK);
    let labels: Vec<String> = schema["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter(|f| f["id"] == tier["id"])
        .map(|f| str_of(&f["label"]))
        .collect();
    assert_eq!(labels, vec!["Tier".to_owned()], "{schema}");
    let (status, changed) = app
        .patch(
            &path,
            &ws.token,
            json!({"options": [{"id": gold, "label": "Gold"}, {"id": silver, "label": "Silver", "archived": true}, {"label": "Bronze"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["options"][1]["archived"], true);
    assert_eq!(changed["options"][2]["label"], "Bronze");

    let (status, body) = app
        .post(
            "/v1/deals",
            &ws.token,
            json!({"name": "Silver deal", "custom": {"tier": silver}}),
        )
        .await;
    refused_on(status, &body);
    let (status, deal) = app
        .post(
            "/v1/deals",
            &ws.token,
            json!({"name": "Gold deal", "custom": {"tier": gold}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{deal}");
    assert_eq!(deal["custom"], json!({"tier": gold}));
}

#[tokio::test]
async fn contacts_carry_their_own_fields() {
    let app = spawn_app().await;
    let ws = app.signup("contact-fields").await;
    define(
        &app,
        &ws,
        json!({"record": "contact", "key": "linkedin", "label": "LinkedIn", "type": "url"}),
    )
    .await;
    define(
        &app,
        &ws,
        json!({"record": "company", "key": "ticker", "label": "Ticker", "type": "text"}),
    )
    .await;
    let (status, contact) = app
        .post(
            "/v1/contacts",
            &ws.token,
            json!({"first_name": "Börje", "custom": {"linkedin": "https://linkedin.example/in/borje"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");
    assert_eq!(
        contact["custom"],
        json!({"linkedin": "https://linkedin.example/in/borje"})
    );
    // A company's field is not a contact's.
    let (status, body) = app
        .post(
            "/v1/contacts",
            &ws.token,
            json!({"first_name": "B", "custom": {"ticker": "X"}}),
        )
        .await;
    refused_on(status, &body);
}

#[tokio::test]
async fn another_workspaces_fields_and_ids_are_not_found_or_refused() {
    let app = spawn_app().await;
    let a = app.signup("fields-a").await;
    let b = app.signup("fields-b").await;
    let theirs = define(
        &app,
        &b,
        json!({"record": "company", "key": "tier", "label": "Tier", "type": "single_select", "options": ["Gold"]}),
    )
    .await;
    let (fid, gold) = (str_of(&theirs["id"]), str_of(&theirs["options"][0]["id"]));
    let (status, _) = app
        .patch(
            &format!("/v1/schema/fields/{fid}"),
            &a.token,
            json!({"label": "Mine"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(
            &format!("/v1/schema/fields/{fid}/archive"),
            &a.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, schema) = app.get("/v1/schema", &a.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(schema["fields"], json!([]));

    // A's own field of the same key does not take B's option ids, nor B's field id.
    define(
        &app,
        &a,
        json!({"record": "company", "key": "tier", "label": "Tier", "type": "single_select", "options": ["Gold"]}),
    )
    .await;
    let (status, body) = app
        .post(
            "/v1/companies",
            &a.token,
            json!({"name": "X", "custom": {"tier": gold}}),
        )
        .await;
    refused_on(status, &body);
    let (status, body) = app
        .post(
            "/v1/companies",
            &a.token,
            json!({"name": "X", "custom": {fid: gold}}),
        )
        .await;
    refused_on(status, &body);
    let (_, theirs_still) = app.get("/v1/schema", &b.token).await;
    assert_eq!(theirs_still["fields"][0]["label"], "Tier");
}

#[tokio::test]
async fn a_revert_sets_custom_values_back_and_clears_later_ones() {
    let app = spawn_app().await;
    let ws = app.signup("revert-custom").await;
    define(
        &app,
        &ws,
        json!({"record": "company", "key": "ticker", "label": "Ticker", "type": "text"}),
    )
    .await;
    define(
        &app,
        &ws,
        json!({"record": "company", "key": "isin", "label": "ISIN", "type": "text"}),
    )
    .await;
    let created = company(&app, &ws, json!({"ticker": "ERIC"})).await;
    let id = str_of(&created["id"]);
    let (status, _) = app
        .patch(
            &format!("/v1/companies/{id}"),
            &ws.token,
            json!({"custom": {"ticker": "ERIC B", "isin": "SE0000108656"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, reverted) = app
        .post(
            &format!("/v1/companies/{id}/revert"),
            &ws.token,
            json!({"to_version": 1, "reason": "wrong ticker"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reverted}");
    assert_eq!(reverted["custom"], json!({"ticker": "ERIC"}));
    assert_eq!(reverted["version"], 3);
}

#[tokio::test]
async fn a_rebuild_makes_the_same_custom_values() {
    let app = spawn_app().await;
    let ws = app.signup("rebuild-custom").await;
    let kept = define(
        &app,
        &ws,
        json!({"record": "company", "key": "ticker", "label": "Ticker", "type": "text"}),
    )
    .await;
    let gone = define(
        &app,
        &ws,
        json!({"record": "company", "key": "isin", "label": "ISIN", "type": "text"}),
    )
    .await;
    for n in 0..5 {
        let created = company(
            &app,
            &ws,
            json!({"ticker": format!("T{n}"), "isin": format!("I{n}")}),
        )
        .await;
        let (status, _) = app
            .patch(
                &format!("/v1/companies/{}", str_of(&created["id"])),
                &ws.token,
                json!({"custom": {"ticker": format!("U{n}")}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    for (field, action) in [(&gone, "archive"), (&kept, "archive"), (&kept, "restore")] {
        let (status, _) = app
            .post(
                &format!("/v1/schema/fields/{}/{action}", str_of(&field["id"])),
                &ws.token,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let owner = app.pool_as(None).await;
    let values = || async {
        sqlx::query_scalar::<_, String>("SELECT custom::text FROM companies ORDER BY id")
            .fetch_all(&owner)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    };
    app.settle().await;
    let live = values().await;
    assert_eq!(live.len(), 5);
    assert!(
        live.iter()
            .all(|v| v.contains("\"ticker\": \"U") && !v.contains("isin")),
        "{live:?}"
    );
    crm_projections::rebuild::rebuild_all(&app.projector_db().await, &crate::helpers::keyring())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    app.settle().await;
    assert_eq!(values().await, live);
}

#[tokio::test]
async fn exports_add_a_column_per_live_field() {
    let app = spawn_app().await;
    let ws = app.signup("export-custom").await;
    define(
        &app,
        &ws,
        json!({"record": "company", "key": "ticker", "label": "Ticker", "type": "text"}),
    )
    .await;
    define(
        &app,
        &ws,
        json!({"record": "company", "key": "employees", "label": "Staff", "type": "integer"}),
    )
    .await;
    let hidden = define(
        &app,
        &ws,
        json!({"record": "company", "key": "isin", "label": "ISIN", "type": "text"}),
    )
    .await;
    company(
        &app,
        &ws,
        json!({"ticker": "=HYPERLINK()", "employees": 94000, "isin": "SE0000108656"}),
    )
    .await;
    let (status, _) = app
        .post(
            &format!("/v1/schema/fields/{}/archive", str_of(&hidden["id"])),
            &ws.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let res = app
        .request(
            reqwest::Method::GET,
            "/v1/exports/companies",
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap_or_else(|e| panic!("{e}"));
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    assert!(
        header.ends_with(",updated_at,custom.ticker,custom.employees"),
        "{header}"
    );
    assert!(!header.contains("isin"), "{header}");
    let row = lines.next().unwrap_or_default();
    assert!(
        row.ends_with(",'=HYPERLINK(),94000"),
        "a formula is defused: {row}"
    );
}

#[tokio::test]
async fn an_api_key_sets_values_and_meets_required_fields_too() {
    let app = spawn_app().await;
    let ws = app.signup("key-fields").await;
    let (status, key) = app
        .post(
            "/v1/api-keys",
            &ws.token,
            json!({"name": "sync", "role": "manager"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let secret = str_of(&key["key"]);
    define(
        &app,
        &ws,
        json!({"record": "company", "key": "ticker", "label": "Ticker", "type": "text", "required": true}),
    )
    .await;
    let (status, body) = app
        .post("/v1/companies", &secret, json!({"name": "No ticker"}))
        .await;
    refused_on(status, &body);
    let (status, body) = app
        .post(
            "/v1/companies",
            &secret,
            json!({"name": "Ericsson", "custom": {"ticker": "ERIC"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["custom"], json!({"ticker": "ERIC"}));
}

/// The names of the companies `query` lists, checked to be 200.
async fn names(app: &TestApp, ws: &Workspace, query: &str) -> Vec<String> {
    let (status, page) = app.get(&format!("/v1/companies?{query}"), &ws.token).await;
    assert_eq!(status, StatusCode::OK, "{query}: {page}");
    let mut names: Vec<String> = page["items"]
        .as_array()
        .map(|items| items.iter().map(|c| str_of(&c["name"])).collect())
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test]
async fn lists_filter_on_custom_values_by_equality_and_range() {
    let app = spawn_app().await;
    let ws = app.signup("filters").await;
    define(
        &app,
        &ws,
        json!({"record": "company", "key": "ticker", "label": "Ticker", "type": "text"}),
    )
    .await;
    define(
        &app,
        &ws,
        json!({"record": "company", "key": "staff", "label": "Staff", "type": "integer"}),
    )
    .await;
    define(
        &app,
        &ws,
        json!({"record": "company", "key": "founded", "label": "Founded", "type": "date"}),
    )
    .await;
    define(
        &app,
        &ws,
        json!({"record": "company", "key": "capital", "label": "Capital", "type": "money"}),
    )
    .await;
    let regions = define(
        &app,
        &ws,
        json!({"record": "company", "key": "regions", "label": "Regions", "type": "multi_select", "options": ["EU", "US"]}),
    )
    .await;
    let (eu, us) = (
        str_of(&regions["options"][0]["id"]),
        str_of(&regions["options"][1]["id"]),
    );
    for (name, custom) in [
        (
            "Ericsson",
            json!({"ticker": "ERIC", "staff": 94000, "founded": "1876-04-01", "capital": {"amount_minor": 500, "currency": "SEK"}, "regions": [eu]}),
        ),
        (
            "Nokia",
            json!({"ticker": "NOK", "staff": 78000, "founded": "1865-05-12", "capital": {"amount_minor": 900, "currency": "EUR"}, "regions": [eu, us]}),
        ),
        ("Startup", json!({"staff": 12})),
    ] {
        let (status, body) = app
            .post(
                "/v1/companies",
                &ws.token,
                json!({"name": name, "custom": custom}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    assert_eq!(names(&app, &ws, "cf.ticker=ERIC").await, ["Ericsson"]);
    assert_eq!(
        names(&app, &ws, "cf.staff[gte]=78000").await,
        ["Ericsson", "Nokia"]
    );
    assert_eq!(
        names(&app, &ws, "cf.staff[gt]=78000&cf.staff[lt]=100000").await,
        ["Ericsson"]
    );
    assert_eq!(names(&app, &ws, "cf.staff=12").await, ["Startup"]);
    assert_eq!(
        names(&app, &ws, "cf.founded[lt]=1870-01-01").await,
        ["Nokia"]
    );
    assert_eq!(names(&app, &ws, "cf.capital[lte]=500").await, ["Ericsson"]);
    assert_eq!(
        names(&app, &ws, &format!("cf.regions={us}")).await,
        ["Nokia"]
    );
    assert_eq!(
        names(&app, &ws, &format!("cf.regions={eu}&q=nokia")).await,
        ["Nokia"]
    );

    for bad in [
        "cf.nope=1",
        "cf.ticker[gte]=A",
        "cf.staff=many",
        "cf.staff[between]=1",
        "cf.capital=500",
        "cf.founded[gte]=1876-13-01",
        "cf.regions=00000000-0000-0000-0000-000000000000",
        "cf.ticker=%00",
    ] {
        let (status, body) = app.get(&format!("/v1/companies?{bad}"), &ws.token).await;
        let (field, _) = refused_on(status, &body);
        assert!(field.starts_with("cf") || field == "query", "{bad}: {body}");
    }
    // Contacts have none of the companies' fields; activities no custom fields at all.
    let (status, body) = app.get("/v1/contacts?cf.ticker=ERIC", &ws.token).await;
    refused_on(status, &body);
    let (status, _) = app.get("/v1/tasks?cf.ticker=ERIC", &ws.token).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // An export takes the same filters.
    let res = app
        .request(
            reqwest::Method::GET,
            "/v1/exports/companies?cf.ticker=NOK",
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("Nokia"), "{text}");

    // Another workspace's filter finds nothing of this one's.
    let other = app.signup("filters-other").await;
    define(
        &app,
        &other,
        json!({"record": "company", "key": "ticker", "label": "Ticker", "type": "text"}),
    )
    .await;
    assert!(names(&app, &other, "cf.ticker=ERIC").await.is_empty());
}

/// Imports `csv` as companies with `query`; the status and the report.
async fn import(app: &TestApp, ws: &Workspace, query: &str, csv: &[u8]) -> (StatusCode, Value) {
    app.post_csv(
        &format!("/v1/imports/companies?{query}"),
        &ws.token,
        csv.to_vec(),
    )
    .await
}

#[tokio::test]
async fn the_real_companies_file_keeps_its_four_extra_columns_as_fields() {
    let app = spawn_app().await;
    let ws = app.signup("import-fields").await;
    let data = crate::helpers::data_file("companies.csv");

    // A dry run proposes a field for each column nothing takes.
    let (status, report) = import(&app, &ws, "dry_run=true", &data).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        report["ignored_columns"],
        json!(["Headquarters", "Founded", "ISIN", "Ticker"])
    );
    let proposed: Vec<(String, String)> = report["proposed_fields"]
        .as_array()
        .map(|p| {
            p.iter()
                .map(|f| (str_of(&f["key"]), str_of(&f["type"])))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(proposed.len(), 4, "{report}");
    assert_eq!(proposed[2], ("isin".to_owned(), "text".to_owned()));

    for (key, label) in [
        ("headquarters", "Headquarters"),
        ("founded", "Founded"),
        ("isin", "ISIN"),
        ("ticker", "Ticker"),
    ] {
        define(
            &app,
            &ws,
            json!({"record": "company", "key": key, "label": label, "type": "long_text"}),
        )
        .await;
    }
    let (status, report) = import(
        &app,
        &ws,
        "map.Headquarters=headquarters&map.Founded=founded&map.ISIN=isin&map.Ticker=ticker",
        &data,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["ignored_columns"], json!([]));
    assert_eq!(report["created"], report["rows_read"], "{report}");
    let (status, found) = app
        .get("/v1/companies?cf.ticker=ERIC-B.ST", &ws.token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["items"][0]["name"], "Ericsson", "{found}");
    assert_eq!(found["items"][0]["custom"]["isin"], "SE0000108649");
    assert_eq!(
        found["items"][0]["custom"]["headquarters"],
        "Kista , Stockholm, Sweden"
    );
}

#[tokio::test]
async fn a_mapping_is_checked_before_any_row_and_bad_cells_are_reported() {
    let app = spawn_app().await;
    let ws = app.signup("import-map").await;
    define(
        &app,
        &ws,
        json!({"record": "company", "key": "staff", "label": "Staff", "type": "integer"}),
    )
    .await;
    let csv = b"Company name,Staff,Other\nAcme,\"1,200\",x\nBeta,many,y\n";
    for bad in [
        "map.Staff=nope",
        "map.Missing=staff",
        "map.Staff=staff&map.Other=staff",
    ] {
        let (status, body) = import(&app, &ws, bad, csv).await;
        let (field, _) = refused_on(status, &body);
        assert_eq!(field, "map", "{bad}: {body}");
    }
    assert_eq!(company_count(&app, &ws).await, 0);

    let (status, report) = import(&app, &ws, "map.Staff=staff", csv).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["created"], 2);
    assert_eq!(report["warnings"][0]["row"], 2, "{report}");
    assert!(
        str_of(&report["warnings"][0]["message"]).contains("custom.staff"),
        "{report}"
    );
    assert_eq!(names(&app, &ws, "cf.staff=1200").await, ["Acme"]);

    // A required field no column is mapped to would fail every row: refused at once.
    define(&app, &ws, json!({"record": "company", "key": "ticker", "label": "Ticker", "type": "text", "required": true})).await;
    let (status, body) = import(
        &app,
        &ws,
        "map.Staff=staff",
        b"Company name,Staff\nGamma,1\n",
    )
    .await;
    let (field, message) = refused_on(status, &body);
    assert_eq!(field, "map");
    assert!(message.contains("ticker"), "{message}");
    let (status, report) = import(
        &app,
        &ws,
        "map.T=ticker",
        b"Company name,T\nGamma,GAM\nDelta,\n",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["created"], 1);
    assert_eq!(report["errors"][0]["row"], 2, "{report}");
}

#[tokio::test]
async fn a_workspaces_openapi_document_types_its_fields() {
    let app = spawn_app().await;
    let ws = app.signup("doc-fields").await;
    let other = app.signup("doc-other").await;
    define(
        &app,
        &ws,
        json!({"record": "company", "key": "ticker", "label": "Ticker", "type": "text", "max_length": 12, "required": true}),
    )
    .await;
    let tier = define(
        &app,
        &ws,
        json!({"record": "deal", "key": "tier", "label": "Tier", "type": "single_select", "options": ["Gold"]}),
    )
    .await;
    let (status, doc) = app.get("/v1/openapi.json", &ws.token).await;
    assert_eq!(status, StatusCode::OK);
    let custom = |name: &str| doc["components"]["schemas"][name]["properties"]["custom"].clone();
    assert_eq!(
        custom("CreateCompany")["properties"]["ticker"]["maxLength"],
        12
    );
    assert_eq!(custom("CreateCompany")["required"], json!(["ticker"]));
    assert_eq!(custom("CompanyView")["additionalProperties"], false);
    assert_eq!(
        custom("PatchCompany")["properties"]["ticker"]["oneOf"][1]["type"],
        "null"
    );
    assert_eq!(
        custom("CreateDeal")["properties"]["tier"]["enum"],
        json!([tier["options"][0]["id"]])
    );
    assert_eq!(custom("CreateContact")["properties"], json!({}));

    let (status, theirs) = app.get("/v1/openapi.json", &other.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        theirs["components"]["schemas"]["CreateCompany"]["properties"]["custom"]["properties"],
        json!({})
    );
    let res = app
        .request(reqwest::Method::GET, "/v1/openapi.json", None, None)
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_personal_data_field_is_sealed_in_the_events_and_erased_with_its_contact() {
    let app = spawn_app().await;
    let ws = app.signup("personal-fields").await;
    let (status, body) = app
        .post(
            "/v1/schema/fields",
            &ws.token,
            json!({"record": "company", "key": "secret", "label": "Secret", "type": "text", "personal_data": true}),
        )
        .await;
    refused_on(status, &body);
    define(
        &app,
        &ws,
        json!({"record": "contact", "key": "birthday", "label": "Birthday", "type": "date", "personal_data": true}),
    )
    .await;
    define(
        &app,
        &ws,
        json!({"record": "contact", "key": "segment", "label": "Segment", "type": "text"}),
    )
    .await;
    let (status, contact) = app
        .post(
            "/v1/contacts",
            &ws.token,
            json!({"first_name": "Börje", "custom": {"birthday": "1953-05-04", "segment": "Enterprise"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");
    assert_eq!(
        contact["custom"],
        json!({"birthday": "1953-05-04", "segment": "Enterprise"})
    );
    let id = str_of(&contact["id"]);
    let (status, patched) = app
        .patch(
            &format!("/v1/contacts/{id}"),
            &ws.token,
            json!({"custom": {"birthday": "1953-05-05"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");

    let owner = app.pool_as(None).await;
    let payloads: Vec<String> = sqlx::query_scalar(
        "SELECT payload::text FROM events WHERE aggregate_type = 'Contact' ORDER BY sequence",
    )
    .fetch_all(&owner)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(payloads.len(), 2);
    assert!(
        payloads.iter().all(|p| !p.contains("1953")),
        "sealed: {payloads:?}"
    );
    assert!(
        payloads[0].contains("Enterprise"),
        "ordinary values stay readable"
    );
    // Archived, the value leaves the view; restored, it comes back, though only the
    // server can open it.
    let birthday = {
        let (_, schema) = app.get("/v1/schema", &ws.token).await;
        schema["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .find(|f| f["key"] == "birthday")
            .map(|f| str_of(&f["id"]))
            .expect("birthday")
    };
    for (action, shown) in [("archive", json!(null)), ("restore", json!("1953-05-05"))] {
        let (status, body) = app
            .post(
                &format!("/v1/schema/fields/{birthday}/{action}"),
                &ws.token,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{action}: {body}");
        let (_, now) = app.get(&format!("/v1/contacts/{id}"), &ws.token).await;
        assert_eq!(
            now["custom"]
                .get("birthday")
                .cloned()
                .unwrap_or(json!(null)),
            shown,
            "{action}: {now}"
        );
        assert_eq!(now["custom"]["segment"], "Enterprise");
    }

    let (status, erased) = app
        .post(
            &format!("/v1/contacts/{id}/erase"),
            &ws.token,
            json!({"reason": "DSR-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{erased}");
    let (_, got) = app.get(&format!("/v1/contacts/{id}"), &ws.token).await;
    assert_eq!(got["custom"], json!({"segment": "Enterprise"}), "{got}");
    let (status, history) = app
        .get(&format!("/v1/contacts/{id}/history"), &ws.token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!history.to_string().contains("1953"), "{history}");
    crm_projections::rebuild::rebuild_all(&app.projector_db().await, &crate::helpers::keyring())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    app.settle().await;
    let (_, again) = app.get(&format!("/v1/contacts/{id}"), &ws.token).await;
    assert_eq!(again["custom"], json!({"segment": "Enterprise"}));
    // The erased contact's personal fields take no new value.
    let (status, _) = app
        .patch(
            &format!("/v1/contacts/{id}"),
            &ws.token,
            json!({"custom": {"birthday": "1953-05-04"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_unique_value_belongs_to_one_record_of_the_workspace() {
    let app = spawn_app().await;
    let ws = app.signup("unique-fields").await;
    define(
        &app,
        &ws,
        json!({"record": "company", "key": "erp_id", "label": "ERP id", "type": "text", "unique": true}),
    )
    .await;
    let first = company(&app, &ws, json!({"erp_id": "C-100"})).await;
    let (status, body) = app
        .post(
            "/v1/companies",
            &ws.token,
            json!({"name": "Copy", "custom": {"erp_id": "c-100"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.to_string().contains("erp_id"), "{body}");
    assert_eq!(
        company_count(&app, &ws).await,
        1,
        "the refused create wrote nothing"
    );
    // With an Idempotency-Key the refusal is answered the same, and replayed.
    for _ in 0..2 {
        let res = app
            .client
            .post(format!("{}/v1/companies", app.address))
            .bearer_auth(&ws.token)
            .header("Idempotency-Key", "unique-conflict-1")
            .json(&json!({"name": "Copy", "custom": {"erp_id": "C-100"}}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(res.status(), StatusCode::CONFLICT);
    }

    // Another record takes it once the holder lets it go; the holder keeps it on other edits.
    let second = company(&app, &ws, json!({"erp_id": "C-200"})).await;
    let path = |c: &Value| format!("/v1/companies/{}", str_of(&c["id"]));
    let (status, _) = app
        .patch(&path(&first), &ws.token, json!({"industry": "Telecom"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .patch(
            &path(&second),
            &ws.token,
            json!({"custom": {"erp_id": "C-100"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app
        .patch(
            &path(&first),
            &ws.token,
            json!({"custom": {"erp_id": "C-101"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, moved) = app
        .patch(
            &path(&second),
            &ws.token,
            json!({"custom": {"erp_id": "C-100"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");

    // Other workspaces have their own values; a rebuild makes the same claims.
    let other = app.signup("unique-other").await;
    define(
        &app,
        &other,
        json!({"record": "company", "key": "erp_id", "label": "ERP id", "type": "text", "unique": true}),
    )
    .await;
    company(&app, &other, json!({"erp_id": "C-100"})).await;
    let owner = app.pool_as(None).await;
    let claims = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT tenant_id::text || ' ' || value || ' ' || record_id::text FROM custom_claims ORDER BY 1",
        )
        .fetch_all(&owner)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    };
    app.settle().await;
    let before = claims().await;
    assert_eq!(before.len(), 3, "{before:?}");
    crm_projections::rebuild::rebuild_all(&app.projector_db().await, &crate::helpers::keyring())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    app.settle().await;
    assert_eq!(claims().await, before);
    // An import sets unique fields too, and skips a row whose value is taken.
    let (status, body) = import(
        &app,
        &ws,
        "map.ERP=erp_id",
        b"Company name,ERP\nX,C-900\nY,c-101\n",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["created"], 1, "{body}");
    assert_eq!(body["skipped_duplicates"], 1, "{body}");
}

#[tokio::test]
async fn activities_carry_custom_values_too() {
    let app = spawn_app().await;
    let ws = app.signup("activity-fields").await;
    define(
        &app,
        &ws,
        json!({"record": "activity", "key": "score", "label": "Score", "type": "integer"}),
    )
    .await;
    let (status, contact) = app
        .post("/v1/contacts", &ws.token, json!({"first_name": "B"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, note) = app
        .post(
            "/v1/activities",
            &ws.token,
            json!({"kind": "note", "body": "Met", "contact_ids": [contact["id"]], "custom": {"score": 3}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{note}");
    assert_eq!(note["custom"], json!({"score": 3}));
    let id = str_of(&note["id"]);
    let (status, changed) = app
        .patch(
            &format!("/v1/activities/{id}"),
            &ws.token,
            json!({"custom": {"score": 5}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["custom"], json!({"score": 5}));
    assert_eq!(changed["details"]["body"], "Met", "the kind's fields stay");
    let (status, body) = app
        .patch(
            &format!("/v1/activities/{id}"),
            &ws.token,
            json!({"custom": {"score": "high"}}),
        )
        .await;
    refused_on(status, &body);
    let (status, body) = app
        .post(
            "/v1/activities",
            &ws.token,
            json!({"kind": "note", "body": "x", "contact_ids": [contact["id"]], "custom": {"ticker": "X"}}),
        )
        .await;
    refused_on(status, &body);
    let (_, doc) = app.get("/v1/openapi.json", &ws.token).await;
    assert_eq!(
        doc["components"]["schemas"]["ActivityView"]["properties"]["custom"]["properties"]["score"]
            ["type"],
        "integer"
    );
}

#[tokio::test]
async fn search_finds_custom_text_values_of_its_own_workspace_only() {
    let app = spawn_app().await;
    let ws = app.signup("cf-search").await;
    let other = app.signup("cf-search-other").await;
    for w in [&ws, &other] {
        define(
            &app,
            w,
            json!({"record": "company", "key": "headquarters", "label": "Headquarters", "type": "text"}),
        )
        .await;
    }
    let (status, kista) = app
        .post(
            "/v1/companies",
            &ws.token,
            json!({"name": "Ericsson", "custom": {"headquarters": "Kista, Stockholm"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{kista}");
    let (status, _) = app
        .post(
            "/v1/companies",
            &other.token,
            json!({"name": "Other", "custom": {"headquarters": "Kista"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, found) = app.get("/v1/companies?q=kista", &ws.token).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    let ids: Vec<String> = found["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| str_of(&c["id"]))
        .collect();
    assert_eq!(ids, vec![str_of(&kista["id"])]);
    // A value changed is found by its new words only.
    let id = str_of(&kista["id"]);
    let (status, _) = app
        .patch(
            &format!("/v1/companies/{id}"),
            &ws.token,
            json!({"custom": {"headquarters": "Stockholm"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, found) = app.get("/v1/companies?q=kista", &ws.token).await;
    assert_eq!(found["items"], json!([]));
    let (_, found) = app.get("/v1/companies?q=stockh", &ws.token).await;
    assert_eq!(found["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn long_custom_texts_of_any_size_save_and_their_first_words_are_found() {
    let app = spawn_app().await;
    let ws = app.signup("cf-search-long").await;
    for key in ["a", "b", "c", "d", "e"] {
        define(
            &app,
            &ws,
            json!({"record": "company", "key": key, "label": key, "type": "long_text"}),
        )
        .await;
    }
    // Five long texts at the 100,000-character limit, each word distinct: their search
    // document would pass PostgreSQL's 1 MB tsvector limit if it took them whole.
    let text = |field: u32| -> String {
        let mut words = format!("needle{field}");
        let mut n = 0u32;
        while words.len() < 99_990 {
            words.push_str(&format!(" w{field}x{n}"));
            n += 1;
        }
        words
    };
    // Through an import: a JSON body is capped at 64 KiB, a CSV body is not.
    let mut csv = String::from("Company name,A,B,C,D,E\nVerbose");
    for field in 1..=5 {
        csv.push(',');
        csv.push_str(&text(field));
    }
    csv.push('\n');
    let (status, report) = app
        .post_csv(
            "/v1/imports/companies?map.A=a&map.B=b&map.C=c&map.D=d&map.E=e",
            &ws.token,
            csv.into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["created"], 1, "{report}");
    let (status, found) = app.get("/v1/companies?q=needle1", &ws.token).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["items"][0]["name"], "Verbose", "{found}");
    // Range filters and sorts on dates meet only stored years (0001 to 9999).
    define(
        &app,
        &ws,
        json!({"record": "company", "key": "founded", "label": "Founded", "type": "date"}),
    )
    .await;
    for bad in ["0000-01-01", "1-01-01", "+2026-01-01"] {
        let (status, body) = app
            .post(
                "/v1/companies",
                &ws.token,
                json!({"name": "Old", "custom": {"founded": bad}}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad} -> {body}");
        let (status, body) = app
            .get(
                &format!("/v1/companies?cf.founded[gte]={}", bad.replace('+', "%2B")),
                &ws.token,
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad} -> {body}");
    }
    let (status, body) = app
        .get("/v1/companies?cf.founded[gte]=0001-01-01", &ws.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Every page of `path` (which has a `limit`), following the cursor: the names, in order.
async fn walk(app: &TestApp, ws: &Workspace, path: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..20 {
        let url = match &next {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_owned(),
        };
        let (status, page) = app.get(&url, &ws.token).await;
        assert_eq!(status, StatusCode::OK, "{url}: {page}");
        names.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|c| str_of(&c["name"])),
        );
        match page["next_cursor"].as_str() {
            Some(c) => next = Some(c.to_owned()),
            None => return names,
        }
    }
    panic!("more than 20 pages");
}

#[tokio::test]
async fn lists_sort_by_custom_values_page_by_page_with_the_records_without_one_last() {
    let app = spawn_app().await;
    let ws = app.signup("cf-sort").await;
    for body in [
        json!({"record": "company", "key": "rank", "label": "Rank", "type": "integer"}),
        json!({"record": "company", "key": "ticker", "label": "Ticker", "type": "text"}),
        json!({"record": "company", "key": "revenue", "label": "Revenue", "type": "money"}),
        json!({"record": "company", "key": "tier", "label": "Tier", "type": "single_select",
               "options": ["Gold"]}),
    ] {
        define(&app, &ws, body).await;
    }
    for (name, custom) in [
        (
            "Delta",
            json!({"rank": 10, "ticker": "DLT", "revenue": {"amount_minor": 500, "currency": "EUR"}}),
        ),
        ("Alpha", json!({"rank": 2, "ticker": "ALP"})),
        ("Echo", json!({})),
        (
            "Bravo",
            json!({"rank": 2, "revenue": {"amount_minor": 90000, "currency": "USD"}}),
        ),
        ("Charlie", json!({"rank": -5, "ticker": "CHA"})),
    ] {
        let (status, body) = app
            .post(
                "/v1/companies",
                &ws.token,
                json!({"name": name, "custom": custom}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    // Ties (ranks 2 and 2; no value) are broken by id, the creation order here (UUIDv7),
    // reversed with the sort.
    assert_eq!(
        walk(&app, &ws, "/v1/companies?sort=cf.rank&limit=2").await,
        ["Charlie", "Alpha", "Bravo", "Delta", "Echo"]
    );
    assert_eq!(
        walk(&app, &ws, "/v1/companies?sort=-cf.rank&limit=2").await,
        ["Delta", "Bravo", "Alpha", "Charlie", "Echo"]
    );
    assert_eq!(
        walk(&app, &ws, "/v1/companies?sort=cf.ticker&limit=1").await,
        ["Alpha", "Charlie", "Delta", "Echo", "Bravo"]
    );
    assert_eq!(
        walk(&app, &ws, "/v1/companies?sort=-cf.revenue&limit=3").await,
        ["Bravo", "Delta", "Charlie", "Echo", "Alpha"]
    );
    // Filters and sorts together.
    assert_eq!(
        walk(
            &app,
            &ws,
            "/v1/companies?sort=-cf.rank&cf.rank[lt]=5&limit=1"
        )
        .await,
        ["Bravo", "Alpha", "Charlie"]
    );
    // A cursor belongs to its sort; unknown, archived or unordered fields are refused.
    let (_, first) = app
        .get("/v1/companies?sort=cf.rank&limit=1", &ws.token)
        .await;
    let cursor = str_of(&first["next_cursor"]);
    // Forged cursors whose value is not of the field's type.
    use base64::Engine as _;
    let forge = |s: &str, k: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            json!({"s": s, "k": k, "i": "00000000-0000-0000-0000-000000000000"}).to_string(),
        )
    };
    for (sort, k) in [
        ("cf.rank", "[false,\"abc\"]"),
        ("cf.rank", "[false,\"1_000\"]"),
        ("cf.rank", "[false,\"NaN\"]"),
        ("-cf.revenue", "[false,\"1e99999999\"]"),
        ("cf.rank", "[false]"),
        ("cf.ticker", "[false,\"a\\u0000b\"]"),
    ] {
        let path = format!("/v1/companies?sort={sort}&cursor={}", forge(sort, k));
        let (status, body) = app.get(&path, &ws.token).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{sort} {k}: {body}"
        );
    }
    for path in [
        format!("/v1/companies?sort=cf.ticker&limit=1&cursor={cursor}"),
        format!("/v1/companies?limit=1&cursor={cursor}"),
        "/v1/companies?sort=cf.nope".to_owned(),
        "/v1/companies?sort=cf.tier".to_owned(),
        "/v1/companies?sort=cf.Rank".to_owned(),
        "/v1/companies?sort=cf.rank%27--".to_owned(),
    ] {
        let (status, body) = app.get(&path, &ws.token).await;
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY
                || (path.starts_with("/v1/activities") && status == StatusCode::NOT_FOUND),
            "{path}: {status} {body}"
        );
    }
}

#[tokio::test]
async fn imports_set_unique_fields_and_skip_rows_whose_value_is_taken() {
    let app = spawn_app().await;
    let ws = app.signup("cf-unique-import").await;
    define(
        &app,
        &ws,
        json!({"record": "company", "key": "isin", "label": "ISIN", "type": "text", "unique": true}),
    )
    .await;
    company(&app, &ws, json!({"isin": "SE0000108656"})).await;
    let csv = b"Company name,ISIN\n\
Ericsson AB,se0000108656\n\
Nokia,FI0009000681\n\
Nokia Copy,fi0009000681\n\
Saab,\n"
        .to_vec();
    let (status, report) = app
        .post_csv("/v1/imports/companies?map.ISIN=isin", &ws.token, csv)
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["created"], 2, "{report}");
    assert_eq!(report["skipped_duplicates"], 2, "{report}");
    let duplicates: Vec<(u64, String)> = report["duplicates"]
        .as_array()
        .expect("duplicates")
        .iter()
        .map(|d| (d["row"].as_u64().unwrap_or(0), str_of(&d["message"])))
        .collect();
    assert_eq!(duplicates[0].0, 1);
    assert!(duplicates[0].1.contains("custom.isin"), "{duplicates:?}");
    assert_eq!(duplicates[1].0, 3);
    assert!(duplicates[1].1.contains("earlier row"), "{duplicates:?}");
    // The value is claimed: the API refuses it for another company.
    let (status, body) = app
        .post(
            "/v1/companies",
            &ws.token,
            json!({"name": "Nokia again", "custom": {"isin": "FI0009000681"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(company_count(&app, &ws).await, 3);
}

#[tokio::test]
async fn a_type_change_is_a_new_field_and_a_copy_of_the_values() {
    let app = spawn_app().await;
    let ws = app.signup("cf-copy").await;
    let text = define(
        &app,
        &ws,
        json!({"record": "company", "key": "founded_text", "label": "Founded (text)", "type": "text"}),
    )
    .await;
    let number = define(
        &app,
        &ws,
        json!({"record": "company", "key": "founded", "label": "Founded", "type": "integer"}),
    )
    .await;
    let contact_field = define(
        &app,
        &ws,
        json!({"record": "contact", "key": "since", "label": "Since", "type": "integer"}),
    )
    .await;
    let ericsson = company(&app, &ws, json!({"founded_text": "1876"})).await;
    let vague = company(&app, &ws, json!({"founded_text": "c. 1900"})).await;
    company(&app, &ws, json!({})).await;
    let (from, to) = (str_of(&text["id"]), str_of(&number["id"]));
    let path = format!("/v1/schema/fields/{from}/copy");
    let (status, report) = app.post(&path, &ws.token, json!({"to": to})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["copied"], 1, "{report}");
    assert_eq!(report["unchanged"], 0, "{report}");
    assert_eq!(report["skipped"][0]["record_id"], vague["id"], "{report}");
    let id = str_of(&ericsson["id"]);
    let (_, now) = app.get(&format!("/v1/companies/{id}"), &ws.token).await;
    assert_eq!(
        now["custom"],
        json!({"founded_text": "1876", "founded": 1876})
    );
    let (_, history) = app
        .get(&format!("/v1/companies/{id}/history"), &ws.token)
        .await;
    let versions = history["items"]
        .as_array()
        .or(history.as_array())
        .expect("versions")
        .clone();
    assert_eq!(
        versions.last().map(|v| v["reason"].clone()),
        Some(json!("copy of field founded_text to founded"))
    );
    // Again: nothing new.
    let (status, again) = app.post(&path, &ws.token, json!({"to": to})).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        (again["copied"].clone(), again["unchanged"].clone()),
        (json!(0), json!(1))
    );
    // Refusals: another record type's field, the same field, an unknown one, a Member.
    for (path, body, expected) in [
        (
            path.clone(),
            json!({"to": str_of(&contact_field["id"])}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            path.clone(),
            json!({"to": from}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            path.clone(),
            json!({"to": Uuid::now_v7()}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("/v1/schema/fields/{}/copy", Uuid::now_v7()),
            json!({"to": to}),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (status, answer) = app.post(&path, &ws.token, body.clone()).await;
        assert_eq!(status, expected, "{path} {body}: {answer}");
    }
    let member = app
        .token_for(ws.tenant, Uuid::now_v7(), crm_domain::Role::Member)
        .await;
    let (status, _) = app.post(&path, &member, json!({"to": to})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn imported_references_must_name_a_live_record_of_the_workspace() {
    let app = spawn_app().await;
    let ws = app.signup("cf-import-refs").await;
    let other = app.signup("cf-import-refs-other").await;
    define(
        &app,
        &ws,
        json!({"record": "company", "key": "parent", "label": "Parent", "type": "reference", "references": "company"}),
    )
    .await;
    let mine = str_of(&company(&app, &ws, json!({})).await["id"]);
    let (status, theirs) = app
        .post("/v1/companies", &other.token, json!({"name": "Theirs"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let theirs = str_of(&theirs["id"]);
    let csv = format!(
        "Company name,Parent\nChild one,{mine}\nChild two,{theirs}\nChild three,{}\n",
        Uuid::now_v7()
    );
    let (status, report) = import(&app, &ws, "map.Parent=parent", csv.as_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["created"], 3, "{report}");
    let warnings: Vec<u64> = report["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter(|w| str_of(&w["message"]).contains("custom.parent dropped"))
        .map(|w| w["row"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(warnings, vec![2, 3], "{report}");
    let (status, list) = app.get("/v1/companies?q=child&limit=10", &ws.token).await;
    assert_eq!(status, StatusCode::OK);
    let parents: Vec<Value> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["custom"]["parent"].clone())
        .collect();
    assert_eq!(
        parents.iter().filter(|p| **p == json!(mine)).count(),
        1,
        "{list}"
    );
    assert_eq!(parents.iter().filter(|p| p.is_null()).count(), 2, "{list}");
}

#[tokio::test]
async fn an_import_report_never_quotes_personal_data() {
    let app = spawn_app().await;
    let ws = app.signup("cf-import-personal").await;
    define(
        &app,
        &ws,
        json!({"record": "contact", "key": "shoe_size", "label": "Shoe size", "type": "integer", "personal_data": true}),
    )
    .await;
    let csv =
        b"First Name,Last Name,Shoe\nAda,Qwertyson,forty-two Zxcvb\nAda,Qwertyson,42\n".to_vec();
    let (status, report) = app
        .post_csv("/v1/imports/contacts?map.Shoe=shoe_size", &ws.token, csv)
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["created"], 1, "{report}");
    assert_eq!(report["skipped_duplicates"], 1, "{report}");
    let text = report.to_string();
    assert!(!text.contains("Zxcvb"), "the cell is quoted: {text}");
    assert!(text.contains("custom.shoe_size dropped"), "{text}");
}
