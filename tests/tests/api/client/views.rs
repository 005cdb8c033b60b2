//! The records as the server shows them (`api/src/routes/*.rs` `*View`, `docs/openapi.json`),
//! read with serde. Unknown fields are ignored, except in the small value objects (money,
//! links) whose every field a test compares; a nullable field marked `present` must be in
//! the body (as `null` when empty), so `None` never stands for "missing".

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use uuid::Uuid;

/// For `#[serde(deserialize_with = "present")]`: the field must be in the body, `null` or
/// not (serde otherwise reads a missing `Option` as `None`).
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    T::deserialize(d)
}

/// Money: integer minor units and an ISO 4217 code.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// Minor units.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
}

impl Money {
    /// `amount_minor` of `currency`.
    pub fn new(amount_minor: i64, currency: &str) -> Self {
        Self {
            amount_minor,
            currency: currency.to_owned(),
        }
    }
}

/// One page of a list, and the cursor of the next one.
#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    /// The rows, in order.
    pub items: Vec<T>,
    /// The next page's cursor; `None` on the last page.
    #[serde(deserialize_with = "present")]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// `field` of every row, in order (`page.map(|c| c.name.clone())`).
    pub fn map<U>(&self, field: impl FnMut(&T) -> U) -> Vec<U> {
        self.items.iter().map(field).collect()
    }

    /// The next page's cursor; panics on the last page.
    #[track_caller]
    pub fn cursor(&self) -> &str {
        self.next_cursor
            .as_deref()
            .unwrap_or_else(|| panic!("the last page has no next cursor"))
    }
}

/// A company.
#[derive(Debug, Clone, Deserialize)]
pub struct Company {
    pub id: Uuid,
    pub name: String,
    #[serde(deserialize_with = "present")]
    pub domain: Option<String>,
    #[serde(deserialize_with = "present")]
    pub industry: Option<String>,
    #[serde(deserialize_with = "present")]
    pub country: Option<String>,
    #[serde(deserialize_with = "present")]
    pub currency: Option<String>,
    #[serde(deserialize_with = "present")]
    pub employee_count: Option<i64>,
    #[serde(deserialize_with = "present")]
    pub annual_revenue: Option<Money>,
    #[serde(deserialize_with = "present")]
    pub annual_revenue_text: Option<String>,
    pub tags: Vec<String>,
    pub deleted: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: String,
    pub updated_by: String,
}

/// A contact's association with a company.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanyLink {
    pub company_id: Uuid,
    pub role: Option<String>,
}

/// A contact (`companies` is only in single-record answers, not in lists).
#[derive(Debug, Clone, Deserialize)]
pub struct Contact {
    pub id: Uuid,
    #[serde(deserialize_with = "present")]
    pub first_name: Option<String>,
    #[serde(deserialize_with = "present")]
    pub last_name: Option<String>,
    #[serde(deserialize_with = "present")]
    pub email: Option<String>,
    #[serde(deserialize_with = "present")]
    pub phone: Option<String>,
    #[serde(deserialize_with = "present")]
    pub job_title: Option<String>,
    #[serde(deserialize_with = "present")]
    pub company_id: Option<Uuid>,
    pub tags: Vec<String>,
    pub deleted: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: String,
    pub updated_by: String,
    #[serde(deserialize_with = "present")]
    pub erased_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub companies: Option<Vec<CompanyLink>>,
}

impl Contact {
    /// The company associations of a single-record answer; panics on a list row.
    #[track_caller]
    pub fn companies(&self) -> &[CompanyLink] {
        self.companies
            .as_deref()
            .unwrap_or_else(|| panic!("contact {} came without its companies", self.id))
    }
}

/// A deal line item with its total.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineItem {
    pub product: String,
    pub quantity: i64,
    pub unit_price: Money,
    /// A decimal string, e.g. `"12.5"`.
    pub discount_percent: String,
    pub total: Money,
}

/// A deal.
#[derive(Debug, Clone, Deserialize)]
pub struct Deal {
    pub id: Uuid,
    pub name: String,
    #[serde(deserialize_with = "present")]
    pub amount: Option<Money>,
    pub pipeline_id: Uuid,
    pub stage_id: Uuid,
    /// `open`, `won` or `lost`.
    pub status: String,
    #[serde(deserialize_with = "present")]
    pub owner_id: Option<Uuid>,
    #[serde(deserialize_with = "present")]
    pub company_id: Option<Uuid>,
    pub contact_ids: Vec<Uuid>,
    #[serde(deserialize_with = "present")]
    pub expected_close_date: Option<NaiveDate>,
    #[serde(deserialize_with = "present")]
    pub close_reason: Option<String>,
    #[serde(deserialize_with = "present")]
    pub closed_at: Option<DateTime<Utc>>,
    pub line_items: Vec<LineItem>,
    pub tags: Vec<String>,
    pub deleted: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: String,
    pub updated_by: String,
}

/// A pipeline stage.
#[derive(Debug, Clone, Deserialize)]
pub struct Stage {
    pub id: Uuid,
    pub name: String,
    /// Percent, a decimal string (`"33.5"`).
    pub probability: String,
    /// `open`, `won` or `lost`.
    pub kind: String,
    pub position: i32,
    pub retired: bool,
}

/// A pipeline with its stages (active ones in order, then retired ones).
#[derive(Debug, Clone, Deserialize)]
pub struct Pipeline {
    pub id: Uuid,
    pub name: String,
    pub stages: Vec<Stage>,
    pub version: i64,
}

impl Pipeline {
    /// The stage called `name`; panics when there is none.
    #[track_caller]
    pub fn stage(&self, name: &str) -> &Stage {
        self.stages
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("pipeline {:?} has no stage {name:?}", self.name))
    }
}

/// `GET /v1/pipelines`.
#[derive(Debug, Clone, Deserialize)]
pub struct PipelineList {
    pub items: Vec<Pipeline>,
}

/// The deals of one currency in one stage of a summary.
#[derive(Debug, Clone, Deserialize)]
pub struct CurrencyTotal {
    pub currency: String,
    pub deals: i64,
    pub total: Money,
    pub weighted: Money,
}

/// One stage of a pipeline summary.
#[derive(Debug, Clone, Deserialize)]
pub struct StageSummary {
    pub stage_id: Uuid,
    pub name: String,
    pub kind: String,
    pub retired: bool,
    pub probability: String,
    pub deals: i64,
    pub deals_without_amount: i64,
    pub totals: Vec<CurrencyTotal>,
}

/// `GET /v1/pipelines/{id}/summary`.
#[derive(Debug, Clone, Deserialize)]
pub struct PipelineSummary {
    pub pipeline_id: Uuid,
    pub stages: Vec<StageSummary>,
}

/// An activity: a note, call, meeting, email or task.
#[derive(Debug, Clone, Deserialize)]
pub struct Activity {
    pub id: Uuid,
    pub kind: String,
    pub title: String,
    /// The kind's own fields.
    pub details: Value,
    pub occurred_at: DateTime<Utc>,
    pub contact_ids: Vec<Uuid>,
    pub company_ids: Vec<Uuid>,
    pub deal_ids: Vec<Uuid>,
    #[serde(deserialize_with = "present")]
    pub due_at: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "present")]
    pub assignee_id: Option<Uuid>,
    #[serde(deserialize_with = "present")]
    pub priority: Option<String>,
    /// Tasks: `open` or `completed`; `None` for other kinds.
    #[serde(deserialize_with = "present")]
    pub status: Option<String>,
    #[serde(deserialize_with = "present")]
    pub completed_at: Option<DateTime<Utc>>,
    pub deleted: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

/// One event of the audit trail.
#[derive(Debug, Clone, Deserialize)]
pub struct AuditEntry {
    pub position: i64,
    pub entity_type: String,
    /// The entity's id (the stream id without its tenant prefix).
    pub entity_id: String,
    pub version: i64,
    pub event_type: String,
    pub payload: Value,
    #[serde(default)]
    pub actor: Option<String>,
    #[serde(default)]
    pub actor_type: Option<String>,
    #[serde(default)]
    pub actor_role: Option<String>,
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub import_id: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub occurred_at: Option<DateTime<Utc>>,
    pub recorded_at: DateTime<Utc>,
}

/// One field an event changed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub before: Value,
    pub after: Value,
}

impl FieldChange {
    /// `field` went from `before` to `after` (JSON values; `Value::Null` for absent).
    pub fn new(field: &str, before: impl Into<Value>, after: impl Into<Value>) -> Self {
        Self {
            field: field.to_owned(),
            before: before.into(),
            after: after.into(),
        }
    }
}

/// One version of a record in its history.
#[derive(Debug, Clone, Deserialize)]
pub struct Version {
    pub version: i64,
    pub event_type: String,
    #[serde(default)]
    pub actor: Option<String>,
    #[serde(default)]
    pub actor_type: Option<String>,
    #[serde(default)]
    pub actor_role: Option<String>,
    #[serde(default)]
    pub import_id: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub occurred_at: Option<String>,
    pub recorded_at: DateTime<Utc>,
    pub changes: Vec<FieldChange>,
    /// `erased`, `unavailable` or `unreadable` when the event's personal data is not
    /// shown; absent otherwise.
    #[serde(default)]
    pub personal_data: Option<String>,
}

/// `GET /v1/{entity}/{id}/history`: every version, oldest first.
#[derive(Debug, Clone, Deserialize)]
pub struct History {
    pub items: Vec<Version>,
}

/// A record at a past version (`?version=` or `?as_of=`).
#[derive(Debug, Clone, Deserialize)]
pub struct PastState {
    pub version: i64,
    pub recorded_at: DateTime<Utc>,
    /// The record's fields at that version.
    pub record: Value,
}

/// A linked company in a contact's export: the association and the company's name.
#[derive(Debug, Clone, Deserialize)]
pub struct LinkedCompany {
    pub company_id: Uuid,
    pub role: Option<String>,
    /// `None` once the company is gone from the workspace.
    pub name: Option<String>,
}

/// `GET /v1/contacts/{id}/export`: everything held about one contact.
#[derive(Debug, Clone, Deserialize)]
pub struct SubjectAccessExport {
    pub generated_at: DateTime<Utc>,
    pub workspace_id: Uuid,
    pub contact: Contact,
    pub companies: Vec<LinkedCompany>,
    pub activities: Vec<Activity>,
    pub deals: Vec<Deal>,
    pub history: Vec<Version>,
}

/// `GET /v1/audit/verify`: whether the hash chains and the last checkpoint hold.
#[derive(Debug, Clone, Deserialize)]
pub struct ChainReport {
    pub intact: bool,
    pub events_checked: i64,
    /// The first event whose chain breaks, if any.
    #[serde(default)]
    pub first_break: Option<Value>,
    /// The checkpoint compared against, if any.
    #[serde(default)]
    pub checkpoint: Option<Value>,
}

impl ChainReport {
    /// The first break; panics when the chains held.
    #[track_caller]
    pub fn first_break(&self) -> &Value {
        self.first_break
            .as_ref()
            .unwrap_or_else(|| panic!("no break was found: {self:?}"))
    }

    /// The checkpoint check; panics when there was none.
    #[track_caller]
    pub fn checkpoint(&self) -> &Value {
        self.checkpoint
            .as_ref()
            .unwrap_or_else(|| panic!("no checkpoint was checked: {self:?}"))
    }
}

/// One item's outcome in a batch: `record` on success, `problem` on failure.
#[derive(Debug, Clone, Deserialize)]
pub struct ItemResult<T> {
    /// The item's position, from 0.
    pub index: usize,
    /// The status the single route would have answered.
    pub status: u16,
    pub record: Option<T>,
    #[serde(default)]
    pub problem: Option<Problem>,
}

impl<T> ItemResult<T> {
    /// The record of a successful item; panics with the problem otherwise.
    #[track_caller]
    pub fn record(&self) -> &T {
        self.record.as_ref().unwrap_or_else(|| {
            panic!(
                "item {} failed with {}: {:?}",
                self.index, self.status, self.problem
            )
        })
    }

    /// The problem of a failed item; panics when it succeeded.
    #[track_caller]
    pub fn problem(&self) -> &Problem {
        self.problem
            .as_ref()
            .unwrap_or_else(|| panic!("item {} did not fail ({})", self.index, self.status))
    }
}

/// A batch's answer: one result per item, in order.
#[derive(Debug, Clone, Deserialize)]
pub struct BatchResults<T> {
    pub results: Vec<ItemResult<T>>,
}

impl<T> BatchResults<T> {
    /// Every item's status, in order.
    pub fn statuses(&self) -> Vec<u16> {
        self.results.iter().map(|r| r.status).collect()
    }
}

/// A row of an import report.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RowNote {
    /// Record number, from 1.
    pub row: u64,
    pub message: String,
}

/// The outcome of a CSV import.
#[derive(Debug, Clone, Deserialize)]
pub struct ImportReport {
    pub import_id: Uuid,
    /// `companies`, `contacts` or `deals`.
    pub kind: String,
    pub rows_read: u64,
    pub created: u64,
    pub skipped_duplicates: u64,
    pub failed: u64,
    pub duplicates: Vec<RowNote>,
    pub warnings: Vec<RowNote>,
    pub errors: Vec<RowNote>,
    pub ignored_columns: Vec<String>,
    pub dry_run: bool,
    #[serde(default)]
    pub aborted: Option<String>,
}

/// An import job (`GET /v1/imports/{id}`, or the `202` of a background import).
#[derive(Debug, Clone, Deserialize)]
pub struct ImportJob {
    pub import_id: Uuid,
    pub kind: String,
    /// `running`, `completed`, `aborted`, `failed` or `interrupted`.
    pub state: String,
    pub dry_run: bool,
    pub rows_read: u64,
    pub created: u64,
    pub skipped_duplicates: u64,
    pub failed: u64,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub report: Option<ImportReport>,
    pub error: Option<String>,
}

/// What an import's undo did.
#[derive(Debug, Clone, Deserialize)]
pub struct UndoReport {
    pub import_id: Uuid,
    pub deleted: u64,
    pub already_deleted: u64,
}

/// The tokens a sign-in, a sign-up or a refresh hands out.
#[derive(Debug, Clone, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub session_id: Uuid,
}

/// A workspace's id and slug.
#[derive(Debug, Clone, Deserialize)]
pub struct WorkspaceRef {
    pub id: Uuid,
    pub slug: String,
}

/// The founder of a new workspace.
#[derive(Debug, Clone, Deserialize)]
pub struct Founder {
    pub id: Uuid,
    pub email: String,
    pub role: String,
}

/// `POST /v1/auth/signup`.
#[derive(Debug, Clone, Deserialize)]
pub struct SignupAnswer {
    pub workspace: WorkspaceRef,
    pub user: Founder,
    #[serde(flatten)]
    pub tokens: Tokens,
}

/// A workspace's id, slug and name.
#[derive(Debug, Clone, Deserialize)]
pub struct WorkspaceView {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
}

/// The caller as `GET /v1/me` shows them.
#[derive(Debug, Clone, Deserialize)]
pub struct MeUser {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    /// `owner`, `admin`, `manager`, `member` or `read_only`.
    pub role: String,
}

/// `GET /v1/me`.
#[derive(Debug, Clone, Deserialize)]
pub struct Me {
    pub user: MeUser,
    pub workspace: Option<WorkspaceView>,
}

/// One of the caller's sessions.
#[derive(Debug, Clone, Deserialize)]
pub struct Session {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    #[serde(default)]
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub ip: Option<String>,
    /// Whether the request came with this session's token.
    pub current: bool,
}

/// `GET /v1/auth/sessions`: newest first.
#[derive(Debug, Clone, Deserialize)]
pub struct SessionList {
    pub items: Vec<Session>,
}

/// A member or invitee of a workspace.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    /// `owner`, `admin`, `manager`, `member` or `read_only`.
    pub role: String,
    /// `invited`, `active` or `deactivated`.
    pub status: String,
    pub version: i64,
}

/// `GET /v1/users`.
#[derive(Debug, Clone, Deserialize)]
pub struct UserList {
    pub items: Vec<User>,
}

/// `POST /v1/users/invitations`.
#[derive(Debug, Clone, Deserialize)]
pub struct Invitation {
    pub user: User,
    pub expires_at: DateTime<Utc>,
}

/// A new API key, with the key itself (shown this once).
#[derive(Debug, Clone, Deserialize)]
pub struct NewKey {
    pub id: Uuid,
    pub name: String,
    pub role: String,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// `crm_…`, sent as a bearer token.
    pub key: String,
}

/// A key as its managers see it (never the key itself).
#[derive(Debug, Clone, Deserialize)]
pub struct KeyRow {
    pub id: Uuid,
    pub name: String,
    pub role: String,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// `GET /v1/api-keys`.
#[derive(Debug, Clone, Deserialize)]
pub struct KeyList {
    pub items: Vec<KeyRow>,
}

/// One request made with an API key.
#[derive(Debug, Clone, Deserialize)]
pub struct KeyRequest {
    pub key_id: Uuid,
    pub method: String,
    pub path: String,
    pub status: u16,
    #[serde(default)]
    pub ip: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

/// `GET /v1/api-keys/requests`: newest first.
#[derive(Debug, Clone, Deserialize)]
pub struct KeyRequests {
    pub items: Vec<KeyRequest>,
}

/// The password step of a sign-in with two-factor on.
#[derive(Debug, Clone, Deserialize)]
pub struct TwoFactorChallenge {
    /// Always `true`.
    pub two_factor_required: bool,
    /// For `POST /v1/auth/2fa/verify` only.
    pub challenge_token: String,
}

/// A new two-factor secret, shown once.
#[derive(Debug, Clone, Deserialize)]
pub struct Enrolment {
    /// Base32.
    pub secret: String,
    pub otpauth_uri: String,
}

/// The recovery codes of a newly confirmed two-factor sign-in, shown once.
#[derive(Debug, Clone, Deserialize)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// A support sign-in's token.
#[derive(Debug, Clone, Deserialize)]
pub struct SupportToken {
    /// `crms_…`, sent with `X-Support-Workspace`.
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
}

/// A support grant as the Owner sees it.
#[derive(Debug, Clone, Deserialize)]
pub struct Grant {
    pub id: Uuid,
    pub support_id: Uuid,
    pub support_email: String,
    /// `read` or `recovery`.
    pub scope: String,
    pub reason: String,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    #[serde(default)]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// `GET /v1/support-grants`: newest first.
#[derive(Debug, Clone, Deserialize)]
pub struct GrantList {
    pub items: Vec<Grant>,
}

/// One request made under a grant.
#[derive(Debug, Clone, Deserialize)]
pub struct Access {
    pub grant_id: Uuid,
    pub support_id: Uuid,
    pub method: String,
    pub path: String,
    pub at: DateTime<Utc>,
}

/// `GET /v1/support-grants/{id}/access`: oldest first.
#[derive(Debug, Clone, Deserialize)]
pub struct AccessList {
    pub items: Vec<Access>,
}

/// One failing field of a 422.
#[derive(Debug, Clone, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// An RFC 9457 problem.
#[derive(Debug, Clone, Deserialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(default)]
    pub errors: Option<Vec<FieldError>>,
}

impl Problem {
    /// The first failing field of a 422; panics when the problem names none.
    #[track_caller]
    pub fn field(&self) -> &str {
        self.errors
            .as_deref()
            .and_then(|e| e.first())
            .map(|e| e.field.as_str())
            .unwrap_or_else(|| panic!("the problem names no field: {self:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nullable_field_marked_present_must_be_sent() {
        let page: Result<Page<Value>, _> = serde_json::from_str(r#"{"items": []}"#);
        assert!(page.is_err(), "a page without next_cursor was accepted");
        let page: Page<Value> =
            serde_json::from_str(r#"{"items": [], "next_cursor": null}"#).unwrap();
        assert!(page.next_cursor.is_none());
    }
}
