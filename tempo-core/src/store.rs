//! store: the one handle a host holds.
//!
//! [`Store`] is the API: ingest, find by ID, search, tags, flush, close. It coordinates; the
//! work is done by the modules the data passes through: `batch` (validation), `wal` (the log),
//! `head` (fresh traces), `cut` (head to block), `block` and `backend` (blocks on storage),
//! `catalog` (each tenant's blocks), `compact` and `retention` (background upkeep), and
//! `query` (the engine over head and blocks).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use prost::Message;

use crate::backend::{Backend, BackendStats, LocalBackend, Metered};
use crate::batch::Batch;
use crate::block::BlockMeta;
use crate::block::source::{OnBlockError, RowGroupSource};
use crate::catalog::{Catalog, SetAside};
use crate::config::{Config, TenantLimits, tenant_limit};
use crate::error::{
    FindError, FlushError, IngestError, MetricsError, OpenError, SearchError, TagsError,
};
use crate::generator::{GeneratedSeries, Generator, GeneratorConfig};
use crate::head::{Head, HeadSource};
use crate::model::{TimeRange, TraceId, TracesData};
use crate::query::source::Sources;
use crate::spans::assemble;
use crate::state::{Counters, Shared, now_nanos};
use crate::tenant::validate_tenant;
use crate::wal::{FsyncPolicy, RecordKind, ReplayReport, Wal, WalOptions};

/// The most steps a metrics range query holds, whatever `metrics_max_intervals` says.
const HARD_MAX_INTERVALS: u64 = 1_000_000;
/// The tenant used when multi-tenancy is off, as in Tempo.
pub const SINGLE_TENANT: &str = "single-tenant";

/// Builds a [`Store`].
///
/// ```
/// # fn main() -> Result<(), tempo_core::Error> {
/// let dir = std::env::temp_dir().join(format!("tempo-doc-{}", std::process::id()));
/// let store = tempo_core::Store::builder()
///     .wal_dir(dir.join("wal"))
///     .local_blocks(dir.join("blocks"))?
///     .fsync(tempo_core::FsyncPolicy::Always)
///     .open()?;
/// store.close()?;
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct StoreBuilder {
    config: Config,
}

impl StoreBuilder {
    /// Keeps the write-ahead log in `dir`.
    pub fn wal_dir(mut self, dir: impl AsRef<Path>) -> StoreBuilder {
        self.config.wal_dir = Some(dir.as_ref().to_owned());
        self
    }

    /// Stores blocks in `backend`.
    pub fn blocks(mut self, backend: Arc<dyn Backend>) -> StoreBuilder {
        self.config.blocks = Some(backend);
        self
    }

    /// Stores blocks in a directory on local disk.
    pub fn local_blocks(self, dir: impl AsRef<Path>) -> Result<StoreBuilder, OpenError> {
        let backend = LocalBackend::open(dir.as_ref())?;
        Ok(self.blocks(Arc::new(backend)))
    }

    /// Sets when appends are made durable (default [`FsyncPolicy::Always`]).
    pub fn fsync(mut self, policy: FsyncPolicy) -> StoreBuilder {
        self.config.fsync = policy;
        self
    }

    /// Sets the size at which a WAL segment is closed (default 128 MiB).
    pub fn wal_segment_bytes(mut self, bytes: u64) -> StoreBuilder {
        self.config.wal_segment_bytes = bytes;
        self
    }

    /// Sets how long a trace must be idle to be complete (default 5s).
    pub fn trace_idle_period(mut self, period: Duration) -> StoreBuilder {
        self.config.trace_idle_period = period;
        self
    }

    /// Sets the size at which complete traces are cut into a block (default 50 MiB).
    pub fn max_block_bytes(mut self, bytes: u64) -> StoreBuilder {
        self.config.max_block_bytes = bytes;
        self
    }

    /// Sets the longest a complete trace waits for its block (default 30s).
    pub fn max_block_duration(mut self, duration: Duration) -> StoreBuilder {
        self.config.max_block_duration = duration;
        self
    }

    /// Sets how long blocks are kept (default 336h).
    pub fn block_retention(mut self, retention: Duration) -> StoreBuilder {
        self.config.block_retention = retention;
        self
    }

    /// Keeps `tenant`'s blocks for `retention` instead.
    pub fn tenant_retention(mut self, tenant: &str, retention: Duration) -> StoreBuilder {
        self.config
            .tenant_limits
            .entry(tenant.to_owned())
            .or_default()
            .block_retention = Some(retention);
        self
    }

    /// Sets how often the background thread checks for complete traces (default 1s).
    pub fn flush_check_period(mut self, period: Duration) -> StoreBuilder {
        self.config.flush_check_period = period;
        self
    }

    /// Sets the compaction window (default 1h).
    pub fn compaction_window(mut self, window: Duration) -> StoreBuilder {
        self.config.compaction_window = window;
        self
    }

    /// Sets how many blocks of one level and window trigger a compaction (default 4, at
    /// least 2).
    pub fn compaction_min_inputs(mut self, n: usize) -> StoreBuilder {
        self.config.compaction_min_inputs = n;
        self
    }

    /// Sets the most a tenant's head may hold before ingestion is refused (default 128 MiB).
    pub fn max_head_bytes(mut self, bytes: u64) -> StoreBuilder {
        self.config.max_head_bytes = bytes;
        self
    }

    /// Sets the most memory one query may hold (default 512 MiB).
    pub fn max_query_bytes(mut self, bytes: u64) -> StoreBuilder {
        self.config.max_query_bytes = bytes;
        self
    }

    /// Sets the most memory kept bloom filter shards and row group footers may take
    /// (default 256 MiB).
    pub fn block_cache_bytes(mut self, bytes: u64) -> StoreBuilder {
        self.config.block_cache_bytes = bytes;
        self
    }

    /// On a shared backend, sets how often the block list is read again (default 5 min).
    pub fn blocklist_poll(mut self, period: Duration) -> StoreBuilder {
        self.config.blocklist_poll = period;
        self
    }

    /// On a shared backend, sets how long a compaction lease lasts unless renewed (default
    /// 2 min).
    pub fn compaction_lease(mut self, lease: Duration) -> StoreBuilder {
        self.config.compaction_lease = lease;
        self
    }

    /// Sets how long blocks replaced by compaction are kept before they are deleted (default
    /// 5 min).
    pub fn compacted_block_retention(mut self, grace: Duration) -> StoreBuilder {
        self.config.compacted_block_retention = grace;
        self
    }

    /// Sets how far from its ingestion time a span may stretch its block's time range
    /// (default 2 min).
    pub fn ingestion_time_range_slack(mut self, slack: Duration) -> StoreBuilder {
        self.config.ingestion_time_range_slack = slack;
        self
    }

    /// Sets how many threads a search uses (default 0: one per core).
    pub fn query_parallelism(mut self, threads: usize) -> StoreBuilder {
        self.config.query_parallelism = threads;
        self
    }

    /// Sets the largest a trace may grow (default 5 MB; 0: no limit).
    pub fn max_bytes_per_trace(mut self, bytes: u64) -> StoreBuilder {
        self.config.max_bytes_per_trace = bytes;
        self
    }

    /// Sets the longest range a metrics query may cover (default 24 h; zero: no limit).
    pub fn metrics_max_duration(mut self, max: Duration) -> StoreBuilder {
        self.config.metrics_max_duration = max;
        self
    }

    /// Sets the most intervals a metrics range query may ask for (default 10,000; 0: no
    /// limit but the hard one, a million).
    pub fn metrics_max_intervals(mut self, max: u64) -> StoreBuilder {
        self.config.metrics_max_intervals = max;
        self
    }

    /// Turns the metrics generator on (off by default, as in Tempo): series derived from the
    /// spans acknowledged from then on, read with [`Store::generated_series`].
    pub fn metrics_generator(mut self, config: GeneratorConfig) -> StoreBuilder {
        self.config.metrics_generator = config;
        self
    }

    /// Sets the per-tenant limits (see [`Store::set_tenant_limits`]).
    pub fn tenant_limits(mut self, limits: HashMap<String, TenantLimits>) -> StoreBuilder {
        self.config.tenant_limits = limits;
        self
    }

    /// Sets the longest an attribute key or string value may be, in bytes (Tempo's
    /// `max_attribute_bytes`; 0: no limit).
    pub fn max_attribute_bytes(mut self, bytes: u64) -> StoreBuilder {
        self.config.max_attribute_bytes = bytes;
        self
    }

    /// Sets `tenant`'s own `max_bytes_per_trace`.
    pub fn tenant_max_bytes_per_trace(mut self, tenant: &str, bytes: u64) -> StoreBuilder {
        self.config
            .tenant_limits
            .entry(tenant.to_owned())
            .or_default()
            .max_bytes_per_trace = Some(bytes);
        self
    }

    /// Opens the store: reads its blocks' metadata and replays its write-ahead log.
    pub fn open(self) -> Result<Store, OpenError> {
        Store::open(self.config)
    }
}

/// What [`Store::ingest`] stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IngestReceipt {
    /// Spans now durable and readable.
    pub accepted_spans: usize,
    /// Spans dropped by validation or refused by a limit (`max_bytes_per_trace`).
    pub rejected_spans: usize,
    /// Why spans were rejected: the first few reasons, as OTLP's partial success reports
    /// them; `None` when none was.
    pub rejection_message: Option<String>,
    /// Bytes written to the write-ahead log for this batch (zero in memory).
    pub wal_bytes: usize,
}

/// A trace found by ID ([`Store::find_trace_with_metrics`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FoundTrace {
    /// The trace: its spans grouped by resource and instrumentation scope.
    pub trace: TracesData,
    /// Bytes read to find it: the encoded row groups read, and the trace's spans in the head.
    pub inspected_bytes: u64,
}

/// Counters of a store, for metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// Records appended to the WAL.
    pub wal_appends: u64,
    /// WAL syncs (fewer than appends under group commit).
    pub wal_syncs: u64,
    /// Bytes appended to the WAL.
    pub wal_bytes: u64,
    /// Groups of records written with one write.
    pub wal_groups: u64,
    /// Live and complete traces in the head, all tenants.
    pub head_traces: u64,
    /// Spans held in the head (live and waiting for their block), all tenants.
    pub head_spans: u64,
    /// Blocks now readable, all tenants.
    pub blocks: u64,
    /// Bytes of those blocks.
    pub block_bytes: u64,
    /// Blocks written from the head.
    pub blocks_flushed: u64,
    /// Blocks that could not be read (skipped and reported).
    pub block_errors: u64,
    /// Corrupt blocks set aside: marked, no longer read nor compacted, kept for inspection.
    pub blocks_set_aside: u64,
    /// Readable blocks with a bloom filter shard that could not be read: lookups there read
    /// the index instead.
    pub blocks_bloom_damaged: u64,
    /// Blocks deleted by retention.
    pub blocks_expired: u64,
    /// Compactions completed.
    pub compactions: u64,
    /// Spans refused at ingest because their trace would exceed `max_bytes_per_trace`.
    pub spans_refused_trace_too_large: u64,
    /// Attribute keys and string values truncated at ingest to `max_attribute_bytes`.
    pub attributes_truncated: u64,
    /// Searches stopped by their deadline (answered partial).
    pub queries_expired: u64,
    /// Searches cancelled by their caller, such as an HTTP client that went away.
    pub queries_cancelled: u64,
    /// Searches stopped by `max_query_bytes` (answered partial, or refused when they found
    /// nothing).
    pub queries_over_budget: u64,
    /// Batches refused because a head held `max_head_bytes` ([`Error::Overloaded`]).
    pub batches_refused_overloaded: u64,
    /// Spans the metrics generator counted in no series because a tenant's registry held
    /// `max_active_series`.
    pub generator_dropped_spans: u64,
    /// Series the metrics generator holds, over all tenants.
    pub generator_active_series: u64,
    /// Service-graph half-edges waiting for their other half, over all tenants.
    pub generator_pending_edges: u64,
}

/// The trace store: ingest spans, read traces back.
///
/// Cheap to clone; every clone is the same store. Dropping the last clone stops its
/// background thread; [`Store::close`] also syncs the write-ahead log.
///
/// ```
/// use tempo_core::model::{ResourceSpans, ScopeSpans, Span, TraceId};
/// use tempo_core::{Batch, Store, TimeRange};
///
/// let store = Store::in_memory();
/// let span = Span { trace_id: vec![1; 16], span_id: vec![2; 8], name: "GET /".into(), ..Default::default() };
/// let batch = Batch::new(vec![ResourceSpans {
///     scope_spans: vec![ScopeSpans { spans: vec![span], ..Default::default() }],
///     ..Default::default()
/// }]);
/// store.ingest("single-tenant", batch)?;
/// let trace = store.find_trace("single-tenant", TraceId([1; 16]), TimeRange::ALL)?;
/// assert_eq!(trace.map(|t| t.resource_spans.len()), Some(1));
/// # Ok::<(), tempo_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Store {
    inner: Arc<Shared>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

use crate::query::eval::Compiled;
use crate::query::stop::StopReason;
use crate::query::value::go_duration;
use crate::query::{
    MetricsPartial, MetricsRequest, MetricsResponse, QueryError, SearchRequest, SearchResponse,
    TagScope, TagValue,
};

impl Store {
    /// A builder with Tempo's defaults.
    pub fn builder() -> StoreBuilder {
        StoreBuilder::default()
    }

    /// A store that keeps everything in memory, for tests and embedding.
    pub fn in_memory() -> Store {
        Store::from_parts(
            Config::default(),
            None,
            Head::default(),
            ReplayReport::default(),
        )
    }

    fn from_parts(config: Config, wal: Option<Wal>, head: Head, replay: ReplayReport) -> Store {
        let limits = config.tenant_limits.clone();
        let meter = config
            .blocks
            .clone()
            .map(|backend| Arc::new(Metered::new(backend)));
        let catalog = Catalog::new(
            meter.clone().map(|m| m as Arc<dyn Backend>),
            config.compacted_block_retention,
            config.block_cache_bytes,
        );
        let generator = Generator::new(&config.metrics_generator);
        let bucket = config
            .blocks
            .as_ref()
            .filter(|b| b.is_shared())
            .map(|_| crate::state::BucketState::new());
        Store {
            inner: Arc::new(Shared {
                generator,
                config,
                wal,
                head,
                catalog,
                bucket,
                meter,
                replay,
                counters: Counters::default(),
                limits: RwLock::new(limits),
                cutting: Mutex::new(()),
                compacting: Mutex::new(()),
                stop: Mutex::new(None),
                threads: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Opens a store: reads its blocks' metadata and replays its write-ahead log into the
    /// head. A block that cannot be read is reported, counted and skipped.
    pub fn open(config: Config) -> Result<Store, OpenError> {
        let config = config.validated()?;
        let head = Head::default();
        let mut replay = ReplayReport::default();
        let wal = match &config.wal_dir {
            None => None,
            Some(wal_dir) => {
                let mut undecodable = 0usize;
                let started = Instant::now();
                let (wal, report) = Wal::open(
                    wal_dir,
                    WalOptions {
                        fsync: config.fsync,
                        segment_bytes: config.wal_segment_bytes,
                    },
                    |record| match record.kind {
                        RecordKind::Spans => {
                            let len = record.data.len() as u64;
                            match TracesData::decode(record.data.clone()) {
                                Ok(data) => {
                                    let spans = span_count(&data).max(1);
                                    // The traces' sizes count toward their limit again.
                                    head.tenant(&record.tenant)
                                        .admit(&crate::batch::trace_sizes(&data.resource_spans), 0);
                                    head.tenant(&record.tenant).insert(
                                        data.resource_spans,
                                        Some(&record.data),
                                        record.segment,
                                        len / spans,
                                        ingest_window(config.ingestion_time_range_slack),
                                    );
                                }
                                Err(err) => {
                                    undecodable += 1;
                                    tracing::error!(tenant = %record.tenant, error = %err, "WAL record does not decode; skipped");
                                }
                            }
                        }
                        RecordKind::Sync | RecordKind::Rotate => {}
                    },
                )?;
                let spans: u64 = head.tenants().iter().map(|(_, t)| t.span_count()).sum();
                tracing::info!(
                    dir = %wal_dir.display(),
                    segments = report.segments,
                    records = report.records,
                    spans,
                    corrupt_regions = report.corrupt_regions + undecodable,
                    truncated_bytes = report.truncated_bytes,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "write-ahead log replayed"
                );
                replay = report;
                Some(wal)
            }
        };
        let store = Store::from_parts(config, wal, head, replay);
        if let Some(bucket) = &store.inner.bucket {
            tracing::info!(server = %bucket.server_id(), "blocks on a shared backend: its block list is polled, compaction runs under a lease");
            crate::bucket::poll(&store.inner);
        } else {
            store.inner.catalog.load();
        }
        store.start_background();
        Ok(store)
    }

    fn start_background(&self) {
        if self.inner.config.blocks.is_none() {
            return;
        }
        // Dropping the sender (at close or drop) wakes both threads to stop.
        let (tx, rx) = crossbeam_channel::bounded::<()>(1);
        *self.inner.stop.lock() = Some(tx);
        let period = self.inner.config.flush_check_period;
        let (weak, stop) = (Arc::downgrade(&self.inner), rx.clone());
        let flusher = std::thread::Builder::new()
            .name("tempo-flush".into())
            .spawn(move || crate::cut::run(weak, stop, period));
        let (weak, stop) = (Arc::downgrade(&self.inner), rx.clone());
        let compactor = std::thread::Builder::new()
            .name("tempo-compact".into())
            .spawn(move || crate::compact::run(weak, stop, period));
        let (weak, stop) = (Arc::downgrade(&self.inner), rx);
        let poll = self.inner.config.blocklist_poll;
        let poller = std::thread::Builder::new()
            .name("tempo-poll".into())
            .spawn(move || crate::bucket::run(weak, stop, poll));
        for handle in [flusher, compactor, poller] {
            match handle {
                Ok(h) => self.inner.threads.lock().push(h),
                Err(e) => tracing::error!(error = %e, "cannot start a background thread"),
            }
        }
    }

    /// What the replay at open found in the write-ahead log.
    pub fn replay_report(&self) -> &ReplayReport {
        &self.inner.replay
    }

    /// Stores a batch, blocking until it is durable in the write-ahead log. Once this returns,
    /// the batch's traces are found by ID.
    ///
    /// Spans of a trace that would grow past `max_bytes_per_trace` are refused, counted in
    /// the receipt's rejected spans with the reason, and the rest of the batch is stored.
    pub fn ingest(&self, tenant: &str, batch: Batch) -> Result<IngestReceipt, IngestError> {
        let (batch, receipt, ack, admitted) = self.append(tenant, batch)?;
        let segment = match ack {
            Some(ack) => match ack.wait() {
                Ok(segment) => segment,
                Err(e) => {
                    self.unadmit(tenant, &admitted);
                    return Err(e.into());
                }
            },
            None => 0,
        };
        self.insert(tenant, batch, &receipt, segment);
        Ok(receipt)
    }

    /// Stores a batch; the future completes once it is durable in the write-ahead log. It can
    /// be awaited on any async runtime. Trace size limits apply as for [`Store::ingest`].
    pub async fn ingest_async(
        &self,
        tenant: &str,
        batch: Batch,
    ) -> Result<IngestReceipt, IngestError> {
        let (batch, receipt, ack, admitted) = self.append(tenant, batch)?;
        let segment = match ack {
            Some(ack) => match ack.await {
                Ok(segment) => segment,
                Err(e) => {
                    self.unadmit(tenant, &admitted);
                    return Err(e.into());
                }
            },
            None => 0,
        };
        self.insert(tenant, batch, &receipt, segment);
        Ok(receipt)
    }

    fn insert(&self, tenant: &str, batch: Batch, receipt: &IngestReceipt, segment: u64) {
        let spans = batch.span_count().max(1) as u64;
        let bytes = if receipt.wal_bytes > 0 {
            receipt.wal_bytes as u64
        } else {
            spans * 200
        };
        let generator = &self.inner.generator;
        let processors = tenant_limit(&self.inner.limits.read(), tenant, |l| {
            l.generator_processors
        })
        .unwrap_or_else(|| generator.default_processors());
        if processors.any() {
            // After the write-ahead log, before the answer: the generator never refuses.
            generator.consume(tenant, processors, batch.resource_spans(), now_nanos());
        }
        let (resource_spans, encoded) = batch.into_parts();
        self.inner.head.tenant(tenant).insert(
            resource_spans,
            encoded.as_ref(),
            segment,
            bytes / spans,
            ingest_window(self.inner.config.ingestion_time_range_slack),
        );
    }

    /// `max_attribute_bytes` of a tenant (0: no limit).
    fn attribute_limit(&self, tenant: &str) -> u64 {
        tenant_limit(&self.inner.limits.read(), tenant, |l| l.max_attribute_bytes)
            .unwrap_or(self.inner.config.max_attribute_bytes)
    }

    /// `max_bytes_per_trace` of a tenant (0: no limit).
    fn trace_limit(&self, tenant: &str) -> u64 {
        tenant_limit(&self.inner.limits.read(), tenant, |l| l.max_bytes_per_trace)
            .unwrap_or(self.inner.config.max_bytes_per_trace)
    }

    /// Replaces the per-tenant limits (as a runtime overrides file changes). A tenant not
    /// named gets the limits of `"*"` if there is such an entry, as in Tempo's overrides; a
    /// limit an entry leaves unset is the store's default ([`Config`]). Takes effect for the next request, and for
    /// retention at its next pass.
    pub fn set_tenant_limits(&self, limits: HashMap<String, TenantLimits>) {
        *self.inner.limits.write() = limits;
    }

    /// The per-tenant limits in force.
    pub fn tenant_limits(&self) -> HashMap<String, TenantLimits> {
        self.inner.limits.read().clone()
    }

    fn unadmit(&self, tenant: &str, admitted: &[(TraceId, u64, usize)]) {
        if !admitted.is_empty() {
            self.inner.head.tenant(tenant).unadmit(admitted);
        }
    }

    /// Checks the batch against the tenant's limits, reserves its traces' bytes and appends
    /// what is admitted to the write-ahead log.
    #[expect(
        clippy::type_complexity,
        reason = "private, and each part is named where used"
    )]
    fn append(
        &self,
        tenant: &str,
        mut batch: Batch,
    ) -> Result<
        (
            Batch,
            IngestReceipt,
            Option<crate::wal::Ack>,
            Vec<(TraceId, u64, usize)>,
        ),
        IngestError,
    > {
        validate_tenant(tenant)?;
        let config = &self.inner.config;
        if batch.span_count() > 0
            && config.blocks.is_some()
            && let Some(head) = self.inner.head.get(tenant)
        {
            let limit = config
                .max_head_bytes
                .max(config.max_block_bytes.saturating_mul(2));
            let held = head.total_bytes();
            if held >= limit {
                self.inner
                    .counters
                    .overloaded
                    .fetch_add(1, Ordering::Relaxed);
                return Err(IngestError::Overloaded {
                    tenant: tenant.to_owned(),
                    held,
                    limit,
                });
            }
        }
        let attribute_limit = self.attribute_limit(tenant);
        if attribute_limit > 0 {
            let truncated = batch.truncate_attributes(attribute_limit);
            if truncated > 0 {
                self.inner
                    .counters
                    .attributes_truncated
                    .fetch_add(truncated, Ordering::Relaxed);
            }
        }
        let mut admitted = Vec::new();
        let limit = self.trace_limit(tenant);
        if batch.span_count() > 0 && limit > 0 {
            admitted = batch.trace_sizes();
            let head = self.inner.head.tenant(tenant);
            let refused = head.admit(&admitted, limit);
            if !refused.is_empty() {
                admitted
                    .retain(|(id, _, _)| refused.binary_search_by_key(id, |(r, _)| *r).is_err());
                let ids: Vec<TraceId> = refused.iter().map(|(id, _)| *id).collect();
                let spans = batch.refuse_traces(&ids, |id| {
                    let had = refused
                        .binary_search_by_key(id, |(r, _)| *r)
                        .map_or(0, |i| refused[i].1);
                    format!(
                        "TRACE_TOO_LARGE: trace {id} would exceed max_bytes_per_trace ({limit} bytes) \
                         of tenant {tenant}: it holds {had} bytes"
                    )
                });
                self.inner
                    .counters
                    .spans_refused_trace_too_large
                    .fetch_add(spans as u64, Ordering::Relaxed);
                tracing::warn!(
                    tenant,
                    traces = refused.len(),
                    spans,
                    limit,
                    first = %refused[0].0,
                    "spans refused: their trace would exceed max_bytes_per_trace"
                );
            }
        }
        let mut receipt = IngestReceipt {
            accepted_spans: batch.span_count(),
            rejected_spans: batch.rejected_spans(),
            rejection_message: batch.rejection_message(),
            wal_bytes: 0,
        };
        if batch.span_count() == 0 {
            return Ok((batch, receipt, None, admitted));
        }
        let Some(wal) = &self.inner.wal else {
            return Ok((batch, receipt, None, admitted));
        };
        let data = batch.encoded();
        receipt.wal_bytes = data.len();
        let ack = wal.append(RecordKind::Spans, Arc::from(tenant), data);
        Ok((batch, receipt, Some(ack), admitted))
    }

    /// Finds a trace by ID among the tenant's data overlapping `range`: the head first, then
    /// every block whose time range overlaps and whose bloom filter may hold it. Parts of the
    /// trace in several places are combined; spans repeated across deliveries (same span ID
    /// and kind) are returned once. A block that cannot be read is reported and skipped.
    pub fn find_trace(
        &self,
        tenant: &str,
        id: TraceId,
        range: TimeRange,
    ) -> Result<Option<TracesData>, FindError> {
        Ok(self
            .find_trace_with_metrics(tenant, id, range)?
            .map(|found| found.trace))
    }

    /// [`Store::find_trace`], with what the lookup read: the bytes of the row groups read
    /// and of the trace's spans in the head (Tempo's `inspectedBytes`).
    pub fn find_trace_with_metrics(
        &self,
        tenant: &str,
        id: TraceId,
        range: TimeRange,
    ) -> Result<Option<FoundTrace>, FindError> {
        validate_tenant(tenant)?;
        let (sources, _, failures) = self.sources(tenant, &range, Reach::All);
        let (spans, inspected_bytes) = crate::query::find::find(&sources, &id, &range);
        if let Some(reason) = failures.reason() {
            // Some of the trace may be in the blocks that could not be read: an answer
            // without them would look whole.
            return Err(FindError::Incomplete { reason });
        }
        if spans.is_empty() {
            return Ok(None);
        }
        Ok(Some(FoundTrace {
            trace: assemble(spans.iter()),
            inspected_bytes,
        }))
    }

    /// The part of a trace still in the head (acknowledged, not yet in a block) or in the
    /// blocks written in the last two block-list polls: what other servers on the same
    /// bucket ask for. They read older blocks from the bucket themselves; a block this store
    /// has just cut is not in their list until their next poll, and is answered here
    /// meanwhile (a span found twice is combined by its ID).
    pub fn find_trace_in_head(
        &self,
        tenant: &str,
        id: TraceId,
        range: TimeRange,
    ) -> Result<Option<TracesData>, FindError> {
        validate_tenant(tenant)?;
        let (sources, _, _) = self.sources(tenant, &range, Reach::HeadAndRecent);
        let (spans, _) = crate::query::find::find(&sources, &id, &range);
        if spans.is_empty() {
            return Ok(None);
        }
        Ok(Some(assemble(spans.iter())))
    }

    /// Makes everything acknowledged so far durable, whatever the fsync policy.
    pub fn flush(&self) -> Result<(), FlushError> {
        if let Some(wal) = &self.inner.wal {
            wal.sync()?;
        }
        Ok(())
    }

    /// Cuts every trace in the head into blocks now, complete or not, and releases the
    /// write-ahead log segments they came from. Without a block backend, does nothing.
    pub fn flush_blocks(&self) -> Result<Vec<BlockMeta>, FlushError> {
        crate::cut::cut_blocks(&self.inner, true)
    }

    /// The corrupt blocks set aside, with why.
    pub fn set_aside_blocks(&self) -> Vec<SetAside> {
        self.inner.catalog.set_aside_blocks()
    }

    /// The metadata of the tenant's readable blocks.
    pub fn blocks(&self, tenant: &str) -> Vec<BlockMeta> {
        self.inner.catalog.metas(tenant)
    }

    /// Syncs the write-ahead log and stops the store's threads. Other clones of the store
    /// fail with [`Error::Closed`] afterwards.
    pub fn close(&self) -> Result<(), FlushError> {
        self.inner.stop_background();
        crate::bucket::release_all(&self.inner);
        self.flush()?;
        if let Some(wal) = &self.inner.wal {
            wal.close();
        }
        Ok(())
    }

    /// Counters for metrics.
    pub fn stats(&self) -> StoreStats {
        let mut stats = StoreStats::default();
        if let Some(wal) = &self.inner.wal {
            let c = wal.counters();
            stats.wal_appends = c.appends.load(Ordering::Relaxed);
            stats.wal_syncs = c.syncs.load(Ordering::Relaxed);
            stats.wal_bytes = c.bytes.load(Ordering::Relaxed);
            stats.wal_groups = c.groups.load(Ordering::Relaxed);
        }
        for (_, head) in self.inner.head.tenants() {
            stats.head_traces += head.trace_count() as u64;
            stats.head_spans += head.span_count();
        }
        let catalog = self.inner.catalog.stats();
        stats.blocks = catalog.blocks;
        stats.block_bytes = catalog.bytes;
        stats.blocks_bloom_damaged = catalog.bloom_damaged;
        stats.blocks_set_aside = catalog.set_aside;
        stats.block_errors = catalog.errors;
        let c = &self.inner.counters;
        stats.blocks_flushed = c.blocks_flushed.load(Ordering::Relaxed);
        stats.blocks_expired = c.blocks_expired.load(Ordering::Relaxed);
        stats.compactions = c.compactions.load(Ordering::Relaxed);
        stats.spans_refused_trace_too_large =
            c.spans_refused_trace_too_large.load(Ordering::Relaxed);
        stats.attributes_truncated = c.attributes_truncated.load(Ordering::Relaxed);
        stats.batches_refused_overloaded = c.overloaded.load(Ordering::Relaxed);
        stats.generator_dropped_spans = self.inner.generator.dropped_spans();
        stats.generator_active_series = self.inner.generator.active_series() as u64;
        stats.generator_pending_edges = self.inner.generator.pending_edges() as u64;
        stats.queries_expired = c.queries_expired.load(Ordering::Relaxed);
        stats.queries_cancelled = c.queries_cancelled.load(Ordering::Relaxed);
        stats.queries_over_budget = c.queries_over_budget.load(Ordering::Relaxed);
        stats
    }

    /// What the store asked of its block backend since it opened (requests, errors, bytes,
    /// time, and whether it answers), and how its block cache did; `None` without a block
    /// backend.
    pub fn backend_stats(&self) -> Option<BackendStats> {
        let mut stats = self.inner.meter.as_ref()?.stats();
        let cache = self.inner.catalog.cache_stats();
        stats.cache_hits = cache.hits;
        stats.cache_misses = cache.misses;
        stats.cache_bytes = cache.bytes;
        Some(stats)
    }

    /// Runs compaction until no window of any tenant has enough blocks to merge; returns the
    /// number of compactions.
    pub fn compact_now(&self) -> Result<usize, FlushError> {
        let mut total = 0;
        loop {
            let (done, failure) = crate::compact::compact_round(&self.inner);
            total += done;
            if done == 0 {
                return failure.map_or(Ok(total), Err);
            }
        }
    }
}

/// Which of a tenant's sources a query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// The head and the blocks.
    All,
    /// The head only: what another server on the same bucket cannot read from the bucket.
    Head,
    /// The head and the blocks written in the last two block-list polls (and ten seconds):
    /// what another server on the same bucket may not have listed yet. Only for answers
    /// where a part seen twice is harmless (a trace's spans are combined by span ID; tag
    /// names and values are a union).
    HeadAndRecent,
}

/// What a query's reads of blocks failed on, when a retry may succeed: a backend that did
/// not answer. (A corrupt block is set aside, a missing one forgotten: neither comes back.)
#[derive(Default)]
struct BlockFailures {
    blocks: Mutex<Vec<String>>,
    first: Mutex<Option<String>>,
}

impl BlockFailures {
    fn note(&self, block: &str, error: &crate::block::BlockError) {
        if error.is_corrupt() || error.is_not_found() {
            return;
        }
        let mut blocks = self.blocks.lock();
        if !blocks.iter().any(|b| b == block) {
            blocks.push(block.to_owned());
        }
        self.first.lock().get_or_insert_with(|| error.to_string());
    }

    /// Why the answer may miss traces, if a block could not be read.
    fn reason(&self) -> Option<String> {
        let blocks = self.blocks.lock().len();
        let first = self.first.lock().clone()?;
        Some(format!(
            "{blocks} block{} could not be read, the answer may miss what {} hold: {first}",
            if blocks == 1 { "" } else { "s" },
            if blocks == 1 {
                "it would"
            } else {
                "they would"
            },
        ))
    }
}

fn join_reasons(earlier: Option<String>, reason: String) -> String {
    match earlier {
        Some(earlier) => format!("{earlier}; {reason}"),
        None => reason,
    }
}

/// Now minus and plus `slack`, unix nanoseconds.
fn ingest_window(slack: Duration) -> (u64, u64) {
    let now = now_nanos();
    let slack = slack.as_nanos().min(u128::from(u64::MAX)) as u64;
    (now.saturating_sub(slack), now.saturating_add(slack))
}

fn span_count(data: &TracesData) -> u64 {
    data.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len() as u64)
        .sum()
}

/// Search and tags.
impl Store {
    /// The limits of a tag lookup: the search deadline and the query memory budget.
    fn tag_stop(&self) -> crate::query::stop::Stop {
        crate::query::stop::Stop::new(
            Instant::now() + crate::query::DEFAULT_DEADLINE,
            None,
            self.inner.config.max_query_bytes,
        )
    }

    /// The sources of the tenant's spans for a query over `range`: its head, and (unless
    /// `reach` is the head only) every row group of its blocks whose stated range overlaps; how many blocks those are; and what
    /// the query's reads of blocks failed on. A block that fails a read is reported to the
    /// catalog (which sets a corrupt one aside) and to the query's failures.
    fn sources(
        &self,
        tenant: &str,
        range: &TimeRange,
        reach: Reach,
    ) -> (Sources, u64, Arc<BlockFailures>) {
        let mut sources: Sources = Vec::new();
        if let Some(head) = self.inner.head.get(tenant) {
            sources.push(Arc::new(HeadSource::new(head)));
        }
        if reach == Reach::Head {
            return (sources, 0, Arc::new(BlockFailures::default()));
        }
        // Blocks written since `recent` (unix seconds), when only those are read.
        let recent = (reach == Reach::HeadAndRecent).then(|| {
            let window = self.inner.config.blocklist_poll * 2 + Duration::from_secs(10);
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
                .saturating_sub(window.as_secs())
        });
        let shared = self.inner.clone();
        let owner = tenant.to_owned();
        let failures = Arc::new(BlockFailures::default());
        let seen = failures.clone();
        let on_error: OnBlockError = Arc::new(move |block, e| {
            seen.note(block.name(), e);
            shared.catalog.block_failed(&owner, block, e);
        });
        let mut blocks = 0;
        for block in self.inner.catalog.readable(tenant) {
            if recent.is_some_and(|since| block.meta.created_at_unix_seconds < since) {
                continue;
            }
            if block.overlaps(range.start, range.end) {
                blocks += 1;
                sources.extend(RowGroupSource::all_of(&block, &on_error));
            }
        }
        (sources, blocks, failures)
    }

    /// Runs a TraceQL search over all of the tenant's data, fresh (the head) and old (the
    /// blocks), and returns the newest matching traces, start time descending.
    ///
    /// ```
    /// use tempo_core::model::{KeyValue, ResourceSpans, ScopeSpans, Span, Status};
    /// use tempo_core::{Batch, SearchRequest, Store};
    ///
    /// let store = Store::in_memory();
    /// let span = Span {
    ///     trace_id: vec![1; 16],
    ///     span_id: vec![2; 8],
    ///     name: "GET /cart".into(),
    ///     attributes: vec![KeyValue::int("http.response.status_code", 500)],
    ///     status: Some(Status { code: 2, message: String::new() }),
    ///     ..Default::default()
    /// };
    /// let batch = Batch::new(vec![ResourceSpans {
    ///     scope_spans: vec![ScopeSpans { spans: vec![span], ..Default::default() }],
    ///     ..Default::default()
    /// }]);
    /// store.ingest("single-tenant", batch)?;
    /// let found = store.search("single-tenant", &SearchRequest::new("{ status = error }"))?;
    /// assert_eq!(found.traces.len(), 1);
    /// assert_eq!(found.traces[0].span_sets[0].spans[0].name, "GET /cart");
    /// # Ok::<(), tempo_core::Error>(())
    /// ```
    pub fn search(&self, tenant: &str, req: &SearchRequest) -> Result<SearchResponse, SearchError> {
        self.search_in(tenant, req, Reach::All)
    }

    /// [`Store::search`] over the head only: the traces acknowledged and not yet in a block.
    /// What other servers on the same bucket ask for (blocks they read from the bucket
    /// themselves); their answers combine with [`SearchResponse::combine`].
    pub fn search_head(
        &self,
        tenant: &str,
        req: &SearchRequest,
    ) -> Result<SearchResponse, SearchError> {
        self.search_in(tenant, req, Reach::Head)
    }

    fn search_in(
        &self,
        tenant: &str,
        req: &SearchRequest,
        reach: Reach,
    ) -> Result<SearchResponse, SearchError> {
        validate_tenant(tenant)?;
        let compiled = Compiled::new(&req.query)?;
        let (sources, blocks, failures) = self.sources(tenant, &req.range, reach);
        let (mut found, stopped) = crate::query::search::search(
            &compiled,
            req,
            &sources,
            blocks,
            self.inner.config.query_parallelism,
            self.inner.config.max_query_bytes,
        );
        self.count_stop(stopped.as_ref());
        if let Some(reason) = failures.reason() {
            found.partial = true;
            found.partial_reason = Some(join_reasons(found.partial_reason.take(), reason));
        }
        Ok(found)
    }

    /// Counts a query that stopped early, by why.
    fn count_stop(&self, stopped: Option<&StopReason>) {
        let c = &self.inner.counters;
        let counter = match stopped {
            None => None,
            Some(StopReason::Deadline) => Some(&c.queries_expired),
            Some(StopReason::Cancelled) => Some(&c.queries_cancelled),
            Some(StopReason::Memory { .. }) => Some(&c.queries_over_budget),
        };
        if let Some(counter) = counter {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Runs a TraceQL metrics query (`{ status = error } | rate() by (resource.service.name)`)
    /// over all of the tenant's data in the request's range, fresh and old alike: a range
    /// query's series have one sample per step, an instant query's one value over the
    /// whole range ([`MetricsRequest::instant`]).
    ///
    /// The range must be non-empty, no longer than `metrics_max_duration`, and hold at most
    /// `metrics_max_intervals` steps; the query must be a metrics query.
    ///
    /// ```
    /// use tempo_core::model::{ResourceSpans, ScopeSpans, Span, Status};
    /// use tempo_core::{Batch, LabelValue, MetricsRequest, Store};
    ///
    /// let store = Store::in_memory();
    /// let span = |id: u8, code: i32| Span {
    ///     trace_id: vec![id; 16],
    ///     span_id: vec![id; 8],
    ///     name: "GET /cart".into(),
    ///     start_time_unix_nano: 10_000_000_000 + u64::from(id) * 1_000_000_000,
    ///     end_time_unix_nano: 10_500_000_000 + u64::from(id) * 1_000_000_000,
    ///     status: Some(Status { code, message: String::new() }),
    ///     ..Default::default()
    /// };
    /// let spans = vec![span(1, 2), span(2, 0), span(3, 2), span(4, 0)];
    /// let batch = Batch::new(vec![ResourceSpans {
    ///     scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
    ///     ..Default::default()
    /// }]);
    /// store.ingest("single-tenant", batch)?;
    /// // Errors over the 20 seconds from 10 s to 30 s, in one value.
    /// let request = MetricsRequest::instant("{ status = error } | count_over_time()", 10_000_000_000, 30_000_000_000);
    /// let answer = store.metrics("single-tenant", &request)?;
    /// assert_eq!(answer.series.len(), 1);
    /// assert_eq!(answer.series[0].label("__name__"), Some(&LabelValue::Str("count_over_time".into())));
    /// assert_eq!(answer.series[0].samples[0].value, 2.0);
    /// # Ok::<(), tempo_core::Error>(())
    /// ```
    pub fn metrics(
        &self,
        tenant: &str,
        req: &MetricsRequest,
    ) -> Result<MetricsResponse, MetricsError> {
        self.metrics_with(tenant, req, Vec::new())
    }

    /// [`Store::metrics`], with the running values other servers on the same bucket
    /// gathered over their heads for the same request ([`Store::metrics_partial_in_head`])
    /// folded in before the series are finished: the answer is the one a single store
    /// holding all those spans would give (exemplars aside, a sample either way). A partial
    /// that was stopped early makes the answer partial, with its reason; one gathered for
    /// another request is left out, and the answer is partial.
    ///
    /// ```
    /// use tempo_core::model::{ResourceSpans, ScopeSpans, Span};
    /// use tempo_core::{Batch, MetricsPartial, MetricsRequest, Store};
    ///
    /// let span = |id: u8| Span {
    ///     trace_id: vec![id; 16],
    ///     span_id: vec![id; 8],
    ///     start_time_unix_nano: 10_000_000_000 + u64::from(id) * 1_000_000_000,
    ///     end_time_unix_nano: 10_500_000_000 + u64::from(id) * 1_000_000_000,
    ///     ..Default::default()
    /// };
    /// let batch = |ids: &[u8]| Batch::new(vec![ResourceSpans {
    ///     scope_spans: vec![ScopeSpans { spans: ids.iter().map(|i| span(*i)).collect(), ..Default::default() }],
    ///     ..Default::default()
    /// }]);
    /// let (here, there) = (Store::in_memory(), Store::in_memory());
    /// here.ingest("single-tenant", batch(&[1, 2]))?;
    /// there.ingest("single-tenant", batch(&[3]))?;
    /// let request = MetricsRequest::instant("{ } | count_over_time()", 10_000_000_000, 30_000_000_000);
    /// // Sent between servers as bytes.
    /// let bytes = there.metrics_partial_in_head("single-tenant", &request)?.encode();
    /// let partial = MetricsPartial::decode(&bytes)?;
    /// let answer = here.metrics_with("single-tenant", &request, vec![partial])?;
    /// assert_eq!(answer.series[0].samples[0].value, 3.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn metrics_with(
        &self,
        tenant: &str,
        req: &MetricsRequest,
        partials: Vec<MetricsPartial>,
    ) -> Result<MetricsResponse, MetricsError> {
        validate_tenant(tenant)?;
        self.check_metrics_range(req)?;
        let plan = crate::query::metrics::Plan::new(&req.query)?;
        let range = TimeRange {
            start: req.start,
            end: req.end,
        };
        let (sources, blocks, failures) = self.sources(tenant, &range, Reach::All);
        let mut collected = crate::query::metrics::collect(
            &plan,
            req,
            &sources,
            blocks,
            self.inner.config.query_parallelism,
            self.inner.config.max_query_bytes,
        );
        self.count_stop(collected.reason.as_ref());
        for partial in partials {
            crate::query::metrics::fold(&mut collected, req, plan.leaves.len(), partial);
        }
        let mut answer = crate::query::metrics::complete(&plan, req, collected);
        if let Some(reason) = failures.reason() {
            answer.partial = true;
            answer.partial_reason = Some(join_reasons(answer.partial_reason.take(), reason));
        }
        Ok(answer)
    }

    /// The running values of a TraceQL metrics query over all of the tenant's data, fresh
    /// and old, before they are finished into series: with the partials other servers
    /// gathered over their heads, finished by [`MetricsPartial::finish`] (so that this store
    /// and the others read at the same time). Blocks that could not be read make it partial.
    pub fn metrics_partial(
        &self,
        tenant: &str,
        req: &MetricsRequest,
    ) -> Result<MetricsPartial, MetricsError> {
        self.metrics_partial_in(tenant, req, Reach::All)
    }

    /// The running values of a TraceQL metrics query over the head only (the spans
    /// acknowledged and not yet in a block), before they are finished into series: what
    /// other servers on the same bucket ask for, to fold into their own answer with
    /// [`Store::metrics_with`] (blocks they read from the bucket themselves). The request is
    /// checked as [`Store::metrics`] checks it.
    pub fn metrics_partial_in_head(
        &self,
        tenant: &str,
        req: &MetricsRequest,
    ) -> Result<MetricsPartial, MetricsError> {
        self.metrics_partial_in(tenant, req, Reach::Head)
    }

    fn metrics_partial_in(
        &self,
        tenant: &str,
        req: &MetricsRequest,
        reach: Reach,
    ) -> Result<MetricsPartial, MetricsError> {
        validate_tenant(tenant)?;
        self.check_metrics_range(req)?;
        let plan = crate::query::metrics::Plan::new(&req.query)?;
        let range = TimeRange {
            start: req.start,
            end: req.end,
        };
        let (sources, blocks, failures) = self.sources(tenant, &range, reach);
        let mut collected = crate::query::metrics::collect(
            &plan,
            req,
            &sources,
            blocks,
            self.inner.config.query_parallelism,
            self.inner.config.max_query_bytes,
        );
        self.count_stop(collected.reason.as_ref());
        collected.other_reasons.extend(failures.reason());
        Ok(MetricsPartial::new(req, collected))
    }

    /// Refuses a metrics range that is empty, too long, or of too many steps, with Tempo's
    /// messages. Whatever the configuration, a range holds at most a million steps: each
    /// series holds a value per step.
    fn check_metrics_range(&self, req: &MetricsRequest) -> Result<(), QueryError> {
        let config = &self.inner.config;
        if req.end <= req.start {
            return Err(QueryError::Invalid("end must be greater than start".into()));
        }
        let length = req.end - req.start;
        let max = config.metrics_max_duration;
        if !max.is_zero() && u128::from(length) > max.as_nanos() {
            return Err(QueryError::Invalid(format!(
                "metrics query time range exceeds the maximum allowed duration of {}",
                go_duration(u64::try_from(max.as_nanos()).unwrap_or(u64::MAX))
            )));
        }
        let max_intervals = match config.metrics_max_intervals {
            0 => HARD_MAX_INTERVALS,
            n => n.min(HARD_MAX_INTERVALS),
        };
        if req.step == 0 || (!req.instant && length / req.step > max_intervals) {
            return Err(QueryError::Invalid(format!(
                "step of {} is too small, minimum step for given range is {}",
                go_duration(req.step),
                go_duration(length / max_intervals)
            )));
        }
        Ok(())
    }

    /// The series the metrics generator derived from a tenant's spans (span metrics:
    /// `traces_spanmetrics_calls_total`, `traces_spanmetrics_latency_{bucket,sum,count}`,
    /// `traces_spanmetrics_size_total`), sorted by name and labels; empty when the generator
    /// is off. Series not updated for the configured stale duration are dropped first.
    ///
    /// ```
    /// use tempo_core::generator::GeneratorConfig;
    /// use tempo_core::model::{KeyValue, Resource, ResourceSpans, ScopeSpans, Span, Status};
    /// use tempo_core::{Batch, Store};
    ///
    /// let store = Store::builder().metrics_generator(GeneratorConfig::span_metrics()).open()?;
    /// // Spans that ended more than 30 s ago are not counted (Tempo's ingestion slack).
    /// let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    /// let end = now.as_nanos() as u64;
    /// let span = Span {
    ///     trace_id: vec![1; 16],
    ///     span_id: vec![2; 8],
    ///     name: "GET /cart".into(),
    ///     kind: 2,
    ///     start_time_unix_nano: end - 300_000_000,
    ///     end_time_unix_nano: end,
    ///     status: Some(Status { code: 2, message: String::new() }),
    ///     ..Default::default()
    /// };
    /// store.ingest("single-tenant", Batch::new(vec![ResourceSpans {
    ///     resource: Some(Resource {
    ///         attributes: vec![KeyValue::string("service.name", "checkout")],
    ///         ..Default::default()
    ///     }),
    ///     scope_spans: vec![ScopeSpans { spans: vec![span], ..Default::default() }],
    ///     ..Default::default()
    /// }]))?;
    /// let text = store.generated_metrics_text("single-tenant");
    /// assert!(text.contains(
    ///     r#"traces_spanmetrics_calls_total{service="checkout",span_name="GET /cart",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_ERROR"} 1"#
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn generated_series(&self, tenant: &str) -> Vec<GeneratedSeries> {
        self.inner.generator.series(tenant, now_nanos())
    }

    /// The tenants the metrics generator holds series for, sorted: those to collect.
    pub fn generator_tenants(&self) -> Vec<String> {
        self.inner.generator.tenants()
    }

    /// [`Store::generated_series`] in Prometheus' text exposition format.
    pub fn generated_metrics_text(&self, tenant: &str) -> String {
        crate::generator::to_text(&self.generated_series(tenant))
    }

    /// The tag (attribute) names of the tenant's data in `range`, per scope, each list sorted
    /// and at most `limit` long. `scopes` empty means every scope. With `filter`, a TraceQL
    /// query that may be incomplete, only names of spans meeting its complete conditions.
    pub fn tag_names(
        &self,
        tenant: &str,
        scopes: &[TagScope],
        filter: Option<&str>,
        range: TimeRange,
        limit: usize,
    ) -> Result<Vec<(TagScope, Vec<String>)>, TagsError> {
        self.tag_names_in(tenant, scopes, filter, range, limit, Reach::All)
    }

    /// [`Store::tag_names`] of the head (the spans acknowledged and not yet in a block) and
    /// of the blocks written in the last two block-list polls: what other servers on the
    /// same bucket ask for (they may not have listed those blocks yet).
    pub fn tag_names_in_head(
        &self,
        tenant: &str,
        scopes: &[TagScope],
        filter: Option<&str>,
        range: TimeRange,
        limit: usize,
    ) -> Result<Vec<(TagScope, Vec<String>)>, TagsError> {
        self.tag_names_in(tenant, scopes, filter, range, limit, Reach::HeadAndRecent)
    }

    fn tag_names_in(
        &self,
        tenant: &str,
        scopes: &[TagScope],
        filter: Option<&str>,
        range: TimeRange,
        limit: usize,
        reach: Reach,
    ) -> Result<Vec<(TagScope, Vec<String>)>, TagsError> {
        validate_tenant(tenant)?;
        let compiled = match filter.map(str::trim).filter(|q| !q.is_empty()) {
            None => None,
            Some(q) => crate::query::filter_query(q)?,
        };
        let scopes = if scopes.is_empty() {
            &TagScope::ALL[..]
        } else {
            scopes
        };
        let (sources, _, _) = self.sources(tenant, &range, reach);
        Ok(crate::query::tags::names(
            scopes,
            compiled.as_ref(),
            &sources,
            range,
            limit,
            self.inner.config.query_parallelism,
            &self.tag_stop(),
        ))
    }

    /// The values of one tag, a TraceQL identifier (`resource.service.name`,
    /// `span.http.request.method`, `name`, `status`...; a bare `http.method` is unscoped),
    /// sorted, at most `limit`. With `filter`, a TraceQL query that may be incomplete (as an
    /// editor sends it while the user types), only values of spans meeting its complete
    /// conditions.
    pub fn tag_values(
        &self,
        tenant: &str,
        tag: &str,
        filter: Option<&str>,
        range: TimeRange,
        limit: usize,
    ) -> Result<Vec<TagValue>, TagsError> {
        validate_tenant(tenant)?;
        let field = crate::query::tags::parse_tag(tag)?;
        self.values_of(tenant, &field, filter, range, limit, Reach::All)
    }

    /// [`Store::tag_values`] of the head (the spans acknowledged and not yet in a block) and
    /// of the blocks written in the last two block-list polls: what other servers on the
    /// same bucket ask for (they may not have listed those blocks yet).
    pub fn tag_values_in_head(
        &self,
        tenant: &str,
        tag: &str,
        filter: Option<&str>,
        range: TimeRange,
        limit: usize,
    ) -> Result<Vec<TagValue>, TagsError> {
        validate_tenant(tenant)?;
        let field = crate::query::tags::parse_tag(tag)?;
        self.values_of(tenant, &field, filter, range, limit, Reach::HeadAndRecent)
    }

    /// The values of tag `name` read literally, as Tempo's first tag values API
    /// (`/api/search/tag/{name}/values`) reads it: an attribute of the span or of its
    /// resource of exactly that name (`span.x` is an attribute named `span.x`), except
    /// `name` (span names) and `status.code` (statuses). Otherwise as [`Store::tag_values`].
    pub fn tag_values_literal(
        &self,
        tenant: &str,
        name: &str,
        filter: Option<&str>,
        range: TimeRange,
        limit: usize,
    ) -> Result<Vec<TagValue>, TagsError> {
        validate_tenant(tenant)?;
        let field = crate::query::tags::literal_tag(name);
        self.values_of(tenant, &field, filter, range, limit, Reach::All)
    }

    /// [`Store::tag_values_literal`] of the head only (the spans acknowledged and not yet in
    /// a block): what other servers on the same bucket ask for.
    pub fn tag_values_literal_in_head(
        &self,
        tenant: &str,
        name: &str,
        filter: Option<&str>,
        range: TimeRange,
        limit: usize,
    ) -> Result<Vec<TagValue>, TagsError> {
        validate_tenant(tenant)?;
        let field = crate::query::tags::literal_tag(name);
        self.values_of(tenant, &field, filter, range, limit, Reach::HeadAndRecent)
    }

    fn values_of(
        &self,
        tenant: &str,
        field: &tempo_traceql::FieldExpr,
        filter: Option<&str>,
        range: TimeRange,
        limit: usize,
        reach: Reach,
    ) -> Result<Vec<TagValue>, TagsError> {
        let compiled = match filter.map(str::trim).filter(|q| !q.is_empty()) {
            None => None,
            Some(q) => crate::query::filter_query(q)?,
        };
        let (sources, _, _) = self.sources(tenant, &range, reach);
        Ok(crate::query::tags::values(
            field,
            compiled.as_ref(),
            &sources,
            range,
            limit,
            self.inner.config.query_parallelism,
            &self.tag_stop(),
        )?)
    }
}

#[doc(hidden)]
impl Store {
    /// Applies retention now (normally once a minute).
    pub fn apply_retention_now(&self) {
        crate::retention::apply(&self.inner);
    }

    /// Deletes the blocks replaced by compaction now, grace period or not.
    pub fn delete_compacted_now(&self) {
        self.inner.catalog.delete_doomed(0, true);
        if let Some(backend) = self.inner.catalog.backend() {
            for (tenant, _) in self.inner.catalog.all() {
                if crate::bucket::holds(&self.inner, &tenant) && self.inner.bucket.is_some() {
                    crate::bucket::delete_replaced(&self.inner, backend.as_ref(), &tenant, true);
                }
            }
        }
    }

    /// On a shared backend, reads the block list from the bucket now (normally every
    /// `blocklist_poll`).
    pub fn poll_blocklist_now(&self) {
        crate::bucket::poll(&self.inner);
    }
}
