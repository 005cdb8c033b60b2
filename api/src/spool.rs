//! A request body written to a temporary file as it arrives, so a large upload (a CSV
//! import, up to `server.import_limit_bytes`) holds one network chunk in memory at a
//! time, whatever its size (issue 11: memory flat in the file's size).
//!
//! On Linux the file never has a name (`O_TMPFILE`, through `tempfile::tempfile`): the
//! kernel frees it when its last descriptor closes, so even a process killed with SIGKILL
//! leaves nothing behind; readers reopen it through `/proc/self/fd`, each with a position
//! of its own. Elsewhere it is a named file in the temporary directory (`TMPDIR`), removed
//! when dropped (`tempfile::NamedTempFile`).

use std::io::Write;

use actix_web::dev::Payload;
use actix_web::{HttpMessage, HttpRequest};
use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// A received body, on disk.
#[derive(Debug)]
pub struct SpooledBody {
    file: Spool,
}

/// The file a body is spooled to (see the module).
#[cfg(target_os = "linux")]
#[derive(Debug)]
struct Spool(std::fs::File);

#[cfg(target_os = "linux")]
impl Spool {
    fn new() -> std::io::Result<Self> {
        tempfile::tempfile().map(Self)
    }

    fn reopen(&self) -> std::io::Result<std::fs::File> {
        use std::os::fd::AsRawFd;
        std::fs::File::open(format!("/proc/self/fd/{}", self.0.as_raw_fd()))
    }
}

#[cfg(target_os = "linux")]
impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(not(target_os = "linux"))]
#[derive(Debug)]
struct Spool(tempfile::NamedTempFile);

#[cfg(not(target_os = "linux"))]
impl Spool {
    fn new() -> std::io::Result<Self> {
        tempfile::NamedTempFile::new().map(Self)
    }

    fn reopen(&self) -> std::io::Result<std::fs::File> {
        self.0.reopen()
    }
}

#[cfg(not(target_os = "linux"))]
impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
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
        let mut file = Spool::new().map_err(ApiError::internal)?;
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

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn a_spool_has_no_name_and_each_reader_reads_it_all() {
        let mut spool = Spool::new().unwrap_or_else(|e| panic!("{e}"));
        spool
            .write_all(b"name\nAcme\n")
            .unwrap_or_else(|e| panic!("{e}"));
        spool.flush().unwrap_or_else(|e| panic!("{e}"));
        let meta = spool.0.metadata().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(meta.nlink(), 0, "the spool has a name on disk");
        let body = SpooledBody { file: spool };
        let (mut first, mut second) = (String::new(), String::new());
        let mut one = body.reader().unwrap_or_else(|e| panic!("{e:?}"));
        let mut two = body.reader().unwrap_or_else(|e| panic!("{e:?}"));
        let mut head = [0_u8; 4];
        one.read_exact(&mut head).unwrap_or_else(|e| panic!("{e}"));
        two.read_to_string(&mut second)
            .unwrap_or_else(|e| panic!("{e}"));
        one.read_to_string(&mut first)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(second, "name\nAcme\n", "a reader starts at the first byte");
        assert_eq!(first, "\nAcme\n", "a reader keeps its own position");
    }
}
