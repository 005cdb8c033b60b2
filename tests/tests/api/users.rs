//! Users: invitations, roles, deactivation, the last owner.

use std::sync::Arc;

use crm_app::clock::ManualClock;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crm_app::mailer::MemoryMailer;

use crate::helpers::{spawn_app, spawn_app_full, str_of, PASSWORD};

const NEW_PASSWORD: &str = "another long passphrase";

#[tokio::test]
async fn an_invitee_joins_once_and_roles_and_deactivation_take_effect_at_once() {
    let mailer = Arc::new(MemoryMailer::default());
    let app = spawn_app_full(
        |_| {},
        Arc::new(crm_app::clock::SystemClock),
        mailer.clone(),
    )
    .await;
    let a = app.signup("team").await;
    let (status, invited) = app
        .post(
            "/v1/users/invitations",
            &a.token,
            json!({"email": "Mia@Team.example", "role": "member"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invited}");
    assert_eq!(
        (
            invited["user"]["status"].as_str(),
            invited["user"]["email"].as_str()
        ),
        (Some("invited"), Some("mia@team.example"))
    );
    let mia = str_of(&invited["user"]["id"]);
    assert!(
        invited.get("invitation_token").is_none(),
        "the inviter saw the invitee's token"
    );
    let token = mailer.last_token_for("mia@team.example").unwrap();
    // Not a member until accepted: no sign-in.
    let login = |email: &'static str, password: &'static str| {
        app.call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
    };
    assert_eq!(
        login("mia@team.example", NEW_PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    let accept = |token: String| {
        app.call(
            Method::POST,
            "/v1/auth/accept-invitation",
            None,
            Some(json!({"token": token, "display_name": "Mia", "password": NEW_PASSWORD})),
        )
    };
    let (status, joined) = accept(token.clone()).await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert_eq!(
        accept(token).await.0,
        StatusCode::UNAUTHORIZED,
        "an invitation works once"
    );
    let member = str_of(&joined["access_token"]);
    let (_, me) = app.get("/v1/me", &member).await;
    assert_eq!(
        (
            me["user"]["role"].as_str(),
            me["user"]["display_name"].as_str()
        ),
        (Some("member"), Some("Mia"))
    );
    assert_eq!(
        app.post(
            "/v1/users/invitations",
            &member,
            json!({"email": "x@team.example", "role": "member"})
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );

    // Promotion ends Mia's sessions; her next sign-in carries the new role.
    let (status, promoted) = app
        .call(
            Method::PATCH,
            &format!("/v1/users/{mia}/role"),
            Some(&a.token),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(
        (status, promoted["role"].as_str()),
        (StatusCode::OK, Some("admin"))
    );
    assert_eq!(app.get("/v1/me", &member).await.0, StatusCode::UNAUTHORIZED);
    let (_, again) = login("mia@team.example", NEW_PASSWORD).await;
    let admin = str_of(&again["access_token"]);
    // An admin grants no role above her own, and touches no owner.
    assert_eq!(
        app.post(
            "/v1/users/invitations",
            &admin,
            json!({"email": "boss@team.example", "role": "owner"})
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post(
            &format!("/v1/users/{}/deactivate", a.owner),
            &admin,
            json!({})
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );

    // Deactivation ends her sessions at once and keeps her out; reactivation lets her in.
    let (status, off) = app
        .post(&format!("/v1/users/{mia}/deactivate"), &a.token, json!({}))
        .await;
    assert_eq!(
        (status, off["status"].as_str()),
        (StatusCode::OK, Some("deactivated"))
    );
    assert_eq!(app.get("/v1/me", &admin).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        login("mia@team.example", NEW_PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post(&format!("/v1/users/{mia}/reactivate"), &a.token, json!({}))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        login("mia@team.example", NEW_PASSWORD).await.0,
        StatusCode::OK
    );

    let (_, audit) = app.get("/v1/audit?limit=20", &a.token).await;
    let types: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["entity_id"] == json!(mia))
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    for t in [
        "UserInvited",
        "InvitationAccepted",
        "RoleChanged",
        "UserDeactivated",
        "UserReactivated",
        "LoginSucceeded",
    ] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }
}

#[tokio::test]
async fn the_last_owner_stays_and_other_workspaces_cannot_touch_users() {
    let app = spawn_app().await;
    let a = app.signup("owners").await;
    let b = app.signup("owners-b").await;
    let owner = a.owner.to_string();
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/v1/users/{owner}/role"),
            Some(&a.token),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        app.post(
            &format!("/v1/users/{owner}/deactivate"),
            &a.token,
            json!({})
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        app.get("/v1/me", &a.token).await.0,
        StatusCode::OK,
        "a refused change ended the session"
    );
    assert_eq!(
        app.call(
            Method::PATCH,
            &format!("/v1/users/{owner}/role"),
            Some(&b.token),
            Some(json!({"role": "member"}))
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post(
            &format!("/v1/users/{owner}/deactivate"),
            &b.token,
            json!({})
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let (_, list) = app.get("/v1/users", &b.token).await;
    assert!(list["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["id"] != json!(owner)));
    // An email with an account cannot be invited again, anywhere.
    assert_eq!(
        app.post(
            "/v1/users/invitations",
            &b.token,
            json!({"email": a.email, "role": "member"})
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
    let _ = PASSWORD;
}

#[tokio::test]
async fn an_invitation_expires_after_72_hours() {
    let clock = Arc::new(ManualClock::default());
    let mailer = Arc::new(MemoryMailer::default());
    let app = spawn_app_full(|_| {}, clock.clone(), mailer.clone()).await;
    let a = app.signup("expiry").await;
    let (status, _) = app
        .post(
            "/v1/users/invitations",
            &a.token,
            json!({"email": "late@expiry.example", "role": "read_only"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    clock.advance(chrono::Duration::hours(73));
    let (status, _) = app
        .call(Method::POST, "/v1/auth/accept-invitation", None, Some(json!({"token": mailer.last_token_for("late@expiry.example").unwrap(), "display_name": "Late", "password": NEW_PASSWORD})))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
