//! Support staff: outside every workspace, inside one only through an Owner's grant.

use std::sync::Arc;

use crm_app::clock::{Clock, ManualClock};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{json, Value};
use totp_rs::{Algorithm, Secret, TOTP};
use uuid::Uuid;

use crate::client::{Client, Grant, Response, SupportToken};
use crate::helpers::{spawn_app, spawn_app_with_clock, test_settings, TestApp, Workspace};

const SUPPORT_PASSWORD: &str = "support staff password 1";

/// A support account: its id and its TOTP secret (from the `otpauth://` URI shown once).
async fn support_account(app: &TestApp, email: &str) -> (Uuid, Vec<u8>) {
    let settings = test_settings(&app.db_name);
    let db =
        sea_orm::Database::connect(secrecy::ExposeSecret::expose_secret(&settings.database.url))
            .await
            .unwrap();
    let totp_box = crm_app::totp::SecretBox::new(settings.auth.totp_key());
    let account = crm_app::support_accounts::create_account(
        &db,
        &totp_box,
        email,
        "Support",
        SecretString::from(SUPPORT_PASSWORD),
    )
    .await
    .unwrap();
    let encoded = account
        .otpauth_uri
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("secret="))
        .unwrap()
        .to_owned();
    (account.id, Secret::Encoded(encoded).to_bytes().unwrap())
}

/// The TOTP code of `secret` at `at` (RFC 6238: SHA-1, 6 digits, 30 s).
fn code_at(secret: &[u8], at: chrono::DateTime<chrono::Utc>) -> String {
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        30,
        secret.to_vec(),
        None,
        String::new(),
    )
    .unwrap()
    .generate(u64::try_from(at.timestamp()).unwrap())
}

async fn try_support_login(
    app: &TestApp,
    email: &str,
    password: &str,
    code: &str,
) -> Response<SupportToken> {
    app.anonymous()
        .auth()
        .support_login(email, password, code)
        .await
}

/// A support sign-in with the right password and the code at `at`; answers the token.
async fn support_login(
    app: &TestApp,
    email: &str,
    secret: &[u8],
    at: chrono::DateTime<chrono::Utc>,
) -> String {
    try_support_login(app, email, SUPPORT_PASSWORD, &code_at(secret, at))
        .await
        .expect(StatusCode::OK)
        .access_token
}

const HELPER: &str = "helper@support.example";

/// Workspaces A (with a deleted contact "Lost") and B, and a support account signed in.
struct Case {
    a: Workspace,
    b: Workspace,
    support_id: Uuid,
    secret: Vec<u8>,
    signed_in_at: chrono::DateTime<chrono::Utc>,
    token: String,
    lost: Uuid,
}

async fn given_support_signed_in(app: &TestApp) -> Case {
    let a = app.signup("support-a").await;
    let b = app.signup("support-b").await;
    let (support_id, secret) = support_account(app, HELPER).await;
    let signed_in_at = chrono::Utc::now();
    let token = support_login(app, HELPER, &secret, signed_in_at).await;
    let crm = app.as_(&a);
    let lost = crm
        .contacts()
        .create(&json!({"first_name": "Lost"}))
        .await
        .expect(StatusCode::CREATED)
        .id;
    crm.contacts()
        .delete(lost)
        .await
        .expect(StatusCode::NO_CONTENT);
    Case {
        a,
        b,
        support_id,
        secret,
        signed_in_at,
        token,
        lost,
    }
}

/// A grant of `scope` to the helper for two hours.
fn grant(scope: &str) -> Value {
    json!({"support_email": HELPER, "scope": scope, "reason": "ticket 4711: restore a contact", "expires_in_hours": 2})
}

async fn given_a_grant(app: &TestApp, owner: &Workspace, scope: &str) -> Grant {
    app.as_(owner)
        .support_grants()
        .create(&grant(scope))
        .await
        .expect(StatusCode::CREATED)
}

impl Case {
    /// The support account acting inside workspace A.
    fn support_in_a<'a>(&self, app: &'a TestApp) -> Client<'a> {
        app.as_(&self.token).in_workspace(self.a.tenant)
    }
}

#[tokio::test]
async fn bad_support_sign_ins_are_one_401_and_a_missing_code_is_malformed() {
    let app = spawn_app().await;
    let case = given_support_signed_in(&app).await;

    // A wrong password, an unknown email, a wrong code, and the code just used (a code is
    // accepted once, RFC 6238 §5.2).
    let good = code_at(&case.secret, chrono::Utc::now());
    let wrong = format!("{:06}", (good.parse::<u32>().unwrap() + 1) % 1_000_000);
    let used = code_at(&case.secret, case.signed_in_at);
    for (email, password, code) in [
        (HELPER, "wrong password here", good.as_str()),
        ("nobody@support.example", SUPPORT_PASSWORD, good.as_str()),
        (HELPER, SUPPORT_PASSWORD, wrong.as_str()),
        (HELPER, SUPPORT_PASSWORD, used.as_str()),
    ] {
        try_support_login(&app, email, password, code)
            .await
            .context(format!("{email} {password} {code}"))
            .expect_problem(StatusCode::UNAUTHORIZED);
    }
    app.anonymous()
        .post::<Value>(
            "/v1/auth/support/login",
            &json!({"email": HELPER, "password": SUPPORT_PASSWORD}),
        )
        .await
        .context("without a code")
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn before_a_grant_support_gets_404_like_anyone_else() {
    let app = spawn_app().await;
    let case = given_support_signed_in(&app).await;
    let support = case.support_in_a(&app);

    support
        .contacts()
        .list("")
        .await
        .expect_problem(StatusCode::NOT_FOUND);
    support
        .contacts()
        .get(case.lost)
        .await
        .expect_problem(StatusCode::NOT_FOUND);
    app.as_(&case.token)
        .contacts()
        .list("")
        .await
        .context("no workspace named")
        .expect_problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn only_the_owner_grants_support_and_bad_grants_are_refused() {
    let app = spawn_app().await;
    let case = given_support_signed_in(&app).await;
    let admin = app
        .token_for(case.a.tenant, case.a.owner, crm_domain::Role::Admin)
        .await;

    app.as_(&admin)
        .support_grants()
        .create(&grant("read"))
        .await
        .expect_problem(StatusCode::FORBIDDEN);
    for bad in [
        json!({"support_email": "nobody@support.example", "scope": "read", "reason": "x", "expires_in_hours": 2}),
        json!({"support_email": HELPER, "scope": "admin", "reason": "x", "expires_in_hours": 2}),
        json!({"support_email": HELPER, "scope": "read", "reason": " ", "expires_in_hours": 2}),
        json!({"support_email": HELPER, "scope": "read", "reason": "x", "expires_in_hours": 169}),
    ] {
        app.as_(&case.a)
            .support_grants()
            .create(&bad)
            .await
            .context(&bad)
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[tokio::test]
async fn a_read_grant_reads_deleted_records_and_history_but_never_writes_or_manages() {
    let app = spawn_app().await;
    let case = given_support_signed_in(&app).await;

    let read = given_a_grant(&app, &case.a, "read").await;

    assert_eq!(read.support_id, case.support_id);
    let support = case.support_in_a(&app);
    let seen = support
        .contacts()
        .get(case.lost)
        .await
        .expect(StatusCode::OK);
    assert!(seen.deleted);
    support
        .contacts()
        .history(case.lost)
        .await
        .expect(StatusCode::OK);
    support
        .contacts()
        .export(case.lost)
        .await
        .expect_problem(StatusCode::FORBIDDEN);
    support
        .contacts()
        .restore(case.lost)
        .await
        .expect_problem(StatusCode::FORBIDDEN);
    for path in [
        "/v1/api-keys",
        "/v1/support-grants",
        "/v1/audit/verify",
        "/v1/audit/export",
    ] {
        support
            .get::<Value>(path)
            .await
            .expect_problem(StatusCode::FORBIDDEN);
    }
    // The grant is for workspace A only.
    app.as_(&case.token)
        .in_workspace(case.b.tenant)
        .contacts()
        .list("")
        .await
        .expect_problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_recovery_grant_restores_in_an_event_naming_the_support_account() {
    let app = spawn_app().await;
    let case = given_support_signed_in(&app).await;
    given_a_grant(&app, &case.a, "recovery").await;

    case.support_in_a(&app)
        .contacts()
        .restore(case.lost)
        .await
        .expect(StatusCode::OK);

    let trail = app
        .as_(&case.a)
        .audit(&format!(
            "entity_id={}&event_type=ContactRestored",
            case.lost
        ))
        .await
        .expect(StatusCode::OK);
    let entry = &trail.items[0];
    assert_eq!(entry.actor, Some(case.support_id.to_string()));
    assert_eq!(entry.actor_type.as_deref(), Some("support"));
    assert_eq!(entry.actor_role.as_deref(), Some("support:recovery"));
}

#[tokio::test]
async fn the_owner_sees_the_grants_and_every_support_request() {
    let app = spawn_app().await;
    let case = given_support_signed_in(&app).await;
    given_a_grant(&app, &case.a, "read").await;
    let recovery = given_a_grant(&app, &case.a, "recovery").await;
    case.support_in_a(&app)
        .contacts()
        .restore(case.lost)
        .await
        .expect(StatusCode::OK);
    let grants = app.as_(&case.a);
    let grants = grants.support_grants();

    let listed = grants.list().await.expect(StatusCode::OK);
    let access = grants.access(recovery.id).await.expect(StatusCode::OK);

    assert_eq!(listed.items.len(), 2);
    let paths = access
        .items
        .iter()
        .map(|x| format!("{} {}", x.method, x.path));
    assert_eq!(
        paths.collect::<Vec<_>>(),
        [format!("POST /v1/contacts/{}/restore", case.lost)]
    );
}

#[tokio::test]
async fn a_revoked_grant_is_404_at_once_and_revoked_once() {
    let app = spawn_app().await;
    let case = given_support_signed_in(&app).await;
    let read = given_a_grant(&app, &case.a, "read").await;
    let owner = app.as_(&case.a);

    owner
        .support_grants()
        .revoke(read.id)
        .await
        .expect(StatusCode::NO_CONTENT);

    owner
        .support_grants()
        .revoke(read.id)
        .await
        .expect_problem(StatusCode::NOT_FOUND);
    app.as_(&case.b)
        .support_grants()
        .revoke(read.id)
        .await
        .context("another workspace's grant")
        .expect_problem(StatusCode::NOT_FOUND);
    case.support_in_a(&app)
        .contacts()
        .get(case.lost)
        .await
        .expect_problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn grants_and_revocations_are_events_of_the_workspace() {
    let app = spawn_app().await;
    let case = given_support_signed_in(&app).await;
    let owner = app.as_(&case.a);
    for scope in ["read", "recovery"] {
        let g = given_a_grant(&app, &case.a, scope).await;
        owner
            .support_grants()
            .revoke(g.id)
            .await
            .expect(StatusCode::NO_CONTENT);
    }

    for event in ["SupportGranted", "SupportRevoked"] {
        let trail = owner
            .audit(&format!("event_type={event}"))
            .await
            .expect(StatusCode::OK);
        assert_eq!(trail.items.len(), 2, "{event}: {trail:?}");
        assert!(trail
            .items
            .iter()
            .all(|e| e.actor == Some(case.a.owner.to_string())));
    }
    let granted = owner
        .audit("event_type=SupportGranted")
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        granted.items[0].payload["SupportGranted"]["reason"],
        "ticket 4711: restore a contact"
    );
}

#[tokio::test]
async fn a_grant_and_a_support_sign_in_expire_on_their_own() {
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_with_clock(|_| {}, clock.clone()).await;
    let a = app.signup("support-expiry").await;
    let (_, secret) = support_account(&app, "late@support.example").await;
    app.as_(&a)
        .support_grants()
        .create(&json!({"support_email": "late@support.example", "scope": "read", "reason": "ticket 1", "expires_in_hours": 1}))
        .await
        .expect(StatusCode::CREATED);
    let token = support_login(&app, "late@support.example", &secret, clock.now()).await;
    app.as_(&token)
        .in_workspace(a.tenant)
        .contacts()
        .list("")
        .await
        .expect(StatusCode::OK);

    clock.advance(chrono::Duration::minutes(61));

    // The sign-in has expired too (one hour): 401; a new one finds no grant: 404.
    app.as_(&token)
        .in_workspace(a.tenant)
        .contacts()
        .list("")
        .await
        .expect_problem(StatusCode::UNAUTHORIZED);
    let token = support_login(&app, "late@support.example", &secret, clock.now()).await;
    let support = app.as_(&token);
    support
        .in_workspace(a.tenant)
        .contacts()
        .list("")
        .await
        .expect_problem(StatusCode::NOT_FOUND);

    // The janitor's purge drops the expired sign-in and keeps the live one.
    let projector = app.projector_db().await;
    let purged = crm_access::support::purge_sessions(&projector, clock.now())
        .await
        .unwrap();
    assert_eq!(purged, 1);
    // Signing out ends the live one at once.
    support
        .auth()
        .support_logout()
        .await
        .expect(StatusCode::NO_CONTENT);
    support
        .auth()
        .support_logout()
        .await
        .expect_problem(StatusCode::UNAUTHORIZED);
    support
        .in_workspace(a.tenant)
        .contacts()
        .list("")
        .await
        .expect_problem(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn support_sign_in_is_limited_per_account() {
    let app = spawn_app().await;
    let guessed = "guessed@support.example";
    let (_, secret) = support_account(&app, guessed).await;

    // Every attempt counts against the account (5 per window in tests), right or wrong.
    for _ in 0..5 {
        try_support_login(&app, guessed, "not the password 1", "000000")
            .await
            .expect_problem(StatusCode::UNAUTHORIZED);
    }
    try_support_login(
        &app,
        guessed,
        SUPPORT_PASSWORD,
        &code_at(&secret, chrono::Utc::now()),
    )
    .await
    .context("even the right credentials wait")
    .expect_problem(StatusCode::TOO_MANY_REQUESTS);
}
