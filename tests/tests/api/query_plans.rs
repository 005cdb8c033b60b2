//! Every read the API runs on a tenant's read table is served by an index that starts
//! with `tenant_id` (a full-text index read for the tenant's own lexemes only: each starts
//! with 8 hex digits of its tenant id, migration 000030), never by a sequential scan of
//! the table (which would read every workspace's rows and grow with the number of
//! tenants), and a search by a rare word goes through the table's full-text index.
//!
//! The queries are the real ones: each query function of `crm_projections::queries` runs
//! against a sea-orm proxy connection that records the statements it builds, and each
//! statement is then explained as `crm_app`, with the tenant set, on read tables holding
//! 20,000 rows each over 51 workspaces (1,000 of them the explaining workspace's), with
//! fresh statistics: the plan the planner would pick for a busy deployment.

use std::sync::{Arc, Mutex};

use crm_domain::TenantId;
use crm_projections::entities::{activity, company, contact, deal, user};
use crm_projections::queries::{
    self, activities, companies, contacts, deals, duplicates,
    page::{CommonFilter, Compare, CustomCondition, CustomSort, Ordered, SortAs},
    pipelines, users, Cursor, Sort,
};
use crm_store::TenantScope;
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, ProxyDatabaseTrait,
    ProxyExecResult, ProxyRow, Statement, TransactionTrait,
};
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{spawn_app, TestApp, Workspace};
use reqwest::StatusCode;
use serde_json::json;

/// A connection that records every statement and answers none (no rows).
#[derive(Debug, Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Statement>>>);

impl Recorder {
    fn record(&self, statement: Statement) -> Result<(), DbErr> {
        self.0
            .lock()
            .map_err(|e| DbErr::Custom(e.to_string()))?
            .push(statement);
        Ok(())
    }
}

#[async_trait::async_trait]
impl ProxyDatabaseTrait for Recorder {
    async fn query(&self, statement: Statement) -> Result<Vec<ProxyRow>, DbErr> {
        self.record(statement)?;
        Ok(Vec::new())
    }

    async fn execute(&self, statement: Statement) -> Result<ProxyExecResult, DbErr> {
        self.record(statement)?;
        Ok(ProxyExecResult::default())
    }
}

/// The reads one call of a query function makes (its `SELECT`s, without the tenant's
/// `set_config`).
async fn reads_of<F, Fut, T>(name: &str, call: F) -> Vec<(String, Statement)>
where
    F: FnOnce(DatabaseConnection) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let recorder = Recorder::default();
    let proxy: Arc<Box<dyn ProxyDatabaseTrait>> = Arc::new(Box::new(recorder.clone()));
    let db = Database::connect_proxy(DbBackend::Postgres, proxy)
        .await
        .unwrap();
    let _ = call(db).await;
    let statements = recorder.0.lock().unwrap().clone();
    let reads: Vec<(String, Statement)> = statements
        .into_iter()
        .filter(|s| s.sql.trim_start().starts_with("SELECT") && !s.sql.contains("set_config"))
        .map(|s| (name.to_owned(), s))
        .collect();
    assert!(!reads.is_empty(), "{name}: no read was recorded");
    reads
}

/// Rows of each read table, over 51 workspaces.
const ROWS: i64 = 20_000;

/// Fills the read tables behind the projector's back: a record of each kind made by
/// `a` over the API, copied `ROWS` times (1,000 copies in `a`'s workspace, the rest spread
/// over 50 others) under new ids and names, then `ANALYZE`d.
async fn seed(app: &TestApp, a: &Workspace) {
    let crm = app.as_(a);
    let company = crm
        .companies()
        .create(&json!({"name": "Seed Co", "domain": "seed.example", "tags": ["vip"]}))
        .await
        .expect(StatusCode::CREATED);
    let contact = crm
        .contacts()
        .create(&json!({"first_name": "Seed", "company_id": company.id, "tags": ["vip"]}))
        .await
        .expect(StatusCode::CREATED);
    crm.deals()
        .create(&json!({"name": "Seed deal", "company_id": company.id, "contact_ids": [contact.id], "owner_id": a.owner, "tags": ["vip"]}))
        .await
        .expect(StatusCode::CREATED);
    crm.activities()
        .create(&json!({"kind": "task", "title": "Seed task", "due_at": "2026-11-30T17:00:00Z", "assignee_id": a.owner, "contact_ids": [contact.id], "company_ids": [company.id]}))
        .await
        .expect(StatusCode::CREATED);
    let owner = app.pool_as(None).await;
    sqlx::query(
        "INSERT INTO contact_companies (tenant_id, contact_id, company_id) VALUES ($1, $2, $3)",
    )
    .bind(a.tenant)
    .bind(contact.id)
    .bind(company.id)
    .execute(&owner)
    .await
    .unwrap();
    for (table, named) in [
        ("companies", "name"),
        ("contacts", "first_name"),
        ("deals", "name"),
        ("activities", "title"),
        ("contact_companies", ""),
    ] {
        let columns: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns
              WHERE table_schema = 'public' AND table_name = $1 AND is_generated = 'NEVER'
              ORDER BY ordinal_position",
        )
        .bind(table)
        .fetch_all(&owner)
        .await
        .unwrap();
        let values: Vec<String> = columns
            .iter()
            .map(|c| match c.as_str() {
                "tenant_id" => "CASE WHEN g <= 15000 THEN src.tenant_id
                                     ELSE md5('tenant ' || (g % 50))::uuid END"
                    .to_owned(),
                "id" | "contact_id" => "gen_random_uuid()".to_owned(),
                c if c == named => "'Word' || g || ' ' || md5(g::text)".to_owned(),
                "custom" => "jsonb_build_object('n', g)".to_owned(),
                c => format!("src.{c}"),
            })
            .collect();
        let sql = format!(
            "INSERT INTO {table} ({}) SELECT {} FROM (SELECT * FROM {table} WHERE tenant_id = $1 LIMIT 1) src,
                    generate_series(1, $2) g",
            columns.join(", "),
            values.join(", ")
        );
        let inserted = sqlx::query(&sql)
            .bind(a.tenant)
            .bind(ROWS)
            .execute(&owner)
            .await
            .unwrap_or_else(|e| panic!("seeding {table}: {e}"))
            .rows_affected();
        assert_eq!(inserted, ROWS as u64, "{table}");
        sqlx::query(&format!("ANALYZE {table}"))
            .execute(&owner)
            .await
            .unwrap();
    }
}

/// A scan of a plan: its node type, its relation or index, and its index condition.
#[derive(Debug)]
struct Scan {
    node: String,
    target: String,
    condition: String,
}

/// Every scan of a JSON plan.
fn scans(plan: &Value, out: &mut Vec<Scan>) {
    let text = |key: &str| plan.get(key).and_then(Value::as_str).unwrap_or_default();
    let node = text("Node Type");
    if node.ends_with("Scan") {
        let index = text("Index Name");
        out.push(Scan {
            node: node.to_owned(),
            target: if index.is_empty() {
                text("Relation Name")
            } else {
                index
            }
            .to_owned(),
            condition: text("Index Cond").to_owned(),
        });
    }
    if let Some(children) = plan.get("Plans").and_then(Value::as_array) {
        for child in children {
            scans(child, out);
        }
    }
}

/// Whether a full-text index condition (as EXPLAIN shows it:
/// `(search @@ '''9b957dc4acme'' & ''9b957dc4corp'':*'::tsquery)`) names only lexemes
/// of `tenant`: each starts with the last 8 hex digits of its id.
fn only_the_tenants_lexemes(condition: &str, tenant: Uuid) -> bool {
    let digits = tenant.simple().to_string();
    let prefix = format!("'{}", &digits[24..]);
    let Some(query) = condition
        .split("search @@ '")
        .nth(1)
        .and_then(|rest| rest.split("'::tsquery").next())
    else {
        return false;
    };
    // The literal's quotes are doubled: `'9b957dc4acme' & '9b957dc4corp':*` once undone.
    let query = query.replace("''", "'");
    query
        .split(" & ")
        .all(|lexeme| lexeme.starts_with(&prefix) && lexeme.len() > prefix.len() + 1)
}

#[tokio::test]
async fn every_list_search_and_get_reads_through_an_index_that_starts_with_the_tenant() {
    let app = spawn_app().await;
    let a = app.signup("plans").await;
    seed(&app, &a).await;
    let scope = TenantScope::for_system(TenantId(a.tenant));
    let id = Uuid::now_v7();
    let searched = CommonFilter {
        q: Some("acme corp".into()),
        ..CommonFilter::default()
    };
    let tagged = CommonFilter {
        tag: Some("vip".into()),
        ..CommonFilter::default()
    };
    let by_custom = CommonFilter {
        custom: vec![
            CustomCondition::Contains(json!({"n": 42})),
            CustomCondition::Compare {
                key: "n".into(),
                as_: Ordered::Number,
                op: Compare::Gte,
                value: "40".into(),
            },
        ],
        ..CommonFilter::default()
    };
    let by_created = Sort::parse("-created_at").unwrap();
    let deep = |sort: Sort, key: &str| {
        Some(
            Cursor {
                s: sort.as_str().to_owned(),
                k: key.to_owned(),
                i: id,
            }
            .encode(),
        )
    };
    let later = "2026-06-01T00:00:00.000000Z";

    let mut reads = Vec::new();
    reads.extend(
        reads_of("GET company", |db| async move {
            queries::row::<company::Entity>(&db, &scope, id).await
        })
        .await,
    );
    reads.extend(
        reads_of("GET contact", |db| async move {
            queries::row::<contact::Entity>(&db, &scope, id).await
        })
        .await,
    );
    reads.extend(
        reads_of("GET deal", |db| async move {
            queries::row::<deal::Entity>(&db, &scope, id).await
        })
        .await,
    );
    reads.extend(
        reads_of("GET activity", |db| async move {
            queries::row::<activity::Entity>(&db, &scope, id).await
        })
        .await,
    );
    reads.extend(
        reads_of("GET user", |db| async move {
            queries::row::<user::Entity>(&db, &scope, id).await
        })
        .await,
    );
    for (name, filter) in [
        ("list companies", companies::CompanyFilter::default()),
        (
            "search companies",
            companies::CompanyFilter {
                common: searched.clone(),
                ..Default::default()
            },
        ),
        (
            "companies by tag",
            companies::CompanyFilter {
                common: tagged.clone(),
                ..Default::default()
            },
        ),
        (
            "companies by a custom value",
            companies::CompanyFilter {
                common: by_custom.clone(),
                ..Default::default()
            },
        ),
        (
            "companies in the order of a custom field",
            companies::CompanyFilter {
                custom_sort: Some(CustomSort {
                    key: "n".into(),
                    as_: SortAs::Number,
                    descending: true,
                }),
                ..Default::default()
            },
        ),
        (
            "companies, a deep page by creation",
            companies::CompanyFilter {
                sort: by_created,
                cursor: deep(by_created, later),
                ..Default::default()
            },
        ),
        (
            "companies, a deep page by name",
            companies::CompanyFilter {
                cursor: deep(Sort::default(), "m"),
                ..Default::default()
            },
        ),
    ] {
        reads.extend(
            reads_of(name, |db| async move {
                companies::list(&db, &scope, &filter).await
            })
            .await,
        );
    }
    for (name, filter) in [
        ("list contacts", contacts::ContactFilter::default()),
        (
            "search contacts",
            contacts::ContactFilter {
                common: searched.clone(),
                ..Default::default()
            },
        ),
        (
            "contacts by tag",
            contacts::ContactFilter {
                common: tagged.clone(),
                ..Default::default()
            },
        ),
        (
            "contacts by a custom value",
            contacts::ContactFilter {
                common: by_custom.clone(),
                ..Default::default()
            },
        ),
        (
            "contacts of a company",
            contacts::ContactFilter {
                own: contacts::ContactConditions {
                    company_id: Some(id),
                },
                ..Default::default()
            },
        ),
        (
            "contacts, a deep page by name",
            contacts::ContactFilter {
                cursor: deep(Sort::default(), "m"),
                ..Default::default()
            },
        ),
    ] {
        reads.extend(
            reads_of(name, |db| async move {
                contacts::list(&db, &scope, &filter).await
            })
            .await,
        );
    }
    for (name, filter) in [
        ("list deals", deals::DealFilter::default()),
        (
            "search deals",
            deals::DealFilter {
                common: searched.clone(),
                ..Default::default()
            },
        ),
        (
            "deals by tag",
            deals::DealFilter {
                common: tagged.clone(),
                ..Default::default()
            },
        ),
        (
            "deals by a custom value",
            deals::DealFilter {
                common: by_custom.clone(),
                ..Default::default()
            },
        ),
        (
            "deals of a company",
            deals::DealFilter {
                own: deals::DealConditions {
                    company_id: Some(id),
                    ..Default::default()
                },
                ..Default::default()
            },
        ),
        (
            "deals of an owner",
            deals::DealFilter {
                own: deals::DealConditions {
                    owner_id: Some(id),
                    ..Default::default()
                },
                ..Default::default()
            },
        ),
        (
            "deals, a deep page by creation",
            deals::DealFilter {
                sort: by_created,
                cursor: deep(by_created, later),
                ..Default::default()
            },
        ),
    ] {
        reads.extend(
            reads_of(
                name,
                |db| async move { deals::list(&db, &scope, &filter).await },
            )
            .await,
        );
    }
    for subject in [
        activities::Subject::Contact,
        activities::Subject::Company,
        activities::Subject::Deal,
    ] {
        reads.extend(
            reads_of(&format!("timeline of a {subject:?}"), |db| async move {
                activities::timeline(&db, &scope, subject, id, None, None).await
            })
            .await,
        );
    }
    reads.extend(
        reads_of("tasks of an assignee", |db| async move {
            let filter = activities::TaskFilter {
                assignee_id: Some(id),
                ..Default::default()
            };
            activities::tasks(&db, &scope, &filter).await
        })
        .await,
    );
    for kind in [duplicates::Kind::Contacts, duplicates::Kind::Companies] {
        reads.extend(
            reads_of(&format!("duplicates among {kind:?}"), |db| async move {
                duplicates::candidates(&db, &scope, kind, None, 50, 0.5).await
            })
            .await,
        );
    }
    reads.extend(
        reads_of("list pipelines", |db| async move {
            pipelines::list(&db, &scope).await
        })
        .await,
    );
    reads.extend(
        reads_of("list users", |db| async move {
            users::list_users(&db, &scope).await
        })
        .await,
    );

    let app_role =
        sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(app.pool_as(Some("crm_app")).await);
    let mut unbounded = Vec::new();
    for (name, read) in &reads {
        let txn = app_role.begin().await.unwrap();
        // Sequential scans priced out: the planner still picks one only when no index can
        // answer the query (at this size it would often pick one anyway, as the cheapest).
        txn.execute_unprepared("SET LOCAL enable_seqscan = off")
            .await
            .unwrap();
        txn.execute(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT set_config('app.tenant_id', $1, true)",
            [a.tenant.to_string().into()],
        ))
        .await
        .unwrap();
        let explain = Statement {
            sql: format!("EXPLAIN (FORMAT JSON) {}", read.sql),
            values: read.values.clone(),
            db_backend: DbBackend::Postgres,
        };
        let row = txn
            .query_one(explain)
            .await
            .unwrap_or_else(|e| panic!("{name}: EXPLAIN failed: {e}\n{}", read.sql))
            .unwrap();
        let plan: Value = row.try_get("", "QUERY PLAN").unwrap();
        txn.rollback().await.unwrap();
        let mut found = Vec::new();
        scans(&plan[0]["Plan"], &mut found);
        assert!(!found.is_empty(), "{name}: a plan without a scan: {plan}");
        for scan in found {
            let bounded = match scan.node.as_str() {
                // The heap half of a bitmap scan reads what its index half found.
                "Bitmap Heap Scan" => true,
                // A full-text index is read for the tenant's own lexemes only.
                "Index Scan" | "Index Only Scan" | "Bitmap Index Scan" => {
                    scan.condition.contains("tenant_id")
                        && (!scan.target.ends_with("_search")
                            || only_the_tenants_lexemes(&scan.condition, a.tenant))
                }
                _ => false,
            };
            if !bounded {
                unbounded.push(format!(
                    "{name}: {} on {} (index condition: {:?})\n  {}",
                    scan.node, scan.target, scan.condition, read.sql
                ));
            }
        }
    }
    assert!(
        unbounded.is_empty(),
        "reads not bounded by the tenant's index entries:\n{}",
        unbounded.join("\n")
    );

    // A search can narrow by its words in the index, not only by the tenant. At this size
    // the planner may rightly prefer another tenant-first index, so each search is
    // explained once more with its table's full-text index the only one left (dropped in
    // a transaction that rolls back), as `crm_app` under row-level security: the words
    // must be an index condition there. Without migration 000028 (`ts_match_vq`
    // LEAKPROOF) the policy keeps them out of every index condition.
    let owner = sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(app.pool_as(None).await);
    let mut walks = Vec::new();
    // The same holds for an equality filter on custom values and the table's
    // `(tenant_id, custom)` GIN index (migration 000033, `jsonb_contains` LEAKPROOF).
    let narrowing = |name: &str| -> Option<(String, &'static str, &'static str)> {
        if let Some(table) = name.strip_prefix("search ") {
            return Some((table.to_owned(), "search", "search @@"));
        }
        name.strip_suffix(" by a custom value")
            .map(|table| (table.to_owned(), "custom", "custom @>"))
    };
    for (name, read) in reads.iter() {
        let Some((table, kept, condition)) = narrowing(name) else {
            continue;
        };
        let txn = owner.begin().await.unwrap();
        txn.execute_unprepared(&format!(
            "DO $$ DECLARE i record; BEGIN
               FOR i IN SELECT c.conname FROM pg_constraint c
                         WHERE c.conrelid = '{table}'::regclass AND c.contype IN ('p', 'u') LOOP
                 EXECUTE format('ALTER TABLE {table} DROP CONSTRAINT %I CASCADE', i.conname);
               END LOOP;
               FOR i IN SELECT indexname FROM pg_indexes
                         WHERE tablename = '{table}' AND indexname <> '{table}_{kept}' LOOP
                 EXECUTE format('DROP INDEX %I', i.indexname);
               END LOOP;
             END $$"
        ))
        .await
        .unwrap_or_else(|e| panic!("{name}: dropping the other indexes: {e}"));
        txn.execute_unprepared("SET LOCAL ROLE crm_app; SET LOCAL enable_seqscan = off")
            .await
            .unwrap();
        txn.execute(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT set_config('app.tenant_id', $1, true)",
            [a.tenant.to_string().into()],
        ))
        .await
        .unwrap();
        let row = txn
            .query_one(Statement {
                sql: format!("EXPLAIN (FORMAT JSON) {}", read.sql),
                values: read.values.clone(),
                db_backend: DbBackend::Postgres,
            })
            .await
            .unwrap_or_else(|e| panic!("{name}: EXPLAIN failed: {e}"))
            .unwrap();
        let plan: Value = row.try_get("", "QUERY PLAN").unwrap();
        txn.rollback().await.unwrap();
        let mut found = Vec::new();
        scans(&plan[0]["Plan"], &mut found);
        if !found.iter().any(|s| s.condition.contains(condition)) {
            walks.push(format!("{name}: {found:?}"));
        }
    }
    assert!(
        walks.is_empty(),
        "searches and filters that cannot be an index condition:\n{}",
        walks.join("\n")
    );
}
