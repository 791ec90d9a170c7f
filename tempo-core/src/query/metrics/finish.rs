//! finish: from the merged running values to the answer's series.
//!
//! Each leaf's series become values per interval (NaN where there is no sample); second
//! stages, filters and arithmetic apply to those; the survivors become [`TimeSeries`] in a
//! stable order, capped, with the query's exemplars shared among them.

use std::collections::HashMap;

use tempo_traceql::{BinaryOp, SecondStageFn};

use super::acc::{KeyVal, LeafAcc, Values, bucket_bound};
use super::plan::{Func, Leaf, Node, Plan, Post};
use super::{
    Exemplar, Grid, Label, LabelValue, MetricsRequest, MetricsResponse, Sample, TimeSeries,
};

/// Label of an ungrouped series: the function's name.
const NAME: &str = "__name__";
/// Label of a quantile's series: the quantile.
const QUANTILE: &str = "p";
/// Label of a histogram's series: the bucket's upper bound.
const BUCKET: &str = "__bucket";
/// Label of `compare()`'s series: what they count.
const META_TYPE: &str = "__meta_type";

/// A series being finished: NaN where it has no sample.
#[derive(Debug, Clone)]
struct Out {
    labels: Vec<Label>,
    values: Vec<f64>,
    exemplars: Vec<Exemplar>,
}

/// What a node of the query tree evaluates to.
enum Result_ {
    Const(f64),
    Series(Vec<Out>),
}

/// Builds the answer from the merged leaves.
pub(crate) fn finish(
    plan: &Plan,
    grid: &Grid,
    leaves: Vec<LeafAcc>,
    req: &MetricsRequest,
    exemplars: usize,
) -> MetricsResponse {
    let mut leaves: Vec<Option<Vec<Out>>> = plan
        .leaves
        .iter()
        .zip(leaves)
        .map(|(leaf, acc)| Some(leaf_series(leaf, grid, acc)))
        .collect();
    let outs = match eval(&plan.root, &mut leaves) {
        Result_::Series(s) => s,
        Result_::Const(_) => Vec::new(),
    };
    let mut series: Vec<TimeSeries> = outs
        .into_iter()
        .filter_map(|o| {
            let samples: Vec<Sample> = o
                .values
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .map(|(i, v)| Sample {
                    timestamp_ms: grid.timestamp_ms(i),
                    value: *v,
                })
                .collect();
            (!samples.is_empty()).then_some(TimeSeries {
                labels: o.labels,
                samples,
                exemplars: o.exemplars,
            })
        })
        .collect();
    series.sort_by(|a, b| order(&a.labels, &b.labels));
    let mut response = MetricsResponse::default();
    if req.max_series > 0 && series.len() > req.max_series {
        response.partial = true;
        response.partial_reason = Some(format!(
            "Response exceeds maximum series limit of {}, a partial response is returned",
            req.max_series
        ));
        series.truncate(req.max_series);
    }
    share_exemplars(&mut series, exemplars);
    for s in &mut series {
        s.exemplars.sort_by_key(|e| e.timestamp_ms);
    }
    response.series = series;
    response
}

/// Tempo's order of series: fewer labels first, then by label names, then by values.
fn order(a: &[Label], b: &[Label]) -> std::cmp::Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.iter().map(|l| &l.name).cmp(b.iter().map(|l| &l.name)))
        .then_with(|| {
            a.iter()
                .map(|l| l.value.to_string())
                .cmp(b.iter().map(|l| l.value.to_string()))
        })
}

/// Keeps at most `cap` exemplars over all series, taking one from each series in turn.
fn share_exemplars(series: &mut [TimeSeries], cap: usize) {
    let total: usize = series.iter().map(|s| s.exemplars.len()).sum();
    if total <= cap {
        return;
    }
    let mut keep = vec![0usize; series.len()];
    let mut left = cap;
    let mut progress = true;
    while left > 0 && progress {
        progress = false;
        for (i, s) in series.iter().enumerate() {
            if left > 0 && keep[i] < s.exemplars.len() {
                keep[i] += 1;
                left -= 1;
                progress = true;
            }
        }
    }
    for (s, k) in series.iter_mut().zip(keep) {
        s.exemplars.truncate(k);
    }
}

/// Evaluates a node, taking the leaves' series (each leaf is used once).
fn eval(node: &Node, leaves: &mut [Option<Vec<Out>>]) -> Result_ {
    match node {
        Node::Const(c) => Result_::Const(*c),
        Node::Leaf(i) => Result_::Series(
            leaves
                .get_mut(*i)
                .and_then(Option::take)
                .unwrap_or_default(),
        ),
        Node::Post { node, stages } => {
            let mut r = eval(node, leaves);
            for stage in stages {
                r = match r {
                    Result_::Series(s) => Result_::Series(post(*stage, s)),
                    c @ Result_::Const(_) => c,
                };
            }
            r
        }
        Node::Binary { op, lhs, rhs } => {
            let l = eval(lhs, leaves);
            let r = eval(rhs, leaves);
            binary(*op, l, r)
        }
    }
}

/// Whether `op` compares rather than computes.
fn is_comparison(op: BinaryOp) -> bool {
    matches!(
        op,
        BinaryOp::Eq | BinaryOp::Neq | BinaryOp::Lt | BinaryOp::Lte | BinaryOp::Gt | BinaryOp::Gte
    )
}

/// `l op r` for numbers: arithmetic, or for a comparison 1 when it holds and NaN when not.
fn apply(op: BinaryOp, l: f64, r: f64) -> f64 {
    match op {
        BinaryOp::Add => l + r,
        BinaryOp::Sub => l - r,
        BinaryOp::Mul => l * r,
        BinaryOp::Div => l / r,
        BinaryOp::Mod => l % r,
        BinaryOp::Pow => l.powf(r),
        BinaryOp::Eq => holds(l == r),
        BinaryOp::Neq => holds(l != r),
        BinaryOp::Lt => holds(l < r),
        BinaryOp::Lte => holds(l <= r),
        BinaryOp::Gt => holds(l > r),
        BinaryOp::Gte => holds(l >= r),
        _ => f64::NAN,
    }
}

fn holds(b: bool) -> f64 {
    if b { 1.0 } else { f64::NAN }
}

/// A series sample combined with a number: arithmetic computes, a comparison keeps the
/// series' sample where it holds.
fn with_number(op: BinaryOp, v: f64, n: f64, series_left: bool) -> f64 {
    if v.is_nan() {
        return v;
    }
    let (l, r) = if series_left { (v, n) } else { (n, v) };
    let out = apply(op, l, r);
    if is_comparison(op) {
        if out.is_nan() { out } else { v }
    } else {
        out
    }
}

/// The labels that match series across the sides of a binary operation: all but the name.
fn match_key(labels: &[Label]) -> String {
    let parts: Vec<String> = labels
        .iter()
        .filter(|l| l.name != NAME)
        .map(|l| format!("{}={:?}", l.name, l.value))
        .collect();
    parts.join(",")
}

/// `l op r` between nodes.
fn binary(op: BinaryOp, l: Result_, r: Result_) -> Result_ {
    match (l, r) {
        (Result_::Const(a), Result_::Const(b)) => Result_::Const(apply(op, a, b)),
        (Result_::Series(mut s), Result_::Const(n)) => {
            for o in &mut s {
                o.values
                    .iter_mut()
                    .for_each(|v| *v = with_number(op, *v, n, true));
            }
            Result_::Series(s)
        }
        (Result_::Const(n), Result_::Series(mut s)) => {
            for o in &mut s {
                o.values
                    .iter_mut()
                    .for_each(|v| *v = with_number(op, *v, n, false));
            }
            Result_::Series(s)
        }
        (Result_::Series(ls), Result_::Series(rs)) => {
            // One-to-one by labels; a side with a single unlabelled series applies to every
            // series of the other.
            let single = |s: &[Out]| s.len() == 1 && match_key(&s[0].labels).is_empty();
            let right: HashMap<String, &Out> =
                rs.iter().map(|o| (match_key(&o.labels), o)).collect();
            let mut out = Vec::new();
            if single(&ls) && !single(&rs) {
                let l = &ls[0];
                for r in &rs {
                    out.push(combine(op, l, r, r.labels.clone()));
                }
            } else {
                for l in &ls {
                    let r = if single(&rs) {
                        rs.first()
                    } else {
                        right.get(&match_key(&l.labels)).copied()
                    };
                    if let Some(r) = r {
                        out.push(combine(op, l, r, l.labels.clone()));
                    }
                }
            }
            Result_::Series(out)
        }
    }
}

/// Two matched series combined sample by sample.
fn combine(op: BinaryOp, l: &Out, r: &Out, labels: Vec<Label>) -> Out {
    let values = l
        .values
        .iter()
        .zip(&r.values)
        .map(|(a, b)| {
            if a.is_nan() || b.is_nan() {
                return f64::NAN;
            }
            let v = apply(op, *a, *b);
            if is_comparison(op) && !v.is_nan() {
                *a
            } else {
                v
            }
        })
        .collect();
    // As Tempo's, the result of arithmetic between queries has no exemplars.
    Out {
        labels,
        values,
        exemplars: Vec::new(),
    }
}

/// Applies a second stage or a filter to finished series.
fn post(stage: Post, mut series: Vec<Out>) -> Vec<Out> {
    match stage {
        Post::Filter { op, value } => {
            for o in &mut series {
                o.values
                    .iter_mut()
                    .for_each(|v| *v = with_number(op, *v, value, true));
            }
        }
        Post::Keep { func, limit } => {
            // At each interval, the `limit` series with the highest (lowest) values; ties go
            // to the series first in Tempo's order.
            series.sort_by(|a, b| order(&a.labels, &b.labels));
            let len = series.first().map_or(0, |o| o.values.len());
            let mut ranked: Vec<usize> = Vec::with_capacity(series.len());
            // Whether each (interval, series) is kept.
            let mut keep = vec![false; len * series.len()];
            for (i, kept) in keep.chunks_mut(series.len().max(1)).enumerate() {
                ranked.clear();
                ranked.extend((0..series.len()).filter(|&s| !series[s].values[i].is_nan()));
                ranked.sort_by(|&a, &b| {
                    let (x, y) = (series[a].values[i], series[b].values[i]);
                    match func {
                        SecondStageFn::TopK => y.total_cmp(&x),
                        SecondStageFn::BottomK => x.total_cmp(&y),
                    }
                });
                for &s in ranked.iter().take(limit) {
                    kept[s] = true;
                }
            }
            let width = series.len();
            for (s, o) in series.iter_mut().enumerate() {
                for (i, v) in o.values.iter_mut().enumerate() {
                    if !keep[i * width + s] {
                        *v = f64::NAN;
                    }
                }
            }
        }
    }
    series.retain(|o| o.values.iter().any(|v| !v.is_nan()));
    series
}

/// The labels of a leaf's series of key `key`, as Tempo names them: `__name__` for an
/// ungrouped series; the `by()` fields that have a value, or the first one as `"nil"` when
/// none has.
fn labels_of(leaf: &Leaf, key: &[KeyVal]) -> Vec<Label> {
    if leaf.by.is_empty() {
        return vec![Label {
            name: NAME.to_owned(),
            value: LabelValue::Str(leaf.func.name().to_owned()),
        }];
    }
    let labels: Vec<Label> = leaf
        .by
        .iter()
        .zip(key)
        .filter(|(_, v)| **v != KeyVal::Nil)
        .map(|((name, _), v)| Label {
            name: name.clone(),
            value: v.label(),
        })
        .collect();
    if labels.is_empty() {
        return vec![Label {
            name: leaf.by[0].0.clone(),
            value: LabelValue::Str("nil".to_owned()),
        }];
    }
    labels
}

/// A leaf's series as values per interval.
fn leaf_series(leaf: &Leaf, grid: &Grid, acc: LeafAcc) -> Vec<Out> {
    if let Func::Compare { top_n, .. } = &leaf.func {
        return compare_series(acc, *top_n);
    }
    let scale = if leaf.duration_field { 1e-9 } else { 1.0 };
    let mut out = Vec::new();
    for (key, s) in acc.into_series() {
        let labels = labels_of(leaf, &key);
        let values: Vec<f64> = match (&leaf.func, s.values) {
            (Func::Rate, Values::Count(c)) => {
                let step = grid.step_seconds();
                c.into_iter().map(|n| n / step).collect()
            }
            (_, Values::Count(c)) => c,
            (Func::Avg(_), Values::Sum(sum, n)) => sum
                .into_iter()
                .zip(n)
                .map(|(s, n)| if n > 0.0 { s / n } else { f64::NAN })
                .collect(),
            (_, Values::Sum(sum, n)) => sum
                .into_iter()
                .zip(n)
                .map(|(s, n)| if n > 0.0 { s } else { f64::NAN })
                .collect(),
            (_, Values::Min(m) | Values::Max(m)) => m,
            (Func::Quantile(_, qs), Values::Histogram(h)) => {
                let buckets = per_interval(&h, grid.len);
                let series: Vec<Out> = qs
                    .iter()
                    .map(|q| {
                        let mut labels = labels.clone();
                        labels.push(Label {
                            name: QUANTILE.to_owned(),
                            value: LabelValue::Float(*q),
                        });
                        Out {
                            labels,
                            values: buckets.iter().map(|b| quantile(b, *q) * scale).collect(),
                            exemplars: Vec::new(),
                        }
                    })
                    .collect();
                out.extend(with_quantile_exemplars(series, s.exemplars));
                continue;
            }
            (_, Values::Histogram(h)) => {
                let mut by_bucket: HashMap<i32, Vec<f64>> = HashMap::new();
                for ((i, b), n) in h {
                    by_bucket.entry(b).or_insert_with(|| vec![0.0; grid.len])[i as usize] += n;
                }
                let mut buckets: Vec<(i32, Vec<f64>)> = by_bucket.into_iter().collect();
                buckets.sort_by_key(|(b, _)| *b);
                let mut exemplars = s.exemplars;
                for (b, values) in buckets {
                    let mut labels = labels.clone();
                    let bound = bucket_bound(b);
                    labels.push(Label {
                        name: BUCKET.to_owned(),
                        value: LabelValue::Float(bound * scale),
                    });
                    // Each exemplar goes to the bucket holding its value, valued at its
                    // bucket's count in its interval.
                    let (mine, rest): (Vec<_>, Vec<_>) =
                        exemplars.into_iter().partition(|(_, e)| {
                            crate::query::metrics::acc::log2_bucket(e.value / scale) == Some(b)
                        });
                    exemplars = rest;
                    let exemplars = mine
                        .into_iter()
                        .map(|(i, mut e)| {
                            e.value = values[i];
                            e
                        })
                        .collect();
                    out.push(Out {
                        labels,
                        values,
                        exemplars,
                    });
                }
                continue;
            }
        };
        let counts = matches!(leaf.func, Func::Rate | Func::Count);
        let exemplars = s
            .exemplars
            .into_iter()
            .map(|(i, mut e)| {
                if counts {
                    // As Tempo: an exemplar of a count is worth its interval's sample.
                    e.value = values[i];
                }
                e
            })
            .collect();
        out.push(Out {
            labels,
            values,
            exemplars,
        });
    }
    out
}

/// Gives each exemplar of a quantile to the quantile's series whose overall value is
/// closest to it, as Tempo does.
fn with_quantile_exemplars(mut series: Vec<Out>, exemplars: Vec<(usize, Exemplar)>) -> Vec<Out> {
    let overall: Vec<f64> = series
        .iter()
        .map(|o| {
            let (sum, n) = o
                .values
                .iter()
                .filter(|v| **v > 0.0)
                .fold((0.0, 0.0), |(s, n), v| (s + v, n + 1.0));
            if n > 0.0 { sum / n } else { 0.0 }
        })
        .collect();
    for (_, e) in exemplars {
        let closest = overall
            .iter()
            .enumerate()
            .min_by(|a, b| (a.1 - e.value).abs().total_cmp(&(b.1 - e.value).abs()))
            .map(|(i, _)| i);
        if let Some(i) = closest {
            series[i].exemplars.push(e);
        }
    }
    series
}

/// A histogram's buckets per interval, sorted by bucket.
fn per_interval(h: &super::acc::Buckets, len: usize) -> Vec<Vec<(i32, f64)>> {
    let mut out = vec![Vec::new(); len];
    for (&(i, b), &n) in h {
        if let Some(v) = out.get_mut(i as usize) {
            v.push((b, n));
        }
    }
    for v in &mut out {
        v.sort_by_key(|(b, _)| *b);
    }
    out
}

/// Quantile `q` of a power-of-two histogram (buckets sorted), as Tempo computes it: the
/// rank `ceil(q·total)` (at least 1); a rank that ends a bucket is that bucket's upper bound,
/// one inside a bucket is interpolated between the bucket's bounds on a log2 scale; 0 when
/// empty or for `q` outside `[0, 1]`. Unlike Tempo, which interpolates from the previous
/// bucket holding values (across empty ones), the interpolation stays within the bucket
/// holding the rank, so the result is always within a factor of two of the exact value.
pub(crate) fn quantile(buckets: &[(i32, f64)], q: f64) -> f64 {
    let total: f64 = buckets.iter().map(|(_, n)| n).sum();
    if total <= 0.0 || !(0.0..=1.0).contains(&q) {
        return 0.0;
    }
    let target = (q * total).ceil().max(1.0);
    let mut below = 0.0;
    for &(b, n) in buckets {
        if below + n <= target {
            below += n;
            if below == target {
                return bucket_bound(b);
            }
            continue;
        }
        let fraction = (target - below) / n;
        return 2f64.powf(f64::from(b) - 1.0 + fraction);
    }
    buckets.last().map_or(0.0, |(b, _)| bucket_bound(*b))
}

/// `compare()`'s series: per attribute, the `top_n` values with the most spans in the
/// selection and in the baseline, and the totals.
fn compare_series(acc: LeafAcc, top_n: usize) -> Vec<Out> {
    // Per (side, attribute): each value's counts and their total.
    type Counted = Vec<(KeyVal, Vec<f64>, f64)>;
    let mut groups: HashMap<(Box<str>, Box<str>), Counted> = HashMap::new();
    let mut out = Vec::new();
    for (key, s) in acc.into_series() {
        let [KeyVal::Str(meta), KeyVal::Str(attr), value] = &*key else {
            continue;
        };
        let Values::Count(c) = s.values else { continue };
        if meta.ends_with("_total") {
            out.push(Out {
                labels: vec![
                    Label {
                        name: META_TYPE.to_owned(),
                        value: LabelValue::Str(meta.to_string()),
                    },
                    Label {
                        name: attr.to_string(),
                        value: LabelValue::Str("nil".to_owned()),
                    },
                ],
                values: c,
                exemplars: Vec::new(),
            });
            continue;
        }
        let total = c.iter().sum();
        groups
            .entry((meta.clone(), attr.clone()))
            .or_default()
            .push((value.clone(), c, total));
    }
    for ((meta, attr), mut values) in groups {
        // The most frequent first; ties by value, for the same answer every time.
        values.sort_by(|a, b| {
            b.2.total_cmp(&a.2)
                .then_with(|| a.0.label().to_string().cmp(&b.0.label().to_string()))
        });
        for (value, c, _) in values.into_iter().take(top_n) {
            out.push(Out {
                labels: vec![
                    Label {
                        name: META_TYPE.to_owned(),
                        value: LabelValue::Str(meta.to_string()),
                    },
                    Label {
                        name: attr.to_string(),
                        value: value.label(),
                    },
                ],
                values: c,
                exemplars: Vec::new(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_end_on_bucket_bounds_or_interpolate_on_a_log_scale() {
        // 10 values in (512, 1024], 10 in (1024, 2048].
        let h = [(10, 10.0), (11, 10.0)];
        assert_eq!(quantile(&h, 0.5), 1024.0);
        assert_eq!(quantile(&h, 1.0), 2048.0);
        // Rank 3 of 10 in the first bucket: 2^(9 + 0.3).
        assert!((quantile(&h, 0.15) - 2f64.powf(9.3)).abs() < 1e-9);
        // Rank 15: half into the second bucket, 2^(10 + 0.5).
        assert!((quantile(&h, 0.75) - 2f64.powf(10.5)).abs() < 1e-9);
        // Across an empty bucket, the interpolation stays within the rank's bucket.
        let gap = [(20, 1.0), (31, 2.0)];
        assert!((quantile(&gap, 0.5) - 2f64.powf(30.5)).abs() < 1e-3);
        assert_eq!(quantile(&[], 0.5), 0.0);
        assert_eq!(quantile(&h, 1.5), 0.0);
    }
}
