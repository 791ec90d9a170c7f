//! The metrics generator end to end, with a real Prometheus: a known topology sent with the
//! OpenTelemetry SDK (frontend → checkout → payments, and checkout → the `orders` database),
//! remote-written to Prometheus every second and also scraped by it from `/metrics/generator`
//! in OpenMetrics; then the queries Grafana's service graph and RED views run are asked of
//! Prometheus: edges and their rates, exact totals, the failed ratio, p90 latencies within the
//! right bucket, span metrics' rate, error rate and p90 per span name, and exemplars that lead
//! back to our traces.
//!
//! Prometheus is Debian's `prometheus` package, which `.ci/run` installs.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure is a panic"
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Server, Setup, free_port, http_call};
use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use serde_json::Value;

/// Traces per wave; every fourth has a failing payment.
const WAVE: usize = 8;

/// The `prometheus` binary on `PATH`.
fn prometheus_binary() -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("prometheus"))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "the `prometheus` binary is not installed: `.ci/run` installs it \
                 (apt-get install -y prometheus)"
            )
        })
}

/// A Prometheus process on a loopback port, killed when dropped.
struct Prometheus {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus on `port` with the remote-write receiver and exemplar storage on,
    /// scraping `/metrics/generator` of the API at `api_port` every second; scraped series
    /// are renamed `scraped_*` so that they never mix with remote-written ones.
    fn start(dir: &Path, port: u16, api_port: u16) -> Prometheus {
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: generator
    metrics_path: /metrics/generator
    static_configs:
      - targets: ['127.0.0.1:{api_port}']
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: '(.+)'
        target_label: __name__
        replacement: 'scraped_$1'
"
            ),
        )
        .unwrap();
        let log = dir.join("prometheus.log");
        let child = Command::new(prometheus_binary())
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .arg("--enable-feature=exemplar-storage")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("starting prometheus");
        let mut prometheus = Prometheus { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = prometheus.child.try_wait().unwrap() {
                panic!(
                    "prometheus exited with {status}:\n{}",
                    prometheus.log_text()
                );
            }
            let ready = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && http_call("GET", &prometheus.url("/-/ready"), &[], None).0 == 200;
            if ready {
                return prometheus;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready:\n{}",
                prometheus.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// An instant query: each series' labels and value.
    fn query(&self, query: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        let params = serde_urlencoded::to_string([("query", query)]).unwrap();
        let (status, _, body) = http_call(
            "GET",
            &self.url(&format!("/api/v1/query?{params}")),
            &[],
            None,
        );
        let json: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, 200, "{query}: {json}");
        json["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let labels = r["metric"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                    .collect();
                let value = r["value"][1].as_str().unwrap().parse().unwrap();
                (labels, value)
            })
            .collect()
    }

    /// A query grouped by the labels `by`: value by their values.
    fn by(&self, query: &str, by: &[&str]) -> BTreeMap<Vec<String>, f64> {
        self.query(query)
            .into_iter()
            .map(|(labels, v)| {
                let key = by
                    .iter()
                    .map(|b| labels.get(*b).cloned().unwrap_or_default())
                    .collect();
                (key, v)
            })
            .collect()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A service's tracer, exporting each span as it ends over OTLP/HTTP.
fn service(server: &Server, name: &str) -> (SdkTracerProvider, SdkTracer) {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(server.otlp_http())
        .build()
        .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_resource(
            Resource::builder()
                .with_service_name(name.to_owned())
                .build(),
        )
        .with_simple_exporter(exporter)
        .build();
    let tracer = provider.tracer("shop");
    (provider, tracer)
}

struct Shop {
    frontend: (SdkTracerProvider, SdkTracer),
    checkout: (SdkTracerProvider, SdkTracer),
    payments: (SdkTracerProvider, SdkTracer),
}

impl Shop {
    /// One purchase, begun a second ago: `GET /shop` (0.5 s) at the frontend, which calls
    /// `POST /checkout` (client 0.38 s, server 0.3 s), which calls payments' `charge` (client
    /// 0.15 s, server 0.12 s, failing when `fail`) and queries the `orders` database (0.05 s).
    /// Returns the trace ID in hex.
    fn purchase(&self, fail: bool) -> String {
        let base = SystemTime::now() - Duration::from_secs(1);
        let at = |ms: u64| base + Duration::from_millis(ms);
        let (fe, co, pay) = (&self.frontend.1, &self.checkout.1, &self.payments.1);
        let start =
            |tracer: &SdkTracer, name: &str, kind: SpanKind, from: u64, parent: &Context| {
                tracer
                    .span_builder(name.to_owned())
                    .with_kind(kind)
                    .with_start_time(at(from))
                    .start_with_context(tracer, parent)
            };
        // Each hop crosses a process: the child sees only its parent's span context.
        let remote = |cx: &Context| {
            Context::new().with_remote_span_context(cx.span().span_context().clone())
        };

        let root =
            Context::new().with_span(start(fe, "GET /shop", SpanKind::Server, 0, &Context::new()));
        let trace_id = root.span().span_context().trace_id().to_string();
        let fe_client = root.with_span(start(fe, "POST /checkout", SpanKind::Client, 50, &root));
        let co_server = Context::new().with_span(start(
            co,
            "POST /checkout",
            SpanKind::Server,
            60,
            &remote(&fe_client),
        ));
        let co_client = co_server.with_span(start(co, "charge", SpanKind::Client, 100, &co_server));
        let mut pay_server = start(pay, "charge", SpanKind::Server, 110, &remote(&co_client));
        if fail {
            pay_server.set_status(Status::error("card declined"));
        }
        pay_server.end_with_timestamp(at(230));
        co_client.span().end_with_timestamp(at(250));
        let mut db = co
            .span_builder("SELECT orders")
            .with_kind(SpanKind::Client)
            .with_start_time(at(260))
            .with_attributes(vec![
                KeyValue::new("db.system", "postgresql"),
                KeyValue::new("db.name", "orders"),
            ])
            .start_with_context(co, &co_server);
        db.end_with_timestamp(at(310));
        co_server.span().end_with_timestamp(at(360));
        fe_client.span().end_with_timestamp(at(430));
        root.span().end_with_timestamp(at(500));
        trace_id
    }

    fn wave(&self) -> Vec<String> {
        let ids = (0..WAVE).map(|i| self.purchase(i % 4 == 0)).collect();
        for (provider, _) in [&self.frontend, &self.checkout, &self.payments] {
            provider.force_flush().unwrap();
        }
        ids
    }
}

fn wait_for(prometheus: &Prometheus, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; prometheus log:\n{}",
            prometheus.log_text()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn key(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| (*p).to_owned()).collect()
}

fn assert_within(value: f64, low: f64, high: f64, what: &str) {
    assert!(
        value > low && value <= high,
        "{what}: {value} not in ({low}, {high}]"
    );
}

/// The four edges of the shop, as `[client, server]`.
fn edges() -> [Vec<String>; 4] {
    [
        key(&["user", "frontend"]),
        key(&["frontend", "checkout"]),
        key(&["checkout", "payments"]),
        key(&["checkout", "orders"]),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_graph_and_span_metrics_in_prometheus() {
    let binary = prometheus_binary();
    assert!(binary.exists());
    let dir = tempfile::tempdir().unwrap();
    let prometheus_port = free_port();
    let server = Server::start_with(
        dir.path(),
        Setup {
            extra: format!(
                "metrics_generator:
  registry:
    collection_interval: 1s
    external_labels:
      source: tempo
  storage:
    remote_write:
      - url: http://127.0.0.1:{prometheus_port}/api/v1/write
        send_exemplars: true
        queue_config:
          max_backoff: 500ms
overrides:
  defaults:
    metrics_generator:
      processors: [service-graphs, span-metrics]
"
            ),
            ..Setup::default()
        },
    );
    let prometheus_dir = dir.path().join("prometheus");
    std::fs::create_dir_all(&prometheus_dir).unwrap();
    let prometheus = Prometheus::start(&prometheus_dir, prometheus_port, server.api_port);

    let shop = Shop {
        frontend: service(&server, "frontend"),
        checkout: service(&server, "checkout"),
        payments: service(&server, "payments"),
    };
    let total = |n: usize| {
        let totals = prometheus.by(
            "sum by (client, server) (traces_service_graph_request_total)",
            &["client", "server"],
        );
        edges().iter().all(|e| totals.get(e) == Some(&(n as f64)))
    };

    // Two waves: the second lands within the rate window of the first.
    let mut ids = shop.wave();
    wait_for(&prometheus, "the first wave", || total(WAVE));
    std::thread::sleep(Duration::from_secs(3));
    let second = Instant::now();
    ids.extend(shop.wave());
    wait_for(&prometheus, "the second wave", || total(2 * WAVE));
    let n = (2 * WAVE) as f64;
    let failures = (2 * WAVE / 4) as f64;
    // A window holding the second wave and the whole first one before it, for ratios that
    // must come out exact: a collection may fall in the middle of a wave, and over Grafana's
    // `[1m]` the first sample in the window may then be part of a wave.
    let second_wave = format!("{}s", second.elapsed().as_secs() + 2);

    // The service graph view: every edge has a rate.
    let rates = prometheus.by(
        "sum by (client, server) (rate(traces_service_graph_request_total[1m]))",
        &["client", "server"],
    );
    for edge in edges() {
        assert!(
            rates.get(&edge).is_some_and(|r| *r > 0.0),
            "{edge:?}: {rates:?}"
        );
    }
    assert_eq!(rates.len(), 4, "{rates:?}");
    // Exact totals by connection type: the root's caller is a virtual `user`, the database a
    // node of its own.
    let totals = prometheus.by(
        "sum by (client, server, connection_type) (traces_service_graph_request_total)",
        &["client", "server", "connection_type"],
    );
    assert_eq!(
        totals,
        BTreeMap::from([
            (key(&["checkout", "orders", "database"]), n),
            (key(&["checkout", "payments", ""]), n),
            (key(&["frontend", "checkout", ""]), n),
            (key(&["user", "frontend", "virtual_node"]), n),
        ])
    );
    let failed = prometheus.by(
        "sum by (client, server) (traces_service_graph_request_failed_total)",
        &["client", "server"],
    );
    assert_eq!(failed.get(&key(&["checkout", "payments"])), Some(&failures));
    assert_eq!(failed.get(&key(&["frontend", "checkout"])), Some(&0.0));
    let failed_ratio = |range: &str| {
        prometheus.by(
            &format!(
                "sum by (client, server) (rate(traces_service_graph_request_failed_total[{range}])) \
                 / sum by (client, server) (rate(traces_service_graph_request_total[{range}]))"
            ),
            &["client", "server"],
        )
    };
    let ratio = failed_ratio("1m");
    assert_within(
        ratio[&key(&["checkout", "payments"])],
        0.0,
        0.5,
        "failed ratio",
    );
    assert_eq!(ratio[&key(&["frontend", "checkout"])], 0.0);
    let payments = failed_ratio(&second_wave)[&key(&["checkout", "payments"])];
    assert!((payments - 0.25).abs() < 1e-9, "failed ratio {payments}");
    // Server-side p90 within the bucket of the server spans' duration.
    let p90 = prometheus.by(
        "histogram_quantile(0.9, sum by (le, client, server) \
         (rate(traces_service_graph_request_server_seconds_bucket[1m])))",
        &["client", "server"],
    );
    assert_within(
        p90[&key(&["user", "frontend"])],
        0.4,
        0.8,
        "user → frontend p90",
    );
    assert_within(
        p90[&key(&["frontend", "checkout"])],
        0.2,
        0.4,
        "frontend → checkout p90",
    );
    assert_within(
        p90[&key(&["checkout", "payments"])],
        0.1,
        0.2,
        "checkout → payments p90",
    );
    assert_within(
        p90[&key(&["checkout", "orders"])],
        0.0,
        0.1,
        "checkout → orders p90",
    );
    let client_p90 = prometheus.by(
        "histogram_quantile(0.9, sum by (le, client, server) \
         (rate(traces_service_graph_request_client_seconds_bucket[1m])))",
        &["client", "server"],
    );
    assert_within(
        client_p90[&key(&["frontend", "checkout"])],
        0.2,
        0.4,
        "client p90",
    );
    // Every half found its other half.
    assert!(
        prometheus
            .query("traces_service_graph_unpaired_spans_total > 0")
            .is_empty()
    );

    // Span metrics: calls, rate, error rate and p90 per span name of server spans.
    let server_calls = prometheus.by(
        "sum by (service, span_name) (traces_spanmetrics_calls_total{span_kind=\"SPAN_KIND_SERVER\"})",
        &["service", "span_name"],
    );
    assert_eq!(
        server_calls,
        BTreeMap::from([
            (key(&["checkout", "POST /checkout"]), n),
            (key(&["frontend", "GET /shop"]), n),
            (key(&["payments", "charge"]), n),
        ])
    );
    let rate = prometheus.by(
        "sum by (span_name) (rate(traces_spanmetrics_calls_total{span_kind=\"SPAN_KIND_SERVER\"}[1m]))",
        &["span_name"],
    );
    assert_eq!(rate.len(), 3, "{rate:?}");
    assert!(rate.values().all(|r| *r > 0.0), "{rate:?}");
    let error_rate = |range: &str| {
        prometheus.by(
            &format!(
                "sum by (span_name) (rate(traces_spanmetrics_calls_total{{span_kind=\"SPAN_KIND_SERVER\", \
                 status_code=\"STATUS_CODE_ERROR\"}}[{range}])) / sum by (span_name) \
                 (rate(traces_spanmetrics_calls_total{{span_kind=\"SPAN_KIND_SERVER\"}}[{range}]))"
            ),
            &["span_name"],
        )
    };
    let errors = error_rate("1m");
    assert_eq!(errors.len(), 1, "only charge fails: {errors:?}");
    assert_within(errors[&key(&["charge"])], 0.0, 0.5, "error rate");
    let charge = error_rate(&second_wave)[&key(&["charge"])];
    assert!((charge - 0.25).abs() < 1e-9, "error rate {charge}");
    let p90 = prometheus.by(
        "histogram_quantile(0.9, sum by (le, span_name) \
         (rate(traces_spanmetrics_latency_bucket{span_kind=\"SPAN_KIND_SERVER\"}[1m])))",
        &["span_name"],
    );
    assert_within(p90[&key(&["GET /shop"])], 0.256, 0.512, "GET /shop p90");
    assert_within(
        p90[&key(&["POST /checkout"])],
        0.256,
        0.512,
        "POST /checkout p90",
    );
    assert_within(p90[&key(&["charge"])], 0.064, 0.128, "charge p90");
    // Labels: the external one on every series.
    assert!(
        prometheus
            .query("count(traces_spanmetrics_calls_total{source!=\"tempo\"})")
            .is_empty()
    );

    // Exemplars lead back to our traces, by the trace ID Tempo writes (no leading zeros), and
    // the trace is found by it.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let ours: BTreeSet<String> = ids
        .iter()
        .map(|id| id.trim_start_matches('0').to_owned())
        .collect();
    let exemplar_ids = |query: &str| -> Vec<String> {
        let params = serde_urlencoded::to_string([
            ("query", query.to_owned()),
            ("start", (now - 300).to_string()),
            ("end", (now + 60).to_string()),
        ])
        .unwrap();
        let (status, _, body) = http_call(
            "GET",
            &prometheus.url(&format!("/api/v1/query_exemplars?{params}")),
            &[],
            None,
        );
        let json: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, 200, "{json}");
        json["data"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|series| series["exemplars"].as_array().unwrap().clone())
            .map(|e| e["labels"]["traceID"].as_str().unwrap().to_owned())
            .collect()
    };
    let remote = exemplar_ids("traces_spanmetrics_latency_bucket");
    assert!(!remote.is_empty());
    assert!(remote.iter().all(|id| ours.contains(id)), "{remote:?}");
    let (status, _, _) = server.get(&format!("/api/traces/{}", remote[0]), &[]);
    assert_eq!(status, 200);
    assert!(
        exemplar_ids("traces_service_graph_request_server_seconds_bucket")
            .iter()
            .all(|id| ours.contains(id))
    );

    // The same series, scraped in OpenMetrics from /metrics/generator, with exemplars.
    wait_for(&prometheus, "the scrape", || {
        let scraped = prometheus.by(
            "sum by (client, server) (scraped_traces_service_graph_request_total)",
            &["client", "server"],
        );
        edges().iter().all(|e| scraped.get(e) == Some(&n))
    });
    let scraped = exemplar_ids("scraped_traces_spanmetrics_latency_bucket");
    assert!(!scraped.is_empty());
    assert!(scraped.iter().all(|id| ours.contains(id)), "{scraped:?}");

    for (provider, _) in [shop.frontend, shop.checkout, shop.payments] {
        provider.shutdown().unwrap();
    }
    let log = server.log_text();
    assert!(!log.contains("remote write refused"), "{log}");
}
