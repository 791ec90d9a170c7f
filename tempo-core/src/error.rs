//! error: what went wrong, and where?

use crate::backend::BackendError;
use crate::block::BlockError;
use crate::wal::WalError;

/// Any failure of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The write-ahead log failed; the batch was not acknowledged.
    #[error(transparent)]
    Wal(WalError),
    /// A tenant ID that the store does not accept.
    #[error("invalid tenant ID {tenant:?}: {reason}")]
    InvalidTenant {
        /// The tenant ID, shortened if it was very long.
        tenant: String,
        /// Why it is refused.
        reason: String,
    },
    /// The store was closed.
    #[error("the store is closed")]
    Closed,
    /// The block backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A block could not be written or read.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// A query could not be run: bad TraceQL, a bad parameter, or an unsupported query.
    #[error(transparent)]
    Query(#[from] crate::query::QueryError),
}

impl From<WalError> for Error {
    fn from(err: WalError) -> Error {
        match err {
            WalError::Closed => Error::Closed,
            other => Error::Wal(other),
        }
    }
}
