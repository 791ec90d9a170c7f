//! error: what went wrong, and where?
//!
//! Each operation of the [`Store`](crate::Store) has its own error type, with only the
//! failures it can have, so that callers can match on them; each converts into the crate's
//! [`Error`]. [`ErrorKind`] says what a failure means to a client, so that every transport
//! answers it the same way (see `tempo_otlp::status`).

use crate::backend::BackendError;
use crate::block::BlockError;
use crate::query::QueryError;
use crate::wal::WalError;

/// What a failure means to the client that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is wrong (a bad tenant ID, bad TraceQL, a bad parameter): sending it again
    /// fails again. HTTP 400, gRPC `INVALID_ARGUMENT`.
    InvalidInput,
    /// The store holds as much as it may until it catches up: retry later. HTTP 429, gRPC
    /// `UNAVAILABLE`.
    Overloaded,
    /// The store cannot take writes now (closed, or its log failed): retry, elsewhere or
    /// later. HTTP 503, gRPC `UNAVAILABLE`.
    Unavailable,
    /// The store failed on its own (a backend or block fault). HTTP 500, gRPC `INTERNAL`.
    Internal,
}

/// A tenant ID that the store does not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid tenant ID {tenant:?}: {reason}")]
pub struct TenantError {
    /// The tenant ID, shortened if it was very long.
    pub tenant: String,
    /// Why it is refused.
    pub reason: String,
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The write-ahead log could not be opened or replayed.
    #[error(transparent)]
    Wal(WalError),
    /// The block backend could not be opened or listed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A setting is out of its range.
    #[error("invalid setting {key}: {message}")]
    Config {
        /// The setting.
        key: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

impl From<WalError> for OpenError {
    fn from(err: WalError) -> OpenError {
        OpenError::Wal(err)
    }
}

/// Why a batch was not stored. Nothing of it was acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The tenant ID is not acceptable.
    #[error(transparent)]
    InvalidTenant(#[from] TenantError),
    /// The tenant's head holds as much as it may until blocks are cut: retry later.
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
    /// The write-ahead log failed.
    #[error(transparent)]
    Wal(WalError),
    /// The store was closed.
    #[error("the store is closed")]
    Closed,
}

impl From<WalError> for IngestError {
    fn from(err: WalError) -> IngestError {
        match err {
            WalError::Closed => IngestError::Closed,
            other => IngestError::Wal(other),
        }
    }
}

/// Why a trace could not be looked up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FindError {
    /// The tenant ID is not acceptable.
    #[error(transparent)]
    InvalidTenant(#[from] TenantError),
    /// A block that may hold part of the trace could not be read (its backend did not
    /// answer, or the block is damaged): the trace may be incomplete, so none is returned.
    /// A retry may succeed.
    #[error("trace lookup incomplete: {reason}")]
    Incomplete {
        /// Which blocks, and what failed.
        reason: String,
    },
}

/// Why a search could not be run.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The tenant ID is not acceptable.
    #[error(transparent)]
    InvalidTenant(#[from] TenantError),
    /// The query is not valid TraceQL, or not a search.
    #[error(transparent)]
    Query(#[from] QueryError),
}

/// Why a metrics query could not be run.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The tenant ID is not acceptable.
    #[error(transparent)]
    InvalidTenant(#[from] TenantError),
    /// The query is not valid TraceQL, or not a metrics query, or its range or step is not
    /// acceptable.
    #[error(transparent)]
    Query(#[from] QueryError),
}

/// Why tag names or values could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum TagsError {
    /// The tenant ID is not acceptable.
    #[error(transparent)]
    InvalidTenant(#[from] TenantError),
    /// The tag or the filter query is not valid.
    #[error(transparent)]
    Query(#[from] QueryError),
}

/// Why data could not be made durable: syncing the log, cutting or compacting blocks.
#[derive(Debug, thiserror::Error)]
pub enum FlushError {
    /// The write-ahead log failed.
    #[error(transparent)]
    Wal(WalError),
    /// The store was closed.
    #[error("the store is closed")]
    Closed,
    /// The block backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A block could not be written or read.
    #[error(transparent)]
    Block(#[from] BlockError),
}

impl From<WalError> for FlushError {
    fn from(err: WalError) -> FlushError {
        match err {
            WalError::Closed => FlushError::Closed,
            other => FlushError::Wal(other),
        }
    }
}

/// Any failure of the store: the error of whichever operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Opening the store failed.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// A batch was not stored.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// A lookup by trace ID failed.
    #[error(transparent)]
    Find(#[from] FindError),
    /// A search failed.
    #[error(transparent)]
    Search(#[from] SearchError),
    /// A metrics query failed.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// Listing tags failed.
    #[error(transparent)]
    Tags(#[from] TagsError),
    /// Flushing, cutting or compacting failed.
    #[error(transparent)]
    Flush(#[from] FlushError),
}

impl TenantError {
    /// What the failure means to a client.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidInput
    }
}

impl OpenError {
    /// What the failure means to a client.
    pub fn kind(&self) -> ErrorKind {
        match self {
            OpenError::Config { .. } => ErrorKind::InvalidInput,
            OpenError::Wal(_) | OpenError::Backend(_) => ErrorKind::Internal,
        }
    }
}

impl IngestError {
    /// What the failure means to a client.
    pub fn kind(&self) -> ErrorKind {
        match self {
            IngestError::InvalidTenant(_) => ErrorKind::InvalidInput,
            IngestError::Overloaded { .. } => ErrorKind::Overloaded,
            IngestError::Wal(_) | IngestError::Closed => ErrorKind::Unavailable,
        }
    }
}

impl FindError {
    /// What the failure means to a client.
    pub fn kind(&self) -> ErrorKind {
        match self {
            FindError::InvalidTenant(_) => ErrorKind::InvalidInput,
            FindError::Incomplete { .. } => ErrorKind::Unavailable,
        }
    }
}

impl SearchError {
    /// What the failure means to a client.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SearchError::InvalidTenant(_) | SearchError::Query(_) => ErrorKind::InvalidInput,
        }
    }
}

impl MetricsError {
    /// What the failure means to a client.
    pub fn kind(&self) -> ErrorKind {
        match self {
            MetricsError::InvalidTenant(_) | MetricsError::Query(_) => ErrorKind::InvalidInput,
        }
    }
}

impl TagsError {
    /// What the failure means to a client.
    pub fn kind(&self) -> ErrorKind {
        match self {
            TagsError::InvalidTenant(_) | TagsError::Query(_) => ErrorKind::InvalidInput,
        }
    }
}

impl FlushError {
    /// What the failure means to a client.
    pub fn kind(&self) -> ErrorKind {
        match self {
            FlushError::Wal(_) | FlushError::Closed => ErrorKind::Unavailable,
            FlushError::Backend(_) | FlushError::Block(_) => ErrorKind::Internal,
        }
    }
}

impl Error {
    /// What the failure means to a client.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Open(e) => e.kind(),
            Error::Ingest(e) => e.kind(),
            Error::Find(e) => e.kind(),
            Error::Search(e) => e.kind(),
            Error::Metrics(e) => e.kind(),
            Error::Tags(e) => e.kind(),
            Error::Flush(e) => e.kind(),
        }
    }
}
