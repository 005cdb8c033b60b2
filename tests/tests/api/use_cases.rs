//! The application layer called directly, with no HTTP: the rules that span streams
//! (links within a workspace, unique emails, ownership, revert, a stage's open deals, a
//! key's role) hold in `crm_app` itself,
//! whatever calls it.

use std::collections::HashSet;

use crm_app::api_keys::{self, CreateKey};
use crm_app::caller::Caller;
use crm_app::commands::Commands;
use crm_app::db::Pools;
use crm_app::pipelines;
use crm_app::records::companies::{Companies, CreateCompany, PatchCompany};
use crm_app::records::contacts::{Contacts, CreateContact};
use crm_app::records::deals::{CreateDeal, Deals};
use crm_app::records::{self, Services};
use crm_app::signup::{signup, SignupBody};
use crm_app::AppError;
use crm_domain::{EventMetadata, Role, TenantId, UserId};
use crm_store::{Credential, TenantScope};
use uuid::Uuid;

use crate::helpers::{admin_options, fresh_database, keyring, test_settings};

/// The application's pools and write side over a fresh database.
struct World {
    pools: Pools,
    commands: Commands,
    database: String,
}

impl World {
    async fn new() -> Self {
        let database = fresh_database().await;
        let settings = test_settings(&database);
        let pools = crm_app::db::connect(&settings.database)
            .await
            .unwrap_or_else(|e| panic!("connecting: {e}"));
        let commands = Commands::new(&pools, keyring());
        Self {
            pools,
            commands,
            database,
        }
    }

    /// A connection to the world's database as its owner (no row-level security).
    async fn owner(&self) -> sqlx::PgConnection {
        use sqlx::ConnectOptions;
        admin_options()
            .database(&self.database)
            .connect()
            .await
            .unwrap_or_else(|e| panic!("connecting as the owner: {e}"))
    }

    /// Makes every commit fail whose transaction inserted a row of `table` matching
    /// `when` (a deferred constraint trigger, checked at `COMMIT`, after everything else
    /// of the transaction was written): a fault at the last moment.
    async fn fail_commits(&self, table: &str, when: &str) {
        sqlx::raw_sql(&format!(
            "CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN RAISE EXCEPTION 'the commit fails' USING ERRCODE = 'P0001'; END $$;
             CREATE CONSTRAINT TRIGGER refuse_commit AFTER INSERT ON {table}
               DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
               WHEN ({when}) EXECUTE FUNCTION refuse_commit();"
        ))
        .execute(&mut self.owner().await)
        .await
        .unwrap_or_else(|e| panic!("installing the fault: {e}"));
    }

    /// Removes the fault [`World::fail_commits`] installed on `table`.
    async fn heal(&self, table: &str) {
        sqlx::query(&format!("DROP TRIGGER refuse_commit ON {table}"))
            .execute(&mut self.owner().await)
            .await
            .unwrap_or_else(|e| panic!("removing the fault: {e}"));
    }

    /// Rows of `table` of `tenant`'s workspace, counted as the owner.
    async fn rows(&self, table: &str, tenant: TenantId) -> i64 {
        sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {table} WHERE tenant_id = $1"
        ))
        .bind(tenant.0)
        .fetch_one(&mut self.owner().await)
        .await
        .unwrap_or_else(|e| panic!("counting {table}: {e}"))
    }

    fn services(&self) -> Services<'_> {
        Services {
            db: &self.pools.app,
            commands: &self.commands,
        }
    }

    /// A new workspace; returns its Owner.
    async fn workspace(&self, slug: &str) -> Caller {
        let body = SignupBody {
            workspace_name: slug.to_uppercase(),
            workspace_slug: slug.into(),
            email: format!("owner@{slug}.example"),
            password: "violet harbour engine 42".to_owned().into(),
            display_name: "Owner".into(),
        };
        let founded = signup(self.services(), &HashSet::new(), body, |t, u| {
            EventMetadata::for_user(t, u, Role::Owner, Uuid::now_v7())
        })
        .await
        .unwrap_or_else(|e| panic!("signing up {slug}: {e:?}"));
        caller(founded.tenant, founded.user.0, Role::Owner)
    }
}

fn caller(tenant: TenantId, user: Uuid, role: Role) -> Caller {
    Caller {
        tenant,
        user: UserId(user),
        role,
        session: Uuid::nil(),
        api_key: None,
        scope: TenantScope::for_credential(Credential::AccessToken(tenant)),
        support: None,
        schema: None,
        primary_lsn: None,
    }
}

fn meta(c: &Caller) -> EventMetadata {
    EventMetadata::for_user(c.tenant, c.user, c.role, Uuid::now_v7())
}

fn company(name: &str) -> CreateCompany {
    serde_json::from_value(serde_json::json!({ "name": name }))
        .unwrap_or_else(|e| panic!("company body: {e}"))
}

fn contact(email: &str) -> CreateContact {
    serde_json::from_value(serde_json::json!({ "first_name": "Ada", "email": email }))
        .unwrap_or_else(|e| panic!("contact body: {e}"))
}

#[tokio::test]
async fn a_deal_cannot_name_a_company_of_another_workspace() {
    let world = World::new().await;
    let (a, b) = (world.workspace("uc-a").await, world.workspace("uc-b").await);
    let (theirs, _) =
        records::create::<Companies>(world.services(), &a, &meta(&a), company("A Corp"), None)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
    let body: CreateDeal = serde_json::from_value(serde_json::json!({
        "name": "Poach", "company_id": theirs
    }))
    .unwrap_or_else(|e| panic!("{e:?}"));
    let refused = records::create::<Deals>(world.services(), &b, &meta(&b), body, None).await;
    match refused {
        Err(AppError::Validation(fields)) => {
            assert_eq!(fields.len(), 1);
            assert_eq!(fields[0].field, "company_id");
        }
        other => panic!("expected a validation error on company_id, got {other:?}"),
    }
    let deals = crm_projections::queries::deals::list(
        &world.pools.app,
        &b.scope,
        &crm_projections::queries::deals::DealFilter::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(deals.items.is_empty(), "the refused deal was written");
}

#[tokio::test]
async fn contact_emails_are_unique_within_a_workspace_only() {
    let world = World::new().await;
    let (a, b) = (world.workspace("uc-c").await, world.workspace("uc-d").await);
    let s = world.services();
    records::create::<Contacts>(s, &a, &meta(&a), contact("ada@example.com"), None)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let again =
        records::create::<Contacts>(s, &a, &meta(&a), contact("ADA@example.com"), None).await;
    assert!(
        matches!(again, Err(AppError::Conflict(_))),
        "a second contact with the same email (other case) was not refused: {again:?}"
    );
    let (_, other) =
        records::create::<Contacts>(s, &b, &meta(&b), contact("ada@example.com"), None)
            .await
            .unwrap_or_else(|e| panic!("another workspace may use the email: {e:?}"));
    assert_eq!(other.email.as_deref(), Some("ada@example.com"));
}

#[tokio::test]
async fn a_member_changes_only_what_they_own() {
    let world = World::new().await;
    let owner = world.workspace("uc-e").await;
    let member = caller(owner.tenant, Uuid::now_v7(), Role::Member);
    let s = world.services();
    let (owners, _) =
        records::create::<Companies>(s, &owner, &meta(&owner), company("Owned"), None)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
    let patch = || -> PatchCompany {
        serde_json::from_value(serde_json::json!({"industry": "Retail"}))
            .unwrap_or_else(|e| panic!("{e:?}"))
    };
    let refused =
        records::update::<Companies>(s, &member, &meta(&member), owners, None, patch()).await;
    assert!(
        matches!(refused, Err(AppError::Forbidden)),
        "a Member changed the Owner's company: {refused:?}"
    );
    let deleted = records::delete::<Companies>(s, &member, &meta(&member), owners, None).await;
    assert!(matches!(deleted, Err(AppError::Forbidden)), "{deleted:?}");

    let (mine, _) = records::create::<Companies>(s, &member, &meta(&member), company("Mine"), None)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let changed = records::update::<Companies>(s, &member, &meta(&member), mine, None, patch())
        .await
        .unwrap_or_else(|e| panic!("a Member may change their own company: {e:?}"));
    assert_eq!(changed.industry.as_deref(), Some("Retail"));
    assert_eq!(changed.version, 2);
}

#[tokio::test]
async fn a_revert_sets_back_the_fields_of_the_patch_body() {
    let world = World::new().await;
    let owner = world.workspace("uc-f").await;
    let s = world.services();
    let (id, _) =
        records::create::<Companies>(s, &owner, &meta(&owner), company("First name"), None)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
    let rename: PatchCompany =
        serde_json::from_value(serde_json::json!({"name": "Second name", "tags": ["x"]}))
            .unwrap_or_else(|e| panic!("{e:?}"));
    records::update::<Companies>(s, &owner, &meta(&owner), id, None, rename)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));

    let reverted =
        records::revert::<Companies>(s, &owner, &meta(&owner), id, None, 1, "typo in the rename")
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(reverted.name, "First name");
    assert!(reverted.tags.is_empty());
    assert_eq!(reverted.version, 3);

    let nothing =
        records::revert::<Companies>(s, &owner, &meta(&owner), id, None, 1, "again").await;
    assert!(
        matches!(&nothing, Err(AppError::Validation(f)) if f[0].field == "to_version"),
        "reverting to the state it is in must be refused: {nothing:?}"
    );
    let stale = records::revert::<Companies>(s, &owner, &meta(&owner), id, Some(2), 2, "x").await;
    assert!(
        matches!(stale, Err(AppError::PreconditionFailed(_))),
        "a stale version must be refused: {stale:?}"
    );
}

#[tokio::test]
async fn a_taken_slug_or_email_is_refused_and_claims_nothing() {
    let world = World::new().await;
    world.workspace("uc-g").await;
    let attempt = |slug: &str, email: &str| SignupBody {
        workspace_name: "Again".into(),
        workspace_slug: slug.into(),
        email: email.into(),
        password: "violet harbour engine 42".to_owned().into(),
        display_name: "Someone".into(),
    };
    let none = HashSet::new();
    let run = |body| {
        signup(world.services(), &none, body, |t, u| {
            EventMetadata::for_user(t, u, Role::Owner, Uuid::now_v7())
        })
    };
    let slug_taken = run(attempt("uc-g", "someone@else.example")).await;
    assert!(
        matches!(slug_taken, Err(AppError::Conflict(_))),
        "{slug_taken:?}"
    );
    let email_taken = run(attempt("uc-h", "owner@uc-g.example")).await;
    assert!(
        matches!(email_taken, Err(AppError::Conflict(_))),
        "{email_taken:?}"
    );
    // Neither refusal kept a claim: the email of the first and the slug of the second
    // found a workspace now.
    let founded = run(attempt("uc-h", "someone@else.example"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(founded.slug, "uc-h");
    assert_eq!(founded.email.as_str(), "someone@else.example");
}

#[tokio::test]
async fn a_stage_holding_an_open_deal_is_retired_only_once_the_deal_is_gone() {
    let world = World::new().await;
    let (a, b) = (world.workspace("uc-i").await, world.workspace("uc-j").await);
    let s = world.services();
    let body: CreateDeal = serde_json::from_value(serde_json::json!({ "name": "Renewal" }))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let (deal, row) = records::create::<Deals>(s, &a, &meta(&a), body, None)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let (pipeline, stage) = (row.pipeline_id, row.stage_id);
    let before = pipelines::get(s, &a, pipeline)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));

    let held = pipelines::retire_stage(s, &a, &meta(&a), pipeline, stage, None).await;
    assert!(
        matches!(held, Err(AppError::Conflict(_))),
        "a stage with an open deal was retired: {held:?}"
    );
    // Another workspace sees neither the pipeline nor a way to retire its stage.
    let theirs = pipelines::get(s, &b, pipeline).await;
    assert!(matches!(theirs, Err(AppError::NotFound)), "{theirs:?}");
    let foreign = pipelines::retire_stage(s, &b, &meta(&b), pipeline, stage, None).await;
    assert!(matches!(foreign, Err(AppError::NotFound)), "{foreign:?}");
    let unchanged = pipelines::get(s, &a, pipeline)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        unchanged.version, before.version,
        "a refusal wrote an event"
    );

    records::delete::<Deals>(s, &a, &meta(&a), deal, None)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let retired = pipelines::retire_stage(s, &a, &meta(&a), pipeline, stage, None)
        .await
        .unwrap_or_else(|e| panic!("with its deal deleted the stage retires: {e:?}"));
    let view = retired
        .stages
        .iter()
        .find(|st| st.id == stage)
        .unwrap_or_else(|| panic!("the retired stage is still listed"));
    assert!(view.retired);
    assert_eq!(retired.version, before.version + 1);
}

#[tokio::test]
async fn an_api_key_never_outranks_its_creator_and_is_revoked_once() {
    let world = World::new().await;
    let owner = world.workspace("uc-k").await;
    let admin = Caller {
        role: Role::Admin,
        ..owner.clone()
    };
    let s = world.services();
    let now = chrono::Utc::now();
    let key = |role: &str| -> CreateKey {
        serde_json::from_value(serde_json::json!({ "name": "sync", "role": role }))
            .unwrap_or_else(|e| panic!("{e:?}"))
    };
    let above = api_keys::create(s, &admin, &meta(&admin), now, key("owner")).await;
    assert!(matches!(above, Err(AppError::Forbidden)), "{above:?}");
    let as_a_key = Caller {
        api_key: Some(Uuid::now_v7()),
        ..owner.clone()
    };
    let by_key = api_keys::create(s, &as_a_key, &meta(&owner), now, key("member")).await;
    assert!(matches!(by_key, Err(AppError::Forbidden)), "{by_key:?}");
    let listed = api_keys::list(s, &owner)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(listed.is_empty(), "a refused key was stored: {listed:?}");

    let made = api_keys::create(s, &admin, &meta(&admin), now, key("member"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(made.key.starts_with(api_keys::PREFIX));
    assert_eq!(api_keys::tenant_of(&made.key), Some(owner.tenant));
    api_keys::revoke(s, &owner, &meta(&owner), now, made.id)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let again = api_keys::revoke(s, &owner, &meta(&owner), now, made.id).await;
    assert!(matches!(again, Err(AppError::Conflict(_))), "{again:?}");
    let unknown = api_keys::revoke(s, &owner, &meta(&owner), now, Uuid::now_v7()).await;
    assert!(matches!(unknown, Err(AppError::NotFound)), "{unknown:?}");
}

/// What a contact create writes besides its events: its read row, its email claim and its
/// personal-data key, all counted in `tenant`'s workspace.
async fn contact_writes(world: &World, tenant: TenantId) -> [i64; 4] {
    let mut counts = [0; 4];
    for (n, table) in ["events", "contacts", "contact_emails", "contact_keys"]
        .into_iter()
        .enumerate()
    {
        counts[n] = world.rows(table, tenant).await;
    }
    counts
}

#[tokio::test]
async fn a_command_that_fails_at_its_commit_leaves_no_claim_key_event_or_row() {
    let world = World::new().await;
    let owner = world.workspace("uc-atomic").await;
    let s = world.services();
    // Whatever aborts the commit (a lost connection, a killed server, a constraint checked
    // at commit) aborts the whole command: here a fault at the commit, after the events,
    // the read row, the data key and the claim were all written in it.
    world
        .fail_commits("contact_emails", "NEW.email = 'doomed@example.com'")
        .await;
    let before = contact_writes(&world, owner.tenant).await;
    assert_eq!(before[1..], [0, 0, 0], "a new workspace has no contact yet");

    let failed = records::create::<Contacts>(
        s,
        &owner,
        &meta(&owner),
        contact("doomed@example.com"),
        None,
    )
    .await;
    assert!(failed.is_err(), "the commit was to fail: {failed:?}");
    assert_eq!(
        contact_writes(&world, owner.tenant).await,
        before,
        "a command that did not commit left something behind"
    );

    // Once the fault is gone, the retry succeeds at once: no claim of the failed attempt
    // stands in its way, and it writes each of the four once.
    world.heal("contact_emails").await;
    let (_, made) = records::create::<Contacts>(
        s,
        &owner,
        &meta(&owner),
        contact("doomed@example.com"),
        None,
    )
    .await
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(made.email.as_deref(), Some("doomed@example.com"));
    assert_eq!(
        contact_writes(&world, owner.tenant).await,
        [before[0] + 1, 1, 1, 1]
    );
}

#[tokio::test]
async fn a_create_refused_at_its_claim_writes_nothing() {
    let world = World::new().await;
    let owner = world.workspace("uc-claim").await;
    let s = world.services();
    records::create::<Contacts>(s, &owner, &meta(&owner), contact("ada@example.com"), None)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let before = contact_writes(&world, owner.tenant).await;
    let refused =
        records::create::<Contacts>(s, &owner, &meta(&owner), contact("ada@example.com"), None)
            .await;
    assert!(
        matches!(refused, Err(AppError::Conflict(_))),
        "a taken email was not refused: {refused:?}"
    );
    // The refused create had appended its event, projected its row and made its data key
    // before its claim failed: all of it rolled back.
    assert_eq!(contact_writes(&world, owner.tenant).await, before);
}

#[tokio::test]
async fn postgres_es_reads_the_events_the_unit_of_work_writes() {
    use cqrs_es::persist::PersistedEventRepository;
    use cqrs_es::{Aggregate, DomainEvent, EventEnvelope};
    use crm_domain::company::Company;

    let world = World::new().await;
    let owner = world.workspace("uc-format").await;
    let s = world.services();
    let (id, _) = records::create::<Companies>(s, &owner, &meta(&owner), company("Format"), None)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let patch: PatchCompany = serde_json::from_value(serde_json::json!({"industry": "Retail"}))
        .unwrap_or_else(|e| panic!("{e:?}"));
    records::update::<Companies>(s, &owner, &meta(&owner), id, Some(1), patch)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));

    // postgres-es's own repository (as the store role) loads the stream, and cqrs-es
    // deserialises each event and its metadata: the table and serialization are theirs.
    let repo = postgres_es::PostgresEventRepository::new(world.pools.store.clone());
    let stream = format!("{}:{id}", owner.tenant.0);
    let serialized = repo
        .get_events::<Company>(&stream)
        .await
        .unwrap_or_else(|e| panic!("postgres-es cannot load the stream: {e}"));
    assert_eq!(serialized.len(), 2);
    let mut company = Company::default();
    for (n, event) in serialized.into_iter().enumerate() {
        let (kind, version) = (event.event_type.clone(), event.event_version.clone());
        let envelope = EventEnvelope::<Company>::try_from(event)
            .unwrap_or_else(|e| panic!("cqrs-es cannot read event {n}: {e}"));
        assert_eq!(envelope.sequence, n + 1);
        assert_eq!(envelope.payload.event_type(), kind);
        assert_eq!(envelope.payload.event_version(), version);
        assert_eq!(
            envelope.metadata.get("tenant_id").map(String::as_str),
            Some(owner.tenant.0.to_string().as_str())
        );
        company.apply(envelope.payload);
    }
    let state = serde_json::to_value(&company).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(state["version"], 2, "{state}");
    assert_eq!(state["fields"]["name"], "Format", "{state}");
    assert_eq!(state["fields"]["industry"], "Retail", "{state}");
}

#[tokio::test]
async fn a_sign_up_that_fails_at_its_commit_claims_no_slug_or_email() {
    let world = World::new().await;
    // A fault at the commit, after the slug, the credentials and the workspace's events
    // were all written in the sign-up's one transaction.
    world
        .fail_commits("workspace_slugs", "NEW.slug = 'uc-doomed'")
        .await;
    let mut owner = world.owner().await;
    let body = || SignupBody {
        workspace_name: "Doomed".into(),
        workspace_slug: "uc-doomed".into(),
        email: "owner@uc-doomed.example".into(),
        password: "violet harbour engine 42".to_owned().into(),
        display_name: "Owner".into(),
    };
    let meta = |t, u| EventMetadata::for_user(t, u, Role::Owner, Uuid::now_v7());
    let failed = signup(world.services(), &HashSet::new(), body(), meta).await;
    assert!(failed.is_err(), "the commit was to fail: {failed:?}");
    for (table, filter) in [
        ("workspace_slugs", "slug = 'uc-doomed'"),
        ("credentials", "email = 'owner@uc-doomed.example'"),
        ("events", "true"),
        ("workspaces", "true"),
    ] {
        let left: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table} WHERE {filter}"))
            .fetch_one(&mut owner)
            .await
            .unwrap_or_else(|e| panic!("counting {table}: {e}"));
        assert_eq!(left, 0, "the failed sign-up left rows in {table}");
    }
    // The same sign-up succeeds once the fault is gone: nothing of the first one claims
    // its slug or its email.
    world.heal("workspace_slugs").await;
    let founded = signup(world.services(), &HashSet::new(), body(), meta)
        .await
        .unwrap_or_else(|e| panic!("signing up again: {e:?}"));
    assert_eq!(founded.slug, "uc-doomed");
}

#[tokio::test]
async fn a_deadlock_or_serialization_failure_is_a_retryable_conflict_not_a_fault() {
    use sea_orm::ConnectionTrait;
    let world = World::new().await;
    for code in ["40P01", "40001"] {
        let err = world
            .pools
            .app
            .execute_unprepared(&format!(
                "DO $$ BEGIN RAISE EXCEPTION 'resolved' USING ERRCODE = '{code}'; END $$"
            ))
            .await
            .map(drop)
            .map_err(AppError::from);
        assert!(
            matches!(err, Err(AppError::ConcurrentWrite(_))),
            "SQLSTATE {code} became {err:?}"
        );
    }
}

#[tokio::test]
async fn a_create_on_a_stream_that_exists_is_already_exists_and_writes_nothing() {
    use crm_domain::company::{Company, CompanyCommand, CompanyInput};
    use crm_domain::{EntityId, Guarded};
    use crm_projections::entities::company;

    let world = World::new().await;
    let owner = world.workspace("uc-twice").await;
    let id = EntityId::new();
    let create = || {
        Guarded::from(CompanyCommand::Create(CompanyInput {
            name: "Once".into(),
            ..CompanyInput::default()
        }))
    };
    // A create does not load its stream; the second one on the same id meets the first's
    // events at its append.
    let first = world
        .commands
        .record::<Company, _, company::Entity>(id, create(), &meta(&owner), true)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(first.map(|row| row.name), Some("Once".to_owned()));
    let events = world.rows("events", owner.tenant).await;
    let again = world
        .commands
        .record::<Company, _, company::Entity>(id, create(), &meta(&owner), true)
        .await;
    assert!(
        matches!(&again, Err(AppError::Conflict(why)) if why == crm_app::error::ALREADY_EXISTS),
        "{again:?}"
    );
    assert_eq!(world.rows("events", owner.tenant).await, events);
}
