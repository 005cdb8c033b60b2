//! `GET /v1/contacts/{id}/export`: the data-subject access request.

use reqwest::StatusCode;
use serde_json::json;

use crate::client::{Client, Contact};
use crate::helpers::spawn_app;

/// Lin, buyer at Acme, with a phone, a deal and a note; and Other, with a deal and a note
/// of their own.
async fn given_lin_and_other(crm: &Client<'_>) -> Contact {
    let created = StatusCode::CREATED;
    let company = crm
        .companies()
        .create(&json!({"name": "Acme"}))
        .await
        .expect(created);
    let lin = crm
        .contacts()
        .create(&json!({"first_name": "Lin", "email": "lin@acme.example"}))
        .await
        .expect(created);
    let other = crm
        .contacts()
        .create(&json!({"first_name": "Other"}))
        .await
        .expect(created);
    crm.contacts()
        .link_company(lin.id, company.id, &json!({"role": "buyer"}))
        .await
        .expect(StatusCode::OK);
    crm.contacts()
        .update(lin.id, &json!({"phone": "+1 555 0100"}))
        .await
        .expect(StatusCode::OK);
    for (name, who) in [("Lin's deal", lin.id), ("Unrelated", other.id)] {
        crm.deals()
            .create(&json!({"name": name, "contact_ids": [who]}))
            .await
            .expect(created);
    }
    for (body, who) in [("Prefers email", lin.id), ("Not about Lin", other.id)] {
        crm.activities()
            .create(&json!({"kind": "note", "body": body, "contact_ids": [who]}))
            .await
            .expect(created);
    }
    lin
}

#[tokio::test]
async fn a_contact_export_holds_everything_about_them_and_nothing_else() {
    let app = spawn_app().await;
    let a = app.signup("dsar-a").await;
    let crm = app.as_(&a);
    let lin = given_lin_and_other(&crm).await;

    let doc = crm.contacts().export(lin.id).await.expect(StatusCode::OK);

    assert_eq!(doc.workspace_id, a.tenant);
    assert_eq!(doc.contact.email.as_deref(), Some("lin@acme.example"));
    assert_eq!(doc.contact.phone.as_deref(), Some("+1 555 0100"));
    assert_eq!(doc.companies[0].name.as_deref(), Some("Acme"));
    assert_eq!(doc.companies[0].role.as_deref(), Some("buyer"));
    let deals: Vec<&str> = doc.deals.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(deals, ["Lin's deal"]);
    assert_eq!(doc.activities.len(), 1);
    assert_eq!(
        doc.activities[0].details["body"], "Prefers email",
        "{:?}",
        doc.activities
    );
    assert!(doc.history.len() >= 3, "{:?}", doc.history);
    assert_eq!(doc.history[0].event_type, "ContactCreated");
    assert!(doc
        .history
        .iter()
        .all(|v| v.actor == Some(a.owner.to_string())));
}

#[tokio::test]
async fn a_deleted_contact_is_still_exported() {
    let app = spawn_app().await;
    let a = app.signup("dsar-deleted").await;
    let crm = app.as_(&a);
    let lin = given_lin_and_other(&crm).await;
    crm.contacts()
        .delete(lin.id)
        .await
        .expect(StatusCode::NO_CONTENT);

    // The data is still held, so it is still exported.
    let doc = crm.contacts().export(lin.id).await.expect(StatusCode::OK);

    assert!(doc.contact.deleted);
}

#[tokio::test]
async fn only_the_workspaces_owners_and_admins_export_a_contact() {
    let app = spawn_app().await;
    let a = app.signup("dsar-roles").await;
    let b = app.signup("dsar-b").await;
    let lin = given_lin_and_other(&app.as_(&a)).await;
    let member = app
        .token_for(a.tenant, a.owner, crm_domain::Role::Member)
        .await;
    let admin = app
        .token_for(a.tenant, a.owner, crm_domain::Role::Admin)
        .await;

    app.as_(&member)
        .contacts()
        .export(lin.id)
        .await
        .expect_problem(StatusCode::FORBIDDEN);
    app.as_(&b)
        .contacts()
        .export(lin.id)
        .await
        .expect_problem(StatusCode::NOT_FOUND);
    app.as_(&admin)
        .contacts()
        .export(lin.id)
        .await
        .expect(StatusCode::OK);
}
