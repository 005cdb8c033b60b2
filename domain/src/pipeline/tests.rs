use cqrs_es::test::TestFramework;
use rust_decimal::Decimal;

use super::*;

type Given = TestFramework<Pipeline>;

fn stage(name: &str, p: i64, kind: StageKind) -> StageInput {
    StageInput {
        id: EntityId::new(),
        name: name.into(),
        probability: Decimal::from(p),
        kind,
    }
}

fn created(stages: &[StageInput]) -> PipelineEvent {
    PipelineEvent::PipelineCreated {
        name: "Sales".into(),
        stages: stages
            .iter()
            .map(|s| Stage {
                id: s.id,
                name: s.name.clone(),
                probability: s.probability,
                kind: s.kind,
            })
            .collect(),
    }
}

fn basic() -> Vec<StageInput> {
    vec![
        stage("Lead", 10, StageKind::Open),
        stage("Won", 100, StageKind::Won),
        stage("Lost", 0, StageKind::Lost),
    ]
}

#[test]
fn create_needs_every_kind_and_unique_names() {
    let stages = basic();
    Given::with(())
        .given_no_previous_events()
        .when(
            PipelineCommand::Create {
                name: "Sales".into(),
                stages: stages.clone(),
            }
            .into(),
        )
        .then_expect_events(vec![created(&stages)]);
    let no_lost = vec![
        stage("Lead", 10, StageKind::Open),
        stage("Won", 100, StageKind::Won),
    ];
    let r = Given::with(())
        .given_no_previous_events()
        .when(
            PipelineCommand::Create {
                name: "S".into(),
                stages: no_lost,
            }
            .into(),
        )
        .inspect_result();
    assert!(
        matches!(
            r,
            Err(DomainError::Invalid {
                field: "stages",
                ..
            })
        ),
        "{r:?}"
    );
    let twins = vec![
        stage("Lead", 10, StageKind::Open),
        stage("lead", 20, StageKind::Open),
        stage("W", 100, StageKind::Won),
        stage("L", 0, StageKind::Lost),
    ];
    let r = Given::with(())
        .given_no_previous_events()
        .when(
            PipelineCommand::Create {
                name: "S".into(),
                stages: twins,
            }
            .into(),
        )
        .inspect_result();
    assert!(
        matches!(r, Err(DomainError::Invalid { field: "name", .. })),
        "{r:?}"
    );
}

#[test]
fn probability_is_a_percentage() {
    for bad in [
        Decimal::from(-1),
        Decimal::from(101),
        Decimal::new(10001, 2),
    ] {
        let mut stages = basic();
        stages[0].probability = bad;
        let r = Given::with(())
            .given_no_previous_events()
            .when(
                PipelineCommand::Create {
                    name: "S".into(),
                    stages,
                }
                .into(),
            )
            .inspect_result();
        assert!(
            matches!(
                r,
                Err(DomainError::Invalid {
                    field: "probability",
                    ..
                })
            ),
            "{bad}: {r:?}"
        );
    }
    assert_eq!(
        validate_probability(Decimal::new(3350, 2)),
        Ok(Decimal::new(335, 1))
    );
}

#[test]
fn stages_are_added_updated_and_reordered() {
    let stages = basic();
    let extra = stage("Demo", 50, StageKind::Open);
    Given::with(())
        .given(vec![created(&stages)])
        .when(
            PipelineCommand::AddStage {
                stage: extra.clone(),
                position: Some(1),
            }
            .into(),
        )
        .then_expect_events(vec![PipelineEvent::StageAdded {
            stage: Stage {
                id: extra.id,
                name: "Demo".into(),
                probability: Decimal::from(50),
                kind: StageKind::Open,
            },
            position: 1,
        }]);
    Given::with(())
        .given(vec![created(&stages)])
        .when(
            PipelineCommand::UpdateStage {
                stage_id: stages[0].id,
                name: Some("Lead".into()),
                probability: Some(Decimal::from(15)),
            }
            .into(),
        )
        .then_expect_events(vec![PipelineEvent::StageUpdated {
            stage_id: stages[0].id,
            name: None,
            probability: Some(Decimal::from(15)),
        }]);
    let order = vec![stages[2].id, stages[0].id, stages[1].id];
    Given::with(())
        .given(vec![created(&stages)])
        .when(
            PipelineCommand::ReorderStages {
                order: order.clone(),
            }
            .into(),
        )
        .then_expect_events(vec![PipelineEvent::StagesReordered { order }]);
    let partial = vec![stages[0].id, stages[1].id];
    let r = Given::with(())
        .given(vec![created(&stages)])
        .when(PipelineCommand::ReorderStages { order: partial }.into())
        .inspect_result();
    assert!(matches!(
        r,
        Err(DomainError::Invalid {
            field: "stage_ids",
            ..
        })
    ));
}

#[test]
fn a_stage_with_open_deals_cannot_be_retired() {
    let mut stages = basic();
    stages.push(stage("Demo", 50, StageKind::Open));
    let r = Given::with(())
        .given(vec![created(&stages)])
        .when(
            PipelineCommand::RetireStage {
                stage_id: stages[3].id,
                open_deals: 2,
            }
            .into(),
        )
        .inspect_result();
    assert!(matches!(r, Err(DomainError::Conflict(_))), "{r:?}");
    Given::with(())
        .given(vec![created(&stages)])
        .when(
            PipelineCommand::RetireStage {
                stage_id: stages[3].id,
                open_deals: 0,
            }
            .into(),
        )
        .then_expect_events(vec![PipelineEvent::StageRetired {
            stage_id: stages[3].id,
        }]);
}

#[test]
fn the_last_stage_of_a_kind_stays() {
    let stages = basic();
    let r = Given::with(())
        .given(vec![created(&stages)])
        .when(
            PipelineCommand::RetireStage {
                stage_id: stages[1].id,
                open_deals: 0,
            }
            .into(),
        )
        .inspect_result();
    assert!(matches!(r, Err(DomainError::Conflict(_))), "{r:?}");
}

#[test]
fn a_retired_stage_is_gone_from_order_and_updates() {
    let mut stages = basic();
    stages.push(stage("Demo", 50, StageKind::Open));
    let retired = PipelineEvent::StageRetired {
        stage_id: stages[3].id,
    };
    let r = Given::with(())
        .given(vec![created(&stages), retired.clone()])
        .when(
            PipelineCommand::UpdateStage {
                stage_id: stages[3].id,
                name: Some("X".into()),
                probability: None,
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
        .given(vec![created(&stages), retired])
        .when(
            PipelineCommand::AddStage {
                stage: stages[3].clone(),
                position: None,
            }
            .into(),
        )
        .inspect_result();
    assert_eq!(r, Err(DomainError::AlreadyExists));
}

#[test]
fn commands_on_a_missing_pipeline_are_not_found() {
    Given::with(())
        .given_no_previous_events()
        .when(PipelineCommand::Rename { name: "X".into() }.into())
        .then_expect_error(DomainError::NotFound);
}

#[test]
fn the_default_pipeline_is_valid() {
    let stages = default_stages();
    let r = Given::with(())
        .given_no_previous_events()
        .when(
            PipelineCommand::Create {
                name: "Sales".into(),
                stages,
            }
            .into(),
        )
        .inspect_result();
    assert!(r.is_ok(), "{r:?}");
}
