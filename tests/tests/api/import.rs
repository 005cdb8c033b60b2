//! Importing the shared real files, and messy input.

use reqwest::StatusCode;
use serde_json::json;

use crate::client::{Client, Deal, ImportReport, Money};
use crate::helpers::{csv_rows, data_file, spawn_app, spawn_app_with};

/// Every row read is created, skipped as a duplicate or failed, and each skip or failure
/// is listed.
#[track_caller]
fn assert_accounted(report: &ImportReport) {
    assert_eq!(
        report.rows_read,
        report.created + report.skipped_duplicates + report.failed,
        "a row is unaccounted for: {report:?}"
    );
    assert_eq!(report.failed as usize, report.errors.len(), "{report:?}");
    assert_eq!(
        report.skipped_duplicates as usize,
        report.duplicates.len(),
        "{report:?}"
    );
}

/// Imports `csv` as `kind` and checks the report accounts for every row.
async fn import(crm: &Client<'_>, kind: &str, query: &str, csv: &[u8]) -> ImportReport {
    let report = crm.import(kind, query, csv).await.expect(StatusCode::OK);
    assert_accounted(&report);
    report
}

fn warned_rows(report: &ImportReport) -> Vec<u64> {
    report.warnings.iter().map(|w| w.row).collect()
}

#[tokio::test]
async fn the_shared_companies_file_imports_fully_with_revenue_exact_or_kept_as_text() {
    let app = spawn_app().await;
    let a = app.signup("importer").await;
    let crm = app.as_(&a);
    let companies = data_file("companies.csv");

    let report = import(&crm, "companies", "", &companies).await;

    assert_eq!(report.rows_read, csv_rows(&companies));
    assert_eq!(report.created, csv_rows(&companies), "{:?}", report.errors);
    assert_eq!(
        report.ignored_columns,
        ["Headquarters", "Founded", "ISIN", "Ticker"]
    );
    assert!(report
        .warnings
        .iter()
        .any(|w| w.message.contains("kept as text")));
    assert!(report.warnings.iter().all(|w| w.row >= 1));

    // Exact money from revenue text: Ericsson's "247.880 billion kr" is ambiguous (its
    // listing currency is EUR), a "US$ … billion" is exact.
    let page = crm
        .companies()
        .list("q=ericsson")
        .await
        .expect(StatusCode::OK);
    let ericsson = &page.items[0];
    assert_eq!(ericsson.annual_revenue, None);
    assert_eq!(
        ericsson.annual_revenue_text.as_deref(),
        Some("247.880 billion kr (2024)")
    );
    assert_eq!(ericsson.employee_count, Some(94_000));
    assert_eq!(ericsson.domain.as_deref(), Some("ericsson.com"));
    let all = crm
        .companies()
        .list("limit=200")
        .await
        .expect(StatusCode::OK);
    let exact = all
        .items
        .iter()
        .filter(|c| c.annual_revenue.is_some())
        .count();
    assert!(exact > 100, "{exact}");
}

#[tokio::test]
async fn the_shared_contacts_file_links_people_by_company_name_and_a_rerun_creates_nothing() {
    let app = spawn_app().await;
    let a = app.signup("importer-people").await;
    let crm = app.as_(&a);
    let companies = data_file("companies.csv");
    let contacts = data_file("contacts.csv");
    import(&crm, "companies", "", &companies).await;

    let report = import(&crm, "contacts", "", &contacts).await;

    assert_eq!(report.rows_read, csv_rows(&contacts));
    // The file names two executives twice at the same company.
    assert_eq!(report.skipped_duplicates, 2, "{:?}", report.duplicates);
    assert_eq!(report.created, csv_rows(&contacts) - 2);
    // Contacts are linked to their company by name.
    let ericsson = crm
        .companies()
        .list("q=ericsson")
        .await
        .expect(StatusCode::OK)
        .items
        .remove(0);
    let people = crm
        .contacts()
        .list(&format!("company_id={}", ericsson.id))
        .await
        .expect(StatusCode::OK);
    let names: Vec<_> = people
        .items
        .iter()
        .filter_map(|p| p.last_name.as_deref())
        .collect();
    assert!(names.contains(&"Ekholm"), "{names:?}");

    // A re-run creates nothing and writes no event.
    let events = app.event_count().await;
    for (kind, file) in [("companies", &companies), ("contacts", &contacts)] {
        let again = import(&crm, kind, "", file).await;
        assert_eq!(again.created, 0, "{kind}");
        assert_eq!(again.skipped_duplicates, csv_rows(file), "{kind}");
    }
    assert_eq!(app.event_count().await, events);
}

const MESSY: &str =
    "Company name,Company Domain Name,Currency,Number of Employees,Annual Revenue\n\
     Good Co,good.example,USD,\"1,200 (2024)\",US$ 1.5 billion (2024)\n\
     ,nameless.example,USD,,\n\
     Yen Co,yen.example,GBP,lots,¥ 12 billion (2023)\n\
     Bad Domain,not a domain,XXX,,\n\
     good co,other.example,USD,,\n";

#[tokio::test]
async fn messy_rows_are_reported_row_by_row_and_the_rest_imported() {
    let app = spawn_app().await;
    let a = app.signup("messy").await;
    let crm = app.as_(&a);

    let report = import(&crm, "companies", "", MESSY.as_bytes()).await;

    assert_eq!(
        (
            report.rows_read,
            report.created,
            report.failed,
            report.skipped_duplicates
        ),
        (5, 3, 1, 1)
    );
    assert_eq!(report.errors[0].row, 2);
    assert_eq!(report.duplicates[0].row, 5);
    let warned = warned_rows(&report);
    assert!(warned.contains(&3) && warned.contains(&4), "{warned:?}");
    let good = crm.companies().list("q=good").await.expect(StatusCode::OK);
    assert_eq!(
        good.items[0].annual_revenue,
        Some(Money::new(150_000_000_000, "USD"))
    );
    assert_eq!(good.items[0].employee_count, Some(1200));
    let yen = crm.companies().list("q=yen").await.expect(StatusCode::OK);
    assert_eq!(
        yen.items[0].annual_revenue_text.as_deref(),
        Some("¥ 12 billion (2023)")
    );
}

#[tokio::test]
async fn a_file_without_the_name_column_changes_nothing() {
    let app = spawn_app().await;
    let a = app.signup("messy-columns").await;
    let events = app.event_count().await;

    app.as_(&a)
        .import("companies", "", b"Domain,Industry\nx.example,Retail\n")
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);

    assert_eq!(app.event_count().await, events);
}

#[tokio::test]
async fn a_json_body_is_not_a_csv() {
    let app = spawn_app().await;
    let a = app.signup("messy-json").await;

    app.as_(&a)
        .post::<serde_json::Value>("/v1/imports/companies", &json!({}))
        .await
        .expect_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn a_read_only_user_may_not_import() {
    let app = spawn_app().await;
    let a = app.signup("messy-reader").await;
    let reader = app
        .token_for(a.tenant, a.owner, crm_domain::Role::ReadOnly)
        .await;
    let events = app.event_count().await;

    app.as_(&reader)
        .import("companies", "", MESSY.as_bytes())
        .await
        .expect_problem(StatusCode::FORBIDDEN);

    assert_eq!(app.event_count().await, events);
}

#[tokio::test]
async fn a_dry_run_reports_everything_and_writes_nothing() {
    let app = spawn_app().await;
    let a = app.signup("dry").await;
    let crm = app.as_(&a);
    let companies = data_file("companies.csv");
    let events = app.event_count().await;

    let report = import(&crm, "companies", "dry_run=true", &companies).await;

    assert!(report.dry_run);
    assert_eq!(report.created, csv_rows(&companies));
    assert_eq!(app.event_count().await, events, "a dry run wrote");
    let page = crm.companies().list("").await.expect(StatusCode::OK);
    assert!(page.items.is_empty(), "{page:?}");
}

#[tokio::test]
async fn a_dry_run_flag_is_true_or_false() {
    let app = spawn_app().await;
    let a = app.signup("dry-flag").await;

    app.as_(&a)
        .import("companies", "dry_run=maybe", MESSY.as_bytes())
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
}

const DEALS: &str = "Deal Name,Amount,Currency,Pipeline,Deal Stage,Close Date,Company name\n\
                     Renewal,\"1,250.50\",EUR,Sales pipeline,Contract sent,2026-12-31,Globex\n\
                     Upsell,900,EUR,,Closed won,2026-10-01,Globex\n\
                     Pilot,100,EUR,,Closed lost,,\n\
                     Odd,12.345,USD,Nope,Nowhere,31/12/2026,Initech\n\
                     No money,500,,,,,\n\
                     ,1,EUR,,,,\n";

/// A workspace with the company Globex, which `DEALS` names.
async fn given_globex(crm: &Client<'_>) {
    crm.companies()
        .create(&json!({"name": "Globex"}))
        .await
        .expect(StatusCode::CREATED);
}

#[tokio::test]
async fn a_dry_run_of_deals_counts_them_and_writes_nothing() {
    let app = spawn_app().await;
    let a = app.signup("deal-import-dry").await;
    let crm = app.as_(&a);
    given_globex(&crm).await;
    let events = app.event_count().await;

    let dry = import(&crm, "deals", "dry_run=true", DEALS.as_bytes()).await;

    assert_eq!((dry.created, dry.failed), (5, 1), "{dry:?}");
    assert_eq!(app.event_count().await, events);
    let deals = crm.deals().list("").await.expect(StatusCode::OK);
    assert_eq!(deals.items.len(), 0);
}

#[tokio::test]
async fn deals_import_with_stages_money_and_links() {
    let app = spawn_app().await;
    let a = app.signup("deal-import").await;
    let crm = app.as_(&a);
    given_globex(&crm).await;
    let events = app.event_count().await;

    let report = import(&crm, "deals", "", DEALS.as_bytes()).await;

    assert_eq!((report.created, report.failed), (5, 1), "{report:?}");
    assert!(app.event_count().await > events);
    let warned = warned_rows(&report);
    assert!(warned.contains(&4) && warned.contains(&5), "{warned:?}");
    let page = crm
        .deals()
        .list("sort=name&limit=200")
        .await
        .expect(StatusCode::OK);
    let by_name = |n: &str| -> &Deal {
        page.items
            .iter()
            .find(|d| d.name == n)
            .unwrap_or_else(|| panic!("no deal {n}: {page:?}"))
    };
    let renewal = by_name("Renewal");
    assert_eq!(renewal.amount, Some(Money::new(125_050, "EUR")));
    assert_eq!(
        renewal.expected_close_date,
        Some(chrono::NaiveDate::from_ymd_opt(2026, 12, 31).unwrap())
    );
    assert!(renewal.company_id.is_some());
    let upsell = by_name("Upsell");
    assert_eq!(upsell.status, "won");
    assert_eq!(
        upsell.closed_at,
        Some("2026-10-01T00:00:00Z".parse().unwrap())
    );
    assert_eq!(by_name("Pilot").status, "lost");
    let odd = by_name("Odd");
    assert_eq!(odd.amount, None, "USD 12.345 has too many decimals");
    assert_eq!(odd.status, "open");
    assert_eq!(by_name("No money").amount, None);
}

#[tokio::test]
async fn imported_deals_name_their_import_and_a_rerun_adds_nothing() {
    let app = spawn_app().await;
    let a = app.signup("deal-import-again").await;
    let crm = app.as_(&a);
    given_globex(&crm).await;
    let report = import(&crm, "deals", "", DEALS.as_bytes()).await;

    let audit = crm.audit("limit=1").await.expect(StatusCode::OK);
    assert_eq!(audit.items[0].import_id, Some(report.import_id.to_string()));

    let again = import(&crm, "deals", "", DEALS.as_bytes()).await;
    assert_eq!((again.created, again.skipped_duplicates), (0, 5));
}

#[tokio::test]
async fn a_contact_row_refused_at_its_email_claim_leaves_the_rest_of_its_batch() {
    let app = spawn_app().await;
    let a = app.signup("import-claims").await;
    let crm = app.as_(&a);
    // One transaction holds all three rows; the second is refused only after its event
    // and read row were written (its email claim fails), and is undone alone.
    let csv = b"First Name,Last Name,Email\nAda,One,ada@claims.example\nBob,Two,ada@claims.example\nCy,Three,cy@claims.example\n";
    let report = import(&crm, "contacts", "", csv).await;
    assert_eq!(
        (report.created, report.skipped_duplicates),
        (2, 1),
        "{report:?}"
    );
    assert_eq!(report.duplicates[0].row, 2, "{report:?}");
    let listed = crm.contacts().list("").await.expect(StatusCode::OK);
    let mut names: Vec<_> = listed
        .items
        .iter()
        .map(|c| c.first_name.clone().unwrap_or_default())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["Ada", "Cy"]);
    let owner = app.pool_as(None).await;
    let (events, claims): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM events WHERE tenant_id = $1 AND aggregate_type = 'Contact'),
                (SELECT count(*) FROM contact_emails WHERE tenant_id = $1)",
    )
    .bind(a.tenant)
    .fetch_one(&owner)
    .await
    .unwrap_or_else(|e| panic!("counting: {e}"));
    assert_eq!(
        (events, claims),
        (2, 2),
        "the refused row left an event or a claim"
    );
}

#[tokio::test]
async fn a_file_larger_than_a_json_body_is_received_to_disk_with_or_without_a_key() {
    // Bodies up to `json_limit_bytes` are read into memory before the session check; a
    // larger CSV is received into a temporary file, by the import itself or, under an
    // Idempotency-Key, by the key's middleware (which hashes it on the way).
    let app = spawn_app_with(|s| s.server.json_limit_bytes = 256).await;
    let a = app.signup("spooled").await;
    let crm = app.as_(&a);
    let csv = |tag: &str| {
        let mut csv = String::from("Company name,Company Domain Name\n");
        for i in 0..300 {
            csv.push_str(&format!("Spooled {tag} {i},s{i}.{tag}.example\n"));
        }
        csv.into_bytes()
    };
    let (plain, keyed) = (csv("plain"), csv("keyed"));
    assert!(
        plain.len() > 4_096,
        "the file must exceed the JSON limit well"
    );

    let report = import(&crm, "companies", "", &plain).await;
    assert_eq!((report.rows_read, report.created), (300, 300));

    let with_key = crm.with_header("idempotency-key", "spooled-1");
    let first = with_key
        .import("companies", "", &keyed)
        .await
        .expect_status(StatusCode::OK);
    let first = first.body();
    assert_accounted(&first);
    assert_eq!((first.rows_read, first.created), (300, 300));
    // The retry is recognised by the spooled body's hash, and replayed.
    let events = app.event_count().await;
    let replayed = with_key
        .import("companies", "", &keyed)
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
    assert_eq!(replayed.body().import_id, first.import_id);
    assert_eq!(app.event_count().await, events);
    // Another file with the same key is another request.
    with_key
        .import("companies", "", &plain)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    // `application/csv`, which the import takes, goes to disk under a key too.
    let res = app
        .client
        .post(format!("{}/v1/imports/companies", app.address))
        .bearer_auth(&a.token)
        .header("Idempotency-Key", "spooled-2")
        .header("Content-Type", "application/csv")
        .body(csv("application"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status(), StatusCode::OK);
    // A keyed JSON route's CSV body is not received to disk: refused as too large first.
    let res = app
        .client
        .post(format!("{}/v1/companies", app.address))
        .bearer_auth(&a.token)
        .header("Idempotency-Key", "spooled-3")
        .header("Content-Type", "text/csv")
        .body(csv("json-route"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn an_oversized_file_under_a_key_is_refused_as_it_arrives() {
    let app = spawn_app_with(|s| {
        s.server.json_limit_bytes = 256;
        s.server.import_limit_bytes = 2_048;
    })
    .await;
    let a = app.signup("spooled-big").await;
    let crm = app.as_(&a);
    let events = app.event_count().await;
    let mut csv = String::from("Company name\n");
    for i in 0..300 {
        csv.push_str(&format!("Company number {i}\n"));
    }
    crm.with_header("idempotency-key", "too-big")
        .import("companies", "", csv.as_bytes())
        .await
        .expect_problem(StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.event_count().await, events);
}

#[tokio::test]
async fn a_duplicate_of_a_row_in_an_earlier_batch_is_found_in_a_dry_run_and_an_import() {
    // Rows are checked against the workspace a batch (500 rows) at a time: a later
    // batch's row that repeats an earlier batch's name or domain is a duplicate all the
    // same, whether the earlier rows were written (an import) or not (a dry run).
    let app = spawn_app().await;
    let a = app.signup("batches").await;
    let crm = app.as_(&a);
    let mut csv = String::from("Company name,Company Domain Name\n");
    for i in 1..=600 {
        match i {
            550 => csv.push_str("ROW 3,elsewhere.example\n"),
            560 => csv.push_str("Another name,row4.example\n"),
            _ => csv.push_str(&format!("Row {i},row{i}.example\n")),
        }
    }
    for query in ["dry_run=true", ""] {
        let report = import(&crm, "companies", query, csv.as_bytes()).await;
        assert_eq!(report.rows_read, 600, "{query}");
        assert_eq!(report.created, 598, "{query}");
        let rows: Vec<u64> = report.duplicates.iter().map(|d| d.row).collect();
        assert_eq!(rows, [550, 560], "{query}: {:?}", report.duplicates);
    }
    // Run again, every row is a duplicate of what the import wrote.
    let again = import(&crm, "companies", "", csv.as_bytes()).await;
    assert_eq!((again.created, again.skipped_duplicates), (0, 600));
}

#[tokio::test]
async fn a_deal_repeating_one_of_an_earlier_batch_is_a_duplicate_in_a_dry_run_and_an_import() {
    let app = spawn_app().await;
    let a = app.signup("deal-batches").await;
    let crm = app.as_(&a);
    let mut csv = String::from("Deal Name\n");
    for i in 1..=600 {
        if i == 550 {
            csv.push_str("DEAL 3\n");
        } else {
            csv.push_str(&format!("Deal {i}\n"));
        }
    }
    for query in ["dry_run=true", ""] {
        let report = import(&crm, "deals", query, csv.as_bytes()).await;
        assert_eq!((report.rows_read, report.created), (600, 599), "{query}");
        let rows: Vec<u64> = report.duplicates.iter().map(|d| d.row).collect();
        assert_eq!(rows, [550], "{query}: {:?}", report.duplicates);
    }
    let again = import(&crm, "deals", "", csv.as_bytes()).await;
    assert_eq!((again.created, again.skipped_duplicates), (0, 600));
}

#[tokio::test]
async fn a_contact_repeating_one_of_an_earlier_batch_is_a_duplicate_in_a_dry_run_and_an_import() {
    let app = spawn_app().await;
    let a = app.signup("contact-batches").await;
    let crm = app.as_(&a);
    let mut csv = String::from("First Name,Last Name\n");
    for i in 1..=600 {
        match i {
            10 => csv.push_str("Solo,\n"),
            550 => csv.push_str("FIRST 3,last 3\n"),
            560 => csv.push_str("solo,\n"),
            _ => csv.push_str(&format!("First {i},Last {i}\n")),
        }
    }
    for query in ["dry_run=true", ""] {
        let report = import(&crm, "contacts", query, csv.as_bytes()).await;
        assert_eq!((report.rows_read, report.created), (600, 598), "{query}");
        let rows: Vec<u64> = report.duplicates.iter().map(|d| d.row).collect();
        assert_eq!(rows, [550, 560], "{query}: {:?}", report.duplicates);
    }
    let again = import(&crm, "contacts", "", csv.as_bytes()).await;
    assert_eq!((again.created, again.skipped_duplicates), (0, 600));
}
