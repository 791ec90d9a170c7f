//! acc: the running values of a query's series.
//!
//! Each worker keeps, per leaf of the query, a map from a series' key (its `by()` values) to
//! the values of its intervals; workers' maps are merged at the end. Counts and sums are
//! plain arrays; minimums and maximums hold NaN where no span fell; quantiles and histograms
//! count spans per power-of-two bucket of their value.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use super::{Exemplar, LabelValue};
use crate::query::stop::Stop;
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
    Histogram(Buckets),
}

impl Values {
    /// Empty values of `kind` over `len` intervals.
    pub(crate) fn new(kind: Kind, len: usize) -> Values {
        match kind {
            Kind::Count => Values::Count(vec![0.0; len]),
            Kind::Sum => Values::Sum(vec![0.0; len], vec![0.0; len]),
            Kind::Min => Values::Min(vec![f64::NAN; len]),
            Kind::Max => Values::Max(vec![f64::NAN; len]),
            Kind::Histogram => Values::Histogram(Buckets::default()),
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

    /// Adds counts per interval (of a count's series).
    pub(crate) fn add_all(&mut self, counts: &[f64]) {
        if let Values::Count(c) = self {
            add_all(c, counts);
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

    /// A series of the given values and exemplars (decoded from another server's partial
    /// answer).
    pub(crate) fn from_parts(values: Values, exemplars: Vec<(usize, Exemplar)>) -> SeriesAcc {
        SeriesAcc {
            values,
            exemplars,
            last_exemplar: None,
        }
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
#[derive(Debug, Default)]
pub(crate) struct LeafAcc {
    /// The series, in the order they were first seen.
    series: Vec<(Key, SeriesAcc)>,
    /// Where each key's series is.
    index: HashMap<Key, usize, BuildHasherDefault<Mix>>,
    /// Where the series of a key's hash is, to find a series from borrowed values without
    /// building its key (checked against the key).
    fast: HashMap<u64, usize, BuildHasherDefault<Passthrough>>,
}

impl LeafAcc {
    /// The series of `key`, created on first use.
    pub(crate) fn slot(&mut self, key: &[KeyVal], kind: Kind, len: usize) -> &mut SeriesAcc {
        let i = match self.index.get(key) {
            Some(&i) => i,
            None => self.insert(key.to_vec().into_boxed_slice(), SeriesAcc::new(kind, len)),
        };
        &mut self.series[i].1
    }

    /// The series whose key is `parts`, created on first use; allocates only for a new
    /// series.
    #[inline]
    pub(crate) fn slot_of(&mut self, parts: &[Val<'_>], kind: Kind, len: usize) -> &mut SeriesAcc {
        let h = hash_parts(parts);
        if let Some(&i) = self.fast.get(&h)
            && matches_parts(&self.series[i].0, parts)
        {
            return &mut self.series[i].1;
        }
        let key: Key = parts.iter().map(KeyVal::of).collect();
        let i = match self.index.get(&key) {
            Some(&i) => i,
            None => self.insert(key, SeriesAcc::new(kind, len)),
        };
        self.fast.entry(h).or_insert(i);
        &mut self.series[i].1
    }

    fn insert(&mut self, key: Key, series: SeriesAcc) -> usize {
        let i = self.series.len();
        self.index.insert(key.clone(), i);
        self.series.push((key, series));
        i
    }

    /// Takes in another worker's series of the same leaf.
    pub(crate) fn merge(&mut self, other: LeafAcc, cap: usize) {
        for (k, s) in other.series {
            self.merge_series(k, s, cap);
        }
    }

    /// Takes in one series of key `key`: merged into the series of that key if there is
    /// one (keeping at most `cap` exemplars), else added.
    pub(crate) fn merge_series(&mut self, key: Key, series: SeriesAcc, cap: usize) {
        match self.index.get(&key) {
            Some(&i) => self.series[i].1.merge(series, cap),
            None => {
                self.insert(key, series);
            }
        }
    }

    /// The series with their keys, in the order they were first seen.
    pub(crate) fn series(&self) -> &[(Key, SeriesAcc)] {
        &self.series
    }

    /// Number of series.
    pub(crate) fn len(&self) -> usize {
        self.series.len()
    }

    /// Every series, mutably.
    pub(crate) fn series_mut(&mut self) -> impl Iterator<Item = &mut SeriesAcc> {
        self.series.iter_mut().map(|(_, s)| s)
    }

    /// The series with their keys.
    pub(crate) fn into_series(self) -> Vec<(Key, SeriesAcc)> {
        self.series
    }
}

/// A fast hasher for small fixed-size keys (a multiply-rotate mix, as `rustc-hash`): the
/// keys hashed per span must cost a few nanoseconds.
#[derive(Debug, Default)]
pub(crate) struct Mix(u64);

impl std::hash::Hasher for Mix {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }

    #[inline]
    fn write_i32(&mut self, v: i32) {
        self.write_u64(u64::from(v as u32));
    }

    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// Spans per (interval, bucket).
pub(crate) type Buckets = HashMap<(u32, i32), f64, BuildHasherDefault<Mix>>;

/// A hasher for keys that are hashes already.
#[derive(Debug, Default)]
pub(crate) struct Passthrough(u64);

impl std::hash::Hasher for Passthrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// A hash of a key's parts, as borrowed values.
#[inline]
fn hash_parts(parts: &[Val<'_>]) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3Default::new();
    for p in parts {
        match p {
            Val::Nil => h.update(&[0]),
            Val::Str(s) => {
                h.update(&[1]);
                h.update(s.as_bytes());
                h.update(&[0xff]);
            }
            Val::Int(i) => {
                h.update(&[2]);
                h.update(&i.to_le_bytes());
            }
            Val::Float(f) => {
                h.update(&[3]);
                h.update(&f.to_bits().to_le_bytes());
            }
            Val::Bool(b) => h.update(&[4, u8::from(*b)]),
            Val::Status(s) => {
                h.update(&[1]);
                h.update(s.as_str().as_bytes());
                h.update(&[0xff]);
            }
            Val::Kind(k) => {
                h.update(&[1]);
                h.update(k.as_str().as_bytes());
                h.update(&[0xff]);
            }
            other => {
                h.update(&[5]);
                h.update(format!("{other:?}").as_bytes());
            }
        }
    }
    h.digest()
}

/// Whether a key is the one `parts` make.
#[inline]
fn matches_parts(key: &[KeyVal], parts: &[Val<'_>]) -> bool {
    key.len() == parts.len()
        && key.iter().zip(parts).all(|(k, p)| match (k, p) {
            (KeyVal::Nil, Val::Nil) => true,
            (KeyVal::Str(a), Val::Str(b)) => **a == **b,
            (KeyVal::Str(a), Val::Status(s)) => **a == *s.as_str(),
            (KeyVal::Str(a), Val::Kind(k)) => **a == *k.as_str(),
            (KeyVal::Int(a), Val::Int(b)) => a == b,
            (KeyVal::Float(a), Val::Float(b)) => *a == b.to_bits(),
            (KeyVal::Bool(a), Val::Bool(b)) => a == b,
            _ => false,
        })
}

/// Holds the budget for the series made since the last call (`held` of them were held
/// before): they are kept to the end of the query. `false` when that passes the budget (the
/// query then stops, with the reason).
pub(super) fn hold_series(stop: &Stop, len: usize, leaves: &[LeafAcc], held: &mut usize) -> bool {
    let now: usize = leaves.iter().map(LeafAcc::len).sum();
    let added = now.saturating_sub(*held);
    if added == 0 {
        return true;
    }
    *held = now;
    // A series' values, its key and its bookkeeping.
    let bytes = added as u64 * (len as u64 * 16 + 256);
    stop.hold(bytes, || format!("{added} more series of {len} steps"))
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
