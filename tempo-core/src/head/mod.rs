//! head: can I read what was just acknowledged?
//!
//! The head holds the live traces of every tenant in memory, from the moment their spans are
//! durable in the write-ahead log. Spans keep a shared reference to their resource and scope,
//! so a batch's resource is stored once however many traces it touches.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use prost::Message;

use crate::model::{ResourceSpans, Span, TraceId, TracesData};
use crate::spans::{SharedResource, SharedScope, StoredSpan, assemble};

mod source;

pub(crate) use source::HeadSource;

/// Shards per tenant; a power of two.
const SHARDS: usize = 32;

/// A span as the head keeps it: protobuf-encoded, a few hundred bytes in one allocation
/// instead of a tree of strings and vectors several times that size. Traces are decoded when
/// they are read or cut into a block.
#[derive(Debug, Clone)]
pub(crate) struct PackedSpan {
    resource: Arc<SharedResource>,
    scope: Arc<SharedScope>,
    /// The span's protobuf bytes: a slice of the request (or WAL record) it came in, or its
    /// own encoding when the request was re-encoded.
    span: Bytes,
}

impl PackedSpan {
    fn new(
        resource: &Arc<SharedResource>,
        scope: &Arc<SharedScope>,
        span: &Span,
        encoded: Option<Bytes>,
    ) -> PackedSpan {
        PackedSpan {
            resource: resource.clone(),
            scope: scope.clone(),
            span: encoded.unwrap_or_else(|| Bytes::from(span.encode_to_vec())),
        }
    }

    /// The span, decoded. The bytes were encoded here, so decoding fails only on a bug; such a
    /// span is logged and left out rather than taking the process down.
    pub(crate) fn unpack(&self) -> Option<StoredSpan> {
        match Span::decode(self.span.clone()) {
            Ok(span) => Some(StoredSpan {
                resource: self.resource.clone(),
                scope: self.scope.clone(),
                span,
            }),
            Err(e) => {
                tracing::error!(error = %e, "a span in the head could not be decoded");
                None
            }
        }
    }
}

/// Decodes packed spans into `out` (cleared first).
pub(crate) fn unpack_all(spans: &[PackedSpan], out: &mut Vec<StoredSpan>) {
    out.clear();
    out.extend(spans.iter().filter_map(PackedSpan::unpack));
}

/// One trace of a [`TenantHead::snapshot`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadEntry {
    /// The trace's ID.
    pub(crate) id: TraceId,
    /// Earliest span start, unix nanoseconds.
    pub(crate) start: u64,
    /// Latest span end, unix nanoseconds.
    pub(crate) end: u64,
    /// Spans held.
    pub(crate) spans: usize,
}

/// A trace copied out of the head: its live and pending parts together.
pub(crate) struct TraceParts {
    packed: Vec<PackedSpan>,
    /// Estimated encoded size.
    pub(crate) bytes: u64,
}

impl TraceParts {
    /// Decodes the spans into `out` (cleared first).
    pub(crate) fn unpack(&self, out: &mut Vec<StoredSpan>) {
        unpack_all(&self.packed, out);
    }
}

/// A trace still receiving spans.
#[derive(Debug)]
pub(crate) struct LiveTrace {
    pub(crate) spans: Vec<PackedSpan>,
    /// Earliest span start, unix nanoseconds.
    pub(crate) start: u64,
    /// Latest span end, unix nanoseconds.
    pub(crate) end: u64,
    /// When spans last arrived.
    pub(crate) last_append: Instant,
    /// The oldest write-ahead log segment holding spans of this trace.
    pub(crate) min_segment: u64,
    /// Estimated encoded size.
    pub(crate) bytes: u64,
    /// The trace's time range as its block states it (for pruning and retention): each
    /// span's start and end clamped to the window around its ingestion time
    /// (`ingestion_time_range_slack`), so a span stamped far in the past or future never pins
    /// a block nor escapes retention.
    pub(crate) block_range: (u64, u64),
}

impl LiveTrace {
    fn new(segment: u64, now: Instant) -> LiveTrace {
        LiveTrace {
            spans: Vec::new(),
            start: 0,
            end: 0,
            last_append: now,
            min_segment: segment,
            bytes: 0,
            block_range: (u64::MAX, 0),
        }
    }

    /// Adds a span ingested when the window `[window.0, window.1]` was around now.
    fn push(
        &mut self,
        resource: &Arc<SharedResource>,
        scope: &Arc<SharedScope>,
        span: &Span,
        encoded: Option<Bytes>,
        window: (u64, u64),
    ) {
        let (start, end) = (span.start_time_unix_nano, span.end_time_unix_nano);
        if self.spans.is_empty() || start < self.start {
            self.start = start;
        }
        self.end = self.end.max(end);
        let clamp = |t: u64| t.clamp(window.0, window.1);
        self.block_range = (
            self.block_range.0.min(clamp(start)),
            self.block_range.1.max(clamp(end.max(start))),
        );
        self.spans
            .push(PackedSpan::new(resource, scope, span, encoded));
    }

    /// Adds the spans of a later part of the same trace.
    fn absorb(&mut self, other: LiveTrace) {
        if self.spans.is_empty() || other.start < self.start {
            self.start = other.start;
        }
        self.end = self.end.max(other.end);
        self.min_segment = self.min_segment.min(other.min_segment);
        self.bytes += other.bytes;
        self.block_range = (
            self.block_range.0.min(other.block_range.0),
            self.block_range.1.max(other.block_range.1),
        );
        self.spans.extend(other.spans);
    }
}

/// Trace IDs are random: their first eight bytes are already a good hash.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
        }
    }
}

type TraceMap = HashMap<TraceId, LiveTrace, BuildHasherDefault<IdHasher>>;

/// Bytes admitted for one trace while it is active, for `max_bytes_per_trace`.
#[derive(Debug, Clone, Copy)]
struct Admitted {
    bytes: u64,
    last: Instant,
}

type LedgerMap = HashMap<TraceId, Admitted, BuildHasherDefault<IdHasher>>;

/// The live traces of one tenant, and the complete ones waiting for their block.
#[derive(Default)]
pub(crate) struct TenantHead {
    shards: [Mutex<TraceMap>; SHARDS],
    /// Traces idle for `trace_idle_period`: complete, still readable here until their block is
    /// durable.
    pending: RwLock<HashMap<TraceId, LiveTrace>>,
    pending_bytes: AtomicU64,
    pending_since: Mutex<Option<Instant>>,
    /// Estimated bytes of the live traces.
    live_bytes: AtomicU64,
    /// Spans held, live and pending.
    spans: AtomicU64,
    /// Bytes admitted per active trace, reserved before the WAL append: the trace size limit
    /// holds across concurrent requests, and across blocks cut while the trace is active.
    ledger: [Mutex<LedgerMap>; SHARDS],
}

impl TenantHead {
    fn shard(&self, id: &TraceId) -> &Mutex<TraceMap> {
        // Use bytes the map's hasher does not weigh most, so shards and buckets stay independent.
        &self.shards[id.0[15] as usize & (SHARDS - 1)]
    }

    /// Adds spans whose IDs have been validated, durable in WAL segment `segment`;
    /// `bytes_per_span` estimates their encoded size. `window` is the ingestion time minus and
    /// plus `ingestion_time_range_slack`, unix nanoseconds: the traces' block ranges stay in it.
    pub(crate) fn insert(
        &self,
        resource_spans: Vec<ResourceSpans>,
        encoded: Option<&Bytes>,
        segment: u64,
        bytes_per_span: u64,
        window: (u64, u64),
    ) {
        // The spans' own bytes, when the batch came encoded and its shape matches: kept as
        // slices of it, with no encoding again.
        let slices = encoded
            .and_then(crate::batch::span_slices)
            .filter(|slices| {
                slices.len() == resource_spans.len()
                    && slices.iter().zip(&resource_spans).all(|(s, rs)| {
                        s.len() == rs.scope_spans.len()
                            && s.iter()
                                .zip(&rs.scope_spans)
                                .all(|(s, ss)| s.len() == ss.spans.len())
                    })
            });
        let now = Instant::now();
        let mut count = 0u64;
        for (r, rs) in resource_spans.into_iter().enumerate() {
            let resource = Arc::new(SharedResource {
                resource: rs.resource,
                schema_url: rs.schema_url,
            });
            for (c, ss) in rs.scope_spans.into_iter().enumerate() {
                let scope = Arc::new(SharedScope {
                    scope: ss.scope,
                    schema_url: ss.schema_url,
                });
                let bytes_of = |k: usize| -> Option<Bytes> {
                    slices
                        .as_ref()
                        .and_then(|s| s.get(r)?.get(c)?.get(k).cloned())
                };
                let mut spans = ss.spans.into_iter().enumerate().peekable();
                while let Some((k, span)) = spans.next() {
                    let Some(id) = TraceId::from_slice(&span.trace_id) else {
                        continue;
                    };
                    let mut shard = self.shard(&id).lock();
                    let trace = shard
                        .entry(id)
                        .or_insert_with(|| LiveTrace::new(segment, now));
                    trace.last_append = now;
                    trace.min_segment = trace.min_segment.min(segment);
                    count += 1;
                    trace.bytes += bytes_per_span;
                    trace.push(&resource, &scope, &span, bytes_of(k), window);
                    // Spans of one trace usually arrive together: keep the lock for them.
                    while let Some((k, next)) = spans.next_if(|(_, s)| s.trace_id == id.0) {
                        count += 1;
                        trace.bytes += bytes_per_span;
                        trace.push(&resource, &scope, &next, bytes_of(k), window);
                    }
                }
            }
        }
        self.spans.fetch_add(count, Ordering::Relaxed);
        self.live_bytes
            .fetch_add(count * bytes_per_span, Ordering::Relaxed);
    }

    /// Admits each trace's bytes unless they would take it past `limit` (0: no limit);
    /// returns the refused traces, sorted, with the bytes they already had. Admitted bytes
    /// are reserved until the trace is idle ([`TenantHead::forget_idle`]) or given back
    /// ([`TenantHead::unadmit`]).
    pub(crate) fn admit(&self, sizes: &[(TraceId, u64, usize)], limit: u64) -> Vec<(TraceId, u64)> {
        let now = Instant::now();
        let mut refused = Vec::new();
        for (id, bytes, _) in sizes {
            let mut ledger = self.ledger[id.0[15] as usize & (SHARDS - 1)].lock();
            let entry = ledger.entry(*id).or_insert(Admitted {
                bytes: 0,
                last: now,
            });
            if limit > 0 && entry.bytes.saturating_add(*bytes) > limit {
                refused.push((*id, entry.bytes));
                if entry.bytes == 0 {
                    ledger.remove(id);
                } else {
                    // Still being written to: the count goes on.
                    entry.last = now;
                }
                continue;
            }
            entry.bytes += bytes;
            entry.last = now;
        }
        refused.sort_unstable();
        refused
    }

    /// Gives back bytes admitted for a batch that was not stored after all.
    pub(crate) fn unadmit(&self, sizes: &[(TraceId, u64, usize)]) {
        for (id, bytes, _) in sizes {
            let mut ledger = self.ledger[id.0[15] as usize & (SHARDS - 1)].lock();
            if let Some(entry) = ledger.get_mut(id) {
                entry.bytes = entry.bytes.saturating_sub(*bytes);
                if entry.bytes == 0 {
                    ledger.remove(id);
                }
            }
        }
    }

    /// Forgets the admitted bytes of traces that received nothing for `idle`: a trace that
    /// receives spans again after that starts its count anew.
    pub(crate) fn forget_idle(&self, idle: Duration) {
        let now = Instant::now();
        for shard in &self.ledger {
            shard
                .lock()
                .retain(|_, a| now.duration_since(a.last) < idle);
        }
    }

    /// Estimated bytes of live and pending traces together.
    pub(crate) fn total_bytes(&self) -> u64 {
        self.live_bytes.load(Ordering::Relaxed) + self.pending_bytes.load(Ordering::Relaxed)
    }

    /// The live and pending parts of a trace, if either overlaps `[start, end]`: references
    /// to its packed spans, taken under the locks and decoded after they are released, so a
    /// reader never holds up ingestion.
    pub(crate) fn copy_trace(&self, id: &TraceId, start: u64, end: u64) -> Option<TraceParts> {
        let overlaps = |t: &LiveTrace| !(t.end < start || t.start > end);
        // The pending read lock is held across both look-ups: a trace moving from live to
        // pending is in one of them.
        let pending = self.pending.read();
        let shard = self.shard(id).lock();
        let (p, l) = (pending.get(id), shard.get(id));
        if !p.is_some_and(overlaps) && !l.is_some_and(overlaps) {
            return None;
        }
        let mut parts = TraceParts {
            packed: Vec::with_capacity(
                p.map_or(0, |t| t.spans.len()) + l.map_or(0, |t| t.spans.len()),
            ),
            bytes: 0,
        };
        for t in p.into_iter().chain(l) {
            parts.packed.extend(t.spans.iter().cloned());
            parts.bytes += t.bytes;
        }
        Some(parts)
    }

    /// The traces overlapping `[start, end]`, their live and pending parts together, as they
    /// are now: what a query reads from the head, one trace at a time
    /// ([`TenantHead::copy_trace`]), with no lock held while it evaluates them.
    pub(crate) fn snapshot(&self, start: u64, end: u64) -> Vec<HeadEntry> {
        let mut at: HashMap<TraceId, usize, BuildHasherDefault<IdHasher>> = HashMap::default();
        let mut out: Vec<HeadEntry> = Vec::new();
        let mut add = |id: &TraceId, t: &LiveTrace| match at.get(id) {
            Some(&i) => {
                let e = &mut out[i];
                e.start = e.start.min(t.start);
                e.end = e.end.max(t.end);
                e.spans += t.spans.len();
            }
            None => {
                at.insert(*id, out.len());
                out.push(HeadEntry {
                    id: *id,
                    start: t.start,
                    end: t.end,
                    spans: t.spans.len(),
                });
            }
        };
        for (id, t) in self.pending.read().iter() {
            add(id, t);
        }
        for shard in &self.shards {
            for (id, t) in shard.lock().iter() {
                add(id, t);
            }
        }
        out.retain(|e| !(e.end < start || e.start > end));
        out
    }

    /// Moves traces idle for `idle` (or all, with `everything`) from live to pending.
    pub(crate) fn complete_idle(&self, idle: Duration, everything: bool) -> usize {
        let now = Instant::now();
        // Traces move from their shard to pending under the pending write lock, which readers
        // hold (read) across both places: a reader never finds a trace in neither.
        let mut pending = self.pending.write();
        let mut n = 0usize;
        let mut moved_bytes = 0u64;
        for shard in &self.shards {
            let mut map = shard.lock();
            let ids: Vec<TraceId> = map
                .iter()
                .filter(|(_, t)| everything || now.duration_since(t.last_append) >= idle)
                .map(|(id, _)| *id)
                .collect();
            for id in ids {
                let Some(trace) = map.remove(&id) else {
                    continue;
                };
                n += 1;
                moved_bytes += trace.bytes;
                self.pending_bytes.fetch_add(trace.bytes, Ordering::Relaxed);
                match pending.get_mut(&id) {
                    // Late spans of a trace already waiting for its block: one trace.
                    Some(existing) => existing.absorb(trace),
                    None => {
                        pending.insert(id, trace);
                    }
                }
            }
        }
        if n == 0 {
            return 0;
        }
        let live = self.live_bytes.load(Ordering::Relaxed);
        self.live_bytes
            .fetch_sub(moved_bytes.min(live), Ordering::Relaxed);
        self.pending_since.lock().get_or_insert(now);
        n
    }

    /// Estimated bytes and age of the pending traces.
    pub(crate) fn pending_state(&self) -> (u64, Option<Duration>) {
        (
            self.pending_bytes.load(Ordering::Relaxed),
            self.pending_since.lock().map(|t| t.elapsed()),
        )
    }

    /// Runs `f` over the pending traces sorted by ID (a read lock is held meanwhile).
    pub(crate) fn with_pending<R>(&self, f: impl FnOnce(&[(&TraceId, &LiveTrace)]) -> R) -> R {
        let pending = self.pending.read();
        let mut sorted: Vec<(&TraceId, &LiveTrace)> = pending.iter().collect();
        sorted.sort_unstable_by_key(|(id, _)| **id);
        f(&sorted)
    }

    /// Drops pending traces now durable in a block.
    pub(crate) fn remove_pending(&self, ids: &[TraceId]) {
        let mut pending = self.pending.write();
        for id in ids {
            if let Some(t) = pending.remove(id) {
                let spans = t.spans.len() as u64;
                let held = self.spans.load(Ordering::Relaxed);
                self.spans.fetch_sub(spans.min(held), Ordering::Relaxed);
                self.pending_bytes.fetch_sub(
                    t.bytes.min(self.pending_bytes.load(Ordering::Relaxed)),
                    Ordering::Relaxed,
                );
            }
        }
        if pending.is_empty() {
            *self.pending_since.lock() = None;
            self.pending_bytes.store(0, Ordering::Relaxed);
        }
    }

    /// The traces (live and pending) that still need a WAL segment below `before`, each as
    /// its ID and its spans grouped into a `TracesData`: to be appended to the WAL again so
    /// that those segments can be released ([`TenantHead::carried_forward`]). Called with
    /// block cutting held off, so no trace moves between live and pending meanwhile.
    pub(crate) fn stale_traces(&self, before: u64) -> Vec<(TraceId, TracesData)> {
        let mut ids: Vec<TraceId> = self
            .pending
            .read()
            .iter()
            .filter(|(_, t)| t.min_segment < before)
            .map(|(id, _)| *id)
            .collect();
        for shard in &self.shards {
            ids.extend(
                shard
                    .lock()
                    .iter()
                    .filter(|(_, t)| t.min_segment < before)
                    .map(|(id, _)| *id),
            );
        }
        ids.sort_unstable();
        ids.dedup();
        let mut spans = Vec::new();
        ids.into_iter()
            .filter_map(|id| {
                let parts = self.copy_trace(&id, 0, u64::MAX)?;
                parts.unpack(&mut spans);
                Some((id, assemble(spans.iter())))
            })
            .collect()
    }

    /// Records that the traces' spans taken by [`TenantHead::stale_traces`] are durable again
    /// in recent segments: every span they had then is in segment `segment` or later, and
    /// any span added since came from segment `segment` or later.
    pub(crate) fn carried_forward(&self, ids: &[TraceId], segment: u64) {
        let mut pending = self.pending.write();
        for id in ids {
            if let Some(t) = pending.get_mut(id) {
                t.min_segment = t.min_segment.max(segment);
            }
            if let Some(t) = self.shard(id).lock().get_mut(id) {
                t.min_segment = t.min_segment.max(segment);
            }
        }
    }

    /// The oldest WAL segment any trace here still needs.
    pub(crate) fn min_segment(&self) -> Option<u64> {
        let live = self
            .shards
            .iter()
            .filter_map(|s| s.lock().values().map(|t| t.min_segment).min())
            .min();
        let pending = self.pending.read().values().map(|t| t.min_segment).min();
        match (live, pending) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Number of live and pending traces.
    pub(crate) fn trace_count(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum::<usize>() + self.pending.read().len()
    }

    /// Number of spans held, live and pending.
    pub(crate) fn span_count(&self) -> u64 {
        self.spans.load(Ordering::Relaxed)
    }
}

/// The head of every tenant.
#[derive(Default)]
pub(crate) struct Head {
    tenants: RwLock<HashMap<Arc<str>, Arc<TenantHead>>>,
}

impl Head {
    /// The tenant's head, created on first use.
    pub(crate) fn tenant(&self, tenant: &str) -> Arc<TenantHead> {
        if let Some(head) = self.tenants.read().get(tenant) {
            return head.clone();
        }
        self.tenants
            .write()
            .entry(Arc::from(tenant))
            .or_default()
            .clone()
    }

    /// The tenant's head, if it has one.
    pub(crate) fn get(&self, tenant: &str) -> Option<Arc<TenantHead>> {
        self.tenants.read().get(tenant).cloned()
    }

    /// Every tenant with live data.
    pub(crate) fn tenants(&self) -> Vec<(Arc<str>, Arc<TenantHead>)> {
        self.tenants
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}
