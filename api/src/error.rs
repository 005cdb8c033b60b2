//! The API's error type and its one mapping to HTTP: RFC 9457 problem details
//! (`application/problem+json`).

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use crm_domain::DomainError;
use serde::Serialize;

/// One failing field of a 422 (the application layer's).
pub use crm_app::FieldError;

/// Every way a request can fail, each with one status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body is not well-formed (e.g. JSON syntax).
    #[error("{0}")]
    BadRequest(String),
    /// 401: no credentials, or bad ones. The text never says which part was wrong.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403: the role may not do this. Carries no record data.
    #[error("your role does not allow this action")]
    Forbidden,
    /// 403: the workspace requires two-factor sign-in of this role, and it is off.
    #[error("this workspace requires two-factor sign-in: enrol at /v1/auth/2fa/enroll first")]
    TwoFactorRequired,
    /// 404: no such record in the caller's workspace (also for other workspaces' ids).
    #[error("not found")]
    NotFound,
    /// 409: the request conflicts with the record's state or another record.
    #[error("{0}")]
    Conflict(String),
    /// 409, retryable: another request changed the record at the same moment (a lost
    /// optimistic-concurrency race). Never stored for an `Idempotency-Key`.
    #[error("{0}")]
    ConcurrentWrite(String),
    /// 412: `If-Match` names a version the record is no longer at.
    #[error("{0}")]
    PreconditionFailed(String),
    /// 413: the body is larger than allowed.
    #[error("request body too large")]
    PayloadTooLarge,
    /// 415: wrong content type.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: the request is well-formed but fails validation.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// 429: too many attempts; retry after this many seconds (sent as `Retry-After`,
    /// RFC 9110 §10.2.3).
    #[error("too many attempts; retry in {0} seconds")]
    TooManyRequests(u64),
    /// 503: a dependency is down; sent with `Retry-After` ([`RETRY_AFTER_UNAVAILABLE`]
    /// seconds) and never stored for an `Idempotency-Key`.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a fault of ours; the cause is logged, never sent.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// A 422 for one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    /// The error for a failure of ours or of a dependency: 503 when the database cannot
    /// be reached, else 500 (see [`crm_app::AppError::internal`]).
    pub fn internal(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        crm_app::AppError::internal(err).into()
    }
}

impl From<crm_app::AppError> for ApiError {
    fn from(err: crm_app::AppError) -> Self {
        use crm_app::AppError;
        match err {
            AppError::NotFound => Self::NotFound,
            AppError::Forbidden => Self::Forbidden,
            AppError::Unauthenticated(m) => Self::Unauthorized(m),
            AppError::RateLimited(seconds) => Self::TooManyRequests(seconds),
            AppError::Conflict(m) => Self::Conflict(m),
            AppError::ConcurrentWrite(m) => Self::ConcurrentWrite(m),
            AppError::PreconditionFailed(m) => Self::PreconditionFailed(m),
            AppError::Validation(errors) => Self::Validation(errors),
            AppError::Pending(message) | AppError::Busy(message) => Self::Unavailable(message),
            AppError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unreachable");
                Self::Unavailable("the database cannot be reached now; retry shortly".into())
            }
            AppError::Internal(cause) => Self::Internal(cause),
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        crm_app::AppError::from(err).into()
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        crm_app::AppError::from(err).into()
    }
}

/// Seconds a client is asked to wait before retrying after a 503.
pub const RETRY_AFTER_UNAVAILABLE: u64 = 2;

impl From<crm_store::page::ListError> for ApiError {
    fn from(err: crm_store::page::ListError) -> Self {
        crm_app::AppError::from(err).into()
    }
}

/// Marks a response whose request may simply be sent again (kept in the response's
/// extensions; the idempotency middleware does not store such answers).
#[derive(Debug, Clone, Copy)]
pub struct Retryable;

/// The RFC 9457 body.
#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
}

impl ApiError {
    /// The problem details of this error as JSON, for answers that hold several results
    /// (batches); a 500's cause is logged and not shown.
    pub fn problem_json(&self) -> serde_json::Value {
        let status = self.status_code();
        let detail = match self {
            Self::Internal(cause) => {
                tracing::error!(error = %cause, "internal error in a batch item");
                "an internal error occurred".to_owned()
            }
            other => other.to_string(),
        };
        let errors = match self {
            Self::Validation(errors) => Some(errors.as_slice()),
            _ => None,
        };
        serde_json::to_value(Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail,
            errors,
        })
        .unwrap_or_default()
    }
}

/// The media type of RFC 9457 problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Builds a problem response; used for every error the server sends.
pub fn problem(status: StatusCode, detail: String, errors: Option<&[FieldError]>) -> HttpResponse {
    let body = Problem {
        kind: "about:blank",
        title: status.canonical_reason().unwrap_or("Error"),
        status: status.as_u16(),
        detail,
        errors,
    };
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, PROBLEM_JSON))
        .body(serde_json::to_string(&body).unwrap_or_default())
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::TwoFactorRequired => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) | Self::ConcurrentWrite(_) => StatusCode::CONFLICT,
            Self::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            Self::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                problem(
                    status,
                    "an internal error occurred; quote the X-Request-Id header when reporting it"
                        .into(),
                    None,
                )
            }
            Self::Validation(errors) => problem(status, self.to_string(), Some(errors)),
            Self::TooManyRequests(seconds) => {
                let mut response = problem(status, self.to_string(), None);
                if let Ok(value) = header::HeaderValue::from_str(&seconds.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
                response
            }
            Self::ConcurrentWrite(_) => {
                let mut response = problem(status, self.to_string(), None);
                response.extensions_mut().insert(Retryable);
                response
            }
            Self::Unavailable(_) => {
                let mut response = problem(status, self.to_string(), None);
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    header::HeaderValue::from(RETRY_AFTER_UNAVAILABLE),
                );
                response.extensions_mut().insert(Retryable);
                response
            }
            Self::Unauthorized(_) => {
                let mut response = problem(status, self.to_string(), None);
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
                response
            }
            _ => problem(status, self.to_string(), None),
        }
    }
}
