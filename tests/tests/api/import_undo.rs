//! Undo of one import: every record it created is deleted by new events with a reason;
//! the import's events stay, and records made otherwise are untouched.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::client::{Client, Company};
use crate::helpers::spawn_app;

/// A company made by hand, and an import of Alpha, Beta and Gamma, after which Alpha was
/// edited and Gamma deleted.
struct Imported {
    import_id: Uuid,
    kept: Company,
    alpha: Uuid,
    beta: Uuid,
}

async fn given_an_import_edited_since(crm: &Client<'_>) -> Imported {
    let kept = crm
        .companies()
        .create(&json!({"name": "Made By Hand"}))
        .await
        .expect(StatusCode::CREATED);
    let csv = "Company name,Company Domain Name\n\
               Alpha,alpha.example\nBeta,beta.example\nGamma,gamma.example\n";
    let report = crm
        .import("companies", "", csv.as_bytes())
        .await
        .expect(StatusCode::OK);
    assert_eq!(report.created, 3, "{report:?}");
    let list = crm
        .companies()
        .list("sort=name")
        .await
        .expect(StatusCode::OK);
    let id_of = |name: &str| {
        list.items
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{name} was not imported: {list:?}"))
            .id
    };
    let (alpha, beta, gamma) = (id_of("Alpha"), id_of("Beta"), id_of("Gamma"));
    crm.companies()
        .update(alpha, &json!({"industry": "Software"}))
        .await
        .expect(StatusCode::OK);
    crm.companies()
        .delete(gamma)
        .await
        .expect(StatusCode::NO_CONTENT);
    Imported {
        import_id: report.import_id,
        kept,
        alpha,
        beta,
    }
}

fn wrong_file() -> Value {
    json!({"reason": "wrong file"})
}

#[tokio::test]
async fn an_undo_is_refused_to_members_other_workspaces_unknown_imports_and_without_reason() {
    let app = spawn_app().await;
    let a = app.signup("undo-a").await;
    let b = app.signup("undo-b").await;
    let crm = app.as_(&a);
    let imported = given_an_import_edited_since(&crm).await;
    let member = app
        .token_for(a.tenant, a.owner, crm_domain::Role::Member)
        .await;
    let events = app.event_count().await;

    app.as_(&member)
        .undo_import(imported.import_id, &wrong_file())
        .await
        .expect_problem(StatusCode::FORBIDDEN);
    app.as_(&b)
        .undo_import(imported.import_id, &wrong_file())
        .await
        .expect_problem(StatusCode::NOT_FOUND);
    crm.undo_import(Uuid::new_v4(), &wrong_file())
        .await
        .expect_problem(StatusCode::NOT_FOUND);
    crm.undo_import(imported.import_id, &json!({"reason": ""}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);

    assert_eq!(app.event_count().await, events);
}

#[tokio::test]
async fn an_undo_deletes_what_the_import_created_with_its_reason_and_nothing_else() {
    let app = spawn_app().await;
    let a = app.signup("undo-ok").await;
    let crm = app.as_(&a);
    let imported = given_an_import_edited_since(&crm).await;
    let events = app.event_count().await;

    let result = crm
        .undo_import(imported.import_id, &wrong_file())
        .await
        .expect(StatusCode::OK);

    assert_eq!((result.deleted, result.already_deleted), (2, 1));
    assert_eq!(app.event_count().await, events + 2);
    let list = crm.companies().list("").await.expect(StatusCode::OK);
    assert_eq!(list.map(|c| c.name.clone()), ["Made By Hand"]);
    assert_eq!(list.items[0].id, imported.kept.id);
    let history = crm
        .companies()
        .history(imported.alpha)
        .await
        .expect(StatusCode::OK);
    let items = &history.items;
    assert_eq!(items.len(), 3, "created, edited, deleted: {history:?}");
    assert_eq!(items[0].import_id, Some(imported.import_id.to_string()));
    assert_eq!(items[2].event_type, "CompanyDeleted");
    assert_eq!(
        items[2].reason,
        Some(format!("undo import {}: wrong file", imported.import_id))
    );
}

#[tokio::test]
async fn a_second_undo_changes_nothing_and_undone_records_can_be_restored() {
    let app = spawn_app().await;
    let a = app.signup("undo-again").await;
    let crm = app.as_(&a);
    let imported = given_an_import_edited_since(&crm).await;
    crm.undo_import(imported.import_id, &wrong_file())
        .await
        .expect(StatusCode::OK);

    let again = crm
        .undo_import(imported.import_id, &wrong_file())
        .await
        .expect(StatusCode::OK);

    assert_eq!((again.deleted, again.already_deleted), (0, 3));
    crm.companies()
        .restore(imported.beta)
        .await
        .expect(StatusCode::OK);
}
