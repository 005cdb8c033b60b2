//! Contact-to-company associations with a role.

use reqwest::StatusCode;
use serde_json::json;

use crate::client::{Client, Company, CompanyLink, Contact};
use crate::helpers::spawn_app;

/// Pat, who works for Home Co, and Board Co, not yet linked to Pat.
struct Pat {
    person: Contact,
    home: Company,
    board: Company,
}

async fn given_pat(crm: &Client<'_>) -> Pat {
    let company = |name: &'static str| async move {
        crm.companies()
            .create(&json!({ "name": name }))
            .await
            .expect(StatusCode::CREATED)
    };
    let home = company("Home Co").await;
    let board = company("Board Co").await;
    let person = crm
        .contacts()
        .create(&json!({"first_name": "Pat", "company_id": home.id}))
        .await
        .expect(StatusCode::CREATED);
    Pat {
        person,
        home,
        board,
    }
}

/// The ids of the contacts listed for `company`.
async fn contacts_of(crm: &Client<'_>, company: &Company) -> Vec<uuid::Uuid> {
    crm.contacts()
        .list(&format!("company_id={}", company.id))
        .await
        .expect(StatusCode::OK)
        .map(|c| c.id)
}

#[tokio::test]
async fn a_contact_is_associated_in_a_role_and_keeps_its_primary_company() {
    let app = spawn_app().await;
    let ws = app.signup("assoc").await;
    let crm = app.as_(&ws);
    let pat = given_pat(&crm).await;
    let contacts = crm.contacts();

    let linked = contacts
        .link_company(
            pat.person.id,
            pat.board.id,
            &json!({"role": "Decision maker"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        linked.companies(),
        [CompanyLink {
            company_id: pat.board.id,
            role: Some("Decision maker".to_owned())
        }]
    );
    assert_eq!(
        linked.company_id,
        Some(pat.home.id),
        "the primary company stays"
    );

    let relinked = contacts
        .link_company(
            pat.person.id,
            pat.board.id,
            &json!({"role": "Board member"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        relinked.companies()[0].role.as_deref(),
        Some("Board member")
    );

    // The company's contact list includes associated contacts.
    assert_eq!(contacts_of(&crm, &pat.board).await, [pat.person.id]);
    let got = contacts.get(pat.person.id).await.expect(StatusCode::OK);
    assert_eq!(got.companies()[0].company_id, pat.board.id);
}

#[tokio::test]
async fn another_workspaces_company_or_caller_cannot_link() {
    let app = spawn_app().await;
    let a = app.signup("assoc-a").await;
    let b = app.signup("assoc-b").await;
    let crm = app.as_(&a);
    let pat = given_pat(&crm).await;
    let theirs = app
        .as_(&b)
        .companies()
        .create(&json!({"name": "Their Co"}))
        .await
        .expect(StatusCode::CREATED);

    crm.contacts()
        .link_company(pat.person.id, theirs.id, &json!({}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.as_(&b)
        .contacts()
        .link_company(pat.person.id, pat.board.id, &json!({"role": "Spy"}))
        .await
        .expect_problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_unlinked_company_lists_the_contact_no_more_and_unlinks_once() {
    let app = spawn_app().await;
    let ws = app.signup("assoc-unlink").await;
    let crm = app.as_(&ws);
    let pat = given_pat(&crm).await;
    crm.contacts()
        .link_company(pat.person.id, pat.board.id, &json!({"role": "Advisor"}))
        .await
        .expect(StatusCode::OK);

    let unlinked = crm
        .contacts()
        .unlink_company(pat.person.id, pat.board.id)
        .await
        .expect(StatusCode::OK);

    assert!(unlinked.companies().is_empty(), "{unlinked:?}");
    crm.contacts()
        .unlink_company(pat.person.id, pat.board.id)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(contacts_of(&crm, &pat.board).await.is_empty());
}

#[tokio::test]
async fn links_and_unlinks_are_in_the_trail() {
    let app = spawn_app().await;
    let ws = app.signup("assoc-trail").await;
    let crm = app.as_(&ws);
    let pat = given_pat(&crm).await;
    let contacts = crm.contacts();
    for role in ["Decision maker", "Board member"] {
        contacts
            .link_company(pat.person.id, pat.board.id, &json!({ "role": role }))
            .await
            .expect(StatusCode::OK);
    }
    contacts
        .unlink_company(pat.person.id, pat.board.id)
        .await
        .expect(StatusCode::OK);

    let audit = crm.audit("limit=3").await.expect(StatusCode::OK);

    assert_eq!(
        audit.map(|e| e.event_type.clone()),
        [
            "ContactCompanyUnlinked",
            "ContactCompanyLinked",
            "ContactCompanyLinked"
        ]
    );
}
