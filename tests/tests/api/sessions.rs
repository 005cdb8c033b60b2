//! Sessions: refresh rotation with theft detection, sign-out that takes effect at once,
//! rate-limited sign-in shared across processes, and the sign-in trail.

use std::sync::Arc;

use crm_app::clock::ManualClock;
use reqwest::StatusCode;

use crate::client::Tokens;
use crate::helpers::{spawn_app, spawn_app_with_clock, TestApp, PASSWORD};

/// A sign-in of `email` with the test password, checked to be 200.
async fn signed_in(app: &TestApp, email: &str) -> Tokens {
    app.anonymous()
        .auth()
        .login(email, PASSWORD)
        .await
        .expect(StatusCode::OK)
}

/// A session refreshed once: its first and its second tokens.
async fn given_a_refreshed_session(app: &TestApp, email: &str) -> (Tokens, Tokens) {
    let first = signed_in(app, email).await;
    let second = app
        .anonymous()
        .auth()
        .refresh(&first.refresh_token)
        .await
        .expect(StatusCode::OK);
    (first, second)
}

#[tokio::test]
async fn a_refresh_rotates_the_refresh_token_within_the_session() {
    let app = spawn_app().await;
    let a = app.signup("refresh").await;

    let (first, second) = given_a_refreshed_session(&app, &a.email).await;

    assert_eq!(second.session_id, first.session_id);
    assert_ne!(second.refresh_token, first.refresh_token, "rotated");
    app.as_(&second.access_token)
        .me()
        .await
        .expect(StatusCode::OK);
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_the_whole_session() {
    let app = spawn_app().await;
    let a = app.signup("refresh-reuse").await;
    let (first, second) = given_a_refreshed_session(&app, &a.email).await;
    let auth = app.anonymous();
    let auth = auth.auth();

    // The old token comes back (stolen): refused, and the whole session dies with it.
    auth.refresh(&first.refresh_token)
        .await
        .expect_problem(StatusCode::UNAUTHORIZED);

    app.as_(&second.access_token)
        .me()
        .await
        .context("the session's access token still works")
        .expect_problem(StatusCode::UNAUTHORIZED);
    auth.refresh(&second.refresh_token)
        .await
        .context("the newest refresh token still works")
        .expect_problem(StatusCode::UNAUTHORIZED);
    let audit = app.as_(&a).audit("limit=5").await.expect(StatusCode::OK);
    let types = audit.map(|e| e.event_type.clone());
    assert_eq!(types[0], "RefreshTokenReuseDetected", "{types:?}");
    assert!(types.iter().any(|t| t == "LoginSucceeded"), "{types:?}");
}

#[tokio::test]
async fn a_made_up_refresh_token_is_refused() {
    let app = spawn_app().await;

    app.anonymous()
        .auth()
        .refresh("garbage")
        .await
        .expect_problem(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sessions_list_every_sign_in_from_its_address_marking_the_current_one() {
    let app = spawn_app().await;
    let a = app.signup("sessions").await;
    let one = signed_in(&app, &a.email).await;
    signed_in(&app, &a.email).await;

    let list = app
        .as_(&one.access_token)
        .auth()
        .sessions()
        .await
        .expect(StatusCode::OK);

    assert_eq!(list.items.len(), 3, "sign-up and two sign-ins");
    assert_eq!(list.items.iter().filter(|s| s.current).count(), 1);
    assert!(list
        .items
        .iter()
        .all(|s| s.ip.as_deref() == Some("127.0.0.1")));
}

#[tokio::test]
async fn logout_ends_its_session_at_once_and_no_other() {
    let app = spawn_app().await;
    let a = app.signup("logout").await;
    let one = signed_in(&app, &a.email).await;
    let two = signed_in(&app, &a.email).await;

    app.as_(&one.access_token)
        .auth()
        .logout()
        .await
        .expect(StatusCode::NO_CONTENT);

    app.as_(&one.access_token)
        .me()
        .await
        .context("a signed-out token still works")
        .expect_problem(StatusCode::UNAUTHORIZED);
    app.anonymous()
        .auth()
        .refresh(&one.refresh_token)
        .await
        .context("a signed-out session refreshes")
        .expect_problem(StatusCode::UNAUTHORIZED);
    app.as_(&two.access_token).me().await.expect(StatusCode::OK);
}

#[tokio::test]
async fn logout_all_ends_every_session_of_the_user() {
    let app = spawn_app().await;
    let a = app.signup("logout-all").await;
    let two = signed_in(&app, &a.email).await;

    app.as_(&two.access_token)
        .auth()
        .logout_all()
        .await
        .expect(StatusCode::NO_CONTENT);

    app.as_(&two.access_token)
        .me()
        .await
        .expect_problem(StatusCode::UNAUTHORIZED);
    app.as_(&a)
        .me()
        .await
        .context("the sign-up session too")
        .expect_problem(StatusCode::UNAUTHORIZED);
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
    let (here, there) = (app.anonymous(), other.anonymous());

    // Three failures, spread over two server processes, lock the account.
    for (server, password) in [
        (&here, "wrong password one"),
        (&there, "wrong password two"),
        (&here, "wrong password three"),
    ] {
        server
            .auth()
            .login(&a.email, password)
            .await
            .expect_problem(StatusCode::UNAUTHORIZED);
    }
    let locked = there
        .auth()
        .login(&a.email, PASSWORD)
        .await
        .context("even the right password waits")
        .expect_status(StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = locked
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After in seconds: {locked:?}"));
    assert!((1..=600).contains(&retry), "{retry}");

    // The window passes (on the clock, not in the test's time): the account opens again.
    clock.advance(chrono::Duration::seconds(601));
    here.auth()
        .login(&a.email, PASSWORD)
        .await
        .expect(StatusCode::OK);

    // Per address: every attempt counts, whatever the email. The sign-in above was the
    // first of the new window, so seven more pass and the ninth is refused.
    for i in 0..8 {
        let expected = if i < 7 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        there
            .auth()
            .login(&format!("nobody{i}@nowhere.example"), PASSWORD)
            .await
            .context(format!("attempt {i}"))
            .expect_problem(expected);
    }
    here.auth()
        .login("someone@nowhere.example", PASSWORD)
        .await
        .expect_problem(StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn failed_sign_ins_are_in_the_trail_or_the_security_log() {
    let app = spawn_app().await;
    let a = app.signup("trail").await;
    let auth = app.anonymous();
    auth.auth()
        .login(&a.email, "not the password")
        .await
        .expect_problem(StatusCode::UNAUTHORIZED);
    auth.auth()
        .login("stranger@nowhere.example", PASSWORD)
        .await
        .expect_problem(StatusCode::UNAUTHORIZED);

    let audit = app.as_(&a).audit("limit=1").await.expect(StatusCode::OK);
    assert_eq!(
        (
            audit.items[0].event_type.as_str(),
            audit.items[0].ip.as_deref()
        ),
        ("LoginFailed", Some("127.0.0.1"))
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
        subject.as_deref().is_none_or(|s| !s.contains("stranger")),
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
