//! The whole permission matrix, on the server, derived from the route declarations: the
//! served OpenAPI document lists every operation with its `x-permission` and its
//! documented success statuses. Every operation that names a permission is called by
//! every role: a role without it gets a 403 that writes nothing and shows no record; a
//! role with it gets one of the operation's documented success statuses. Every operation
//! without a permission is listed here with the reason it is outside the matrix, so a new
//! route fails this test until someone places it.

use std::collections::BTreeMap;

use crm_domain::{Action, Role};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, str_of, test_settings, TestApp};

/// Operations without `x-permission`: open to anyone, or checked by the handler (any
/// signed-in person, support staff). `{…}` stands for any path parameter.
const OUTSIDE_THE_MATRIX: &[(&str, &str, &str)] = &[
    ("GET", "/health", "liveness probe, open to anyone"),
    ("GET", "/ready", "readiness probe, open to anyone"),
    (
        "GET",
        "/metrics",
        "Prometheus scrape: its own token (metrics.token), not a role",
    ),
    (
        "GET",
        "/openapi.json",
        "the published contract, open to anyone",
    ),
    ("GET", "/docs", "the reference page, open to anyone"),
    (
        "GET",
        "/docs/redoc.standalone.js",
        "the reference page's script, open to anyone",
    ),
    (
        "POST",
        "/v1/auth/signup",
        "creates a workspace; nobody is signed in yet",
    ),
    (
        "POST",
        "/v1/auth/login",
        "signs in; nobody is signed in yet",
    ),
    (
        "POST",
        "/v1/auth/refresh",
        "authenticated by the refresh token, not a role",
    ),
    (
        "POST",
        "/v1/auth/password-reset",
        "for a person who cannot sign in",
    ),
    (
        "POST",
        "/v1/auth/password-reset/confirm",
        "authenticated by the reset token",
    ),
    (
        "POST",
        "/v1/auth/accept-invitation",
        "authenticated by the invitation token",
    ),
    (
        "POST",
        "/v1/auth/support/login",
        "support staff sign-in, outside every workspace",
    ),
    (
        "POST",
        "/v1/auth/support/logout",
        "support staff only, checked by the handler",
    ),
    (
        "POST",
        "/v1/auth/logout",
        "the caller's own session, any role",
    ),
    (
        "POST",
        "/v1/auth/logout-all",
        "the caller's own sessions, any role",
    ),
    (
        "GET",
        "/v1/auth/sessions",
        "the caller's own sessions, any role",
    ),
    ("GET", "/v1/me", "the caller's own account, any role"),
    (
        "POST",
        "/v1/me/password",
        "the caller's own password, a person of any role",
    ),
    (
        "POST",
        "/v1/auth/2fa/enroll",
        "the caller's own two-factor sign-in, any role",
    ),
    (
        "POST",
        "/v1/auth/2fa/confirm",
        "the caller's own two-factor sign-in, any role",
    ),
    (
        "POST",
        "/v1/auth/2fa/disable",
        "the caller's own two-factor sign-in, any role",
    ),
    (
        "POST",
        "/v1/auth/2fa/verify",
        "the second step of a sign-in, any role",
    ),
];

/// Reads outside the matrix that every role may make: called by every role, each must
/// answer a documented success status.
const OPEN_READS: &[&str] = &[
    "/health",
    "/ready",
    "/openapi.json",
    "/docs",
    "/v1/me",
    "/v1/auth/sessions",
];

const SUPPORT_EMAIL: &str = "matrix@support.example";
const SUPPORT_PASSWORD: &str = "support staff password 1";

/// One operation of the served document.
#[derive(Debug)]
struct Operation {
    method: Method,
    pattern: String,
    permission: Option<Action>,
    success: Vec<StatusCode>,
}

impl Operation {
    fn name(&self) -> String {
        format!("{} {}", self.method, self.pattern)
    }
}

/// Fetches `/openapi.json` from the server and reads out every operation.
async fn operations(app: &TestApp) -> Vec<Operation> {
    let res = app
        .client
        .get(format!("{}/openapi.json", app.address))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET /openapi.json: {e}"));
    assert_eq!(res.status(), StatusCode::OK, "GET /openapi.json");
    let doc: Value = res
        .json()
        .await
        .unwrap_or_else(|e| panic!("/openapi.json is not JSON: {e}"));
    let paths = doc["paths"]
        .as_object()
        .unwrap_or_else(|| panic!("/openapi.json has no paths"));
    let mut ops = Vec::new();
    for (pattern, item) in paths {
        let item = item
            .as_object()
            .unwrap_or_else(|| panic!("path item {pattern} is not an object"));
        for (method, op) in item {
            let method = match method.as_str() {
                "get" | "put" | "post" | "delete" | "patch" | "head" | "options" | "trace" => {
                    Method::from_bytes(method.to_uppercase().as_bytes())
                        .unwrap_or_else(|e| panic!("{method}: {e}"))
                }
                _ => continue, // `parameters`, `summary`…: not an operation
            };
            let permission = op.get("x-permission").map(|p| {
                serde_json::from_value::<Action>(p.clone()).unwrap_or_else(|e| {
                    panic!("{method} {pattern}: x-permission {p} names no Action: {e}")
                })
            });
            let responses = op["responses"]
                .as_object()
                .unwrap_or_else(|| panic!("{method} {pattern} has no responses"));
            let success: Vec<StatusCode> = responses
                .keys()
                .filter_map(|k| k.parse::<u16>().ok())
                .filter(|s| (200..300).contains(s))
                .map(|s| StatusCode::from_u16(s).unwrap_or_else(|e| panic!("{s}: {e}")))
                .collect();
            assert!(
                !success.is_empty(),
                "{method} {pattern} documents no success status: {:?}",
                responses.keys().collect::<Vec<_>>()
            );
            ops.push(Operation {
                method,
                pattern: pattern.clone(),
                permission,
                success,
            });
        }
    }
    assert!(!ops.is_empty(), "/openapi.json lists no operation");
    ops
}

fn segments(path: &str) -> Vec<&str> {
    path.split('?')
        .next()
        .unwrap_or_default()
        .split('/')
        .collect()
}

fn is_param(segment: &str) -> bool {
    segment.starts_with('{') && segment.ends_with('}')
}

/// The operation a concrete call reaches: same method, same number of segments, each
/// equal or a `{param}` of the pattern; of several, the one with most literal segments
/// (which must be unique). Panics when no operation matches.
fn operation_of<'a>(ops: &'a [Operation], method: &Method, path: &str) -> &'a Operation {
    let concrete = segments(path);
    let mut found: Vec<(usize, &Operation)> = ops
        .iter()
        .filter(|op| op.method == *method)
        .filter_map(|op| {
            let pattern = segments(&op.pattern);
            (pattern.len() == concrete.len()
                && pattern
                    .iter()
                    .zip(&concrete)
                    .all(|(p, c)| is_param(p) || p == c))
            .then(|| (pattern.iter().filter(|p| !is_param(p)).count(), op))
        })
        .collect();
    found.sort_by_key(|(literal, _)| std::cmp::Reverse(*literal));
    match found.as_slice() {
        [] => panic!("{method} {path} matches no operation of /openapi.json"),
        [(_, op)] => op,
        [(a, op), (b, other), ..] => {
            assert_ne!(
                a, b,
                "{method} {path} matches both {} and {}",
                op.pattern, other.pattern
            );
            op
        }
    }
}

/// A pattern with every parameter name dropped (`/v1/x/{id}` → `/v1/x/{}`).
fn shape(pattern: &str) -> String {
    segments(pattern)
        .iter()
        .map(|s| if is_param(s) { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// What a call sends.
#[derive(Debug, Clone)]
enum Body {
    None,
    Json(Value),
    Csv(&'static str),
}

/// One concrete call of the matrix. Its permission and success statuses come from the
/// operation it reaches; `narrowed` is a second permission that a query parameter adds
/// inside the handler (the document's `x-permission` is per operation, not per query).
#[derive(Debug, Clone)]
struct Call {
    method: Method,
    path: String,
    body: Body,
    narrowed: Option<Action>,
}

fn call(method: Method, path: impl Into<String>, body: Body) -> Call {
    Call {
        method,
        path: path.into(),
        body,
        narrowed: None,
    }
}

fn get(path: impl Into<String>) -> Call {
    call(Method::GET, path, Body::None)
}

fn with(method: Method, path: impl Into<String>, body: Value) -> Call {
    call(method, path, Body::Json(body))
}

fn bare(method: Method, path: impl Into<String>) -> Call {
    call(method, path, Body::None)
}

fn csv(path: impl Into<String>, text: &'static str) -> Call {
    call(Method::POST, path, Body::Csv(text))
}

/// A call whose query parameter makes the handler require `action` as well.
fn narrowed(c: Call, action: Action) -> Call {
    Call {
        narrowed: Some(action),
        ..c
    }
}

/// Records made fresh for one role, so that its state-changing calls meet the records in
/// the state they expect (a delete that a previous role's delete made a 409, no).
#[derive(Debug)]
struct Fixtures {
    company: String,
    contact: String,
    /// Erased by the Owner: a contact of its own.
    erasable: String,
    /// Merged into `contact`, then given back.
    mergeable: String,
    /// Merged into `company`, then given back.
    mergeable_company: String,
    deal: String,
    /// Won, reopened, lost.
    closing_deal: String,
    /// Another open stage of `deal`'s pipeline.
    other_stage: String,
    note: String,
    task: String,
    /// A pipeline of the role's own, with stages open one, open two, won, lost.
    pipeline: String,
    stages: Vec<String>,
    api_key: String,
    colleague: String,
    grant: String,
    import: String,
    /// A company field; and one archived (to restore).
    field: String,
    /// A company field `field`'s values are copied to.
    copy_target: String,
    archived_field: String,
    /// A webhook endpoint (the worker is off: nothing is sent) and its test message.
    webhook: String,
    webhook_message: String,
}

impl Fixtures {
    fn ids(&self) -> Vec<&str> {
        let mut ids = vec![
            self.company.as_str(),
            self.contact.as_str(),
            self.erasable.as_str(),
            self.mergeable.as_str(),
            self.mergeable_company.as_str(),
            self.deal.as_str(),
            self.closing_deal.as_str(),
            self.other_stage.as_str(),
            self.note.as_str(),
            self.task.as_str(),
            self.pipeline.as_str(),
            self.api_key.as_str(),
            self.colleague.as_str(),
            self.grant.as_str(),
            self.import.as_str(),
            self.field.as_str(),
            self.copy_target.as_str(),
            self.archived_field.as_str(),
            self.webhook.as_str(),
            self.webhook_message.as_str(),
        ];
        ids.extend(self.stages.iter().map(String::as_str));
        ids
    }
}

/// Asserts a setup call's status and returns its body.
fn made(what: &str, expected: StatusCode, (status, body): (StatusCode, Value)) -> Value {
    assert_eq!(status, expected, "setup: {what}: {body}");
    body
}

fn id_in(what: &str, v: &Value) -> String {
    let id = str_of(v);
    assert!(
        uuid::Uuid::parse_str(&id).is_ok(),
        "setup: {what}: not an id: {v}"
    );
    id
}

/// Creates, as the owner, every record the calls of one role need. `tag` makes names and
/// emails unique per role.
async fn fixtures(app: &TestApp, owner: &str, tag: &str) -> Fixtures {
    let created = StatusCode::CREATED;
    let company = made(
        "company",
        created,
        app.post(
            "/v1/companies",
            owner,
            json!({"name": format!("Matrix Co {tag}")}),
        )
        .await,
    );
    let contact = made(
        "contact",
        created,
        app.post(
            "/v1/contacts",
            owner,
            json!({"first_name": format!("Matrix {tag}")}),
        )
        .await,
    );
    let erasable = made(
        "erasable contact",
        created,
        app.post(
            "/v1/contacts",
            owner,
            json!({"first_name": format!("Matrix erasable {tag}")}),
        )
        .await,
    );
    let mergeable = made(
        "mergeable contact",
        created,
        app.post(
            "/v1/contacts",
            owner,
            json!({"first_name": format!("Matrix mergeable {tag}")}),
        )
        .await,
    );
    let mergeable_company = made(
        "mergeable company",
        created,
        app.post(
            "/v1/companies",
            owner,
            json!({"name": format!("Matrix mergeable {tag}")}),
        )
        .await,
    );
    let deal = made(
        "deal",
        created,
        app.post(
            "/v1/deals",
            owner,
            json!({"name": format!("Matrix deal {tag}")}),
        )
        .await,
    );
    let closing_deal = made(
        "second deal",
        created,
        app.post(
            "/v1/deals",
            owner,
            json!({"name": format!("Matrix second deal {tag}")}),
        )
        .await,
    );
    let deal_pipeline = made(
        "the deal's pipeline",
        StatusCode::OK,
        app.get(
            &format!("/v1/pipelines/{}", str_of(&deal["pipeline_id"])),
            owner,
        )
        .await,
    );
    let other_stage = deal_pipeline["stages"]
        .as_array()
        .unwrap_or_else(|| panic!("setup: pipeline without stages: {deal_pipeline}"))
        .iter()
        .find(|s| s["kind"] == "open" && s["id"] != deal["stage_id"])
        .map(|s| id_in("other stage", &s["id"]))
        .unwrap_or_else(|| panic!("setup: no second open stage in {deal_pipeline}"));
    let note = made(
        "note",
        created,
        app.post(
            "/v1/activities",
            owner,
            json!({"kind": "note", "body": format!("Matrix note {tag}"), "contact_ids": [contact["id"]]}),
        )
        .await,
    );
    let task = made(
        "task",
        created,
        app.post(
            "/v1/activities",
            owner,
            json!({"kind": "task", "title": format!("Matrix task {tag}")}),
        )
        .await,
    );
    let pipeline = made(
        "pipeline",
        created,
        app.post(
            "/v1/pipelines",
            owner,
            json!({"name": format!("Matrix pipeline {tag}"), "stages": [
                {"name": "Open one", "probability": "10", "kind": "open"},
                {"name": "Open two", "probability": "20", "kind": "open"},
                {"name": "Won", "probability": "100", "kind": "won"},
                {"name": "Lost", "probability": "0", "kind": "lost"},
            ]}),
        )
        .await,
    );
    let stages: Vec<String> = pipeline["stages"]
        .as_array()
        .unwrap_or_else(|| panic!("setup: pipeline without stages: {pipeline}"))
        .iter()
        .map(|s| id_in("stage", &s["id"]))
        .collect();
    assert_eq!(stages.len(), 4, "setup: pipeline stages: {pipeline}");
    let api_key = made(
        "api key",
        created,
        app.post(
            "/v1/api-keys",
            owner,
            json!({"name": format!("matrix {tag}"), "role": "read_only"}),
        )
        .await,
    );
    let colleague = made(
        "colleague",
        created,
        app.post(
            "/v1/users/invitations",
            owner,
            json!({"email": format!("colleague-{tag}@matrix.example"), "role": "member"}),
        )
        .await,
    );
    let grant = made(
        "support grant",
        created,
        app.post(
            "/v1/support-grants",
            owner,
            json!({"support_email": SUPPORT_EMAIL, "scope": "read", "reason": "matrix", "expires_in_hours": 1}),
        )
        .await,
    );
    let import = made(
        "import",
        StatusCode::OK,
        app.post_csv(
            "/v1/imports/companies",
            owner,
            format!("Company name\nMatrix undo {tag}\n").into_bytes(),
        )
        .await,
    );
    assert_eq!(import["created"], 1, "setup: import: {import}");
    let key = tag.replace('-', "_");
    let mut fields = Vec::new();
    for which in ["live", "target", "archived"] {
        let field = made(
            "custom field",
            created,
            app.post(
                "/v1/schema/fields",
                owner,
                json!({"record": "company", "key": format!("matrix_{which}_{key}"),
                       "label": format!("Matrix {which} {tag}"), "type": "text"}),
            )
            .await,
        );
        fields.push(id_in("custom field", &field["id"]));
    }
    let archived_field = fields.pop().unwrap_or_default();
    let copy_target = fields.pop().unwrap_or_default();
    let field = fields.pop().unwrap_or_default();
    made(
        "archived field",
        StatusCode::OK,
        app.post(
            &format!("/v1/schema/fields/{archived_field}/archive"),
            owner,
            json!({}),
        )
        .await,
    );
    let webhook = made(
        "webhook endpoint",
        created,
        app.post(
            "/v1/webhooks",
            owner,
            json!({"url": format!("https://hooks.example.com/{tag}")}),
        )
        .await,
    );
    let webhook = id_in("webhook endpoint", &webhook["id"]);
    let webhook_message = made(
        "webhook test message",
        StatusCode::ACCEPTED,
        app.post(&format!("/v1/webhooks/{webhook}/test"), owner, json!({}))
            .await,
    );
    let webhook_message = id_in("webhook message", &webhook_message["id"]);
    Fixtures {
        field,
        copy_target,
        archived_field,
        webhook,
        webhook_message,
        company: id_in("company", &company["id"]),
        contact: id_in("contact", &contact["id"]),
        erasable: id_in("erasable contact", &erasable["id"]),
        mergeable: id_in("mergeable contact", &mergeable["id"]),
        mergeable_company: id_in("mergeable company", &mergeable_company["id"]),
        deal: id_in("deal", &deal["id"]),
        closing_deal: id_in("second deal", &closing_deal["id"]),
        other_stage,
        note: id_in("note", &note["id"]),
        task: id_in("task", &task["id"]),
        pipeline: id_in("pipeline", &pipeline["id"]),
        stages,
        api_key: id_in("api key", &api_key["id"]),
        colleague: id_in("colleague", &colleague["user"]["id"]),
        grant: id_in("support grant", &grant["id"]),
        import: id_in("import", &import["import_id"]),
    }
}

/// The calls of one role, in an order where each finds its record as it needs it: reads,
/// creates, changes, then deletes and the restores that follow them.
fn calls(f: &Fixtures, tag: &str) -> Vec<Call> {
    let Fixtures {
        company: co,
        contact: ct,
        erasable,
        mergeable,
        mergeable_company,
        deal: dl,
        closing_deal: d2,
        other_stage,
        note: nt,
        task: tk,
        pipeline: pl,
        stages,
        api_key: ky,
        colleague,
        grant,
        import,
        field,
        copy_target,
        archived_field,
        webhook: wh,
        webhook_message: wm,
    } = f;
    let (open_one, open_two, won, lost) = (&stages[0], &stages[1], &stages[2], &stages[3]);
    use Method as M;
    vec![
        // Reads.
        get("/v1/companies"),
        get(format!("/v1/companies/{co}")),
        get(format!("/v1/companies/{co}/timeline")),
        narrowed(
            get("/v1/companies?include_deleted=true"),
            Action::ViewDeleted,
        ),
        get("/v1/contacts"),
        get(format!("/v1/contacts/{ct}")),
        get(format!("/v1/contacts/{ct}/timeline")),
        get("/v1/contacts/duplicates"),
        get("/v1/events?limit=1"),
        get("/v1/events/stream"),
        get("/v1/webhooks"),
        get(format!("/v1/webhooks/{wh}")),
        get(format!("/v1/webhooks/{wh}/messages")),
        get(format!("/v1/webhooks/{wh}/messages/{wm}")),
        get("/v1/companies/duplicates"),
        get("/v1/deals"),
        get(format!("/v1/deals/{dl}")),
        get(format!("/v1/deals/{dl}/timeline")),
        narrowed(get(format!("/v1/deals/{dl}?version=1")), Action::ReadAudit),
        get("/v1/pipelines"),
        get(format!("/v1/pipelines/{pl}")),
        get(format!("/v1/pipelines/{pl}/summary")),
        get(format!("/v1/activities/{nt}")),
        get("/v1/tasks"),
        get("/v1/users"),
        get("/v1/exports/companies"),
        get("/v1/exports/contacts"),
        get("/v1/exports/deals"),
        get("/v1/audit"),
        get("/v1/audit/export?format=csv"),
        get("/v1/audit/verify"),
        get(format!("/v1/contacts/{ct}/history")),
        get(format!("/v1/contacts/{ct}/export")),
        get("/v1/api-keys"),
        get("/v1/api-keys/requests"),
        get("/v1/support-grants"),
        get(format!("/v1/support-grants/{grant}/access")),
        get(format!("/v1/imports/{import}")),
        get("/v1/schema"),
        get("/v1/openapi.json"),
        // Creates.
        with(
            M::POST,
            "/v1/companies",
            json!({"name": format!("Matrix new {tag}")}),
        ),
        with(
            M::POST,
            "/v1/contacts",
            json!({"first_name": format!("Matrix new {tag}")}),
        ),
        with(
            M::POST,
            "/v1/deals",
            json!({"name": format!("Matrix new {tag}")}),
        ),
        with(
            M::POST,
            "/v1/activities",
            json!({"kind": "task", "title": format!("Matrix new {tag}")}),
        ),
        with(
            M::POST,
            "/v1/companies/batch/create",
            json!({"items": [{"name": format!("Matrix batch {tag}")}]}),
        ),
        with(
            M::POST,
            "/v1/contacts/batch/create",
            json!({"items": [{"first_name": format!("Matrix batch {tag}")}]}),
        ),
        csv(
            "/v1/imports/companies?dry_run=true",
            "Company name\nMatrix import\n",
        ),
        csv(
            "/v1/imports/contacts?dry_run=true",
            "First Name\nImported\n",
        ),
        csv(
            "/v1/imports/deals?dry_run=true",
            "Deal Name\nImported deal\n",
        ),
        with(
            M::POST,
            "/v1/pipelines",
            json!({"name": format!("Matrix new pipeline {tag}"), "stages": [
                {"name": "o", "probability": "10", "kind": "open"},
                {"name": "w", "probability": "100", "kind": "won"},
                {"name": "l", "probability": "0", "kind": "lost"},
            ]}),
        ),
        with(
            M::POST,
            "/v1/api-keys",
            json!({"name": format!("matrix new {tag}"), "role": "read_only"}),
        ),
        with(
            M::POST,
            "/v1/users/invitations",
            json!({"email": format!("invitee-{tag}@matrix.example"), "role": "read_only"}),
        ),
        with(
            M::POST,
            "/v1/support-grants",
            json!({"support_email": SUPPORT_EMAIL, "scope": "read", "reason": "matrix", "expires_in_hours": 1}),
        ),
        with(Method::POST, "/v1/audit/checkpoints", json!({})),
        with(
            M::POST,
            "/v1/webhooks",
            json!({"url": format!("https://hooks.example.com/new-{tag}")}),
        ),
        bare(M::POST, format!("/v1/webhooks/{wh}/test")),
        with(
            M::POST,
            format!("/v1/webhooks/{wh}/replay"),
            json!({"since": "2026-01-01T00:00:00Z"}),
        ),
        bare(M::POST, format!("/v1/webhooks/{wh}/messages/{wm}/retry")),
        with(
            M::PATCH,
            format!("/v1/webhooks/{wh}"),
            json!({"description": format!("matrix {tag}")}),
        ),
        bare(M::POST, format!("/v1/webhooks/{wh}/rotate-secret")),
        // Changes.
        with(
            M::PATCH,
            format!("/v1/companies/{co}"),
            json!({"industry": "x"}),
        ),
        with(
            M::POST,
            "/v1/companies/batch/update",
            json!({"items": [{"id": co, "changes": {"country": "x"}}]}),
        ),
        with(
            M::POST,
            format!("/v1/companies/{co}/revert"),
            json!({"to_version": 1, "reason": "matrix"}),
        ),
        with(
            M::PATCH,
            format!("/v1/contacts/{ct}"),
            json!({"job_title": "x"}),
        ),
        with(
            M::POST,
            "/v1/contacts/batch/update",
            json!({"items": [{"id": ct, "changes": {"phone": "+1 555 0100"}}]}),
        ),
        with(
            M::PUT,
            format!("/v1/contacts/{ct}/companies/{co}"),
            json!({"role": "x"}),
        ),
        bare(M::DELETE, format!("/v1/contacts/{ct}/companies/{co}")),
        with(
            M::PATCH,
            format!("/v1/deals/{dl}"),
            json!({"name": format!("Matrix deal {tag} renamed")}),
        ),
        with(
            M::POST,
            format!("/v1/deals/{dl}/move"),
            json!({"stage_id": other_stage}),
        ),
        with(
            M::PUT,
            format!("/v1/deals/{dl}/line-items"),
            json!({"items": []}),
        ),
        with(M::POST, format!("/v1/deals/{d2}/win"), json!({})),
        with(M::POST, format!("/v1/deals/{d2}/reopen"), json!({})),
        with(
            M::POST,
            format!("/v1/deals/{d2}/lose"),
            json!({"reason": "r"}),
        ),
        with(
            M::PATCH,
            format!("/v1/activities/{nt}"),
            json!({"body": "m"}),
        ),
        with(
            M::POST,
            format!("/v1/contacts/{ct}/merge"),
            json!({"from": mergeable}),
        ),
        with(
            M::POST,
            format!("/v1/contacts/{ct}/unmerge"),
            json!({"from": mergeable}),
        ),
        with(
            M::POST,
            format!("/v1/companies/{co}/merge"),
            json!({"from": mergeable_company}),
        ),
        with(
            M::POST,
            format!("/v1/companies/{co}/unmerge"),
            json!({"from": mergeable_company}),
        ),
        bare(M::POST, format!("/v1/activities/{tk}/complete")),
        bare(M::POST, format!("/v1/activities/{tk}/reopen")),
        with(
            M::POST,
            "/v1/schema/fields",
            json!({"record": "deal", "key": format!("matrix_new_{}", tag.replace('-', "_")),
                   "label": format!("Matrix new {tag}"), "type": "integer"}),
        ),
        with(
            M::PATCH,
            format!("/v1/schema/fields/{field}"),
            json!({"label": format!("Matrix renamed {tag}")}),
        ),
        with(
            M::POST,
            format!("/v1/schema/fields/{field}/copy"),
            json!({"to": copy_target}),
        ),
        bare(M::POST, format!("/v1/schema/fields/{field}/archive")),
        bare(
            M::POST,
            format!("/v1/schema/fields/{archived_field}/restore"),
        ),
        with(
            M::PATCH,
            format!("/v1/pipelines/{pl}"),
            json!({"name": format!("Matrix pipeline {tag} renamed")}),
        ),
        with(
            M::PUT,
            format!("/v1/pipelines/{pl}/stages"),
            json!({"stage_ids": [open_two, open_one, won, lost]}),
        ),
        with(
            M::PATCH,
            format!("/v1/pipelines/{pl}/stages/{open_one}"),
            json!({"probability": "41"}),
        ),
        bare(M::DELETE, format!("/v1/pipelines/{pl}/stages/{open_two}")),
        with(
            M::POST,
            format!("/v1/pipelines/{pl}/stages"),
            json!({"name": "Added", "probability": "5", "kind": "open"}),
        ),
        with(
            M::PATCH,
            "/v1/workspace",
            json!({"name": format!("Matrix workspace {tag}")}),
        ),
        with(
            M::PATCH,
            "/v1/workspace/security",
            json!({"require_two_factor": false}),
        ),
        with(
            M::PATCH,
            format!("/v1/users/{colleague}/role"),
            json!({"role": "read_only"}),
        ),
        bare(M::POST, format!("/v1/users/{colleague}/deactivate")),
        bare(M::POST, format!("/v1/users/{colleague}/reactivate")),
        // Deletes, each followed by its restore.
        bare(M::DELETE, format!("/v1/api-keys/{ky}")),
        bare(M::DELETE, format!("/v1/webhooks/{wh}")),
        bare(M::DELETE, format!("/v1/support-grants/{grant}")),
        with(
            M::POST,
            format!("/v1/imports/{import}/undo"),
            json!({"reason": "matrix"}),
        ),
        with(
            M::POST,
            format!("/v1/contacts/{erasable}/erase"),
            json!({"reason": "matrix"}),
        ),
        bare(M::DELETE, format!("/v1/activities/{nt}")),
        bare(M::POST, format!("/v1/activities/{nt}/restore")),
        bare(M::DELETE, format!("/v1/deals/{dl}")),
        bare(M::POST, format!("/v1/deals/{dl}/restore")),
        bare(M::DELETE, format!("/v1/contacts/{ct}")),
        bare(M::POST, format!("/v1/contacts/{ct}/restore")),
        bare(M::DELETE, format!("/v1/companies/{co}")),
        bare(M::POST, format!("/v1/companies/{co}/restore")),
    ]
}

/// Creates the support account grants are given to.
async fn support_account(app: &TestApp) {
    let settings = test_settings(&app.db_name);
    let db =
        sea_orm::Database::connect(secrecy::ExposeSecret::expose_secret(&settings.database.url))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    let totp_box = crm_app::totp::SecretBox::new(settings.auth.totp_key());
    crm_app::support_accounts::create_account(
        &db,
        &totp_box,
        SUPPORT_EMAIL,
        "Support",
        SecretString::from(SUPPORT_PASSWORD),
    )
    .await
    .unwrap_or_else(|e| panic!("support account: {e}"));
}

async fn send(app: &TestApp, c: &Call, token: &str) -> reqwest::Response {
    match &c.body {
        Body::Csv(text) => app
            .client
            .request(c.method.clone(), format!("{}{}", app.address, c.path))
            .bearer_auth(token)
            .header("content-type", "text/csv")
            .body(*text)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{} {}: {e}", c.method, c.path)),
        Body::Json(body) => {
            app.request(c.method.clone(), &c.path, Some(token), Some(body.clone()))
                .await
        }
        Body::None => {
            app.request(c.method.clone(), &c.path, Some(token), None)
                .await
        }
    }
}

#[tokio::test]
async fn every_role_against_every_route() {
    let app = spawn_app().await;
    let ops = operations(&app).await;

    // Every operation without a permission is placed outside the matrix, with a reason;
    // every entry of that list is an operation without a permission.
    for op in ops.iter().filter(|op| op.permission.is_none()) {
        assert!(
            OUTSIDE_THE_MATRIX
                .iter()
                .any(|(m, p, _)| op.method.as_str() == *m && shape(p) == shape(&op.pattern)),
            "{} has no x-permission and is not listed in OUTSIDE_THE_MATRIX: give it a \
             permission (and a call in this test) or list it with the reason",
            op.name()
        );
    }
    for (method, pattern, reason) in OUTSIDE_THE_MATRIX {
        assert!(!reason.is_empty());
        let op = ops
            .iter()
            .find(|op| op.method.as_str() == *method && shape(&op.pattern) == shape(pattern))
            .unwrap_or_else(|| {
                panic!(
                    "OUTSIDE_THE_MATRIX lists {method} {pattern}, which the document does not have"
                )
            });
        assert_eq!(
            op.permission,
            None,
            "{} is listed outside the matrix but declares x-permission",
            op.name()
        );
    }

    let a = app.signup("matrix").await;
    support_account(&app).await;

    // Per operation: (allowed calls, refused calls).
    let mut seen: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut checked = 0;
    let mut expected = 0;
    for role in Role::ALL {
        let tag = role.as_str().replace('_', "-");
        let f = fixtures(&app, &a.token, &tag).await;
        let ids = f.ids();
        let calls = calls(&f, &tag);
        expected += calls.len();
        let token = app.token_for(a.tenant, a.owner, role).await;
        for c in &calls {
            let (method, path) = (&c.method, &c.path);
            let op = operation_of(&ops, method, path);
            let permission = op.permission.unwrap_or_else(|| {
                panic!(
                    "{method} {path} reaches {}, which has no x-permission: it does not \
                     belong in the matrix",
                    op.name()
                )
            });
            let allowed = role.may(permission) && c.narrowed.is_none_or(|n| role.may(n));
            let events = if allowed {
                None
            } else {
                Some(app.event_count().await)
            };
            let res = send(&app, c, &token).await;
            let status = res.status();
            // An event stream stays open: its status is the answer, its body is not read.
            let streaming = res
                .headers()
                .get("content-type")
                .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
            let text = if streaming {
                String::new()
            } else {
                res.text().await.unwrap_or_default()
            };
            let entry = seen.entry(op.name()).or_default();
            if allowed {
                entry.0 += 1;
                assert!(
                    op.success.contains(&status),
                    "{role} {method} {path} ({}, {permission:?}): {status} is not a documented \
                     success status {:?}: {text}",
                    op.name(),
                    op.success
                );
            } else {
                entry.1 += 1;
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{role} {method} {path} ({permission:?}, narrowed {:?}) was let through: {text}",
                    c.narrowed
                );
                let problem: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
                    panic!(
                        "{role} {method} {path}: a 403 that is no problem document ({e}): {text}"
                    )
                });
                assert_eq!(problem["status"], 403, "{role} {method} {path}: {text}");
                assert!(
                    !text.contains("Matrix") && !ids.iter().any(|id| text.contains(id)),
                    "{role} {method} {path}: a 403 showed data: {text}"
                );
                assert_eq!(
                    Some(app.event_count().await),
                    events,
                    "{role} {method} {path}: a refused call wrote"
                );
            }
            checked += 1;
        }

        // Reads outside the matrix are open to every role.
        for path in OPEN_READS {
            let op = operation_of(&ops, &Method::GET, path);
            assert_eq!(op.permission, None, "{path}");
            let res = app.request(Method::GET, path, Some(&token), None).await;
            let status = res.status();
            assert!(
                op.success.contains(&status),
                "{role} GET {path}: {status} is not a documented success status {:?}",
                op.success
            );
        }
    }
    assert_eq!(checked, expected);

    // Every operation that names a permission was called, and allowed to some role (so its
    // success status was checked).
    for op in ops.iter().filter(|op| op.permission.is_some()) {
        let (allowed, refused) = seen.get(&op.name()).copied().unwrap_or_default();
        assert!(
            allowed + refused > 0,
            "{} ({:?}) is never called by the matrix: add a call for it",
            op.name(),
            op.permission
        );
        assert!(allowed > 0, "{} is allowed to no role", op.name());
    }
}

#[tokio::test]
async fn members_change_what_they_own_and_read_the_rest() {
    let app = spawn_app().await;
    let a = app.signup("owned").await;
    let t = &a.token;
    let company = made(
        "company",
        StatusCode::CREATED,
        app.post("/v1/companies", t, json!({"name": "Owner's Co"}))
            .await,
    );
    let contact = made(
        "contact",
        StatusCode::CREATED,
        app.post("/v1/contacts", t, json!({"first_name": "Owner's"}))
            .await,
    );
    let deal = made(
        "deal",
        StatusCode::CREATED,
        app.post("/v1/deals", t, json!({"name": "Owner's deal"}))
            .await,
    );
    let note = made(
        "note",
        StatusCode::CREATED,
        app.post(
            "/v1/activities",
            t,
            json!({"kind": "note", "body": "n", "contact_ids": [contact["id"]]}),
        )
        .await,
    );
    let member = app
        .token_for(a.tenant, uuid::Uuid::now_v7(), Role::Member)
        .await;
    let events = app.event_count().await;
    for (method, path, body) in [
        (
            Method::PATCH,
            format!("/v1/companies/{}", str_of(&company["id"])),
            Some(json!({"industry": "x"})),
        ),
        (
            Method::DELETE,
            format!("/v1/contacts/{}", str_of(&contact["id"])),
            None,
        ),
        (
            Method::PATCH,
            format!("/v1/deals/{}", str_of(&deal["id"])),
            Some(json!({"name": "mine"})),
        ),
        (
            Method::POST,
            format!("/v1/deals/{}/lose", str_of(&deal["id"])),
            Some(json!({"reason": "x"})),
        ),
        (
            Method::PATCH,
            format!("/v1/activities/{}", str_of(&note["id"])),
            Some(json!({"body": "mine"})),
        ),
    ] {
        let (status, _) = app.call(method.clone(), &path, Some(&member), body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
    }
    assert_eq!(app.event_count().await, events);
    assert_eq!(
        app.get(&format!("/v1/deals/{}", str_of(&deal["id"])), &member)
            .await
            .0,
        StatusCode::OK,
        "members read the rest"
    );
    let mine = made(
        "member's contact",
        StatusCode::CREATED,
        app.post("/v1/contacts", &member, json!({"first_name": "Mine"}))
            .await,
    );
    assert_eq!(
        app.patch(
            &format!("/v1/contacts/{}", str_of(&mine["id"])),
            &member,
            json!({"job_title": "x"})
        )
        .await
        .0,
        StatusCode::OK
    );
}
