//! Authentication: password hashing, access tokens, and the extractor that turns a request's
//! bearer token into an [`AuthContext`].

pub mod context;

pub use context::{AuthContext, Caller, CommandContext, SupportAccess};
