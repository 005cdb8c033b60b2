//! Sign-up, login, tokens: the unhappy paths first.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{spawn_app, str_of, JWT_SECRET, PASSWORD};

#[tokio::test]
async fn signup_refuses_bad_input_and_taken_names_writing_nothing() {
    let app = spawn_app().await;
    let good = json!({"workspace_name": "Acme", "workspace_slug": "acme", "email": "o@acme.example", "password": PASSWORD, "display_name": "O"});
    let with = |key: &str, value: serde_json::Value| {
        let mut body = good.clone();
        body[key] = value;
        body
    };
    for (field, body) in [
        ("password", with("password", json!("short"))),
        ("password", with("password", json!("x".repeat(129)))),
        ("slug", with("workspace_slug", json!("Not A Slug"))),
        ("email", with("email", json!("nobody"))),
        ("name", with("workspace_name", json!("   "))),
    ] {
        let (status, problem) = app
            .call(Method::POST, "/v1/auth/signup", None, Some(body))
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {problem}"
        );
        assert_eq!(problem["status"], 422);
        assert!(
            problem["errors"][0]["field"]
                .as_str()
                .unwrap()
                .contains(field.split('_').next().unwrap()),
            "{problem}"
        );
    }
    assert_eq!(app.event_count().await, 0);

    let (status, _) = app
        .call(Method::POST, "/v1/auth/signup", None, Some(good.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let events = app.event_count().await;
    assert_eq!(events, 3, "a workspace, its owner and its default pipeline");
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/auth/signup",
            None,
            Some(with("email", json!("other@acme.example"))),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "taken slug");
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/auth/signup",
            None,
            Some(with("workspace_slug", json!("acme-two"))),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "taken email");
    assert_eq!(app.event_count().await, events);
    // The refused second sign-up left no reservation behind: its slug is still free.
    let (status, _) = app
        .call(Method::POST, "/v1/auth/signup", None, Some(json!({"workspace_name": "Two", "workspace_slug": "acme-two", "email": "two@acme.example", "password": PASSWORD, "display_name": "T"})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn login_works_and_fails_without_saying_why() {
    let app = spawn_app().await;
    let a = app.signup("login").await;
    let (status, token) = app
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": a.email.to_uppercase(), "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert_eq!(token["token_type"], "Bearer");
    assert!(token["expires_in"].as_i64().unwrap() <= 900);
    let (status, me) = app.get("/v1/me", &str_of(&token["access_token"])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"]["role"], "owner");
    assert_eq!(me["workspace"]["slug"], "login");

    let (s1, wrong_password) = app
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": a.email, "password": "not the password at all"})),
        )
        .await;
    let (s2, unknown_email) = app
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": "nobody@nowhere.example", "password": PASSWORD})),
        )
        .await;
    let (s3, malformed_email) = app
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": "nobody", "password": PASSWORD})),
        )
        .await;
    assert_eq!(
        (s1, s2, s3),
        (
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED
        )
    );
    assert_eq!(wrong_password, unknown_email);
    assert_eq!(unknown_email, malformed_email);
}

#[tokio::test]
async fn bad_tokens_are_refused() {
    let app = spawn_app().await;
    let a = app.signup("tokens").await;
    let claims = |exp_offset: i64, secret: &str| {
        let now = chrono::Utc::now().timestamp();
        let claims = crm_api::auth::token::Claims {
            sub: a.owner,
            tid: a.tenant,
            role: crm_domain::Role::Owner,
            iat: now - 1000,
            exp: now + exp_offset,
            jti: uuid::Uuid::now_v7(),
            sid: uuid::Uuid::now_v7(),
            aud: crm_api::auth::token::AUDIENCE.into(),
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
        let (status, problem) = app.get("/v1/me", &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {problem}");
    }
    let res = app.request(Method::GET, "/v1/companies", None, None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
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
async fn password_change_needs_the_current_password_and_records_only_the_fact() {
    let app = spawn_app().await;
    let a = app.signup("passwords").await;
    let events = app.event_count().await;
    let (status, problem) = app.post("/v1/me/password", &a.token, json!({"current_password": "wrong wrong wrong", "new_password": "a brand new passphrase"})).await;
    assert_eq!(
        (status, problem["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("current_password"))
    );
    let (status, _) = app
        .post(
            "/v1/me/password",
            &a.token,
            json!({"current_password": PASSWORD, "new_password": "short"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.event_count().await, events);

    let (status, _) = app
        .post(
            "/v1/me/password",
            &a.token,
            json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let old = app
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": a.email, "password": PASSWORD})),
        )
        .await
        .0;
    let new = app
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": a.email, "password": "a brand new passphrase"})),
        )
        .await
        .0;
    assert_eq!((old, new), (StatusCode::UNAUTHORIZED, StatusCode::OK));
    let (_, audit) = app.get("/v1/audit?limit=5", &a.token).await;
    let types: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    assert_eq!(
        types[..3],
        ["LoginSucceeded", "LoginFailed", "PasswordChanged"],
        "{types:?}"
    );
    assert_eq!(audit["items"][2]["payload"], json!("PasswordChanged"));
}

#[tokio::test]
async fn workspace_rename_is_for_owners_and_admins() {
    let app = spawn_app().await;
    let a = app.signup("renamed").await;
    let member = app
        .token_for(a.tenant, a.owner, crm_domain::Role::Member)
        .await;
    let (status, _) = app
        .patch("/v1/workspace", &member, json!({"name": "Hijacked"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .patch("/v1/workspace", &a.token, json!({"name": " "}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, ws) = app
        .patch("/v1/workspace", &a.token, json!({"name": "Renamed Inc"}))
        .await;
    assert_eq!(
        (status, ws["name"].as_str(), ws["slug"].as_str()),
        (StatusCode::OK, Some("Renamed Inc"), Some("renamed"))
    );
    let (_, me) = app.get("/v1/me", &a.token).await;
    assert_eq!(me["workspace"]["name"], "Renamed Inc");
}
