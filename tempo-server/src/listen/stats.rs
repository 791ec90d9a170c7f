//! stats: what happened to a listener's connections?
//!
//! The counters of each listener ([`ListenerStats`]), rendered at `/metrics`, and the reasons
//! a connection is closed ([`CloseReason`]).

use std::sync::atomic::{AtomicU64, Ordering};

/// Why a connection was closed, for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseReason {
    /// No request in flight for the idle timeout.
    Idle,
    /// A request's head (or a new connection's first bytes) did not arrive in time.
    HeaderTimeout,
    /// A write to the client made no progress for the write timeout.
    WriteTimeout,
    /// The connection reached its maximum age.
    MaxAge,
}

impl CloseReason {
    /// Every reason, in the order of [`CloseReason::index`].
    pub(crate) const ALL: [CloseReason; 4] = [
        CloseReason::Idle,
        CloseReason::HeaderTimeout,
        CloseReason::WriteTimeout,
        CloseReason::MaxAge,
    ];

    /// The metric label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            CloseReason::Idle => "idle",
            CloseReason::HeaderTimeout => "header_timeout",
            CloseReason::WriteTimeout => "write_timeout",
            CloseReason::MaxAge => "max_age",
        }
    }

    /// Position in [`CloseReason::ALL`].
    pub(crate) fn index(self) -> usize {
        match self {
            CloseReason::Idle => 0,
            CloseReason::HeaderTimeout => 1,
            CloseReason::WriteTimeout => 2,
            CloseReason::MaxAge => 3,
        }
    }
}

/// The connection counters of one listener, rendered at `/metrics` with the label
/// `protocol` (dskit's, whose HTTP server is `http`).
#[derive(Debug)]
pub(crate) struct ListenerStats {
    label: &'static str,
    open: AtomicU64,
    limit: AtomicU64,
    refused: AtomicU64,
    evicted: AtomicU64,
    accept_errors: AtomicU64,
    read_timeouts: AtomicU64,
    closed: [AtomicU64; CloseReason::ALL.len()],
}

/// The values of [`ListenerStats`] at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatsSnapshot {
    /// The `protocol` label.
    pub(crate) label: &'static str,
    /// Connections open.
    pub(crate) open: u64,
    /// The cap.
    pub(crate) limit: u64,
    /// Connections refused at the cap.
    pub(crate) refused: u64,
    /// Idle connections closed to make room at the cap.
    pub(crate) evicted: u64,
    /// Accepts that failed (other than a client giving up first).
    pub(crate) accept_errors: u64,
    /// Requests whose body did not arrive within the read timeout.
    pub(crate) read_timeouts: u64,
    /// Connections closed, per [`CloseReason::ALL`].
    pub(crate) closed: [u64; CloseReason::ALL.len()],
}

impl ListenerStats {
    /// Counters for the listener labelled `label`.
    pub(crate) fn new(label: &'static str) -> ListenerStats {
        ListenerStats {
            label,
            open: AtomicU64::new(0),
            limit: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
            accept_errors: AtomicU64::new(0),
            read_timeouts: AtomicU64::new(0),
            closed: Default::default(),
        }
    }

    /// The counters now.
    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            label: self.label,
            open: get(&self.open),
            limit: get(&self.limit),
            refused: get(&self.refused),
            evicted: get(&self.evicted),
            accept_errors: get(&self.accept_errors),
            read_timeouts: get(&self.read_timeouts),
            closed: std::array::from_fn(|i| get(&self.closed[i])),
        }
    }

    /// One more connection closed for `reason`.
    pub(super) fn closed(&self, reason: CloseReason) {
        self.closed[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// One more request body past its read timeout.
    pub(super) fn read_timeout(&self) {
        self.read_timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// One more connection refused at the cap.
    pub(super) fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// One more idle connection closed to make room at the cap.
    pub(super) fn evicted(&self) {
        self.evicted.fetch_add(1, Ordering::Relaxed);
    }

    /// One more accept that failed.
    pub(super) fn accept_error(&self) {
        self.accept_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The cap in force.
    pub(super) fn set_limit(&self, limit: usize) {
        self.limit
            .store(u64::try_from(limit).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The connections open now.
    pub(super) fn set_open(&self, open: usize) {
        self.open
            .store(u64::try_from(open).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}
