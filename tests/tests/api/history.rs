//! Record history with field-level diffs, and past states by `version` or `as_of`.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::client::{Client, Company, Contact, FieldChange, PastState};
use crate::helpers::spawn_app;

/// Ada, CTO (version 1), made CEO (2), deleted (3) and restored (4).
async fn given_a_contact_edited_deleted_and_restored(crm: &Client<'_>) -> Contact {
    let contacts = crm.contacts();
    let c = contacts
        .create(&json!({"first_name": "Ada", "job_title": "CTO"}))
        .await
        .expect(StatusCode::CREATED);
    contacts
        .update(c.id, &json!({"job_title": "CEO"}))
        .await
        .expect(StatusCode::OK);
    contacts.delete(c.id).await.expect(StatusCode::NO_CONTENT);
    contacts.restore(c.id).await.expect(StatusCode::OK)
}

#[tokio::test]
async fn history_lists_every_version_with_its_changes_and_actor() {
    let app = spawn_app().await;
    let ws = app.signup("hist-a").await;
    let crm = app.as_(&ws);
    let c = given_a_contact_edited_deleted_and_restored(&crm).await;

    let history = crm.contacts().history(c.id).await.expect(StatusCode::OK);

    let items = &history.items;
    assert_eq!(
        items.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(items[0].event_type, "ContactCreated");
    assert!(
        items[0]
            .changes
            .contains(&FieldChange::new("first_name", Value::Null, "Ada")),
        "{:?}",
        items[0].changes
    );
    assert_eq!(
        items[1].changes,
        [FieldChange::new("job_title", "CTO", "CEO")]
    );
    assert_eq!(items[2].changes, [FieldChange::new("deleted", false, true)]);
    assert_eq!(items[3].changes, [FieldChange::new("deleted", true, false)]);
    for item in items {
        assert_eq!(item.actor, Some(ws.owner.to_string()));
        assert_eq!(item.actor_role.as_deref(), Some("owner"));
    }
}

#[tokio::test]
async fn a_past_version_shows_the_record_right_after_that_event() {
    let app = spawn_app().await;
    let ws = app.signup("hist-version").await;
    let crm = app.as_(&ws);
    let c = given_a_contact_edited_deleted_and_restored(&crm).await;

    let v2 = crm
        .contacts()
        .at_version(c.id, 2)
        .await
        .expect(StatusCode::OK);
    let v3 = crm
        .contacts()
        .at_version(c.id, 3)
        .await
        .expect(StatusCode::OK);

    assert_eq!(v2.version, 2);
    assert_eq!(v2.record["job_title"], "CEO");
    assert_eq!(v2.record["deleted"], false);
    assert_eq!(v3.record["deleted"], true);
    assert_eq!(v3.record["first_name"], "Ada");
}

#[tokio::test]
async fn a_past_time_shows_the_record_then_and_nothing_before_it_existed() {
    let app = spawn_app().await;
    let ws = app.signup("hist-time").await;
    let crm = app.as_(&ws);
    let c = given_a_contact_edited_deleted_and_restored(&crm).await;
    let history = crm.contacts().history(c.id).await.expect(StatusCode::OK);
    let created = history.items[0].recorded_at;

    let v1 = crm
        .contacts()
        .as_of(c.id, created)
        .await
        .expect(StatusCode::OK);
    assert_eq!(v1.version, 1);
    assert_eq!(v1.record["job_title"], "CTO");

    crm.contacts()
        .as_of(c.id, created - chrono::Duration::seconds(1))
        .await
        .expect_problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_past_state_parameters_are_refused_and_the_present_is_unchanged() {
    let app = spawn_app().await;
    let ws = app.signup("hist-bad").await;
    let crm = app.as_(&ws);
    let c = given_a_contact_edited_deleted_and_restored(&crm).await;

    for bad in [
        "version=9",
        "version=0",
        "version=1&as_of=2026-01-01T00:00:00Z",
        "as_of=yesterday",
    ] {
        crm.contacts()
            .past(c.id, bad)
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    }

    let now = crm.contacts().get(c.id).await.expect(StatusCode::OK);
    assert_eq!(now.job_title.as_deref(), Some("CEO"));
}

/// "Acme" (version 1), renamed "Acme Ltd" (2).
async fn given_a_renamed_company(crm: &Client<'_>) -> Company {
    let company = crm
        .companies()
        .create(&json!({"name": "Acme"}))
        .await
        .expect(StatusCode::CREATED);
    crm.companies()
        .update(company.id, &json!({"name": "Acme Ltd"}))
        .await
        .expect(StatusCode::OK)
}

#[tokio::test]
async fn a_company_history_shows_its_rename() {
    let app = spawn_app().await;
    let ws = app.signup("hist-own").await;
    let crm = app.as_(&ws);
    let company = given_a_renamed_company(&crm).await;

    let history = crm
        .companies()
        .history(company.id)
        .await
        .expect(StatusCode::OK);

    assert_eq!(
        history.items[1].changes,
        [FieldChange::new("name", "Acme", "Acme Ltd")]
    );
}

#[tokio::test]
async fn another_workspace_reads_neither_history_nor_past_states() {
    let app = spawn_app().await;
    let a = app.signup("hist-own-a").await;
    let b = app.signup("hist-other").await;
    let company = given_a_renamed_company(&app.as_(&a)).await;

    let as_b = app.as_(&b);
    as_b.companies()
        .history(company.id)
        .await
        .expect_problem(StatusCode::NOT_FOUND);
    as_b.companies()
        .at_version(company.id, 1)
        .await
        .expect_problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn members_read_a_record_now_but_only_admins_and_owners_read_its_past() {
    let app = spawn_app().await;
    let ws = app.signup("hist-roles").await;
    let company = given_a_renamed_company(&app.as_(&ws)).await;
    let member = app
        .token_for(ws.tenant, ws.owner, crm_domain::Role::Member)
        .await;
    let admin = app
        .token_for(ws.tenant, ws.owner, crm_domain::Role::Admin)
        .await;

    let as_member = app.as_(&member);
    as_member
        .companies()
        .get(company.id)
        .await
        .expect(StatusCode::OK);
    as_member
        .companies()
        .history(company.id)
        .await
        .expect_problem(StatusCode::FORBIDDEN);
    as_member
        .companies()
        .at_version(company.id, 1)
        .await
        .expect_problem(StatusCode::FORBIDDEN);

    let past = app
        .as_(&admin)
        .companies()
        .at_version(company.id, 1)
        .await
        .expect(StatusCode::OK);
    assert_eq!(past.record["name"], "Acme");
}

#[tokio::test]
async fn unknown_record_types_and_unknown_ids_have_no_history() {
    let app = spawn_app().await;
    let ws = app.signup("hist-unknown").await;
    let crm = app.as_(&ws);
    let company = given_a_renamed_company(&crm).await;

    crm.get::<Value>(&format!("/v1/users/{}/history", company.id))
        .await
        .expect_problem(StatusCode::NOT_FOUND);
    crm.deals()
        .history(uuid::Uuid::new_v4())
        .await
        .expect_problem(StatusCode::NOT_FOUND);
}

/// Ada, CTO (version 1), made CEO (2), given a phone (3).
async fn given_a_contact_edited_twice(crm: &Client<'_>) -> Contact {
    let contacts = crm.contacts();
    let c = contacts
        .create(&json!({"first_name": "Ada", "job_title": "CTO"}))
        .await
        .expect(StatusCode::CREATED);
    contacts
        .update(c.id, &json!({"job_title": "CEO"}))
        .await
        .expect(StatusCode::OK);
    contacts
        .update(c.id, &json!({"phone": "+44 20 7946 0000"}))
        .await
        .expect(StatusCode::OK)
}

fn revert_to_1() -> Value {
    json!({"to_version": 1, "reason": "bad edits"})
}

#[tokio::test]
async fn a_revert_is_refused_to_members_other_workspaces_bad_bodies_and_stale_versions() {
    let app = spawn_app().await;
    let a = app.signup("revert-a").await;
    let b = app.signup("revert-b").await;
    let crm = app.as_(&a);
    let c = given_a_contact_edited_twice(&crm).await;
    let member = app
        .token_for(a.tenant, a.owner, crm_domain::Role::Member)
        .await;
    let events = app.event_count().await;

    app.as_(&member)
        .contacts()
        .revert(c.id, &revert_to_1())
        .await
        .expect_problem(StatusCode::FORBIDDEN);
    app.as_(&b)
        .contacts()
        .revert(c.id, &revert_to_1())
        .await
        .expect_problem(StatusCode::NOT_FOUND);
    for bad in [
        json!({"to_version": 3, "reason": "latest"}),
        json!({"to_version": 0, "reason": "zero"}),
        json!({"to_version": 1, "reason": "  "}),
        json!({"to_version": 1}),
        json!({"to_version": 1, "reason": "x", "force": true}),
    ] {
        crm.contacts()
            .revert(c.id, &bad)
            .await
            .context(&bad)
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
    crm.if_version(2)
        .contacts()
        .revert(c.id, &revert_to_1())
        .await
        .expect_problem(StatusCode::PRECONDITION_FAILED);

    assert_eq!(app.event_count().await, events);
    let still = crm.contacts().get(c.id).await.expect(StatusCode::OK);
    assert_eq!(still.job_title.as_deref(), Some("CEO"));
}

#[tokio::test]
async fn a_revert_restores_the_old_fields_in_a_new_event_with_its_reason() {
    let app = spawn_app().await;
    let ws = app.signup("revert-ok").await;
    let crm = app.as_(&ws);
    let c = given_a_contact_edited_twice(&crm).await;

    let reverted = crm
        .contacts()
        .revert(c.id, &revert_to_1())
        .await
        .expect(StatusCode::OK);

    assert_eq!(reverted.job_title.as_deref(), Some("CTO"));
    assert_eq!(reverted.phone, None);
    assert_eq!(reverted.first_name.as_deref(), Some("Ada"));
    let history = crm.contacts().history(c.id).await.expect(StatusCode::OK);
    let items = &history.items;
    assert_eq!(items.len(), 4, "the past is kept and one event added");
    assert_eq!(items[1].event_type, "ContactUpdated");
    assert_eq!(
        items[1].changes,
        [FieldChange::new("job_title", "CTO", "CEO")]
    );
    assert_eq!(
        items[3].reason.as_deref(),
        Some("revert to version 1: bad edits")
    );
    assert_eq!(
        items[3].changes,
        [
            FieldChange::new("job_title", "CEO", "CTO"),
            FieldChange::new("phone", "+44 20 7946 0000", Value::Null),
        ]
    );
}

#[tokio::test]
async fn nothing_is_left_to_revert_once_reverted() {
    let app = spawn_app().await;
    let ws = app.signup("revert-twice").await;
    let crm = app.as_(&ws);
    let c = given_a_contact_edited_twice(&crm).await;
    crm.contacts()
        .revert(c.id, &revert_to_1())
        .await
        .expect(StatusCode::OK);

    crm.contacts()
        .revert(c.id, &revert_to_1())
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_deleted_record_must_be_restored_before_a_revert() {
    let app = spawn_app().await;
    let ws = app.signup("revert-deleted").await;
    let crm = app.as_(&ws);
    let c = given_a_contact_edited_twice(&crm).await;
    crm.contacts()
        .delete(c.id)
        .await
        .expect(StatusCode::NO_CONTENT);

    crm.contacts()
        .revert(c.id, &json!({"to_version": 2, "reason": "undo"}))
        .await
        .expect_problem(StatusCode::CONFLICT);
}

#[tokio::test]
async fn only_contacts_and_companies_revert() {
    let app = spawn_app().await;
    let ws = app.signup("revert-deal").await;

    app.as_(&ws)
        .deals()
        .revert(
            uuid::Uuid::new_v4(),
            &json!({"to_version": 2, "reason": "undo"}),
        )
        .await
        .expect_problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_company_reverts_its_revenue_in_minor_units() {
    let app = spawn_app().await;
    let ws = app.signup("revert-co").await;
    let crm = app.as_(&ws);
    let co = crm
        .companies()
        .create(
            &json!({"name": "Acme", "annual_revenue": {"amount_minor": 123456, "currency": "EUR"}}),
        )
        .await
        .expect(StatusCode::CREATED);
    crm.companies()
        .update(co.id, &json!({"name": "Acme Ltd", "annual_revenue": null}))
        .await
        .expect(StatusCode::OK);

    let back = crm
        .companies()
        .revert(
            co.id,
            &json!({"to_version": 1, "reason": "wrong company edited"}),
        )
        .await
        .expect(StatusCode::OK);

    assert_eq!(back.name, "Acme");
    assert_eq!(
        back.annual_revenue,
        Some(crate::client::Money::new(123456, "EUR"))
    );
}

#[tokio::test]
async fn past_states_of_long_streams_start_from_snapshots_and_answer_the_same() {
    let app = spawn_app().await;
    let ws = app.signup("hist-long").await;
    let crm = app.as_(&ws);
    let companies = crm.companies();
    let co = companies
        .create(&json!({"name": "Long Stream Co"}))
        .await
        .expect(StatusCode::CREATED);
    let id = co.id;
    for i in 2..=230 {
        companies
            .update(id, &json!({"industry": format!("Industry {i}")}))
            .await
            .expect(StatusCode::OK);
    }
    let owner = app.pool_as(None).await;
    let snapshots = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT version FROM record_snapshots WHERE aggregate_id LIKE '%' || $1 ORDER BY version",
        )
        .bind(id.to_string())
        .fetch_all(&owner)
        .await
        .unwrap()
    };
    // The whole answer at `version`, checked to be that version, as JSON.
    let at = |v: i64| {
        let companies = &companies;
        async move {
            let answer = companies
                .at_version(id, v)
                .await
                .expect_status(StatusCode::OK);
            let state: PastState = answer.body();
            assert_eq!(state.version, v);
            answer.json()
        }
    };

    let versions = [1_i64, 99, 100, 101, 150, 199, 200, 230];
    let mut cold = Vec::new();
    for v in versions {
        let body = at(v).await;
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
        assert_eq!(&at(*v).await, want, "version {v} from a snapshot");
    }
    let history = companies.history(id).await.expect(StatusCode::OK);
    let at_150 = history.items[149]
        .occurred_at
        .clone()
        .unwrap_or_else(|| panic!("version 150 has no occurred_at"));
    let by_time = companies
        .past(id, &format!("as_of={}", at_150.replace('+', "%2B")))
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(by_time, cold[4]);

    // A snapshot that no longer fits the aggregate is passed over (and corrected).
    sqlx::query("UPDATE record_snapshots SET state = '{\"version\": \"not a number\"}'::jsonb WHERE version = 100")
        .execute(&owner)
        .await
        .unwrap();
    assert_eq!(at(150).await, cold[4]);
    // A snapshot of another format (an older build's) is ignored, not trusted.
    sqlx::query("UPDATE record_snapshots SET format = 0, state = '{}'::jsonb")
        .execute(&owner)
        .await
        .unwrap();
    assert_eq!(at(150).await, cold[4]);
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
    app.as_(&b)
        .companies()
        .at_version(id, 150)
        .await
        .expect_problem(StatusCode::NOT_FOUND);
}
