//! The metrics generator's remote write against a receiver that is down, then failing, then
//! up: ingestion is never slowed nor refused, the series arrive once it is up (zeros first,
//! in order), a refused request is dropped without stopping the rest, and the last series are
//! flushed at shutdown. The receiver, built here, decodes what it is sent, so the wire format
//! is checked as well: headers, snappy-compressed protobuf, sorted labels, external and tenant
//! labels, exemplars sent once.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::{Server, Setup, free_port, http_call};
use parking_lot::Mutex;
use prost::Message;
use tempo_core::model::{KeyValue, Resource, ResourceSpans, ScopeSpans, Span, Status, TracesData};

/// Prometheus' remote-write messages, as a receiver decodes them (field numbers of
/// Prometheus' `prompb`).
mod prompb {
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct WriteRequest {
        #[prost(message, repeated, tag = "1")]
        pub(crate) timeseries: Vec<TimeSeries>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct TimeSeries {
        #[prost(message, repeated, tag = "1")]
        pub(crate) labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        pub(crate) samples: Vec<Sample>,
        #[prost(message, repeated, tag = "3")]
        pub(crate) exemplars: Vec<Exemplar>,
    }
    #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Message)]
    pub(crate) struct Label {
        #[prost(string, tag = "1")]
        pub(crate) name: String,
        #[prost(string, tag = "2")]
        pub(crate) value: String,
    }
    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub(crate) struct Sample {
        #[prost(double, tag = "1")]
        pub(crate) value: f64,
        #[prost(int64, tag = "2")]
        pub(crate) timestamp: i64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Exemplar {
        #[prost(message, repeated, tag = "1")]
        pub(crate) labels: Vec<Label>,
        #[prost(double, tag = "2")]
        pub(crate) value: f64,
        #[prost(int64, tag = "3")]
        pub(crate) timestamp: i64,
    }
}

/// How the receiver answers.
const UP: u8 = 0;
const FAILING: u8 = 1;
const REFUSE_ONCE: u8 = 2;

/// One request the receiver took (answered 200).
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    request: prompb::WriteRequest,
}

#[derive(Clone, Default)]
struct Receiver {
    mode: Arc<AtomicU8>,
    taken: Arc<Mutex<Vec<Received>>>,
    failed: Arc<Mutex<u64>>,
    refused: Arc<Mutex<u64>>,
}

async fn write(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    match r.mode.load(Ordering::SeqCst) {
        FAILING => {
            *r.failed.lock() += 1;
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        REFUSE_ONCE => {
            *r.refused.lock() += 1;
            r.mode.store(UP, Ordering::SeqCst);
            return StatusCode::BAD_REQUEST;
        }
        _ => {}
    }
    let Ok(raw) = snap::raw::Decoder::new().decompress_vec(&body) else {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE;
    };
    let Ok(request) = prompb::WriteRequest::decode(raw.as_slice()) else {
        return StatusCode::UNPROCESSABLE_ENTITY;
    };
    r.taken.lock().push(Received { headers, request });
    StatusCode::NO_CONTENT
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// One trace: a frontend server span calling checkout, whose server span fails; stamped now.
fn trace(i: u64) -> (TracesData, [u8; 16]) {
    let trace_id = common::spans::trace_id(77, i);
    let end = now_nanos();
    let span = |service: &str, id: u8, parent: Option<u8>, kind: i32, seconds: f64, error: bool| {
        ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue::string("service.name", service)],
                dropped_attributes_count: 0,
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: trace_id.to_vec(),
                    span_id: vec![id; 8],
                    parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
                    name: format!("{service} op"),
                    kind,
                    start_time_unix_nano: end - (seconds * 1e9) as u64,
                    end_time_unix_nano: end,
                    status: Some(Status {
                        message: String::new(),
                        code: if error { 2 } else { 0 },
                    }),
                    ..Span::default()
                }],
                ..ScopeSpans::default()
            }],
            schema_url: String::new(),
        }
    };
    let data = TracesData {
        resource_spans: vec![
            span("frontend", 1, None, 2, 0.3, false),
            span("frontend", 2, Some(1), 3, 0.25, false),
            span("checkout", 3, Some(2), 2, 0.2, true),
        ],
    };
    (data, trace_id)
}

/// Sends `n` traces from `first` as tenant `team-a`; every request must be answered at once.
fn ingest(server: &Server, first: u64, n: u64) -> Vec<[u8; 16]> {
    let mut ids = Vec::new();
    for i in first..first + n {
        let (data, id) = trace(i);
        let started = Instant::now();
        let (status, _, body) = http_call(
            "POST",
            &server.otlp_http(),
            &[
                ("content-type", "application/x-protobuf"),
                ("x-scope-orgid", "team-a"),
            ],
            Some(&data.encode_to_vec()),
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "ingest took {:?} while the receiver was away",
            started.elapsed()
        );
        ids.push(id);
    }
    ids
}

fn label<'a>(series: &'a prompb::TimeSeries, name: &str) -> Option<&'a str> {
    series
        .labels
        .iter()
        .find(|l| l.name == name)
        .map(|l| l.value.as_str())
}

/// The samples of every series, in arrival order, keyed by labels.
fn samples(taken: &[Received]) -> BTreeMap<Vec<prompb::Label>, Vec<prompb::Sample>> {
    let mut out: BTreeMap<_, Vec<prompb::Sample>> = BTreeMap::new();
    for r in taken {
        for s in &r.request.timeseries {
            out.entry(s.labels.clone())
                .or_default()
                .extend(s.samples.iter().copied());
        }
    }
    out
}

/// The latest value of `traces_spanmetrics_calls_total` for the frontend's server spans.
fn frontend_calls(taken: &[Received]) -> f64 {
    samples(taken)
        .iter()
        .filter(|(labels, _)| {
            let get = |n: &str| {
                labels
                    .iter()
                    .find(|l| l.name == n)
                    .map(|l| l.value.as_str())
            };
            get("__name__") == Some("traces_spanmetrics_calls_total")
                && get("service") == Some("frontend")
                && get("span_kind") == Some("SPAN_KIND_SERVER")
        })
        .filter_map(|(_, s)| s.last().map(|s| s.value))
        .sum()
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn remote_write_survives_a_receiver_outage() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = Server::start_with(
        dir.path(),
        Setup {
            extra: format!(
                "multitenancy_enabled: true
metrics_generator:
  registry:
    collection_interval: 1s
    external_labels:
      cluster: test
    inject_tenant_id_as: org
  storage:
    remote_write:
      - url: http://127.0.0.1:{port}/api/v1/write
        name: receiver
        send_exemplars: true
        remote_timeout: 2s
        headers:
          X-Extra: yes-please
        queue_config:
          min_backoff: 20ms
          max_backoff: 200ms
overrides:
  defaults:
    metrics_generator:
      processors: [span-metrics, service-graphs]
"
            ),
            ..Setup::default()
        },
    );

    // Down: nothing listens. Ingestion goes on, answered at once, and spans are found.
    let mut ids = ingest(&server, 0, 5);
    std::thread::sleep(Duration::from_millis(1500));
    ids.extend(ingest(&server, 5, 5));
    wait_for("retries while down", Duration::from_secs(10), || {
        metric_of(&server, "prometheus_remote_storage_samples_retried_total") > 0
    });
    assert_eq!(
        metric_of(&server, "prometheus_remote_storage_samples_total"),
        0
    );
    let (status, _, _) = server.get(
        &format!("/api/traces/{}", hex::encode(ids[0])),
        &[("x-scope-orgid", "team-a")],
    );
    assert_eq!(status, 200);

    // Failing: 503 for a while.
    let receiver = Receiver::default();
    receiver.mode.store(FAILING, Ordering::SeqCst);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let app = axum::Router::new()
        .route("/api/v1/write", axum::routing::post(write))
        .with_state(receiver.clone());
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(addr))
        .unwrap();
    runtime.spawn(async move { axum::serve(listener, app).await });
    wait_for("503s", Duration::from_secs(10), || {
        *receiver.failed.lock() >= 3
    });
    ids.extend(ingest(&server, 10, 5));

    // Up: everything arrives.
    receiver.mode.store(UP, Ordering::SeqCst);
    wait_for("the series", Duration::from_secs(20), || {
        frontend_calls(&receiver.taken.lock()) >= 15.0
    });
    assert_eq!(frontend_calls(&receiver.taken.lock()), 15.0);

    // A refused request is dropped, counted, and the rest goes on.
    receiver.mode.store(REFUSE_ONCE, Ordering::SeqCst);
    wait_for("a refusal", Duration::from_secs(10), || {
        *receiver.refused.lock() == 1
    });
    ids.extend(ingest(&server, 15, 5));
    wait_for(
        "the series after a refusal",
        Duration::from_secs(20),
        || frontend_calls(&receiver.taken.lock()) >= 20.0,
    );
    wait_for("the failed counter", Duration::from_secs(5), || {
        metric_of(&server, "prometheus_remote_storage_samples_failed_total") > 0
    });
    assert!(metric_of(&server, "prometheus_remote_storage_samples_total") > 0);
    assert!(metric_of(&server, "prometheus_remote_storage_exemplars_total") > 0);
    assert_eq!(
        metric_of(&server, "prometheus_remote_storage_samples_dropped_total"),
        0
    );
    assert!(metric_of(&server, "tempo_metrics_generator_registry_active_series") > 0);

    let taken = receiver.taken.lock().clone();
    // Headers.
    for r in &taken {
        let h = |n: &str| r.headers.get(n).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(h("content-encoding").as_deref(), Some("snappy"));
        assert_eq!(h("content-type").as_deref(), Some("application/x-protobuf"));
        assert_eq!(
            h("x-prometheus-remote-write-version").as_deref(),
            Some("0.1.0")
        );
        assert!(h("user-agent").unwrap().starts_with("tempo-server/"));
        assert_eq!(h("x-extra").as_deref(), Some("yes-please"));
        assert_eq!(h("x-scope-orgid").as_deref(), Some("team-a"));
    }
    // Labels: sorted, unique, named, with the external and tenant labels, no empty value.
    let mut names = BTreeSet::new();
    for r in &taken {
        for s in &r.request.timeseries {
            let keys: Vec<&str> = s.labels.iter().map(|l| l.name.as_str()).collect();
            let mut sorted = keys.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(keys, sorted, "labels sorted and unique");
            assert!(s.labels.iter().all(|l| !l.value.is_empty()));
            assert_eq!(label(s, "cluster"), Some("test"));
            assert_eq!(label(s, "org"), Some("team-a"));
            names.insert(label(s, "__name__").unwrap().to_owned());
        }
    }
    for name in [
        "traces_spanmetrics_calls_total",
        "traces_spanmetrics_latency_bucket",
        "traces_spanmetrics_latency_sum",
        "traces_service_graph_request_total",
        "traces_service_graph_request_failed_total",
        "traces_service_graph_request_server_seconds_bucket",
    ] {
        assert!(names.contains(name), "{name} not sent: {names:?}");
    }
    // Each cumulative series starts at 0, stamped at the end of the minute before its first
    // value, and its samples go forward in time.
    let by_series = samples(&taken);
    let mut zeros = 0;
    for (labels, samples) in &by_series {
        let name = &labels.iter().find(|l| l.name == "__name__").unwrap().value;
        assert!(
            samples.windows(2).all(|w| w[0].timestamp < w[1].timestamp),
            "{name}: {samples:?}"
        );
        if name.ends_with("_total") || name.ends_with("_bucket") || name.ends_with("_count") {
            let first = samples[0];
            let next = samples[1];
            assert_eq!(first.value, 0.0, "{name}: {samples:?}");
            assert_eq!(
                first.timestamp,
                next.timestamp - next.timestamp.rem_euclid(60_000) - 1000,
                "{name}"
            );
            zeros += 1;
        }
        if name.ends_with("_sum") {
            assert!(samples[0].value > 0.0, "{name}: no zero before a sum");
        }
    }
    assert!(zeros > 10);
    // Exemplars: on buckets, with a trace ID we sent (hex without leading zeros), each once.
    let sent: BTreeSet<String> = ids
        .iter()
        .map(|id| hex::encode(id).trim_start_matches('0').to_owned())
        .collect();
    let mut seen = BTreeSet::new();
    for r in &taken {
        for s in &r.request.timeseries {
            for e in &s.exemplars {
                assert!(label(s, "__name__").unwrap().ends_with("_bucket"));
                assert_eq!(e.labels.len(), 1);
                assert_eq!(e.labels[0].name, "traceID");
                assert!(sent.contains(&e.labels[0].value), "{e:?}");
                assert!(
                    seen.insert((s.labels.clone(), e.timestamp)),
                    "exemplar sent twice: {e:?}"
                );
            }
        }
    }
    assert!(!seen.is_empty());

    // The same series for a scraper, labelled alike; one tenant at a time.
    let (status, content_type, body) =
        server.get("/metrics/generator", &[("x-scope-orgid", "team-a")]);
    let text = String::from_utf8(body).unwrap();
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert!(
        text.contains("# TYPE traces_spanmetrics_calls_total counter\n"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("traces_spanmetrics_calls_total{")
                && l.contains("cluster=\"test\",org=\"team-a\",service=\"frontend\"")),
        "{text}"
    );
    let (status, content_type, body) = server.get(
        "/metrics/generator",
        &[
            ("x-scope-orgid", "team-a"),
            (
                "accept",
                "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
            ),
        ],
    );
    let text = String::from_utf8(body).unwrap();
    assert_eq!(status, 200);
    assert!(content_type.starts_with("application/openmetrics-text; version=1.0.0"));
    assert!(text.contains(" # {traceID=\""), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");
    let (status, _, body) = server.get("/metrics/generator", &[("x-scope-orgid", "team-b")]);
    assert_eq!((status, body.as_slice()), (200, &b""[..]));
    let (status, _, body) = server.get("/metrics/generator", &[("x-scope-orgid", "team-a|team-b")]);
    assert_eq!(status, 400);
    assert_eq!(
        String::from_utf8(body).unwrap().trim(),
        "the generated series are read one tenant at a time"
    );
    let (status, _, _) = server.get("/metrics/generator", &[]);
    assert_eq!(status, 401);

    // Shutdown sends the last series.
    let before = receiver.taken.lock().len();
    let status = server.terminate();
    assert!(status.success());
    assert!(
        receiver.taken.lock().len() > before,
        "nothing flushed at shutdown"
    );
    let log = server.log_text();
    assert!(!log.contains("panicked"), "{log}");
    assert!(log.contains("remote write recovered"), "{log}");
    assert!(log.contains("remote write refused"), "{log}");
    assert!(log.contains("remote write queues drained"), "{log}");
}

/// The value of an endpoint's counter in `/metrics` (one endpoint here).
fn metric_of(server: &Server, name: &str) -> u64 {
    let (status, _, body) = server.get("/metrics", &[]);
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    text.lines()
        .find_map(|l| {
            let rest = l.strip_prefix(name)?;
            let value = match rest.strip_prefix('{') {
                Some(labels) => labels.split_once("} ")?.1,
                None => rest.strip_prefix(' ')?,
            };
            value.parse().ok()
        })
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}
