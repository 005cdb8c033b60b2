//! Password rules and reset by mailed token.

use std::sync::Arc;

use crm_app::clock::ManualClock;
use crm_app::mailer::MemoryMailer;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_full, PASSWORD};

#[tokio::test]
async fn common_and_repetitive_passwords_are_refused() {
    let app = spawn_app().await;
    for weak in [
        "Password1234",
        "QWERTY123456",
        "aaaaaaaaaaaaaaa",
        "correct horse battery staple",
    ] {
        let (status, problem) = app
            .call(Method::POST, "/v1/auth/signup", None, Some(json!({"workspace_name": "W", "workspace_slug": "weak", "email": "w@weak.example", "password": weak, "display_name": "W"})))
            .await;
        assert_eq!(
            (status, problem["errors"][0]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("password")),
            "{weak}"
        );
    }
}

#[tokio::test]
async fn a_reset_token_works_once_within_30_minutes_and_ends_every_session() {
    let clock = Arc::new(ManualClock::default());
    let mailer = Arc::new(MemoryMailer::default());
    let app = spawn_app_full(|_| {}, clock.clone(), mailer.clone()).await;
    let a = app.signup("reset").await;
    let ask = |email: &str| {
        app.call(
            Method::POST,
            "/v1/auth/password-reset",
            None,
            Some(json!({"email": email})),
        )
    };
    let (s1, known) = ask(&a.email).await;
    let (s2, unknown) = ask("nobody@nowhere.example").await;
    assert_eq!((s1, s2), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    assert_eq!(known, unknown, "the answer tells whether the email exists");
    assert_eq!(mailer.count(), 1, "mail went to an unknown address");
    let token = mailer.last_token_for(&a.email).unwrap();

    let confirm = |token: String, password: &'static str| {
        app.call(
            Method::POST,
            "/v1/auth/password-reset/confirm",
            None,
            Some(json!({"token": token, "new_password": password})),
        )
    };
    assert_eq!(
        confirm(token.clone(), "password1234").await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        confirm(token.clone(), "a fresh long passphrase").await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get("/v1/me", &a.token).await.0,
        StatusCode::UNAUTHORIZED,
        "a session survived the reset"
    );
    assert_eq!(
        confirm(token, "another fresh passphrase").await.0,
        StatusCode::UNAUTHORIZED,
        "a reset token works once"
    );
    let login = |password: &'static str| {
        app.call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": a.email, "password": password})),
        )
    };
    assert_eq!(login(PASSWORD).await.0, StatusCode::UNAUTHORIZED);
    let (status, signed_in) = login("a fresh long passphrase").await;
    assert_eq!(status, StatusCode::OK);

    let (_, audit) = app
        .get(
            "/v1/audit?limit=5",
            signed_in["access_token"].as_str().unwrap(),
        )
        .await;
    let types: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    assert!(types.contains(&"PasswordReset"), "{types:?}");

    // A second token expires after 30 minutes.
    ask(&a.email).await;
    let late = mailer.last_token_for(&a.email).unwrap();
    clock.advance(chrono::Duration::minutes(31));
    assert_eq!(
        confirm(late, "yet another passphrase").await.0,
        StatusCode::UNAUTHORIZED
    );
}
