//! When does a query give up?
//!
//! A query stops at its deadline, when its caller cancels it (an HTTP client that went away),
//! or when it would hold more memory than its budget. Workers check [`Stop`] between traces
//! and every few thousand spans inside the evaluation of a large trace, so a stop takes effect
//! within milliseconds; what was found so far is returned, marked partial, with the reason.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

/// Spans evaluated between two checks of a [`Stop`] inside one trace.
pub(crate) const CHECK_EVERY: usize = 4096;

/// Estimated bytes a span takes while a query holds it decoded (the span, its evaluation
/// state and its share of the spansets).
pub(crate) const BYTES_PER_DECODED_SPAN: u64 = 512;

/// Cancels a running query from another thread.
///
/// A search or tag lookup given a token checks it between traces and inside the evaluation of
/// large traces, and returns what it found so far, marked partial. Clones share the token.
///
/// ```
/// use tempo_core::{CancelToken, SearchRequest, Store};
///
/// let store = Store::in_memory();
/// let token = CancelToken::new();
/// let request = SearchRequest::new("{ }").cancel_token(token.clone());
/// token.cancel();
/// let found = store.search("single-tenant", &request)?;
/// assert!(found.partial);
/// # Ok::<(), tempo_core::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token not cancelled yet.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Cancels every query holding this token (or a clone of it).
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// A guard that cancels the token when dropped: held by a request handler, it stops the
    /// query as soon as the handler is dropped, for example because its client disconnected.
    pub fn cancel_on_drop(&self) -> CancelOnDrop {
        CancelOnDrop(self.clone())
    }
}

/// Cancels its [`CancelToken`] when dropped; see [`CancelToken::cancel_on_drop`].
#[derive(Debug)]
#[must_use = "the token is cancelled as soon as the guard is dropped"]
pub struct CancelOnDrop(CancelToken);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Why a query stopped before reading everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// Its deadline passed.
    Deadline,
    /// Its caller cancelled it.
    Cancelled,
    /// Going on would have held more than its memory budget.
    Memory {
        /// The budget, bytes.
        limit: u64,
        /// What one piece of work (a trace, a row group) needed, bytes.
        needed: u64,
        /// What the piece was.
        what: String,
    },
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::Deadline => f.write_str("the query's deadline passed"),
            StopReason::Cancelled => f.write_str("the query was cancelled"),
            StopReason::Memory {
                limit,
                needed,
                what,
            } => write!(
                f,
                "the query would hold more than its memory budget of {limit} bytes \
                 (max_query_bytes): {what} needs about {needed} bytes; narrow the query or \
                 its time range"
            ),
        }
    }
}

/// The limits of one running query, shared by its workers.
#[derive(Debug)]
pub(crate) struct Stop {
    deadline: Instant,
    cancel: Option<CancelToken>,
    limit: u64,
    used: AtomicU64,
    stopped: AtomicBool,
    reason: Mutex<Option<StopReason>>,
}

impl Stop {
    /// Limits ending at `deadline`, cancelled by `cancel`, holding at most `limit` bytes.
    pub(crate) fn new(deadline: Instant, cancel: Option<CancelToken>, limit: u64) -> Stop {
        Stop {
            deadline,
            cancel,
            limit,
            used: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            reason: Mutex::new(None),
        }
    }

    /// Whether the query must stop now (its deadline passed, it was cancelled, or a stop was
    /// recorded); records why.
    pub(crate) fn should_stop(&self) -> bool {
        if self.stopped.load(Ordering::Relaxed) {
            return true;
        }
        if self.cancel.as_ref().is_some_and(CancelToken::is_cancelled) {
            self.record(StopReason::Cancelled);
            return true;
        }
        if Instant::now() >= self.deadline {
            self.record(StopReason::Deadline);
            return true;
        }
        false
    }

    /// Reserves `bytes` of the budget for `what` until the returned charge is dropped; `None`
    /// (and the query stops) when that would pass the budget.
    pub(crate) fn charge(&self, bytes: u64, what: impl FnOnce() -> String) -> Option<Charge<'_>> {
        let before = self.used.fetch_add(bytes, Ordering::Relaxed);
        if before.saturating_add(bytes) > self.limit {
            self.used.fetch_sub(bytes, Ordering::Relaxed);
            self.record(StopReason::Memory {
                limit: self.limit,
                needed: bytes,
                what: what(),
            });
            return None;
        }
        Some(Charge { stop: self, bytes })
    }

    /// Reserves `bytes` of the budget for `what` for the rest of the query (what it keeps,
    /// such as the series a metrics query builds); `false` (and the query stops) when that
    /// would pass the budget.
    pub(crate) fn hold(&self, bytes: u64, what: impl FnOnce() -> String) -> bool {
        match self.charge(bytes, what) {
            Some(charge) => {
                std::mem::forget(charge);
                true
            }
            None => false,
        }
    }

    fn record(&self, reason: StopReason) {
        self.stopped.store(true, Ordering::Relaxed);
        self.reason.lock().get_or_insert(reason);
    }

    /// Why the query stopped, if it did.
    pub(crate) fn reason(&self) -> Option<StopReason> {
        self.reason.lock().clone()
    }
}

/// Bytes of a query's budget in use; given back when dropped.
#[derive(Debug)]
pub(crate) struct Charge<'a> {
    stop: &'a Stop,
    bytes: u64,
}

impl Drop for Charge<'_> {
    fn drop(&mut self) {
        self.stop.used.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn deadline_cancel_and_budget() {
        let stop = Stop::new(Instant::now() + Duration::from_secs(60), None, 100);
        assert!(!stop.should_stop());
        let a = stop.charge(60, || "a".into());
        assert!(a.is_some());
        assert!(stop.charge(60, || "b".into()).is_none());
        assert!(stop.should_stop());
        assert!(matches!(
            stop.reason(),
            Some(StopReason::Memory { needed: 60, .. })
        ));

        let token = CancelToken::new();
        let stop = Stop::new(
            Instant::now() + Duration::from_secs(60),
            Some(token.clone()),
            100,
        );
        {
            let _guard = token.cancel_on_drop();
        }
        assert!(stop.should_stop());
        assert_eq!(stop.reason(), Some(StopReason::Cancelled));

        let stop = Stop::new(Instant::now(), None, 100);
        assert!(stop.should_stop());
        assert_eq!(stop.reason(), Some(StopReason::Deadline));
    }

    #[test]
    fn charges_are_given_back() {
        let stop = Stop::new(Instant::now() + Duration::from_secs(60), None, 100);
        for _ in 0..10 {
            let c = stop.charge(80, || "x".into());
            assert!(c.is_some());
        }
        assert!(!stop.should_stop());
    }
}
