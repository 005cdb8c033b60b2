//! A request body written to a temporary file as it arrives, so a large upload (a CSV
//! import, up to `server.import_limit_bytes`) holds one network chunk in memory at a
//! time, whatever its size (issue 11: memory flat in the file's size).
//!
//! The file is unnamed on disk once dropped (`tempfile`'s `NamedTempFile` removes it), and
//! lives in the operating system's temporary directory (`TMPDIR`).

use std::io::Write;

use actix_web::dev::Payload;
use actix_web::{HttpMessage, HttpRequest};
use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// A received body, on disk.
#[derive(Debug)]
pub struct SpooledBody {
    file: tempfile::NamedTempFile,
}

impl SpooledBody {
    /// Receives `payload` into a new temporary file, feeding every chunk to `hasher` too
    /// when one is given (an `Idempotency-Key` hashes the body it guards).
    ///
    /// # Errors
    /// 413 when the body exceeds `limit` bytes; 400 when it breaks off; 500 (logged) when
    /// the temporary file cannot be written.
    pub async fn receive(
        payload: &mut Payload,
        limit: usize,
        mut hasher: Option<&mut Sha256>,
    ) -> Result<Self, ApiError> {
        let mut file = tempfile::NamedTempFile::new().map_err(ApiError::internal)?;
        let mut len = 0_u64;
        while let Some(chunk) = payload.next().await {
            let chunk = chunk
                .map_err(|e| ApiError::BadRequest(format!("the body could not be read: {e}")))?;
            len += chunk.len() as u64;
            if len > limit as u64 {
                return Err(ApiError::PayloadTooLarge);
            }
            if let Some(hasher) = hasher.as_deref_mut() {
                hasher.update(&chunk);
            }
            // A write to the page cache of a local file: microseconds for a network chunk.
            file.write_all(&chunk).map_err(ApiError::internal)?;
        }
        file.flush().map_err(ApiError::internal)?;
        Ok(Self { file })
    }

    /// The body spooled for `req` by a middleware that had to read it first (the
    /// `Idempotency-Key`'s hash), if any: taken, so it is handed on once.
    pub fn take(req: &HttpRequest) -> Option<Self> {
        req.extensions_mut().remove::<Self>()
    }

    /// A new reader of the whole body, from its first byte.
    ///
    /// # Errors
    /// 500 (logged) when the file cannot be opened again.
    pub fn reader(&self) -> Result<std::fs::File, ApiError> {
        self.file.reopen().map_err(ApiError::internal)
    }
}

/// Whether a `Content-Type` is a CSV body as the import routes take it: `text/csv` or
/// `application/csv` (RFC 7111 and its common alias), parameters aside.
pub(crate) fn is_csv(content_type: Option<&actix_web::http::header::HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .is_some_and(|m| m == "text/csv" || m == "application/csv")
}
