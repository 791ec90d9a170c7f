//! Two stores share the work as two servers on one bucket do: store A answers from its head
//! and its blocks, store B from its head only (its blocks are on the bucket, A's to read, so
//! B never answers from them). Random traces are spread over A's head, A's blocks, B's head
//! and B's blocks; A's answer with B's head folded in (metrics: B's running values, sent as
//! bytes, folded before the series are finished; search: the answers combined; tags: the
//! unions) equals the answer of one store holding every span but those of B's blocks.
//! Exemplars, a sample at most the query's number per series, are not compared.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use tempo_core::backend::MemoryBackend;
use tempo_core::model::{
    AnyValue, KeyValue, Resource, ResourceSpans, ScopeSpans, Span, Status, Value,
};
use tempo_core::{
    Batch, MetricsPartial, MetricsRequest, MetricsResponse, SearchRequest, SearchResponse, Store,
    TagScope, TimeRange,
};

const TENANT: &str = "peers";
const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;
const SERVICES: [&str; 3] = ["a", "b", "c"];
const NAMES: [&str; 3] = ["get", "put", "query"];
const TRACES: usize = 16;

/// Where a trace's spans are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    HeadA,
    BlocksA,
    HeadB,
    /// On the bucket through B: A reads them, B must not answer them.
    BlocksB,
}

#[derive(Debug, Clone)]
struct Spec {
    trace: usize,
    service: usize,
    name: usize,
    start_ms: u64,
    duration_ms: u64,
    error: bool,
    code: Option<i64>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0..TRACES,
        0usize..3,
        0usize..3,
        0u64..70_000,
        1u64..3_000,
        any::<bool>(),
        prop::option::of(prop::sample::select(vec![200i64, 404, 500])),
    )
        .prop_map(
            |(trace, service, name, start_ms, duration_ms, error, code)| Spec {
                trace,
                service,
                name,
                start_ms,
                duration_ms,
                error,
                code,
            },
        )
}

fn place() -> impl Strategy<Value = Place> {
    prop::sample::select(vec![
        Place::HeadA,
        Place::BlocksA,
        Place::HeadB,
        Place::BlocksB,
    ])
}

fn kv(key: &str, v: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
    }
}

/// The spans of `specs` (indexed as in the whole list, for unique span IDs) whose trace is
/// in one of `places`.
fn batch(t0: u64, specs: &[Spec], places: &[Place], only: &[Place]) -> Batch {
    let mut out = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        if !only.contains(&places[s.trace]) {
            continue;
        }
        out.push(ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv(
                    "service.name",
                    Value::StringValue(SERVICES[s.service].into()),
                )],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![s.trace as u8 + 1; 16],
                    span_id: (i as u64 + 1).to_le_bytes().to_vec(),
                    name: NAMES[s.name].into(),
                    kind: 2,
                    start_time_unix_nano: t0 + s.start_ms * MS,
                    end_time_unix_nano: t0 + (s.start_ms + s.duration_ms) * MS,
                    attributes: s
                        .code
                        .map(|c| vec![kv("code", Value::IntValue(c))])
                        .unwrap_or_default(),
                    status: Some(Status {
                        code: if s.error { 2 } else { 0 },
                        message: String::new(),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        });
    }
    Batch::new(out)
}

/// A store with blocks in memory, holding `blocks` in blocks and then `head` in its head.
fn store(dir: &std::path::Path, blocks: Batch, head: Batch) -> Store {
    let store = Store::builder()
        .wal_dir(dir)
        .blocks(Arc::new(MemoryBackend::new()))
        .flush_check_period(Duration::from_secs(3600))
        .ingestion_time_range_slack(Duration::from_secs(3600))
        .open()
        .unwrap();
    store.ingest(TENANT, blocks).unwrap();
    store.flush_blocks().unwrap();
    store.ingest(TENANT, head).unwrap();
    store
}

const METRICS_QUERIES: &[&str] = &[
    "{ } | count_over_time()",
    "{ } | rate() by (resource.service.name)",
    "{ status = error } | count_over_time() by (name)",
    "{ } | sum_over_time(duration) by (name)",
    "{ } | min_over_time(duration)",
    "{ } | max_over_time(duration) by (span.code)",
    "{ } | avg_over_time(duration) by (resource.service.name)",
    "{ } | quantile_over_time(duration, 0.5, 0.9) by (resource.service.name)",
    "{ } | histogram_over_time(duration)",
    "{ } | compare({ status = error }, 2)",
    "{ } | count_over_time() by (name) | topk(2)",
    "({ status = error } | count_over_time()) / ({ } | count_over_time())",
    "{ } | count_over_time() with(sample=0.5)",
];

type Answer = BTreeMap<String, Vec<(i64, f64)>>;

fn answer(r: &MetricsResponse) -> Answer {
    r.series
        .iter()
        .map(|s| {
            (
                s.prom_labels(),
                s.samples
                    .iter()
                    .map(|x| (x.timestamp_ms, x.value))
                    .collect(),
            )
        })
        .collect()
}

/// Equal series, samples equal to rounding (sums added in another order).
fn same(a: &Answer, b: &Answer) -> Result<(), String> {
    if a.keys().collect::<Vec<_>>() != b.keys().collect::<Vec<_>>() {
        return Err(format!("series differ:\n{a:#?}\n{b:#?}"));
    }
    for (k, x) in a {
        let y = &b[k];
        let close = x.len() == y.len()
            && x.iter().zip(y).all(|((t1, v1), (t2, v2))| {
                t1 == t2 && (v1 - v2).abs() <= 1e-9 * v1.abs().max(1.0)
            });
        if !close {
            return Err(format!("{k}: {x:?} vs {y:?}"));
        }
    }
    Ok(())
}

/// What a search result says of its traces, but which spans of a spanset it shows.
fn found(r: &SearchResponse) -> Vec<String> {
    r.traces
        .iter()
        .map(|t| {
            let matched: Vec<u64> = t.span_sets.iter().map(|s| s.matched).collect();
            format!(
                "{} {} {} {:?} {:?} {matched:?} {:?}",
                t.trace_id,
                t.start_time_unix_nano,
                t.duration_nanos,
                t.root_service_name,
                t.root_trace_name,
                t.service_stats
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn a_with_the_head_of_b_answers_as_one_store(
        specs in prop::collection::vec(spec(), 1..80),
        places in prop::collection::vec(place(), TRACES),
        step_s in prop::sample::select(vec![5u64, 15, 60]),
    ) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let t0 = (now - 600) / 60 * 60 * S;
        let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
        let a = store(
            dirs[0].path(),
            batch(t0, &specs, &places, &[Place::BlocksA]),
            batch(t0, &specs, &places, &[Place::HeadA]),
        );
        let b = store(
            dirs[1].path(),
            batch(t0, &specs, &places, &[Place::BlocksB]),
            batch(t0, &specs, &places, &[Place::HeadB]),
        );
        // One store with all that A and B's head hold, half in blocks.
        let one = store(
            dirs[2].path(),
            batch(t0, &specs, &places, &[Place::BlocksA]),
            batch(t0, &specs, &places, &[Place::HeadA, Place::HeadB]),
        );

        for q in METRICS_QUERIES {
            for req in [
                MetricsRequest::range(*q, t0, t0 + 60 * S).step(Duration::from_secs(step_s)),
                MetricsRequest::instant(*q, t0, t0 + 60 * S),
            ] {
                let bytes = b.metrics_partial_in_head(TENANT, &req).unwrap().encode();
                let partial = MetricsPartial::decode(&bytes).unwrap();
                prop_assert!(partial.fits(&req));
                let both = a.metrics_with(TENANT, &req, vec![partial]).unwrap();
                let want = one.metrics(TENANT, &req).unwrap();
                prop_assert!(!both.partial, "{q}: {:?}", both.partial_reason);
                let (x, y) = (answer(&both), answer(&want));
                prop_assert!(same(&x, &y).is_ok(), "{q} (instant: {}): {}", req.instant, same(&x, &y).unwrap_err());
            }
        }

        for q in ["{ }", "{ status = error }", r#"{ resource.service.name = "a" }"#, "{ duration > 1s }"] {
            for limit in [3, 20] {
                let req = SearchRequest::new(q).limit(limit);
                let both = SearchResponse::combine(
                    vec![a.search(TENANT, &req).unwrap(), b.search_head(TENANT, &req).unwrap()],
                    limit,
                );
                let want = one.search(TENANT, &req).unwrap();
                prop_assert_eq!(found(&both), found(&want), "{} limit {}", q, limit);
            }
        }

        // Tags: B also answers from the blocks it wrote in the last two polls (all of them,
        // here), which A would read from the bucket anyway: the union is that of a store
        // holding every span. With a limit that cuts nothing, the union is that store's
        // answer; with one
        // that cuts, which values a store lists first is its own, so the union cut at the
        // limit is as long and within the one store's whole answer.
        let full = 1000;
        let names = |limit: usize| {
            let mine = a.tag_names(TENANT, &[], None, TimeRange::ALL, limit).unwrap();
            let theirs = b.tag_names_in_head(TENANT, &[], None, TimeRange::ALL, limit).unwrap();
            let mut union: BTreeMap<TagScope, BTreeSet<String>> = BTreeMap::new();
            for (scope, names) in mine.into_iter().chain(theirs) {
                union.entry(scope).or_default().extend(names);
            }
            union
                .into_iter()
                .map(|(scope, names)| (scope, names.into_iter().take(limit).collect::<Vec<_>>()))
                .collect::<BTreeMap<TagScope, Vec<String>>>()
        };
        let every = store(
            dirs[3].path(),
            batch(t0, &specs, &places, &[Place::BlocksA, Place::BlocksB]),
            batch(t0, &specs, &places, &[Place::HeadA, Place::HeadB]),
        );
        let one = every;
        let want: BTreeMap<TagScope, Vec<String>> = one
            .tag_names(TENANT, &[], None, TimeRange::ALL, full)
            .unwrap()
            .into_iter()
            .collect();
        prop_assert_eq!(&names(full), &want);
        for (scope, cut) in names(2) {
            let all = &want[&scope];
            prop_assert_eq!(cut.len(), all.len().min(2));
            prop_assert!(cut.iter().all(|n| all.contains(n)));
        }
        let values = |tag: &str, literal: bool, filter: Option<&str>, limit: usize| {
            let (mine, theirs) = if literal {
                (
                    a.tag_values_literal(TENANT, tag, filter, TimeRange::ALL, limit).unwrap(),
                    b.tag_values_literal_in_head(TENANT, tag, filter, TimeRange::ALL, limit).unwrap(),
                )
            } else {
                (
                    a.tag_values(TENANT, tag, filter, TimeRange::ALL, limit).unwrap(),
                    b.tag_values_in_head(TENANT, tag, filter, TimeRange::ALL, limit).unwrap(),
                )
            };
            mine.into_iter()
                .chain(theirs)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .take(limit)
                .collect::<Vec<_>>()
        };
        for (tag, literal, filter) in [
            ("resource.service.name", false, None),
            ("name", false, None),
            ("span.code", false, None),
            ("status", false, None),
            ("code", true, Some("{ status = error }")),
        ] {
            let want = if literal {
                one.tag_values_literal(TENANT, tag, filter, TimeRange::ALL, full).unwrap()
            } else {
                one.tag_values(TENANT, tag, filter, TimeRange::ALL, full).unwrap()
            };
            prop_assert_eq!(&values(tag, literal, filter, full), &want, "{}", tag);
            let cut = values(tag, literal, filter, 2);
            prop_assert_eq!(cut.len(), want.len().min(2), "{}", tag);
            prop_assert!(cut.iter().all(|v| want.contains(v)), "{}", tag);
        }
    }
}

/// A partial gathered for another query is left out, and the answer says so.
#[test]
fn a_partial_of_another_query_is_left_out() {
    let t0 = 1_000 * S;
    let a = Store::in_memory();
    let b = Store::in_memory();
    let specs = vec![Spec {
        trace: 0,
        service: 0,
        name: 0,
        start_ms: 5_000,
        duration_ms: 10,
        error: false,
        code: None,
    }];
    b.ingest(TENANT, batch(t0, &specs, &[Place::HeadB], &[Place::HeadB]))
        .unwrap();
    let req = MetricsRequest::instant("{ } | count_over_time()", t0, t0 + 60 * S);
    let other = MetricsRequest::instant("{ } | count_over_time()", t0, t0 + 30 * S);
    let partial = b.metrics_partial_in_head(TENANT, &other).unwrap();
    assert!(!partial.fits(&req));
    let answer = a.metrics_with(TENANT, &req, vec![partial]).unwrap();
    assert!(answer.partial);
    assert!(
        answer
            .partial_reason
            .unwrap()
            .contains("gathered for another query"),
    );
    let partial = b.metrics_partial_in_head(TENANT, &req).unwrap();
    let answer = a.metrics_with(TENANT, &req, vec![partial]).unwrap();
    assert!(!answer.partial);
    assert_eq!(answer.series[0].samples[0].value, 1.0);
}
