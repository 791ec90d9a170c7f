//! Tempo's keys bound TraceQL metrics queries: `query_frontend.metrics.max_duration`,
//! `max_intervals`, `max_exemplars` and `max_response_series` (which a client's `maxSeries`
//! can lower but not raise), and `query_frontend.query_end_cutoff`, which keeps the most
//! recent spans out of an answer when set (Tempo: 30 s; ours by default: none).
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::spans::encode;
use common::{Server, http_call};
use serde_json::Value as Json;
use tempo_core::model::{KeyValue, Resource, ResourceSpans, ScopeSpans, Span, TracesData};

/// 2023-11-14T22:10:00Z, unix seconds.
const T0: u64 = 1_699_999_800;
const S: u64 = 1_000_000_000;

/// Percent-encodes a query parameter value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One span a trace, of `service`, starting at each of `starts` (unix nanoseconds), the
/// traces numbered from `first`.
fn spans(service: &str, first: u8, starts: &[u64]) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![KeyValue::string("service.name", service)],
            dropped_attributes_count: 0,
        }),
        scope_spans: vec![ScopeSpans {
            spans: starts
                .iter()
                .zip(first..)
                .map(|(&start, n)| Span {
                    trace_id: [n; 16].to_vec(),
                    span_id: [n; 8].to_vec(),
                    name: "op".into(),
                    start_time_unix_nano: start,
                    end_time_unix_nano: start + S / 10,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn ingest(server: &Server, data: &TracesData) {
    let (status, _, body) = http_call(
        "POST",
        &server.otlp_http(),
        &[("content-type", "application/x-protobuf")],
        Some(&encode(data)),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

/// GET; the status and the body as text.
fn get(server: &Server, path: &str) -> (u16, String) {
    let (status, _, body) = server.get(path, &[]);
    (status, String::from_utf8(body).unwrap())
}

fn get_json(server: &Server, path: &str) -> Json {
    let (status, text) = get(server, path);
    assert_eq!(status, 200, "GET {path}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// The sum of every sample (or instant value) of an answer.
fn total(answer: &Json) -> f64 {
    let value = |v: &Json| v.get("value").map_or(0.0, |v| v.as_f64().unwrap());
    answer
        .get("series")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .map(|s| match s.get("samples") {
            Some(samples) => samples.as_array().unwrap().iter().map(value).sum(),
            None => value(s),
        })
        .sum()
}

fn now_nanos() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(now.as_nanos()).unwrap()
}

#[test]
fn metrics_query_limits_from_config() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(
        dir.path(),
        "query_frontend:\n  query_end_cutoff: 0s\n  metrics:\n    max_duration: 1h\n    \
         max_intervals: 10\n    max_exemplars: 2\n    max_response_series: 1\n    \
         concurrent_jobs: 8\n",
    );
    let rate = enc("{ } | rate() by (resource.service.name)");
    let window = |seconds: u64, step: &str| format!("start={T0}&end={}&step={step}", T0 + seconds);

    // The longest range and the most steps.
    assert_eq!(
        get(
            &server,
            &format!("/api/metrics/query_range?q={rate}&{}", window(7200, "1h"))
        ),
        (
            400,
            "metrics query time range exceeds the maximum allowed duration of 1h0m0s".into()
        )
    );
    assert_eq!(
        get(
            &server,
            &format!("/api/metrics/query?q={rate}&start={T0}&end={}", T0 + 3601)
        ),
        (
            400,
            "metrics query time range exceeds the maximum allowed duration of 1h0m0s".into()
        )
    );
    assert_eq!(
        get(
            &server,
            &format!("/api/metrics/query_range?q={rate}&{}", window(3600, "1m"))
        ),
        (
            400,
            "step of 1m0s is too small, minimum step for given range is 6m0s".into()
        )
    );

    // Two services, five traces.
    let at = |seconds: u64| (T0 + seconds) * S;
    ingest(
        &server,
        &TracesData {
            resource_spans: vec![
                spans("cart", 1, &[at(60), at(600), at(1200)]),
                spans("checkout", 4, &[at(90), at(900)]),
            ],
        },
    );

    // One series at most: the first, and the answer says it is partial; `maxSeries` cannot
    // raise the limit.
    for extra in ["", "&maxSeries=5"] {
        let answer = get_json(
            &server,
            &format!(
                "/api/metrics/query_range?q={rate}&{}{extra}",
                window(3600, "10m")
            ),
        );
        let series = answer["series"].as_array().unwrap();
        assert_eq!(series.len(), 1, "{answer}");
        assert_eq!(
            series[0]["labels"][0]["value"]["stringValue"], "cart",
            "{answer}"
        );
        assert_eq!(answer["status"], "PARTIAL", "{answer}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .starts_with("Response exceeds maximum series limit of 1"),
            "{answer}"
        );
        let answer = get_json(
            &server,
            &format!(
                "/api/metrics/query?q={rate}&start={T0}&end={}{extra}",
                T0 + 3600
            ),
        );
        assert_eq!(answer["series"].as_array().unwrap().len(), 1, "{answer}");
        assert_eq!(answer["status"], "PARTIAL", "{answer}");
    }

    // At most two exemplars, whatever the client asks.
    let count = enc("{ } | count_over_time()");
    for extra in ["", "&exemplars=50"] {
        let answer = get_json(
            &server,
            &format!(
                "/api/metrics/query_range?q={count}&{}{extra}",
                window(3600, "10m")
            ),
        );
        assert_eq!(total(&answer), 5.0, "{answer}");
        let exemplars = answer["series"][0]["exemplars"].as_array().unwrap();
        assert_eq!(exemplars.len(), 2, "{answer}");
    }
}

#[test]
fn the_latest_spans_wait_for_an_end_cutoff_only_when_one_is_set() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let tempo_default =
        Server::start_in(dirs[0].path(), "query_frontend:\n  query_end_cutoff: 30s\n");
    // Ours: none, every acknowledged span is queryable at once.
    let no_cutoff = Server::start_in(dirs[1].path(), "");

    // A span two minutes old and one just sent.
    let now = now_nanos();
    let data = TracesData {
        resource_spans: vec![spans("cart", 1, &[now - 120 * S, now - 2 * S])],
    };
    let count = enc("{ } | count_over_time()");
    for (server, visible) in [(&tempo_default, 1.0), (&no_cutoff, 2.0)] {
        ingest(server, &data);
        let range = get_json(
            server,
            &format!("/api/metrics/query_range?q={count}&since=5m"),
        );
        assert_eq!(total(&range), visible, "{range}");
        let instant = get_json(server, &format!("/api/metrics/query?q={count}&since=5m"));
        assert_eq!(total(&instant), visible, "{instant}");
    }
}
