//! The published contract: the served OpenAPI document is the committed one, the
//! reference page works with no network, and the router answers what the document says
//! for paths and methods it does not list.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::spawn_app;

/// `docs/openapi.json`, as committed.
fn committed() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[tokio::test]
async fn the_served_document_is_the_committed_one() {
    let app = spawn_app().await;
    let res = app.request(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let served = res.text().await.unwrap();
    assert!(
        served == committed(),
        "the served OpenAPI document differs from docs/openapi.json; if the change is \
         intended, regenerate it with `cargo run -q --bin crm -- openapi > docs/openapi.json` \
         and review the diff"
    );
}

#[tokio::test]
async fn every_operation_is_declared_completely() {
    let doc: Value = serde_json::from_str(&committed()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert!(schemes.contains_key("bearer") && schemes.contains_key("api_key"));
    let paths = doc["paths"].as_object().unwrap();
    let mut ids = std::collections::HashSet::new();
    let mut operations = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(!id.is_empty(), "{method} {path}: no operationId");
            assert!(
                ids.insert(id.to_owned()),
                "{method} {path}: operationId {id} twice"
            );
            let summary = op["summary"].as_str().unwrap_or_default();
            assert!(!summary.is_empty(), "{method} {path}: no summary");
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path}: no success response"
            );
            let open = op["security"].as_array().is_some_and(|reqs| {
                reqs.iter()
                    .all(|r| r.as_object().is_some_and(|o| o.is_empty()))
            });
            if !open {
                for status in ["401", "403", "429"] {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path}: no {status}"
                    );
                }
            }
            if let Some(action) = op.get("x-permission") {
                assert!(!open, "{method} {path}: a permission on an open route");
                serde_json::from_value::<crm_domain::Action>(action.clone())
                    .unwrap_or_else(|e| panic!("{method} {path}: x-permission {action}: {e}"));
            }
            if op.get("requestBody").is_some() {
                for status in ["400", "415", "422"] {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path}: no {status}"
                    );
                }
            }
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(
                        response["content"]
                            .get("application/problem+json")
                            .is_some(),
                        "{method} {path} {status}: not a problem document"
                    );
                }
            }
        }
    }
    assert!(operations > 80, "only {operations} operations documented");
}

#[tokio::test]
async fn the_reference_page_needs_no_network() {
    let app = spawn_app().await;
    let res = app.request(Method::GET, "/docs", None, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let csp = res
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(
        !csp.contains("http"),
        "the page may load from elsewhere: {csp}"
    );
    let html = res.text().await.unwrap();
    assert!(html.contains("/docs/redoc.standalone.js"), "{html}");
    assert!(html.contains("spec-url=\"/openapi.json\""), "{html}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    let res = app
        .request(Method::GET, "/docs/redoc.standalone.js", None, None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/javascript")));
    assert!(res.text().await.unwrap().len() > 500_000);
}

#[tokio::test]
async fn an_undeclared_method_is_405_with_allow_and_an_unknown_path_404() {
    let app = spawn_app().await;
    let a = app.signup("methods").await;
    let res = app
        .request(Method::PUT, "/v1/companies", Some(&a.token), None)
        .await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    let allow = res
        .headers()
        .get("allow")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    assert!(!allow.contains("PUT"), "{allow}");
    let (status, body) = app
        .call(Method::GET, "/v1/no-such-thing", Some(&a.token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["status"], 404);
}

#[test]
fn every_schema_reference_resolves() {
    // A generator stops at the first `$ref` that names no component (openapi-typescript
    // does), so the committed document must have none.
    let doc: Value = serde_json::from_str(&committed()).expect("docs/openapi.json is JSON");
    let components = doc["components"]["schemas"]
        .as_object()
        .expect("the document has component schemas");
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.len() > 50, "only {} references found", refs.len());
    let missing: Vec<&String> = refs
        .iter()
        .filter(|r| {
            r.strip_prefix("#/components/schemas/")
                .is_none_or(|name| !components.contains_key(name))
        })
        .collect();
    assert!(missing.is_empty(), "unresolved references: {missing:?}");
}

fn collect_refs(value: &Value, refs: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                refs.push(r.clone());
            }
            map.values().for_each(|v| collect_refs(v, refs));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
        _ => {}
    }
}
