//! Merging contacts and undoing it: values chosen field by field, links moved to the
//! survivor and back, the tombstone, claims, the trail, and the refusals.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app, str_of, TestApp, Workspace};

async fn created(app: &TestApp, ws: &Workspace, path: &str, body: Value) -> String {
    let (status, made) = app.post(path, &ws.token, body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{path} {body} -> {made}");
    str_of(&made["id"])
}

async fn fetch(app: &TestApp, ws: &Workspace, path: &str) -> Value {
    let (status, body) = app.get(path, &ws.token).await;
    assert_eq!(status, StatusCode::OK, "{path} -> {body}");
    body
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(str_of)
        .collect()
}

fn company_ids(contact: &Value) -> Vec<String> {
    let mut out: Vec<String> = contact["companies"]
        .as_array()
        .expect("companies")
        .iter()
        .map(|c| str_of(&c["company_id"]))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_merge_moves_values_and_links_to_the_survivor_and_an_unmerge_gives_them_back() {
    let app = spawn_app().await;
    let ws = app.signup("merging").await;
    let (status, field) = app
        .post(
            "/v1/schema/fields",
            &ws.token,
            json!({"record": "contact", "key": "segment", "label": "Segment", "type": "text"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{field}");
    let x = created(
        &app,
        &ws,
        "/v1/companies",
        json!({"name": "Analytical Engines"}),
    )
    .await;
    let y = created(
        &app,
        &ws,
        "/v1/companies",
        json!({"name": "Difference Ltd"}),
    )
    .await;
    let survivor = created(
        &app,
        &ws,
        "/v1/contacts",
        json!({
        "first_name": "Ada", "last_name": "Lovelace", "phone": "+44 20 7946 0958",
        "tags": ["vip"], "company_id": x, "custom": {"segment": "enterprise"}}),
    )
    .await;
    let merged = created(
        &app,
        &ws,
        "/v1/contacts",
        json!({
        "first_name": "Ada", "last_name": "King", "email": "ada@example.com",
        "job_title": "Analyst", "tags": ["math"], "custom": {"segment": "smb"}}),
    )
    .await;
    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            &format!("/v1/contacts/{merged}/companies/{y}"),
            Some(&ws.token),
            Some(json!({"role": "author"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (stage, pipeline) = {
        let pipelines = fetch(&app, &ws, "/v1/pipelines").await;
        let p = &pipelines["items"][0];
        (str_of(&p["stages"][0]["id"]), str_of(&p["id"]))
    };
    let deal = |name: &str, contacts: Vec<&String>| {
        json!({"name": name, "pipeline_id": pipeline, "stage_id": stage,
               "amount": {"amount_minor": 100, "currency": "EUR"}, "contact_ids": contacts})
    };
    let only_merged = created(&app, &ws, "/v1/deals", deal("Notes", vec![&merged])).await;
    let both = created(
        &app,
        &ws,
        "/v1/deals",
        deal("Engine", vec![&survivor, &merged]),
    )
    .await;
    let note = created(
        &app,
        &ws,
        "/v1/activities",
        json!({"kind": "note", "body": "met at the Royal Society", "contact_ids": [merged]}),
    )
    .await;

    // The merge: last name taken from the merged contact, the rest by default.
    let (status, after) = app
        .post(
            &format!("/v1/contacts/{survivor}/merge"),
            &ws.token,
            json!({"from": merged, "fields": {"last_name": "from"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after["last_name"], "King");
    assert_eq!(
        after["email"], "ada@example.com",
        "empty here: taken from the other"
    );
    assert_eq!(after["job_title"], "Analyst");
    assert_eq!(after["phone"], "+44 20 7946 0958");
    assert_eq!(after["tags"], json!(["vip", "math"]));
    assert_eq!(after["custom"]["segment"], "enterprise", "kept: set here");
    assert_eq!(after["company_id"], json!(x));
    assert_eq!(
        company_ids(&after),
        vec![y.clone()],
        "the other's association"
    );
    assert_eq!(
        ids(&fetch(&app, &ws, &format!("/v1/deals/{only_merged}")).await["contact_ids"]),
        vec![survivor.clone()]
    );
    assert_eq!(
        ids(&fetch(&app, &ws, &format!("/v1/deals/{both}")).await["contact_ids"]),
        vec![survivor.clone()]
    );
    assert_eq!(
        ids(&fetch(&app, &ws, &format!("/v1/activities/{note}")).await["contact_ids"]),
        vec![survivor.clone()]
    );

    // The tombstone: every reader sees where it went; lists leave it out.
    let reader = app
        .token_for(ws.tenant, Uuid::now_v7(), crm_domain::Role::ReadOnly)
        .await;
    let (status, tombstone) = app.get(&format!("/v1/contacts/{merged}"), &reader).await;
    assert_eq!(status, StatusCode::OK, "{tombstone}");
    assert_eq!(tombstone["merged_into"], json!(survivor));
    assert_eq!(tombstone["deleted"], true);
    let list = fetch(&app, &ws, "/v1/contacts").await;
    assert_eq!(
        ids(&json!(list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].clone())
            .collect::<Vec<_>>())),
        vec![survivor.clone()]
    );
    // The email belongs to the survivor now.
    let (status, taken) = app
        .post(
            "/v1/contacts",
            &ws.token,
            json!({"email": "ADA@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{taken}");
    // A tombstone is not changed, restored or merged again.
    let (status, _) = app
        .patch(
            &format!("/v1/contacts/{merged}"),
            &ws.token,
            json!({"job_title": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app
        .post(
            &format!("/v1/contacts/{merged}/restore"),
            &ws.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // Merging it again changes nothing and answers the survivor (a lost answer's retry).
    let events = app.event_count().await;
    let (status, again) = app
        .post(
            &format!("/v1/contacts/{survivor}/merge"),
            &ws.token,
            json!({"from": merged}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], json!(survivor));
    assert_eq!(app.event_count().await, events);
    // Nor into another contact.
    let (status, elsewhere) = app
        .post(
            &format!(
                "/v1/contacts/{}/merge",
                created(&app, &ws, "/v1/contacts", json!({"first_name": "C"})).await
            ),
            &ws.token,
            json!({"from": merged}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{elsewhere}");
    // Both histories tell it, with the reason.
    let history = fetch(&app, &ws, &format!("/v1/contacts/{survivor}/history")).await;
    let versions = history["items"]
        .as_array()
        .or(history.as_array())
        .expect("versions")
        .clone();
    let types: Vec<String> = versions.iter().map(|v| str_of(&v["event_type"])).collect();
    assert!(types.contains(&"ContactMerged".to_owned()), "{types:?}");
    let merge_update = versions
        .iter()
        .find(|v| v["event_type"] == "ContactUpdated")
        .expect("the merge's update");
    assert_eq!(
        merge_update["reason"],
        json!(format!("merge of {merged} into {survivor}"))
    );
    let theirs = fetch(&app, &ws, &format!("/v1/contacts/{merged}/history")).await;
    let theirs = theirs["items"]
        .as_array()
        .or(theirs.as_array())
        .expect("versions")
        .clone();
    assert_eq!(
        theirs.last().map(|v| v["event_type"].clone()),
        Some(json!("ContactMergedInto"))
    );

    // A later edit of the survivor, then the unmerge: that edit stays, the rest goes back.
    let (status, _) = app
        .patch(
            &format!("/v1/contacts/{survivor}"),
            &ws.token,
            json!({"job_title": "Countess"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, back) = app
        .post(
            &format!("/v1/contacts/{survivor}/unmerge"),
            &ws.token,
            json!({"from": merged}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{back}");
    assert_eq!(back["last_name"], "Lovelace");
    assert_eq!(back["email"], Value::Null);
    assert_eq!(
        back["job_title"], "Countess",
        "edited after the merge: stays"
    );
    assert_eq!(back["tags"], json!(["vip"]));
    assert_eq!(back["custom"]["segment"], "enterprise");
    assert_eq!(company_ids(&back), Vec::<String>::new());
    assert_eq!(back["company_id"], json!(x));
    let restored = fetch(&app, &ws, &format!("/v1/contacts/{merged}")).await;
    assert_eq!(restored["deleted"], false);
    assert_eq!(restored["merged_into"], Value::Null);
    assert_eq!(restored["last_name"], "King");
    assert_eq!(restored["email"], "ada@example.com");
    assert_eq!(restored["custom"]["segment"], "smb");
    assert_eq!(company_ids(&restored), vec![y.clone()]);
    assert_eq!(
        ids(&fetch(&app, &ws, &format!("/v1/deals/{only_merged}")).await["contact_ids"]),
        vec![merged.clone()]
    );
    assert_eq!(
        ids(&fetch(&app, &ws, &format!("/v1/deals/{both}")).await["contact_ids"]),
        vec![survivor.clone(), merged.clone()]
    );
    assert_eq!(
        ids(&fetch(&app, &ws, &format!("/v1/activities/{note}")).await["contact_ids"]),
        vec![merged.clone()]
    );
    // Its email is its own again.
    let (status, taken) = app
        .post(
            "/v1/contacts",
            &ws.token,
            json!({"email": "ada@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{taken}");
    assert!(taken.to_string().contains(&merged), "{taken}");
    // Given back once.
    let (status, again) = app
        .post(
            &format!("/v1/contacts/{survivor}/unmerge"),
            &ws.token,
            json!({"from": merged}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
}

#[tokio::test]
async fn merges_refuse_other_workspaces_roles_stale_versions_and_bad_bodies() {
    let app = spawn_app().await;
    let ws = app.signup("merge-refusals").await;
    let other = app.signup("merge-elsewhere").await;
    let a = created(&app, &ws, "/v1/contacts", json!({"first_name": "A"})).await;
    let b = created(&app, &ws, "/v1/contacts", json!({"first_name": "B"})).await;
    let theirs = created(&app, &other, "/v1/contacts", json!({"first_name": "T"})).await;
    let events = app.event_count().await;
    let merge = |id: &str| format!("/v1/contacts/{id}/merge");
    for (path, body, expected) in [
        (
            merge(&a),
            json!({"from": a}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            merge(&a),
            json!({"from": theirs}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (merge(&theirs), json!({"from": a}), StatusCode::NOT_FOUND),
        (
            merge(&a),
            json!({"from": b, "fields": {"salary": "from"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            merge(&a),
            json!({"from": b, "fields": {"email": "both"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            merge(&a),
            json!({"from": "not-a-uuid"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            merge(&a),
            json!({"from": b, "extra": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("/v1/contacts/{a}/unmerge"),
            json!({"from": b}),
            StatusCode::CONFLICT,
        ),
        (
            format!("/v1/contacts/{a}/unmerge"),
            json!({"from": theirs}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (status, answer) = app.post(&path, &ws.token, body.clone()).await;
        assert_eq!(status, expected, "{path} {body} -> {answer}");
    }
    let reader = app
        .token_for(ws.tenant, Uuid::now_v7(), crm_domain::Role::ReadOnly)
        .await;
    let (status, _) = app.post(&merge(&a), &reader, json!({"from": b})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A stale If-Match on the survivor.
    let res = app
        .client
        .post(format!("{}{}", app.address, merge(&a)))
        .bearer_auth(&ws.token)
        .header("if-match", "\"7\"")
        .json(&json!({"from": b}))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        app.event_count().await,
        events,
        "nothing refused wrote an event"
    );
    // A deleted contact is not merged.
    let (status, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/contacts/{b}"),
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.post(&merge(&a), &ws.token, json!({"from": b})).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_company_merge_moves_contacts_associations_deals_and_activities_and_an_unmerge_gives_them_back(
) {
    let app = spawn_app().await;
    let ws = app.signup("company-merge").await;
    let survivor = created(
        &app,
        &ws,
        "/v1/companies",
        json!({"name": "Acme, Inc.", "domain": "acme.example", "tags": ["customer"]}),
    )
    .await;
    let merged = created(&app, &ws, "/v1/companies",
        json!({"name": "ACME Incorporated", "industry": "Anvils", "country": "US", "tags": ["lead"]})).await;
    // A contact of the merged company; one associated with it; one associated with both.
    let works_there = created(
        &app,
        &ws,
        "/v1/contacts",
        json!({"first_name": "Wile", "company_id": merged}),
    )
    .await;
    let associated = created(&app, &ws, "/v1/contacts", json!({"first_name": "Road"})).await;
    let with_both = created(&app, &ws, "/v1/contacts", json!({"first_name": "Bugs"})).await;
    for (contact, company, role) in [
        (&associated, &merged, "buyer"),
        (&with_both, &merged, "reseller"),
        (&with_both, &survivor, "partner"),
    ] {
        let (status, body) = app
            .call(
                reqwest::Method::PUT,
                &format!("/v1/contacts/{contact}/companies/{company}"),
                Some(&ws.token),
                Some(json!({"role": role})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (stage, pipeline) = {
        let pipelines = fetch(&app, &ws, "/v1/pipelines").await;
        let p = &pipelines["items"][0];
        (str_of(&p["stages"][0]["id"]), str_of(&p["id"]))
    };
    let deal = created(
        &app,
        &ws,
        "/v1/deals",
        json!({"name": "Anvils", "pipeline_id": pipeline,
        "stage_id": stage, "company_id": merged}),
    )
    .await;
    let note = created(
        &app,
        &ws,
        "/v1/activities",
        json!({"kind": "note", "body": "crate of anvils", "company_ids": [merged, survivor]}),
    )
    .await;

    let (status, after) = app
        .post(
            &format!("/v1/companies/{survivor}/merge"),
            &ws.token,
            json!({"from": merged}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after["name"], "Acme, Inc.", "kept");
    assert_eq!(after["industry"], "Anvils", "empty here: taken");
    assert_eq!(after["tags"], json!(["customer", "lead"]));
    let role_at = |contact: &Value, company: &str| {
        contact["companies"]
            .as_array()
            .expect("companies")
            .iter()
            .find(|c| c["company_id"] == json!(company))
            .map(|c| c["role"].clone())
    };
    assert_eq!(
        fetch(&app, &ws, &format!("/v1/contacts/{works_there}")).await["company_id"],
        json!(survivor)
    );
    let road = fetch(&app, &ws, &format!("/v1/contacts/{associated}")).await;
    assert_eq!(role_at(&road, &survivor), Some(json!("buyer")));
    assert_eq!(role_at(&road, &merged), None);
    let bugs = fetch(&app, &ws, &format!("/v1/contacts/{with_both}")).await;
    assert_eq!(
        role_at(&bugs, &survivor),
        Some(json!("partner")),
        "its own role stays"
    );
    assert_eq!(role_at(&bugs, &merged), None);
    assert_eq!(
        fetch(&app, &ws, &format!("/v1/deals/{deal}")).await["company_id"],
        json!(survivor)
    );
    assert_eq!(
        ids(&fetch(&app, &ws, &format!("/v1/activities/{note}")).await["company_ids"]),
        vec![survivor.clone()]
    );
    let tombstone = fetch(&app, &ws, &format!("/v1/companies/{merged}")).await;
    assert_eq!(tombstone["merged_into"], json!(survivor));
    assert_eq!(tombstone["deleted"], true);

    let (status, back) = app
        .post(
            &format!("/v1/companies/{survivor}/unmerge"),
            &ws.token,
            json!({"from": merged}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{back}");
    assert_eq!(back["industry"], Value::Null);
    assert_eq!(back["tags"], json!(["customer"]));
    assert_eq!(
        fetch(&app, &ws, &format!("/v1/contacts/{works_there}")).await["company_id"],
        json!(merged)
    );
    let road = fetch(&app, &ws, &format!("/v1/contacts/{associated}")).await;
    assert_eq!(role_at(&road, &merged), Some(json!("buyer")));
    assert_eq!(role_at(&road, &survivor), None);
    let bugs = fetch(&app, &ws, &format!("/v1/contacts/{with_both}")).await;
    assert_eq!(role_at(&bugs, &survivor), Some(json!("partner")));
    assert_eq!(role_at(&bugs, &merged), Some(json!("reseller")));
    assert_eq!(
        fetch(&app, &ws, &format!("/v1/deals/{deal}")).await["company_id"],
        json!(merged)
    );
    assert_eq!(
        ids(&fetch(&app, &ws, &format!("/v1/activities/{note}")).await["company_ids"]),
        vec![survivor.clone(), merged.clone()]
    );
    let restored = fetch(&app, &ws, &format!("/v1/companies/{merged}")).await;
    assert_eq!(restored["deleted"], false);
    assert_eq!(restored["merged_into"], Value::Null);
    assert_eq!(restored["industry"], "Anvils");
}

#[tokio::test]
async fn a_merge_moves_deleted_records_too_so_a_restore_names_the_survivor() {
    let app = spawn_app().await;
    let ws = app.signup("merge-deleted").await;
    let survivor = created(&app, &ws, "/v1/contacts", json!({"first_name": "Ada"})).await;
    let merged = created(&app, &ws, "/v1/contacts", json!({"first_name": "Augusta"})).await;
    let deal = created(
        &app,
        &ws,
        "/v1/deals",
        json!({"name": "Engine", "contact_ids": [merged]}),
    )
    .await;
    let (status, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/deals/{deal}"),
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app
        .post(
            &format!("/v1/contacts/{survivor}/merge"),
            &ws.token,
            json!({"from": merged}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, restored) = app
        .post(&format!("/v1/deals/{deal}/restore"), &ws.token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{restored}");
    assert_eq!(ids(&restored["contact_ids"]), vec![survivor.clone()]);
    // An unmerge gives the deleted-then-restored deal back too.
    let (status, body) = app
        .post(
            &format!("/v1/contacts/{survivor}/unmerge"),
            &ws.token,
            json!({"from": merged}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let back = fetch(&app, &ws, &format!("/v1/deals/{deal}")).await;
    assert_eq!(ids(&back["contact_ids"]), vec![merged]);
}

#[tokio::test]
async fn an_unmerge_keeps_what_another_merged_record_also_gave() {
    let app = spawn_app().await;
    let ws = app.signup("merge-twice").await;
    let survivor = created(&app, &ws, "/v1/contacts", json!({"first_name": "Ada"})).await;
    let mut merged = Vec::new();
    for name in ["Augusta", "Lady"] {
        merged.push(
            created(
                &app,
                &ws,
                "/v1/contacts",
                json!({"first_name": name, "job_title": "Analyst", "tags": ["vip"]}),
            )
            .await,
        );
    }
    for from in &merged {
        let (status, body) = app
            .post(
                &format!("/v1/contacts/{survivor}/merge"),
                &ws.token,
                json!({"from": from}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["job_title"], "Analyst");
    }
    let (status, after) = app
        .post(
            &format!("/v1/contacts/{survivor}/unmerge"),
            &ws.token,
            json!({"from": merged[0]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(
        after["job_title"], "Analyst",
        "the second merge's value stays: {after}"
    );
    assert_eq!(after["tags"], json!(["vip"]), "{after}");
}
