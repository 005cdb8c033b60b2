//! Search by words and prefixes, tags, and date ranges on lists.

use reqwest::StatusCode;
use serde_json::json;

use crate::client::resources::time_param;
use crate::client::Client;
use crate::helpers::spawn_app;

/// The names of the companies `q` finds.
async fn companies_found(crm: &Client<'_>, q: &str) -> Vec<String> {
    crm.companies()
        .list(&format!("q={q}"))
        .await
        .expect(StatusCode::OK)
        .map(|c| c.name.clone())
}

/// The last names of the contacts `q` finds.
async fn contacts_found(crm: &Client<'_>, q: &str) -> Vec<String> {
    crm.contacts()
        .list(&format!("q={q}"))
        .await
        .expect(StatusCode::OK)
        .map(|c| {
            c.last_name
                .clone()
                .unwrap_or_else(|| panic!("a contact without a last name: {c:?}"))
        })
}

#[tokio::test]
async fn company_search_matches_whole_words_and_the_last_as_a_prefix_of_the_name_or_domain() {
    let app = spawn_app().await;
    let a = app.signup("search").await;
    let b = app.signup("search-b").await;
    let crm = app.as_(&a);
    for (name, domain) in [
        ("Acme Corporation", "https://shop.acme-corp.com"),
        ("Acme Labs", "acmelabs.io"),
        ("Zenith", "zenith.example"),
    ] {
        crm.companies()
            .create(&json!({"name": name, "domain": domain}))
            .await
            .expect(StatusCode::CREATED);
    }
    app.as_(&b)
        .companies()
        .create(&json!({"name": "Acme Impostor"}))
        .await
        .expect(StatusCode::CREATED);

    assert_eq!(
        companies_found(&crm, "acm").await,
        ["Acme Corporation", "Acme Labs"]
    );
    assert_eq!(
        companies_found(&crm, "labs%20acm").await,
        ["Acme Labs"],
        "every word, any order"
    );
    assert!(
        companies_found(&crm, "lab%20acm").await.is_empty(),
        "a word before the last is a whole word, not a prefix"
    );
    assert_eq!(
        companies_found(&crm, "acme%20corpo").await,
        ["Acme Corporation"],
        "the last word as typed so far"
    );
    assert_eq!(
        companies_found(&crm, "shop").await,
        ["Acme Corporation"],
        "a domain label"
    );
    assert_eq!(companies_found(&crm, "corp").await, ["Acme Corporation"]);
    assert!(
        companies_found(&crm, "cme").await.is_empty(),
        "prefixes, not infixes"
    );
    assert_eq!(
        companies_found(&crm, "%25%25").await.len(),
        3,
        "no word: no filter"
    );
    // A word longer than any lexeme PostgreSQL holds (2,047 bytes) is cut to its first
    // 200 characters, not refused by the database.
    let long = format!("acme{}", "x".repeat(3_000));
    assert!(companies_found(&crm, &long).await.is_empty());
    let multibyte = format!("acme{}", "ж".repeat(1_100));
    assert!(companies_found(&crm, &multibyte).await.is_empty());
}

#[tokio::test]
async fn contact_search_matches_names_email_domain_and_job_title() {
    let app = spawn_app().await;
    let a = app.signup("search-people").await;
    let crm = app.as_(&a);
    for body in [
        json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada.l@engines.example", "job_title": "Chief Revenue Officer"}),
        json!({"first_name": "Charles", "last_name": "Babbage", "job_title": "Engineer"}),
    ] {
        crm.contacts()
            .create(&body)
            .await
            .expect(StatusCode::CREATED);
    }
    assert_eq!(contacts_found(&crm, "love").await, ["Lovelace"]);
    assert_eq!(
        contacts_found(&crm, "engines").await,
        ["Lovelace"],
        "the email's domain"
    );
    assert_eq!(
        contacts_found(&crm, "chief%20rev").await,
        ["Lovelace"],
        "the job title"
    );
    assert_eq!(
        contacts_found(&crm, "engine").await,
        ["Lovelace", "Babbage"]
    );
}

#[tokio::test]
async fn tags_are_lowercased_once_each_and_filter_companies() {
    let app = spawn_app().await;
    let a = app.signup("tags").await;
    let crm = app.as_(&a);
    let vip = crm
        .companies()
        .create(&json!({"name": "Big", "tags": ["VIP", " vip", "Partner"]}))
        .await
        .expect(StatusCode::CREATED);
    crm.companies()
        .create(&json!({"name": "Small", "tags": ["prospect"]}))
        .await
        .expect(StatusCode::CREATED);
    let tagged = |tag: &'static str| {
        let crm = &crm;
        async move {
            crm.companies()
                .list(&format!("tag={tag}"))
                .await
                .expect(StatusCode::OK)
                .map(|c| c.name.clone())
        }
    };

    assert_eq!(vip.tags, ["vip", "partner"]);
    assert_eq!(tagged("VIP").await, ["Big"]);

    let retagged = crm
        .companies()
        .update(vip.id, &json!({"tags": ["former"]}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(retagged.tags, ["former"]);
    assert!(tagged("vip").await.is_empty());
}

#[tokio::test]
async fn a_tag_with_a_comma_is_refused() {
    let app = spawn_app().await;
    let a = app.signup("tags-bad").await;

    app.as_(&a)
        .companies()
        .create(&json!({"name": "Bad", "tags": ["a,b"]}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn tags_filter_contacts_and_deals_too() {
    let app = spawn_app().await;
    let a = app.signup("tags-more").await;
    let crm = app.as_(&a);
    let c = crm
        .contacts()
        .create(&json!({"first_name": "T", "tags": ["newsletter"]}))
        .await
        .expect(StatusCode::CREATED);
    let d = crm
        .deals()
        .create(&json!({"name": "Tagged deal", "tags": ["q4"]}))
        .await
        .expect(StatusCode::CREATED);

    let contacts = crm
        .contacts()
        .list("tag=newsletter")
        .await
        .expect(StatusCode::OK);
    let deals = crm
        .deals()
        .list("tag=q4&q=tagg")
        .await
        .expect(StatusCode::OK);

    assert_eq!(contacts.map(|c| c.id), [c.id]);
    assert_eq!(deals.map(|d| d.id), [d.id]);
}

#[tokio::test]
async fn creation_ranges_filter_lists() {
    let app = spawn_app().await;
    let a = app.signup("ranges").await;
    let crm = app.as_(&a);
    let c = crm
        .contacts()
        .create(&json!({"first_name": "T"}))
        .await
        .expect(StatusCode::CREATED);
    let created = time_param(c.created_at);

    let after = crm
        .contacts()
        .list(&format!("created_after={created}"))
        .await
        .expect(StatusCode::OK);
    let before = crm
        .contacts()
        .list(&format!("created_before={created}"))
        .await
        .expect(StatusCode::OK);

    assert_eq!(after.map(|c| c.id), [c.id]);
    assert!(before.items.is_empty(), "{before:?}");
    crm.contacts()
        .list("created_after=yesterday")
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
}
