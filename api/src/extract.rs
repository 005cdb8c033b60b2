//! Request body and query extractors whose failures are problem details naming the field.
//!
//! Both are the boundary where text is checked once for every route: a string anywhere in
//! a body or a query (keys too) that holds a control character other than tab and line
//! breaks ([`crm_domain::text::forbidden_char`]: NUL, which PostgreSQL cannot store,
//! among them), or that reads as a date or time outside the years RFC 3339 writes
//! ([`crm_domain::time`]), is refused with a 422 naming the field before any handler runs.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body (`application/json`, at most `server.json_limit_bytes`), deserialised
/// strictly: malformed JSON is a 400, a body of the wrong shape a 422 naming the failing
/// field path (e.g. `annual_revenue.amount_minor`), a wrong content type 415, an
/// oversized body 413.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json"
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::UnsupportedMediaType(
                    "expected Content-Type: application/json".into(),
                ));
            }
            let bytes = bytes.await.map_err(payload_error)?;
            parse_json(&bytes).map(Json)
        })
    }
}

/// Deserialises JSON text strictly (see [`Json`]).
///
/// # Errors
/// 400 for syntax, 422 for shape.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Text first, so a control character is refused alike wherever it is (an unknown
    // member's name included).
    let tree: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?;
    check_tree(&tree, &mut String::new())?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_data() {
            let message = strip_position(&inner.to_string());
            // serde names a missing field in its message, not in the path.
            let missing = message
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split('`').next());
            let field = match (path.as_str(), missing) {
                (".", Some(name)) => name.to_owned(),
                (_, Some(name)) => format!("{path}.{name}"),
                (".", None) => "body".to_owned(),
                _ => path,
            };
            ApiError::invalid(field, message)
        } else {
            ApiError::BadRequest(format!("malformed JSON: {inner}"))
        }
    })?;
    de.end()
        .map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// Checks one string of a request (see the module's documentation); `field` names it.
///
/// # Errors
/// 422 naming `field`.
pub fn check_text(field: &str, text: &str) -> Result<(), ApiError> {
    let field = if field.is_empty() { "body" } else { field };
    if let Some(c) = crm_domain::text::forbidden_char(text) {
        return Err(ApiError::invalid(
            field,
            format!(
                "must not contain control characters (found U+{:04X})",
                u32::from(c)
            ),
        ));
    }
    if crm_domain::time::out_of_range(text) {
        return Err(ApiError::invalid(
            field,
            "dates and times must lie in the years 0000 to 9999 (RFC 3339)",
        ));
    }
    Ok(())
}

/// Checks every string and key of a JSON body; `path` is the member path so far
/// (`stages[1].name`).
fn check_tree(value: &serde_json::Value, path: &mut String) -> Result<(), ApiError> {
    use serde_json::Value;
    match value {
        // A secret is checked for NUL only: it is hashed, never stored as text, and an
        // existing password may hold any other character.
        Value::String(text) if path.ends_with("password") => {
            if text.contains('\0') {
                return Err(ApiError::invalid(
                    path.as_str(),
                    "must not contain NUL (U+0000)",
                ));
            }
            Ok(())
        }
        Value::String(text) => check_text(path, text),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                check_tree(item, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Object(members) => {
            for (key, item) in members {
                if crm_domain::text::forbidden_char(key).is_some() {
                    return check_text(if path.is_empty() { "body" } else { path }, key);
                }
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                check_tree(item, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

/// Drops serde_json's " at line L column C" suffix, which means nothing to an API user.
fn strip_position(message: &str) -> String {
    message
        .split(" at line ")
        .next()
        .unwrap_or(message)
        .to_owned()
}

/// Maps a body-reading error: too large is 413, the rest 400.
pub fn payload_error(err: actix_web::Error) -> ApiError {
    match err.as_error::<PayloadError>() {
        Some(PayloadError::Overflow) => ApiError::PayloadTooLarge,
        _ if err.as_response_error().status_code()
            == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE =>
        {
            ApiError::PayloadTooLarge
        }
        _ => ApiError::BadRequest(err.to_string()),
    }
}

/// Query-string parameters, deserialised strictly: an unknown or malformed parameter is a
/// 422 naming it.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let pairs = form_urlencoded::parse(req.query_string().as_bytes());
        for (name, value) in pairs {
            let checked = check_text("query", &name).and_then(|()| check_text(&name, &value));
            if let Err(err) = checked {
                return std::future::ready(Err(err));
            }
        }
        let de = serde_urlencoded::Deserializer::new(pairs);
        std::future::ready(
            serde_path_to_error::deserialize(de)
                .map(Query)
                .map_err(|err| {
                    ApiError::invalid(err.path().to_string(), err.into_inner().to_string())
                }),
        )
    }
}

/// The query of a record list: `T`, deserialised strictly as [`Query`] does, and the
/// custom field filters (`cf.<key>=…`, `cf.<key>[gte]=…`) set aside, in order, for the
/// application to check against the workspace's schema.
#[derive(Debug)]
pub struct ListParams<T>(pub T, pub Vec<(String, String)>);

/// `T` from the query string strictly, with the parameters named `<prefix>…` set aside
/// (their names without the prefix, in order).
fn split_query<T: DeserializeOwned>(
    req: &HttpRequest,
    prefix: &str,
) -> Result<(T, Vec<(String, String)>), ApiError> {
    let mut aside = Vec::new();
    let mut rest = form_urlencoded::Serializer::new(String::new());
    for (name, value) in form_urlencoded::parse(req.query_string().as_bytes()) {
        check_text("query", &name).and_then(|()| check_text(&name, &value))?;
        match name.strip_prefix(prefix) {
            Some(named) => aside.push((named.to_owned(), value.into_owned())),
            None => {
                rest.append_pair(&name, &value);
            }
        }
    }
    let rest = rest.finish();
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(rest.as_bytes()));
    let query = serde_path_to_error::deserialize(de)
        .map_err(|err| ApiError::invalid(err.path().to_string(), err.into_inner().to_string()))?;
    Ok((query, aside))
}

impl<T: DeserializeOwned> FromRequest for ListParams<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(split_query(req, "cf.").map(|(query, custom)| {
            let custom = custom
                .into_iter()
                .map(|(name, value)| (format!("cf.{name}"), value))
                .collect();
            ListParams(query, custom)
        }))
    }
}

/// The query of an import: `T`, deserialised strictly as [`Query`] does, and the columns
/// mapped to custom fields (`map.<column>=<field key>`), in order.
#[derive(Debug)]
pub struct ImportParams<T>(pub T, pub Vec<(String, String)>);

impl<T: DeserializeOwned> FromRequest for ImportParams<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            split_query(req, "map.").map(|(query, mapping)| ImportParams(query, mapping)),
        )
    }
}
