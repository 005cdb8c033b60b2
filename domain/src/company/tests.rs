use cqrs_es::test::TestFramework;
use rust_decimal::Decimal;

use super::*;
use crate::Guarded;

type Given = TestFramework<Company>;

fn usd() -> Currency {
    Currency::from_code("USD").unwrap_or_else(|e| panic!("{e}"))
}

fn input() -> CompanyInput {
    CompanyInput {
        name: "Ericsson".into(),
        domain: Some("https://www.Ericsson.com/en".into()),
        industry: Some("Telecommunications".into()),
        country: Some("Sweden".into()),
        currency: Some("sek".into()),
        employee_count: Some(94_000),
        annual_revenue: Some(Amount::Major {
            amount: Decimal::new(2417, 2) * Decimal::from(1_000_000_000),
            currency: usd(),
        }),
        annual_revenue_text: None,
        tags: vec![],
        custom: Default::default(),
    }
}

fn created() -> CompanyEvent {
    let fields = CompanyFields::validate(input()).unwrap_or_else(|e| panic!("{e}"));
    CompanyEvent::CompanyCreated(fields)
}

#[test]
fn create_normalises_and_converts_major_units_exactly() {
    let CompanyEvent::CompanyCreated(fields) = created() else {
        panic!("not a create")
    };
    assert_eq!(fields.domain.map(String::from), Some("ericsson.com".into()));
    assert_eq!(fields.currency.map(Currency::code), Some("SEK"));
    assert_eq!(
        fields.annual_revenue,
        Some(Money::new(2_417_000_000_000, usd()))
    );
    Given::with(())
        .given_no_previous_events()
        .when(CompanyCommand::Create(input()).into())
        .then_expect_events(vec![created()]);
}

#[test]
fn create_of_existing_company_is_refused() {
    Given::with(())
        .given(vec![created()])
        .when(CompanyCommand::Create(input()).into())
        .then_expect_error(DomainError::AlreadyExists);
}

#[test]
fn amount_overflow_is_refused() {
    let mut big = input();
    big.annual_revenue = Some(Amount::Major {
        amount: Decimal::from(100_000_000_000_000_000_i64),
        currency: usd(),
    });
    let result = Given::with(())
        .given_no_previous_events()
        .when(CompanyCommand::Create(big).into())
        .inspect_result();
    assert!(
        matches!(
            result,
            Err(DomainError::Invalid {
                field: "annual_revenue",
                ..
            })
        ),
        "{result:?}"
    );
}

#[test]
fn fractional_minor_units_are_refused() {
    let mut odd = input();
    odd.annual_revenue = Some(Amount::Major {
        amount: Decimal::new(1005, 3),
        currency: usd(),
    });
    let result = Given::with(())
        .given_no_previous_events()
        .when(CompanyCommand::Create(odd).into())
        .inspect_result();
    assert!(matches!(
        result,
        Err(DomainError::Invalid {
            field: "annual_revenue",
            ..
        })
    ));
}

#[test]
fn negative_counts_and_bad_fields_are_refused() {
    let cases: Vec<(&str, CompanyInput)> = vec![
        (
            "employee_count",
            CompanyInput {
                employee_count: Some(-1),
                ..input()
            },
        ),
        (
            "annual_revenue",
            CompanyInput {
                annual_revenue: Some(Amount::Minor(Money::new(-5, usd()))),
                ..input()
            },
        ),
        (
            "currency",
            CompanyInput {
                currency: Some("EURO".into()),
                ..input()
            },
        ),
        (
            "domain",
            CompanyInput {
                domain: Some("not a domain".into()),
                ..input()
            },
        ),
        (
            "name",
            CompanyInput {
                name: " ".into(),
                ..input()
            },
        ),
    ];
    for (field, bad) in cases {
        let result = Given::with(())
            .given_no_previous_events()
            .when(CompanyCommand::Create(bad).into())
            .inspect_result();
        assert!(
            matches!(result, Err(DomainError::Invalid { field: f, .. }) if f == field),
            "{field}: {result:?}"
        );
    }
}

#[test]
fn update_records_only_what_changed() {
    let patch = CompanyPatch {
        name: Some("Ericsson AB".into()),
        country: Some(Some("Sweden".into())),
        industry: Some(None),
        ..Default::default()
    };
    Given::with(())
        .given(vec![created()])
        .when(CompanyCommand::Update(patch).into())
        .then_expect_events(vec![CompanyEvent::CompanyUpdated(CompanyChanges {
            name: Some("Ericsson AB".into()),
            industry: Some(None),
            ..Default::default()
        })]);
}

#[test]
fn update_that_changes_nothing_records_nothing() {
    let patch = CompanyPatch {
        name: Some("Ericsson".into()),
        ..Default::default()
    };
    Given::with(())
        .given(vec![created()])
        .when(CompanyCommand::Update(patch).into())
        .then_expect_events(vec![]);
}

#[test]
fn update_of_deleted_company_is_refused() {
    let patch = CompanyPatch {
        name: Some("X".into()),
        ..Default::default()
    };
    Given::with(())
        .given(vec![created(), CompanyEvent::CompanyDeleted])
        .when(CompanyCommand::Update(patch).into())
        .then_expect_error(DomainError::Deleted);
}

#[test]
fn update_of_missing_company_is_not_found() {
    Given::with(())
        .given_no_previous_events()
        .when(CompanyCommand::Update(CompanyPatch::default()).into())
        .then_expect_error(DomainError::NotFound);
}

#[test]
fn delete_then_restore() {
    Given::with(())
        .given(vec![created()])
        .when(CompanyCommand::Delete.into())
        .then_expect_events(vec![CompanyEvent::CompanyDeleted]);
    Given::with(())
        .given(vec![created(), CompanyEvent::CompanyDeleted])
        .when(CompanyCommand::Restore.into())
        .then_expect_events(vec![CompanyEvent::CompanyRestored]);
}

#[test]
fn delete_of_deleted_and_restore_of_live_are_refused() {
    Given::with(())
        .given(vec![created(), CompanyEvent::CompanyDeleted])
        .when(CompanyCommand::Delete.into())
        .then_expect_error(DomainError::Deleted);
    Given::with(())
        .given(vec![created()])
        .when(CompanyCommand::Restore.into())
        .then_expect_error(DomainError::NotDeleted);
    Given::with(())
        .given_no_previous_events()
        .when(CompanyCommand::Restore.into())
        .then_expect_error(DomainError::NotFound);
}

#[test]
fn changes_serialise_only_changed_fields_and_null_for_cleared() {
    let changes = CompanyChanges {
        name: Some("A".into()),
        industry: Some(None),
        ..Default::default()
    };
    let json = serde_json::to_value(&changes).unwrap_or_default();
    assert_eq!(json, serde_json::json!({"name": "A", "industry": null}));
    let back: CompanyChanges = serde_json::from_value(json).unwrap_or_default();
    assert_eq!(back, changes);
}

#[test]
fn a_stale_version_is_refused_and_the_current_one_accepted() {
    let renamed = CompanyEvent::CompanyUpdated(CompanyChanges {
        name: Some("Ericsson AB".into()),
        ..Default::default()
    });
    let patch = || CompanyPatch {
        industry: Some(Some("Telecom".into())),
        ..Default::default()
    };
    Given::with(())
        .given(vec![created(), renamed.clone()])
        .when(Guarded::at(1, CompanyCommand::Update(patch())))
        .then_expect_error(DomainError::StaleVersion {
            expected: 1,
            current: 2,
        });
    Given::with(())
        .given(vec![created(), renamed])
        .when(Guarded::at(2, CompanyCommand::Update(patch())))
        .then_expect_events(vec![CompanyEvent::CompanyUpdated(CompanyChanges {
            industry: Some(Some("Telecom".into())),
            ..Default::default()
        })]);
    Given::with(())
        .given(vec![created()])
        .when(Guarded::at(0, CompanyCommand::Delete))
        .then_expect_error(DomainError::StaleVersion {
            expected: 0,
            current: 1,
        });
}

#[test]
fn tags_are_normalised_and_only_changes_recorded() {
    let tagged = CompanyInput {
        tags: vec!["VIP".into(), " vip ".into(), "Partner".into()],
        ..input()
    };
    let events = Given::with(())
        .given_no_previous_events()
        .when(CompanyCommand::Create(tagged).into())
        .inspect_result();
    assert!(
        matches!(events.as_deref(), Ok([CompanyEvent::CompanyCreated(f)]) if f.tags == vec!["vip".to_owned(), "partner".to_owned()])
    );
    let patch = CompanyPatch {
        tags: Some(vec!["customer".into()]),
        ..Default::default()
    };
    Given::with(())
        .given(vec![created()])
        .when(CompanyCommand::Update(patch).into())
        .then_expect_events(vec![CompanyEvent::CompanyUpdated(CompanyChanges {
            tags: Some(vec!["customer".into()]),
            ..Default::default()
        })]);
    let bad = CompanyPatch {
        tags: Some(vec!["a,b".into()]),
        ..Default::default()
    };
    let r = Given::with(())
        .given(vec![created()])
        .when(CompanyCommand::Update(bad).into())
        .inspect_result();
    assert!(matches!(r, Err(DomainError::Invalid { field: "tags", .. })));
}

#[test]
fn a_guarded_command_on_an_empty_stream_is_not_found() {
    Given::with(())
        .given_no_previous_events()
        .when(Guarded::at(3, CompanyCommand::Delete))
        .then_expect_error(DomainError::NotFound);
}

mod custom_values {
    use super::*;
    use crate::fields::{CustomChanges, CustomInput};
    use serde_json::json;
    use uuid::Uuid;

    const TICKER: Uuid = Uuid::from_u128(7);
    const FOUNDED: Uuid = Uuid::from_u128(8);

    fn with(values: CustomChanges) -> CompanyInput {
        CompanyInput {
            custom: CustomInput::checked(values),
            ..input()
        }
    }

    fn created_with(values: CustomChanges) -> CompanyEvent {
        CompanyEvent::CompanyCreated(
            CompanyFields::validate(with(values)).unwrap_or_else(|e| panic!("{e}")),
        )
    }

    #[test]
    fn checked_values_ride_in_the_created_event_keyed_by_field_id() {
        let values: CustomChanges = [(TICKER, Some(json!("ERIC")))].into();
        let event = created_with(values);
        match &event {
            CompanyEvent::CompanyCreated(f) => {
                assert_eq!(f.custom.get(&TICKER), Some(&json!("ERIC")));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn values_not_checked_against_the_schema_are_refused() {
        let unchecked: CustomInput = match json!({"ticker": "ERIC"}) {
            serde_json::Value::Object(m) => m.into(),
            _ => unreachable!(),
        };
        Given::with(())
            .given_no_previous_events()
            .when(
                CompanyCommand::Create(CompanyInput {
                    custom: unchecked,
                    ..input()
                })
                .into(),
            )
            .then_expect_error(DomainError::invalid(
                "custom",
                "the values were not checked against the workspace's fields",
            ));
    }

    #[test]
    fn an_update_records_only_the_values_it_changes_and_clears() {
        let before: CustomChanges = [
            (TICKER, Some(json!("ERIC"))),
            (FOUNDED, Some(json!("1876-04-01"))),
        ]
        .into();
        let patch = CompanyPatch {
            custom: CustomInput::checked([(TICKER, Some(json!("ERIC"))), (FOUNDED, None)].into()),
            ..CompanyPatch::default()
        };
        Given::with(())
            .given(vec![created_with(before)])
            .when(CompanyCommand::Update(patch).into())
            .then_expect_events(vec![CompanyEvent::CompanyUpdated(CompanyChanges {
                custom: [(FOUNDED, None)].into(),
                ..CompanyChanges::default()
            })]);
    }
}
