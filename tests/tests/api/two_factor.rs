//! Two-factor sign-in: enrol, confirm, the two-step login, no replay, recovery codes once,
//! the secret encrypted at rest.

use std::sync::Arc;

use crm_app::clock::{Clock, ManualClock};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use totp_rs::{Algorithm, Secret, TOTP};

use crate::helpers::{spawn_app_with_clock, str_of, PASSWORD};

fn code(secret: &str, clock: &ManualClock) -> String {
    let bytes = Secret::Encoded(secret.to_owned()).to_bytes().unwrap();
    let totp = TOTP::new(Algorithm::SHA1, 6, 1, 30, bytes, None, String::new()).unwrap();
    totp.generate(u64::try_from(clock.now().timestamp()).unwrap())
}

#[tokio::test]
async fn two_step_sign_in_with_codes_used_once() {
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_with_clock(|_| {}, clock.clone()).await;
    let a = app.signup("totp").await;
    let (status, enrolled) = app.post("/v1/auth/2fa/enroll", &a.token, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{enrolled}");
    let secret = str_of(&enrolled["secret"]);
    assert!(str_of(&enrolled["otpauth_uri"]).starts_with("otpauth://totp/"));

    // At rest the secret is ciphertext: neither its bytes nor its base32 text are stored.
    let owner = app.pool_as(None).await;
    let (ciphertext,): (Vec<u8>,) = sqlx::query_as("SELECT ciphertext FROM totp_secrets")
        .fetch_one(&owner)
        .await
        .unwrap();
    let raw = Secret::Encoded(secret.clone()).to_bytes().unwrap();
    assert!(!ciphertext.windows(raw.len()).any(|w| w == raw.as_slice()));
    assert!(!String::from_utf8_lossy(&ciphertext).contains(&secret));

    assert_eq!(
        app.post("/v1/auth/2fa/confirm", &a.token, json!({"code": "000000"}))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let first = code(&secret, &clock);
    let (status, confirmed) = app
        .post("/v1/auth/2fa/confirm", &a.token, json!({"code": first}))
        .await;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    let recovery: Vec<String> = confirmed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    assert_eq!(recovery.len(), 10);

    let login = || {
        app.call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": a.email, "password": PASSWORD})),
        )
    };
    let verify = |challenge: Value, field: &'static str, value: String| {
        app.call(
            Method::POST,
            "/v1/auth/2fa/verify",
            None,
            Some(json!({"challenge_token": challenge, field: value})),
        )
    };
    let (status, step_one) = login().await;
    assert_eq!(
        (status, &step_one["two_factor_required"]),
        (StatusCode::OK, &json!(true))
    );
    assert!(
        step_one.get("access_token").is_none(),
        "the password alone opened a session"
    );
    let challenge = step_one["challenge_token"].clone();
    assert_eq!(
        app.get("/v1/me", challenge.as_str().unwrap()).await.0,
        StatusCode::UNAUTHORIZED,
        "a challenge token grants access"
    );

    // The code used to confirm cannot be replayed inside its window.
    assert_eq!(
        verify(challenge.clone(), "code", first).await.0,
        StatusCode::UNAUTHORIZED
    );
    clock.advance(chrono::Duration::seconds(30));
    let (status, tokens) = verify(challenge.clone(), "code", code(&secret, &clock)).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(
        app.get("/v1/me", &str_of(&tokens["access_token"])).await.0,
        StatusCode::OK
    );

    // A recovery code works once.
    let (_, again) = login().await;
    assert_eq!(
        verify(
            again["challenge_token"].clone(),
            "recovery_code",
            recovery[0].clone()
        )
        .await
        .0,
        StatusCode::OK
    );
    let (_, third) = login().await;
    assert_eq!(
        verify(
            third["challenge_token"].clone(),
            "recovery_code",
            recovery[0].clone()
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );

    // Turning it off needs a factor; then the password alone signs in.
    let current = str_of(&tokens["access_token"]);
    assert_eq!(
        app.post("/v1/auth/2fa/disable", &current, json!({"code": "123456"}))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.post(
            "/v1/auth/2fa/disable",
            &current,
            json!({"recovery_code": recovery[1]})
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    let (_, plain) = login().await;
    assert!(plain["access_token"].is_string(), "{plain}");

    let (_, audit) = app
        .get("/v1/audit?limit=30", &str_of(&plain["access_token"]))
        .await;
    let types: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    for t in [
        "TwoFactorEnabled",
        "RecoveryCodeUsed",
        "TwoFactorDisabled",
        "LoginFailed",
    ] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }
}

#[tokio::test]
async fn a_workspace_can_require_two_factor_of_owners_and_admins() {
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_with_clock(|_| {}, clock.clone()).await;
    let a = app.signup("policy").await;
    let member = app
        .token_for(a.tenant, uuid::Uuid::now_v7(), crm_domain::Role::Member)
        .await;
    let (status, _) = app
        .call(
            Method::PATCH,
            "/v1/workspace/security",
            Some(&member),
            Some(json!({"require_two_factor": true})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call(
            Method::PATCH,
            "/v1/workspace/security",
            Some(&a.token),
            Some(json!({"require_two_factor": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, problem) = app.get("/v1/companies", &a.token).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("two-factor"));
    assert_eq!(app.get("/v1/me", &a.token).await.0, StatusCode::OK);
    assert_eq!(
        app.get("/v1/companies", &member).await.0,
        StatusCode::OK,
        "members are not held"
    );

    let (_, enrolled) = app.post("/v1/auth/2fa/enroll", &a.token, json!({})).await;
    let (status, _) = app
        .post(
            "/v1/auth/2fa/confirm",
            &a.token,
            json!({"code": code(&str_of(&enrolled["secret"]), &clock)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.get("/v1/companies", &a.token).await.0,
        StatusCode::OK,
        "enrolled, the owner acts again"
    );
}
