//! API keys: shown once, stored hashed, bounded by the creator's role, attributed in
//! events, logged, revocable and expiring.

use std::sync::Arc;

use crm_app::clock::ManualClock;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::client::{KeyRequests, NewKey};
use crate::helpers::{spawn_app_full, spawn_app_with_clock, TestApp, Workspace};

/// A manager-role key "Zapier" of the owner of `a`, expiring in 2099.
async fn given_a_manager_key(app: &TestApp, a: &Workspace) -> NewKey {
    app.as_(a)
        .api_keys()
        .create(&json!({"name": "Zapier", "role": "manager", "expires_at": "2099-01-01T00:00:00Z"}))
        .await
        .expect(StatusCode::CREATED)
}

async fn app_on_a_manual_clock() -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_with_clock(|_| {}, clock.clone()).await;
    (app, clock)
}

#[tokio::test]
async fn a_key_is_shown_once_and_stored_hashed() {
    let (app, _) = app_on_a_manual_clock().await;
    let a = app.signup("keys").await;

    let created = given_a_manager_key(&app, &a).await;

    assert!(created.key.starts_with("crm_"));
    let listed = app
        .as_(&a)
        .api_keys()
        .list()
        .await
        .expect_text(StatusCode::OK);
    assert!(!listed.contains(&created.key), "the key is shown again");
    let owner = app.pool_as(None).await;
    let stored: Vec<u8> = sqlx::query_scalar("SELECT key_hash FROM api_keys")
        .fetch_one(&owner)
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains(&created.key[4..]));
}

#[tokio::test]
async fn a_key_acts_as_itself_within_its_role() {
    let (app, _) = app_on_a_manual_clock().await;
    let a = app.signup("keys-act").await;
    let created = given_a_manager_key(&app, &a).await;
    let by_key = app.as_(&created.key);

    by_key
        .contacts()
        .create(&json!({"first_name": "Via key"}))
        .await
        .expect(StatusCode::CREATED);
    by_key
        .audit("")
        .await
        .context("a manager key reads the audit")
        .expect_problem(StatusCode::FORBIDDEN);

    // Its events name it as the actor.
    let audit = app.as_(&a).audit("limit=1").await.expect(StatusCode::OK);
    assert_eq!(
        (
            audit.items[0].actor.as_deref(),
            audit.items[0].actor_type.as_deref()
        ),
        (Some(created.id.to_string().as_str()), Some("api_key"))
    );
}

#[tokio::test]
async fn every_request_with_a_key_is_logged_with_its_status() {
    let (app, _) = app_on_a_manual_clock().await;
    let a = app.signup("keys-log").await;
    let created = given_a_manager_key(&app, &a).await;
    let by_key = app.as_(&created.key);
    by_key
        .contacts()
        .create(&json!({"first_name": "Via key"}))
        .await
        .expect(StatusCode::CREATED);
    by_key.audit("").await.expect_problem(StatusCode::FORBIDDEN);

    // The log is written after the answer: wait for both entries.
    let mut log: Option<KeyRequests> = None;
    for _ in 0..50 {
        let page = app
            .as_(&a)
            .api_keys()
            .requests(&format!("key_id={}", created.id))
            .await
            .expect(StatusCode::OK);
        if page.items.len() >= 2 {
            log = Some(page);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let log = log.unwrap_or_else(|| panic!("the key's two requests were not logged"));

    let entries: Vec<(&str, &str, u16)> = log
        .items
        .iter()
        .map(|e| (e.method.as_str(), e.path.as_str(), e.status))
        .collect();
    assert!(
        entries.contains(&("POST", "/v1/contacts", 201)),
        "{entries:?}"
    );
    assert!(entries.contains(&("GET", "/v1/audit", 403)), "{entries:?}");
    assert_eq!(log.items[0].ip.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn keys_are_bounded_by_the_creators_role_and_kept_by_their_workspace() {
    let (app, _) = app_on_a_manual_clock().await;
    let a = app.signup("keys-bounds").await;
    let b = app.signup("keys-bounds-b").await;
    let created = given_a_manager_key(&app, &a).await;
    let admin = app
        .token_for(a.tenant, a.owner, crm_domain::Role::Admin)
        .await;
    let member = app
        .token_for(a.tenant, a.owner, crm_domain::Role::Member)
        .await;

    app.as_(&admin)
        .api_keys()
        .create(&json!({"name": "Too strong", "role": "owner"}))
        .await
        .expect_problem(StatusCode::FORBIDDEN);
    app.as_(&member)
        .api_keys()
        .list()
        .await
        .expect_problem(StatusCode::FORBIDDEN);
    app.as_(&b)
        .api_keys()
        .revoke(created.id)
        .await
        .expect_problem(StatusCode::NOT_FOUND);
    app.as_(&a)
        .api_keys()
        .create(&json!({"name": "Past", "role": "member", "expires_at": "2000-01-01T00:00:00Z"}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_revoked_key_stops_at_once_and_is_revoked_once() {
    let (app, _) = app_on_a_manual_clock().await;
    let a = app.signup("keys-revoke").await;
    let created = given_a_manager_key(&app, &a).await;
    let crm = app.as_(&a);

    crm.api_keys()
        .revoke(created.id)
        .await
        .expect(StatusCode::NO_CONTENT);

    app.as_(&created.key)
        .contacts()
        .list("")
        .await
        .expect_problem(StatusCode::UNAUTHORIZED);
    crm.api_keys()
        .revoke(created.id)
        .await
        .expect_problem(StatusCode::CONFLICT);
    let audit = crm.audit("limit=50").await.expect(StatusCode::OK);
    let types = audit.map(|e| e.event_type.clone());
    assert!(
        types.iter().any(|t| t == "ApiKeyCreated") && types.iter().any(|t| t == "ApiKeyRevoked"),
        "{types:?}"
    );
}

#[tokio::test]
async fn an_expiring_key_stops_when_its_time_comes() {
    let (app, clock) = app_on_a_manual_clock().await;
    let a = app.signup("keys-expiry").await;
    let expiry =
        (crm_app::clock::Clock::now(clock.as_ref()) + chrono::Duration::hours(1)).to_rfc3339();
    let short = app
        .as_(&a)
        .api_keys()
        .create(&json!({"name": "Short", "role": "read_only", "expires_at": expiry}))
        .await
        .expect(StatusCode::CREATED);
    let by_key = app.as_(&short.key);
    by_key.contacts().list("").await.expect(StatusCode::OK);

    clock.advance(chrono::Duration::hours(2));

    by_key
        .contacts()
        .list("")
        .await
        .expect_problem(StatusCode::UNAUTHORIZED);
}

const MIA_PASSWORD: &str = "mia's long passphrase";

/// Mia, an admin of `a`'s workspace, and a member-role key she made: her access token and
/// the key.
async fn given_mias_member_key(
    app: &TestApp,
    mailer: &crm_app::mailer::MemoryMailer,
    a: &Workspace,
) -> (String, NewKey) {
    app.as_(a)
        .users()
        .invite(&json!({"email": "mia@keys.example", "role": "admin"}))
        .await
        .expect(StatusCode::CREATED);
    let token = mailer.last_token_for("mia@keys.example").unwrap();
    let joined = app
        .anonymous()
        .auth()
        .accept_invitation(
            &json!({"token": token, "display_name": "Mia", "password": MIA_PASSWORD}),
        )
        .await
        .expect(StatusCode::OK);
    let key = app
        .as_(&joined.access_token)
        .api_keys()
        .create(&json!({"name": "Mia's bot", "role": "member"}))
        .await
        .expect(StatusCode::CREATED);
    (joined.access_token, key)
}

async fn app_with_mailer() -> (TestApp, Arc<crm_app::mailer::MemoryMailer>) {
    let mailer = Arc::new(crm_app::mailer::MemoryMailer::default());
    let app = spawn_app_full(
        |_| {},
        Arc::new(crm_app::clock::SystemClock),
        mailer.clone(),
    )
    .await;
    (app, mailer)
}

#[tokio::test]
async fn a_key_touches_nothing_of_its_creators_account_and_makes_no_keys() {
    let (app, mailer) = app_with_mailer().await;
    let a = app.signup("key-account").await;
    let (_, key) = given_mias_member_key(&app, &mailer, &a).await;
    let by_key = app.as_(&key.key);

    for (path, body) in [
        ("/v1/auth/2fa/enroll", json!({})),
        ("/v1/auth/logout-all", json!({})),
        (
            "/v1/me/password",
            json!({"current_password": MIA_PASSWORD, "new_password": "taken over passphrase"}),
        ),
        ("/v1/api-keys", json!({"name": "child", "role": "member"})),
    ] {
        by_key
            .post::<Value>(path, &body)
            .await
            .expect_problem(StatusCode::FORBIDDEN);
    }
    by_key
        .auth()
        .sessions()
        .await
        .expect_problem(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_member_role_key_changes_what_it_made_and_only_that() {
    let (app, mailer) = app_with_mailer().await;
    let a = app.signup("key-owns").await;
    let (mia, key) = given_mias_member_key(&app, &mailer, &a).await;
    let by_key = app.as_(&key.key);
    let own = by_key
        .contacts()
        .create(&json!({"first_name": "Bot-made"}))
        .await
        .expect(StatusCode::CREATED);
    let theirs = app
        .as_(&mia)
        .contacts()
        .create(&json!({"first_name": "Mia-made"}))
        .await
        .expect(StatusCode::CREATED);

    by_key
        .contacts()
        .update(own.id, &json!({"job_title": "x"}))
        .await
        .expect(StatusCode::OK);
    by_key
        .contacts()
        .update(theirs.id, &json!({"job_title": "x"}))
        .await
        .expect_problem(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_key_stops_when_its_creator_is_deactivated() {
    let (app, mailer) = app_with_mailer().await;
    let a = app.signup("key-creator").await;
    let (_, key) = given_mias_member_key(&app, &mailer, &a).await;
    let crm = app.as_(&a);
    let users = crm.users().list().await.expect(StatusCode::OK);
    let mia = users
        .items
        .iter()
        .find(|u| u.email == "mia@keys.example")
        .unwrap_or_else(|| panic!("Mia is not listed: {users:?}"));

    crm.users().deactivate(mia.id).await.expect(StatusCode::OK);

    app.as_(&key.key)
        .contacts()
        .list("")
        .await
        .expect_problem(StatusCode::UNAUTHORIZED);
}
