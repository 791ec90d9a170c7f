//! TraceQL metrics answer what Tempo's documentation says, function by function, whether the
//! data is in the head or in blocks. Every expected series here is worked out by hand.
//!
//! Six spans in four traces, at known offsets from `t0` (a whole minute, ten minutes ago):
//!
//! ```text
//! span  trace  service   name       start   duration  status  span.http.status_code
//! A     1      frontend  GET /      +1 s    100 ms    unset   200
//! C     1      backend   query      +3 s     50 ms    ok      200      (child of A)
//! B     2      frontend  GET /      +2 s    300 ms    error   500
//! D     3      backend   query      +12 s   800 ms    error   -
//! E     4      frontend  POST /pay  +15 s   1.5 s     error   503
//! F     4      backend   query      +25 s    20 ms    unset   200      (child of E)
//! ```
//!
//! A range query from `t0` to `t0 + 30 s` by 10 s steps is aligned as Tempo aligns it: four
//! intervals closed on the right, `(t0 - 10 s, t0]`, `(t0, t0 + 10 s]`, `(t0 + 10 s, t0 + 20 s]`
//! and `(t0 + 20 s, t0 + 30 s]`, stamped at their ends. The spans fall in the last three:
//! {A, B, C}, {D, E}, {F}.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tempo_core::backend::MemoryBackend;
use tempo_core::model::{
    AnyValue, KeyValue, Resource, ResourceSpans, ScopeSpans, Span, Status, Value,
};
use tempo_core::{
    Batch, LabelValue, MetricsError, MetricsRequest, MetricsResponse, QueryError, Store, TimeSeries,
};

const TENANT: &str = "metrics";
const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

struct Fixture {
    head: Store,
    blocks: Store,
    t0: u64,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let t0 = (now.as_secs() - 600) / 60 * 60 * S;
        let head = Store::in_memory();
        head.ingest(TENANT, Batch::new(data(t0))).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let blocks = Store::builder()
            .wal_dir(dir.path())
            .blocks(Arc::new(MemoryBackend::new()))
            .flush_check_period(Duration::from_secs(3600))
            // The spans are stamped minutes before they are ingested: the blocks' ranges
            // must cover them.
            .ingestion_time_range_slack(Duration::from_secs(3600))
            .open()
            .unwrap();
        blocks.ingest(TENANT, Batch::new(data(t0))).unwrap();
        blocks.flush_blocks().unwrap();
        assert!(!blocks.blocks(TENANT).is_empty());
        assert_eq!(blocks.stats().head_traces, 0, "nothing is left in the head");
        Fixture {
            head,
            blocks,
            t0,
            _dir: dir,
        }
    })
}

fn kv(key: &str, v: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "a span of the fixture, spelled out in one line"
)]
fn span(
    t0: u64,
    trace: u8,
    n: u8,
    parent: Option<u8>,
    name: &str,
    start_ms: u64,
    duration_ms: u64,
    status: i32,
    code: Option<i64>,
) -> Span {
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![trace, 0, 0, 0, 0, 0, 0, n],
        parent_span_id: parent
            .map(|p| vec![trace, 0, 0, 0, 0, 0, 0, p])
            .unwrap_or_default(),
        name: name.into(),
        kind: 2,
        start_time_unix_nano: t0 + start_ms * MS,
        end_time_unix_nano: t0 + (start_ms + duration_ms) * MS,
        attributes: code
            .map(|c| vec![kv("http.status_code", Value::IntValue(c))])
            .unwrap_or_default(),
        status: Some(Status {
            code: status,
            message: String::new(),
        }),
        ..Default::default()
    }
}

fn service(name: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![kv("service.name", Value::StringValue(name.into()))],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn data(t0: u64) -> Vec<ResourceSpans> {
    let (unset, ok, error) = (0, 1, 2);
    vec![
        service(
            "frontend",
            vec![
                span(t0, 1, 1, None, "GET /", 1000, 100, unset, Some(200)),
                span(t0, 2, 1, None, "GET /", 2000, 300, error, Some(500)),
                span(t0, 4, 1, None, "POST /pay", 15_000, 1500, error, Some(503)),
            ],
        ),
        service(
            "backend",
            vec![
                span(t0, 1, 2, Some(1), "query", 3000, 50, ok, Some(200)),
                span(t0, 3, 1, None, "query", 12_000, 800, error, None),
                span(t0, 4, 2, Some(1), "query", 25_000, 20, unset, Some(200)),
            ],
        ),
    ]
}

/// Runs a range query from `t0` to `t0 + 30 s` by 10 s on both stores; they must agree.
fn range(q: &str) -> MetricsResponse {
    let f = fixture();
    let req = MetricsRequest::range(q, f.t0, f.t0 + 30 * S).step(Duration::from_secs(10));
    both(q, &req)
}

fn both(q: &str, req: &MetricsRequest) -> MetricsResponse {
    let f = fixture();
    let head = f.head.metrics(TENANT, req).unwrap();
    let blocks = f.blocks.metrics(TENANT, req).unwrap();
    assert_eq!(
        simple(&head),
        simple(&blocks),
        "{q}: the head and the blocks disagree"
    );
    head
}

/// Each series as its labels and samples, times as seconds after `t0`.
fn simple(r: &MetricsResponse) -> Vec<(String, Vec<(i64, f64)>)> {
    let t0 = (fixture().t0 / MS) as i64;
    r.series
        .iter()
        .map(|s| {
            (
                s.prom_labels(),
                s.samples
                    .iter()
                    .map(|x| ((x.timestamp_ms - t0) / 1000, x.value))
                    .collect(),
            )
        })
        .collect()
}

/// `(labels, [(seconds after t0, value)])` for the expected series.
fn expect(q: &str, want: &[(&str, &[(i64, f64)])]) {
    let got = simple(&range(q));
    let want: Vec<(String, Vec<(i64, f64)>)> = want
        .iter()
        .map(|(l, s)| ((*l).to_owned(), s.to_vec()))
        .collect();
    assert_eq!(got.len(), want.len(), "{q}: {got:#?}");
    for ((gl, gs), (wl, ws)) in got.iter().zip(&want) {
        assert_eq!(gl, wl, "{q}");
        assert_eq!(gs.len(), ws.len(), "{q} {gl}: {gs:?}");
        for ((gt, gv), (wt, wv)) in gs.iter().zip(ws) {
            assert_eq!(gt, wt, "{q} {gl}: {gs:?}");
            assert!(
                (gv - wv).abs() <= 1e-9 * wv.abs().max(1.0),
                "{q} {gl} at {gt}: {gv} != {wv}"
            );
        }
    }
}

const ALL4: [i64; 4] = [0, 10, 20, 30];

fn counts(values: [f64; 4]) -> Vec<(i64, f64)> {
    ALL4.iter().copied().zip(values).collect()
}

#[test]
fn counts_and_rates_have_a_sample_in_every_interval() {
    expect(
        "{ } | count_over_time()",
        &[(
            r#"{__name__="count_over_time"}"#,
            &counts([0.0, 3.0, 2.0, 1.0]),
        )],
    );
    expect(
        "{ } | rate()",
        &[(r#"{__name__="rate"}"#, &counts([0.0, 0.3, 0.2, 0.1]))],
    );
}

#[test]
fn an_ungrouped_count_is_zero_where_nothing_matches() {
    expect(
        r#"{ name = "nothing" } | rate()"#,
        &[(r#"{__name__="rate"}"#, &counts([0.0; 4]))],
    );
    // A grouped one has no series to show.
    expect(
        r#"{ name = "nothing" } | rate() by (resource.service.name)"#,
        &[],
    );
}

#[test]
fn series_past_the_memory_budget_stop_the_query_with_the_reason() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder()
        .wal_dir(dir.path())
        .metrics_max_intervals(0)
        .max_query_bytes(1 << 20)
        .open()
        .unwrap();
    store.ingest(TENANT, Batch::new(data(f.t0))).unwrap();
    // Six series of 300,000 steps each: about 29 MB, past a 1 MiB budget.
    let req = MetricsRequest::range("{ } | count_over_time() by (span:id)", f.t0, f.t0 + 30 * S)
        .step(Duration::from_micros(100));
    let answer = store.metrics(TENANT, &req).unwrap();
    assert!(answer.partial);
    let reason = answer.partial_reason.unwrap();
    assert!(reason.contains("max_query_bytes"), "{reason}");
    assert!(reason.contains("series of"), "{reason}");
}

#[test]
fn by_groups_and_filters_select() {
    expect(
        "{ status = error } | count_over_time() by (resource.service.name)",
        &[
            (
                r#"{resource.service.name="backend"}"#,
                &counts([0.0, 0.0, 1.0, 0.0]),
            ),
            (
                r#"{resource.service.name="frontend"}"#,
                &counts([0.0, 1.0, 1.0, 0.0]),
            ),
        ],
    );
    expect(
        "{ } | count_over_time() by (status)",
        &[
            (r#"{status="error"}"#, &counts([0.0, 1.0, 2.0, 0.0])),
            (r#"{status="ok"}"#, &counts([0.0, 1.0, 0.0, 0.0])),
            (r#"{status="unset"}"#, &counts([0.0, 1.0, 0.0, 1.0])),
        ],
    );
    expect(
        "{ } | count_over_time() by (resource.service.name, name)",
        &[
            (
                r#"{resource.service.name="backend", name="query"}"#,
                &counts([0.0, 1.0, 1.0, 1.0]),
            ),
            (
                r#"{resource.service.name="frontend", name="GET /"}"#,
                &counts([0.0, 2.0, 0.0, 0.0]),
            ),
            (
                r#"{resource.service.name="frontend", name="POST /pay"}"#,
                &counts([0.0, 0.0, 1.0, 0.0]),
            ),
        ],
    );
}

#[test]
fn a_missing_value_is_its_own_group_shown_as_nil() {
    let q = "{ } | count_over_time() by (span.http.status_code)";
    expect(
        q,
        &[
            (
                r#"{span.http.status_code="200"}"#,
                &counts([0.0, 2.0, 0.0, 1.0]),
            ),
            (
                r#"{span.http.status_code="500"}"#,
                &counts([0.0, 1.0, 0.0, 0.0]),
            ),
            (
                r#"{span.http.status_code="503"}"#,
                &counts([0.0, 0.0, 1.0, 0.0]),
            ),
            (
                r#"{span.http.status_code="nil"}"#,
                &counts([0.0, 0.0, 1.0, 0.0]),
            ),
        ],
    );
    // Integers stay integers; the missing value is the string "nil".
    let answer = range(q);
    assert_eq!(
        answer.series[0].label("span.http.status_code"),
        Some(&LabelValue::Int(200))
    );
    assert_eq!(
        answer.series[3].label("span.http.status_code"),
        Some(&LabelValue::Str("nil".into()))
    );
    // With two fields, a missing one is left out of the labels.
    let answer = range("{ } | count_over_time() by (resource.service.name, span.http.status_code)");
    let d: Vec<&TimeSeries> = answer
        .series
        .iter()
        .filter(|s| s.labels.len() == 1)
        .collect();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].prom_labels(), r#"{resource.service.name="backend"}"#);
}

#[test]
fn min_max_sum_and_avg_skip_empty_intervals_and_read_durations_in_seconds() {
    for (f, values) in [
        ("min_over_time", [0.05, 0.8, 0.02]),
        ("max_over_time", [0.3, 1.5, 0.02]),
        ("sum_over_time", [0.45, 2.3, 0.02]),
        ("avg_over_time", [0.15, 1.15, 0.02]),
    ] {
        let name = format!(r#"{{__name__="{f}"}}"#);
        let samples: Vec<(i64, f64)> = [10, 20, 30].into_iter().zip(values).collect();
        expect(&format!("{{ }} | {f}(duration)"), &[(&name, &samples)]);
    }
    // Of an integer attribute: its own unit.
    expect(
        "{ } | max_over_time(span.http.status_code) by (resource.service.name)",
        &[
            (
                r#"{resource.service.name="backend"}"#,
                &[(10, 200.0), (30, 200.0)],
            ),
            (
                r#"{resource.service.name="frontend"}"#,
                &[(10, 500.0), (20, 503.0)],
            ),
        ],
    );
}

#[test]
fn quantiles_come_from_power_of_two_buckets_with_label_p() {
    // In nanoseconds, A (1e8) is in bucket 2^27, B (3e8) in 2^29, C (5e7) in 2^26, D (8e8)
    // in 2^30, E (1.5e9) in 2^31, F (2e7) in 2^25. The median of {C, A, B} is rank 2, the end
    // of A's bucket; the 0.9 quantile rank 3, the end of B's.
    let ns = |b: i32| 2f64.powi(b) / 1e9;
    expect(
        "{ } | quantile_over_time(duration, .5, .9)",
        &[
            (
                r#"{__name__="quantile_over_time", p="0.5"}"#,
                &counts([0.0, ns(27), ns(30), ns(25)]),
            ),
            (
                r#"{__name__="quantile_over_time", p="0.9"}"#,
                &counts([0.0, ns(29), ns(31), ns(25)]),
            ),
        ],
    );
    let answer = range("{ } | quantile_over_time(duration, .9)");
    assert_eq!(answer.series[0].label("p"), Some(&LabelValue::Float(0.9)));
}

#[test]
fn histograms_count_spans_per_power_of_two_bucket_in_seconds() {
    let ns = |b: i32| 2f64.powi(b) / 1e9;
    let name = |b: i32| {
        format!(
            r#"{{__name__="histogram_over_time", __bucket="{}"}}"#,
            ns(b)
        )
    };
    let want: Vec<(String, Vec<(i64, f64)>)> = vec![
        (name(25), counts([0.0, 0.0, 0.0, 1.0])),
        (name(26), counts([0.0, 1.0, 0.0, 0.0])),
        (name(27), counts([0.0, 1.0, 0.0, 0.0])),
        (name(29), counts([0.0, 1.0, 0.0, 0.0])),
        (name(30), counts([0.0, 0.0, 1.0, 0.0])),
        (name(31), counts([0.0, 0.0, 1.0, 0.0])),
    ];
    let want: Vec<(&str, &[(i64, f64)])> = want
        .iter()
        .map(|(l, s)| (l.as_str(), s.as_slice()))
        .collect();
    expect("{ } | histogram_over_time(duration)", &want);
}

#[test]
fn topk_and_bottomk_keep_series_per_interval() {
    let answer = range("{ } | count_over_time() by (resource.service.name) | topk(1)");
    let top = simple(&answer);
    // (t0, +10]: frontend 2 over backend 1; (+20, +30]: backend 1 over frontend 0; the other
    // intervals are ties, where one of the two is kept.
    let at = |t: i64| -> Vec<(&str, f64)> {
        top.iter()
            .filter_map(|(l, s)| {
                s.iter()
                    .find(|(x, _)| *x == t)
                    .map(|(_, v)| (l.as_str(), *v))
            })
            .collect()
    };
    assert_eq!(at(10), vec![(r#"{resource.service.name="frontend"}"#, 2.0)]);
    assert_eq!(at(30), vec![(r#"{resource.service.name="backend"}"#, 1.0)]);
    assert_eq!(at(0).len(), 1);
    assert_eq!(at(20).len(), 1);
    let answer = range("{ } | count_over_time() by (resource.service.name) | bottomk(1)");
    let bottom = simple(&answer);
    let lows: Vec<&(String, Vec<(i64, f64)>)> = bottom
        .iter()
        .filter(|(_, s)| s.iter().any(|(t, _)| *t == 10))
        .collect();
    assert_eq!(lows.len(), 1);
    assert_eq!(lows[0].0, r#"{resource.service.name="backend"}"#);
}

#[test]
fn filters_on_the_result_drop_samples_not_series() {
    expect(
        "{ } | count_over_time() by (resource.service.name) > 1",
        &[(r#"{resource.service.name="frontend"}"#, &[(10, 2.0)])],
    );
    expect(
        "{ } | avg_over_time(duration) > 100ms",
        &[(r#"{__name__="avg_over_time"}"#, &[(10, 0.15), (20, 1.15)])],
    );
}

#[test]
fn arithmetic_joins_series_by_labels_and_takes_literals() {
    // 0/0 has no sample.
    expect(
        "({ status = error } | count_over_time()) / ({ } | count_over_time())",
        &[(
            r#"{__name__="count_over_time"}"#,
            &[(10, 1.0 / 3.0), (20, 1.0), (30, 0.0)],
        )],
    );
    expect(
        "({ } | count_over_time()) * 10",
        &[(
            r#"{__name__="count_over_time"}"#,
            &counts([0.0, 30.0, 20.0, 10.0]),
        )],
    );
    expect(
        "({ status = error } | rate() by (resource.service.name)) / ({ } | rate() by (resource.service.name)) * 100",
        &[
            (
                r#"{resource.service.name="backend"}"#,
                &[(10, 0.0), (20, 100.0), (30, 0.0)],
            ),
            (
                r#"{resource.service.name="frontend"}"#,
                &[(10, 50.0), (20, 100.0)],
            ),
        ],
    );
}

#[test]
fn compare_counts_each_attribute_in_the_selection_and_the_baseline() {
    let answer = range("{ } | compare({ status = error })");
    let all = simple(&answer);
    let find = |labels: &str| {
        all.iter()
            .find(|(l, _)| l == labels)
            .unwrap_or_else(|| panic!("no {labels} in {all:#?}"))
            .1
            .clone()
    };
    // The errors B, D, E against A, C, F.
    assert_eq!(
        find(r#"{__meta_type="selection", resource.service.name="frontend"}"#),
        counts([0.0, 1.0, 1.0, 0.0])
    );
    assert_eq!(
        find(r#"{__meta_type="baseline", name="query"}"#),
        counts([0.0, 1.0, 0.0, 1.0])
    );
    assert_eq!(
        find(r#"{__meta_type="selection_total", resource.service.name="nil"}"#),
        counts([0.0, 1.0, 2.0, 0.0])
    );
    assert_eq!(
        find(r#"{__meta_type="baseline_total", span.http.status_code="nil"}"#),
        counts([0.0, 2.0, 0.0, 1.0])
    );
    // Top 1 per attribute and side: the most frequent value only.
    let answer = range("{ } | compare({ status = error }, 1)");
    let names: Vec<String> = answer
        .series
        .iter()
        .filter(|s| s.label("__meta_type") == Some(&LabelValue::Str("baseline".into())))
        .filter(|s| s.label("name").is_some())
        .map(TimeSeries::prom_labels)
        .collect();
    assert_eq!(names, vec![r#"{__meta_type="baseline", name="query"}"#]);
}

#[test]
fn instant_queries_give_one_value_over_the_whole_range() {
    let f = fixture();
    let req = |q: &str| MetricsRequest::instant(q, f.t0, f.t0 + 30 * S);
    let answer = both("count", &req("{ } | count_over_time()"));
    assert_eq!(answer.series.len(), 1);
    assert_eq!(answer.series[0].samples.len(), 1);
    assert_eq!(answer.series[0].samples[0].value, 6.0);
    assert_eq!(
        answer.series[0].samples[0].timestamp_ms,
        ((f.t0 + 30 * S) / MS) as i64
    );
    assert!(answer.series[0].exemplars.is_empty());
    let answer = both("rate", &req("{ } | rate() by (resource.service.name)"));
    let values: Vec<(String, f64)> = answer
        .series
        .iter()
        .map(|s| (s.prom_labels(), s.samples[0].value))
        .collect();
    assert_eq!(
        values,
        vec![
            (r#"{resource.service.name="backend"}"#.to_owned(), 0.1),
            (r#"{resource.service.name="frontend"}"#.to_owned(), 0.1),
        ]
    );
    // The range is open at its start: a span starting exactly there is not counted.
    let answer = both(
        "edge",
        &MetricsRequest::instant("{ } | count_over_time()", f.t0 + S, f.t0 + 2 * S),
    );
    assert_eq!(answer.series[0].samples[0].value, 1.0, "only B, at +2 s");
}

#[test]
fn exemplars_are_real_spans_of_their_series() {
    let answer = range("{ } | rate() by (resource.service.name)");
    let mut seen = 0;
    for s in &answer.series {
        let service = s.label("resource.service.name").unwrap().to_string();
        let mut traces = std::collections::HashSet::new();
        for e in &s.exemplars {
            seen += 1;
            assert!(traces.insert(e.trace_id), "one exemplar per trace");
            // The span is in the data, of this series' service, and its value is the rate of
            // its interval.
            let spans = data(fixture().t0);
            let rs = spans
                .iter()
                .find(|r| {
                    r.scope_spans[0]
                        .spans
                        .iter()
                        .any(|x| x.span_id == e.span_id && x.trace_id == e.trace_id.0.to_vec())
                })
                .unwrap_or_else(|| panic!("exemplar {e:?} is not a span of the data"));
            let owner = &rs.resource.as_ref().unwrap().attributes[0];
            assert_eq!(
                owner.value.as_ref().unwrap().value,
                Some(Value::StringValue(service.clone()))
            );
            let sample = s
                .samples
                .iter()
                .find(|x| {
                    x.timestamp_ms >= e.timestamp_ms && x.timestamp_ms - e.timestamp_ms <= 10_000
                })
                .unwrap();
            assert_eq!(e.value, sample.value);
        }
    }
    assert!(seen >= 2, "{answer:#?}");
    // Capped by the request, and by `with(exemplars=...)`.
    let f = fixture();
    let req = MetricsRequest::range("{ } | rate()", f.t0, f.t0 + 30 * S)
        .step(Duration::from_secs(10))
        .exemplars(1);
    assert_eq!(both("one", &req).series[0].exemplars.len(), 1);
    let none = range("{ } | rate() with(exemplars=false)");
    assert!(none.series[0].exemplars.is_empty());
}

#[test]
fn sampling_hints_are_accepted() {
    let all = simple(&range("{ } | count_over_time()"));
    assert_eq!(
        simple(&range("{ } | count_over_time() with(sample=true)")),
        all
    );
    // A fixed fraction reads part of the traces and scales the counts back up.
    let sampled = range("{ } | count_over_time() with(sample=0.5)");
    assert!(sampled.series.len() <= 1);
}

#[test]
fn bad_requests_are_refused_with_tempos_messages() {
    let f = fixture();
    let err = |req: MetricsRequest| -> String {
        match f.head.metrics(TENANT, &req) {
            Err(MetricsError::Query(e)) => e.to_string(),
            other => panic!("{other:?}"),
        }
    };
    let t0 = f.t0;
    assert!(err(MetricsRequest::range("{ }", t0, t0 + S)).contains("not a metrics query"));
    assert_eq!(
        err(MetricsRequest::range("{ } | rate()", t0 + S, t0)),
        "end must be greater than start"
    );
    assert_eq!(
        err(MetricsRequest::range(
            "{ } | rate()",
            t0,
            t0 + 25 * 3600 * S
        )),
        "metrics query time range exceeds the maximum allowed duration of 24h0m0s"
    );
    assert_eq!(
        err(MetricsRequest::range("{ } | rate()", t0, t0 + 3600 * S)
            .step(Duration::from_millis(100))),
        "step of 100ms is too small, minimum step for given range is 360ms"
    );
    assert_eq!(
        err(MetricsRequest::range("{ } | rate()", t0, t0 + S).step(Duration::ZERO)),
        "step of 0s is too small, minimum step for given range is 100µs"
    );
    // With no configured limit on steps, a million is still the most.
    let dir = tempfile::tempdir().unwrap();
    let unlimited = Store::builder()
        .wal_dir(dir.path())
        .metrics_max_intervals(0)
        .metrics_max_duration(Duration::ZERO)
        .open()
        .unwrap();
    let req =
        MetricsRequest::range("{ } | rate()", t0, t0 + 3600 * S).step(Duration::from_millis(1));
    match unlimited.metrics(TENANT, &req) {
        Err(MetricsError::Query(e)) => assert_eq!(
            e.to_string(),
            "step of 1ms is too small, minimum step for given range is 3.6ms"
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        f.head
            .metrics(TENANT, &MetricsRequest::range("{ | rate()", t0, t0 + S)),
        Err(MetricsError::Query(QueryError::TraceQl(_)))
    ));
}
