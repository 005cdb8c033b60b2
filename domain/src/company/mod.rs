//! The `Company` aggregate: an organisation the workspace does business with.
//!
//! Lifecycle: created, updated any number of times, soft-deleted (`CompanyDeleted`) and
//! restored (`CompanyRestored`). A deleted company changes only by being restored.

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::command::check_version;
use crate::error::{changed, ensure_live};
use crate::fields::{self, CustomChanges, CustomInput, CustomValues};
use crate::merge::{MergeRecord, MergeState};
use crate::EntityId;
use crate::{text, Currency, DomainError, Guarded, Money, WebDomain};

#[cfg(test)]
mod tests;

/// Longest company name, in characters.
pub const NAME_MAX: usize = 200;
/// Longest industry text (several industries joined with "; "), in characters.
pub const INDUSTRY_MAX: usize = 500;
/// Longest country text, in characters.
pub const COUNTRY_MAX: usize = 100;
/// Longest unparsed revenue text kept from an import, in characters.
pub const REVENUE_TEXT_MAX: usize = 500;

/// An amount as a command gives it. JSON bodies give it as [`Money`] (minor units).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "Money")]
pub enum Amount {
    /// Already in minor units (the JSON API's form).
    Minor(Money),
    /// In major units, as an exact decimal (an import's form: "US$ 24.17 billion" is
    /// `24170000000` USD). The aggregate converts it exactly, or refuses it.
    Major {
        /// Major units.
        amount: Decimal,
        /// The currency.
        currency: Currency,
    },
}

impl From<Money> for Amount {
    fn from(m: Money) -> Self {
        Self::Minor(m)
    }
}

/// A company's fields as a command gives them (unvalidated); also the
/// `POST /v1/companies` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateCompany, example = json!({"name": "Acme Corp", "domain": "acme.example",
    "industry": "Manufacturing", "annual_revenue": {"amount_minor": 125000000, "currency": "EUR"},
    "tags": ["customer"]}))]
pub struct CompanyInput {
    /// Name, 1 to 200 characters.
    pub name: String,
    /// Web domain or URL; normalised to a domain.
    pub domain: Option<String>,
    /// Industry, up to 500 characters.
    pub industry: Option<String>,
    /// Country or region, up to 100 characters.
    pub country: Option<String>,
    /// The company's currency (ISO 4217 code).
    pub currency: Option<String>,
    /// Number of employees, at least 0.
    pub employee_count: Option<i64>,
    /// Annual revenue, at least 0.
    #[schema(value_type = Option<Money>)]
    pub annual_revenue: Option<Amount>,
    /// Annual revenue as text, when it could not be made exact (kept as the source had
    /// it), up to 500 characters.
    pub annual_revenue_text: Option<String>,
    /// Tags: trimmed, lowercased, deduplicated.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Custom values keyed by API key (`GET /v1/schema` lists the fields); each is
    /// checked against its field's type.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom: CustomInput,
}

/// A partial update, also the `PATCH /v1/companies/{id}` body (JSON merge patch, RFC
/// 7396): an absent field (`None`) stays, `null` (`Some(None)`) clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PatchCompany, example = json!({"industry": "Logistics", "employee_count": null}))]
pub struct CompanyPatch {
    /// New name (cannot be cleared).
    pub name: Option<String>,
    /// New domain, or null.
    #[serde(default, deserialize_with = "crate::patch::double_option")]
    pub domain: Option<Option<String>>,
    /// New industry, or null.
    #[serde(default, deserialize_with = "crate::patch::double_option")]
    pub industry: Option<Option<String>>,
    /// New country, or null.
    #[serde(default, deserialize_with = "crate::patch::double_option")]
    pub country: Option<Option<String>>,
    /// New currency, or null.
    #[serde(default, deserialize_with = "crate::patch::double_option")]
    pub currency: Option<Option<String>>,
    /// New employee count, or null.
    #[serde(default, deserialize_with = "crate::patch::double_option")]
    pub employee_count: Option<Option<i64>>,
    /// New annual revenue, or null.
    #[serde(default, deserialize_with = "crate::patch::double_option")]
    #[schema(value_type = Option<Option<Money>>)]
    pub annual_revenue: Option<Option<Amount>>,
    /// New revenue text, or null.
    #[serde(default, deserialize_with = "crate::patch::double_option")]
    pub annual_revenue_text: Option<Option<String>>,
    /// New tag list (replaces the old one).
    pub tags: Option<Vec<String>>,
    /// Custom values to change, keyed by API key: a key given sets its value, `null`
    /// clears it, a key left out stays.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom: CustomInput,
}

/// A company's validated fields, as `CompanyCreated` records them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanyFields {
    /// Name.
    pub name: String,
    /// Normalised web domain.
    pub domain: Option<WebDomain>,
    /// Industry.
    pub industry: Option<String>,
    /// Country or region.
    pub country: Option<String>,
    /// The company's currency.
    pub currency: Option<Currency>,
    /// Number of employees.
    pub employee_count: Option<i64>,
    /// Annual revenue in minor units.
    pub annual_revenue: Option<Money>,
    /// Annual revenue text that could not be made exact.
    pub annual_revenue_text: Option<String>,
    /// Tags, normalised.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Custom values keyed by field id.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub custom: CustomValues,
}

/// The fields an update changed, and only those; `null` means cleared.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanyChanges {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New domain, or cleared.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::patch::double_option"
    )]
    pub domain: Option<Option<WebDomain>>,
    /// New industry, or cleared.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::patch::double_option"
    )]
    pub industry: Option<Option<String>>,
    /// New country, or cleared.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::patch::double_option"
    )]
    pub country: Option<Option<String>>,
    /// New currency, or cleared.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::patch::double_option"
    )]
    pub currency: Option<Option<Currency>>,
    /// New employee count, or cleared.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::patch::double_option"
    )]
    pub employee_count: Option<Option<i64>>,
    /// New annual revenue, or cleared.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::patch::double_option"
    )]
    pub annual_revenue: Option<Option<Money>>,
    /// New revenue text, or cleared.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::patch::double_option"
    )]
    pub annual_revenue_text: Option<Option<String>>,
    /// New tag list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Custom values that changed, keyed by field id (`null`: cleared).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub custom: CustomChanges,
}

impl CompanyChanges {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Commands of a company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompanyCommand {
    /// Create the company.
    Create(CompanyInput),
    /// Change some fields.
    Update(CompanyPatch),
    /// Soft-delete.
    Delete,
    /// Undo a soft delete.
    Restore,
    /// Become a tombstone of the company `into` (the survivor of a merge): deleted, with
    /// `merged_into` set; its events stay.
    MergeInto {
        /// The survivor (the caller checked it is another live company of the tenant).
        into: EntityId,
    },
    /// Come back from a merge (the survivor undid it).
    Unmerge,
    /// Record, on the survivor, that a company was merged into it and what moved.
    RecordMerge(MergeRecord),
    /// Record, on the survivor, that the merge of `from` was undone.
    UndoMerge {
        /// The company given back.
        from: EntityId,
    },
}

/// Events of a company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompanyEvent {
    /// The company was created with these fields.
    CompanyCreated(CompanyFields),
    /// These fields changed.
    CompanyUpdated(CompanyChanges),
    /// The company was soft-deleted.
    CompanyDeleted,
    /// The company was restored.
    CompanyRestored,
    /// The company was merged into another (a tombstone from now on).
    CompanyMergedInto {
        /// The survivor.
        into: EntityId,
    },
    /// The merge into another company was undone.
    CompanyUnmerged {
        /// The former survivor.
        from: EntityId,
    },
    /// Another company was merged into this one.
    CompanyMerged(MergeRecord),
    /// The merge of another company into this one was undone.
    CompanyMergeUndone {
        /// The company given back.
        from: EntityId,
    },
}

impl DomainEvent for CompanyEvent {
    fn event_type(&self) -> String {
        match self {
            Self::CompanyCreated(_) => "CompanyCreated",
            Self::CompanyUpdated(_) => "CompanyUpdated",
            Self::CompanyDeleted => "CompanyDeleted",
            Self::CompanyRestored => "CompanyRestored",
            Self::CompanyMergedInto { .. } => "CompanyMergedInto",
            Self::CompanyUnmerged { .. } => "CompanyUnmerged",
            Self::CompanyMerged(_) => "CompanyMerged",
            Self::CompanyMergeUndone { .. } => "CompanyMergeUndone",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// A company's state.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Company {
    version: u64,
    exists: bool,
    deleted: bool,
    fields: CompanyFields,
    /// Its merges: as a tombstone, and as a survivor.
    #[serde(default)]
    merge: MergeState,
}

impl CompanyFields {
    /// Validates and normalises a command's input.
    ///
    /// # Errors
    /// [`DomainError::Invalid`] naming the first failing field.
    pub fn validate(input: CompanyInput) -> Result<Self, DomainError> {
        let opt = |field, value: Option<String>, max| -> Result<Option<String>, DomainError> {
            Ok(match value {
                Some(v) => text::optional(field, &v, max)?,
                None => None,
            })
        };
        let domain = match input
            .domain
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
        {
            Some(d) => Some(
                WebDomain::parse(d).map_err(|e| DomainError::invalid("domain", e.to_string()))?,
            ),
            None => None,
        };
        let currency = match input
            .currency
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            Some(c) => {
                Some(Currency::from_code(c).map_err(|e| DomainError::money("currency", &e))?)
            }
            None => None,
        };
        if input.employee_count.is_some_and(|n| n < 0) {
            return Err(DomainError::invalid(
                "employee_count",
                "must not be negative",
            ));
        }
        let annual_revenue = match input.annual_revenue {
            None => None,
            Some(Amount::Minor(m)) => Some(m),
            Some(Amount::Major { amount, currency }) => Some(
                Money::from_major_exact(amount, currency)
                    .map_err(|e| DomainError::money("annual_revenue", &e))?,
            ),
        };
        if annual_revenue.is_some_and(|m| m.amount_minor < 0) {
            return Err(DomainError::invalid(
                "annual_revenue",
                "must not be negative",
            ));
        }
        Ok(Self {
            name: text::required("name", &input.name, NAME_MAX)?,
            domain,
            industry: opt("industry", input.industry, INDUSTRY_MAX)?,
            country: opt("country", input.country, COUNTRY_MAX)?,
            currency,
            employee_count: input.employee_count,
            annual_revenue,
            tags: crate::tags::normalize(input.tags)?,
            custom: fields::values::created(&input.custom)?,
            annual_revenue_text: opt(
                "annual_revenue_text",
                input.annual_revenue_text,
                REVENUE_TEXT_MAX,
            )?,
        })
    }

    /// These fields as command input, with `patch` laid over them.
    fn patched(&self, patch: CompanyPatch) -> Result<CompanyInput, DomainError> {
        let keep = |p: Option<Option<String>>, cur: Option<String>| p.unwrap_or(cur);
        Ok(CompanyInput {
            custom: fields::values::patched(&self.custom, &patch.custom)?,
            name: patch.name.unwrap_or_else(|| self.name.clone()),
            domain: keep(patch.domain, self.domain.as_ref().map(ToString::to_string)),
            industry: keep(patch.industry, self.industry.clone()),
            country: keep(patch.country, self.country.clone()),
            currency: keep(patch.currency, self.currency.map(|c| c.code().to_owned())),
            employee_count: patch.employee_count.unwrap_or(self.employee_count),
            annual_revenue: patch
                .annual_revenue
                .unwrap_or(self.annual_revenue.map(Amount::Minor)),
            annual_revenue_text: keep(patch.annual_revenue_text, self.annual_revenue_text.clone()),
            tags: patch.tags.unwrap_or_else(|| self.tags.clone()),
        })
    }

    /// The fields that differ from `self` in `new`.
    fn diff(&self, new: Self) -> CompanyChanges {
        CompanyChanges {
            name: changed(&self.name, Some(new.name)),
            domain: changed(&self.domain, Some(new.domain)),
            industry: changed(&self.industry, Some(new.industry)),
            country: changed(&self.country, Some(new.country)),
            currency: changed(&self.currency, Some(new.currency)),
            employee_count: changed(&self.employee_count, Some(new.employee_count)),
            annual_revenue: changed(&self.annual_revenue, Some(new.annual_revenue)),
            annual_revenue_text: changed(&self.annual_revenue_text, Some(new.annual_revenue_text)),
            tags: changed(&self.tags, Some(new.tags)),
            custom: fields::diff(&self.custom, &new.custom),
        }
    }

    /// Lays `changes` over these fields.
    pub fn apply(&mut self, changes: CompanyChanges) {
        let CompanyChanges {
            name,
            domain,
            industry,
            country,
            currency,
            employee_count,
            annual_revenue,
            annual_revenue_text,
            tags,
            custom,
        } = changes;
        fields::values::apply(&mut self.custom, custom);
        if let Some(v) = name {
            self.name = v;
        }
        if let Some(v) = domain {
            self.domain = v;
        }
        if let Some(v) = industry {
            self.industry = v;
        }
        if let Some(v) = country {
            self.country = v;
        }
        if let Some(v) = currency {
            self.currency = v;
        }
        if let Some(v) = employee_count {
            self.employee_count = v;
        }
        if let Some(v) = annual_revenue {
            self.annual_revenue = v;
        }
        if let Some(v) = annual_revenue_text {
            self.annual_revenue_text = v;
        }
        if let Some(v) = tags {
            self.tags = v;
        }
    }
}

impl crate::merge::Merges for Company {
    fn merges(&self) -> &MergeState {
        &self.merge
    }
}

impl Aggregate for Company {
    const TYPE: &'static str = "Company";
    type Command = Guarded<CompanyCommand>;
    type Event = CompanyEvent;
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
        let event = match command {
            CompanyCommand::Create(input) => {
                if self.exists {
                    return Err(DomainError::AlreadyExists);
                }
                CompanyEvent::CompanyCreated(CompanyFields::validate(input)?)
            }
            CompanyCommand::Update(patch) => {
                ensure_live(self.exists, self.deleted)?;
                let new = CompanyFields::validate(self.fields.patched(patch)?)?;
                let changes = self.fields.diff(new);
                if changes.is_empty() {
                    return Ok(());
                }
                CompanyEvent::CompanyUpdated(changes)
            }
            CompanyCommand::Delete => {
                ensure_live(self.exists, self.deleted)?;
                CompanyEvent::CompanyDeleted
            }
            CompanyCommand::Restore => {
                if !self.exists {
                    return Err(DomainError::NotFound);
                }
                self.merge.check_restore()?;
                if !self.deleted {
                    return Err(DomainError::NotDeleted);
                }
                CompanyEvent::CompanyRestored
            }
            CompanyCommand::MergeInto { into } => {
                ensure_live(self.exists, self.deleted)?;
                CompanyEvent::CompanyMergedInto { into }
            }
            CompanyCommand::Unmerge => CompanyEvent::CompanyUnmerged {
                from: self.merge.check_unmerge()?,
            },
            CompanyCommand::RecordMerge(record) => {
                ensure_live(self.exists, self.deleted)?;
                self.merge.check_record(record.from)?;
                CompanyEvent::CompanyMerged(record)
            }
            CompanyCommand::UndoMerge { from } => {
                ensure_live(self.exists, self.deleted)?;
                self.merge.check_undo(from)?;
                CompanyEvent::CompanyMergeUndone { from }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.version += 1;
        match event {
            CompanyEvent::CompanyCreated(fields) => {
                self.exists = true;
                self.fields = fields;
            }
            CompanyEvent::CompanyUpdated(changes) => self.fields.apply(changes),
            CompanyEvent::CompanyDeleted => self.deleted = true,
            CompanyEvent::CompanyRestored => self.deleted = false,
            CompanyEvent::CompanyMergedInto { into } => {
                self.deleted = true;
                self.merge.merged(into);
            }
            CompanyEvent::CompanyUnmerged { .. } => {
                self.deleted = false;
                self.merge.unmerged();
            }
            CompanyEvent::CompanyMerged(record) => self.merge.recorded(record),
            CompanyEvent::CompanyMergeUndone { from } => self.merge.undone(from),
        }
    }
}
