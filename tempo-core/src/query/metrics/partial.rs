//! partial: what did a metrics query gather elsewhere, before it was finished?
//!
//! Series cannot in general be combined once finished (quantiles, averages, `topk`,
//! arithmetic between queries), but the running values they are finished from can: counts
//! and sums add up, minimums and maximums compare, power-of-two histograms add bucket by
//! bucket. A [`MetricsPartial`] holds those running values of every leaf of a query over
//! some of a tenant's spans (another server's head, say); [`crate::Store::metrics_with`]
//! folds it into its own before finishing, so the answer is the one a single store holding
//! all the spans would give (exemplars aside: they are a sample, at most the query's number
//! per series).
//!
//! The encoding, all integers little-endian:
//!
//! | bytes | what |
//! |---|---|
//! | 4 | magic `TQMP` |
//! | 1 | version, 1 |
//! | 8 | the query's fingerprint: xxh3 of its text, range, step, kind and exemplar counts |
//! | 7 × 8 | what the query read: inspected traces, bytes, spans; total blocks, total jobs, completed jobs, skipped jobs |
//! | 1 + string | why it is partial: 0, or 1 then the reason |
//! | 4 | leaves; per leaf: 4, its series; per series: its key, its values, its exemplars |
//! | 8 | xxh3 of every byte before |
//!
//! A string is its length (4 bytes) then its UTF-8 bytes. A key is its number of parts (4),
//! each a tag (0 nil, 1 string, 2 integer, 3 float by its bits, 4 boolean) and its value.
//! Values are a tag (0 count, 1 sum, 2 min, 3 max: the number of intervals (4) then one
//! float per interval, twice for a sum, sums first; 4 histogram: the number of cells (4) then
//! per cell its interval (4), bucket (4, signed) and count (float)). Exemplars are their
//! number (4), then per exemplar its interval (4), trace ID (16), span ID (a string of
//! bytes), value (float) and start in unix milliseconds (8, signed).

use super::acc::{Buckets, Key, KeyVal, LeafAcc, SeriesAcc, Values};
use super::plan::Plan;
use super::run::{Collected, complete, exemplars_of};
use super::{Exemplar, Grid, MetricsRequest, MetricsResponse};
use crate::error::MetricsError;
use crate::model::TraceId;
use crate::query::SearchMetrics;

const MAGIC: &[u8; 4] = b"TQMP";
const VERSION: u8 = 1;

/// The running values of a TraceQL metrics query over some of a tenant's spans, before they
/// are finished into series ([`crate::Store::metrics_partial_in_head`]), to be folded into
/// the same query elsewhere ([`crate::Store::metrics_with`]). Opaque; sent between servers
/// with [`MetricsPartial::encode`] and [`MetricsPartial::decode`].
#[derive(Debug)]
pub struct MetricsPartial {
    fingerprint: u64,
    pub(crate) leaves: Vec<LeafAcc>,
    pub(crate) metrics: SearchMetrics,
    pub(crate) reason: Option<String>,
}

/// Why bytes are no [`MetricsPartial`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PartialDecodeError {
    /// The bytes do not start with the magic.
    #[error("not a metrics partial answer (no TQMP magic)")]
    Magic,
    /// A version this build does not read.
    #[error("metrics partial answer of version {0}, this server reads version 1")]
    Version(u8),
    /// The checksum does not match the bytes.
    #[error("metrics partial answer damaged: checksum mismatch")]
    Checksum,
    /// The bytes end early or hold something impossible, at this offset.
    #[error("metrics partial answer malformed at byte {offset}: {what}")]
    Malformed {
        /// Where.
        offset: usize,
        /// What was wrong.
        what: &'static str,
    },
}

/// The fingerprint of a request: what makes two queries' running values foldable (the same
/// query text, time axis and exemplar counts).
pub(crate) fn fingerprint(req: &MetricsRequest) -> u64 {
    let grid = Grid::of(req);
    let mut h = xxhash_rust::xxh3::Xxh3Default::new();
    h.update(&(req.query.len() as u64).to_le_bytes());
    h.update(req.query.as_bytes());
    for n in [
        grid.start,
        grid.step,
        grid.len as u64,
        u64::from(req.instant),
        req.exemplars as u64,
        req.max_exemplars as u64,
    ] {
        h.update(&n.to_le_bytes());
    }
    h.digest()
}

impl MetricsPartial {
    /// What a pass over some sources gathered for `req`.
    pub(crate) fn new(req: &MetricsRequest, collected: Collected) -> MetricsPartial {
        let mut reasons: Vec<String> = collected
            .reason
            .iter()
            .map(ToString::to_string)
            .chain(collected.other_reasons)
            .collect();
        reasons.dedup();
        MetricsPartial {
            fingerprint: fingerprint(req),
            leaves: collected.leaves,
            metrics: collected.metrics,
            reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
        }
    }

    /// Whether this was gathered for the same query as `req` (text, range, step, exemplar
    /// counts): only then can it be folded into it.
    pub fn fits(&self, req: &MetricsRequest) -> bool {
        self.fingerprint == fingerprint(req)
    }

    /// Finishes the partials gathered for `req` (over this store's data and other servers'
    /// heads, say) into its answer, as [`crate::Store::metrics_with`] would. A partial
    /// gathered for another request is left out, and the answer is partial.
    pub fn finish(
        req: &MetricsRequest,
        partials: Vec<MetricsPartial>,
    ) -> Result<MetricsResponse, MetricsError> {
        let plan = Plan::new(&req.query)?;
        let mut collected = Collected {
            leaves: plan.leaves.iter().map(|_| LeafAcc::default()).collect(),
            metrics: SearchMetrics::default(),
            reason: None,
            other_reasons: Vec::new(),
            exemplars: exemplars_of(&plan, req),
            grid: Grid::of(req),
        };
        for partial in partials {
            fold(&mut collected, req, plan.leaves.len(), partial);
        }
        Ok(complete(&plan, req, collected))
    }

    /// Why the query that gathered this stopped early, if it did: the answer it is folded
    /// into is then partial too.
    pub fn partial_reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// Checks the values against the query's time axis (`len` intervals) and number of
    /// leaves, so that finishing them cannot index out of range.
    pub(crate) fn check(&self, leaves: usize, len: usize) -> Result<(), String> {
        if self.leaves.len() != leaves {
            return Err(format!(
                "it has {} leaves, the query {leaves}",
                self.leaves.len()
            ));
        }
        for leaf in &self.leaves {
            for (_, s) in leaf.series() {
                let ok = match &s.values {
                    Values::Count(v) | Values::Min(v) | Values::Max(v) => v.len() == len,
                    Values::Sum(v, n) => v.len() == len && n.len() == len,
                    Values::Histogram(h) => h.keys().all(|(i, _)| (*i as usize) < len),
                };
                if !ok || s.exemplars.iter().any(|(i, _)| *i >= len) {
                    return Err(format!("its values do not fit {len} intervals"));
                }
            }
        }
        Ok(())
    }

    /// The bytes to send (the encoding is in this module's documentation).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        put_u64(&mut out, self.fingerprint);
        let m = &self.metrics;
        for n in [
            m.inspected_traces,
            m.inspected_bytes,
            m.inspected_spans,
            m.total_blocks,
            m.total_jobs,
            m.completed_jobs,
            m.skipped_jobs,
        ] {
            put_u64(&mut out, n);
        }
        match &self.reason {
            None => out.push(0),
            Some(r) => {
                out.push(1);
                put_bytes(&mut out, r.as_bytes());
            }
        }
        put_len(&mut out, self.leaves.len());
        for leaf in &self.leaves {
            put_len(&mut out, leaf.len());
            for (key, s) in leaf.series() {
                put_key(&mut out, key);
                put_values(&mut out, &s.values);
                put_len(&mut out, s.exemplars.len());
                for (i, e) in &s.exemplars {
                    put_len(&mut out, *i);
                    out.extend_from_slice(&e.trace_id.0);
                    put_bytes(&mut out, &e.span_id);
                    put_u64(&mut out, e.value.to_bits());
                    put_u64(&mut out, e.timestamp_ms as u64);
                }
            }
        }
        let sum = xxhash_rust::xxh3::xxh3_64(&out);
        put_u64(&mut out, sum);
        out
    }

    /// Reads what [`MetricsPartial::encode`] wrote; refuses anything else, never panics.
    pub fn decode(bytes: &[u8]) -> Result<MetricsPartial, PartialDecodeError> {
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(PartialDecodeError::Magic);
        }
        if bytes.len() < 5 {
            return Err(PartialDecodeError::Magic);
        }
        if bytes[4] != VERSION {
            return Err(PartialDecodeError::Version(bytes[4]));
        }
        let Some(body_len) = bytes.len().checked_sub(8).filter(|n| *n >= 5) else {
            return Err(PartialDecodeError::Malformed {
                offset: bytes.len(),
                what: "too short",
            });
        };
        let (body, sum) = bytes.split_at(body_len);
        let mut stored = [0u8; 8];
        stored.copy_from_slice(sum);
        if xxhash_rust::xxh3::xxh3_64(body) != u64::from_le_bytes(stored) {
            return Err(PartialDecodeError::Checksum);
        }
        let mut r = Reader { bytes: body, at: 5 };
        let fingerprint = r.u64()?;
        let metrics = SearchMetrics {
            inspected_traces: r.u64()?,
            inspected_bytes: r.u64()?,
            inspected_spans: r.u64()?,
            total_blocks: r.u64()?,
            total_jobs: r.u64()?,
            completed_jobs: r.u64()?,
            skipped_jobs: r.u64()?,
        };
        let reason = match r.u8()? {
            0 => None,
            1 => Some(r.string()?),
            _ => return Err(r.bad("reason flag not 0 or 1")),
        };
        let leaf_count = r.count(4)?;
        let mut leaves = Vec::with_capacity(leaf_count);
        for _ in 0..leaf_count {
            let mut leaf = LeafAcc::default();
            let series = r.count(6)?;
            for _ in 0..series {
                let key = r.key()?;
                let values = r.values()?;
                let n = r.count(36)?;
                let mut exemplars = Vec::with_capacity(n);
                for _ in 0..n {
                    let interval = r.u32()? as usize;
                    let mut id = [0u8; 16];
                    id.copy_from_slice(r.take(16)?);
                    let span_id = r.bytes()?.to_vec();
                    let value = f64::from_bits(r.u64()?);
                    let timestamp_ms = r.u64()? as i64;
                    exemplars.push((
                        interval,
                        Exemplar {
                            trace_id: TraceId(id),
                            span_id,
                            value,
                            timestamp_ms,
                        },
                    ));
                }
                leaf.merge_series(key, SeriesAcc::from_parts(values, exemplars), usize::MAX);
            }
            leaves.push(leaf);
        }
        if r.at != body.len() {
            return Err(r.bad("bytes left after the last leaf"));
        }
        Ok(MetricsPartial {
            fingerprint,
            leaves,
            metrics,
            reason,
        })
    }
}

/// Folds `partial` into what a pass gathered for the same query (of `leaves` leaves), before
/// it is finished. A partial gathered for another query, or whose values do not fit this
/// one's time axis, is left out, and the answer says so; a partial that stopped early makes
/// the answer partial with its reason.
pub(crate) fn fold(
    collected: &mut Collected,
    req: &MetricsRequest,
    leaves: usize,
    partial: MetricsPartial,
) {
    if !partial.fits(req) {
        collected
            .other_reasons
            .push("a partial answer gathered for another query was left out".to_owned());
        return;
    }
    if let Err(why) = partial.check(leaves, collected.grid.len) {
        collected
            .other_reasons
            .push(format!("a partial answer was left out: {why}"));
        return;
    }
    let MetricsPartial {
        leaves: theirs,
        metrics,
        reason,
        ..
    } = partial;
    for (mine, theirs) in collected.leaves.iter_mut().zip(theirs) {
        for (key, series) in theirs.into_series() {
            mine.merge_series(key, series, collected.exemplars);
        }
    }
    collected.metrics += metrics;
    collected.other_reasons.extend(reason);
}

fn put_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(&n.to_le_bytes());
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_len(out, b.len());
    out.extend_from_slice(b);
}

fn put_floats(out: &mut Vec<u8>, v: &[f64]) {
    for x in v {
        put_u64(out, x.to_bits());
    }
}

fn put_key(out: &mut Vec<u8>, key: &[KeyVal]) {
    put_len(out, key.len());
    for part in key {
        match part {
            KeyVal::Nil => out.push(0),
            KeyVal::Str(s) => {
                out.push(1);
                put_bytes(out, s.as_bytes());
            }
            KeyVal::Int(i) => {
                out.push(2);
                put_u64(out, *i as u64);
            }
            KeyVal::Float(bits) => {
                out.push(3);
                put_u64(out, *bits);
            }
            KeyVal::Bool(b) => {
                out.push(4);
                out.push(u8::from(*b));
            }
        }
    }
}

fn put_values(out: &mut Vec<u8>, values: &Values) {
    match values {
        Values::Count(v) => {
            out.push(0);
            put_len(out, v.len());
            put_floats(out, v);
        }
        Values::Sum(s, n) => {
            out.push(1);
            put_len(out, s.len());
            put_floats(out, s);
            put_floats(out, n);
        }
        Values::Min(v) => {
            out.push(2);
            put_len(out, v.len());
            put_floats(out, v);
        }
        Values::Max(v) => {
            out.push(3);
            put_len(out, v.len());
            put_floats(out, v);
        }
        Values::Histogram(h) => {
            out.push(4);
            // Sorted, for the same bytes from the same values.
            let mut cells: Vec<(&(u32, i32), &f64)> = h.iter().collect();
            cells.sort_by_key(|(k, _)| **k);
            put_len(out, cells.len());
            for ((i, b), n) in cells {
                out.extend_from_slice(&i.to_le_bytes());
                out.extend_from_slice(&b.to_le_bytes());
                put_u64(out, n.to_bits());
            }
        }
    }
}

/// Reads the encoding, every read bounds-checked.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn bad(&self, what: &'static str) -> PartialDecodeError {
        PartialDecodeError::Malformed {
            offset: self.at,
            what,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PartialDecodeError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or(PartialDecodeError::Malformed {
                offset: self.at,
                what: "ends early",
            })?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, PartialDecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, PartialDecodeError> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self) -> Result<u64, PartialDecodeError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }

    /// A count of items each at least `min` bytes long: never more than the bytes left
    /// could hold, so a damaged count cannot make a huge allocation.
    fn count(&mut self, min: usize) -> Result<usize, PartialDecodeError> {
        let n = self.u32()? as usize;
        let left = self.bytes.len() - self.at;
        if n.saturating_mul(min.max(1)) > left {
            return Err(self.bad("a count larger than the bytes left"));
        }
        Ok(n)
    }

    fn bytes(&mut self) -> Result<&'a [u8], PartialDecodeError> {
        let n = self.count(1)?;
        self.take(n)
    }

    fn string(&mut self) -> Result<String, PartialDecodeError> {
        let b = self.bytes()?;
        String::from_utf8(b.to_vec()).map_err(|_| self.bad("a string not UTF-8"))
    }

    fn floats(&mut self, n: usize) -> Result<Vec<f64>, PartialDecodeError> {
        (0..n).map(|_| self.u64().map(f64::from_bits)).collect()
    }

    fn key(&mut self) -> Result<Key, PartialDecodeError> {
        let n = self.count(1)?;
        let mut parts = Vec::with_capacity(n);
        for _ in 0..n {
            parts.push(match self.u8()? {
                0 => KeyVal::Nil,
                1 => KeyVal::Str(self.string()?.into_boxed_str()),
                2 => KeyVal::Int(self.u64()? as i64),
                3 => KeyVal::Float(self.u64()?),
                4 => KeyVal::Bool(match self.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(self.bad("a boolean not 0 or 1")),
                }),
                _ => return Err(self.bad("an unknown key part")),
            });
        }
        Ok(parts.into_boxed_slice())
    }

    fn values(&mut self) -> Result<Values, PartialDecodeError> {
        let tag = self.u8()?;
        Ok(match tag {
            0 | 2 | 3 => {
                let n = self.count(8)?;
                let v = self.floats(n)?;
                match tag {
                    0 => Values::Count(v),
                    2 => Values::Min(v),
                    _ => Values::Max(v),
                }
            }
            1 => {
                let n = self.count(16)?;
                let s = self.floats(n)?;
                Values::Sum(s, self.floats(n)?)
            }
            4 => {
                let n = self.count(16)?;
                let mut h = Buckets::default();
                for _ in 0..n {
                    let i = self.u32()?;
                    let b = self.u32()? as i32;
                    let c = f64::from_bits(self.u64()?);
                    h.entry((i, b)).and_modify(|x| *x += c).or_insert(c);
                }
                Values::Histogram(h)
            }
            _ => return Err(self.bad("an unknown kind of values")),
        })
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn key_val() -> impl Strategy<Value = KeyVal> {
        prop_oneof![
            Just(KeyVal::Nil),
            ".{0,8}".prop_map(|s| KeyVal::Str(s.into_boxed_str())),
            any::<i64>().prop_map(KeyVal::Int),
            any::<u64>().prop_map(KeyVal::Float),
            any::<bool>().prop_map(KeyVal::Bool),
        ]
    }

    fn values(len: usize) -> impl Strategy<Value = Values> {
        let floats = proptest::collection::vec(any::<f64>(), len);
        prop_oneof![
            floats.clone().prop_map(Values::Count),
            (floats.clone(), floats.clone()).prop_map(|(s, n)| Values::Sum(s, n)),
            floats.clone().prop_map(Values::Min),
            floats.prop_map(Values::Max),
            proptest::collection::vec((0..len as u32, -4i32..64, any::<f64>()), 0..6).prop_map(
                |cells| {
                    let mut h = Buckets::default();
                    for (i, b, n) in cells {
                        h.insert((i, b), n);
                    }
                    Values::Histogram(h)
                }
            ),
        ]
    }

    fn series(len: usize) -> impl Strategy<Value = (Vec<KeyVal>, Values, Vec<(usize, u8, i64)>)> {
        (
            proptest::collection::vec(key_val(), 0..3),
            values(len),
            proptest::collection::vec((0..len, any::<u8>(), any::<i64>()), 0..3),
        )
    }

    fn partial() -> impl Strategy<Value = MetricsPartial> {
        (
            any::<u64>(),
            proptest::collection::vec(proptest::collection::vec(series(3), 0..4), 0..3),
            any::<[u64; 7]>(),
            proptest::option::of(".{0,12}"),
        )
            .prop_map(|(fingerprint, leaves, m, reason)| MetricsPartial {
                fingerprint,
                leaves: leaves
                    .into_iter()
                    .map(|series| {
                        let mut leaf = LeafAcc::default();
                        for (key, values, exemplars) in series {
                            let exemplars = exemplars
                                .into_iter()
                                .map(|(i, b, ts)| {
                                    (
                                        i,
                                        Exemplar {
                                            trace_id: TraceId([b; 16]),
                                            span_id: vec![b; 8],
                                            value: f64::from(b),
                                            timestamp_ms: ts,
                                        },
                                    )
                                })
                                .collect();
                            leaf.merge_series(
                                key.into_boxed_slice(),
                                SeriesAcc::from_parts(values, exemplars),
                                usize::MAX,
                            );
                        }
                        leaf
                    })
                    .collect(),
                metrics: SearchMetrics {
                    inspected_traces: m[0],
                    inspected_bytes: m[1],
                    inspected_spans: m[2],
                    total_blocks: m[3],
                    total_jobs: m[4],
                    completed_jobs: m[5],
                    skipped_jobs: m[6],
                },
                reason,
            })
    }

    proptest! {
        #[test]
        fn decode_of_encode_is_the_same(p in partial()) {
            let bytes = p.encode();
            let back = MetricsPartial::decode(&bytes).unwrap();
            prop_assert_eq!(back.encode(), bytes);
            prop_assert_eq!(back.metrics, p.metrics);
            prop_assert_eq!(&back.reason, &p.reason);
            prop_assert!(back.check(p.leaves.len(), 3).is_ok());
        }

        #[test]
        fn damaged_bytes_are_refused_never_a_panic(
            p in partial(),
            at in any::<prop::sample::Index>(),
            flip in 1u8..,
            cut in any::<prop::sample::Index>(),
        ) {
            let mut bytes = p.encode();
            let i = at.index(bytes.len());
            bytes[i] ^= flip;
            prop_assert!(MetricsPartial::decode(&bytes).is_err());
            let whole = p.encode();
            let short = &whole[..cut.index(whole.len())];
            prop_assert!(MetricsPartial::decode(short).is_err());
        }
    }

    #[test]
    fn values_off_the_axis_are_refused_before_they_are_finished() {
        let mut leaf = LeafAcc::default();
        leaf.merge_series(
            Box::new([]),
            SeriesAcc::from_parts(Values::Count(vec![1.0; 4]), Vec::new()),
            1,
        );
        let p = MetricsPartial {
            fingerprint: 0,
            leaves: vec![leaf],
            metrics: SearchMetrics::default(),
            reason: None,
        };
        assert!(p.check(1, 4).is_ok());
        assert!(p.check(1, 3).is_err());
        assert!(p.check(2, 4).is_err());
    }
}
