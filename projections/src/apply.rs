//! Applying one event to the read tables, idempotently by version.
//!
//! A creation inserts the row at version 1 (`ON CONFLICT DO NOTHING`); every later event
//! is a conditional `UPDATE … WHERE version = sequence - 1`. So an event applied twice, or
//! out of order, changes nothing, and the inline and catch-up projectors may race freely:
//! the catch-up projector, reading in commit order, fills any gap the inline one left.

use crm_domain::company::CompanyEvent;
use crm_domain::contact::{ContactEvent, ContactFields};
use crm_domain::deal::DealEvent;
use crm_domain::fields::{CustomValues, FieldSchemaEvent, RecordKind};
use crm_domain::user::UserEvent;
use crm_domain::workspace::WorkspaceEvent;
use sea_orm::sea_query::{Expr, OnConflict, SimpleExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    TransactionTrait,
};

use crate::entities::table::sets_of;
use crate::entities::{company, contact, deal, user, workspace};
use crm_store::event::{AnyEvent, StoredEvent};

/// The read rows a [`returning`] scope's writes left, as those writes returned them
/// (`RETURNING *`): keyed by table and entity id, the latest write of each row last.
pub type Returned = std::collections::HashMap<(String, uuid::Uuid), Box<dyn std::any::Any + Send>>;

tokio::task_local! {
    static RETURNED: std::cell::RefCell<Returned>;
}

/// Runs `work` (applies of a command's events) so that every write of a record's read row
/// (all go through the conditional update and the first insert below) returns the row as
/// written, and hands those rows back with `work`'s output: the command's answer is then
/// built from them with no statement to read the row again (issue 10). Outside such a
/// scope (rebuilds, the catch-up projector) nothing is returned.
pub async fn returning<F: std::future::Future>(work: F) -> (F::Output, Returned) {
    RETURNED
        .scope(std::cell::RefCell::new(Returned::new()), async move {
            let output = work.await;
            let rows = RETURNED.with(|r| std::mem::take(&mut *r.borrow_mut()));
            (output, rows)
        })
        .await
}

/// Whether a [`returning`] scope is collecting.
pub(crate) fn collecting() -> bool {
    RETURNED.try_with(|_| ()).is_ok()
}

/// Keeps `model`, the row of entity `id` in `E`'s table as a write returned it.
pub(crate) fn keep<E: EntityTrait>(id: uuid::Uuid, model: E::Model)
where
    E::Model: Send + 'static,
{
    let table = E::default().table_name().to_owned();
    let _ = RETURNED.try_with(|r| {
        r.borrow_mut().insert((table, id), Box::new(model));
    });
}

/// Whether an event changed a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The row moved to this event's version.
    Yes,
    /// Already applied, or an earlier version is still missing (the catch-up projector
    /// will apply it in order).
    Skipped,
}

/// Applies `event` to the read tables through `conn` (a connection or a transaction of the
/// projector role).
///
/// # Errors
/// Any database error.
pub async fn apply<C: ConnectionTrait + TransactionTrait>(
    conn: &C,
    event: &StoredEvent,
) -> Result<Applied, DbErr> {
    let affected = match &event.event {
        AnyEvent::Workspace(e) => apply_workspace(conn, event, e).await?,
        AnyEvent::User(e) => apply_user(conn, event, e).await?,
        AnyEvent::Company(e) => apply_company(conn, event, e).await?,
        AnyEvent::Contact(ContactEvent::ContactCompanyLinked { company_id, role }) => {
            crate::apply_deals::apply_contact_link(conn, event, company_id.0, Some(role.clone()))
                .await?
        }
        AnyEvent::Contact(ContactEvent::ContactCompanyUnlinked { company_id }) => {
            crate::apply_deals::apply_contact_link(conn, event, company_id.0, None).await?
        }
        AnyEvent::Contact(e) => apply_contact(conn, event, e).await?,
        AnyEvent::Pipeline(e) => crate::apply_deals::apply_pipeline(conn, event, e).await?,
        AnyEvent::Deal(e) => crate::apply_deals::apply_deal(conn, event, e).await?,
        AnyEvent::Activity(e) => crate::apply_activities::apply_activity(conn, event, e).await?,
        // A workspace's schema is read from its stream (`crm_app::fields`); values are
        // projected with their records.
        AnyEvent::FieldSchema(FieldSchemaEvent::FieldArchived { id }) => {
            crate::custom::archive(conn, event.stream.tenant.0, *id).await?
        }
        AnyEvent::FieldSchema(FieldSchemaEvent::FieldRestored { id }) => {
            crate::custom::restore(conn, event.stream.tenant.0, *id).await?
        }
        AnyEvent::FieldSchema(_) => 0,
    };
    Ok(if affected > 0 {
        Applied::Yes
    } else {
        Applied::Skipped
    })
}

/// Rows per multi-row `INSERT` of [`apply_batch`] (each row binds about 20 values, and a
/// statement binds at most 65,535).
const ROWS_PER_INSERT: usize = 1_000;

/// The read rows that streams' first events make, waiting to be inserted together.
#[derive(Default)]
struct NewRows {
    companies: Vec<company::ActiveModel>,
    contacts: Vec<contact::ActiveModel>,
    deals: Vec<deal::ActiveModel>,
    /// The new rows with custom values, to key by API key once inserted.
    custom: Vec<(RecordKind, uuid::Uuid)>,
}

impl NewRows {
    /// Takes the row `ev` makes when it is the first event of a company, contact or deal
    /// (whose projection is that one row, and nothing else); `false` for any other event.
    fn take(&mut self, ev: &StoredEvent) -> bool {
        if ev.sequence != 1 {
            return false;
        }
        match &ev.event {
            AnyEvent::Company(CompanyEvent::CompanyCreated(f)) => {
                self.keyed(RecordKind::Company, ev, &f.custom);
                self.companies.push(company_row(ev, f));
            }
            AnyEvent::Contact(ContactEvent::ContactCreated(f)) => {
                self.keyed(RecordKind::Contact, ev, &contact_custom(f));
                self.contacts.push(contact_row(ev, f.clone()));
            }
            AnyEvent::Deal(DealEvent::DealCreated(f)) => {
                self.keyed(RecordKind::Deal, ev, &f.custom);
                self.deals.push(crate::apply_deals::deal_row(ev, f));
            }
            _ => return false,
        }
        true
    }

    /// Notes a new row whose values must be keyed by API key once inserted.
    fn keyed(&mut self, record: RecordKind, ev: &StoredEvent, values: &CustomValues) {
        if !values.is_empty() {
            self.custom.push((record, ev.stream.entity.0));
        }
    }

    /// Inserts every waiting row, `ROWS_PER_INSERT` to a statement.
    async fn flush<C: ConnectionTrait>(&mut self, conn: &C) -> Result<(), DbErr> {
        use company::Column as Co;
        use contact::Column as Ct;
        use deal::Column as D;
        insert_all(
            conn,
            std::mem::take(&mut self.companies),
            [Co::TenantId, Co::Id],
        )
        .await?;
        insert_all(
            conn,
            std::mem::take(&mut self.contacts),
            [Ct::TenantId, Ct::Id],
        )
        .await?;
        insert_all(conn, std::mem::take(&mut self.deals), [D::TenantId, D::Id]).await?;
        for (record, table) in [
            (RecordKind::Company, "companies"),
            (RecordKind::Contact, "contacts"),
            (RecordKind::Deal, "deals"),
        ] {
            let ids = self
                .custom
                .iter()
                .filter(|(r, _)| *r == record)
                .map(|(_, id)| *id)
                .collect();
            crate::custom::key_many(conn, record, table, ids).await?;
        }
        self.custom.clear();
        Ok(())
    }
}

/// `rows` inserted with multi-row `INSERT … ON CONFLICT DO NOTHING`s, as
/// [`insert_first`] would one by one.
async fn insert_all<C, A>(
    conn: &C,
    mut rows: Vec<A>,
    pk: [<A::Entity as EntityTrait>::Column; 2],
) -> Result<(), DbErr>
where
    C: ConnectionTrait,
    A: sea_orm::ActiveModelTrait + Send,
    <A::Entity as EntityTrait>::Model: sea_orm::IntoActiveModel<A>,
{
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(ROWS_PER_INSERT));
        <A::Entity as EntityTrait>::insert_many(rows)
            .on_conflict(OnConflict::columns(pk).do_nothing().to_owned())
            .exec_without_returning(conn)
            .await?;
        rows = rest;
    }
    Ok(())
}

/// Applies `events` in order, with the same result as [`apply`] on each in turn, in fewer
/// statements: the rows that companies', contacts' and deals' first events make are
/// gathered and inserted many to a statement, before any other event is applied (so an
/// event that changes a row always finds it). For replays of many events: rebuilds and
/// catch-up batches.
///
/// # Errors
/// Any database error.
pub async fn apply_batch<'e, C: ConnectionTrait + TransactionTrait>(
    conn: &C,
    events: impl IntoIterator<Item = &'e StoredEvent>,
) -> Result<(), DbErr> {
    let mut waiting = NewRows::default();
    for event in events {
        if waiting.take(event) {
            continue;
        }
        waiting.flush(conn).await?;
        apply(conn, event).await?;
    }
    waiting.flush(conn).await
}

/// Column assignments that every event makes: the version and the time.
fn stamp(event: &StoredEvent) -> Vec<(&'static str, SimpleExpr)> {
    vec![
        ("version", Expr::value(event.sequence)),
        ("updated_at", Expr::value(event.metadata.occurred_at)),
    ]
}

/// Soft-deletes (`deleted`) or restores the row of `event`'s stream in `E`, stamped
/// with the event's actor.
pub(crate) async fn set_deleted<C, E>(
    conn: &C,
    event: &StoredEvent,
    deleted: bool,
) -> Result<u64, DbErr>
where
    C: ConnectionTrait,
    E: EntityTrait,
    E::Column: ColumnTrait,
{
    use std::str::FromStr;
    let col = |name: &str| {
        E::Column::from_str(name).map_err(|_| DbErr::Custom(format!("no column {name}")))
    };
    let sets = vec![
        (col("deleted")?, Expr::value(deleted)),
        (col("updated_by")?, Expr::value(event.metadata.actor.id())),
    ];
    update_next::<C, E>(conn, event, sets).await
}

/// A merge's tombstone (`into`: its survivor) or a record back from one (`None`): sets
/// `deleted` and `merged_into` of the row of `event`'s stream in `E`.
pub(crate) async fn set_merged<C, E>(
    conn: &C,
    event: &StoredEvent,
    into: Option<uuid::Uuid>,
) -> Result<u64, DbErr>
where
    C: ConnectionTrait,
    E: EntityTrait,
    E::Column: ColumnTrait,
{
    use std::str::FromStr;
    let col = |name: &str| {
        E::Column::from_str(name).map_err(|_| DbErr::Custom(format!("no column {name}")))
    };
    let sets = vec![
        (col("deleted")?, Expr::value(into.is_some())),
        (col("merged_into")?, Expr::value(into)),
        (col("updated_by")?, Expr::value(event.metadata.actor.id())),
    ];
    update_next::<C, E>(conn, event, sets).await
}

/// Runs a conditional update of the row of `event`'s stream in `E`, setting `sets`.
pub(crate) async fn update_next<C, E>(
    conn: &C,
    event: &StoredEvent,
    sets: Vec<(E::Column, SimpleExpr)>,
) -> Result<u64, DbErr>
where
    C: ConnectionTrait,
    E: EntityTrait,
    E::Column: ColumnTrait,
{
    use std::str::FromStr;
    let col = |name: &str| {
        E::Column::from_str(name).map_err(|_| DbErr::Custom(format!("no column {name}")))
    };
    let mut update = E::update_many()
        .filter(col("tenant_id")?.eq(event.stream.tenant.0))
        .filter(col(id_column::<E>())?.eq(event.stream.entity.0))
        .filter(col("version")?.eq(event.sequence - 1));
    for (name, value) in stamp(event) {
        update = update.col_expr(col(name)?, value);
    }
    for (column, value) in sets {
        update = update.col_expr(column, value);
    }
    if collecting() {
        let rows = update.exec_with_returning(conn).await?;
        let affected = rows.len() as u64;
        if let Some(row) = rows.into_iter().next() {
            keep::<E>(event.stream.entity.0, row);
        }
        return Ok(affected);
    }
    Ok(update.exec(conn).await?.rows_affected)
}

/// The column holding the entity id: `tenant_id` for workspaces, `id` elsewhere.
fn id_column<E: EntityTrait>() -> &'static str {
    if E::default().table_name() == "workspaces" {
        "tenant_id"
    } else {
        "id"
    }
}

/// Inserts `model`, the first row of entity `id`, unless the row exists.
pub(crate) async fn insert_first<C, A>(
    conn: &C,
    id: uuid::Uuid,
    model: A,
    pk: [<A::Entity as EntityTrait>::Column; 2],
) -> Result<u64, DbErr>
where
    C: ConnectionTrait,
    A: sea_orm::ActiveModelTrait + Send,
    <A::Entity as EntityTrait>::Model: sea_orm::IntoActiveModel<A>,
{
    let insert = <A::Entity as EntityTrait>::insert(model)
        .on_conflict(OnConflict::columns(pk).do_nothing().to_owned());
    if collecting() {
        return match insert.exec_with_returning(conn).await {
            Ok(row) => {
                keep::<A::Entity>(id, row);
                Ok(1)
            }
            // The row exists (ON CONFLICT DO NOTHING returned nothing).
            Err(DbErr::RecordNotInserted | DbErr::RecordNotFound(_)) => Ok(0),
            Err(err) => Err(err),
        };
    }
    insert.exec_without_returning(conn).await
}

/// A contact's custom values, ordinary and personal, as its read row shows them together.
fn contact_custom(fields: &ContactFields) -> CustomValues {
    let mut values = fields.custom.clone();
    values.extend(fields.personal_custom.clone());
    values
}

/// Inserts a record's first row ([`insert_first`]; its custom values keyed by field id),
/// then keys those values by API key ([`crate::custom::key`]) when it has any.
pub(crate) async fn insert_record<C, A>(
    conn: &C,
    ev: &StoredEvent,
    model: A,
    pk: [<A::Entity as EntityTrait>::Column; 2],
    (record, values): (RecordKind, &CustomValues),
) -> Result<u64, DbErr>
where
    C: ConnectionTrait,
    A: sea_orm::ActiveModelTrait + Send,
    <A::Entity as EntityTrait>::Model: sea_orm::IntoActiveModel<A> + Send + 'static,
{
    let inserted = insert_first(conn, ev.stream.entity.0, model, pk).await?;
    if inserted > 0 && !values.is_empty() {
        let (tenant, id) = (ev.stream.tenant.0, ev.stream.entity.0);
        crate::custom::claim(conn, record, tenant, id, crate::custom::column(values)).await?;
        crate::custom::key::<C, A::Entity>(conn, record, tenant, id).await?;
    }
    Ok(inserted)
}

/// Applies a record's update event ([`update_next`] with `sets`), then claims or releases
/// the values of unique fields among its changed `custom` values.
pub(crate) async fn update_record<C, E>(
    conn: &C,
    ev: &StoredEvent,
    sets: Vec<(E::Column, SimpleExpr)>,
    (record, custom): (RecordKind, &crm_domain::fields::CustomChanges),
) -> Result<u64, DbErr>
where
    C: ConnectionTrait,
    E: EntityTrait,
    E::Column: ColumnTrait,
{
    let updated = update_next::<C, E>(conn, ev, sets).await?;
    if updated > 0 && !custom.is_empty() {
        let values = crate::custom::changes_json(custom);
        crate::custom::claim(conn, record, ev.stream.tenant.0, ev.stream.entity.0, values).await?;
    }
    Ok(updated)
}

async fn apply_workspace<C: ConnectionTrait>(
    conn: &C,
    ev: &StoredEvent,
    e: &WorkspaceEvent,
) -> Result<u64, DbErr> {
    match e {
        WorkspaceEvent::WorkspaceCreated { name, slug } => {
            if ev.sequence != 1 {
                return Ok(0);
            }
            let model = workspace::ActiveModel {
                tenant_id: Set(ev.stream.tenant.0),
                slug: Set(slug.clone()),
                name: Set(name.clone()),
                require_two_factor: Set(false),
                version: Set(1),
                created_at: Set(ev.metadata.occurred_at),
                updated_at: Set(ev.metadata.occurred_at),
            };
            let result = workspace::Entity::insert(model)
                .on_conflict(
                    OnConflict::column(workspace::Column::TenantId)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(conn)
                .await?;
            Ok(result)
        }
        WorkspaceEvent::TwoFactorPolicyChanged { required } => {
            update_next::<_, workspace::Entity>(
                conn,
                ev,
                vec![(workspace::Column::RequireTwoFactor, Expr::value(*required))],
            )
            .await
        }
        WorkspaceEvent::ApiKeyCreated { .. }
        | WorkspaceEvent::ApiKeyRevoked { .. }
        | WorkspaceEvent::SupportGranted { .. }
        | WorkspaceEvent::SupportRevoked { .. }
        | WorkspaceEvent::WebhookEndpointCreated { .. }
        | WorkspaceEvent::WebhookEndpointUpdated { .. }
        | WorkspaceEvent::WebhookSecretRotated { .. }
        | WorkspaceEvent::WebhookEndpointDisabled { .. }
        | WorkspaceEvent::WebhookEndpointDeleted { .. } => {
            update_next::<_, workspace::Entity>(conn, ev, vec![]).await
        }
        WorkspaceEvent::WorkspaceRenamed { name } => {
            update_next::<_, workspace::Entity>(
                conn,
                ev,
                vec![(workspace::Column::Name, Expr::value(name.clone()))],
            )
            .await
        }
    }
}

async fn apply_user<C: ConnectionTrait>(
    conn: &C,
    ev: &StoredEvent,
    e: &UserEvent,
) -> Result<u64, DbErr> {
    match e {
        UserEvent::UserRegistered {
            email,
            display_name,
            role,
        } => {
            if ev.sequence != 1 {
                return Ok(0);
            }
            let model = user::ActiveModel {
                tenant_id: Set(ev.stream.tenant.0),
                id: Set(ev.stream.entity.0),
                email: Set(email.to_string()),
                display_name: Set(display_name.clone()),
                role: Set(role.as_str().to_owned()),
                status: Set("active".to_owned()),
                version: Set(1),
                created_at: Set(ev.metadata.occurred_at),
                updated_at: Set(ev.metadata.occurred_at),
            };
            insert_first(
                conn,
                ev.stream.entity.0,
                model,
                [user::Column::TenantId, user::Column::Id],
            )
            .await
        }
        UserEvent::UserInvited { email, role } => {
            if ev.sequence != 1 {
                return Ok(0);
            }
            let model = user::ActiveModel {
                tenant_id: Set(ev.stream.tenant.0),
                id: Set(ev.stream.entity.0),
                email: Set(email.to_string()),
                display_name: Set(email.to_string()),
                role: Set(role.as_str().to_owned()),
                status: Set("invited".to_owned()),
                version: Set(1),
                created_at: Set(ev.metadata.occurred_at),
                updated_at: Set(ev.metadata.occurred_at),
            };
            insert_first(
                conn,
                ev.stream.entity.0,
                model,
                [user::Column::TenantId, user::Column::Id],
            )
            .await
        }
        UserEvent::InvitationAccepted { display_name } => {
            let sets = vec![
                (user::Column::DisplayName, Expr::value(display_name.clone())),
                (user::Column::Status, Expr::value("active")),
            ];
            update_next::<_, user::Entity>(conn, ev, sets).await
        }
        UserEvent::RoleChanged { role } => {
            update_next::<_, user::Entity>(
                conn,
                ev,
                vec![(user::Column::Role, Expr::value(role.as_str()))],
            )
            .await
        }
        UserEvent::UserDeactivated => {
            update_next::<_, user::Entity>(
                conn,
                ev,
                vec![(user::Column::Status, Expr::value("deactivated"))],
            )
            .await
        }
        UserEvent::UserReactivated => {
            update_next::<_, user::Entity>(
                conn,
                ev,
                vec![(user::Column::Status, Expr::value("active"))],
            )
            .await
        }
        UserEvent::PasswordChanged
        | UserEvent::LoginSucceeded { .. }
        | UserEvent::LoginFailed
        | UserEvent::PasswordReset
        | UserEvent::TwoFactorEnabled
        | UserEvent::TwoFactorDisabled
        | UserEvent::RecoveryCodeUsed
        | UserEvent::LoggedOut { .. }
        | UserEvent::RefreshTokenReuseDetected { .. } => {
            update_next::<_, user::Entity>(conn, ev, vec![]).await
        }
    }
}

/// The `contacts` row a contact's `ContactCreated` (its first event) makes: its
/// declared columns, and not erased.
fn contact_row(ev: &StoredEvent, fields: ContactFields) -> contact::ActiveModel {
    contact::ActiveModel {
        erased_at: Set(None),
        custom: Set(crate::custom::column(&contact_custom(&fields))),
        ..contact::ActiveModel::created(ev, fields)
    }
}

async fn apply_company<C: ConnectionTrait>(
    conn: &C,
    ev: &StoredEvent,
    e: &CompanyEvent,
) -> Result<u64, DbErr> {
    use company::Column as C;
    let by = ev.metadata.actor.id();
    match e {
        CompanyEvent::CompanyCreated(fields) => {
            if ev.sequence != 1 {
                return Ok(0);
            }
            insert_record(
                conn,
                ev,
                company_row(ev, fields),
                [C::TenantId, C::Id],
                (RecordKind::Company, &fields.custom),
            )
            .await
        }
        CompanyEvent::CompanyUpdated(changes) => {
            let mut sets = sets_of(&company::ActiveModel::changed(changes.clone()));
            sets.push((C::UpdatedBy, Expr::value(by)));
            if !changes.custom.is_empty() {
                sets.push((
                    C::Custom,
                    crate::custom::merge(RecordKind::Company, &changes.custom),
                ));
            }
            let custom = (RecordKind::Company, &changes.custom);
            update_record::<_, company::Entity>(conn, ev, sets, custom).await
        }
        CompanyEvent::CompanyDeleted | CompanyEvent::CompanyRestored => {
            let deleted = matches!(e, CompanyEvent::CompanyDeleted);
            set_deleted::<_, company::Entity>(conn, ev, deleted).await
        }
        CompanyEvent::CompanyMergedInto { into } => {
            set_merged::<_, company::Entity>(conn, ev, Some(into.0)).await
        }
        CompanyEvent::CompanyUnmerged { .. } => {
            set_merged::<_, company::Entity>(conn, ev, None).await
        }
        CompanyEvent::CompanyMerged(_) | CompanyEvent::CompanyMergeUndone { .. } => {
            update_next::<_, company::Entity>(conn, ev, vec![(C::UpdatedBy, Expr::value(by))]).await
        }
    }
}

/// Forgets the workspace's stored idempotent answers (bytes kept up to 24 hours) that
/// mention the contact being erased: its id, its email, or its full name, as the read row
/// has them before the erasure clears them. Runs with the projection, so a failure is
/// retried by the catch-up projector rather than lost.
async fn forget_answers_about<C: ConnectionTrait>(conn: &C, ev: &StoredEvent) -> Result<(), DbErr> {
    conn.execute(sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        "WITH subject AS (
           SELECT array_remove(ARRAY[$2::text, email,
                    CASE WHEN first_name IS NOT NULL AND last_name IS NOT NULL
                         THEN first_name || ' ' || last_name END], NULL) AS needles
             FROM (SELECT email, first_name, last_name FROM contacts
                    WHERE tenant_id = $1 AND id = $3
                   UNION ALL SELECT NULL, NULL, NULL LIMIT 1) c
         )
         DELETE FROM idempotency_keys k USING subject
          WHERE k.tenant_id = $1 AND k.body IS NOT NULL
            AND EXISTS (SELECT FROM unnest(subject.needles) n
                         WHERE position(convert_to(n, 'UTF8') IN k.body) > 0)",
        [
            ev.stream.tenant.0.into(),
            ev.stream.entity.0.to_string().into(),
            ev.stream.entity.0.into(),
        ],
    ))
    .await?;
    // Import reports (kept as long as the workspace) keep their counts and row numbers;
    // the contact's email and name are blanked out of their notes (`crm_blank_out`).
    conn.execute(sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        "WITH subject AS (
           SELECT array_remove(ARRAY[email,
                    CASE WHEN first_name IS NOT NULL AND last_name IS NOT NULL
                         THEN first_name || ' ' || last_name
                         ELSE coalesce(first_name, last_name) END], NULL) AS needles
             FROM contacts WHERE tenant_id = $1 AND id = $2
         )
         UPDATE import_jobs j SET report = crm_blank_out(j.report, subject.needles)
           FROM subject
          WHERE j.tenant_id = $1 AND j.report IS NOT NULL
            AND EXISTS (SELECT FROM unnest(subject.needles) n
                         WHERE n <> '' AND position(lower(n) IN lower(j.report::text)) > 0)",
        [ev.stream.tenant.0.into(), ev.stream.entity.0.into()],
    ))
    .await?;
    Ok(())
}

async fn apply_contact<C: ConnectionTrait>(
    conn: &C,
    ev: &StoredEvent,
    e: &ContactEvent,
) -> Result<u64, DbErr> {
    use contact::Column as C;
    let by = ev.metadata.actor.id();
    match e {
        ContactEvent::ContactCreated(fields) => {
            if ev.sequence != 1 {
                return Ok(0);
            }
            insert_record(
                conn,
                ev,
                contact_row(ev, fields.clone()),
                [C::TenantId, C::Id],
                (RecordKind::Contact, &contact_custom(fields)),
            )
            .await
        }
        ContactEvent::ContactUpdated(changes) => {
            let mut sets = sets_of(&contact::ActiveModel::changed(changes.clone()));
            sets.push((C::UpdatedBy, Expr::value(by)));
            let mut custom = changes.custom.clone();
            custom.extend(changes.personal_custom.clone());
            if !custom.is_empty() {
                sets.push((
                    C::Custom,
                    crate::custom::merge(RecordKind::Contact, &custom),
                ));
            }
            update_record::<_, contact::Entity>(conn, ev, sets, (RecordKind::Contact, &custom))
                .await
        }
        ContactEvent::ContactCompanyLinked { .. } | ContactEvent::ContactCompanyUnlinked { .. } => {
            // Applied with their association row by `apply_contact_link`.
            update_next::<_, contact::Entity>(conn, ev, vec![(C::UpdatedBy, Expr::value(by))]).await
        }
        ContactEvent::ContactErased => {
            forget_answers_about(conn, ev).await?;
            let none = || Expr::value(Option::<String>::None);
            let affected = update_next::<_, contact::Entity>(
                conn,
                ev,
                vec![
                    (C::FirstName, none()),
                    (C::LastName, none()),
                    (C::Email, none()),
                    (C::Phone, none()),
                    (C::JobTitle, none()),
                    (C::ErasedAt, Expr::value(Some(ev.metadata.occurred_at))),
                    (C::Custom, crate::custom::without_personal()),
                    (C::UpdatedBy, Expr::value(by)),
                ],
            )
            .await?;
            // The workspace's claim on the contact's email goes with the email.
            conn.execute(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "DELETE FROM contact_emails WHERE tenant_id = $1 AND contact_id = $2",
                [ev.stream.tenant.0.into(), ev.stream.entity.0.into()],
            ))
            .await?;
            Ok(affected)
        }
        ContactEvent::ContactDeleted | ContactEvent::ContactRestored => {
            let deleted = matches!(e, ContactEvent::ContactDeleted);
            set_deleted::<_, contact::Entity>(conn, ev, deleted).await
        }
        ContactEvent::ContactMergedInto { into } => {
            set_merged::<_, contact::Entity>(conn, ev, Some(into.0)).await
        }
        ContactEvent::ContactUnmerged { .. } => {
            set_merged::<_, contact::Entity>(conn, ev, None).await
        }
        ContactEvent::ContactMerged(_) | ContactEvent::ContactMergeUndone { .. } => {
            update_next::<_, contact::Entity>(conn, ev, vec![(C::UpdatedBy, Expr::value(by))]).await
        }
    }
}

/// The row a company's created event makes, its custom values keyed by field id.
fn company_row(
    ev: &StoredEvent,
    fields: &crm_domain::company::CompanyFields,
) -> company::ActiveModel {
    company::ActiveModel {
        custom: sea_orm::ActiveValue::Set(crate::custom::column(&fields.custom)),
        ..company::ActiveModel::created(ev, fields.clone())
    }
}
