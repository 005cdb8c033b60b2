//! Search by words and prefixes, tags, and date ranges on lists.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, str_of};

fn names(page: &Value, field: &str) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .map(|i| str_of(&i[field]))
        .collect()
}

#[tokio::test]
async fn search_matches_words_and_prefixes_across_fields() {
    let app = spawn_app().await;
    let a = app.signup("search").await;
    let b = app.signup("search-b").await;
    for (name, domain) in [
        ("Acme Corporation", "https://shop.acme-corp.com"),
        ("Acme Labs", "acmelabs.io"),
        ("Zenith", "zenith.example"),
    ] {
        let (status, _) = app
            .post(
                "/v1/companies",
                &a.token,
                json!({"name": name, "domain": domain}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    app.post("/v1/companies", &b.token, json!({"name": "Acme Impostor"}))
        .await;
    let search = |q: &str| {
        let url = format!("/v1/companies?q={q}");
        let (app, token) = (&app, a.token.clone());
        async move { app.get(&url, &token).await }
    };
    assert_eq!(
        names(&search("acm").await.1, "name"),
        ["Acme Corporation", "Acme Labs"]
    );
    assert_eq!(
        names(&search("lab%20acm").await.1, "name"),
        ["Acme Labs"],
        "every word, any order"
    );
    assert_eq!(
        names(&search("shop").await.1, "name"),
        ["Acme Corporation"],
        "a domain label"
    );
    assert_eq!(names(&search("corp").await.1, "name"), ["Acme Corporation"]);
    assert!(
        names(&search("cme").await.1, "name").is_empty(),
        "prefixes, not infixes"
    );
    assert_eq!(
        names(&search("%25%25").await.1, "name").len(),
        3,
        "no word: no filter"
    );

    app.post("/v1/contacts", &a.token, json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada.l@engines.example", "job_title": "Chief Revenue Officer"})).await;
    app.post(
        "/v1/contacts",
        &a.token,
        json!({"first_name": "Charles", "last_name": "Babbage", "job_title": "Engineer"}),
    )
    .await;
    let people = |q: &str| {
        let url = format!("/v1/contacts?q={q}");
        let (app, token) = (&app, a.token.clone());
        async move { app.get(&url, &token).await }
    };
    assert_eq!(names(&people("love").await.1, "last_name"), ["Lovelace"]);
    assert_eq!(
        names(&people("engines").await.1, "last_name"),
        ["Lovelace"],
        "the email's domain"
    );
    assert_eq!(
        names(&people("chief%20rev").await.1, "last_name"),
        ["Lovelace"],
        "the job title"
    );
    assert_eq!(
        names(&people("engine").await.1, "last_name"),
        ["Lovelace", "Babbage"]
    );
}

#[tokio::test]
async fn tags_and_creation_ranges_filter_every_list() {
    let app = spawn_app().await;
    let a = app.signup("tags").await;
    let (status, vip) = app
        .post(
            "/v1/companies",
            &a.token,
            json!({"name": "Big", "tags": ["VIP", " vip", "Partner"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{vip}");
    assert_eq!(vip["tags"], json!(["vip", "partner"]));
    app.post(
        "/v1/companies",
        &a.token,
        json!({"name": "Small", "tags": ["prospect"]}),
    )
    .await;
    let (_, page) = app.get("/v1/companies?tag=VIP", &a.token).await;
    assert_eq!(names(&page, "name"), ["Big"]);
    let (status, retagged) = app
        .patch(
            &format!("/v1/companies/{}", str_of(&vip["id"])),
            &a.token,
            json!({"tags": ["former"]}),
        )
        .await;
    assert_eq!(
        (status, &retagged["tags"]),
        (StatusCode::OK, &json!(["former"]))
    );
    let (_, page) = app.get("/v1/companies?tag=vip", &a.token).await;
    assert!(names(&page, "name").is_empty());
    let (status, _) = app
        .post(
            "/v1/companies",
            &a.token,
            json!({"name": "Bad", "tags": ["a,b"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (_, c) = app
        .post(
            "/v1/contacts",
            &a.token,
            json!({"first_name": "T", "tags": ["newsletter"]}),
        )
        .await;
    let (_, page) = app.get("/v1/contacts?tag=newsletter", &a.token).await;
    assert_eq!(names(&page, "id"), [str_of(&c["id"])]);
    let (_, d) = app
        .post(
            "/v1/deals",
            &a.token,
            json!({"name": "Tagged deal", "tags": ["q4"]}),
        )
        .await;
    let (_, page) = app.get("/v1/deals?tag=q4&q=tagg", &a.token).await;
    assert_eq!(names(&page, "id"), [str_of(&d["id"])]);

    let created = c["created_at"].as_str().unwrap().to_owned();
    let (_, after) = app
        .get(
            &format!("/v1/contacts?created_after={}", created.replace('+', "%2B")),
            &a.token,
        )
        .await;
    assert_eq!(names(&after, "id"), [str_of(&c["id"])]);
    let (_, before) = app
        .get(
            &format!(
                "/v1/contacts?created_before={}",
                created.replace('+', "%2B")
            ),
            &a.token,
        )
        .await;
    assert!(names(&before, "id").is_empty());
    let (status, _) = app
        .get("/v1/contacts?created_after=yesterday", &a.token)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}
