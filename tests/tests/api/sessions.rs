//! Sessions: refresh rotation with theft detection, sign-out that takes effect at once,
//! rate-limited sign-in shared across processes, and the sign-in trail.

use std::sync::Arc;

use crm_app::clock::ManualClock;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with_clock, str_of, PASSWORD};

async fn login(app: &crate::helpers::TestApp, email: &str, password: &str) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_the_whole_session() {
    let app = spawn_app().await;
    let a = app.signup("refresh").await;
    let (status, first) = login(&app, &a.email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let r1 = str_of(&first["refresh_token"]);

    let refresh = |token: String| {
        app.call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": token})),
        )
    };
    let (status, second) = refresh(r1.clone()).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["session_id"], first["session_id"]);
    let (r2, access2) = (
        str_of(&second["refresh_token"]),
        str_of(&second["access_token"]),
    );
    assert_ne!(r2, r1, "rotated");
    assert_eq!(app.get("/v1/me", &access2).await.0, StatusCode::OK);

    // The old token comes back (stolen): refused, and the whole session dies with it.
    let (status, _) = refresh(r1).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get("/v1/me", &access2).await.0,
        StatusCode::UNAUTHORIZED,
        "the session's access token still works"
    );
    assert_eq!(
        refresh(r2).await.0,
        StatusCode::UNAUTHORIZED,
        "the newest refresh token still works"
    );
    assert_eq!(refresh("garbage".into()).await.0, StatusCode::UNAUTHORIZED);

    let (_, audit) = app.get("/v1/audit?limit=5", &a.token).await;
    let types: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    assert_eq!(types[0], "RefreshTokenReuseDetected", "{types:?}");
    assert!(types.contains(&"LoginSucceeded"));
}

#[tokio::test]
async fn logout_ends_a_session_at_once_and_logout_all_ends_every_one() {
    let app = spawn_app().await;
    let a = app.signup("logout").await;
    let (_, one) = login(&app, &a.email, PASSWORD).await;
    let (_, two) = login(&app, &a.email, PASSWORD).await;
    let (t1, t2) = (str_of(&one["access_token"]), str_of(&two["access_token"]));

    let (status, list) = app.get("/v1/auth/sessions", &t1).await;
    assert_eq!(status, StatusCode::OK);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "sign-up and two sign-ins");
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(items.iter().all(|s| s["ip"] == "127.0.0.1"));

    assert_eq!(
        app.call(Method::POST, "/v1/auth/logout", Some(&t1), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get("/v1/me", &t1).await.0,
        StatusCode::UNAUTHORIZED,
        "a signed-out token still works"
    );
    assert_eq!(app.get("/v1/me", &t2).await.0, StatusCode::OK);
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": one["refresh_token"]})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a signed-out session refreshes"
    );

    assert_eq!(
        app.call(Method::POST, "/v1/auth/logout-all", Some(&t2), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get("/v1/me", &t2).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get("/v1/me", &a.token).await.0,
        StatusCode::UNAUTHORIZED,
        "the sign-up session too"
    );
}

#[tokio::test]
async fn sign_in_is_rate_limited_across_processes_without_sleeping() {
    let clock = Arc::new(ManualClock::default());
    let limits = |s: &mut crm_app::config::Settings| {
        s.auth.login_max_failures_per_account = 3;
        s.auth.login_max_per_ip = 8;
        s.auth.login_window_seconds = 600;
    };
    let app = spawn_app_with_clock(limits, clock.clone()).await;
    let other = app.second_server(limits, clock.clone()).await;
    let a = app.signup("limits").await;

    // Three failures, spread over two server processes, lock the account.
    assert_eq!(
        login(&app, &a.email, "wrong password one").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&other, &a.email, "wrong password two").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&app, &a.email, "wrong password three").await.0,
        StatusCode::UNAUTHORIZED
    );
    let res = other
        .request(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": a.email, "password": PASSWORD})),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    let retry: u64 = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!((1..=600).contains(&retry), "{retry}");

    // The window passes (on the clock, not in the test's time): the account opens again.
    clock.advance(chrono::Duration::seconds(601));
    assert_eq!(login(&app, &a.email, PASSWORD).await.0, StatusCode::OK);

    // Per address: every attempt counts, whatever the email.
    for i in 0..8 {
        let (status, _) = login(&other, &format!("nobody{i}@nowhere.example"), PASSWORD).await;
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::TOO_MANY_REQUESTS,
            "{status}"
        );
    }
    assert_eq!(
        login(&app, "someone@nowhere.example", PASSWORD).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn failed_sign_ins_are_in_the_trail_or_the_security_log() {
    let app = spawn_app().await;
    let a = app.signup("trail").await;
    assert_eq!(
        login(&app, &a.email, "not the password").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&app, "stranger@nowhere.example", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (_, audit) = app.get("/v1/audit?limit=1", &a.token).await;
    assert_eq!(
        (
            audit["items"][0]["event_type"].as_str(),
            audit["items"][0]["ip"].as_str()
        ),
        (Some("LoginFailed"), Some("127.0.0.1"))
    );
    let owner = app.pool_as(None).await;
    let (kind, ip, subject): (String, Option<String>, Option<String>) =
        sqlx::query_as("SELECT kind, ip, subject FROM security_log ORDER BY id DESC LIMIT 1")
            .fetch_one(&owner)
            .await
            .unwrap();
    assert_eq!(
        (kind.as_str(), ip.as_deref()),
        ("login_failed_unknown_email", Some("127.0.0.1"))
    );
    assert!(
        !subject.unwrap_or_default().contains("stranger"),
        "the email is kept hashed"
    );
    let events: Vec<String> =
        sqlx::query_scalar("SELECT payload::text || metadata::text FROM events")
            .fetch_all(&owner)
            .await
            .unwrap();
    assert!(
        events.iter().all(|e| !e.contains("stranger")),
        "an unknown email reached a workspace's trail"
    );
}
