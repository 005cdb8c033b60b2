//! Duplicate candidates: pairs of contacts or companies with a score and reasons, paged,
//! within one workspace, without deleted records.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, str_of, TestApp, Workspace};

async fn create(app: &TestApp, ws: &Workspace, collection: &str, body: Value) -> String {
    let (status, created) = app
        .post(&format!("/v1/{collection}"), &ws.token, body.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body} -> {created}");
    str_of(&created["id"])
}

/// Every pair of a list, walked page by page (`limit` a page): `(first id, second id,
/// score, reason kinds)`.
async fn pairs(
    app: &TestApp,
    ws: &Workspace,
    collection: &str,
    limit: u32,
) -> Vec<(String, String, f64, Vec<String>)> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..20 {
        let path = match &cursor {
            Some(c) => format!("/v1/{collection}/duplicates?limit={limit}&cursor={c}"),
            None => format!("/v1/{collection}/duplicates?limit={limit}"),
        };
        let (status, page) = app.get(&path, &ws.token).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= limit as usize);
        for pair in items {
            let records = pair["records"].as_array().expect("records");
            assert_eq!(records.len(), 2);
            let kinds = pair["reasons"]
                .as_array()
                .expect("reasons")
                .iter()
                .map(|r| str_of(&r["kind"]))
                .collect();
            out.push((
                str_of(&records[0]["id"]),
                str_of(&records[1]["id"]),
                pair["score"].as_f64().expect("score"),
                kinds,
            ));
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
    panic!("more than 20 pages");
}

fn ordered(a: &str, b: &str) -> (String, String) {
    let (x, y) = (
        uuid::Uuid::parse_str(a).expect("uuid"),
        uuid::Uuid::parse_str(b).expect("uuid"),
    );
    if x < y {
        (a.to_owned(), b.to_owned())
    } else {
        (b.to_owned(), a.to_owned())
    }
}

#[tokio::test]
async fn contacts_pair_by_email_phone_and_name_within_the_workspace_page_by_page() {
    let app = spawn_app().await;
    let ws = app.signup("dupes").await;
    let other = app.signup("dupes-other").await;
    let ada = create(
        &app,
        &ws,
        "contacts",
        json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}),
    )
    .await;
    let ada_plus = create(
        &app,
        &ws,
        "contacts",
        json!({"first_name": "Ada", "last_name": "King", "email": "Ada+crm@Example.com"}),
    )
    .await;
    let charles = create(
        &app,
        &ws,
        "contacts",
        json!({"first_name": "Charles", "last_name": "Babbage", "phone": "+44 20 7946 0958"}),
    )
    .await;
    let babbage = create(
        &app,
        &ws,
        "contacts",
        json!({"first_name": "Chas", "last_name": "Babbage", "phone": "020 7946 0958"}),
    )
    .await;
    let grace = create(
        &app,
        &ws,
        "contacts",
        json!({"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com"}),
    )
    .await;
    let graces = create(
        &app,
        &ws,
        "contacts",
        json!({"first_name": "Grace", "last_name": "Hoper"}),
    )
    .await;
    // Unrelated, deleted, or in another workspace: never paired.
    create(
        &app,
        &ws,
        "contacts",
        json!({"first_name": "Alan", "last_name": "Turing"}),
    )
    .await;
    let deleted = create(
        &app,
        &ws,
        "contacts",
        json!({"first_name": "Grace", "last_name": "Hopper"}),
    )
    .await;
    let (status, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/contacts/{deleted}"),
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    create(
        &app,
        &other,
        "contacts",
        json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada+x@example.com"}),
    )
    .await;

    let found = pairs(&app, &ws, "contacts", 1).await;
    let mut expected = vec![
        (ordered(&ada, &ada_plus), vec!["same_email"]),
        (
            ordered(&charles, &babbage),
            vec!["same_phone", "similar_name"],
        ),
        (ordered(&grace, &graces), vec!["similar_name"]),
    ];
    expected.sort();
    let mut got: Vec<((String, String), Vec<String>)> = found
        .iter()
        .map(|(a, b, _, kinds)| ((a.clone(), b.clone()), kinds.clone()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        expected
            .into_iter()
            .map(|(p, k)| (p, k.into_iter().map(str::to_owned).collect()))
            .collect::<Vec<_>>(),
        "{found:?}"
    );
    // In id order, each pair once, smaller id first; scores from the evidence.
    let firsts: Vec<(String, String)> = found.iter().map(|p| (p.0.clone(), p.1.clone())).collect();
    let mut sorted = firsts.clone();
    sorted.sort_by_key(|(a, b)| {
        (
            uuid::Uuid::parse_str(a).unwrap(),
            uuid::Uuid::parse_str(b).unwrap(),
        )
    });
    assert_eq!(firsts, sorted);
    for (_, _, score, kinds) in &found {
        assert!((0.5..=1.0).contains(score), "{score}");
        if kinds.iter().any(|k| k == "same_email") {
            assert!(*score >= 0.95, "{score}");
        }
    }
    // A lower floor lets weaker name matches in; the floor is checked.
    let (status, low) = app
        .get("/v1/contacts/duplicates?min_score=0.01", &ws.token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(low["items"].as_array().map_or(0, Vec::len) >= 3, "{low}");
    // The other workspace sees only its own (one contact: no pair).
    let (status, theirs) = app.get("/v1/contacts/duplicates", &other.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(theirs["items"], json!([]));
    assert_eq!(theirs["next_cursor"], Value::Null);
}

#[tokio::test]
async fn companies_pair_by_domain_and_name_without_legal_forms() {
    let app = spawn_app().await;
    let ws = app.signup("dupe-companies").await;
    let acme = create(
        &app,
        &ws,
        "companies",
        json!({"name": "Acme, Inc.", "domain": "acme.com"}),
    )
    .await;
    let acme_inc = create(&app, &ws, "companies", json!({"name": "ACME Incorporated"})).await;
    let globex = create(
        &app,
        &ws,
        "companies",
        json!({"name": "Globex", "domain": "globex.com"}),
    )
    .await;
    let initech = create(
        &app,
        &ws,
        "companies",
        json!({"name": "Initech Europe", "domain": "globex.com"}),
    )
    .await;
    create(
        &app,
        &ws,
        "companies",
        json!({"name": "Umbrella", "domain": "umbrella.com"}),
    )
    .await;

    let found = pairs(&app, &ws, "companies", 50).await;
    let mut got: Vec<((String, String), Vec<String>)> = found
        .iter()
        .map(|(a, b, _, kinds)| ((a.clone(), b.clone()), kinds.clone()))
        .collect();
    got.sort();
    let mut expected = vec![
        (ordered(&acme, &acme_inc), vec!["similar_name".to_owned()]),
        (ordered(&globex, &initech), vec!["same_domain".to_owned()]),
    ];
    expected.sort();
    assert_eq!(got, expected, "{found:?}");
    let acme_pair = found
        .iter()
        .find(|p| p.3 == ["similar_name"])
        .expect("acme");
    assert!(
        (acme_pair.2 - 0.9).abs() < 1e-9,
        "identical names once cleaned: {acme_pair:?}"
    );
}

#[tokio::test]
async fn bad_duplicate_queries_are_422_and_every_role_may_read() {
    let app = spawn_app().await;
    let ws = app.signup("dupe-bad").await;
    for query in [
        "min_score=1.5",
        "min_score=-0.1",
        "min_score=abc",
        "limit=0",
        "limit=201",
        "cursor=not-a-cursor",
        "cursor=e30",
        "sort=name",
    ] {
        let (status, body) = app
            .get(&format!("/v1/contacts/duplicates?{query}"), &ws.token)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
    }
    let reader = app
        .token_for(ws.tenant, uuid::Uuid::now_v7(), crm_domain::Role::ReadOnly)
        .await;
    let (status, body) = app.get("/v1/companies/duplicates", &reader).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = app.get("/v1/companies/duplicates", "not-a-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
