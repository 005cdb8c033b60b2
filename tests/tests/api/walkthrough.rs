//! The walk-through of the main job, end to end.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{csv_rows, data_file, keyring, spawn_app, str_of, uuid_of};

async fn all_pages(app: &crate::helpers::TestApp, token: &str, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    let sep = if path.contains('?') { '&' } else { '?' };
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit=200&cursor={c}"),
            None => format!("{path}{sep}limit=200"),
        };
        let (status, body) = app.get(&url, token).await;
        assert_eq!(status, StatusCode::OK, "{url}: {body}");
        items.extend(body["items"].as_array().cloned().unwrap_or_default());
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

#[tokio::test]
async fn the_main_job_end_to_end() {
    let app = spawn_app().await;
    let a = app.signup("acme").await;

    // Import the real files.
    let companies_csv = data_file("companies.csv");
    let contacts_csv = data_file("contacts.csv");
    let (status, report) = app
        .post_csv("/v1/imports/companies", &a.token, companies_csv.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["rows_read"].as_u64(), Some(csv_rows(&companies_csv)));
    let (status, report) = app
        .post_csv("/v1/imports/contacts", &a.token, contacts_csv.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["rows_read"].as_u64(), Some(csv_rows(&contacts_csv)));

    // A filtered list.
    let (status, page) = app.get("/v1/companies?q=ericsson", &a.token).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| str_of(&c["name"]))
        .collect();
    assert!(names.iter().any(|n| n == "Ericsson"), "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| n.to_lowercase().contains("ericsson") || n.is_empty()),
        "{names:?}"
    );

    // Page through every company with the cursor: each exactly once, in name order.
    let all = all_pages(&app, &a.token, "/v1/companies").await;
    assert_eq!(all.len() as u64, csv_rows(&companies_csv));
    let ids: HashSet<String> = all.iter().map(|c| str_of(&c["id"])).collect();
    assert_eq!(
        ids.len(),
        all.len(),
        "a company appeared twice across pages"
    );
    let sorted: Vec<String> = all
        .iter()
        .map(|c| str_of(&c["name"]).to_lowercase())
        .collect();
    let mut expected = sorted.clone();
    expected.sort();
    assert_eq!(sorted.len(), expected.len());
    // The database's collation orders the names; check it never goes backwards by its own
    // key on plain ASCII names.
    let ascii: Vec<&String> = sorted
        .iter()
        .filter(|n| n.chars().all(|c| c.is_ascii_alphanumeric()))
        .collect();
    assert!(
        ascii.windows(2).all(|w| w[0] <= w[1]),
        "pages are not in name order"
    );

    // A contact's life: create, update, delete, restore.
    let ericsson = all.iter().find(|c| c["name"] == "Ericsson").unwrap();
    let (status, contact) = app
        .post("/v1/contacts", &a.token, json!({"first_name": "Ada", "last_name": "Lovelace", "email": "Ada@Example.com", "company_id": ericsson["id"]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");
    assert_eq!(contact["email"], "ada@example.com");
    let id = uuid_of(&contact["id"]);
    let (status, updated) = app
        .patch(
            &format!("/v1/contacts/{id}"),
            &a.token,
            json!({"job_title": "Analyst", "phone": "+44 20 7946 0000"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["job_title"], "Analyst");
    assert_eq!(updated["version"], 2);
    let (status, _) = app.delete(&format!("/v1/contacts/{id}"), &a.token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, listed) = app.get("/v1/contacts?q=lovelace", &a.token).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        listed["items"].as_array().unwrap().is_empty(),
        "a deleted contact is listed: {listed}"
    );
    let (status, deleted_too) = app
        .get("/v1/contacts?q=lovelace&include_deleted=true", &a.token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted_too["items"][0]["deleted"], true);
    let (status, restored) = app
        .post(&format!("/v1/contacts/{id}/restore"), &a.token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{restored}");
    assert_eq!(restored["deleted"], false);
    assert_eq!(restored["version"], 4);

    // The audit log has each of those events with the right actor, ip and time.
    let (status, audit) = app.get("/v1/audit?limit=10", &a.token).await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let entries = audit["items"].as_array().unwrap();
    let mine: Vec<&Value> = entries
        .iter()
        .filter(|e| e["entity_id"] == json!(id.to_string()))
        .collect();
    let types: Vec<&str> = mine
        .iter()
        .map(|e| e["event_type"].as_str().unwrap_or_default())
        .collect();
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
        assert_eq!(entry["actor"], json!(a.owner.to_string()));
        assert_eq!(entry["actor_type"], "user");
        assert_eq!(entry["actor_role"], "owner");
        assert_eq!(entry["ip"], "127.0.0.1");
        assert_eq!(entry["entity_type"], "Contact");
        let at =
            chrono::DateTime::parse_from_rfc3339(entry["occurred_at"].as_str().unwrap()).unwrap();
        assert!(
            (now - at.with_timezone(&chrono::Utc)).num_seconds().abs() < 120,
            "{at}"
        );
    }
    assert_eq!(mine[1]["version"], 3);
    assert_eq!(
        mine[2]["payload"]["ContactUpdated"],
        json!({"job_title": "Analyst", "phone": "+44 20 7946 0000"})
    );
    // Imported rows name their import.
    let (_, oldest) = app.get("/v1/audit?limit=200", &a.token).await;
    assert!(oldest["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["import_id"].is_string()));

    // Workspace B sees none of A's data.
    let b = app.signup("bravo").await;
    let (_, b_companies) = app.get("/v1/companies", &b.token).await;
    assert!(
        b_companies["items"].as_array().unwrap().is_empty(),
        "{b_companies}"
    );
    let (status, _) = app.get(&format!("/v1/contacts/{id}"), &b.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Rebuild the projections: the same answers.
    let before_list = all_pages(&app, &a.token, "/v1/contacts?sort=-created_at").await;
    let (_, before_one) = app.get(&format!("/v1/contacts/{id}"), &a.token).await;
    let replayed = crm_projections::rebuild::rebuild_all(&app.projector_db().await, &keyring())
        .await
        .unwrap();
    assert!(replayed as usize > all.len());
    let after_list = all_pages(&app, &a.token, "/v1/contacts?sort=-created_at").await;
    let (_, after_one) = app.get(&format!("/v1/contacts/{id}"), &a.token).await;
    assert_eq!(before_list, after_list);
    assert_eq!(before_one, after_one);
}
