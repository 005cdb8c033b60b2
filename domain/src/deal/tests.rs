use chrono::{TimeZone, Utc};
use cqrs_es::test::TestFramework;
use rust_decimal::Decimal;

use super::*;
use crate::Currency;

type Given = TestFramework<Deal>;

fn cur(code: &str) -> Currency {
    Currency::from_code(code).unwrap_or_else(|e| panic!("{e}"))
}

struct Ids {
    pipeline: EntityId,
    open: EntityId,
    open2: EntityId,
    won: EntityId,
    lost: EntityId,
}

fn ids() -> Ids {
    Ids {
        pipeline: EntityId::new(),
        open: EntityId::new(),
        open2: EntityId::new(),
        won: EntityId::new(),
        lost: EntityId::new(),
    }
}

fn at(ids: &Ids, stage: EntityId) -> StageRef {
    let kind = if stage == ids.won {
        StageKind::Won
    } else if stage == ids.lost {
        StageKind::Lost
    } else {
        StageKind::Open
    };
    StageRef {
        pipeline_id: ids.pipeline,
        stage_id: stage,
        kind,
    }
}

fn input(ids: &Ids) -> DealInput {
    DealInput {
        name: "Big order".into(),
        amount: Some(Money::new(1_000_000, cur("EUR"))),
        stage: Some(at(ids, ids.open)),
        ..DealInput::default()
    }
}

fn created(ids: &Ids) -> DealEvent {
    DealEvent::DealCreated(DealFields {
        name: "Big order".into(),
        amount: Some(Money::new(1_000_000, cur("EUR"))),
        pipeline_id: ids.pipeline,
        stage_id: ids.open,
        ..Default::default()
    })
}

fn when_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

fn won(ids: &Ids) -> DealEvent {
    DealEvent::DealWon {
        pipeline_id: ids.pipeline,
        stage_id: ids.won,
        reason: None,
        closed_at: when_time(),
    }
}

fn lost(ids: &Ids) -> DealEvent {
    DealEvent::DealLost {
        pipeline_id: ids.pipeline,
        stage_id: ids.lost,
        reason: "price".into(),
        closed_at: when_time(),
    }
}

/// Asserts that creating a deal from `input` is refused at `stage_id`.
fn refused_at_stage(input: DealInput) {
    let r = Given::with(())
        .given_no_previous_events()
        .when(DealCommand::Create(input).into())
        .inspect_result();
    assert!(
        matches!(
            r,
            Err(DomainError::Invalid {
                field: "stage_id",
                ..
            })
        ),
        "{r:?}"
    );
}

#[test]
fn a_deal_starts_in_an_open_stage() {
    let ids = ids();
    Given::with(())
        .given_no_previous_events()
        .when(DealCommand::Create(input(&ids)).into())
        .then_expect_events(vec![created(&ids)]);
    let mut in_won = input(&ids);
    in_won.stage = Some(at(&ids, ids.won));
    refused_at_stage(in_won);
}

#[test]
fn a_create_without_a_resolved_stage_is_refused() {
    let ids = ids();
    let mut unresolved = input(&ids);
    unresolved.stage = None;
    unresolved.stage_id = Some(ids.open);
    refused_at_stage(unresolved);
}

#[test]
fn bad_fields_are_refused_and_contacts_deduplicated() {
    let ids = ids();
    let mut negative = input(&ids);
    negative.amount = Some(Money::new(-1, cur("EUR")));
    let r = Given::with(())
        .given_no_previous_events()
        .when(DealCommand::Create(negative).into())
        .inspect_result();
    assert!(matches!(
        r,
        Err(DomainError::Invalid {
            field: "amount",
            ..
        })
    ));
    let mut nameless = input(&ids);
    nameless.name = " ".into();
    let r = Given::with(())
        .given_no_previous_events()
        .when(DealCommand::Create(nameless).into())
        .inspect_result();
    assert!(matches!(r, Err(DomainError::Invalid { field: "name", .. })));
    let c = EntityId::new();
    let mut twice = input(&ids);
    twice.contact_ids = vec![c, c];
    let events = Given::with(())
        .given_no_previous_events()
        .when(DealCommand::Create(twice).into())
        .inspect_result();
    assert!(
        matches!(events.as_deref(), Ok([DealEvent::DealCreated(f)]) if f.contact_ids == vec![c])
    );
}

#[test]
fn an_open_deal_moves_between_open_stages_only() {
    let ids = ids();
    Given::with(())
        .given(vec![created(&ids)])
        .when(DealCommand::MoveStage(at(&ids, ids.open2)).into())
        .then_expect_events(vec![DealEvent::DealStageChanged {
            pipeline_id: ids.pipeline,
            stage_id: ids.open2,
        }]);
    let r = Given::with(())
        .given(vec![created(&ids)])
        .when(DealCommand::MoveStage(at(&ids, ids.won)).into())
        .inspect_result();
    assert!(matches!(
        r,
        Err(DomainError::Invalid {
            field: "stage_id",
            ..
        })
    ));
    Given::with(())
        .given(vec![created(&ids)])
        .when(DealCommand::MoveStage(at(&ids, ids.open)).into())
        .then_expect_events(vec![]);
}

#[test]
fn a_lost_deal_cannot_move_until_reopened() {
    let ids = ids();
    let r = Given::with(())
        .given(vec![created(&ids), lost(&ids)])
        .when(DealCommand::MoveStage(at(&ids, ids.open2)).into())
        .inspect_result();
    assert!(matches!(r, Err(DomainError::Conflict(_))), "{r:?}");
    Given::with(())
        .given(vec![created(&ids), lost(&ids)])
        .when(DealCommand::Reopen(at(&ids, ids.open2)).into())
        .then_expect_events(vec![DealEvent::DealReopened {
            pipeline_id: ids.pipeline,
            stage_id: ids.open2,
        }]);
    Given::with(())
        .given(vec![
            created(&ids),
            lost(&ids),
            DealEvent::DealReopened {
                pipeline_id: ids.pipeline,
                stage_id: ids.open2,
            },
        ])
        .when(DealCommand::MoveStage(at(&ids, ids.open)).into())
        .then_expect_events(vec![DealEvent::DealStageChanged {
            pipeline_id: ids.pipeline,
            stage_id: ids.open,
        }]);
}

#[test]
fn winning_and_losing_need_the_right_stage_and_losing_a_reason() {
    let ids = ids();
    Given::with(())
        .given(vec![created(&ids)])
        .when(
            DealCommand::Win {
                stage: at(&ids, ids.won),
                reason: None,
                at: when_time(),
            }
            .into(),
        )
        .then_expect_events(vec![won(&ids)]);
    let r = Given::with(())
        .given(vec![created(&ids)])
        .when(
            DealCommand::Win {
                stage: at(&ids, ids.lost),
                reason: None,
                at: when_time(),
            }
            .into(),
        )
        .inspect_result();
    assert!(matches!(
        r,
        Err(DomainError::Invalid {
            field: "stage_id",
            ..
        })
    ));
    let r = Given::with(())
        .given(vec![created(&ids)])
        .when(
            DealCommand::Lose {
                stage: at(&ids, ids.lost),
                reason: "  ".into(),
                at: when_time(),
            }
            .into(),
        )
        .inspect_result();
    assert!(matches!(
        r,
        Err(DomainError::Invalid {
            field: "reason",
            ..
        })
    ));
    Given::with(())
        .given(vec![created(&ids)])
        .when(
            DealCommand::Lose {
                stage: at(&ids, ids.lost),
                reason: "price".into(),
                at: when_time(),
            }
            .into(),
        )
        .then_expect_events(vec![lost(&ids)]);
}

#[test]
fn a_closed_deal_keeps_its_closing_time() {
    let ids = ids();
    let later = when_time() + chrono::Duration::days(3);
    let r = Given::with(())
        .given(vec![created(&ids), won(&ids)])
        .when(
            DealCommand::Win {
                stage: at(&ids, ids.won),
                reason: None,
                at: later,
            }
            .into(),
        )
        .inspect_result();
    assert!(
        matches!(r, Err(DomainError::Conflict(_))),
        "winning twice would move the closing time: {r:?}"
    );
    let r = Given::with(())
        .given(vec![created(&ids), won(&ids)])
        .when(
            DealCommand::Lose {
                stage: at(&ids, ids.lost),
                reason: "x".into(),
                at: later,
            }
            .into(),
        )
        .inspect_result();
    assert!(matches!(r, Err(DomainError::Conflict(_))));
    // Editing a won deal changes its fields, not its closing.
    Given::with(())
        .given(vec![created(&ids), won(&ids)])
        .when(
            DealCommand::Update(DealPatch {
                name: Some("Renamed".into()),
                ..Default::default()
            })
            .into(),
        )
        .then_expect_events(vec![DealEvent::DealUpdated(DealChanges {
            name: Some("Renamed".into()),
            ..Default::default()
        })]);
    let r = Given::with(())
        .given(vec![created(&ids)])
        .when(DealCommand::Reopen(at(&ids, ids.open)).into())
        .inspect_result();
    assert!(
        matches!(r, Err(DomainError::Conflict(_))),
        "an open deal cannot be reopened"
    );
}

fn line(product: &str, qty: i64, unit: i64, code: &str, discount: Decimal) -> LineItemInput {
    LineItemInput {
        product: product.into(),
        quantity: qty,
        unit_price: Money::new(unit, cur(code)),
        discount_percent: discount,
    }
}

#[test]
fn line_items_make_the_amount_rounding_half_even() {
    let ids = ids();
    // 3 × 0.25 EUR at 50 % = 37.5 cents -> 38 (half to even); 1 × 1.01 at 50 % = 50.5 -> 50.
    let items = vec![
        line("Widget", 3, 25, "EUR", Decimal::from(50)),
        line("Gadget", 1, 101, "EUR", Decimal::from(50)),
    ];
    let events = Given::with(())
        .given(vec![created(&ids)])
        .when(DealCommand::SetLineItems(items).into())
        .inspect_result();
    let Ok([DealEvent::DealLineItemsSet { items, amount }]) = events.as_deref() else {
        panic!("{events:?}")
    };
    assert_eq!(
        items
            .iter()
            .map(|i| i.total.amount_minor)
            .collect::<Vec<_>>(),
        vec![38, 50]
    );
    assert_eq!(*amount, Some(Money::new(88, cur("EUR"))));
    // JPY has no minor unit: 3 × ¥333 at 10 % = 899.1 -> 899.
    let events = Given::with(())
        .given(vec![created(&ids)])
        .when(DealCommand::SetLineItems(vec![line("Tea", 3, 333, "JPY", Decimal::from(10))]).into())
        .inspect_result();
    assert!(
        matches!(events.as_deref(), Ok([DealEvent::DealLineItemsSet { amount: Some(m), .. }]) if *m == Money::new(899, cur("JPY")))
    );
}

#[test]
fn line_items_refuse_mixed_currencies_and_overflow() {
    let ids = ids();
    let mixed = vec![
        line("A", 1, 100, "EUR", Decimal::ZERO),
        line("B", 1, 100, "USD", Decimal::ZERO),
    ];
    let r = Given::with(())
        .given(vec![created(&ids)])
        .when(DealCommand::SetLineItems(mixed).into())
        .inspect_result();
    assert!(
        matches!(r, Err(DomainError::Invalid { field: "items", .. })),
        "{r:?}"
    );
    let huge = vec![line(
        "A",
        1_000_000_000,
        i64::MAX / 1000,
        "EUR",
        Decimal::ZERO,
    )];
    let r = Given::with(())
        .given(vec![created(&ids)])
        .when(DealCommand::SetLineItems(huge).into())
        .inspect_result();
    assert!(
        matches!(r, Err(DomainError::Invalid { field: "total", .. })),
        "{r:?}"
    );
    let sum_overflow = vec![
        line("A", 1, i64::MAX, "EUR", Decimal::ZERO),
        line("B", 1, 1, "EUR", Decimal::ZERO),
    ];
    let r = Given::with(())
        .given(vec![created(&ids)])
        .when(DealCommand::SetLineItems(sum_overflow).into())
        .inspect_result();
    assert!(
        matches!(r, Err(DomainError::Invalid { field: "total", .. })),
        "{r:?}"
    );
    for bad in [
        line("A", 0, 1, "EUR", Decimal::ZERO),
        line("A", 1, -1, "EUR", Decimal::ZERO),
        line("A", 1, 1, "EUR", Decimal::from(101)),
        line(" ", 1, 1, "EUR", Decimal::ZERO),
    ] {
        let r = Given::with(())
            .given(vec![created(&ids)])
            .when(DealCommand::SetLineItems(vec![bad.clone()]).into())
            .inspect_result();
        assert!(matches!(r, Err(DomainError::Invalid { .. })), "{bad:?}");
    }
}

#[test]
fn with_line_items_the_amount_is_not_set_by_hand() {
    let ids = ids();
    let (items, sum) =
        price_lines(vec![line("A", 2, 500, "EUR", Decimal::ZERO)]).unwrap_or_default();
    let set = DealEvent::DealLineItemsSet { items, amount: sum };
    let r = Given::with(())
        .given(vec![created(&ids), set.clone()])
        .when(
            DealCommand::Update(DealPatch {
                amount: Some(Some(Money::new(5, cur("EUR")))),
                ..Default::default()
            })
            .into(),
        )
        .inspect_result();
    assert!(matches!(
        r,
        Err(DomainError::Invalid {
            field: "amount",
            ..
        })
    ));
    // Removing every line keeps the amount, which becomes editable again.
    Given::with(())
        .given(vec![created(&ids), set])
        .when(DealCommand::SetLineItems(vec![]).into())
        .then_expect_events(vec![DealEvent::DealLineItemsSet {
            items: vec![],
            amount: Some(Money::new(1_000, cur("EUR"))),
        }]);
}

#[test]
fn deleted_deals_and_stale_versions_are_refused() {
    let ids = ids();
    Given::with(())
        .given(vec![created(&ids), DealEvent::DealDeleted])
        .when(DealCommand::MoveStage(at(&ids, ids.open2)).into())
        .then_expect_error(DomainError::Deleted);
    Given::with(())
        .given(vec![created(&ids), DealEvent::DealDeleted])
        .when(DealCommand::Restore.into())
        .then_expect_events(vec![DealEvent::DealRestored]);
    Given::with(())
        .given(vec![created(&ids)])
        .when(DealCommand::Restore.into())
        .then_expect_error(DomainError::NotDeleted);
    Given::with(())
        .given(vec![created(&ids)])
        .when(Guarded::at(0, DealCommand::Delete))
        .then_expect_error(DomainError::StaleVersion {
            expected: 0,
            current: 1,
        });
    Given::with(())
        .given_no_previous_events()
        .when(DealCommand::Delete.into())
        .then_expect_error(DomainError::NotFound);
}
