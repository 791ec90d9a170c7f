//! acc: the running values of a query's series.
//!
//! Each worker keeps, per leaf of the query, a map from a series' key (its `by()` values) to
//! the values of its intervals; workers' maps are merged at the end. Counts and sums are
//! plain arrays; minimums and maximums hold NaN where no span fell; quantiles and histograms
//! count spans per power-of-two bucket of their value.

use std::collections::HashMap;

use super::{Exemplar, LabelValue};
use crate::query::value::Val;

/// One part of a series' key: a `by()` value, hashable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum KeyVal {
    /// Missing.
    Nil,
    /// A string (statuses, kinds and durations as TraceQL writes them).
    Str(Box<str>),
    /// An integer.
    Int(i64),
    /// A float, by its bits.
    Float(u64),
    /// A boolean.
    Bool(bool),
}

impl KeyVal {
    /// The key part of a field's value on a span.
    pub(crate) fn of(v: &Val<'_>) -> KeyVal {
        match v {
            Val::Nil => KeyVal::Nil,
            Val::Str(s) => KeyVal::Str(Box::from(s.as_ref())),
            Val::Int(i) => KeyVal::Int(*i),
            Val::Float(f) => KeyVal::Float(f.to_bits()),
            Val::Bool(b) => KeyVal::Bool(*b),
            other => match other.to_any().and_then(|a| a.value) {
                Some(crate::model::Value::StringValue(s)) => KeyVal::Str(s.into_boxed_str()),
                Some(v) => KeyVal::Str(format!("{v:?}").into_boxed_str()),
                None => KeyVal::Nil,
            },
        }
    }

    /// As a label's value.
    pub(crate) fn label(&self) -> LabelValue {
        match self {
            KeyVal::Nil => LabelValue::Nil,
            KeyVal::Str(s) => LabelValue::Str(s.to_string()),
            KeyVal::Int(i) => LabelValue::Int(*i),
            KeyVal::Float(f) => LabelValue::Float(f64::from_bits(*f)),
            KeyVal::Bool(b) => LabelValue::Bool(*b),
        }
    }
}

/// A series' key.
pub(crate) type Key = Box<[KeyVal]>;

/// What a function keeps per interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A count of spans.
    Count,
    /// A sum of values and a count of spans.
    Sum,
    /// The least value.
    Min,
    /// The greatest value.
    Max,
    /// Spans per power-of-two bucket of their value.
    Histogram,
}

/// The running values of one series.
#[derive(Debug, Clone)]
pub(crate) enum Values {
    /// Spans (weighted) per interval.
    Count(Vec<f64>),
    /// Sum of values and number of spans per interval.
    Sum(Vec<f64>, Vec<f64>),
    /// Least value per interval; NaN where none.
    Min(Vec<f64>),
    /// Greatest value per interval; NaN where none.
    Max(Vec<f64>),
    /// Spans per (interval, bucket): the bucket `b` holds values in `(2^(b-1), 2^b]`; values
    /// under 2 are not counted, as in Tempo.
    Histogram(HashMap<(u32, i32), f64>),
}

impl Values {
    /// Empty values of `kind` over `len` intervals.
    pub(crate) fn new(kind: Kind, len: usize) -> Values {
        match kind {
            Kind::Count => Values::Count(vec![0.0; len]),
            Kind::Sum => Values::Sum(vec![0.0; len], vec![0.0; len]),
            Kind::Min => Values::Min(vec![f64::NAN; len]),
            Kind::Max => Values::Max(vec![f64::NAN; len]),
            Kind::Histogram => Values::Histogram(HashMap::new()),
        }
    }

    /// Adds a span's value `v` (ignored by counts) in interval `i`, weighing `w` spans.
    #[inline]
    pub(crate) fn add(&mut self, i: usize, v: f64, w: f64) {
        match self {
            Values::Count(c) => c[i] += w,
            Values::Sum(s, n) => {
                s[i] += v * w;
                n[i] += w;
            }
            Values::Min(m) => {
                if m[i].is_nan() || v < m[i] {
                    m[i] = v;
                }
            }
            Values::Max(m) => {
                if m[i].is_nan() || v > m[i] {
                    m[i] = v;
                }
            }
            Values::Histogram(h) => {
                if let Some(b) = log2_bucket(v) {
                    *h.entry((i as u32, b)).or_insert(0.0) += w;
                }
            }
        }
    }

    /// Takes in the values of the same series from another worker.
    pub(crate) fn merge(&mut self, other: Values) {
        match (self, other) {
            (Values::Count(a), Values::Count(b)) => add_all(a, &b),
            (Values::Sum(s, n), Values::Sum(t, m)) => {
                add_all(s, &t);
                add_all(n, &m);
            }
            (Values::Min(a), Values::Min(b)) => {
                for (x, y) in a.iter_mut().zip(b) {
                    if x.is_nan() || y < *x {
                        *x = y;
                    }
                }
            }
            (Values::Max(a), Values::Max(b)) => {
                for (x, y) in a.iter_mut().zip(b) {
                    if x.is_nan() || y > *x {
                        *x = y;
                    }
                }
            }
            (Values::Histogram(a), Values::Histogram(b)) => {
                for (k, n) in b {
                    *a.entry(k).or_insert(0.0) += n;
                }
            }
            _ => {}
        }
    }

    /// Multiplies counts and sums by `f` (to scale a sample up to the whole).
    pub(crate) fn scale(&mut self, f: f64) {
        match self {
            Values::Count(c) => c.iter_mut().for_each(|x| *x *= f),
            Values::Sum(s, n) => {
                s.iter_mut().for_each(|x| *x *= f);
                n.iter_mut().for_each(|x| *x *= f);
            }
            Values::Histogram(h) => h.values_mut().for_each(|x| *x *= f),
            Values::Min(_) | Values::Max(_) => {}
        }
    }
}

fn add_all(a: &mut [f64], b: &[f64]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

/// The power-of-two bucket of a value, as Tempo's: `b` such that `2^(b-1) < v <= 2^b`;
/// values under 2 (and NaN) fall in none.
#[inline]
pub(crate) fn log2_bucket(v: f64) -> Option<i32> {
    if v.is_nan() || v < 2.0 {
        return None;
    }
    let b = v.log2().ceil();
    Some(if b > 1023.0 { 1023 } else { b as i32 })
}

/// The upper bound of bucket `b`.
pub(crate) fn bucket_bound(b: i32) -> f64 {
    2f64.powi(b)
}

/// One series as a worker builds it.
#[derive(Debug, Clone)]
pub(crate) struct SeriesAcc {
    /// The values per interval.
    pub(crate) values: Values,
    /// Spans kept as exemplars, with their intervals.
    pub(crate) exemplars: Vec<(usize, Exemplar)>,
    /// The interval of the last exemplar kept, to spread them over time.
    last_exemplar: Option<usize>,
}

impl SeriesAcc {
    /// An empty series.
    pub(crate) fn new(kind: Kind, len: usize) -> SeriesAcc {
        SeriesAcc {
            values: Values::new(kind, len),
            exemplars: Vec::new(),
            last_exemplar: None,
        }
    }

    /// Whether a span of interval `i` should be kept as an exemplar, at most `cap` per series
    /// and one per interval in a row.
    #[inline]
    pub(crate) fn wants_exemplar(&self, i: usize, cap: usize) -> bool {
        self.exemplars.len() < cap && self.last_exemplar != Some(i)
    }

    /// Keeps an exemplar from interval `i`.
    pub(crate) fn keep_exemplar(&mut self, i: usize, e: Exemplar) {
        self.last_exemplar = Some(i);
        self.exemplars.push((i, e));
    }

    /// Takes in the same series from another worker, keeping at most `cap` exemplars.
    pub(crate) fn merge(&mut self, other: SeriesAcc, cap: usize) {
        self.values.merge(other.values);
        let room = cap.saturating_sub(self.exemplars.len());
        self.exemplars
            .extend(other.exemplars.into_iter().take(room));
    }
}

/// The series of one leaf, by key.
#[derive(Debug, Clone, Default)]
pub(crate) struct LeafAcc {
    /// The series.
    pub(crate) series: HashMap<Key, SeriesAcc>,
}

impl LeafAcc {
    /// Takes in another worker's series of the same leaf.
    pub(crate) fn merge(&mut self, other: LeafAcc, cap: usize) {
        for (k, s) in other.series {
            match self.series.get_mut(&k) {
                Some(mine) => mine.merge(s, cap),
                None => {
                    self.series.insert(k, s);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_powers_of_two_holding_their_upper_bound() {
        assert_eq!(log2_bucket(0.0), None);
        assert_eq!(log2_bucket(1.5), None);
        assert_eq!(log2_bucket(2.0), Some(1));
        assert_eq!(log2_bucket(2.1), Some(2));
        assert_eq!(log2_bucket(1024.0), Some(10));
        assert_eq!(log2_bucket(1025.0), Some(11));
        assert_eq!(bucket_bound(10), 1024.0);
    }

    #[test]
    fn merged_workers_add_up() {
        let mut a = Values::new(Kind::Min, 3);
        a.add(0, 5.0, 1.0);
        let mut b = Values::new(Kind::Min, 3);
        b.add(0, 3.0, 1.0);
        b.add(2, 7.0, 1.0);
        a.merge(b);
        let Values::Min(m) = a else { panic!() };
        assert_eq!(m[0], 3.0);
        assert!(m[1].is_nan());
        assert_eq!(m[2], 7.0);
    }
}
