//! generator: what rate, errors and duration do my services show, and who calls whom?
//!
//! The metrics generator derives Prometheus series from the spans the store acknowledges, as
//! Tempo's metrics generator does, so that dashboards built on Tempo's series (Grafana's
//! service graph, RED tables) work unchanged. It sits on the ingest path after the
//! write-ahead log: it never delays nor refuses an acknowledgement. Which processors run is
//! chosen per tenant ([`Processors`], in [`crate::TenantLimits`], else
//! [`GeneratorConfig::processors`]); none does by default, as in Tempo. Each tenant has its
//! own series, at most [`GeneratorConfig::max_active_series`]; series not updated for
//! [`GeneratorConfig::stale_duration`] are dropped. Spans that ended further from now than
//! [`GeneratorConfig::ingestion_time_range_slack`] are not counted.
//!
//! - The span-metrics processor ([`SpanMetricsConfig`]) counts calls, latency (a histogram
//!   in seconds) and size per service, span name, kind and status, plus configured
//!   dimensions: `traces_spanmetrics_calls_total`, `traces_spanmetrics_latency_{bucket,sum,
//!   count}` and `traces_spanmetrics_size_total`, and `traces_target_info` when asked.
//! - The service-graphs processor ([`ServiceGraphsConfig`]) pairs client and server spans
//!   (and producers and consumers) into edges between services:
//!   `traces_service_graph_request_total`, `..._request_failed_total`, the
//!   `..._request_server_seconds` and `..._request_client_seconds` histograms,
//!   `..._unpaired_spans_total` and `..._dropped_spans_total`, with virtual nodes for
//!   databases and other peers that send no spans.
//!
//! A host reads the series with [`crate::Store::generated_series`] (each with its exemplar
//! and start time, ready for a remote writer) or in Prometheus' text format with
//! [`crate::Store::generated_metrics_text`]; [`crate::Store::generator_tenants`] lists the
//! tenants to collect.
//!
//! ```
//! use tempo_core::generator::GeneratorConfig;
//! use tempo_core::model::{KeyValue, Resource, ResourceSpans, ScopeSpans, Span};
//! use tempo_core::{Batch, Store};
//!
//! let store = Store::builder().metrics_generator(GeneratorConfig::all()).open()?;
//! let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
//! let end = now.as_nanos() as u64;
//! let service = |name: &str, span: Span| ResourceSpans {
//!     resource: Some(Resource {
//!         attributes: vec![KeyValue::string("service.name", name)],
//!         ..Default::default()
//!     }),
//!     scope_spans: vec![ScopeSpans { spans: vec![span], ..Default::default() }],
//!     ..Default::default()
//! };
//! // checkout (a client span) calls payments (a server span, its child).
//! let call = Span {
//!     trace_id: vec![7; 16],
//!     span_id: vec![1; 8],
//!     name: "POST /pay".into(),
//!     kind: 3,
//!     start_time_unix_nano: end - 40_000_000,
//!     end_time_unix_nano: end,
//!     ..Default::default()
//! };
//! let serve = Span { span_id: vec![2; 8], parent_span_id: vec![1; 8], kind: 2, ..call.clone() };
//! store.ingest("single-tenant", Batch::new(vec![service("checkout", call), service("payments", serve)]))?;
//! let text = store.generated_metrics_text("single-tenant");
//! assert!(text.contains(
//!     r#"traces_service_graph_request_total{client="checkout",server="payments"} 1"#
//! ));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod filter;
mod registry;
mod servicegraphs;
mod spanmetrics;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use crate::model::ResourceSpans;
pub use filter::{AttributeMatch, FilterPolicy, MatchType, PolicyMatch};
use registry::Registry;
pub use registry::{Exemplar, GeneratedSeries, SeriesKind};
use servicegraphs::ServiceGraphs;

/// Tempo's default latency buckets of span metrics, seconds.
pub const DEFAULT_SPAN_METRICS_BUCKETS: [f64; 14] = [
    0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192,
    16.384,
];

/// Tempo's default latency buckets of service graphs, seconds.
pub const DEFAULT_SERVICE_GRAPHS_BUCKETS: [f64; 8] = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8];

/// Which processors run for a tenant (Tempo's per-tenant `metrics_generator.processors`:
/// `span-metrics`, `service-graphs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Processors {
    /// `span-metrics`.
    pub span_metrics: bool,
    /// `service-graphs`.
    pub service_graphs: bool,
}

impl Processors {
    /// No processor.
    pub const NONE: Processors = Processors {
        span_metrics: false,
        service_graphs: false,
    };
    /// Both processors.
    pub const ALL: Processors = Processors {
        span_metrics: true,
        service_graphs: true,
    };

    /// Whether any processor is on.
    pub fn any(self) -> bool {
        self.span_metrics || self.service_graphs
    }

    /// The processors of Tempo's names (`span-metrics`, `service-graphs`); `local-blocks` and
    /// `host-info` are accepted and not run here. An unknown name is an error naming it.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<Processors, String> {
        let mut out = Processors::NONE;
        for name in names {
            match name.as_ref() {
                "span-metrics" => out.span_metrics = true,
                "service-graphs" => out.service_graphs = true,
                "local-blocks" | "host-info" => {}
                other => {
                    return Err(format!(
                        "unknown metrics generator processor {other:?} (known: span-metrics, service-graphs, local-blocks, host-info)"
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// The metrics generator's settings (Tempo's `metrics_generator` block). Nothing runs unless
/// [`GeneratorConfig::processors`] or a tenant's limits turn a processor on.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GeneratorConfig {
    /// The processors of tenants whose limits name none (Tempo's
    /// `overrides.defaults.metrics_generator.processors`); none by default.
    pub processors: Processors,
    /// The span-metrics processor's settings.
    pub span_metrics: SpanMetricsConfig,
    /// The service-graphs processor's settings.
    pub service_graphs: ServiceGraphsConfig,
    /// The most series one tenant's registry holds (0: no limit); spans that would make more
    /// are counted in no series, and counted as dropped (Tempo's `max_active_series`).
    pub max_active_series: usize,
    /// A series not updated for this long is dropped (Tempo's `registry.stale_duration`,
    /// default 15 min).
    pub stale_duration: Duration,
    /// Spans that ended longer ago than this, or will end further ahead, are not counted
    /// (Tempo's `metrics_ingestion_time_range_slack`, default 30 s; zero: every span).
    pub ingestion_time_range_slack: Duration,
}

impl Default for GeneratorConfig {
    fn default() -> GeneratorConfig {
        GeneratorConfig {
            processors: Processors::NONE,
            span_metrics: SpanMetricsConfig::default(),
            service_graphs: ServiceGraphsConfig::default(),
            max_active_series: 0,
            stale_duration: Duration::from_secs(15 * 60),
            ingestion_time_range_slack: Duration::from_secs(30),
        }
    }
}

impl GeneratorConfig {
    /// The span-metrics processor on for every tenant, with Tempo's defaults.
    pub fn span_metrics() -> GeneratorConfig {
        GeneratorConfig {
            processors: Processors {
                span_metrics: true,
                service_graphs: false,
            },
            ..GeneratorConfig::default()
        }
    }

    /// The service-graphs processor on for every tenant, with Tempo's defaults.
    pub fn service_graphs() -> GeneratorConfig {
        GeneratorConfig {
            processors: Processors {
                span_metrics: false,
                service_graphs: true,
            },
            ..GeneratorConfig::default()
        }
    }

    /// Both processors on for every tenant, with Tempo's defaults.
    pub fn all() -> GeneratorConfig {
        GeneratorConfig {
            processors: Processors::ALL,
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
    /// Which spans are counted: a span is counted when it meets every policy.
    pub filter_policies: Vec<FilterPolicy>,
    /// Whether `traces_target_info` (value 1, one series per resource's `job` and `instance`
    /// with its other resource attributes as labels) is made, and `job` and `instance` put
    /// on span metrics (Tempo's `enable_target_info`, off by default).
    pub enable_target_info: bool,
    /// Resource attributes left off `traces_target_info`.
    pub target_info_excluded_dimensions: Vec<String>,
    /// An attribute (resource first, then span) whose number multiplies each span's counts,
    /// for sampled data (Tempo's `span_multiplier_key`; empty: none).
    pub span_multiplier_key: String,
}

impl Default for SpanMetricsConfig {
    fn default() -> SpanMetricsConfig {
        SpanMetricsConfig {
            dimensions: Vec::new(),
            intrinsic_dimensions: IntrinsicDimensions::default(),
            histogram_buckets: DEFAULT_SPAN_METRICS_BUCKETS.to_vec(),
            filter_policies: Vec::new(),
            enable_target_info: false,
            target_info_excluded_dimensions: Vec::new(),
            span_multiplier_key: String::new(),
        }
    }
}

/// The service-graphs processor's settings (Tempo's `processor.service_graphs`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ServiceGraphsConfig {
    /// How long a client or server span waits for its other half (default 10 s); then it
    /// is an edge to a virtual node, or counted unpaired.
    pub wait: Duration,
    /// The most half-edges held per tenant (default 10,000); spans past it are counted in
    /// `traces_service_graph_dropped_spans_total`.
    pub max_items: usize,
    /// Upper bounds of the latency histograms' buckets, seconds.
    pub histogram_buckets: Vec<f64>,
    /// Attributes that become labels, from the resource or the span, on both sides.
    pub dimensions: Vec<String>,
    /// Each dimension as two labels, `client_X` and `server_X`.
    pub enable_client_server_prefix: bool,
    /// `traces_service_graph_request_messaging_system_seconds`: from a producer span's end to
    /// its consumer span's start.
    pub enable_messaging_system_latency_histogram: bool,
    /// The label `virtual_node` (`client`, `server` or `unset`) on every edge.
    pub enable_virtual_node_label: bool,
    /// Attributes whose value names a peer that sends no spans, in order (default
    /// `peer.service`, `db.name`, `db.system`).
    pub peer_attributes: Vec<String>,
    /// Attributes that name a database node, in order (default `db.namespace`, `db.name`,
    /// `db.system`).
    pub database_name_attributes: Vec<String>,
    /// As [`SpanMetricsConfig::span_multiplier_key`].
    pub span_multiplier_key: String,
    /// Which spans are considered.
    pub filter_policies: Vec<FilterPolicy>,
}

impl Default for ServiceGraphsConfig {
    fn default() -> ServiceGraphsConfig {
        ServiceGraphsConfig {
            wait: Duration::from_secs(10),
            max_items: 10_000,
            histogram_buckets: DEFAULT_SERVICE_GRAPHS_BUCKETS.to_vec(),
            dimensions: Vec::new(),
            enable_client_server_prefix: false,
            enable_messaging_system_latency_histogram: false,
            enable_virtual_node_label: false,
            peer_attributes: ["peer.service", "db.name", "db.system"]
                .map(String::from)
                .to_vec(),
            database_name_attributes: ["db.namespace", "db.name", "db.system"]
                .map(String::from)
                .to_vec(),
            span_multiplier_key: String::new(),
            filter_policies: Vec::new(),
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

/// One tenant's generator state: its span-metrics registry and its service-graph store.
struct Tenant {
    spans: Registry,
    graphs: ServiceGraphs,
}

impl Tenant {
    /// Series held by both processors.
    fn active_series(&self) -> usize {
        self.spans.active_series() + self.graphs.active_series()
    }
}

/// The generator of a store: a registry per tenant.
pub(crate) struct Generator {
    config: GeneratorConfig,
    tenants: RwLock<HashMap<String, Arc<Mutex<Tenant>>>>,
}

impl Generator {
    /// A generator with `config`.
    pub(crate) fn new(config: &GeneratorConfig) -> Generator {
        Generator {
            config: config.clone(),
            tenants: RwLock::new(HashMap::new()),
        }
    }

    /// The processors of tenants without their own.
    pub(crate) fn default_processors(&self) -> Processors {
        self.config.processors
    }

    fn tenant(&self, tenant: &str) -> Arc<Mutex<Tenant>> {
        if let Some(r) = self.tenants.read().get(tenant) {
            return r.clone();
        }
        self.tenants
            .write()
            .entry(tenant.to_owned())
            .or_insert_with(|| {
                Arc::new(Mutex::new(Tenant {
                    spans: Registry::new(),
                    graphs: ServiceGraphs::new(&self.config.service_graphs),
                }))
            })
            .clone()
    }

    /// Derives the series of acknowledged spans with `processors`, at `now` (unix
    /// nanoseconds).
    pub(crate) fn consume(
        &self,
        tenant: &str,
        processors: Processors,
        resource_spans: &[ResourceSpans],
        now: u64,
    ) {
        if !processors.any() {
            return;
        }
        let slack = u64::try_from(self.config.ingestion_time_range_slack.as_nanos()).unwrap_or(0);
        let window = if slack == 0 {
            (0, u64::MAX)
        } else {
            (now.saturating_sub(slack), now.saturating_add(slack))
        };
        let state = self.tenant(tenant);
        let mut state = state.lock();
        let state = &mut *state;
        let max = self.config.max_active_series;
        if processors.span_metrics {
            let room = |spans: &Registry, graphs: &ServiceGraphs| {
                max == 0 || spans.active_series() + graphs.active_series() < max
            };
            let graphs = &state.graphs;
            spanmetrics::consume(
                &self.config.span_metrics,
                &mut state.spans,
                |spans| room(spans, graphs),
                resource_spans,
                window,
                now,
            );
        }
        if processors.service_graphs {
            let held = state.spans.active_series();
            state.graphs.consume(
                &self.config.service_graphs,
                |graphs| max == 0 || held + graphs.active_series() < max,
                resource_spans,
                window,
                now,
            );
        }
    }

    /// The tenants with generator state, sorted.
    pub(crate) fn tenants(&self) -> Vec<String> {
        let mut out: Vec<String> = self.tenants.read().keys().cloned().collect();
        out.sort();
        out
    }

    /// A tenant's series, after expiring half-edges past their wait and dropping series
    /// gone stale by `now` (unix nanoseconds).
    pub(crate) fn series(&self, tenant: &str, now: u64) -> Vec<GeneratedSeries> {
        let Some(state) = self.tenants.read().get(tenant).cloned() else {
            return Vec::new();
        };
        let mut state = state.lock();
        let state = &mut *state;
        let max = self.config.max_active_series;
        let held = state.spans.active_series();
        state.graphs.expire(
            &self.config.service_graphs,
            |graphs| max == 0 || held + graphs.active_series() < max,
            now,
        );
        let stale = u64::try_from(self.config.stale_duration.as_nanos()).unwrap_or(u64::MAX);
        let before = now.saturating_sub(stale);
        state.spans.drop_stale(before);
        state.graphs.drop_stale(before);
        let mut out = state.spans.series(&self.config.span_metrics);
        out.extend(state.graphs.series(&self.config.service_graphs));
        out.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.labels.cmp(&b.labels)));
        out
    }

    /// Spans counted in no series because a tenant's registry was full, over all tenants.
    pub(crate) fn dropped_spans(&self) -> u64 {
        self.tenants
            .read()
            .values()
            .map(|r| {
                let t = r.lock();
                t.spans.dropped_spans() + t.graphs.dropped_for_series()
            })
            .sum()
    }

    /// Half-edges of service graphs waiting for their other half, over all tenants.
    pub(crate) fn pending_edges(&self) -> usize {
        self.tenants
            .read()
            .values()
            .map(|r| r.lock().graphs.pending())
            .sum()
    }

    /// Series held, over all tenants.
    pub(crate) fn active_series(&self) -> usize {
        self.tenants
            .read()
            .values()
            .map(|r| r.lock().active_series())
            .sum()
    }
}

/// A tenant's series in Prometheus' text exposition format, one family at a time.
pub(crate) fn to_text(series: &[GeneratedSeries]) -> String {
    registry::to_text(series)
}
