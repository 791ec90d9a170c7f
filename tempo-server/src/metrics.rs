//! metrics: what is the server doing?
//!
//! The server's own counters and latency histograms, rendered in Prometheus' text format at
//! `/metrics`. Names follow Tempo's where Tempo has the same measurement.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::MatchedPath;
use parking_lot::{Mutex, RwLock};
use tempo_core::Store;
use tempo_otlp::{IngestEvent, IngestObserver};

use crate::generator::remote_write::EndpointStats;
use crate::listen::{CloseReason, ListenerStats};

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Default, Clone)]
struct TenantCounters {
    spans_received: u64,
    bytes_received: u64,
    spans_rejected: u64,
    requests_failed: u64,
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// A per-tenant counter: name, help text, and how to read it.
type CounterFamily = (&'static str, &'static str, fn(&TenantCounters) -> u64);

/// The server's metrics.
#[derive(Default)]
pub(crate) struct Metrics {
    tenants: RwLock<HashMap<String, Mutex<TenantCounters>>>,
    /// Per (transport, failure message class): failed OTLP requests without a tenant.
    untenanted_failures: Mutex<BTreeMap<&'static str, u64>>,
    requests: Mutex<BTreeMap<(String, String, String), Histogram>>,
    /// Connection counters of each listener.
    listeners: RwLock<Vec<Arc<ListenerStats>>>,
    /// Counters of each remote-write endpoint of the metrics generator.
    remote_write: RwLock<Vec<Arc<EndpointStats>>>,
}

impl Metrics {
    /// Records one HTTP or gRPC request.
    pub(crate) fn observe_request(
        &self,
        route: &str,
        method: &str,
        status: String,
        elapsed: Duration,
    ) {
        self.requests
            .lock()
            .entry((route.to_owned(), method.to_owned(), status))
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    /// Adds a listener's connection counters to the rendered metrics.
    pub(crate) fn register_listener(&self, stats: Arc<ListenerStats>) {
        self.listeners.write().push(stats);
    }

    /// Adds a remote-write endpoint's counters to the rendered metrics.
    pub(crate) fn register_remote_write(&self, stats: Arc<EndpointStats>) {
        self.remote_write.write().push(stats);
    }

    fn with_tenant(&self, tenant: &str, f: impl FnOnce(&mut TenantCounters)) {
        if let Some(c) = self.tenants.read().get(tenant) {
            f(&mut c.lock());
            return;
        }
        let mut map = self.tenants.write();
        let c = map.entry(tenant.to_owned()).or_default();
        f(&mut c.lock());
    }

    /// The Prometheus text exposition of every metric.
    pub(crate) fn render(&self, store: &Store) -> String {
        let mut out = String::with_capacity(4096);
        let tenants: BTreeMap<String, TenantCounters> = self
            .tenants
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.lock().clone()))
            .collect();
        let families: [CounterFamily; 4] = [
            (
                "tempo_distributor_spans_received_total",
                "Spans received and stored, per tenant.",
                |c| c.spans_received,
            ),
            (
                "tempo_distributor_bytes_received_total",
                "Bytes of request bodies received (OTLP, Jaeger, Zipkin), per tenant.",
                |c| c.bytes_received,
            ),
            (
                "tempo_discarded_spans_total",
                "Spans rejected by validation, per tenant.",
                |c| c.spans_rejected,
            ),
            (
                "tempo_distributor_requests_failed_total",
                "Requests (OTLP, Jaeger, Zipkin) that failed as a whole, per tenant.",
                |c| c.requests_failed,
            ),
        ];
        for (name, help, get) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (tenant, c) in &tenants {
                let _ = writeln!(out, "{name}{{tenant=\"{}\"}} {}", escape(tenant), get(c));
            }
        }
        let name = "tempo_distributor_requests_rejected_total";
        let _ = writeln!(
            out,
            "# HELP {name} Requests rejected before a tenant was known, per transport.\n# TYPE {name} counter"
        );
        for (transport, n) in self.untenanted_failures.lock().iter() {
            let _ = writeln!(out, "{name}{{transport=\"{transport}\"}} {n}");
        }

        let stats = store.stats();
        let gauges = [
            (
                "tempo_wal_appends_total",
                "counter",
                "Records appended to the write-ahead log.",
                stats.wal_appends,
            ),
            (
                "tempo_wal_syncs_total",
                "counter",
                "Syncs of the write-ahead log (group commit shares them).",
                stats.wal_syncs,
            ),
            (
                "tempo_wal_bytes_total",
                "counter",
                "Bytes appended to the write-ahead log.",
                stats.wal_bytes,
            ),
            (
                "tempo_wal_groups_total",
                "counter",
                "Groups of records written with one write.",
                stats.wal_groups,
            ),
            (
                "tempo_head_traces",
                "gauge",
                "Live traces in the head.",
                stats.head_traces,
            ),
            (
                "tempo_head_spans",
                "gauge",
                "Spans held in the head, live and waiting for their block.",
                stats.head_spans,
            ),
            (
                "tempo_blocks",
                "gauge",
                "Blocks now readable, all tenants.",
                stats.blocks,
            ),
            (
                "tempo_block_bytes",
                "gauge",
                "Bytes of the readable blocks (data, index and bloom filters).",
                stats.block_bytes,
            ),
            (
                "tempo_blocks_flushed_total",
                "counter",
                "Blocks written from the head.",
                stats.blocks_flushed,
            ),
            (
                "tempo_block_errors_total",
                "counter",
                "Times a block could not be read (at startup or by a query); it was skipped and logged.",
                stats.block_errors,
            ),
            (
                "tempo_blocks_expired_total",
                "counter",
                "Blocks deleted by retention.",
                stats.blocks_expired,
            ),
            (
                "tempo_compactions_total",
                "counter",
                "Compactions completed (blocks merged into one).",
                stats.compactions,
            ),
            (
                "tempo_spans_refused_trace_too_large_total",
                "counter",
                "Spans refused at ingest because their trace would exceed max_bytes_per_trace.",
                stats.spans_refused_trace_too_large,
            ),
            (
                "tempo_distributor_attributes_truncated_total",
                "counter",
                "Attribute keys and string values truncated at ingest to max_attribute_bytes, as Tempo's distributor counts them.",
                stats.attributes_truncated,
            ),
            (
                "tempo_batches_refused_overloaded_total",
                "counter",
                "Batches refused (503 / UNAVAILABLE, retried by clients) because a tenant's head held its limit while blocks were cut.",
                stats.batches_refused_overloaded,
            ),
            (
                "tempo_blocks_set_aside",
                "gauge",
                "Corrupt blocks set aside: marked, no longer read nor compacted, kept for inspection.",
                stats.blocks_set_aside,
            ),
            (
                "tempo_blocks_bloom_damaged",
                "gauge",
                "Readable blocks with an unreadable bloom filter shard (lookups read their index instead).",
                stats.blocks_bloom_damaged,
            ),
            (
                "tempo_queries_expired_total",
                "counter",
                "Searches stopped by their deadline and answered with what they found.",
                stats.queries_expired,
            ),
            (
                "tempo_queries_cancelled_total",
                "counter",
                "Searches cancelled because their client went away.",
                stats.queries_cancelled,
            ),
            (
                "tempo_queries_over_budget_total",
                "counter",
                "Searches stopped by max_query_bytes.",
                stats.queries_over_budget,
            ),
            (
                "tempo_metrics_generator_registry_active_series",
                "gauge",
                "Series the metrics generator holds, all tenants.",
                stats.generator_active_series,
            ),
            (
                "tempo_metrics_generator_spans_dropped_total",
                "counter",
                "Spans the metrics generator counted in no series because a tenant's registry held max_active_series.",
                stats.generator_dropped_spans,
            ),
            (
                "tempo_metrics_generator_service_graph_pending_edges",
                "gauge",
                "Client and server spans waiting for their other half, all tenants.",
                stats.generator_pending_edges,
            ),
        ];
        for (name, kind, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }

        crate::peers::render_metrics(&mut out);
        self.render_connections(&mut out);
        self.render_remote_write(&mut out);
        if let Some(backend) = store.backend_stats() {
            render_backend(&backend, &mut out);
        }

        let name = "tempo_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time to serve a request, per route, method and status.\n# TYPE {name} histogram"
        );
        for ((route, method, status), h) in self.requests.lock().iter() {
            let labels = format!(
                "route=\"{}\",method=\"{}\",status_code=\"{status}\"",
                escape(route),
                escape(method)
            );
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "{name}_bucket{{{labels},le=\"{bound}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum);
            let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
        }
        out
    }
}

/// What the store asks of its block backend: requests, failures and time per operation,
/// bytes, health, and its block cache.
fn render_backend(stats: &tempo_core::backend::BackendStats, out: &mut String) {
    use tempo_core::backend::Operation;
    type Family = (
        &'static str,
        &'static str,
        &'static str,
        fn(&tempo_core::backend::OperationStats) -> String,
    );
    let families: [Family; 3] = [
        (
            "tempo_backend_requests_total",
            "counter",
            "Requests to the block backend, per operation.",
            |o| o.requests.to_string(),
        ),
        (
            "tempo_backend_request_errors_total",
            "counter",
            "Requests to the block backend that failed (after their retries), per operation.",
            |o| o.errors.to_string(),
        ),
        (
            "tempo_backend_request_seconds_total",
            "counter",
            "Time spent in requests to the block backend, per operation.",
            |o| format!("{}", o.nanos as f64 / 1e9),
        ),
    ];
    for (name, kind, help, get) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for operation in Operation::ALL {
            let _ = writeln!(
                out,
                "{name}{{operation=\"{}\"}} {}",
                operation.as_str(),
                get(&stats.of(operation))
            );
        }
    }
    let values = [
        (
            "tempo_backend_read_bytes_total",
            "counter",
            "Bytes read from the block backend.",
            stats.bytes_read,
        ),
        (
            "tempo_backend_written_bytes_total",
            "counter",
            "Bytes written to the block backend.",
            stats.bytes_written,
        ),
        (
            "tempo_backend_healthy",
            "gauge",
            "1 when the block backend answered its last request, 0 when that request failed.",
            u64::from(stats.healthy),
        ),
        (
            "tempo_block_cache_hits_total",
            "counter",
            "Bloom filter shards and row group footers found in the block cache.",
            stats.cache_hits,
        ),
        (
            "tempo_block_cache_misses_total",
            "counter",
            "Bloom filter shards and row group footers read from the block backend.",
            stats.cache_misses,
        ),
        (
            "tempo_block_cache_bytes",
            "gauge",
            "Bytes held by the block cache.",
            stats.cache_bytes,
        ),
    ];
    for (name, kind, help, value) in values {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
}

impl Metrics {
    /// Per listener: dskit's `tcp_connections` and `tcp_connections_limit` gauges, and our
    /// counters of what the limits and timeouts did.
    fn render_connections(&self, out: &mut String) {
        let listeners: Vec<_> = self.listeners.read().iter().map(|l| l.snapshot()).collect();
        type Family = (
            &'static str,
            &'static str,
            &'static str,
            fn(&crate::listen::StatsSnapshot) -> u64,
        );
        let families: [Family; 6] = [
            (
                "tempo_tcp_connections",
                "gauge",
                "Current number of accepted TCP connections.",
                |s| s.open,
            ),
            (
                "tempo_tcp_connections_limit",
                "gauge",
                "The max number of TCP connections that can be accepted.",
                |s| s.limit,
            ),
            (
                "tempo_tcp_connections_evicted_total",
                "counter",
                "Idle connections closed to admit a new one at the connection limit.",
                |s| s.evicted,
            ),
            (
                "tempo_tcp_connections_refused_total",
                "counter",
                "Connections refused at the connection limit, every open one being busy.",
                |s| s.refused,
            ),
            (
                "tempo_tcp_accept_errors_total",
                "counter",
                "Accepts that failed (such as for want of file descriptors) and were retried.",
                |s| s.accept_errors,
            ),
            (
                "tempo_request_read_timeouts_total",
                "counter",
                "Requests whose body did not arrive within the read timeout (408, or DEADLINE_EXCEEDED in gRPC).",
                |s| s.read_timeouts,
            ),
        ];
        for (name, kind, help, get) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for s in &listeners {
                let _ = writeln!(out, "{name}{{protocol=\"{}\"}} {}", s.label, get(s));
            }
        }
        let name = "tempo_tcp_connections_closed_total";
        let _ = writeln!(
            out,
            "# HELP {name} Connections closed by a timeout or their maximum age, per reason.\n# TYPE {name} counter"
        );
        for s in &listeners {
            for reason in CloseReason::ALL {
                let _ = writeln!(
                    out,
                    "{name}{{protocol=\"{}\",reason=\"{}\"}} {}",
                    s.label,
                    reason.label(),
                    s.closed[reason.index()]
                );
            }
        }
    }
}

impl Metrics {
    /// Per remote-write endpoint: Prometheus' own `prometheus_remote_storage_*` counters,
    /// labelled as Prometheus labels them (`remote_name`, `url`).
    fn render_remote_write(&self, out: &mut String) {
        let endpoints = self.remote_write.read();
        if endpoints.is_empty() {
            return;
        }
        type Family = (
            &'static str,
            &'static str,
            &'static str,
            fn(&EndpointStats) -> &std::sync::atomic::AtomicU64,
        );
        let families: [Family; 7] = [
            (
                "prometheus_remote_storage_samples_total",
                "counter",
                "Generated samples the remote-write endpoint took.",
                |s| &s.samples_sent,
            ),
            (
                "prometheus_remote_storage_exemplars_total",
                "counter",
                "Exemplars the remote-write endpoint took.",
                |s| &s.exemplars_sent,
            ),
            (
                "prometheus_remote_storage_samples_failed_total",
                "counter",
                "Samples of requests the endpoint refused for good (4xx other than 429); not retried.",
                |s| &s.samples_failed,
            ),
            (
                "prometheus_remote_storage_samples_retried_total",
                "counter",
                "Samples sent again after a network error, a 5xx or a 429.",
                |s| &s.samples_retried,
            ),
            (
                "prometheus_remote_storage_samples_dropped_total",
                "counter",
                "Samples dropped unsent: the queue was full, or shutdown's flush deadline passed.",
                |s| &s.samples_dropped,
            ),
            (
                "prometheus_remote_storage_samples_pending",
                "gauge",
                "Samples queued or in flight.",
                |s| &s.samples_pending,
            ),
            (
                "prometheus_remote_storage_requests_total",
                "counter",
                "Requests the remote-write endpoint took.",
                |s| &s.requests_sent,
            ),
        ];
        for (name, kind, help, get) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for s in endpoints.iter() {
                let _ = writeln!(
                    out,
                    "{name}{{remote_name=\"{}\",url=\"{}\"}} {}",
                    escape(&s.name),
                    escape(&s.url),
                    get(s).load(std::sync::atomic::Ordering::Relaxed)
                );
            }
        }
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl IngestObserver for Metrics {
    fn observe(&self, event: &IngestEvent<'_>) {
        match event.tenant {
            Some(tenant) => self.with_tenant(tenant, |c| {
                c.spans_received += event.accepted_spans as u64;
                c.bytes_received += event.bytes as u64;
                c.spans_rejected += event.rejected_spans as u64;
                if event.error.is_some() {
                    c.requests_failed += 1;
                }
            }),
            None => {
                *self
                    .untenanted_failures
                    .lock()
                    .entry(event.transport.label())
                    .or_default() += 1;
            }
        }
    }
}

/// A tower layer timing every request into [`Metrics`].
#[derive(Clone)]
pub(crate) struct LatencyLayer {
    pub(crate) metrics: Arc<Metrics>,
    /// Label for requests that matched no known route.
    pub(crate) known_paths: &'static [&'static str],
}

impl<S> tower::Layer<S> for LatencyLayer {
    type Service = Latency<S>;

    fn layer(&self, inner: S) -> Latency<S> {
        Latency {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`LatencyLayer`].
#[derive(Clone)]
pub(crate) struct Latency<S> {
    inner: S,
    layer: LatencyLayer,
}

impl<S, B, R> tower::Service<http::Request<B>> for Latency<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let route = match req.extensions().get::<MatchedPath>() {
            Some(p) => p.as_str().to_owned(),
            None => {
                let path = req.uri().path();
                if self.layer.known_paths.contains(&path) {
                    path.to_owned()
                } else {
                    "other".to_owned()
                }
            }
        };
        let method = req.method().as_str().to_owned();
        let metrics = self.layer.metrics.clone();
        let started = Instant::now();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let result = fut.await;
            if let Ok(response) = &result {
                // gRPC errors travel in a header of a 200 response: label them `grpc_<code>`.
                let status = match response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                {
                    Some(code) if code != "0" => format!("grpc_{code}"),
                    _ => response.status().as_u16().to_string(),
                };
                metrics.observe_request(&route, &method, status, started.elapsed());
            }
            result
        })
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    /// The value of an unlabelled metric, and checks that its HELP and TYPE lines come first.
    fn value(text: &str, name: &str, kind: &str) -> u64 {
        let lines: Vec<&str> = text.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.starts_with(&format!("# HELP {name} ")))
            .unwrap_or_else(|| panic!("no HELP for {name}:\n{text}"));
        assert_eq!(lines[at + 1], format!("# TYPE {name} {kind}"));
        let (sample, v) = lines[at + 2].split_once(' ').unwrap();
        assert_eq!(sample, name);
        v.parse().unwrap()
    }

    fn block_metrics(text: &str) -> [u64; 7] {
        [
            value(text, "tempo_blocks", "gauge"),
            value(text, "tempo_block_bytes", "gauge"),
            value(text, "tempo_blocks_flushed_total", "counter"),
            value(text, "tempo_block_errors_total", "counter"),
            value(text, "tempo_blocks_expired_total", "counter"),
            value(text, "tempo_compactions_total", "counter"),
            value(text, "tempo_spans_refused_trace_too_large_total", "counter"),
        ]
    }

    #[test]
    fn block_metrics_are_rendered() {
        let metrics = Metrics::default();
        let store = Store::in_memory();
        assert_eq!(block_metrics(&metrics.render(&store)), [0; 7]);

        let store = Store::builder()
            .blocks(Arc::new(tempo_core::backend::MemoryBackend::new()))
            .open()
            .unwrap();
        let span = tempo_core::model::Span {
            trace_id: vec![3; 16],
            span_id: vec![4; 8],
            name: "GET /".into(),
            start_time_unix_nano: 1,
            end_time_unix_nano: 2,
            ..Default::default()
        };
        let batch = tempo_core::Batch::new(vec![tempo_core::model::ResourceSpans {
            scope_spans: vec![tempo_core::model::ScopeSpans {
                spans: vec![span],
                ..Default::default()
            }],
            ..Default::default()
        }]);
        store.ingest("single-tenant", batch).unwrap();
        let written = store.flush_blocks().unwrap();
        assert_eq!(written.len(), 1);
        let [blocks, bytes, flushed, errors, ..] = block_metrics(&metrics.render(&store));
        assert_eq!((blocks, flushed, errors), (1, 1, 0));
        assert_eq!(bytes, written[0].total_bytes());
        assert!(bytes > 0);
        store.close().unwrap();
    }
}
