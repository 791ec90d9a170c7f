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
    /// The tenant's head holds as much as it may until blocks are cut: the batch was not
    /// stored. Retry later (OTLP receivers answer 503 / `UNAVAILABLE`, which clients retry).
    #[error(
        "tenant {tenant:?} has {held} bytes waiting to be cut into blocks (limit {limit}); retry later"
    )]
    Overloaded {
        /// The tenant.
        tenant: String,
        /// Estimated bytes its head holds.
        held: u64,
        /// The limit (`max_head_bytes`).
        limit: u64,
    },
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
