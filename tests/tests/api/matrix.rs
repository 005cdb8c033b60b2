//! The whole permission matrix, on the server: every role against every route. A denied
//! call is a 403 that writes nothing and shows no record; an allowed one is anything but
//! a 403.

use crm_domain::{Action, Role};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, str_of};

#[tokio::test]
async fn every_role_against_every_route() {
    let app = spawn_app().await;
    let a = app.signup("matrix").await;
    let t = &a.token;
    let (_, company) = app
        .post("/v1/companies", t, json!({"name": "Matrix Co"}))
        .await;
    let (_, contact) = app
        .post("/v1/contacts", t, json!({"first_name": "Neo"}))
        .await;
    let (_, deal) = app
        .post("/v1/deals", t, json!({"name": "Matrix deal"}))
        .await;
    let (_, note) = app
        .post(
            "/v1/activities",
            t,
            json!({"kind": "note", "body": "n", "contact_ids": [contact["id"]]}),
        )
        .await;
    let (_, pipes) = app.get("/v1/pipelines", t).await;
    let (co, ct, dl, nt) = (
        str_of(&company["id"]),
        str_of(&contact["id"]),
        str_of(&deal["id"]),
        str_of(&note["id"]),
    );
    let pl = str_of(&pipes["items"][0]["id"]);
    let stage = str_of(&pipes["items"][0]["stages"][1]["id"]);
    let csv = "Company name\nMatrix import\n";
    let (_, deal2) = app
        .post("/v1/deals", t, json!({"name": "Second deal"}))
        .await;
    let (_, task) = app
        .post("/v1/activities", t, json!({"kind": "task", "title": "t"}))
        .await;
    let (_, key) = app
        .post("/v1/api-keys", t, json!({"name": "k", "role": "read_only"}))
        .await;
    let (d2, tk, ky) = (
        str_of(&deal2["id"]),
        str_of(&task["id"]),
        str_of(&key["id"]),
    );
    let colleague = uuid::Uuid::now_v7();
    app.token_for(a.tenant, colleague, Role::ReadOnly).await;

    let routes: Vec<(Method, String, Option<Value>, Action)> = vec![
        (
            Method::GET,
            "/v1/companies".into(),
            None,
            Action::ReadRecords,
        ),
        (
            Method::GET,
            format!("/v1/companies/{co}"),
            None,
            Action::ReadRecords,
        ),
        (
            Method::POST,
            "/v1/companies".into(),
            Some(json!({"name": "New"})),
            Action::CreateRecords,
        ),
        (
            Method::PATCH,
            format!("/v1/companies/{co}"),
            Some(json!({"industry": "x"})),
            Action::UpdateRecords,
        ),
        (
            Method::POST,
            "/v1/companies/batch/create".into(),
            Some(json!({"items": [{"name": "B"}]})),
            Action::CreateRecords,
        ),
        (
            Method::POST,
            "/v1/companies/batch/update".into(),
            Some(json!({"items": [{"id": co, "changes": {"country": "x"}}]})),
            Action::UpdateRecords,
        ),
        (
            Method::GET,
            "/v1/contacts".into(),
            None,
            Action::ReadRecords,
        ),
        (
            Method::POST,
            "/v1/contacts".into(),
            Some(json!({"first_name": "X"})),
            Action::CreateRecords,
        ),
        (
            Method::PATCH,
            format!("/v1/contacts/{ct}"),
            Some(json!({"job_title": "x"})),
            Action::UpdateRecords,
        ),
        (
            Method::PUT,
            format!("/v1/contacts/{ct}/companies/{co}"),
            Some(json!({"role": "x"})),
            Action::UpdateRecords,
        ),
        (
            Method::GET,
            format!("/v1/contacts/{ct}/timeline"),
            None,
            Action::ReadRecords,
        ),
        (Method::GET, "/v1/deals".into(), None, Action::ReadRecords),
        (
            Method::POST,
            "/v1/deals".into(),
            Some(json!({"name": "D"})),
            Action::CreateRecords,
        ),
        (
            Method::PATCH,
            format!("/v1/deals/{dl}"),
            Some(json!({"name": "D2"})),
            Action::UpdateRecords,
        ),
        (
            Method::POST,
            format!("/v1/deals/{dl}/move"),
            Some(json!({"stage_id": stage})),
            Action::UpdateRecords,
        ),
        (
            Method::PUT,
            format!("/v1/deals/{dl}/line-items"),
            Some(json!({"items": []})),
            Action::UpdateRecords,
        ),
        (
            Method::GET,
            "/v1/pipelines".into(),
            None,
            Action::ReadRecords,
        ),
        (
            Method::GET,
            format!("/v1/pipelines/{pl}/summary"),
            None,
            Action::ReadRecords,
        ),
        (
            Method::POST,
            "/v1/pipelines".into(),
            Some(
                json!({"name": "P", "stages": [{"name": "o", "probability": "10", "kind": "open"}, {"name": "w", "probability": "100", "kind": "won"}, {"name": "l", "probability": "0", "kind": "lost"}]}),
            ),
            Action::ManagePipelines,
        ),
        (
            Method::PATCH,
            format!("/v1/pipelines/{pl}"),
            Some(json!({"name": "Renamed"})),
            Action::ManagePipelines,
        ),
        (
            Method::POST,
            "/v1/activities".into(),
            Some(json!({"kind": "task", "title": "t"})),
            Action::CreateRecords,
        ),
        (
            Method::GET,
            format!("/v1/contacts/{ct}"),
            None,
            Action::ReadRecords,
        ),
        (
            Method::GET,
            format!("/v1/deals/{dl}"),
            None,
            Action::ReadRecords,
        ),
        (
            Method::GET,
            format!("/v1/deals/{dl}/timeline"),
            None,
            Action::ReadRecords,
        ),
        (
            Method::GET,
            format!("/v1/companies/{co}/timeline"),
            None,
            Action::ReadRecords,
        ),
        (
            Method::GET,
            format!("/v1/pipelines/{pl}"),
            None,
            Action::ReadRecords,
        ),
        (
            Method::GET,
            format!("/v1/activities/{nt}"),
            None,
            Action::ReadRecords,
        ),
        (
            Method::POST,
            format!("/v1/deals/{d2}/win"),
            Some(json!({})),
            Action::UpdateRecords,
        ),
        (
            Method::POST,
            format!("/v1/deals/{d2}/reopen"),
            Some(json!({})),
            Action::UpdateRecords,
        ),
        (
            Method::POST,
            format!("/v1/deals/{d2}/lose"),
            Some(json!({"reason": "r"})),
            Action::UpdateRecords,
        ),
        (
            Method::POST,
            format!("/v1/activities/{tk}/complete"),
            None,
            Action::UpdateRecords,
        ),
        (
            Method::POST,
            format!("/v1/activities/{tk}/reopen"),
            None,
            Action::UpdateRecords,
        ),
        (
            Method::DELETE,
            format!("/v1/contacts/{ct}/companies/{co}"),
            None,
            Action::UpdateRecords,
        ),
        (
            Method::POST,
            "/v1/contacts/batch/create".into(),
            Some(json!({"items": [{"first_name": "B"}]})),
            Action::CreateRecords,
        ),
        (
            Method::POST,
            "/v1/contacts/batch/update".into(),
            Some(json!({"items": [{"id": ct, "changes": {"phone": "+1 555 0100"}}]})),
            Action::UpdateRecords,
        ),
        (
            Method::GET,
            "/v1/exports/companies".into(),
            None,
            Action::ExportRecords,
        ),
        (
            Method::GET,
            "/v1/exports/deals".into(),
            None,
            Action::ExportRecords,
        ),
        (
            Method::POST,
            "/v1/imports/contacts?dry_run=true".into(),
            None,
            Action::ImportRecords,
        ),
        (
            Method::POST,
            "/v1/imports/deals?dry_run=true".into(),
            None,
            Action::ImportRecords,
        ),
        (
            Method::POST,
            format!("/v1/pipelines/{pl}/stages"),
            Some(json!({"name": "s", "probability": "5", "kind": "open"})),
            Action::ManagePipelines,
        ),
        (
            Method::PATCH,
            format!("/v1/pipelines/{pl}/stages/{stage}"),
            Some(json!({"probability": "41"})),
            Action::ManagePipelines,
        ),
        (
            Method::DELETE,
            format!("/v1/pipelines/{pl}/stages/{stage}"),
            None,
            Action::ManagePipelines,
        ),
        (
            Method::PATCH,
            "/v1/workspace/security".into(),
            Some(json!({"require_two_factor": false})),
            Action::ManageWorkspace,
        ),
        (
            Method::PATCH,
            format!("/v1/users/{colleague}/role"),
            Some(json!({"role": "read_only"})),
            Action::ManageUsers,
        ),
        (
            Method::POST,
            format!("/v1/users/{colleague}/deactivate"),
            None,
            Action::ManageUsers,
        ),
        (
            Method::POST,
            format!("/v1/users/{colleague}/reactivate"),
            None,
            Action::ManageUsers,
        ),
        (
            Method::GET,
            "/v1/api-keys".into(),
            None,
            Action::ManageApiKeys,
        ),
        (
            Method::GET,
            "/v1/api-keys/requests".into(),
            None,
            Action::ManageApiKeys,
        ),
        (
            Method::POST,
            "/v1/api-keys".into(),
            Some(json!({"name": "k2", "role": "read_only"})),
            Action::ManageApiKeys,
        ),
        (
            Method::DELETE,
            format!("/v1/api-keys/{ky}"),
            None,
            Action::ManageApiKeys,
        ),
        (
            Method::PATCH,
            format!("/v1/activities/{nt}"),
            Some(json!({"body": "m"})),
            Action::UpdateRecords,
        ),
        (Method::GET, "/v1/tasks".into(), None, Action::ReadRecords),
        (
            Method::GET,
            "/v1/exports/contacts".into(),
            None,
            Action::ExportRecords,
        ),
        (
            Method::GET,
            "/v1/companies?include_deleted=true".into(),
            None,
            Action::ViewDeleted,
        ),
        (Method::GET, "/v1/audit".into(), None, Action::ReadAudit),
        (
            Method::GET,
            "/v1/audit/export?format=csv".into(),
            None,
            Action::ReadAudit,
        ),
        (
            Method::GET,
            "/v1/audit/verify".into(),
            None,
            Action::VerifyAudit,
        ),
        (
            Method::POST,
            "/v1/audit/checkpoints".into(),
            Some(json!({})),
            Action::VerifyAudit,
        ),
        (
            Method::GET,
            format!("/v1/contacts/{ct}/history"),
            None,
            Action::ReadAudit,
        ),
        (
            Method::GET,
            format!("/v1/deals/{dl}?version=1"),
            None,
            Action::ReadAudit,
        ),
        (
            Method::POST,
            format!("/v1/companies/{co}/revert"),
            Some(json!({"to_version": 1, "reason": "matrix"})),
            Action::ReadAudit,
        ),
        (
            Method::GET,
            format!("/v1/contacts/{ct}/export"),
            None,
            Action::ReadAudit,
        ),
        (
            Method::POST,
            format!("/v1/contacts/{ct}/erase"),
            Some(json!({"reason": ""})),
            Action::ErasePersonalData,
        ),
        (
            Method::GET,
            "/v1/support-grants".into(),
            None,
            Action::GrantSupport,
        ),
        (
            Method::POST,
            "/v1/support-grants".into(),
            Some(
                json!({"support_email": "nobody@support.example", "scope": "read", "reason": "r", "expires_in_hours": 1}),
            ),
            Action::GrantSupport,
        ),
        (
            Method::DELETE,
            format!("/v1/support-grants/{}", uuid::Uuid::now_v7()),
            None,
            Action::GrantSupport,
        ),
        (
            Method::PATCH,
            "/v1/workspace".into(),
            Some(json!({"name": "W"})),
            Action::ManageWorkspace,
        ),
        (Method::GET, "/v1/users".into(), None, Action::ReadRecords),
        (
            Method::POST,
            "/v1/users/invitations".into(),
            Some(json!({"email": "x@matrix.example", "role": "read_only"})),
            Action::ManageUsers,
        ),
        (
            Method::POST,
            "/v1/imports/companies?dry_run=true".into(),
            None,
            Action::ImportRecords,
        ),
        (
            Method::DELETE,
            format!("/v1/activities/{nt}"),
            None,
            Action::DeleteRecords,
        ),
        (
            Method::DELETE,
            format!("/v1/deals/{dl}"),
            None,
            Action::DeleteRecords,
        ),
        (
            Method::POST,
            format!("/v1/deals/{dl}/restore"),
            None,
            Action::RestoreRecords,
        ),
        (
            Method::DELETE,
            format!("/v1/contacts/{ct}"),
            None,
            Action::DeleteRecords,
        ),
        (
            Method::POST,
            format!("/v1/contacts/{ct}/restore"),
            None,
            Action::RestoreRecords,
        ),
        (
            Method::DELETE,
            format!("/v1/companies/{co}"),
            None,
            Action::DeleteRecords,
        ),
        (
            Method::POST,
            format!("/v1/companies/{co}/restore"),
            None,
            Action::RestoreRecords,
        ),
        (
            Method::POST,
            format!("/v1/activities/{nt}/restore"),
            None,
            Action::RestoreRecords,
        ),
    ];

    let mut checked = 0;
    for role in Role::ALL {
        let token = app.token_for(a.tenant, a.owner, role).await;
        for (method, path, body, action) in &routes {
            let events = app.event_count().await;
            let res = if path.starts_with("/v1/imports/") {
                let csv = if path.contains("contacts") {
                    "First Name\nImported\n"
                } else if path.contains("deals") {
                    "Deal Name\nImported deal\n"
                } else {
                    csv
                };
                app.client
                    .request(method.clone(), format!("{}{}", app.address, path))
                    .bearer_auth(&token)
                    .header("content-type", "text/csv")
                    .body(csv)
                    .send()
                    .await
                    .unwrap()
            } else {
                app.request(method.clone(), path, Some(&token), body.clone())
                    .await
            };
            let status = res.status();
            if role.may(*action) {
                assert_ne!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{role} {method} {path} was refused"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{role} {method} {path} was let through"
                );
                let text = res.text().await.unwrap();
                assert!(
                    !text.contains("Matrix"),
                    "{role} {method} {path}: a 403 showed data: {text}"
                );
                assert_eq!(
                    app.event_count().await,
                    events,
                    "{role} {method} {path}: a refused call wrote"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, routes.len() * Role::ALL.len());
}

#[tokio::test]
async fn members_change_what_they_own_and_read_the_rest() {
    let app = spawn_app().await;
    let a = app.signup("owned").await;
    let t = &a.token;
    let (_, company) = app
        .post("/v1/companies", t, json!({"name": "Owner's Co"}))
        .await;
    let (_, contact) = app
        .post("/v1/contacts", t, json!({"first_name": "Owner's"}))
        .await;
    let (_, deal) = app
        .post("/v1/deals", t, json!({"name": "Owner's deal"}))
        .await;
    let (_, note) = app
        .post(
            "/v1/activities",
            t,
            json!({"kind": "note", "body": "n", "contact_ids": [contact["id"]]}),
        )
        .await;
    let member = app
        .token_for(a.tenant, uuid::Uuid::now_v7(), Role::Member)
        .await;
    let events = app.event_count().await;
    for (method, path, body) in [
        (
            Method::PATCH,
            format!("/v1/companies/{}", str_of(&company["id"])),
            Some(json!({"industry": "x"})),
        ),
        (
            Method::DELETE,
            format!("/v1/contacts/{}", str_of(&contact["id"])),
            None,
        ),
        (
            Method::PATCH,
            format!("/v1/deals/{}", str_of(&deal["id"])),
            Some(json!({"name": "mine"})),
        ),
        (
            Method::POST,
            format!("/v1/deals/{}/lose", str_of(&deal["id"])),
            Some(json!({"reason": "x"})),
        ),
        (
            Method::PATCH,
            format!("/v1/activities/{}", str_of(&note["id"])),
            Some(json!({"body": "mine"})),
        ),
    ] {
        let (status, _) = app.call(method.clone(), &path, Some(&member), body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
    }
    assert_eq!(app.event_count().await, events);
    assert_eq!(
        app.get(&format!("/v1/deals/{}", str_of(&deal["id"])), &member)
            .await
            .0,
        StatusCode::OK,
        "members read the rest"
    );
    let (_, mine) = app
        .post("/v1/contacts", &member, json!({"first_name": "Mine"}))
        .await;
    assert_eq!(
        app.patch(
            &format!("/v1/contacts/{}", str_of(&mine["id"])),
            &member,
            json!({"job_title": "x"})
        )
        .await
        .0,
        StatusCode::OK
    );
}
