//! Two-factor sign-in: enrol, confirm, the two-step login, no replay, recovery codes once,
//! the secret encrypted at rest.

use std::sync::Arc;

use crm_app::clock::{Clock, ManualClock};
use reqwest::StatusCode;
use serde_json::json;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::client::{Response, Tokens, TwoFactorChallenge};
use crate::helpers::{spawn_app_with_clock, TestApp, Workspace, PASSWORD};

/// The authenticator's code for `secret` at the clock's time.
fn code(secret: &str, clock: &ManualClock) -> String {
    let bytes = Secret::Encoded(secret.to_owned()).to_bytes().unwrap();
    let totp = TOTP::new(Algorithm::SHA1, 6, 1, 30, bytes, None, String::new()).unwrap();
    totp.generate(u64::try_from(clock.now().timestamp()).unwrap())
}

async fn app_on_a_manual_clock() -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_with_clock(|_| {}, clock.clone()).await;
    (app, clock)
}

/// Two-factor sign-in turned on for the owner of `a`: the secret, the code that confirmed
/// it, and the recovery codes.
struct Enrolled {
    secret: String,
    first: String,
    recovery: Vec<String>,
}

async fn given_two_factor_on(app: &TestApp, clock: &ManualClock, a: &Workspace) -> Enrolled {
    let crm = app.as_(a);
    let enrolled = crm.two_factor().enroll().await.expect(StatusCode::OK);
    let first = code(&enrolled.secret, clock);
    let recovery = crm
        .two_factor()
        .confirm(&first)
        .await
        .expect(StatusCode::OK)
        .recovery_codes;
    Enrolled {
        secret: enrolled.secret,
        first,
        recovery,
    }
}

/// The password step: a challenge, never a session.
async fn password_step(app: &TestApp, a: &Workspace) -> TwoFactorChallenge {
    let step_one = app
        .anonymous()
        .auth()
        .login(&a.email, PASSWORD)
        .await
        .expect_status(StatusCode::OK);
    assert!(
        step_one.json().get("access_token").is_none(),
        "the password alone opened a session"
    );
    step_one.parse()
}

async fn verify(
    app: &TestApp,
    challenge: &TwoFactorChallenge,
    factor: &str,
    value: &str,
) -> Response<Tokens> {
    app.anonymous()
        .two_factor()
        .verify(&json!({"challenge_token": challenge.challenge_token, factor: value}))
        .await
}

#[tokio::test]
async fn the_secret_is_shown_once_and_stored_encrypted() {
    let (app, _) = app_on_a_manual_clock().await;
    let a = app.signup("totp").await;

    let enrolled = app
        .as_(&a)
        .two_factor()
        .enroll()
        .await
        .expect(StatusCode::OK);

    assert!(enrolled.otpauth_uri.starts_with("otpauth://totp/"));
    // At rest the secret is ciphertext: neither its bytes nor its base32 text are stored.
    let owner = app.pool_as(None).await;
    let (ciphertext,): (Vec<u8>,) = sqlx::query_as("SELECT ciphertext FROM totp_secrets")
        .fetch_one(&owner)
        .await
        .unwrap();
    let raw = Secret::Encoded(enrolled.secret.clone()).to_bytes().unwrap();
    assert!(!ciphertext.windows(raw.len()).any(|w| w == raw.as_slice()));
    assert!(!String::from_utf8_lossy(&ciphertext).contains(&enrolled.secret));
}

#[tokio::test]
async fn a_wrong_code_confirms_nothing_and_a_right_one_gives_ten_recovery_codes() {
    let (app, clock) = app_on_a_manual_clock().await;
    let a = app.signup("totp-confirm").await;
    let crm = app.as_(&a);
    let enrolled = crm.two_factor().enroll().await.expect(StatusCode::OK);

    crm.two_factor()
        .confirm("000000")
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let codes = crm
        .two_factor()
        .confirm(&code(&enrolled.secret, &clock))
        .await
        .expect(StatusCode::OK);

    assert_eq!(codes.recovery_codes.len(), 10);
}

#[tokio::test]
async fn the_password_alone_gives_a_challenge_that_grants_nothing() {
    let (app, clock) = app_on_a_manual_clock().await;
    let a = app.signup("totp-step").await;
    given_two_factor_on(&app, &clock, &a).await;

    let challenge = password_step(&app, &a).await;

    assert!(challenge.two_factor_required);
    app.as_(&challenge.challenge_token)
        .me()
        .await
        .context("a challenge token grants access")
        .expect_problem(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_code_is_not_replayed_in_its_window_and_the_next_one_signs_in() {
    let (app, clock) = app_on_a_manual_clock().await;
    let a = app.signup("totp-replay").await;
    let on = given_two_factor_on(&app, &clock, &a).await;
    let challenge = password_step(&app, &a).await;

    // The code used to confirm cannot be replayed inside its window.
    verify(&app, &challenge, "code", &on.first)
        .await
        .expect_problem(StatusCode::UNAUTHORIZED);
    clock.advance(chrono::Duration::seconds(30));
    let tokens = verify(&app, &challenge, "code", &code(&on.secret, &clock))
        .await
        .expect(StatusCode::OK);

    app.as_(&tokens.access_token)
        .me()
        .await
        .expect(StatusCode::OK);
}

#[tokio::test]
async fn a_recovery_code_works_once() {
    let (app, clock) = app_on_a_manual_clock().await;
    let a = app.signup("totp-recovery").await;
    let on = given_two_factor_on(&app, &clock, &a).await;

    let again = password_step(&app, &a).await;
    verify(&app, &again, "recovery_code", &on.recovery[0])
        .await
        .expect(StatusCode::OK);
    let third = password_step(&app, &a).await;
    verify(&app, &third, "recovery_code", &on.recovery[0])
        .await
        .expect_problem(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn turning_two_factor_off_needs_a_factor_then_the_password_alone_signs_in() {
    let (app, clock) = app_on_a_manual_clock().await;
    let a = app.signup("totp-off").await;
    let on = given_two_factor_on(&app, &clock, &a).await;
    let crm = app.as_(&a);

    crm.two_factor()
        .disable(&json!({"code": "123456"}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    crm.two_factor()
        .disable(&json!({"recovery_code": on.recovery[1]}))
        .await
        .expect(StatusCode::NO_CONTENT);

    app.anonymous()
        .auth()
        .login(&a.email, PASSWORD)
        .await
        .expect(StatusCode::OK);
}

#[tokio::test]
async fn the_second_factor_is_in_the_trail() {
    let (app, clock) = app_on_a_manual_clock().await;
    let a = app.signup("totp-trail").await;
    let on = given_two_factor_on(&app, &clock, &a).await;
    let challenge = password_step(&app, &a).await;
    verify(&app, &challenge, "code", &on.first)
        .await
        .expect_problem(StatusCode::UNAUTHORIZED);
    clock.advance(chrono::Duration::seconds(30));
    let tokens = verify(&app, &challenge, "code", &code(&on.secret, &clock))
        .await
        .expect(StatusCode::OK);
    let current = app.as_(&tokens.access_token);
    current
        .two_factor()
        .disable(&json!({"recovery_code": on.recovery[1]}))
        .await
        .expect(StatusCode::NO_CONTENT);
    let plain = app
        .anonymous()
        .auth()
        .login(&a.email, PASSWORD)
        .await
        .expect(StatusCode::OK);

    let audit = app
        .as_(&plain.access_token)
        .audit("limit=30")
        .await
        .expect(StatusCode::OK);

    let types = audit.map(|e| e.event_type.clone());
    for t in [
        "TwoFactorEnabled",
        "RecoveryCodeUsed",
        "TwoFactorDisabled",
        "LoginFailed",
    ] {
        assert!(types.iter().any(|x| x == t), "{t} missing from {types:?}");
    }
}

#[tokio::test]
async fn only_owners_and_admins_set_the_security_policy() {
    let (app, _) = app_on_a_manual_clock().await;
    let a = app.signup("policy-who").await;
    let member = app
        .token_for(a.tenant, uuid::Uuid::now_v7(), crm_domain::Role::Member)
        .await;
    let policy = json!({"require_two_factor": true});

    app.as_(&member)
        .set_security_policy(&policy)
        .await
        .expect_problem(StatusCode::FORBIDDEN);
    app.as_(&a)
        .set_security_policy(&policy)
        .await
        .expect(StatusCode::OK);
}

#[tokio::test]
async fn a_required_second_factor_holds_owners_until_they_enrol_but_not_members() {
    let (app, clock) = app_on_a_manual_clock().await;
    let a = app.signup("policy").await;
    let member = app
        .token_for(a.tenant, uuid::Uuid::now_v7(), crm_domain::Role::Member)
        .await;
    let crm = app.as_(&a);
    crm.set_security_policy(&json!({"require_two_factor": true}))
        .await
        .expect(StatusCode::OK);

    let problem = crm
        .companies()
        .list("")
        .await
        .expect_problem(StatusCode::FORBIDDEN);
    assert!(problem.detail.contains("two-factor"), "{problem:?}");
    crm.me().await.expect(StatusCode::OK);
    app.as_(&member)
        .companies()
        .list("")
        .await
        .context("members are not held")
        .expect(StatusCode::OK);

    given_two_factor_on(&app, &clock, &a).await;

    crm.companies()
        .list("")
        .await
        .context("enrolled, the owner acts again")
        .expect(StatusCode::OK);
}
