//! Users: invitations, roles, deactivation, the last owner.

use std::sync::Arc;

use crm_app::clock::ManualClock;
use crm_app::mailer::MemoryMailer;
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::client::{Response, Tokens};
use crate::helpers::{spawn_app, spawn_app_full, TestApp, Workspace};

const NEW_PASSWORD: &str = "another long passphrase";
const MIA: &str = "mia@team.example";

/// A server whose mail can be read back.
async fn app_with_mailer() -> (TestApp, Arc<MemoryMailer>) {
    let mailer = Arc::new(MemoryMailer::default());
    let app = spawn_app_full(
        |_| {},
        Arc::new(crm_app::clock::SystemClock),
        mailer.clone(),
    )
    .await;
    (app, mailer)
}

/// Mia invited as a member (her email written in capitals); answers her id.
async fn given_mia_invited(app: &TestApp, owner: &Workspace) -> Uuid {
    app.as_(owner)
        .users()
        .invite(&json!({"email": "Mia@Team.example", "role": "member"}))
        .await
        .expect(StatusCode::CREATED)
        .user
        .id
}

/// Accepts the invitation of `token` as Mia.
async fn accept(app: &TestApp, token: &str) -> Response<Tokens> {
    app.anonymous()
        .auth()
        .accept_invitation(
            &json!({"token": token, "display_name": "Mia", "password": NEW_PASSWORD}),
        )
        .await
}

/// Mia invited and joined; answers her id and her access token.
async fn given_mia_joined(
    app: &TestApp,
    owner: &Workspace,
    mailer: &MemoryMailer,
) -> (Uuid, String) {
    let mia = given_mia_invited(app, owner).await;
    let token = mailer.last_token_for(MIA).unwrap();
    let joined = accept(app, &token).await.expect(StatusCode::OK);
    (mia, joined.access_token)
}

async fn mia_signs_in(app: &TestApp) -> Response<Tokens> {
    app.anonymous().auth().login(MIA, NEW_PASSWORD).await
}

#[tokio::test]
async fn an_invitation_is_mailed_and_its_token_never_shown_to_the_inviter() {
    let (app, mailer) = app_with_mailer().await;
    let a = app.signup("team").await;

    let invited = app
        .as_(&a)
        .users()
        .invite(&json!({"email": "Mia@Team.example", "role": "member"}))
        .await
        .expect_status(StatusCode::CREATED);

    assert!(
        invited.json().get("invitation_token").is_none(),
        "the inviter saw the invitee's token"
    );
    let invitation = invited.expect(StatusCode::CREATED);
    assert_eq!(
        (
            invitation.user.status.as_str(),
            invitation.user.email.as_str()
        ),
        ("invited", MIA)
    );
    assert!(mailer.last_token_for(MIA).is_some());
}

#[tokio::test]
async fn an_invitee_signs_in_only_once_joined_and_joins_once() {
    let (app, mailer) = app_with_mailer().await;
    let a = app.signup("team-join").await;
    given_mia_invited(&app, &a).await;
    let token = mailer.last_token_for(MIA).unwrap();

    mia_signs_in(&app)
        .await
        .context("not a member until accepted")
        .expect_problem(StatusCode::UNAUTHORIZED);
    let joined = accept(&app, &token).await.expect(StatusCode::OK);
    accept(&app, &token)
        .await
        .context("an invitation works once")
        .expect_problem(StatusCode::UNAUTHORIZED);

    let me = app
        .as_(&joined.access_token)
        .me()
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (me.user.role.as_str(), me.user.display_name.as_str()),
        ("member", "Mia")
    );
}

#[tokio::test]
async fn a_member_cannot_invite() {
    let (app, mailer) = app_with_mailer().await;
    let a = app.signup("team-member").await;
    let (_, member) = given_mia_joined(&app, &a, &mailer).await;

    app.as_(&member)
        .users()
        .invite(&json!({"email": "x@team.example", "role": "member"}))
        .await
        .expect_problem(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_promotion_ends_the_sessions_and_the_next_sign_in_carries_the_new_role() {
    let (app, mailer) = app_with_mailer().await;
    let a = app.signup("team-promote").await;
    let (mia, member) = given_mia_joined(&app, &a, &mailer).await;

    let promoted = app
        .as_(&a)
        .users()
        .set_role(mia, "admin")
        .await
        .expect(StatusCode::OK);

    assert_eq!(promoted.role, "admin");
    app.as_(&member)
        .me()
        .await
        .expect_problem(StatusCode::UNAUTHORIZED);
    let again = mia_signs_in(&app).await.expect(StatusCode::OK);
    let me = app
        .as_(&again.access_token)
        .me()
        .await
        .expect(StatusCode::OK);
    assert_eq!(me.user.role, "admin");
}

#[tokio::test]
async fn an_admin_grants_no_role_above_her_own_and_touches_no_owner() {
    let (app, mailer) = app_with_mailer().await;
    let a = app.signup("team-admin").await;
    let (mia, _) = given_mia_joined(&app, &a, &mailer).await;
    app.as_(&a)
        .users()
        .set_role(mia, "admin")
        .await
        .expect(StatusCode::OK);
    let admin = mia_signs_in(&app).await.expect(StatusCode::OK).access_token;
    let as_admin = app.as_(&admin);

    as_admin
        .users()
        .invite(&json!({"email": "boss@team.example", "role": "owner"}))
        .await
        .expect_problem(StatusCode::FORBIDDEN);
    as_admin
        .users()
        .deactivate(a.owner)
        .await
        .expect_problem(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn deactivation_ends_the_sessions_at_once_and_keeps_out_until_reactivation() {
    let (app, mailer) = app_with_mailer().await;
    let a = app.signup("team-off").await;
    let (mia, member) = given_mia_joined(&app, &a, &mailer).await;
    let crm = app.as_(&a);
    let users = crm.users();

    let off = users.deactivate(mia).await.expect(StatusCode::OK);

    assert_eq!(off.status, "deactivated");
    app.as_(&member)
        .me()
        .await
        .expect_problem(StatusCode::UNAUTHORIZED);
    mia_signs_in(&app)
        .await
        .expect_problem(StatusCode::UNAUTHORIZED);
    users.reactivate(mia).await.expect(StatusCode::OK);
    mia_signs_in(&app).await.expect(StatusCode::OK);
}

#[tokio::test]
async fn a_users_joining_role_changes_and_deactivation_are_in_the_trail() {
    let (app, mailer) = app_with_mailer().await;
    let a = app.signup("team-trail").await;
    let (mia, _) = given_mia_joined(&app, &a, &mailer).await;
    let crm = app.as_(&a);
    let users = crm.users();
    users.set_role(mia, "admin").await.expect(StatusCode::OK);
    users.deactivate(mia).await.expect(StatusCode::OK);
    users.reactivate(mia).await.expect(StatusCode::OK);
    mia_signs_in(&app).await.expect(StatusCode::OK);

    let audit = crm.audit("limit=20").await.expect(StatusCode::OK);

    let types: Vec<&str> = audit
        .items
        .iter()
        .filter(|e| e.entity_id == mia.to_string())
        .map(|e| e.event_type.as_str())
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
async fn the_last_owner_is_neither_demoted_nor_deactivated() {
    let app = spawn_app().await;
    let a = app.signup("owners").await;
    let crm = app.as_(&a);

    crm.users()
        .set_role(a.owner, "admin")
        .await
        .expect_problem(StatusCode::CONFLICT);
    crm.users()
        .deactivate(a.owner)
        .await
        .expect_problem(StatusCode::CONFLICT);

    crm.me()
        .await
        .context("a refused change ended the session")
        .expect(StatusCode::OK);
}

#[tokio::test]
async fn another_workspace_cannot_touch_or_list_our_users() {
    let app = spawn_app().await;
    let a = app.signup("owners-a").await;
    let b = app.signup("owners-b").await;
    let as_b = app.as_(&b);

    as_b.users()
        .set_role(a.owner, "member")
        .await
        .expect_problem(StatusCode::NOT_FOUND);
    as_b.users()
        .deactivate(a.owner)
        .await
        .expect_problem(StatusCode::NOT_FOUND);
    let list = as_b.users().list().await.expect(StatusCode::OK);
    assert!(list.items.iter().all(|u| u.id != a.owner), "{list:?}");
}

#[tokio::test]
async fn an_email_with_an_account_cannot_be_invited_again_anywhere() {
    let app = spawn_app().await;
    let a = app.signup("owners-email").await;
    let b = app.signup("owners-email-b").await;

    app.as_(&b)
        .users()
        .invite(&json!({"email": a.email, "role": "member"}))
        .await
        .expect_problem(StatusCode::CONFLICT);
}

#[tokio::test]
async fn an_invitation_expires_after_72_hours() {
    let clock = Arc::new(ManualClock::default());
    let mailer = Arc::new(MemoryMailer::default());
    let app = spawn_app_full(|_| {}, clock.clone(), mailer.clone()).await;
    let a = app.signup("expiry").await;
    app.as_(&a)
        .users()
        .invite(&json!({"email": "late@expiry.example", "role": "read_only"}))
        .await
        .expect(StatusCode::CREATED);

    clock.advance(chrono::Duration::hours(73));

    app.anonymous()
        .auth()
        .accept_invitation(&json!({"token": mailer.last_token_for("late@expiry.example").unwrap(), "display_name": "Late", "password": NEW_PASSWORD}))
        .await
        .expect_problem(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_acceptance_that_fails_at_its_commit_leaves_the_invitation_usable() {
    let (app, mailer) = app_with_mailer().await;
    let a = app.signup("team-fault").await;
    given_mia_invited(&app, &a).await;
    let token = mailer.last_token_for(MIA).unwrap();
    // A fault at the commit, after the token was spent, the password set and the
    // acceptance appended, all in one transaction.
    let owner = app.pool_as(None).await;
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'the commit fails' USING ERRCODE = 'P0001'; END $$;
         CREATE CONSTRAINT TRIGGER refuse_commit AFTER INSERT ON events
           DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
           WHEN (NEW.event_type = 'InvitationAccepted') EXECUTE FUNCTION refuse_commit();",
    )
    .execute(&owner)
    .await
    .unwrap_or_else(|e| panic!("installing the fault: {e}"));
    accept(&app, &token)
        .await
        .context("the commit fails")
        .expect_problem(StatusCode::INTERNAL_SERVER_ERROR);
    mia_signs_in(&app)
        .await
        .context("nothing of the failed acceptance stands")
        .expect_problem(StatusCode::UNAUTHORIZED);

    sqlx::query("DROP TRIGGER refuse_commit ON events")
        .execute(&owner)
        .await
        .unwrap_or_else(|e| panic!("removing the fault: {e}"));
    let joined = accept(&app, &token)
        .await
        .context("the token was not spent by the failed attempt")
        .expect(StatusCode::OK);
    let signed_in = mia_signs_in(&app)
        .await
        .context("joined")
        .expect(StatusCode::OK);
    assert_ne!(
        signed_in.session_id, joined.session_id,
        "a sign-in opens its own session"
    );
    let me = app
        .as_(&signed_in.access_token)
        .me()
        .await
        .expect(StatusCode::OK);
    assert_eq!(me.user.display_name, "Mia");
}
