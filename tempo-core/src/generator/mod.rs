//! generator: what rate, errors and duration do my services show?
//!
//! The metrics generator derives Prometheus series from the spans the store acknowledges, as
//! Tempo's metrics generator does, so that dashboards built on Tempo's series work unchanged.
//! It sits on the ingest path after the write-ahead log: it never delays nor refuses an
//! acknowledgement. Each tenant has its own registry of series, bounded by
//! [`GeneratorConfig::max_active_series`]; series not updated for
//! [`GeneratorConfig::stale_duration`] are dropped.
//!
//! The span-metrics processor ([`SpanMetricsConfig`]) counts calls, latency (a histogram in
//! seconds) and size per service, span name, kind and status, plus configured dimensions:
//! `traces_spanmetrics_calls_total`, `traces_spanmetrics_latency_{bucket,sum,count}` and
//! `traces_spanmetrics_size_total`, with Tempo's label names and values. A host reads them with
//! [`crate::Store::generated_series`] or in Prometheus' text format with
//! [`crate::Store::generated_metrics_text`].

mod registry;
mod spanmetrics;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use crate::model::ResourceSpans;
use registry::Registry;
pub use registry::{GeneratedSeries, SeriesKind};

/// Tempo's default latency buckets of span metrics, seconds.
pub const DEFAULT_SPAN_METRICS_BUCKETS: [f64; 14] = [
    0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192,
    16.384,
];

/// The metrics generator's settings (Tempo's `metrics_generator` block); every processor is
/// off unless configured.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GeneratorConfig {
    /// The span-metrics processor, when on.
    pub span_metrics: Option<SpanMetricsConfig>,
    /// The most series one tenant's registry holds (0: no limit); spans that would make more
    /// are counted in no series, and counted as dropped.
    pub max_active_series: usize,
    /// A series not updated for this long is dropped (Tempo's `registry.stale_duration`,
    /// default 15 min).
    pub stale_duration: Duration,
}

impl Default for GeneratorConfig {
    fn default() -> GeneratorConfig {
        GeneratorConfig {
            span_metrics: None,
            max_active_series: 0,
            stale_duration: Duration::from_secs(15 * 60),
        }
    }
}

impl GeneratorConfig {
    /// The span-metrics processor on, with Tempo's defaults.
    pub fn span_metrics() -> GeneratorConfig {
        GeneratorConfig {
            span_metrics: Some(SpanMetricsConfig::default()),
            ..GeneratorConfig::default()
        }
    }
}

/// The span-metrics processor's settings (Tempo's `processor.span_metrics`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SpanMetricsConfig {
    /// Attributes that become labels, looked up on the resource, then on the span; the label
    /// name is the attribute's with every character but `[a-zA-Z0-9_]` made `_`.
    pub dimensions: Vec<String>,
    /// The built-in labels on.
    pub intrinsic_dimensions: IntrinsicDimensions,
    /// Upper bounds of the latency histogram's buckets, seconds.
    pub histogram_buckets: Vec<f64>,
}

impl Default for SpanMetricsConfig {
    fn default() -> SpanMetricsConfig {
        SpanMetricsConfig {
            dimensions: Vec::new(),
            intrinsic_dimensions: IntrinsicDimensions::default(),
            histogram_buckets: DEFAULT_SPAN_METRICS_BUCKETS.to_vec(),
        }
    }
}

/// Which built-in labels span metrics carry (Tempo's `intrinsic_dimensions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntrinsicDimensions {
    /// `service`: the resource's `service.name` (default on).
    pub service: bool,
    /// `span_name` (default on).
    pub span_name: bool,
    /// `span_kind`: `SPAN_KIND_SERVER` and so on (default on).
    pub span_kind: bool,
    /// `status_code`: `STATUS_CODE_ERROR` and so on (default on).
    pub status_code: bool,
    /// `status_message` (default off).
    pub status_message: bool,
}

impl Default for IntrinsicDimensions {
    fn default() -> IntrinsicDimensions {
        IntrinsicDimensions {
            service: true,
            span_name: true,
            span_kind: true,
            status_code: true,
            status_message: false,
        }
    }
}

/// The generator of a store: a registry per tenant.
pub(crate) struct Generator {
    config: GeneratorConfig,
    tenants: RwLock<HashMap<String, Arc<Mutex<Registry>>>>,
}

impl Generator {
    /// A generator with `config`; `None` when no processor is on.
    pub(crate) fn new(config: &GeneratorConfig) -> Option<Generator> {
        config.span_metrics.as_ref()?;
        Some(Generator {
            config: config.clone(),
            tenants: RwLock::new(HashMap::new()),
        })
    }

    fn registry(&self, tenant: &str) -> Arc<Mutex<Registry>> {
        if let Some(r) = self.tenants.read().get(tenant) {
            return r.clone();
        }
        self.tenants
            .write()
            .entry(tenant.to_owned())
            .or_insert_with(|| Arc::new(Mutex::new(Registry::new(self.config.max_active_series))))
            .clone()
    }

    /// Derives the series of acknowledged spans, at `now` (unix nanoseconds).
    pub(crate) fn consume(&self, tenant: &str, resource_spans: &[ResourceSpans], now: u64) {
        let Some(config) = &self.config.span_metrics else {
            return;
        };
        let registry = self.registry(tenant);
        let mut registry = registry.lock();
        spanmetrics::consume(config, &mut registry, resource_spans, now);
    }

    /// A tenant's series, after dropping those gone stale by `now` (unix nanoseconds).
    pub(crate) fn series(&self, tenant: &str, now: u64) -> Vec<GeneratedSeries> {
        let Some(registry) = self.tenants.read().get(tenant).cloned() else {
            return Vec::new();
        };
        let mut registry = registry.lock();
        let stale = u64::try_from(self.config.stale_duration.as_nanos()).unwrap_or(u64::MAX);
        registry.drop_stale(now.saturating_sub(stale));
        registry.series(self.config.span_metrics.as_ref())
    }

    /// Spans counted in no series because a tenant's registry was full, over all tenants.
    pub(crate) fn dropped_spans(&self) -> u64 {
        self.tenants
            .read()
            .values()
            .map(|r| r.lock().dropped_spans())
            .sum()
    }
}

/// A tenant's series in Prometheus' text exposition format, one family at a time.
pub(crate) fn to_text(series: &[GeneratedSeries]) -> String {
    registry::to_text(series)
}
