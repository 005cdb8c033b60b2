//! Importing the shared real files, and messy input.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{csv_rows, data_file, spawn_app};

fn accounted(report: &Value) {
    let n = |k: &str| report[k].as_u64().unwrap();
    assert_eq!(
        n("rows_read"),
        n("created") + n("skipped_duplicates") + n("failed"),
        "a row is unaccounted for: {report}"
    );
    assert_eq!(
        n("failed") as usize,
        report["errors"].as_array().unwrap().len()
    );
    assert_eq!(
        n("skipped_duplicates") as usize,
        report["duplicates"].as_array().unwrap().len()
    );
}

#[tokio::test]
async fn the_shared_files_import_fully_and_a_rerun_creates_nothing() {
    let app = spawn_app().await;
    let a = app.signup("importer").await;
    let companies = data_file("companies.csv");
    let contacts = data_file("contacts.csv");

    let (status, report) = app
        .post_csv("/v1/imports/companies", &a.token, companies.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    accounted(&report);
    assert_eq!(report["rows_read"].as_u64(), Some(csv_rows(&companies)));
    assert_eq!(
        report["created"].as_u64(),
        Some(csv_rows(&companies)),
        "{}",
        report["errors"]
    );
    assert_eq!(
        report["ignored_columns"],
        serde_json::json!(["Headquarters", "Founded", "ISIN", "Ticker"])
    );
    let warnings = report["warnings"].as_array().unwrap();
    assert!(warnings
        .iter()
        .any(|w| w["message"].as_str().unwrap().contains("kept as text")));
    assert!(warnings.iter().all(|w| w["row"].as_u64().unwrap() >= 1));

    let (status, report) = app
        .post_csv("/v1/imports/contacts", &a.token, contacts.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    accounted(&report);
    assert_eq!(report["rows_read"].as_u64(), Some(csv_rows(&contacts)));
    // The file names two executives twice at the same company.
    assert_eq!(
        report["skipped_duplicates"].as_u64(),
        Some(2),
        "{}",
        report["duplicates"]
    );
    assert_eq!(report["created"].as_u64(), Some(csv_rows(&contacts) - 2));

    // Exact money from revenue text: Ericsson's "247.880 billion kr" is ambiguous (its
    // listing currency is EUR), a "US$ … billion" is exact.
    let (_, page) = app.get("/v1/companies?q=ericsson", &a.token).await;
    let ericsson = &page["items"][0];
    assert_eq!(ericsson["annual_revenue"], Value::Null);
    assert_eq!(ericsson["annual_revenue_text"], "247.880 billion kr (2024)");
    assert_eq!(ericsson["employee_count"], 94_000);
    assert_eq!(ericsson["domain"], "ericsson.com");
    let (_, all) = app.get("/v1/companies?limit=200", &a.token).await;
    let exact = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["annual_revenue"]["amount_minor"].is_i64())
        .count();
    assert!(exact > 100, "{exact}");

    // Contacts are linked to their company by name.
    let (_, people) = app
        .get(
            &format!(
                "/v1/contacts?company_id={}",
                ericsson["id"].as_str().unwrap()
            ),
            &a.token,
        )
        .await;
    let names: Vec<&str> = people["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["last_name"].as_str())
        .collect();
    assert!(names.contains(&"Ekholm"), "{names:?}");

    // A re-run creates nothing and writes no event.
    let events = app.event_count().await;
    for (path, file) in [
        ("/v1/imports/companies", &companies),
        ("/v1/imports/contacts", &contacts),
    ] {
        let (status, report) = app.post_csv(path, &a.token, file.clone()).await;
        assert_eq!(status, StatusCode::OK);
        accounted(&report);
        assert_eq!(report["created"], 0, "{path}");
        assert_eq!(report["skipped_duplicates"].as_u64(), Some(csv_rows(file)));
    }
    assert_eq!(app.event_count().await, events);
}

#[tokio::test]
async fn messy_rows_are_reported_and_bad_files_refused() {
    let app = spawn_app().await;
    let a = app.signup("messy").await;
    let csv = "Company name,Company Domain Name,Currency,Number of Employees,Annual Revenue\n\
               Good Co,good.example,USD,\"1,200 (2024)\",US$ 1.5 billion (2024)\n\
               ,nameless.example,USD,,\n\
               Yen Co,yen.example,GBP,lots,¥ 12 billion (2023)\n\
               Bad Domain,not a domain,XXX,,\n\
               good co,other.example,USD,,\n";
    let (status, report) = app
        .post_csv("/v1/imports/companies", &a.token, csv.as_bytes().to_vec())
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    accounted(&report);
    assert_eq!(
        (
            report["rows_read"].as_u64(),
            report["created"].as_u64(),
            report["failed"].as_u64(),
            report["skipped_duplicates"].as_u64()
        ),
        (Some(5), Some(3), Some(1), Some(1))
    );
    assert_eq!(report["errors"][0]["row"], 2);
    assert_eq!(report["duplicates"][0]["row"], 5);
    let warned_rows: Vec<u64> = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["row"].as_u64())
        .collect();
    assert!(
        warned_rows.contains(&3) && warned_rows.contains(&4),
        "{warned_rows:?}"
    );

    let (_, page) = app.get("/v1/companies?q=good", &a.token).await;
    assert_eq!(
        page["items"][0]["annual_revenue"],
        serde_json::json!({"amount_minor": 150_000_000_000_i64, "currency": "USD"})
    );
    assert_eq!(page["items"][0]["employee_count"], 1200);
    let (_, page) = app.get("/v1/companies?q=yen", &a.token).await;
    assert_eq!(
        page["items"][0]["annual_revenue_text"],
        "¥ 12 billion (2023)"
    );

    // A file without the name column changes nothing.
    let events = app.event_count().await;
    let (status, problem) = app
        .post_csv(
            "/v1/imports/companies",
            &a.token,
            b"Domain,Industry\nx.example,Retail\n".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(app.event_count().await, events);
    // A JSON body is not a CSV.
    let (status, _) = app
        .post("/v1/imports/companies", &a.token, serde_json::json!({}))
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // A read-only user may not import.
    let reader = app
        .token_for(a.tenant, a.owner, crm_domain::Role::ReadOnly)
        .await;
    let (status, _) = app
        .post_csv("/v1/imports/companies", &reader, csv.as_bytes().to_vec())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(app.event_count().await, events);
}

#[tokio::test]
async fn a_dry_run_reports_everything_and_writes_nothing() {
    let app = spawn_app().await;
    let a = app.signup("dry").await;
    let companies = data_file("companies.csv");
    let events = app.event_count().await;
    let (status, report) = app
        .post_csv(
            "/v1/imports/companies?dry_run=true",
            &a.token,
            companies.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    accounted(&report);
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["created"].as_u64(), Some(csv_rows(&companies)));
    assert_eq!(app.event_count().await, events, "a dry run wrote");
    let (_, page) = app.get("/v1/companies", &a.token).await;
    assert!(page["items"].as_array().unwrap().is_empty());
    let (status, _) = app
        .post_csv("/v1/imports/companies?dry_run=maybe", &a.token, companies)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn deals_import_with_stages_money_and_links() {
    let app = spawn_app().await;
    let a = app.signup("deal-import").await;
    app.post(
        "/v1/companies",
        &a.token,
        serde_json::json!({"name": "Globex"}),
    )
    .await;
    let csv = "Deal Name,Amount,Currency,Pipeline,Deal Stage,Close Date,Company name\n\
               Renewal,\"1,250.50\",EUR,Sales pipeline,Contract sent,2026-12-31,Globex\n\
               Upsell,900,EUR,,Closed won,2026-10-01,Globex\n\
               Pilot,100,EUR,,Closed lost,,\n\
               Odd,12.345,USD,Nope,Nowhere,31/12/2026,Initech\n\
               No money,500,,,,,\n\
               ,1,EUR,,,,\n";
    let dry = app
        .post_csv(
            "/v1/imports/deals?dry_run=true",
            &a.token,
            csv.as_bytes().to_vec(),
        )
        .await
        .1;
    accounted(&dry);
    assert_eq!(
        (dry["created"].as_u64(), dry["failed"].as_u64()),
        (Some(5), Some(1)),
        "{dry}"
    );
    let events = app.event_count().await;
    assert_eq!(
        app.get("/v1/deals", &a.token).await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    let (status, report) = app
        .post_csv("/v1/imports/deals", &a.token, csv.as_bytes().to_vec())
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    accounted(&report);
    assert_eq!(
        (report["created"].as_u64(), report["failed"].as_u64()),
        (Some(5), Some(1)),
        "{report}"
    );
    assert!(app.event_count().await > events);
    let warned: Vec<u64> = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["row"].as_u64())
        .collect();
    assert!(warned.contains(&4) && warned.contains(&5), "{warned:?}");

    let (_, page) = app.get("/v1/deals?sort=name&limit=200", &a.token).await;
    let by_name = |n: &str| {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == n)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        by_name("Renewal")["amount"],
        serde_json::json!({"amount_minor": 125_050, "currency": "EUR"})
    );
    assert_eq!(by_name("Renewal")["expected_close_date"], "2026-12-31");
    assert!(by_name("Renewal")["company_id"].is_string());
    assert_eq!(by_name("Upsell")["status"], "won");
    assert_eq!(by_name("Upsell")["closed_at"], "2026-10-01T00:00:00Z");
    assert_eq!(by_name("Pilot")["status"], "lost");
    assert_eq!(
        by_name("Odd")["amount"],
        Value::Null,
        "USD 12.345 has too many decimals"
    );
    assert_eq!(by_name("Odd")["status"], "open");
    assert_eq!(by_name("No money")["amount"], Value::Null);

    // Imported deals name their import and the import actor; a re-run adds nothing.
    let (_, audit) = app.get("/v1/audit?limit=1", &a.token).await;
    assert_eq!(audit["items"][0]["import_id"], report["import_id"]);
    let (_, again) = app
        .post_csv("/v1/imports/deals", &a.token, csv.as_bytes().to_vec())
        .await;
    assert_eq!(
        (
            again["created"].as_u64(),
            again["skipped_duplicates"].as_u64()
        ),
        (Some(0), Some(5))
    );
}
