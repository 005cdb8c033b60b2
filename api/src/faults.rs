//! Fault injection for the tests (feature `test-support` only; the production binary has
//! none): a request with `X-Test-Fault: after-commit` is answered 500 right after its
//! command committed, as when a server dies between its commit and its answer.

use actix_web::HttpRequest;

use crate::error::ApiError;

/// The request header that asks for a fault.
pub const HEADER: &str = "x-test-fault";

/// A 500 after the commit, when the request asks for it (test builds only).
///
/// # Errors
/// 500 when the request carries `X-Test-Fault: after-commit` in a test build.
#[cfg(feature = "test-support")]
pub fn after_commit(req: &HttpRequest) -> Result<(), ApiError> {
    match req.headers().get(HEADER).and_then(|v| v.to_str().ok()) {
        Some("after-commit") => Err(ApiError::Internal(
            "injected fault: the answer after the commit is lost".into(),
        )),
        _ => Ok(()),
    }
}

/// Nothing, outside test builds.
///
/// # Errors
/// None.
#[cfg(not(feature = "test-support"))]
#[allow(clippy::unnecessary_wraps)]
pub fn after_commit(_: &HttpRequest) -> Result<(), ApiError> {
    Ok(())
}
