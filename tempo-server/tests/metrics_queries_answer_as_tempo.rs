//! `GET /api/metrics/query_range` and `GET /api/metrics/query` answer TraceQL metrics queries
//! as Tempo does, field by field: series labels typed as OTLP values (`__name__`, `p`,
//! `__bucket`, `by()` values), samples stamped at the end of each step-aligned interval with
//! zero values left out, exemplars with their trace and span IDs, and the same answer in
//! protobuf; as Grafana asks, and by `POST`.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use common::spans::encode;
use common::{Server, http_call};
use prost::Message as _;
use serde_json::{Value as Json, json};
use tempo_core::model::{
    AnyValue, KeyValue, Resource, ResourceSpans, ScopeSpans, Span, Status, TracesData, Value,
};

/// 2023-11-14T22:10:00Z, unix seconds: a whole number of minutes (and of 5 minutes).
const T0: u64 = 1_699_999_800;
const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

/// One span: its trace, ID, service, start (milliseconds after [`T0`]), duration
/// (milliseconds) and whether it failed.
struct Spec {
    trace: u8,
    id: u8,
    service: &'static str,
    start_ms: u64,
    duration_ms: u64,
    error: bool,
}

/// The spans, each in a trace of its own but the first two:
///
/// | trace | span | service | start | duration | status | interval (step 60 s) |
/// |---|---|---|---|---|---|---|
/// | 1 | 1 | checkout | T0 + 10 s | 1.5 s | unset | T0 + 60 |
/// | 1 | 2 | checkout | T0 + 20 s | 500 ms | error | T0 + 60 |
/// | 2 | 3 | cart | T0 + 70 s | 250 ms | unset | T0 + 120 |
/// | 3 | 4 | cart | T0 + 60 s | 40 ms | error | T0 + 60 (a boundary belongs to the interval before) |
/// | 4 | 5 | checkout | T0 + 130 s | 3 s | unset | T0 + 180 |
/// | 5 | 6 | cart | T0 | 100 ms | unset | T0 |
const SPANS: [Spec; 6] = [
    Spec {
        trace: 1,
        id: 1,
        service: "checkout",
        start_ms: 10_000,
        duration_ms: 1500,
        error: false,
    },
    Spec {
        trace: 1,
        id: 2,
        service: "checkout",
        start_ms: 20_000,
        duration_ms: 500,
        error: true,
    },
    Spec {
        trace: 2,
        id: 3,
        service: "cart",
        start_ms: 70_000,
        duration_ms: 250,
        error: false,
    },
    Spec {
        trace: 3,
        id: 4,
        service: "cart",
        start_ms: 60_000,
        duration_ms: 40,
        error: true,
    },
    Spec {
        trace: 4,
        id: 5,
        service: "checkout",
        start_ms: 130_000,
        duration_ms: 3000,
        error: false,
    },
    Spec {
        trace: 5,
        id: 6,
        service: "cart",
        start_ms: 0,
        duration_ms: 100,
        error: false,
    },
];

fn trace_id(n: u8) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[0] = 0xa0;
    id[15] = n;
    id
}

fn span_id(n: u8) -> [u8; 8] {
    [0, 0, 0, 0, 0, 0, 0x5a, n]
}

fn trace_hex(n: u8) -> String {
    hex::encode(trace_id(n))
}

fn span_hex(n: u8) -> String {
    hex::encode(span_id(n))
}

fn data() -> TracesData {
    let resource_spans = SPANS
        .iter()
        .map(|s| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(Value::StringValue(s.service.into())),
                    }),
                }],
                dropped_attributes_count: 0,
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: trace_id(s.trace).to_vec(),
                    span_id: span_id(s.id).to_vec(),
                    name: format!("op {}", s.id),
                    kind: 2,
                    start_time_unix_nano: T0 * S + s.start_ms * MS,
                    end_time_unix_nano: T0 * S + (s.start_ms + s.duration_ms) * MS,
                    attributes: vec![KeyValue::int("http.status_code", 200)],
                    status: Some(Status {
                        code: if s.error { 2 } else { 0 },
                        message: String::new(),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    TracesData { resource_spans }
}

fn ingest(server: &Server) {
    let (status, _, body) = http_call(
        "POST",
        &server.otlp_http(),
        &[("content-type", "application/x-protobuf")],
        Some(&encode(&data())),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

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

/// The answer's text and its JSON, checked to be a 200 in `application/json`.
fn get(server: &Server, path: &str) -> (String, Json) {
    let (status, ct, body) = server.get(path, &[("accept", "application/json")]);
    let text = String::from_utf8(body).unwrap();
    assert_eq!(status, 200, "GET {path}: {text}");
    assert_eq!(ct, "application/json", "GET {path}");
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: {e}: {text}"));
    (text, json)
}

/// `query_range` over `[T0, T0 + 300 s]` by 60 s.
fn range(server: &Server, query: &str, extra: &str) -> (String, Json) {
    get(
        server,
        &format!(
            "/api/metrics/query_range?q={}&start={T0}&end={}&step=60s{extra}",
            enc(query),
            T0 + 300
        ),
    )
}

/// `query` (instant) over `(T0, T0 + 300 s]`.
fn instant(server: &Server, query: &str) -> Json {
    get(
        server,
        &format!(
            "/api/metrics/query?q={}&start={T0}&end={}",
            enc(query),
            T0 + 300
        ),
    )
    .1
}

/// The timestamp of the sample `minutes` after [`T0`], as JSON writes it.
fn at(minutes: u64) -> String {
    ((T0 + minutes * 60) * 1000).to_string()
}

/// Samples at T0, T0 + 1 min, ..., T0 + 5 min: the grid of [`range`] (from one step before
/// the start, aligned, to the end), zero values written without `value`.
fn samples(values: [f64; 6]) -> Json {
    Json::Array(
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                if v == 0.0 {
                    json!({ "timestampMs": at(i as u64) })
                } else {
                    json!({ "timestampMs": at(i as u64), "value": v })
                }
            })
            .collect(),
    )
}

/// A label with a string value.
fn label(key: &str, value: &str) -> Json {
    json!({ "key": key, "value": { "stringValue": value } })
}

/// Whether two doubles are equal but for rounding.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs()
}

/// The series of an answer, without their exemplars, numbers as doubles.
fn series(answer: &Json) -> Json {
    let mut series = answer["series"].clone();
    for s in series.as_array_mut().unwrap() {
        s.as_object_mut().unwrap().remove("exemplars");
    }
    doubles(series)
}

/// The same JSON with every number a double, so that `2` and `2.0` compare equal.
fn doubles(v: Json) -> Json {
    match v {
        Json::Number(n) => json!(n.as_f64().unwrap()),
        Json::Array(a) => Json::Array(a.into_iter().map(doubles).collect()),
        Json::Object(o) => Json::Object(o.into_iter().map(|(k, v)| (k, doubles(v))).collect()),
        other => other,
    }
}

#[test]
fn metrics_queries_answer_as_tempo() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), "");
    ingest(&server);

    // --- Counts: every interval of the grid, stamped at its end; zeros without `value`.
    let (text, answer) = range(&server, "{ } | count_over_time()", "");
    assert_eq!(
        series(&answer),
        json!([{
            "labels": [label("__name__", "count_over_time")],
            "samples": samples([1.0, 3.0, 1.0, 1.0, 0.0, 0.0]),
        }])
    );
    // Field order as Tempo's messages declare them.
    assert!(
        text.starts_with(&format!(
            r#"{{"series":[{{"labels":[{{"key":"__name__","value":{{"stringValue":"count_over_time"}}}}],"samples":[{{"timestampMs":"{}","value":1}},"#,
            at(0)
        )),
        "{text}"
    );
    assert!(text.contains(r#"}]}],"metrics":{"#), "{text}");
    let metrics = &answer["metrics"];
    assert!(metrics["totalJobs"].as_u64().unwrap() >= 1, "{metrics}");
    assert!(metrics["completedJobs"].as_u64().unwrap() >= 1, "{metrics}");
    assert!(metrics.get("status").is_none() && answer.get("status").is_none());
    let spans: u64 = metrics["inspectedSpans"].as_str().unwrap().parse().unwrap();
    assert!(spans >= 6, "{metrics}");

    // --- rate() by a resource attribute: one series per service, sorted by value.
    let per_minute = 1.0 / 60.0;
    let (_, answer) = range(&server, "{ } | rate() by (resource.service.name)", "");
    assert_eq!(
        series(&answer),
        json!([
            {
                "labels": [label("resource.service.name", "cart")],
                "samples": samples([per_minute, per_minute, per_minute, 0.0, 0.0, 0.0]),
            },
            {
                "labels": [label("resource.service.name", "checkout")],
                "samples": samples([0.0, 2.0 * per_minute, 0.0, per_minute, 0.0, 0.0]),
            },
        ])
    );

    // --- Exemplars: the trace and span IDs of spans that went into each series, in hex,
    // stamped at the span's start, worth their interval's sample.
    let mut seen = 0;
    for s in answer["series"].as_array().unwrap() {
        let service = s["labels"][0]["value"]["stringValue"].as_str().unwrap();
        for e in s["exemplars"].as_array().unwrap() {
            seen += 1;
            assert_eq!(e["labels"][0]["key"], "trace:id", "{e}");
            assert_eq!(e["labels"][1]["key"], "span:id", "{e}");
            let trace = e["labels"][0]["value"]["stringValue"].as_str().unwrap();
            let span = e["labels"][1]["value"]["stringValue"].as_str().unwrap();
            let spec = SPANS
                .iter()
                .find(|x| span_hex(x.id) == span)
                .unwrap_or_else(|| panic!("unknown span in {e}"));
            assert_eq!(trace, trace_hex(spec.trace), "{e}");
            assert_eq!(spec.service, service, "{e}");
            let start_ms = T0 * 1000 + spec.start_ms;
            assert_eq!(e["timestampMs"], start_ms.to_string(), "{e}");
            let sample = s["samples"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| {
                    let t: u64 = p["timestampMs"].as_str().unwrap().parse().unwrap();
                    t >= start_ms && t < start_ms + 60_000
                })
                .unwrap();
            assert_eq!(e["value"], sample["value"], "{e}");
        }
    }
    // One per trace at most: five traces.
    assert!((1..=5).contains(&seen), "{answer}");
    // Oldest first, in each series.
    for s in answer["series"].as_array().unwrap() {
        let times: Vec<u64> = s["exemplars"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["timestampMs"].as_str().unwrap().parse().unwrap())
            .collect();
        assert!(times.is_sorted(), "{s}");
    }
    let (_, one) = range(
        &server,
        "{ } | rate() by (resource.service.name)",
        "&exemplars=1",
    );
    let kept: usize = one["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s.get("exemplars")
                .map_or(0, |e| e.as_array().unwrap().len())
        })
        .sum();
    assert_eq!(kept, 1, "{one}");

    // --- A filter, and a label of each type.
    let (_, answer) = range(
        &server,
        "{ status = error } | count_over_time() by (span.http.status_code, resource.service.name)",
        "",
    );
    assert_eq!(
        series(&answer),
        json!([
            {
                "labels": [
                    { "key": "span.http.status_code", "value": { "intValue": "200" } },
                    label("resource.service.name", "cart"),
                ],
                "samples": samples([0.0, 1.0, 0.0, 0.0, 0.0, 0.0]),
            },
            {
                "labels": [
                    { "key": "span.http.status_code", "value": { "intValue": "200" } },
                    label("resource.service.name", "checkout"),
                ],
                "samples": samples([0.0, 1.0, 0.0, 0.0, 0.0, 0.0]),
            },
        ])
    );

    // --- max_over_time: durations in seconds; intervals without spans have no sample.
    let (_, answer) = range(
        &server,
        "{ } | max_over_time(duration) by (resource.service.name)",
        "",
    );
    let point = |minutes: u64, v: f64| json!({ "timestampMs": at(minutes), "value": v });
    assert_eq!(
        series(&answer),
        json!([
            {
                "labels": [label("resource.service.name", "cart")],
                "samples": [point(0, 0.1), point(1, 0.04), point(2, 0.25)],
            },
            {
                "labels": [label("resource.service.name", "checkout")],
                "samples": [point(1, 1.5), point(3, 3.0)],
            },
        ])
    );

    // --- quantile_over_time: the quantile as label `p` (a double), values in seconds from
    // power-of-two buckets; intervals without spans are 0.
    let (_, answer) = range(&server, "{ } | quantile_over_time(duration, 0.5)", "");
    let bucket = |exp: i32| 2f64.powi(exp) / 1e9;
    let labels = json!([
        label("__name__", "quantile_over_time"),
        { "key": "p", "value": { "doubleValue": 0.5 } },
    ]);
    assert_eq!(series(&answer)[0]["labels"], labels, "{answer}");
    let values: Vec<f64> = answer["series"][0]["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.get("value").map_or(0.0, |v| v.as_f64().unwrap()))
        .collect();
    // One span in the first interval (100 ms: 2^27 ns); three in the second (40 ms, 500 ms,
    // 1.5 s: buckets 2^26, 2^29, 2^31), whose median is the second bucket's bound.
    assert_eq!(values.len(), 6, "{answer}");
    assert!(close(values[0], bucket(27)), "{answer}");
    assert!(close(values[1], bucket(29)), "{answer}");
    assert_eq!(values[4], 0.0, "{answer}");

    // --- histogram_over_time: a series per bucket, its upper bound in seconds as
    // `__bucket` (a double).
    let (_, answer) = range(&server, "{ } | histogram_over_time(duration)", "");
    let mut buckets = Vec::new();
    for s in answer["series"].as_array().unwrap() {
        let labels = s["labels"].as_array().unwrap();
        let last = labels.last().unwrap();
        assert_eq!(last["key"], "__bucket", "{s}");
        let bound = last["value"]["doubleValue"].as_f64().unwrap();
        let counts: Vec<f64> = s["samples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.get("value").map_or(0.0, |v| v.as_f64().unwrap()))
            .collect();
        buckets.push((bound, counts));
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let z = 0.0;
    let expected = [
        (26, vec![z, 1.0, z, z, z, z]),
        (27, vec![1.0, z, z, z, z, z]),
        (28, vec![z, z, 1.0, z, z, z]),
        (29, vec![z, 1.0, z, z, z, z]),
        (31, vec![z, 1.0, z, z, z, z]),
        (32, vec![z, z, z, 1.0, z, z]),
    ];
    assert_eq!(buckets.len(), expected.len(), "{answer}");
    for ((bound, counts), (exp, want)) in buckets.iter().zip(&expected) {
        assert!(close(*bound, bucket(*exp)), "2^{exp}: {answer}");
        assert_eq!(counts, want, "2^{exp}: {answer}");
    }

    // --- The same answer in protobuf.
    let path = format!(
        "/api/metrics/query_range?q={}&start={T0}&end={}&step=60",
        enc("{ } | rate() by (resource.service.name)"),
        T0 + 300
    );
    let (status, ct, body) = server.get(&path, &[("accept", "application/protobuf")]);
    assert_eq!((status, ct.as_str()), (200, "application/protobuf"));
    let decoded = wire::QueryRangeResponse::decode(body.as_slice()).unwrap();
    let (_, json) = get(&server, &path);
    assert_eq!(decoded.series.len(), 2);
    for (s, j) in decoded
        .series
        .iter()
        .zip(json["series"].as_array().unwrap())
    {
        assert_eq!(s.labels.len(), 1);
        assert_eq!(s.labels[0].key, "resource.service.name");
        assert_eq!(
            s.labels[0].value.as_ref().unwrap().value,
            Some(Value::StringValue(
                j["labels"][0]["value"]["stringValue"]
                    .as_str()
                    .unwrap()
                    .into()
            ))
        );
        let samples: Vec<(String, f64)> = s
            .samples
            .iter()
            .map(|p| (p.timestamp_ms.to_string(), p.value))
            .collect();
        let expected: Vec<(String, f64)> = j["samples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["timestampMs"].as_str().unwrap().to_owned(),
                    p.get("value").map_or(0.0, |v| v.as_f64().unwrap()),
                )
            })
            .collect();
        assert_eq!(samples, expected);
        assert_eq!(
            s.exemplars.len(),
            j.get("exemplars")
                .map_or(0, |e| e.as_array().unwrap().len())
        );
        for e in &s.exemplars {
            assert_eq!(e.labels[0].key, "trace:id");
            assert!(e.timestamp_ms >= (T0 * 1000) as i64);
        }
    }
    let metrics = decoded.metrics.unwrap();
    assert!(metrics.total_jobs >= 1 && metrics.inspected_spans >= 6);
    assert_eq!((decoded.status, decoded.message.as_str()), (0, ""));

    // --- A series cap: the answer is cut, and says so.
    let (_, answer) = range(
        &server,
        "{ } | rate() by (resource.service.name)",
        "&maxSeries=1",
    );
    assert_eq!(answer["series"].as_array().unwrap().len(), 1, "{answer}");
    assert_eq!(answer["status"], "PARTIAL", "{answer}");
    assert!(
        answer["message"].as_str().unwrap().starts_with(
            "Response exceeds maximum series limit of 1, a partial response is returned"
        ),
        "{answer}"
    );

    // --- Instant queries: one value per series over `(start, end]`, no exemplars.
    let answer = instant(
        &server,
        "{ } | count_over_time() by (resource.service.name)",
    );
    assert_eq!(
        doubles(answer["series"].clone()),
        json!([
            { "labels": [label("resource.service.name", "cart")], "value": 2.0 },
            { "labels": [label("resource.service.name", "checkout")], "value": 3.0 },
        ]),
        "{answer}"
    );
    assert!(answer["metrics"].is_object(), "{answer}");
    let answer = instant(&server, "{ } | rate()");
    assert_eq!(
        doubles(answer["series"].clone()),
        json!([{ "labels": [label("__name__", "rate")], "value": 5.0 / 300.0 }]),
        "{answer}"
    );
    let path = format!(
        "/api/metrics/query?q={}&start={T0}&end={}",
        enc("{ } | count_over_time() by (resource.service.name)"),
        T0 + 300
    );
    let (status, ct, body) = server.get(&path, &[("accept", "application/protobuf")]);
    assert_eq!((status, ct.as_str()), (200, "application/protobuf"));
    let decoded = wire::QueryInstantResponse::decode(body.as_slice()).unwrap();
    let values: Vec<f64> = decoded.series.iter().map(|s| s.value).collect();
    assert_eq!(values, [2.0, 3.0]);
    assert!(decoded.metrics.is_some());

    // --- Grafana's request: `q`, unix seconds, a step as a duration, JSON.
    let (_, answer) = get(
        &server,
        &format!(
            "/api/metrics/query_range?q={}&start={}&end={}&step=60s",
            enc("{resource.service.name=\"checkout\"} | rate()"),
            T0 - 600,
            T0 + 600
        ),
    );
    let samples = answer["series"][0]["samples"].as_array().unwrap();
    // From one step before the start to the end: 21 samples.
    assert_eq!(samples.len(), 21, "{answer}");
    assert_eq!(samples[0]["timestampMs"], ((T0 - 600) * 1000).to_string());
    assert_eq!(samples[20]["timestampMs"], ((T0 + 600) * 1000).to_string());
    assert_eq!(
        doubles(samples[11].clone()),
        json!({ "timestampMs": at(1), "value": 2.0 / 60.0 })
    );

    // --- By POST, the parameters in a form body; `query` also names the query.
    let form = format!(
        "query={}&start={T0}&end={}&step=300",
        enc("{ } | count_over_time()"),
        T0 + 300
    );
    let (status, ct, body) = http_call(
        "POST",
        &server.api("/api/metrics/query_range"),
        &[("content-type", "application/x-www-form-urlencoded")],
        Some(form.as_bytes()),
    );
    assert_eq!((status, ct.as_str()), (200, "application/json"));
    let answer: Json = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        doubles(answer["series"][0]["samples"].clone()),
        json!([
            { "timestampMs": (T0 * 1000).to_string(), "value": 1.0 },
            { "timestampMs": ((T0 + 300) * 1000).to_string(), "value": 5.0 },
        ]),
        "{answer}"
    );
}

/// Tempo's messages of a metrics answer, written from its field numbers.
mod wire {
    use tempo_core::model::KeyValue;

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct QueryRangeResponse {
        #[prost(message, repeated, tag = "1")]
        pub(crate) series: Vec<TimeSeries>,
        #[prost(message, optional, tag = "2")]
        pub(crate) metrics: Option<SearchMetrics>,
        #[prost(int32, tag = "3")]
        pub(crate) status: i32,
        #[prost(string, tag = "4")]
        pub(crate) message: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct TimeSeries {
        #[prost(message, repeated, tag = "1")]
        pub(crate) labels: Vec<KeyValue>,
        #[prost(message, repeated, tag = "2")]
        pub(crate) samples: Vec<Sample>,
        #[prost(message, repeated, tag = "4")]
        pub(crate) exemplars: Vec<Exemplar>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Sample {
        #[prost(double, tag = "1")]
        pub(crate) value: f64,
        #[prost(int64, tag = "2")]
        pub(crate) timestamp_ms: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Exemplar {
        #[prost(message, repeated, tag = "1")]
        pub(crate) labels: Vec<KeyValue>,
        #[prost(double, tag = "2")]
        pub(crate) value: f64,
        #[prost(int64, tag = "3")]
        pub(crate) timestamp_ms: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct QueryInstantResponse {
        #[prost(message, repeated, tag = "1")]
        pub(crate) series: Vec<InstantSeries>,
        #[prost(message, optional, tag = "2")]
        pub(crate) metrics: Option<SearchMetrics>,
        #[prost(int32, tag = "3")]
        pub(crate) status: i32,
        #[prost(string, tag = "4")]
        pub(crate) message: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct InstantSeries {
        #[prost(message, repeated, tag = "1")]
        pub(crate) labels: Vec<KeyValue>,
        #[prost(double, tag = "2")]
        pub(crate) value: f64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct SearchMetrics {
        #[prost(uint32, tag = "1")]
        pub(crate) inspected_traces: u32,
        #[prost(uint64, tag = "2")]
        pub(crate) inspected_bytes: u64,
        #[prost(uint32, tag = "3")]
        pub(crate) total_blocks: u32,
        #[prost(uint32, tag = "4")]
        pub(crate) completed_jobs: u32,
        #[prost(uint32, tag = "5")]
        pub(crate) total_jobs: u32,
        #[prost(uint64, tag = "7")]
        pub(crate) inspected_spans: u64,
    }
}
