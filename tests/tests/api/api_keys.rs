//! API keys: shown once, stored hashed, bounded by the creator's role, attributed in
//! events, logged, revocable and expiring.

use std::sync::Arc;

use crm_app::clock::ManualClock;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with_clock, str_of};

#[tokio::test]
async fn keys_act_as_themselves_and_stop_when_revoked_or_expired() {
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_with_clock(|_| {}, clock.clone()).await;
    let a = app.signup("keys").await;
    let b = app.signup("keys-b").await;
    let (status, created) = app
        .post(
            "/v1/api-keys",
            &a.token,
            json!({"name": "Zapier", "role": "manager", "expires_at": "2099-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = str_of(&created["key"]);
    let id = str_of(&created["id"]);
    assert!(key.starts_with("crm_"));
    let (_, listed) = app.get("/v1/api-keys", &a.token).await;
    assert!(!listed.to_string().contains(&key), "the key is shown again");
    let owner = app.pool_as(None).await;
    let stored: Vec<u8> = sqlx::query_scalar("SELECT key_hash FROM api_keys")
        .fetch_one(&owner)
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains(&key[4..]));

    // The key works, and its events name it as the actor.
    let (status, contact) = app
        .post("/v1/contacts", &key, json!({"first_name": "Via key"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");
    assert_eq!(
        app.get("/v1/audit", &key).await.0,
        StatusCode::FORBIDDEN,
        "a manager key reads the audit"
    );
    let (_, audit) = app.get("/v1/audit?limit=1", &a.token).await;
    assert_eq!(
        (
            audit["items"][0]["actor"].as_str(),
            audit["items"][0]["actor_type"].as_str()
        ),
        (Some(id.as_str()), Some("api_key"))
    );

    // Every request with the key is logged with its status.
    let mut log = Value::Null;
    for _ in 0..50 {
        log = app
            .get(&format!("/v1/api-keys/requests?key_id={id}"), &a.token)
            .await
            .1;
        if log["items"].as_array().is_some_and(|i| i.len() >= 2) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let entries: Vec<(String, String, i64)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                str_of(&e["method"]),
                str_of(&e["path"]),
                e["status"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(
        entries.contains(&("POST".into(), "/v1/contacts".into(), 201)),
        "{entries:?}"
    );
    assert!(
        entries.contains(&("GET".into(), "/v1/audit".into(), 403)),
        "{entries:?}"
    );
    assert_eq!(log["items"][0]["ip"], "127.0.0.1");

    // Role bounds, other workspaces, and members.
    let admin = app
        .token_for(a.tenant, a.owner, crm_domain::Role::Admin)
        .await;
    assert_eq!(
        app.post(
            "/v1/api-keys",
            &admin,
            json!({"name": "Too strong", "role": "owner"})
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let member = app
        .token_for(a.tenant, a.owner, crm_domain::Role::Member)
        .await;
    assert_eq!(
        app.get("/v1/api-keys", &member).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.delete(&format!("/v1/api-keys/{id}"), &b.token).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post(
            "/v1/api-keys",
            &a.token,
            json!({"name": "Past", "role": "member", "expires_at": "2000-01-01T00:00:00Z"})
        )
        .await
        .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // Revoked: stops at once. Expired: stops when its time comes.
    assert_eq!(
        app.delete(&format!("/v1/api-keys/{id}"), &a.token).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get("/v1/contacts", &key).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.delete(&format!("/v1/api-keys/{id}"), &a.token).await.0,
        StatusCode::CONFLICT
    );
    let (_, audit) = app.get("/v1/audit?limit=50", &a.token).await;
    let types: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    assert!(
        types.contains(&"ApiKeyCreated") && types.contains(&"ApiKeyRevoked"),
        "{types:?}"
    );
    let expiry =
        (crm_app::clock::Clock::now(clock.as_ref()) + chrono::Duration::hours(1)).to_rfc3339();
    let (_, short) = app
        .post(
            "/v1/api-keys",
            &a.token,
            json!({"name": "Short", "role": "read_only", "expires_at": expiry}),
        )
        .await;
    let short = str_of(&short["key"]);
    assert_eq!(app.get("/v1/contacts", &short).await.0, StatusCode::OK);
    clock.advance(chrono::Duration::hours(2));
    assert_eq!(
        app.get("/v1/contacts", &short).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_key_never_acts_for_its_creator_nor_outlives_them() {
    let mailer = Arc::new(crm_app::mailer::MemoryMailer::default());
    let app = crate::helpers::spawn_app_full(
        |_| {},
        Arc::new(crm_app::clock::SystemClock),
        mailer.clone(),
    )
    .await;
    let a = app.signup("key-bounds").await;
    // Mia joins as an admin and makes a member-role key.
    app.post(
        "/v1/users/invitations",
        &a.token,
        json!({"email": "mia@keys.example", "role": "admin"}),
    )
    .await;
    let token = mailer.last_token_for("mia@keys.example").unwrap();
    let (_, joined) = app
        .call(
            reqwest::Method::POST,
            "/v1/auth/accept-invitation",
            None,
            Some(
                json!({"token": token, "display_name": "Mia", "password": "mia's long passphrase"}),
            ),
        )
        .await;
    let mia = str_of(&joined["access_token"]);
    let (_, created) = app
        .post(
            "/v1/api-keys",
            &mia,
            json!({"name": "Mia's bot", "role": "member"}),
        )
        .await;
    let key = str_of(&created["key"]);

    // A key touches nothing of its creator's account, and makes no keys.
    for (path, body) in [
        ("/v1/auth/2fa/enroll", json!({})),
        ("/v1/auth/logout-all", json!({})),
        (
            "/v1/me/password",
            json!({"current_password": "mia's long passphrase", "new_password": "taken over passphrase"}),
        ),
        ("/v1/api-keys", json!({"name": "child", "role": "member"})),
    ] {
        assert_eq!(
            app.post(path, &key, body).await.0,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    assert_eq!(
        app.get("/v1/auth/sessions", &key).await.0,
        StatusCode::FORBIDDEN
    );

    // A member-role key owns what it makes, and only that.
    let (_, own) = app
        .post("/v1/contacts", &key, json!({"first_name": "Bot-made"}))
        .await;
    assert_eq!(
        app.patch(
            &format!("/v1/contacts/{}", str_of(&own["id"])),
            &key,
            json!({"job_title": "x"})
        )
        .await
        .0,
        StatusCode::OK
    );
    let (_, theirs) = app
        .post("/v1/contacts", &mia, json!({"first_name": "Mia-made"}))
        .await;
    assert_eq!(
        app.patch(
            &format!("/v1/contacts/{}", str_of(&theirs["id"])),
            &key,
            json!({"job_title": "x"})
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );

    // When Mia is deactivated her key stops too.
    let mia_id = str_of(&joined["session_id"]);
    let _ = mia_id;
    let (_, users) = app.get("/v1/users", &a.token).await;
    let mia_user = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "mia@keys.example")
        .map(|u| str_of(&u["id"]))
        .unwrap();
    assert_eq!(
        app.post(
            &format!("/v1/users/{mia_user}/deactivate"),
            &a.token,
            json!({})
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/v1/contacts", &key).await.0,
        StatusCode::UNAUTHORIZED
    );
}
