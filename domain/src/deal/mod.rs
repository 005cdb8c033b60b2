//! The `Deal` aggregate: an opportunity moving through a pipeline's stages to won or lost.
//!
//! Rules: a deal is created in an open stage; it moves only between open stages and only
//! while open (a won or lost deal must be reopened first); winning needs a won stage,
//! losing a lost stage and a reason; a closed deal keeps its closing time until it is
//! reopened. When it has line items, its amount is their checked sum, each line rounded
//! half to even to minor units, all in one currency. The stage's pipeline and kind are
//! looked up by the caller and passed in a [`StageRef`].

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::command::check_version;
use crate::error::{changed, ensure_live};
use crate::fields::{self, CustomChanges, CustomInput, CustomValues};
use crate::merge::{LinkTo, Swap};
use crate::pipeline::StageKind;
use crate::{text, DomainError, EntityId, Guarded, Money, MoneyError, UserId};

#[cfg(test)]
mod tests;

/// Longest deal name, in characters.
pub const NAME_MAX: usize = 200;
/// Longest close reason, in characters.
pub const REASON_MAX: usize = 500;
/// Most contacts on one deal.
pub const MAX_CONTACTS: usize = 100;
/// Most line items on one deal.
pub const MAX_LINE_ITEMS: usize = 100;
/// Largest quantity on one line.
pub const MAX_QUANTITY: i64 = 1_000_000_000;

/// A stage as the caller resolved it from the pipeline's read model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageRef {
    /// The pipeline.
    pub pipeline_id: EntityId,
    /// The stage, active in that pipeline.
    pub stage_id: EntityId,
    /// The stage's kind.
    pub kind: StageKind,
}

/// Where a deal stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DealStatus {
    /// Being worked.
    #[default]
    Open,
    /// Closed, won.
    Won,
    /// Closed, lost.
    Lost,
}

impl DealStatus {
    /// `open`, `won` or `lost`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Won => "won",
            Self::Lost => "lost",
        }
    }
}

/// A deal's fields as a create command gives them; also the `POST /v1/deals` body.
/// Without `stage_id`, the deal starts in the first open stage of `pipeline_id` (default:
/// the workspace's oldest pipeline); without `owner_id`, the caller owns it. The
/// application resolves the stage and checks the owner, company and contacts in the
/// caller's workspace before the command runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateDeal, example = json!({"name": "Acme renewal 2025",
    "amount": {"amount_minor": 1250000, "currency": "EUR"},
    "expected_close_date": "2025-06-30", "tags": ["renewal"]}))]
pub struct DealInput {
    /// Name, 1 to 200 characters.
    pub name: String,
    /// Amount `{"amount_minor": …, "currency": "EUR"}`, at least 0.
    pub amount: Option<Money>,
    /// Pipeline (default: the workspace's oldest).
    #[schema(value_type = Option<uuid::Uuid>)]
    pub pipeline_id: Option<EntityId>,
    /// An active stage (of `pipeline_id` when given); default: the pipeline's first open
    /// stage.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub stage_id: Option<EntityId>,
    /// The open stage it starts in, as the application resolved `pipeline_id` and
    /// `stage_id` (never part of a body); a create without one is refused.
    #[serde(skip)]
    #[schema(ignore)]
    pub stage: Option<StageRef>,
    /// A user of the workspace; default: the caller.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub owner_id: Option<UserId>,
    /// A company of the workspace.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub company_id: Option<EntityId>,
    /// Contacts of the workspace (duplicates are dropped), at most 100.
    #[serde(default)]
    #[schema(value_type = Vec<uuid::Uuid>)]
    pub contact_ids: Vec<EntityId>,
    /// Expected close date (ISO 8601 date).
    pub expected_close_date: Option<NaiveDate>,
    /// Tags: trimmed, lowercased, deduplicated.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Custom values keyed by API key (`GET /v1/schema` lists the fields); each is
    /// checked against its field's type.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom: CustomInput,
}

/// A partial update, also the `PATCH /v1/deals/{id}` body (JSON merge patch, RFC 7396):
/// an absent field (`None`) stays, `null` (`Some(None)`) clears it. The application
/// checks the owner, company and contacts in the caller's workspace first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PatchDeal, example = json!({"name": "Acme renewal 2025 (3 years)",
    "expected_close_date": null, "tags": ["renewal", "multi-year"]}))]
pub struct DealPatch {
    /// New name.
    pub name: Option<String>,
    /// New amount, or null (refused while the deal has line items).
    #[serde(default, deserialize_with = "crate::patch::double_option")]
    pub amount: Option<Option<Money>>,
    /// New owner, a user of the workspace, or null.
    #[serde(default, deserialize_with = "crate::patch::double_option")]
    #[schema(value_type = Option<Option<uuid::Uuid>>)]
    pub owner_id: Option<Option<UserId>>,
    /// New company, or null.
    #[serde(default, deserialize_with = "crate::patch::double_option")]
    #[schema(value_type = Option<Option<uuid::Uuid>>)]
    pub company_id: Option<Option<EntityId>>,
    /// New contact list.
    #[schema(value_type = Option<Vec<uuid::Uuid>>)]
    pub contact_ids: Option<Vec<EntityId>>,
    /// New expected close date (ISO 8601 date), or null.
    #[serde(default, deserialize_with = "crate::patch::double_option")]
    pub expected_close_date: Option<Option<NaiveDate>>,
    /// New tag list (replaces the old one).
    pub tags: Option<Vec<String>>,
    /// Custom values to change, keyed by API key: a key given sets its value, `null`
    /// clears it, a key left out stays.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom: CustomInput,
}

/// A line item as a command gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineItemInput {
    /// Product name, 1 to 200 characters.
    pub product: String,
    /// Quantity, 1 to 10^9.
    pub quantity: i64,
    /// Price of one unit, at least 0.
    pub unit_price: Money,
    /// Discount in percent, 0 to 100.
    pub discount_percent: Decimal,
}

/// A line item as events record it, with its computed total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    /// Product name.
    pub product: String,
    /// Quantity.
    pub quantity: i64,
    /// Price of one unit.
    pub unit_price: Money,
    /// Discount in percent.
    #[serde(with = "rust_decimal::serde::str")]
    pub discount_percent: Decimal,
    /// `unit_price × quantity × (100 − discount) / 100`, rounded half to even to minor units.
    pub total: Money,
}

/// A deal's validated fields, as `DealCreated` records them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealFields {
    /// Name.
    pub name: String,
    /// Amount.
    pub amount: Option<Money>,
    /// Pipeline.
    pub pipeline_id: EntityId,
    /// Stage.
    pub stage_id: EntityId,
    /// Owner.
    pub owner_id: Option<UserId>,
    /// Company.
    pub company_id: Option<EntityId>,
    /// Contacts.
    pub contact_ids: Vec<EntityId>,
    /// Expected close date.
    pub expected_close_date: Option<NaiveDate>,
    /// Tags, normalised.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Custom values keyed by field id.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub custom: CustomValues,
}

/// The fields an update changed, and only those; `null` means cleared.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealChanges {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New amount, or cleared.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::patch::double_option"
    )]
    pub amount: Option<Option<Money>>,
    /// New owner, or cleared.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::patch::double_option"
    )]
    pub owner_id: Option<Option<UserId>>,
    /// New company, or cleared.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::patch::double_option"
    )]
    pub company_id: Option<Option<EntityId>>,
    /// New contact list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_ids: Option<Vec<EntityId>>,
    /// New expected close date, or cleared.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::patch::double_option"
    )]
    pub expected_close_date: Option<Option<NaiveDate>>,
    /// New tag list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Custom values that changed, keyed by field id (`null`: cleared).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub custom: CustomChanges,
}

impl DealChanges {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Commands of a deal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DealCommand {
    /// Create the deal.
    Create(DealInput),
    /// Change some fields.
    Update(DealPatch),
    /// Change its links to one contact or its company (a merge moves them to the
    /// survivor, an unmerge back): no event when nothing changes.
    SwapLink {
        /// Contacts or the company.
        to: LinkTo,
        /// The change.
        swap: Swap,
    },
    /// Move to another open stage (of this or another pipeline).
    MoveStage(StageRef),
    /// Close as won in a won stage.
    Win {
        /// A won stage.
        stage: StageRef,
        /// Why, optionally.
        reason: Option<String>,
        /// When (the command's time).
        at: DateTime<Utc>,
    },
    /// Close as lost in a lost stage.
    Lose {
        /// A lost stage.
        stage: StageRef,
        /// Why (required).
        reason: String,
        /// When (the command's time).
        at: DateTime<Utc>,
    },
    /// Reopen a closed deal into an open stage.
    Reopen(StageRef),
    /// Replace the line items; a non-empty list sets the amount to their sum.
    SetLineItems(Vec<LineItemInput>),
    /// Soft-delete.
    Delete,
    /// Undo a soft delete.
    Restore,
}

/// Events of a deal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DealEvent {
    /// Created.
    DealCreated(DealFields),
    /// Fields changed.
    DealUpdated(DealChanges),
    /// Moved to an open stage.
    DealStageChanged {
        /// Pipeline.
        pipeline_id: EntityId,
        /// Stage.
        stage_id: EntityId,
    },
    /// Won.
    DealWon {
        /// Pipeline.
        pipeline_id: EntityId,
        /// Won stage.
        stage_id: EntityId,
        /// Why.
        reason: Option<String>,
        /// When.
        closed_at: DateTime<Utc>,
    },
    /// Lost.
    DealLost {
        /// Pipeline.
        pipeline_id: EntityId,
        /// Lost stage.
        stage_id: EntityId,
        /// Why.
        reason: String,
        /// When.
        closed_at: DateTime<Utc>,
    },
    /// Reopened into an open stage.
    DealReopened {
        /// Pipeline.
        pipeline_id: EntityId,
        /// Stage.
        stage_id: EntityId,
    },
    /// Line items replaced; `amount` is their sum (unchanged when the list is empty).
    DealLineItemsSet {
        /// The items.
        items: Vec<LineItem>,
        /// The deal's amount after.
        amount: Option<Money>,
    },
    /// Soft-deleted.
    DealDeleted,
    /// Restored.
    DealRestored,
}

impl DomainEvent for DealEvent {
    fn event_type(&self) -> String {
        match self {
            Self::DealCreated(_) => "DealCreated",
            Self::DealUpdated(_) => "DealUpdated",
            Self::DealStageChanged { .. } => "DealStageChanged",
            Self::DealWon { .. } => "DealWon",
            Self::DealLost { .. } => "DealLost",
            Self::DealReopened { .. } => "DealReopened",
            Self::DealLineItemsSet { .. } => "DealLineItemsSet",
            Self::DealDeleted => "DealDeleted",
            Self::DealRestored => "DealRestored",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// A deal's state.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Deal {
    version: u64,
    exists: bool,
    deleted: bool,
    status: DealStatus,
    fields: DealFields,
    line_items: Vec<LineItem>,
}

fn require_kind(stage: &StageRef, kind: StageKind) -> Result<(), DomainError> {
    if stage.kind == kind {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "stage_id",
            format!("must be a stage of kind {}", kind.as_str()),
        ))
    }
}

fn validate_amount(amount: Option<Money>) -> Result<Option<Money>, DomainError> {
    if amount.is_some_and(|m| m.amount_minor < 0) {
        return Err(DomainError::invalid("amount", "must not be negative"));
    }
    Ok(amount)
}

fn dedupe(ids: Vec<EntityId>) -> Result<Vec<EntityId>, DomainError> {
    let mut out: Vec<EntityId> = Vec::with_capacity(ids.len());
    for id in ids {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    if out.len() > MAX_CONTACTS {
        return Err(DomainError::invalid(
            "contact_ids",
            format!("at most {MAX_CONTACTS} contacts"),
        ));
    }
    Ok(out)
}

/// Prices one line: `unit_price × quantity × (100 − discount) / 100`, rounded half to even
/// to minor units, with checked arithmetic.
///
/// # Errors
/// [`DomainError::Invalid`] for a bad line, or one whose total overflows `i64` minor units.
pub fn price_line(input: LineItemInput) -> Result<LineItem, DomainError> {
    let product = text::required("product", &input.product, NAME_MAX)?;
    if !(1..=MAX_QUANTITY).contains(&input.quantity) {
        return Err(DomainError::invalid(
            "quantity",
            format!("must be 1 to {MAX_QUANTITY}"),
        ));
    }
    if input.unit_price.amount_minor < 0 {
        return Err(DomainError::invalid("unit_price", "must not be negative"));
    }
    if !(Decimal::ZERO..=Decimal::ONE_HUNDRED).contains(&input.discount_percent) {
        return Err(DomainError::invalid(
            "discount_percent",
            "must be a percentage from 0 to 100",
        ));
    }
    let overflow = || DomainError::money("total", &MoneyError::Overflow);
    let total = Decimal::from(input.unit_price.amount_minor)
        .checked_mul(Decimal::from(input.quantity))
        .and_then(|gross| gross.checked_mul(Decimal::ONE_HUNDRED - input.discount_percent))
        .and_then(|d| d.checked_div(Decimal::ONE_HUNDRED))
        .ok_or_else(overflow)?
        .round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven);
    let total = i64::try_from(total).map_err(|_| overflow())?;
    Ok(LineItem {
        product,
        quantity: input.quantity,
        unit_price: input.unit_price,
        discount_percent: input.discount_percent.normalize(),
        total: Money::new(total, input.unit_price.currency),
    })
}

/// Prices every line and sums them: one currency, checked.
///
/// # Errors
/// [`DomainError::Invalid`] for a bad line, mixed currencies or an overflowing sum.
pub fn price_lines(
    items: Vec<LineItemInput>,
) -> Result<(Vec<LineItem>, Option<Money>), DomainError> {
    if items.len() > MAX_LINE_ITEMS {
        return Err(DomainError::invalid(
            "items",
            format!("at most {MAX_LINE_ITEMS} line items"),
        ));
    }
    let items = items
        .into_iter()
        .map(price_line)
        .collect::<Result<Vec<_>, _>>()?;
    let mut sum: Option<Money> = None;
    for item in &items {
        sum = Some(match sum {
            None => item.total,
            Some(s) => s.checked_add(item.total).map_err(|e| match e {
                MoneyError::CurrencyMismatch(..) => DomainError::invalid(
                    "items",
                    "all line items of a deal must be in one currency",
                ),
                other => DomainError::money("total", &other),
            })?,
        });
    }
    Ok((items, sum))
}

impl Aggregate for Deal {
    const TYPE: &'static str = "Deal";
    type Command = Guarded<DealCommand>;
    type Event = DealEvent;
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
        let event = match guarded.command {
            DealCommand::Create(input) => {
                if self.exists {
                    return Err(DomainError::AlreadyExists);
                }
                let stage = input
                    .stage
                    .ok_or_else(|| DomainError::invalid("stage_id", "no stage was resolved"))?;
                require_kind(&stage, StageKind::Open)?;
                DealEvent::DealCreated(DealFields {
                    name: text::required("name", &input.name, NAME_MAX)?,
                    amount: validate_amount(input.amount)?,
                    pipeline_id: stage.pipeline_id,
                    stage_id: stage.stage_id,
                    owner_id: input.owner_id,
                    company_id: input.company_id,
                    contact_ids: dedupe(input.contact_ids)?,
                    expected_close_date: input.expected_close_date,
                    tags: crate::tags::normalize(input.tags)?,
                    custom: fields::values::created(&input.custom)?,
                })
            }
            DealCommand::Update(patch) => {
                ensure_live(self.exists, self.deleted)?;
                if patch.amount.is_some() && !self.line_items.is_empty() {
                    return Err(DomainError::invalid(
                        "amount",
                        "the amount is the sum of the line items; change those instead",
                    ));
                }
                let f = &self.fields;
                let changes = DealChanges {
                    name: changed(
                        &f.name,
                        patch
                            .name
                            .map(|n| text::required("name", &n, NAME_MAX))
                            .transpose()?,
                    ),
                    amount: changed(&f.amount, patch.amount.map(validate_amount).transpose()?),
                    owner_id: changed(&f.owner_id, patch.owner_id),
                    company_id: changed(&f.company_id, patch.company_id),
                    contact_ids: changed(
                        &f.contact_ids,
                        patch.contact_ids.map(dedupe).transpose()?,
                    ),
                    expected_close_date: changed(&f.expected_close_date, patch.expected_close_date),
                    tags: changed(&f.tags, patch.tags.map(crate::tags::normalize).transpose()?),
                    custom: fields::diff(
                        &f.custom,
                        &fields::values::created(&fields::values::patched(
                            &f.custom,
                            &patch.custom,
                        )?)?,
                    ),
                };
                if changes.is_empty() {
                    return Ok(());
                }
                DealEvent::DealUpdated(changes)
            }
            DealCommand::SwapLink { to, swap } => {
                // A merge re-points deleted deals too, so one restored later names the
                // survivor, not a tombstone.
                if !self.exists {
                    return Err(DomainError::NotFound);
                }
                let f = &self.fields;
                let changes = match to {
                    LinkTo::Contact => DealChanges {
                        contact_ids: changed(
                            &f.contact_ids,
                            Some(dedupe(swap.apply(&f.contact_ids))?),
                        ),
                        ..DealChanges::default()
                    },
                    LinkTo::Company => DealChanges {
                        company_id: changed(&f.company_id, Some(swap.apply_one(f.company_id))),
                        ..DealChanges::default()
                    },
                };
                if changes.is_empty() {
                    return Ok(());
                }
                DealEvent::DealUpdated(changes)
            }
            DealCommand::MoveStage(stage) => {
                ensure_live(self.exists, self.deleted)?;
                if self.status != DealStatus::Open {
                    return Err(DomainError::Conflict(format!(
                        "the deal is {}; reopen it before moving it",
                        self.status.as_str()
                    )));
                }
                require_kind(&stage, StageKind::Open)?;
                if stage.stage_id == self.fields.stage_id
                    && stage.pipeline_id == self.fields.pipeline_id
                {
                    return Ok(());
                }
                DealEvent::DealStageChanged {
                    pipeline_id: stage.pipeline_id,
                    stage_id: stage.stage_id,
                }
            }
            DealCommand::Win { stage, reason, at } => {
                self.ensure_open()?;
                require_kind(&stage, StageKind::Won)?;
                let reason = reason
                    .map(|r| text::optional("reason", &r, REASON_MAX))
                    .transpose()?
                    .flatten();
                DealEvent::DealWon {
                    pipeline_id: stage.pipeline_id,
                    stage_id: stage.stage_id,
                    reason,
                    closed_at: at,
                }
            }
            DealCommand::Lose { stage, reason, at } => {
                self.ensure_open()?;
                require_kind(&stage, StageKind::Lost)?;
                let reason = text::required("reason", &reason, REASON_MAX)?;
                DealEvent::DealLost {
                    pipeline_id: stage.pipeline_id,
                    stage_id: stage.stage_id,
                    reason,
                    closed_at: at,
                }
            }
            DealCommand::Reopen(stage) => {
                ensure_live(self.exists, self.deleted)?;
                if self.status == DealStatus::Open {
                    return Err(DomainError::Conflict("the deal is open already".into()));
                }
                require_kind(&stage, StageKind::Open)?;
                DealEvent::DealReopened {
                    pipeline_id: stage.pipeline_id,
                    stage_id: stage.stage_id,
                }
            }
            DealCommand::SetLineItems(items) => {
                ensure_live(self.exists, self.deleted)?;
                let (items, sum) = price_lines(items)?;
                if items == self.line_items {
                    return Ok(());
                }
                let amount = if items.is_empty() {
                    self.fields.amount
                } else {
                    sum
                };
                DealEvent::DealLineItemsSet { items, amount }
            }
            DealCommand::Delete => {
                ensure_live(self.exists, self.deleted)?;
                DealEvent::DealDeleted
            }
            DealCommand::Restore => {
                if !self.exists {
                    return Err(DomainError::NotFound);
                }
                if !self.deleted {
                    return Err(DomainError::NotDeleted);
                }
                DealEvent::DealRestored
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.version += 1;
        match event {
            DealEvent::DealCreated(fields) => {
                self.exists = true;
                self.fields = fields;
            }
            DealEvent::DealUpdated(c) => {
                let f = &mut self.fields;
                if let Some(v) = c.name {
                    f.name = v;
                }
                if let Some(v) = c.amount {
                    f.amount = v;
                }
                if let Some(v) = c.owner_id {
                    f.owner_id = v;
                }
                if let Some(v) = c.company_id {
                    f.company_id = v;
                }
                if let Some(v) = c.contact_ids {
                    f.contact_ids = v;
                }
                if let Some(v) = c.expected_close_date {
                    f.expected_close_date = v;
                }
                if let Some(v) = c.tags {
                    f.tags = v;
                }
                fields::values::apply(&mut f.custom, c.custom);
            }
            DealEvent::DealStageChanged {
                pipeline_id,
                stage_id,
            }
            | DealEvent::DealReopened {
                pipeline_id,
                stage_id,
            } => {
                self.fields.pipeline_id = pipeline_id;
                self.fields.stage_id = stage_id;
                self.status = DealStatus::Open;
            }
            DealEvent::DealWon {
                pipeline_id,
                stage_id,
                ..
            } => {
                self.fields.pipeline_id = pipeline_id;
                self.fields.stage_id = stage_id;
                self.status = DealStatus::Won;
            }
            DealEvent::DealLost {
                pipeline_id,
                stage_id,
                ..
            } => {
                self.fields.pipeline_id = pipeline_id;
                self.fields.stage_id = stage_id;
                self.status = DealStatus::Lost;
            }
            DealEvent::DealLineItemsSet { items, amount } => {
                self.line_items = items;
                self.fields.amount = amount;
            }
            DealEvent::DealDeleted => self.deleted = true,
            DealEvent::DealRestored => self.deleted = false,
        }
    }
}

impl Deal {
    fn ensure_open(&self) -> Result<(), DomainError> {
        ensure_live(self.exists, self.deleted)?;
        if self.status == DealStatus::Open {
            Ok(())
        } else {
            Err(DomainError::Conflict(format!(
                "the deal is {} already; reopen it first",
                self.status.as_str()
            )))
        }
    }
}
