//! The `Pipeline` aggregate: an ordered list of deal stages, each with a win probability
//! and a kind (open, won, lost).
//!
//! Rules: a pipeline always keeps at least one active stage of each kind, so every deal
//! can move, be won and be lost; stage names are unique among its active stages;
//! probabilities are percentages from 0 to 100; a stage that holds open deals cannot be
//! retired (the caller counts them; the deals are not this aggregate's state).

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::command::check_version;
use crate::{text, DomainError, EntityId, Guarded};

#[cfg(test)]
mod tests;

/// Longest pipeline or stage name, in characters.
pub const NAME_MAX: usize = 100;
/// Most stages a pipeline may have.
pub const MAX_STAGES: usize = 50;

/// What reaching a stage means for a deal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StageKind {
    /// Still being worked.
    Open,
    /// Closed and won.
    Won,
    /// Closed and lost.
    Lost,
}

impl StageKind {
    /// `open`, `won` or `lost`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Won => "won",
            Self::Lost => "lost",
        }
    }
}

/// A stage as a command gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageInput {
    /// The new stage's id (chosen by the caller, so it can be returned).
    pub id: EntityId,
    /// Name, 1 to 100 characters, unique in the pipeline.
    pub name: String,
    /// Win probability in percent, 0 to 100 (`rust_decimal`, never a float).
    pub probability: Decimal,
    /// The stage's kind.
    pub kind: StageKind,
}

/// A stage as events record it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    /// Id.
    pub id: EntityId,
    /// Name.
    pub name: String,
    /// Win probability in percent, 0 to 100.
    #[serde(with = "rust_decimal::serde::str")]
    pub probability: Decimal,
    /// Kind.
    pub kind: StageKind,
}

/// Commands of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipelineCommand {
    /// Create the pipeline with its stages, in order.
    Create {
        /// Name, 1 to 100 characters.
        name: String,
        /// The stages, in order.
        stages: Vec<StageInput>,
    },
    /// Rename the pipeline.
    Rename {
        /// New name.
        name: String,
    },
    /// Add a stage at `position` (0-based among active stages; the end when `None`).
    AddStage {
        /// The stage.
        stage: StageInput,
        /// Where.
        position: Option<usize>,
    },
    /// Rename a stage or change its probability.
    UpdateStage {
        /// The stage.
        stage_id: EntityId,
        /// New name.
        name: Option<String>,
        /// New probability.
        probability: Option<Decimal>,
    },
    /// Put the active stages in a new order (a permutation of their ids).
    ReorderStages {
        /// Every active stage id, in the new order.
        order: Vec<EntityId>,
    },
    /// Retire a stage: it stays in history but takes no more deals.
    RetireStage {
        /// The stage.
        stage_id: EntityId,
        /// Open deals in the stage now, counted by the caller; must be 0.
        open_deals: u64,
    },
}

/// Events of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PipelineEvent {
    /// Created with these stages, in order.
    PipelineCreated {
        /// Name.
        name: String,
        /// Stages in order.
        stages: Vec<Stage>,
    },
    /// Renamed.
    PipelineRenamed {
        /// New name.
        name: String,
    },
    /// A stage was added at `position` among active stages.
    StageAdded {
        /// The stage.
        stage: Stage,
        /// 0-based position.
        position: usize,
    },
    /// A stage changed.
    StageUpdated {
        /// The stage.
        stage_id: EntityId,
        /// New name, if changed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// New probability, if changed.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "rust_decimal::serde::str_option"
        )]
        probability: Option<Decimal>,
    },
    /// The active stages were put in this order.
    StagesReordered {
        /// Active stage ids in order.
        order: Vec<EntityId>,
    },
    /// A stage was retired.
    StageRetired {
        /// The stage.
        stage_id: EntityId,
    },
}

impl DomainEvent for PipelineEvent {
    fn event_type(&self) -> String {
        match self {
            Self::PipelineCreated { .. } => "PipelineCreated",
            Self::PipelineRenamed { .. } => "PipelineRenamed",
            Self::StageAdded { .. } => "StageAdded",
            Self::StageUpdated { .. } => "StageUpdated",
            Self::StagesReordered { .. } => "StagesReordered",
            Self::StageRetired { .. } => "StageRetired",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// A pipeline's state: its active stages in order, and the retired ones.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Pipeline {
    version: u64,
    exists: bool,
    name: String,
    active: Vec<Stage>,
    retired: Vec<Stage>,
}

/// Checks a probability: a percentage from 0 to 100 with at most two decimal places (the
/// precision the read model stores).
///
/// # Errors
/// [`DomainError::Invalid`] on field `probability`.
pub fn validate_probability(p: Decimal) -> Result<Decimal, DomainError> {
    if p.normalize().scale() > 2 {
        return Err(DomainError::invalid(
            "probability",
            "at most two decimal places",
        ));
    }
    if (Decimal::ZERO..=Decimal::ONE_HUNDRED).contains(&p) {
        Ok(p.normalize())
    } else {
        Err(DomainError::invalid(
            "probability",
            "must be a percentage from 0 to 100",
        ))
    }
}

fn validate_stage(input: StageInput) -> Result<Stage, DomainError> {
    Ok(Stage {
        id: input.id,
        name: text::required("name", &input.name, NAME_MAX)?,
        probability: validate_probability(input.probability)?,
        kind: input.kind,
    })
}

/// Checks that `stages` are unique by id and by name (case-insensitively), at most
/// [`MAX_STAGES`], and hold every kind.
fn check_set(stages: &[Stage]) -> Result<(), DomainError> {
    if stages.len() > MAX_STAGES {
        return Err(DomainError::invalid(
            "stages",
            format!("at most {MAX_STAGES} stages"),
        ));
    }
    for (i, s) in stages.iter().enumerate() {
        if stages[..i].iter().any(|o| o.id == s.id) {
            return Err(DomainError::invalid("stages", "stage ids must be unique"));
        }
        if stages[..i]
            .iter()
            .any(|o| o.name.to_lowercase() == s.name.to_lowercase())
        {
            return Err(DomainError::invalid(
                "name",
                format!("a stage named {:?} exists", s.name),
            ));
        }
    }
    for kind in [StageKind::Open, StageKind::Won, StageKind::Lost] {
        if !stages.iter().any(|s| s.kind == kind) {
            return Err(DomainError::invalid(
                "stages",
                format!("a pipeline needs at least one {} stage", kind.as_str()),
            ));
        }
    }
    Ok(())
}

impl Pipeline {
    /// The active stage `id`, if any.
    pub fn stage(&self, id: EntityId) -> Option<&Stage> {
        self.active.iter().find(|s| s.id == id)
    }

    fn known(&self, id: EntityId) -> bool {
        self.active.iter().chain(&self.retired).any(|s| s.id == id)
    }
}

impl Aggregate for Pipeline {
    const TYPE: &'static str = "Pipeline";
    type Command = Guarded<PipelineCommand>;
    type Event = PipelineEvent;
    type Error = DomainError;
    type Services = ();

    async fn handle(
        &mut self,
        guarded: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        // An empty stream is a 404 whatever the guard says, as for any missing record.
        check_version(
            self.version,
            guarded.if_version.filter(|_| self.version > 0),
        )?;
        let command = guarded.command;
        if !self.exists && !matches!(command, PipelineCommand::Create { .. }) {
            return Err(DomainError::NotFound);
        }
        let event = match command {
            PipelineCommand::Create { name, stages } => {
                if self.exists {
                    return Err(DomainError::AlreadyExists);
                }
                let name = text::required("name", &name, NAME_MAX)?;
                let stages = stages
                    .into_iter()
                    .map(validate_stage)
                    .collect::<Result<Vec<_>, _>>()?;
                check_set(&stages)?;
                PipelineEvent::PipelineCreated { name, stages }
            }
            PipelineCommand::Rename { name } => {
                let name = text::required("name", &name, NAME_MAX)?;
                if name == self.name {
                    return Ok(());
                }
                PipelineEvent::PipelineRenamed { name }
            }
            PipelineCommand::AddStage { stage, position } => {
                let stage = validate_stage(stage)?;
                if self.known(stage.id) {
                    return Err(DomainError::AlreadyExists);
                }
                let position = position.unwrap_or(self.active.len());
                if position > self.active.len() {
                    return Err(DomainError::invalid(
                        "position",
                        format!("must be 0 to {}", self.active.len()),
                    ));
                }
                let mut next = self.active.clone();
                next.insert(position, stage.clone());
                check_set(&next)?;
                PipelineEvent::StageAdded { stage, position }
            }
            PipelineCommand::UpdateStage {
                stage_id,
                name,
                probability,
            } => {
                let current = self
                    .stage(stage_id)
                    .ok_or(DomainError::invalid("stage_id", "no such active stage"))?
                    .clone();
                let name = name
                    .map(|n| text::required("name", &n, NAME_MAX))
                    .transpose()?
                    .filter(|n| *n != current.name);
                let probability = probability
                    .map(validate_probability)
                    .transpose()?
                    .filter(|p| *p != current.probability);
                if name.is_none() && probability.is_none() {
                    return Ok(());
                }
                let mut next = self.active.clone();
                if let Some(s) = next.iter_mut().find(|s| s.id == stage_id) {
                    if let Some(n) = &name {
                        s.name.clone_from(n);
                    }
                }
                check_set(&next)?;
                PipelineEvent::StageUpdated {
                    stage_id,
                    name,
                    probability,
                }
            }
            PipelineCommand::ReorderStages { order } => {
                let mut sorted_new = order.clone();
                sorted_new.sort();
                let mut sorted_old: Vec<EntityId> = self.active.iter().map(|s| s.id).collect();
                sorted_old.sort();
                if sorted_new != sorted_old {
                    return Err(DomainError::invalid(
                        "stage_ids",
                        "must list every active stage exactly once",
                    ));
                }
                if order == self.active.iter().map(|s| s.id).collect::<Vec<_>>() {
                    return Ok(());
                }
                PipelineEvent::StagesReordered { order }
            }
            PipelineCommand::RetireStage {
                stage_id,
                open_deals,
            } => {
                if self.stage(stage_id).is_none() {
                    return Err(DomainError::invalid("stage_id", "no such active stage"));
                }
                if open_deals > 0 {
                    return Err(DomainError::Conflict(format!(
                        "the stage holds {open_deals} open deals; move them first"
                    )));
                }
                let next: Vec<Stage> = self
                    .active
                    .iter()
                    .filter(|s| s.id != stage_id)
                    .cloned()
                    .collect();
                check_set(&next).map_err(|_| {
                    DomainError::Conflict(
                        "a pipeline keeps at least one open, one won and one lost stage".into(),
                    )
                })?;
                PipelineEvent::StageRetired { stage_id }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.version += 1;
        match event {
            PipelineEvent::PipelineCreated { name, stages } => {
                self.exists = true;
                self.name = name;
                self.active = stages;
            }
            PipelineEvent::PipelineRenamed { name } => self.name = name,
            PipelineEvent::StageAdded { stage, position } => {
                let position = position.min(self.active.len());
                self.active.insert(position, stage);
            }
            PipelineEvent::StageUpdated {
                stage_id,
                name,
                probability,
            } => {
                if let Some(s) = self.active.iter_mut().find(|s| s.id == stage_id) {
                    if let Some(n) = name {
                        s.name = n;
                    }
                    if let Some(p) = probability {
                        s.probability = p;
                    }
                }
            }
            PipelineEvent::StagesReordered { order } => {
                let mut stages = std::mem::take(&mut self.active);
                self.active = order
                    .iter()
                    .filter_map(|id| {
                        stages
                            .iter()
                            .position(|s| s.id == *id)
                            .map(|i| stages.remove(i))
                    })
                    .collect();
                self.active.extend(stages);
            }
            PipelineEvent::StageRetired { stage_id } => {
                if let Some(i) = self.active.iter().position(|s| s.id == stage_id) {
                    self.retired.push(self.active.remove(i));
                }
            }
        }
    }
}

/// The stages of the pipeline every new workspace gets (the shape of the usual B2B sales
/// funnel), with the ids to give them.
pub fn default_stages() -> Vec<StageInput> {
    [
        ("Appointment scheduled", 20, StageKind::Open),
        ("Qualified to buy", 40, StageKind::Open),
        ("Presentation scheduled", 60, StageKind::Open),
        ("Decision maker bought-in", 80, StageKind::Open),
        ("Contract sent", 90, StageKind::Open),
        ("Closed won", 100, StageKind::Won),
        ("Closed lost", 0, StageKind::Lost),
    ]
    .into_iter()
    .map(|(name, p, kind)| StageInput {
        id: EntityId::new(),
        name: name.to_owned(),
        probability: Decimal::from(p),
        kind,
    })
    .collect()
}
