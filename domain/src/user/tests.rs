use cqrs_es::test::TestFramework;

use super::*;

type Given = TestFramework<User>;

fn registered() -> UserEvent {
    UserEvent::UserRegistered {
        email: Email::parse("ada@example.com").unwrap_or_else(|e| panic!("{e}")),
        display_name: "Ada".into(),
        role: Role::Owner,
    }
}

#[test]
fn register_normalises_email() {
    Given::with(())
        .given_no_previous_events()
        .when(
            UserCommand::Register {
                email: " Ada@Example.com".into(),
                display_name: "Ada".into(),
                role: Role::Owner,
            }
            .into(),
        )
        .then_expect_events(vec![registered()]);
}

#[test]
fn register_with_invalid_email_is_refused() {
    let result = Given::with(())
        .given_no_previous_events()
        .when(
            UserCommand::Register {
                email: "ada-at-example".into(),
                display_name: "Ada".into(),
                role: Role::Owner,
            }
            .into(),
        )
        .inspect_result();
    assert!(matches!(
        result,
        Err(DomainError::Invalid { field: "email", .. })
    ));
}

#[test]
fn register_twice_is_refused() {
    Given::with(())
        .given(vec![registered()])
        .when(
            UserCommand::Register {
                email: "b@example.com".into(),
                display_name: "B".into(),
                role: Role::Member,
            }
            .into(),
        )
        .then_expect_error(DomainError::AlreadyExists);
}

#[test]
fn password_change_is_recorded_without_secret() {
    Given::with(())
        .given(vec![registered()])
        .when(UserCommand::RecordPasswordChange.into())
        .then_expect_events(vec![UserEvent::PasswordChanged]);
    let json = serde_json::to_string(&UserEvent::PasswordChanged).unwrap_or_default();
    assert_eq!(json, "\"PasswordChanged\"");
}

#[test]
fn password_change_of_unknown_user_is_not_found() {
    Given::with(())
        .given_no_previous_events()
        .when(UserCommand::RecordPasswordChange.into())
        .then_expect_error(DomainError::NotFound);
}

#[test]
fn sign_in_facts_are_recorded_without_secrets() {
    let session = EntityId::new();
    Given::with(())
        .given(vec![registered()])
        .when(
            UserCommand::RecordLogin {
                session_id: session,
            }
            .into(),
        )
        .then_expect_events(vec![UserEvent::LoginSucceeded {
            session_id: session,
        }]);
    Given::with(())
        .given(vec![registered()])
        .when(UserCommand::RecordLogout { session_id: None }.into())
        .then_expect_events(vec![UserEvent::LoggedOut { session_id: None }]);
    Given::with(())
        .given(vec![registered()])
        .when(
            UserCommand::RecordRefreshReuse {
                session_id: session,
            }
            .into(),
        )
        .then_expect_events(vec![UserEvent::RefreshTokenReuseDetected {
            session_id: session,
        }]);
    Given::with(())
        .given_no_previous_events()
        .when(UserCommand::RecordLoginFailure.into())
        .then_expect_error(DomainError::NotFound);
}

#[test]
fn the_last_owner_stays_an_active_owner() {
    Given::with(())
        .given(vec![registered()])
        .when(
            UserCommand::ChangeRole {
                role: Role::Admin,
                other_owners: 0,
            }
            .into(),
        )
        .then_expect_error(DomainError::Conflict(
            "the last owner cannot be demoted".into(),
        ));
    Given::with(())
        .given(vec![registered()])
        .when(UserCommand::Deactivate { other_owners: 0 }.into())
        .then_expect_error(DomainError::Conflict(
            "the last owner cannot be deactivated".into(),
        ));
    Given::with(())
        .given(vec![registered()])
        .when(
            UserCommand::ChangeRole {
                role: Role::Admin,
                other_owners: 1,
            }
            .into(),
        )
        .then_expect_events(vec![UserEvent::RoleChanged { role: Role::Admin }]);
}

#[test]
fn invitations_are_accepted_once_and_deactivation_is_reversible() {
    let invited = UserEvent::UserInvited {
        email: Email::parse("new@example.com").unwrap_or_else(|e| panic!("{e}")),
        role: Role::Member,
    };
    Given::with(())
        .given_no_previous_events()
        .when(
            UserCommand::Invite {
                email: "New@Example.com".into(),
                role: Role::Member,
            }
            .into(),
        )
        .then_expect_events(vec![invited.clone()]);
    let accepted = UserEvent::InvitationAccepted {
        display_name: "New".into(),
    };
    Given::with(())
        .given(vec![invited.clone()])
        .when(
            UserCommand::AcceptInvitation {
                display_name: "New".into(),
            }
            .into(),
        )
        .then_expect_events(vec![accepted.clone()]);
    let r = Given::with(())
        .given(vec![invited.clone(), accepted.clone()])
        .when(
            UserCommand::AcceptInvitation {
                display_name: "Again".into(),
            }
            .into(),
        )
        .inspect_result();
    assert!(matches!(r, Err(DomainError::Conflict(_))));
    Given::with(())
        .given(vec![invited.clone(), accepted.clone()])
        .when(UserCommand::Deactivate { other_owners: 0 }.into())
        .then_expect_events(vec![UserEvent::UserDeactivated]);
    Given::with(())
        .given(vec![invited, accepted, UserEvent::UserDeactivated])
        .when(UserCommand::Reactivate.into())
        .then_expect_events(vec![UserEvent::UserReactivated]);
    Given::with(())
        .given(vec![registered()])
        .when(UserCommand::Reactivate.into())
        .then_expect_error(DomainError::Conflict("the user is not deactivated".into()));
}
