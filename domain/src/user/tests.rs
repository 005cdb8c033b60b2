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
