//! state: what do the API's handlers share?
//!
//! The store, the server's metrics, the tenancy settings and the readiness of the server, and
//! the way every handler calls the store: on the blocking thread pool ([`blocking`]), never on
//! the async runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tempo_core::Store;

use super::error::ApiError;
use crate::generator::SeriesRules;
use crate::metrics::Metrics;

/// What the API handlers share.
#[derive(Clone)]
pub(crate) struct ApiState {
    /// The store the API reads.
    pub(crate) store: Store,
    /// The server's metrics, for `/metrics`.
    pub(crate) metrics: Arc<Metrics>,
    /// Whether the tenant comes from `X-Scope-OrgID`.
    pub(crate) multitenancy_enabled: bool,
    /// With multi-tenancy on, whether a query may name several tenants (`a|b`).
    pub(crate) multi_tenant_queries_enabled: bool,
    /// Whether Tempo's streaming querier is served (`stream_over_http_enabled`).
    pub(crate) streaming: bool,
    /// The limits the server applies to TraceQL metrics queries.
    pub(crate) metrics_query: MetricsQueryLimits,
    /// What `/ready` answers.
    pub(crate) readiness: Arc<Readiness>,
    /// How `/metrics/generator` labels the generated series.
    pub(crate) generator_rules: Arc<SeriesRules>,
}

/// The limits of TraceQL metrics queries that the server applies when it builds the store's
/// request (the store itself checks the range and the step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MetricsQueryLimits {
    /// The most exemplars, and how many when the client names no number
    /// (`query_frontend.metrics.max_exemplars`; 0: none).
    pub(crate) max_exemplars: usize,
    /// The most series (`query_frontend.metrics.max_response_series`; 0: no limit).
    pub(crate) max_series: usize,
    /// A query's end is brought back to at most this long before now
    /// (`query_frontend.query_end_cutoff`; zero: not at all).
    pub(crate) end_cutoff: Duration,
}

impl Default for MetricsQueryLimits {
    /// Tempo's limits, with this server's cap on series.
    fn default() -> MetricsQueryLimits {
        MetricsQueryLimits {
            max_exemplars: tempo_core::MAX_EXEMPLARS,
            max_series: tempo_core::query::DEFAULT_MAX_SERIES,
            end_cutoff: Duration::from_secs(30),
        }
    }
}

/// Whether the server is ready: every listener bound, and not stopping.
#[derive(Debug)]
pub(crate) struct Readiness {
    listeners: usize,
    bound: AtomicUsize,
    stopping: AtomicBool,
}

impl Readiness {
    /// Not ready until `listeners` listeners are [`bound`](Readiness::bound).
    pub(crate) fn new(listeners: usize) -> Readiness {
        Readiness {
            listeners,
            bound: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
        }
    }

    /// One more listener is bound and serving.
    pub(crate) fn bound(&self) {
        self.bound.fetch_add(1, Ordering::AcqRel);
    }

    /// Shutdown began: not ready any more.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    /// `Ok` when ready, else why not.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.stopping.load(Ordering::Acquire) {
            return Err("Application is stopping".to_owned());
        }
        let bound = self.bound.load(Ordering::Acquire);
        if bound < self.listeners {
            return Err(format!(
                "not ready: starting listeners ({bound} of {} bound)",
                self.listeners
            ));
        }
        Ok(())
    }
}

/// Runs store work on the blocking thread pool (store calls read files and can take a
/// while); its failure is an [`ApiError::Store`], with the status of its kind.
pub(crate) async fn blocking<T: Send + 'static, E: Into<tempo_core::Error> + Send + 'static>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(ApiError::store),
        Err(e) => Err(ApiError::TaskFailed(e.to_string())),
    }
}
