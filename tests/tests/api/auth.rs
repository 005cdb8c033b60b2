//! Sign-up, login, tokens: the unhappy paths first.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, JWT_SECRET, PASSWORD};

/// A valid sign-up body for workspace "acme".
fn good_signup() -> Value {
    json!({"workspace_name": "Acme", "workspace_slug": "acme", "email": "o@acme.example", "password": PASSWORD, "display_name": "O"})
}

/// `good_signup()` with `key` set to `value`.
fn signup_with(key: &str, value: Value) -> Value {
    let mut body = good_signup();
    body[key] = value;
    body
}

#[tokio::test]
async fn signup_refuses_bad_input_naming_the_field_and_writes_nothing() {
    let app = spawn_app().await;
    let auth = app.anonymous();

    for (field, body) in [
        ("password", signup_with("password", json!("short"))),
        ("password", signup_with("password", json!("x".repeat(129)))),
        ("slug", signup_with("workspace_slug", json!("Not A Slug"))),
        ("email", signup_with("email", json!("nobody"))),
        ("name", signup_with("workspace_name", json!("   "))),
    ] {
        let problem = auth
            .auth()
            .signup(&body)
            .await
            .context(field)
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(problem.field().contains(field), "{field}: {problem:?}");
    }

    assert_eq!(app.event_count().await, 0);
}

#[tokio::test]
async fn signup_writes_a_workspace_its_owner_and_a_pipeline_and_refuses_taken_names() {
    let app = spawn_app().await;
    let auth = app.anonymous();
    auth.auth()
        .signup(&good_signup())
        .await
        .expect(StatusCode::CREATED);
    let events = app.event_count().await;
    assert_eq!(events, 3, "a workspace, its owner and its default pipeline");

    auth.auth()
        .signup(&signup_with("email", json!("other@acme.example")))
        .await
        .context("taken slug")
        .expect_problem(StatusCode::CONFLICT);
    auth.auth()
        .signup(&signup_with("workspace_slug", json!("acme-two")))
        .await
        .context("taken email")
        .expect_problem(StatusCode::CONFLICT);

    assert_eq!(app.event_count().await, events);
}

#[tokio::test]
async fn a_refused_signup_leaves_no_reservation_behind() {
    let app = spawn_app().await;
    let auth = app.anonymous();
    auth.auth()
        .signup(&good_signup())
        .await
        .expect(StatusCode::CREATED);
    auth.auth()
        .signup(&signup_with("workspace_slug", json!("acme-two")))
        .await
        .context("taken email")
        .expect_problem(StatusCode::CONFLICT);

    // Its slug is still free.
    auth.auth()
        .signup(&json!({"workspace_name": "Two", "workspace_slug": "acme-two", "email": "two@acme.example", "password": PASSWORD, "display_name": "T"}))
        .await
        .expect(StatusCode::CREATED);
}

#[tokio::test]
async fn login_ignores_the_emails_case_and_hands_out_a_short_bearer_token() {
    let app = spawn_app().await;
    let a = app.signup("login").await;

    let tokens = app
        .anonymous()
        .auth()
        .login(&a.email.to_uppercase(), PASSWORD)
        .await
        .expect(StatusCode::OK);

    assert_eq!(tokens.token_type, "Bearer");
    assert!(tokens.expires_in <= 900);
    let me = app
        .as_(&tokens.access_token)
        .me()
        .await
        .expect(StatusCode::OK);
    assert_eq!(me.user.role, "owner");
    assert_eq!(me.workspace.map(|w| w.slug).as_deref(), Some("login"));
}

#[tokio::test]
async fn a_failed_login_does_not_say_why() {
    let app = spawn_app().await;
    let a = app.signup("login-fails").await;
    let auth = app.anonymous();
    let auth = auth.auth();

    let wrong_password = auth.login(&a.email, "not the password at all").await;
    let unknown_email = auth.login("nobody@nowhere.example", PASSWORD).await;
    let malformed_email = auth.login("nobody", PASSWORD).await;

    let wrong_password = wrong_password.expect_status(StatusCode::UNAUTHORIZED);
    let unknown_email = unknown_email.expect_status(StatusCode::UNAUTHORIZED);
    let malformed_email = malformed_email.expect_status(StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password.text(), unknown_email.text());
    assert_eq!(unknown_email.text(), malformed_email.text());
}

#[tokio::test]
async fn bad_tokens_are_refused() {
    let app = spawn_app().await;
    let a = app.signup("tokens").await;
    let claims = |exp_offset: i64, secret: &str| {
        let now = chrono::Utc::now().timestamp();
        let claims = crm_app::access_token::Claims {
            sub: a.owner,
            tid: a.tenant,
            role: crm_domain::Role::Owner,
            iat: now - 1000,
            exp: now + exp_offset,
            jti: uuid::Uuid::now_v7(),
            sid: uuid::Uuid::now_v7(),
            aud: crm_app::access_token::AUDIENCE.into(),
        };
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let mut tampered = a.token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let (header, _) = a.token.split_once('.').unwrap();
    let forged_none = format!(
        "{}.{}.",
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0",
        a.token.split('.').nth(1).unwrap()
    );
    for (what, token) in [
        ("expired", claims(-10, JWT_SECRET)),
        (
            "other key",
            claims(600, "another-secret-another-secret-another!!"),
        ),
        ("tampered", tampered),
        ("alg none", forged_none),
        ("garbage", format!("{header}.garbage.x")),
    ] {
        app.as_(&token)
            .me()
            .await
            .context(what)
            .expect_problem(StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn no_token_is_a_401_problem_with_a_bearer_challenge() {
    let app = spawn_app().await;

    let refused = app
        .anonymous()
        .companies()
        .list("")
        .await
        .expect_status(StatusCode::UNAUTHORIZED);

    assert_eq!(refused.header("www-authenticate"), Some("Bearer"));
    refused.expect_problem(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn passwords_are_argon2id_hashed_and_never_in_events() {
    let app = spawn_app().await;
    app.signup("secrets").await;
    let owner = app.pool_as(None).await;
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM credentials")
        .fetch_one(&owner)
        .await
        .unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    let events: Vec<String> =
        sqlx::query_scalar("SELECT payload::text || metadata::text FROM events")
            .fetch_all(&owner)
            .await
            .unwrap();
    assert!(!events.is_empty());
    for text in events {
        assert!(
            !text.contains(PASSWORD) && !text.contains("argon2"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_password_change_needs_the_current_password_and_a_good_new_one() {
    let app = spawn_app().await;
    let a = app.signup("passwords").await;
    let crm = app.as_(&a);
    let events = app.event_count().await;

    let problem = crm
        .change_password(&json!({"current_password": "wrong wrong wrong", "new_password": "a brand new passphrase"}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem.field(), "current_password");
    crm.change_password(&json!({"current_password": PASSWORD, "new_password": "short"}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);

    assert_eq!(app.event_count().await, events);
}

#[tokio::test]
async fn a_changed_password_replaces_the_old_one_and_the_trail_records_only_the_fact() {
    let app = spawn_app().await;
    let a = app.signup("passwords-new").await;
    let crm = app.as_(&a);

    crm.change_password(
        &json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"}),
    )
    .await
    .expect(StatusCode::NO_CONTENT);

    let auth = app.anonymous();
    auth.auth()
        .login(&a.email, PASSWORD)
        .await
        .expect_problem(StatusCode::UNAUTHORIZED);
    auth.auth()
        .login(&a.email, "a brand new passphrase")
        .await
        .expect(StatusCode::OK);
    let audit = crm.audit("limit=5").await.expect(StatusCode::OK);
    let types = audit.map(|e| e.event_type.clone());
    assert_eq!(
        types[..3],
        ["LoginSucceeded", "LoginFailed", "PasswordChanged"],
        "{types:?}"
    );
    assert_eq!(audit.items[2].payload, json!("PasswordChanged"));
}

#[tokio::test]
async fn a_member_cannot_rename_the_workspace() {
    let app = spawn_app().await;
    let a = app.signup("renamed-member").await;
    let member = app
        .token_for(a.tenant, a.owner, crm_domain::Role::Member)
        .await;

    app.as_(&member)
        .rename_workspace(&json!({"name": "Hijacked"}))
        .await
        .expect_problem(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_blank_workspace_name_is_refused() {
    let app = spawn_app().await;
    let a = app.signup("renamed-blank").await;

    app.as_(&a)
        .rename_workspace(&json!({"name": " "}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn an_owner_renames_the_workspace_and_its_slug_stays() {
    let app = spawn_app().await;
    let a = app.signup("renamed").await;
    let crm = app.as_(&a);

    let ws = crm
        .rename_workspace(&json!({"name": "Renamed Inc"}))
        .await
        .expect(StatusCode::OK);

    assert_eq!(
        (ws.name.as_str(), ws.slug.as_str()),
        ("Renamed Inc", "renamed")
    );
    let me = crm.me().await.expect(StatusCode::OK);
    assert_eq!(me.workspace.map(|w| w.name).as_deref(), Some("Renamed Inc"));
}
