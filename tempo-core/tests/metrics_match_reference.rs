//! Metrics queries over random spans agree three ways: the engine on the head (trace by
//! trace), the engine on blocks (column by column where it can), and a reference written here
//! that walks the spans one at a time with Tempo's rules. Quantiles, which the engine reads
//! from power-of-two buckets, must lie in the same bucket as the exact value: within a factor
//! of two.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use tempo_core::backend::MemoryBackend;
use tempo_core::model::{
    AnyValue, KeyValue, Resource, ResourceSpans, ScopeSpans, Span, Status, Value,
};
use tempo_core::{Batch, MetricsRequest, MetricsResponse, Store};

const TENANT: &str = "reference";
const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;
const SERVICES: [&str; 3] = ["a", "b", "c"];
const NAMES: [&str; 3] = ["get", "put", "query"];

/// One span of the random data.
#[derive(Debug, Clone)]
struct Spec {
    trace: u8,
    service: usize,
    name: usize,
    /// Offset from `t0`, milliseconds.
    start_ms: u64,
    duration_ms: u64,
    error: bool,
    code: Option<i64>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0u8..12,
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

#[derive(Debug, Clone, Copy)]
enum Filter {
    All,
    Errors,
    Slow,
    Service,
    Code,
    NameRegex,
}

impl Filter {
    fn text(self) -> &'static str {
        match self {
            Filter::All => "{ }",
            Filter::Errors => "{ status = error }",
            Filter::Slow => "{ duration > 1s }",
            Filter::Service => r#"{ resource.service.name = "a" }"#,
            Filter::Code => "{ span.code = 200 }",
            Filter::NameRegex => r#"{ name =~ "g.*|q.*" }"#,
        }
    }

    fn keeps(self, s: &Spec) -> bool {
        match self {
            Filter::All => true,
            Filter::Errors => s.error,
            Filter::Slow => s.duration_ms > 1000,
            Filter::Service => s.service == 0,
            Filter::Code => s.code == Some(200),
            Filter::NameRegex => NAMES[s.name] != "put",
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum By {
    None,
    Service,
    Name,
    Status,
    Code,
}

impl By {
    fn text(self) -> &'static str {
        match self {
            By::None => "",
            By::Service => " by (resource.service.name)",
            By::Name => " by (name)",
            By::Status => " by (status)",
            By::Code => " by (span.code)",
        }
    }

    /// The label of a span's series, as Tempo writes it.
    fn label(self, s: &Spec, func: &str) -> String {
        match self {
            By::None => format!(r#"__name__="{func}""#),
            By::Service => format!(r#"resource.service.name="{}""#, SERVICES[s.service]),
            By::Name => format!(r#"name="{}""#, NAMES[s.name]),
            By::Status => format!(r#"status="{}""#, if s.error { "error" } else { "unset" }),
            By::Code => match s.code {
                Some(c) => format!(r#"span.code="{c}""#),
                None => r#"span.code="nil""#.to_owned(),
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Func {
    Count,
    Rate,
    Min,
    Max,
    Sum,
    Avg,
    Quantile,
    Histogram,
}

impl Func {
    fn name(self) -> &'static str {
        match self {
            Func::Count => "count_over_time",
            Func::Rate => "rate",
            Func::Min => "min_over_time",
            Func::Max => "max_over_time",
            Func::Sum => "sum_over_time",
            Func::Avg => "avg_over_time",
            Func::Quantile => "quantile_over_time",
            Func::Histogram => "histogram_over_time",
        }
    }

    fn call(self) -> String {
        match self {
            Func::Count | Func::Rate => format!("{}()", self.name()),
            Func::Quantile => "quantile_over_time(duration, 0.5)".to_owned(),
            other => format!("{}(duration)", other.name()),
        }
    }
}

fn kv(key: &str, v: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
    }
}

fn batch(t0: u64, specs: &[Spec]) -> Batch {
    let mut out = Vec::new();
    for (i, s) in specs.iter().enumerate() {
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
                    trace_id: vec![s.trace + 1; 16],
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

/// The reference: Tempo's rules, span by span.
fn reference(t0: u64, specs: &[Spec], f: Filter, func: Func, by: By, step: u64) -> Answer {
    let (start, end) = (t0, t0 + 60 * S);
    let mut first = start / step * step;
    let last = end.div_ceil(step) * step;
    if first > step {
        first -= step;
    }
    let len = ((last - first) / step) as usize;
    let ts = |i: usize| ((first + (i as u64 + 1) * step) / MS) as i64;
    // Per series: values per interval.
    let mut groups: BTreeMap<String, Vec<Vec<f64>>> = BTreeMap::new();
    for s in specs.iter().filter(|s| f.keeps(s)) {
        let at = t0 + s.start_ms * MS;
        if at <= first || at > last {
            continue;
        }
        let i = ((at - first - 1) / step) as usize;
        groups
            .entry(by.label(s, func.name()))
            .or_insert_with(|| vec![Vec::new(); len])[i]
            .push(s.duration_ms as f64 * MS as f64);
    }
    if matches!(by, By::None) && matches!(func, Func::Count | Func::Rate) {
        // An ungrouped count exists, zero, even when nothing matched.
        groups
            .entry(format!(r#"__name__="{}""#, func.name()))
            .or_insert_with(|| vec![Vec::new(); len]);
    }
    let mut out = Answer::new();
    for (label, per) in groups {
        match func {
            Func::Count | Func::Rate => {
                let scale = if matches!(func, Func::Rate) {
                    step as f64 / 1e9
                } else {
                    1.0
                };
                out.insert(
                    format!("{{{label}}}"),
                    (0..len)
                        .map(|i| (ts(i), per[i].len() as f64 / scale))
                        .collect(),
                );
            }
            Func::Min | Func::Max | Func::Sum | Func::Avg => {
                let samples = (0..len)
                    .filter(|&i| !per[i].is_empty())
                    .map(|i| {
                        let v = &per[i];
                        let x = match func {
                            Func::Min => v.iter().copied().fold(f64::MAX, f64::min),
                            Func::Max => v.iter().copied().fold(0.0, f64::max),
                            Func::Sum => v.iter().sum(),
                            _ => v.iter().sum::<f64>() / v.len() as f64,
                        };
                        (ts(i), x / 1e9)
                    })
                    .collect();
                out.insert(format!("{{{label}}}"), samples);
            }
            Func::Quantile => {
                // The exact median: the value of rank ceil(n/2).
                let samples = (0..len)
                    .map(|i| {
                        let mut v = per[i].clone();
                        if v.is_empty() {
                            return (ts(i), 0.0);
                        }
                        v.sort_by(f64::total_cmp);
                        let rank = ((0.5 * v.len() as f64).ceil() as usize).max(1);
                        (ts(i), v[rank - 1] / 1e9)
                    })
                    .collect();
                out.insert(format!(r#"{{{label}, p="0.5"}}"#), samples);
            }
            Func::Histogram => {
                let mut buckets: BTreeMap<i32, Vec<f64>> = BTreeMap::new();
                for (i, v) in per.iter().enumerate() {
                    for d in v {
                        let b = d.log2().ceil() as i32;
                        buckets.entry(b).or_insert_with(|| vec![0.0; len])[i] += 1.0;
                    }
                }
                for (b, counts) in buckets {
                    out.insert(
                        format!(r#"{{{label}, __bucket="{}"}}"#, 2f64.powi(b) / 1e9),
                        counts
                            .into_iter()
                            .enumerate()
                            .map(|(i, c)| (ts(i), c))
                            .collect(),
                    );
                }
            }
        }
    }
    out
}

fn same(a: &Answer, b: &Answer, quantile: bool) -> Result<(), String> {
    if a.keys().collect::<Vec<_>>() != b.keys().collect::<Vec<_>>() {
        return Err(format!("series differ:\n{a:#?}\n{b:#?}"));
    }
    for (k, x) in a {
        let y = &b[k];
        if x.len() != y.len() {
            return Err(format!("{k}: {x:?} vs {y:?}"));
        }
        for ((t1, v1), (t2, v2)) in x.iter().zip(y) {
            let close = if quantile {
                // Same power-of-two bucket: within a factor of two.
                (*v1 == 0.0 && *v2 == 0.0) || (v1 / v2 <= 2.0 && v2 / v1 <= 2.0)
            } else {
                (v1 - v2).abs() <= 1e-9 * v1.abs().max(1.0)
            };
            if t1 != t2 || !close {
                return Err(format!("{k}: {x:?} vs {y:?}"));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn head_blocks_and_reference_agree(
        specs in prop::collection::vec(spec(), 1..60),
        filter in prop::sample::select(vec![
            Filter::All, Filter::Errors, Filter::Slow, Filter::Service, Filter::Code,
            Filter::NameRegex,
        ]),
        func in prop::sample::select(vec![
            Func::Count, Func::Rate, Func::Min, Func::Max, Func::Sum, Func::Avg,
            Func::Quantile, Func::Histogram,
        ]),
        by in prop::sample::select(vec![By::None, By::Service, By::Name, By::Status, By::Code]),
        step_s in prop::sample::select(vec![5u64, 10, 15, 60]),
    ) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let t0 = (now - 600) / 60 * 60 * S;
        let head = Store::in_memory();
        head.ingest(TENANT, batch(t0, &specs)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let blocks = Store::builder()
            .wal_dir(dir.path())
            .blocks(Arc::new(MemoryBackend::new()))
            .flush_check_period(Duration::from_secs(3600))
            .ingestion_time_range_slack(Duration::from_secs(3600))
            .open()
            .unwrap();
        blocks.ingest(TENANT, batch(t0, &specs)).unwrap();
        blocks.flush_blocks().unwrap();

        let q = format!("{} | {}{}", filter.text(), func.call(), by.text());
        let req = MetricsRequest::range(q.clone(), t0, t0 + 60 * S)
            .step(Duration::from_secs(step_s));
        let on_head = answer(&head.metrics(TENANT, &req).unwrap());
        let on_blocks = answer(&blocks.metrics(TENANT, &req).unwrap());
        let want = reference(t0, &specs, filter, func, by, step_s * S);
        let quantile = matches!(func, Func::Quantile);
        prop_assert!(same(&on_head, &on_blocks, false).is_ok(), "{q}: head vs blocks: {}", same(&on_head, &on_blocks, false).unwrap_err());
        prop_assert!(same(&on_head, &want, quantile).is_ok(), "{q}: engine vs reference: {}", same(&on_head, &want, quantile).unwrap_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// `compare()` counts every attribute of every span: the columns of blocks and the traces
    /// of the head agree, and each attribute's baseline and selection add up to its totals.
    #[test]
    fn compare_agrees_on_head_and_blocks(
        specs in prop::collection::vec(spec(), 1..60),
        filter in prop::sample::select(vec![Filter::All, Filter::Service, Filter::Slow]),
        selection in prop::sample::select(vec![Filter::Errors, Filter::Code, Filter::NameRegex]),
        step_s in prop::sample::select(vec![10u64, 60]),
    ) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let t0 = (now - 600) / 60 * 60 * S;
        let head = Store::in_memory();
        head.ingest(TENANT, batch(t0, &specs)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let blocks = Store::builder()
            .wal_dir(dir.path())
            .blocks(Arc::new(MemoryBackend::new()))
            .flush_check_period(Duration::from_secs(3600))
            .ingestion_time_range_slack(Duration::from_secs(3600))
            .open()
            .unwrap();
        blocks.ingest(TENANT, batch(t0, &specs)).unwrap();
        blocks.flush_blocks().unwrap();
        let q = format!("{} | compare({}, 100)", filter.text(), selection.text());
        let req = MetricsRequest::range(q.clone(), t0, t0 + 60 * S)
            .step(Duration::from_secs(step_s))
            .max_series(0);
        let on_head = answer(&head.metrics(TENANT, &req).unwrap());
        let on_blocks = answer(&blocks.metrics(TENANT, &req).unwrap());
        prop_assert!(same(&on_head, &on_blocks, false).is_ok(), "{q}: {}", same(&on_head, &on_blocks, false).unwrap_err());
        // The spans the filter keeps, each counted once per side for `name`.
        let kept = specs.iter().filter(|s| filter.keeps(s) && s.start_ms <= 60_000).count() as f64;
        let total: f64 = on_head
            .iter()
            .filter(|(k, _)| k.contains("_total") && k.contains(", name="))
            .flat_map(|(_, v)| v.iter().map(|(_, x)| x))
            .sum();
        prop_assert_eq!(total, kept, "{}", q);
    }
}
