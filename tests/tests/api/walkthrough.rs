//! The walk-through of the main job, end to end: one scenario on purpose (import the real
//! files, find, page, edit, audit, isolate, rebuild), each step checked as it goes.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::client::{Client, Company, Page};
use crate::helpers::{csv_rows, data_file, keyring, spawn_app};

/// Every row of a list, page by page (200 a page), as `T`.
async fn all_pages<T: DeserializeOwned>(crm: &Client<'_>, path: &str) -> Vec<T> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    let sep = if path.contains('?') { '&' } else { '?' };
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit=200&cursor={c}"),
            None => format!("{path}{sep}limit=200"),
        };
        let page: Page<T> = crm.get(&url).await.expect(StatusCode::OK);
        items.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return items,
        }
    }
}

#[tokio::test]
async fn the_main_job_end_to_end() {
    let app = spawn_app().await;
    let a = app.signup("acme").await;
    let crm = app.as_(&a);

    // Import the real files.
    let companies_csv = data_file("companies.csv");
    let contacts_csv = data_file("contacts.csv");
    let report = crm
        .import("companies", "", &companies_csv)
        .await
        .expect(StatusCode::OK);
    assert_eq!(report.rows_read, csv_rows(&companies_csv));
    let report = crm
        .import("contacts", "", &contacts_csv)
        .await
        .expect(StatusCode::OK);
    assert_eq!(report.rows_read, csv_rows(&contacts_csv));

    // A filtered list.
    let page = crm
        .companies()
        .list("q=ericsson")
        .await
        .expect(StatusCode::OK);
    let names = page.map(|c| c.name.clone());
    assert!(names.iter().any(|n| n == "Ericsson"), "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| n.to_lowercase().contains("ericsson") || n.is_empty()),
        "{names:?}"
    );

    // Page through every company with the cursor: each exactly once, in name order.
    let all: Vec<Company> = all_pages(&crm, "/v1/companies").await;
    assert_eq!(all.len() as u64, csv_rows(&companies_csv));
    let ids: HashSet<_> = all.iter().map(|c| c.id).collect();
    assert_eq!(
        ids.len(),
        all.len(),
        "a company appeared twice across pages"
    );
    // The database's collation orders the names; check it never goes backwards by its own
    // key on plain ASCII names.
    let ascii: Vec<String> = all
        .iter()
        .map(|c| c.name.to_lowercase())
        .filter(|n| n.chars().all(|c| c.is_ascii_alphanumeric()))
        .collect();
    assert!(
        ascii.windows(2).all(|w| w[0] <= w[1]),
        "pages are not in name order"
    );

    // A contact's life: create, update, delete, restore.
    let ericsson = all
        .iter()
        .find(|c| c.name == "Ericsson")
        .unwrap_or_else(|| panic!("no Ericsson among the companies"));
    let contact = crm
        .contacts()
        .create(&json!({"first_name": "Ada", "last_name": "Lovelace", "email": "Ada@Example.com", "company_id": ericsson.id}))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(contact.email.as_deref(), Some("ada@example.com"));
    let id = contact.id;
    let updated = crm
        .contacts()
        .update(
            id,
            &json!({"job_title": "Analyst", "phone": "+44 20 7946 0000"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(updated.job_title.as_deref(), Some("Analyst"));
    assert_eq!(updated.version, 2);
    crm.contacts()
        .delete(id)
        .await
        .expect(StatusCode::NO_CONTENT);
    let listed = crm
        .contacts()
        .list("q=lovelace")
        .await
        .expect(StatusCode::OK);
    assert!(
        listed.items.is_empty(),
        "a deleted contact is listed: {listed:?}"
    );
    let deleted_too = crm
        .contacts()
        .list("q=lovelace&include_deleted=true")
        .await
        .expect(StatusCode::OK);
    assert!(deleted_too.items[0].deleted);
    let restored = crm.contacts().restore(id).await.expect(StatusCode::OK);
    assert!(!restored.deleted);
    assert_eq!(restored.version, 4);

    // The audit log has each of those events with the right actor, ip and time.
    let audit = crm.audit("limit=10").await.expect(StatusCode::OK);
    let mine: Vec<_> = audit
        .items
        .iter()
        .filter(|e| e.entity_id == id.to_string())
        .collect();
    let types: Vec<&str> = mine.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "ContactRestored",
            "ContactDeleted",
            "ContactUpdated",
            "ContactCreated"
        ]
    );
    let now = chrono::Utc::now();
    for entry in &mine {
        assert_eq!(entry.actor, Some(a.owner.to_string()));
        assert_eq!(entry.actor_type.as_deref(), Some("user"));
        assert_eq!(entry.actor_role.as_deref(), Some("owner"));
        assert_eq!(entry.ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(entry.entity_type, "Contact");
        let at = entry
            .occurred_at
            .unwrap_or_else(|| panic!("no occurred_at: {entry:?}"));
        assert!((now - at).num_seconds().abs() < 120, "{at}");
    }
    assert_eq!(mine[1].version, 3);
    assert_eq!(
        mine[2].payload["ContactUpdated"],
        json!({"job_title": "Analyst", "phone": "+44 20 7946 0000"})
    );
    // Imported rows name their import.
    let oldest = crm.audit("limit=200").await.expect(StatusCode::OK);
    assert!(oldest.items.iter().any(|e| e.import_id.is_some()));

    // Workspace B sees none of A's data.
    let b = app.signup("bravo").await;
    let as_b = app.as_(&b);
    let b_companies = as_b.companies().list("").await.expect(StatusCode::OK);
    assert!(b_companies.items.is_empty(), "{b_companies:?}");
    as_b.contacts()
        .get(id)
        .await
        .expect_problem(StatusCode::NOT_FOUND);

    // Rebuild the projections: the same answers.
    let before_list: Vec<Value> = all_pages(&crm, "/v1/contacts?sort=-created_at").await;
    let before_one = crm
        .contacts()
        .get(id)
        .await
        .untyped()
        .expect(StatusCode::OK);
    let replayed = crm_projections::rebuild::rebuild_all(&app.projector_db().await, &keyring())
        .await
        .unwrap();
    assert!(replayed as usize > all.len());
    let after_list: Vec<Value> = all_pages(&crm, "/v1/contacts?sort=-created_at").await;
    let after_one = crm
        .contacts()
        .get(id)
        .await
        .untyped()
        .expect(StatusCode::OK);
    assert_eq!(before_list, after_list);
    assert_eq!(before_one, after_one);
}
