//! The API contract: an OpenAPI 3.1 document generated from the route declarations
//! (`#[utoipa::path]` beside each handler, collected by utoipa-actix-web while the router
//! is built), and the [`RouteTable`] derived from it that the server itself obeys.
//!
//! One declaration per route holds its path, method, request and response schemas and
//! three extensions read back by the server:
//! - `x-permission`: the permission-matrix [`Action`] the caller must hold (snake case,
//!   e.g. `"create_records"`); checked by the authentication extractor before the
//!   handler runs, so a handler never starts with a permission check by convention;
//! - `x-two-factor-exempt: true`: the route stays open to an Owner or Admin whose
//!   workspace requires two-factor sign-in that they have not turned on yet;
//! - an `Idempotency-Key` header parameter ([`IdempotencyKey`]): the idempotency
//!   middleware stores and replays answers of exactly those operations.
//!
//! The document is served at `GET /openapi.json`, committed as `docs/openapi.json` (a
//! test fails when they differ), and rendered by `GET /docs` with vendored assets.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::dev::ResourceDef;
use actix_web::http::Method;
use crm_domain::Action;
use serde::Serialize;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, OpenApi as Document, RefOr, Response, ResponseBuilder};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

/// The extension naming a route's permission.
pub const PERMISSION: &str = "x-permission";
/// The extension marking a route open before required two-factor sign-in is set up.
pub const TWO_FACTOR_EXEMPT: &str = "x-two-factor-exempt";
/// The media type of RFC 9457 problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error response body (RFC 9457 problem details, `application/problem+json`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "about:blank",
    "title": "Unprocessable Entity",
    "status": 422,
    "detail": "validation failed",
    "errors": [{"field": "name", "message": "must be 1 to 200 characters"}]
}))]
pub struct Problem {
    /// Always `about:blank`: the status says what kind of problem it is.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong, for a person. A 500 says only to quote `X-Request-Id`.
    pub detail: String,
    /// On a 422: each failing field (JSON member path or query parameter) and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<crate::error::FieldError>>,
}

/// The `Idempotency-Key` request header (IETF draft "The Idempotency-Key HTTP Header
/// Field"): a retried request with the same key and the same request gets the first
/// answer, with `Idempotent-Replayed: true`, and runs nothing again. Keys belong to the
/// caller and are kept at least 24 hours.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKey {
    /// 1 to 255 visible ASCII characters, unique per intended operation (a UUID is
    /// usual). The same key with a different request is a 422; while the first request
    /// runs, a 409.
    #[param(rename = "Idempotency-Key", max_length = 255, min_length = 1)]
    pub idempotency_key: Option<String>,
}

/// The `If-Match` request header (RFC 9110 §13.1.1): the write applies only when the
/// record is still at this version, else 412.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IfMatch {
    /// A strong entity tag as sent in `ETag` (`"7"`), or `*`.
    #[param(rename = "If-Match", example = "\"7\"")]
    pub if_match: Option<String>,
}

/// The bearer security schemes: session access tokens (JWT, 15 minutes) and API keys
/// (`crm_…`), both sent as `Authorization: Bearer …`.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut session = Http::new(HttpAuthScheme::Bearer);
        session.bearer_format = Some("JWT".into());
        session.description = Some(
            "An access token from `POST /v1/auth/login` or `/v1/auth/signup` (15 minutes; \
             renew with `POST /v1/auth/refresh`). Support staff send `sup_…` tokens."
                .into(),
        );
        components.add_security_scheme("bearer", SecurityScheme::Http(session));
        let mut key = Http::new(HttpAuthScheme::Bearer);
        key.bearer_format = Some("crm_…".into());
        key.description =
            Some("A workspace API key from `POST /v1/api-keys`, sent as a bearer token.".into());
        components.add_security_scheme("api_key", SecurityScheme::Http(key));
    }
}

/// The root of the document; the paths come from the router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "CRM API",
        description = "An event-sourced, multi-tenant CRM backend. Every change is an event \
in the workspace's audit trail. Conventions: money is `{amount_minor, currency}` in ISO 4217 \
minor units; lists page with an opaque `next_cursor`; single-record answers carry `ETag` (the \
record's version) and writes accept `If-Match`; POSTs accept `Idempotency-Key`; errors are \
RFC 9457 problem details.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    components(schemas(Problem, crate::error::FieldError)),
    modifiers(&SecuritySchemes),
    security(("bearer" = []), ("api_key" = []))
)]
struct ApiDoc;

/// Adds the problem answers every operation can give to its declared responses, so the
/// document lists every status the server sends: 401/403/429 where a caller is
/// authenticated, 404 where the path names a record, 400/413/415/422 where a body or query
/// is parsed, 500/503 everywhere (a fault of ours; the database down).
struct ProblemResponses;

fn problem_response(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                PROBLEM_JSON,
                Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    "Problem",
                )))),
            )
            .build(),
    )
}

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut Document) {
        for (path, item) in &mut openapi.paths.paths {
            let has_id = path.contains('{');
            for op in operations_mut(item) {
                // Operation ids are the handler's name prefixed with its tag
                // (`companies_update`), unique across the document.
                if let (Some(tag), Some(id)) = (
                    op.tags.as_ref().and_then(|t| t.first()).cloned(),
                    op.operation_id.clone(),
                ) {
                    if !id.starts_with(&format!("{tag}_")) {
                        op.operation_id = Some(format!("{}_{id}", tag.replace('-', "_")));
                    }
                }
                let authenticated = is_authenticated(op);
                let has_body = op.request_body.is_some();
                let has_query = op.parameters.as_ref().is_some_and(|ps| {
                    ps.iter()
                        .any(|p| matches!(p, RefOr::T(p) if matches!(p.parameter_in, ParameterIn::Query)))
                });
                let mut add = |status: &str, description: &str| {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| problem_response(description));
                };
                if has_body {
                    add("400", "The body is not well-formed JSON (or CSV).");
                    add("413", "The body is larger than allowed.");
                    add("415", "Wrong `Content-Type`.");
                }
                let idempotent = op.parameters.as_ref().is_some_and(|ps| {
                    ps.iter().any(|p| {
                        matches!(p, RefOr::T(p) if p.name == "Idempotency-Key"
                            && matches!(p.parameter_in, ParameterIn::Header))
                    })
                });
                if has_body || has_query || has_id || idempotent {
                    add(
                        "422",
                        "A field or parameter fails validation (an `Idempotency-Key` that is \
                         malformed or was used for another request included); `errors` names \
                         each.",
                    );
                }
                if idempotent {
                    add(
                        "409",
                        "A request with this `Idempotency-Key` is still running, or the \
                         request conflicts with the record's state.",
                    );
                }
                if authenticated {
                    add("401", "No bearer token, or an invalid or expired one.");
                    add(
                        "403",
                        "The caller's role (or support grant) does not allow this, or the \
                         workspace requires two-factor sign-in first.",
                    );
                    add(
                        "429",
                        "Too many requests; `Retry-After` says when to try again.",
                    );
                }
                if has_id {
                    add("404", "No such record in the caller's workspace.");
                }
                add(
                    "500",
                    "A fault of ours; quote the `X-Request-Id` response header.",
                );
                add(
                    "503",
                    "The database cannot be reached now; `Retry-After` says when to try again.",
                );
            }
        }
    }
}

/// Whether an operation requires credentials: it inherits the document's security, or
/// names a scheme. Open routes declare `security(())` (an empty requirement).
pub fn is_authenticated(op: &Operation) -> bool {
    op.security.as_ref().is_none_or(|reqs| {
        reqs.iter().any(|r| {
            serde_json::to_value(r).is_ok_and(|v| v.as_object().is_some_and(|o| !o.is_empty()))
        })
    })
}

fn operations_mut(item: &mut utoipa::openapi::PathItem) -> Vec<&mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn operations(item: &utoipa::openapi::PathItem) -> Vec<(Method, &Operation)> {
    [
        (Method::GET, item.get.as_ref()),
        (Method::PUT, item.put.as_ref()),
        (Method::POST, item.post.as_ref()),
        (Method::DELETE, item.delete.as_ref()),
        (Method::PATCH, item.patch.as_ref()),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.map(|op| (m, op)))
    .collect()
}

/// The contract of every route: builds the router once (without serving it) to collect
/// the declarations, then completes the document ([`ProblemResponses`]).
pub fn document() -> Document {
    use utoipa_actix_web::AppExt;
    let (_, mut doc) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(|cfg| crate::routes::configure(cfg, 0))
        .split_for_parts();
    ProblemResponses.modify(&mut doc);
    RecordLinks.modify(&mut doc);
    doc
}

/// OpenAPI links from each create (`POST /v1/things` answering 201 with an `id`) to every
/// operation on `/v1/things/{id}…`, passing `$response.body#/id`: the create → get →
/// update → delete chains that clients (and Schemathesis's stateful phase) follow.
struct RecordLinks;

impl Modify for RecordLinks {
    fn modify(&self, openapi: &mut Document) {
        let mut targets: Vec<(String, String)> = Vec::new();
        for (path, item) in &openapi.paths.paths {
            for (_, op) in operations(item) {
                if let Some(id) = &op.operation_id {
                    targets.push((path.clone(), id.clone()));
                }
            }
        }
        for (path, item) in &mut openapi.paths.paths {
            let Some(post) = item.post.as_mut() else {
                continue;
            };
            let Some(RefOr::T(created)) = post.responses.responses.get_mut("201") else {
                continue;
            };
            let prefix = format!("{path}/{{id}}");
            for (target_path, operation_id) in &targets {
                let follows = target_path == &prefix
                    || (target_path.starts_with(&format!("{prefix}/"))
                        && target_path.matches('{').count() == 1);
                if !follows {
                    continue;
                }
                let mut link = utoipa::openapi::link::Link::default();
                link.operation_id = operation_id.clone();
                link.parameters
                    .insert("id".into(), serde_json::json!("$response.body#/id"));
                link.description = format!("The created record's `{target_path}`.");
                created.links.insert(operation_id.clone(), RefOr::T(link));
            }
        }
    }
}

/// What the server needs to know of one operation, read from its declaration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteMeta {
    /// The permission the caller must hold (`x-permission`); `None` for routes open to
    /// anyone (sign-up, sign-in) or checked by the handler (a person, support staff).
    pub permission: Option<Action>,
    /// Open before required two-factor sign-in is set up (`x-two-factor-exempt`).
    pub two_factor_exempt: bool,
    /// Takes an `Idempotency-Key` header.
    pub idempotent: bool,
    /// The documented 2xx statuses.
    pub success: Vec<u16>,
}

/// A route: its method, path pattern (`/v1/companies/{id}`) and [`RouteMeta`].
#[derive(Debug, Clone)]
pub struct Route {
    /// The HTTP method.
    pub method: Method,
    /// The path pattern as declared (OpenAPI and actix-web share the `{name}` syntax).
    pub path: String,
    /// What the declaration says.
    pub meta: RouteMeta,
    matcher: ResourceDef,
}

/// Why the contract could not be read back into a route table (a declaration bug,
/// found at start-up and by the contract test).
#[derive(Debug, thiserror::Error)]
#[error("route {method} {path}: {message}")]
pub struct ContractError {
    method: Method,
    path: String,
    message: String,
}

/// Every route of the contract, looked up by method and matched pattern.
#[derive(Debug, Clone)]
pub struct RouteTable {
    routes: Vec<Route>,
    index: HashMap<(Method, String), usize>,
}

impl RouteTable {
    /// Reads the routes out of a document.
    ///
    /// # Errors
    /// [`ContractError`] for an `x-permission` that names no [`Action`], or an operation
    /// id that is missing or used twice.
    pub fn from_document(doc: &Document) -> Result<Self, ContractError> {
        let mut routes = Vec::new();
        for (path, item) in &doc.paths.paths {
            for (method, op) in operations(item) {
                let ext = op.extensions.as_ref();
                let permission = match ext.and_then(|e| e.get(PERMISSION)) {
                    None => None,
                    Some(value) => Some(serde_json::from_value::<Action>(value.clone()).map_err(
                        |e| ContractError {
                            method: method.clone(),
                            path: path.clone(),
                            message: format!("{PERMISSION}: {e}"),
                        },
                    )?),
                };
                let two_factor_exempt = ext
                    .and_then(|e| e.get(TWO_FACTOR_EXEMPT))
                    .is_some_and(|v| v == &serde_json::Value::Bool(true));
                let idempotent = op.parameters.as_ref().is_some_and(|ps| {
                    ps.iter().any(|p| {
                        matches!(p, RefOr::T(p) if matches!(p.parameter_in, ParameterIn::Header)
                            && p.name.eq_ignore_ascii_case(crate::idempotency::HEADER))
                    })
                });
                let success = op
                    .responses
                    .responses
                    .keys()
                    .filter_map(|s| s.parse::<u16>().ok())
                    .filter(|s| (200..300).contains(s))
                    .collect();
                routes.push(Route {
                    method,
                    path: path.clone(),
                    meta: RouteMeta {
                        permission,
                        two_factor_exempt,
                        idempotent,
                        success,
                    },
                    matcher: ResourceDef::new(path.as_str()),
                });
            }
        }
        let mut ids = std::collections::HashSet::new();
        for (path, item) in &doc.paths.paths {
            for (method, op) in operations(item) {
                let id = op.operation_id.clone().unwrap_or_default();
                if id.is_empty() || !ids.insert(id.clone()) {
                    return Err(ContractError {
                        method,
                        path: path.clone(),
                        message: format!("operation id {id:?} is missing or not unique"),
                    });
                }
            }
        }
        let index = routes
            .iter()
            .enumerate()
            .map(|(i, r)| ((r.method.clone(), r.path.clone()), i))
            .collect();
        Ok(Self { routes, index })
    }

    /// Every route, in the document's order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The route of a method and a matched pattern (`HttpRequest::match_pattern`).
    pub fn get(&self, method: &Method, pattern: &str) -> Option<&Route> {
        self.index
            .get(&(method.clone(), pattern.to_owned()))
            .map(|&i| &self.routes[i])
    }

    /// The methods declared for a concrete path (for `405` and `Allow`).
    pub fn methods_of(&self, path: &str) -> Vec<Method> {
        let mut methods: Vec<Method> = self
            .routes
            .iter()
            .filter(|r| r.matcher.is_match(path))
            .map(|r| r.method.clone())
            .collect();
        methods.dedup();
        methods
    }
}

/// The contract as the server holds it: the document, its JSON text and its routes.
#[derive(Debug, Clone)]
pub struct Contract {
    /// The serialised document served at `/openapi.json`.
    pub json: Arc<String>,
    /// The routes read back from it.
    pub routes: Arc<RouteTable>,
}

impl Contract {
    /// Generates the document and reads it back.
    ///
    /// # Errors
    /// [`ContractError`] when a declaration is wrong, or the document does not serialise.
    pub fn build() -> Result<Self, ContractError> {
        let doc = document();
        let routes = RouteTable::from_document(&doc)?;
        let json = to_json(&doc).map_err(|e| ContractError {
            method: Method::GET,
            path: "/openapi.json".into(),
            message: e.to_string(),
        })?;
        Ok(Self {
            json: Arc::new(json),
            routes: Arc::new(routes),
        })
    }
}

/// The document as pretty-printed JSON with a final newline (the form committed as
/// `docs/openapi.json`).
///
/// # Errors
/// serde_json's, which a generated document never causes.
pub fn to_json(doc: &Document) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(doc).map(|mut s| {
        s.push('\n');
        s
    })
}

/// Describes `schema`'s live fields in `document` (the served OpenAPI document): the
/// `custom` object of each record's view, create and patch bodies gets a property per
/// field, by API key, with its type (a patch's may be `null`), and refuses others.
pub fn with_fields(document: &mut serde_json::Value, schema: &crm_domain::fields::FieldSchema) {
    use crm_domain::fields::RecordKind;
    use serde_json::{json, Map, Value};
    for (kind, names) in [
        (
            RecordKind::Company,
            ["CompanyView", "CreateCompany", "PatchCompany"],
        ),
        (
            RecordKind::Contact,
            ["ContactView", "CreateContact", "PatchContact"],
        ),
        (RecordKind::Deal, ["DealView", "CreateDeal", "PatchDeal"]),
        // One body creates and changes an activity: its values may be null.
        (
            RecordKind::Activity,
            ["ActivityView", "ActivityBody", "ActivityBody"],
        ),
    ] {
        for name in names {
            let patch = name.starts_with("Patch") || name == "ActivityBody";
            let properties: Map<String, Value> = schema
                .live(kind)
                .map(|field| {
                    let mut property = field_schema(field);
                    if let Some(p) = property.as_object_mut() {
                        p.insert("title".into(), Value::String(field.label.clone()));
                    }
                    if patch {
                        property = json!({"oneOf": [property, {"type": "null"}]});
                    }
                    (field.key.clone(), property)
                })
                .collect();
            let required: Vec<Value> = schema
                .live(kind)
                .filter(|f| f.required && name.starts_with("Create"))
                .map(|f| Value::String(f.key.clone()))
                .collect();
            let Some(custom) = document
                .pointer_mut(&format!("/components/schemas/{name}/properties/custom"))
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            custom.insert("properties".into(), Value::Object(properties));
            custom.insert("additionalProperties".into(), Value::Bool(false));
            if !required.is_empty() {
                custom.insert("required".into(), Value::Array(required));
            }
        }
    }
}

/// The JSON Schema of a field's values.
fn field_schema(field: &crm_domain::fields::FieldDefinition) -> serde_json::Value {
    use crm_domain::fields::FieldKind;
    use serde_json::json;
    let option_ids = || {
        field
            .options
            .iter()
            .filter(|o| !o.archived)
            .map(|o| o.id.to_string())
            .collect::<Vec<_>>()
    };
    match field.kind {
        FieldKind::Text => json!({"type": "string", "maxLength": field.max_length}),
        FieldKind::LongText | FieldKind::Phone => json!({"type": "string"}),
        FieldKind::Integer => json!({"type": "integer", "format": "int64"}),
        FieldKind::Decimal => json!({"type": "string", "format": "decimal",
            "description": format!("At most {} digits after the point.", field.scale.unwrap_or(2))}),
        FieldKind::Money => json!({"$ref": "#/components/schemas/Money"}),
        FieldKind::Date => json!({"type": "string", "format": "date"}),
        FieldKind::DateTime => json!({"type": "string", "format": "date-time"}),
        FieldKind::Boolean => json!({"type": "boolean"}),
        FieldKind::SingleSelect => {
            json!({"type": "string", "format": "uuid", "enum": option_ids()})
        }
        FieldKind::MultiSelect => json!({"type": "array",
            "items": {"type": "string", "format": "uuid", "enum": option_ids()}}),
        FieldKind::Url => json!({"type": "string", "format": "uri"}),
        FieldKind::Email => json!({"type": "string", "format": "email"}),
        FieldKind::Reference => json!({"type": "string", "format": "uuid",
            "description": format!("The id of a {} of the workspace.",
                field.references.map_or("record", |r| r.as_str()))}),
    }
}
