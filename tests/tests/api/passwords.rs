//! Password rules and reset by mailed token.

use std::sync::Arc;

use crm_app::clock::ManualClock;
use crm_app::mailer::MemoryMailer;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_full, spawn_app_with, TestApp, PASSWORD};

#[tokio::test]
async fn common_and_repetitive_passwords_are_refused() {
    let app = spawn_app().await;

    for weak in [
        "Password1234",
        "QWERTY123456",
        "aaaaaaaaaaaaaaa",
        "correct horse battery staple",
    ] {
        let problem = app
            .anonymous()
            .auth()
            .signup(&json!({"workspace_name": "W", "workspace_slug": "weak", "email": "w@weak.example", "password": weak, "display_name": "W"}))
            .await
            .context(weak)
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(problem.field(), "password", "{weak}");
    }
}

/// A server on a manual clock whose mail can be read back.
async fn app_with_mail() -> (TestApp, Arc<ManualClock>, Arc<MemoryMailer>) {
    let clock = Arc::new(ManualClock::default());
    let mailer = Arc::new(MemoryMailer::default());
    let app = spawn_app_full(|_| {}, clock.clone(), mailer.clone()).await;
    (app, clock, mailer)
}

/// Asks for a reset of `email` (202) and answers the mailed token.
async fn given_a_reset_token(app: &TestApp, mailer: &MemoryMailer, email: &str) -> String {
    app.anonymous()
        .auth()
        .request_password_reset(email)
        .await
        .assert_status(StatusCode::ACCEPTED);
    mailer.last_token_for(email).unwrap()
}

#[tokio::test]
async fn a_reset_request_does_not_tell_whether_the_email_exists() {
    let (app, _, mailer) = app_with_mail().await;
    let a = app.signup("reset-ask").await;
    let auth = app.anonymous();

    let known = auth
        .auth()
        .request_password_reset(&a.email)
        .await
        .expect_status(StatusCode::ACCEPTED);
    let unknown = auth
        .auth()
        .request_password_reset("nobody@nowhere.example")
        .await
        .expect_status(StatusCode::ACCEPTED);

    assert_eq!(
        known.text(),
        unknown.text(),
        "the answer tells whether the email exists"
    );
    assert_eq!(mailer.count(), 1, "mail went to an unknown address");
    assert!(mailer.last_token_for(&a.email).is_some());
}

#[tokio::test]
async fn a_reset_sets_a_good_new_password_once_and_ends_every_session() {
    let (app, _, mailer) = app_with_mail().await;
    let a = app.signup("reset").await;
    let token = given_a_reset_token(&app, &mailer, &a.email).await;
    let auth = app.anonymous();
    let auth = auth.auth();

    auth.confirm_password_reset(&token, "password1234")
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    auth.confirm_password_reset(&token, "a fresh long passphrase")
        .await
        .expect(StatusCode::NO_CONTENT);

    app.as_(&a)
        .me()
        .await
        .context("a session survived the reset")
        .expect_problem(StatusCode::UNAUTHORIZED);
    auth.confirm_password_reset(&token, "another fresh passphrase")
        .await
        .context("a reset token works once")
        .expect_problem(StatusCode::UNAUTHORIZED);
    auth.login(&a.email, PASSWORD)
        .await
        .expect_problem(StatusCode::UNAUTHORIZED);
    let signed_in = auth
        .login(&a.email, "a fresh long passphrase")
        .await
        .expect(StatusCode::OK);
    let audit = app
        .as_(&signed_in.access_token)
        .audit("limit=5")
        .await
        .expect(StatusCode::OK);
    let types = audit.map(|e| e.event_type.clone());
    assert!(types.iter().any(|t| t == "PasswordReset"), "{types:?}");
}

#[tokio::test]
async fn a_reset_token_expires_after_30_minutes() {
    let (app, clock, mailer) = app_with_mail().await;
    let a = app.signup("reset-late").await;
    let late = given_a_reset_token(&app, &mailer, &a.email).await;

    clock.advance(chrono::Duration::minutes(31));

    app.anonymous()
        .auth()
        .confirm_password_reset(&late, "yet another passphrase")
        .await
        .expect_problem(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_login_storm_hashes_at_most_one_password_per_core_at_once() {
    // The per-account attempt limit would stop the storm before it hashes anything.
    let app = spawn_app_with(|s| s.auth.login_max_failures_per_account = 1_000).await;
    let a = app.signup("storm").await;
    // 64 sign-ins at once: each argon2id verification takes 19 MiB, so they queue for a
    // permit (one per core) instead of all running on the blocking pool.
    let mut storm = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let (client, url) = (
            reqwest::Client::new(),
            format!("{}/v1/auth/login", app.address),
        );
        let body = json!({"email": a.email, "password": PASSWORD});
        storm.spawn(async move {
            let answer = client.post(url).json(&body).send().await.unwrap();
            let retry = answer.headers().get("retry-after").is_some();
            (answer.status(), retry)
        });
    }
    let mut signed_in = 0;
    while let Some(answer) = storm.join_next().await {
        match answer.unwrap() {
            (StatusCode::OK, _) => signed_in += 1,
            // Waited longer than the bound for a permit: told to come back.
            (StatusCode::SERVICE_UNAVAILABLE, true) => {}
            other => panic!("a sign-in of the storm answered {other:?}"),
        }
    }
    assert!(signed_in > 0, "no sign-in of the storm got through");
    let (peak, permits) = (
        crm_app::password::peak_hashing(),
        crm_app::password::hashing_permits(),
    );
    assert!(
        (1..=permits).contains(&peak),
        "{peak} hashes ran at once with {permits} permits"
    );
}
