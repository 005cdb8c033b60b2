//! Imports in upsert mode: a row that matches a contact by email or a company by domain
//! updates it with its non-empty cells, and the report says so row by row.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, str_of};

/// The rows of a report's note list: `(row, message)`.
fn notes(report: &Value, list: &str) -> Vec<(u64, String)> {
    report[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list}: {report}"))
        .iter()
        .map(|n| (n["row"].as_u64().expect("row"), str_of(&n["message"])))
        .collect()
}

#[track_caller]
fn accounted(report: &Value) {
    let n = |k: &str| {
        report[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k}: {report}"))
    };
    assert_eq!(
        n("rows_read"),
        n("created") + n("updated") + n("skipped_duplicates") + n("failed"),
        "{report}"
    );
}

#[tokio::test]
async fn an_upsert_updates_contacts_by_email_and_companies_by_domain_and_reports_each_row() {
    let app = spawn_app().await;
    let ws = app.signup("upserts").await;
    let (status, ada) = app
        .post(
            "/v1/contacts",
            &ws.token,
            json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
                   "phone": "+44 20 7946 0958", "job_title": "Analyst"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ada}");
    let ada_id = str_of(&ada["id"]);
    let csv = b"First Name,Last Name,Email,Job Title,Phone Number\n\
Ada,Lovelace,ADA@example.com,Countess,\n\
Grace,Hopper,grace@example.com,Admiral,\n\
Ada,Lovelace,ada@example.com,Countess,\n\
Ada,King,ada@example.com,,not a phone\n"
        .to_vec();

    // Without upsert the known email is a duplicate.
    let (status, plain) = app
        .post_csv("/v1/imports/contacts?dry_run=true", &ws.token, csv.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{plain}");
    assert_eq!(plain["updated"], 0);
    assert!(
        plain["skipped_duplicates"].as_u64().unwrap_or(0) >= 1,
        "{plain}"
    );
    // A dry run of the upsert says what it would update, refuses what the import would
    // refuse (row 4's phone, checked against the contact as stored), and changes nothing.
    let (status, dry) = app
        .post_csv(
            "/v1/imports/contacts?dry_run=true&mode=upsert",
            &ws.token,
            csv.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    accounted(&dry);
    assert_eq!(
        (&dry["created"], &dry["updated"], &dry["failed"]),
        (&json!(1), &json!(2), &json!(1)),
        "{dry}"
    );
    let dry_updates = notes(&dry, "updates");
    assert_eq!(
        dry_updates.iter().map(|(row, _)| *row).collect::<Vec<_>>(),
        [1, 3]
    );
    assert!(
        dry_updates
            .iter()
            .all(|(_, m)| m.ends_with("it would be updated")),
        "each row is checked against the contact as stored: {dry_updates:?}"
    );
    let dry_errors = notes(&dry, "errors");
    assert_eq!(dry_errors.len(), 1, "{dry_errors:?}");
    assert_eq!(dry_errors[0].0, 4, "{dry_errors:?}");
    assert!(dry_errors[0].1.contains("phone"), "{dry_errors:?}");
    let (_, unchanged) = app.get(&format!("/v1/contacts/{ada_id}"), &ws.token).await;
    assert_eq!(unchanged["job_title"], "Analyst");

    let (status, report) = app
        .post_csv("/v1/imports/contacts?mode=upsert", &ws.token, csv)
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    accounted(&report);
    assert_eq!(report["created"], 1, "{report}");
    assert_eq!(report["updated"], 2, "{report}");
    assert_eq!(report["failed"], 1, "{report}");
    let updates = notes(&report, "updates");
    assert_eq!(updates[0].0, 1);
    assert!(
        updates[0].1.contains(&ada_id) && updates[0].1.ends_with("updated"),
        "{updates:?}"
    );
    assert_eq!(updates[1].0, 3);
    assert!(updates[1].1.ends_with("nothing to change"), "{updates:?}");
    let errors = notes(&report, "errors");
    assert_eq!(errors[0].0, 4, "{errors:?}");
    assert!(errors[0].1.contains("phone"), "{errors:?}");
    let (_, after) = app.get(&format!("/v1/contacts/{ada_id}"), &ws.token).await;
    assert_eq!(after["job_title"], "Countess");
    assert_eq!(
        after["phone"], "+44 20 7946 0958",
        "an empty cell changes nothing"
    );
    assert_eq!(
        after["last_name"], "Lovelace",
        "the failed row changed nothing"
    );
    // The trail names the import as the author of the update.
    let (_, history) = app
        .get(&format!("/v1/contacts/{ada_id}/history"), &ws.token)
        .await;
    let versions = history["items"]
        .as_array()
        .or(history.as_array())
        .expect("versions")
        .clone();
    assert_eq!(versions.len(), 2, "{history}");
    assert_eq!(versions[1]["import_id"], report["import_id"]);

    // Companies by domain; a company this import creates is not updated by a later row.
    let (status, acme) = app
        .post(
            "/v1/companies",
            &ws.token,
            json!({"name": "Acme", "domain": "acme.example"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{acme}");
    let acme_id = str_of(&acme["id"]);
    let companies = b"Company name,Company Domain Name,Industry,Number of Employees\n\
Acme Corporation,https://www.acme.example/,Anvils,120\n\
Globex,globex.example,Energy,\n\
Globex Again,globex.example,Mining,\n"
        .to_vec();
    let (status, dry) = app
        .post_csv(
            "/v1/imports/companies?mode=upsert&dry_run=true",
            &ws.token,
            companies.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    accounted(&dry);
    assert_eq!(
        (&dry["updated"], &dry["created"], &dry["skipped_duplicates"]),
        (&json!(1), &json!(1), &json!(1)),
        "{dry}"
    );
    assert!(notes(&dry, "updates")[0].1.ends_with("it would be updated"));
    let (_, unchanged) = app
        .get(&format!("/v1/companies/{acme_id}"), &ws.token)
        .await;
    assert_eq!(unchanged["name"], "Acme", "a dry run changes nothing");
    let (status, report) = app
        .post_csv("/v1/imports/companies?mode=upsert", &ws.token, companies)
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    accounted(&report);
    assert_eq!(report["updated"], 1, "{report}");
    assert_eq!(report["created"], 1, "{report}");
    assert_eq!(report["skipped_duplicates"], 1, "{report}");
    let (_, acme) = app
        .get(&format!("/v1/companies/{acme_id}"), &ws.token)
        .await;
    assert_eq!(acme["name"], "Acme Corporation");
    assert_eq!(acme["industry"], "Anvils");
    assert_eq!(acme["employee_count"], 120);

    // Deals have no upsert; an unknown mode is refused.
    for (path, field) in [
        ("/v1/imports/deals?mode=upsert", "mode"),
        ("/v1/imports/contacts?mode=merge", "mode"),
    ] {
        let (status, body) = app
            .post_csv(path, &ws.token, b"Deal Name\nx\n".to_vec())
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert_eq!(body["errors"][0]["field"], field, "{body}");
    }
}

#[tokio::test]
async fn an_upsert_never_updates_a_deleted_record_and_shares_unique_values_with_creates() {
    let app = spawn_app().await;
    let ws = app.signup("upsert-edges").await;
    let (status, field) = app
        .post(
            "/v1/schema/fields",
            &ws.token,
            json!({"record": "company", "key": "vat", "label": "VAT", "type": "text", "unique": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{field}");
    let mut ids = Vec::new();
    for (name, domain) in [
        ("Alpha", "alpha.example"),
        ("Echo", "echo.example"),
        ("Delta", "delta.example"),
    ] {
        let (status, c) = app
            .post(
                "/v1/companies",
                &ws.token,
                json!({"name": name, "domain": domain}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{c}");
        ids.push(str_of(&c["id"]));
    }
    let (status, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/companies/{}", ids[2]),
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Row 1 updates Alpha with V1, which row 2 then wants for a new company; row 3 creates
    // with V2, which row 4 then wants for Echo; row 5's domain is a deleted company's.
    let csv = b"Company name,Domain,VAT\n\
Alpha,alpha.example,V1\n\
Bravo,bravo.example,v1\n\
Charlie,charlie.example,V2\n\
Echo,echo.example,V2\n\
Delta Two,delta.example,V3\n"
        .to_vec();
    let (status, report) = app
        .post_csv(
            "/v1/imports/companies?mode=upsert&map.VAT=vat",
            &ws.token,
            csv,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["aborted"], Value::Null, "{report}");
    assert_eq!(
        (report["updated"].as_u64(), report["created"].as_u64()),
        (Some(1), Some(1)),
        "{report}"
    );
    accounted(&report);
    let duplicates = notes(&report, "duplicates");
    let rows: Vec<u64> = duplicates.iter().map(|(row, _)| *row).collect();
    assert_eq!(rows, vec![2, 4, 5], "{report}");
    assert!(duplicates[0].1.contains("earlier row"), "{duplicates:?}");
    assert!(duplicates[1].1.contains("earlier row"), "{duplicates:?}");
    assert!(duplicates[2].1.contains("delta.example"), "{duplicates:?}");
    let (status, alpha) = app
        .get(&format!("/v1/companies/{}", ids[0]), &ws.token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(alpha["custom"]["vat"], "V1", "{alpha}");
    let (status, echo) = app
        .get(&format!("/v1/companies/{}", ids[1]), &ws.token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(echo["custom"].get("vat"), None, "{echo}");

    // A contact row whose email a deleted contact keeps is a duplicate, not a failed update.
    let (status, gone) = app
        .post(
            "/v1/contacts",
            &ws.token,
            json!({"first_name": "Gone", "email": "gone@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{gone}");
    let (status, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/contacts/{}", str_of(&gone["id"])),
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, report) = app
        .post_csv(
            "/v1/imports/contacts?mode=upsert",
            &ws.token,
            b"First Name,Email\nBack,gone@example.com\n".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        (report["updated"].as_u64(), report["failed"].as_u64()),
        (Some(0), Some(0)),
        "{report}"
    );
    assert_eq!(notes(&report, "duplicates").len(), 1, "{report}");
    accounted(&report);
}
