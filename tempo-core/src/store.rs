//! store: the one handle a host holds.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::{Mutex, RwLock};
use prost::Message;

use crate::backend::{Backend, LocalBackend};
use crate::batch::Batch;
use crate::block::inspect::{BlockState, block_state};
use crate::block::reader::BlockReader;
use crate::block::writer::BlockWriter;
use crate::block::{
    BlockMeta, COMPACTED_MARKER, CORRUPT_MARKER, Marker, is_block_id, new_block_id,
};
use crate::compact::{self, CompactionPolicy};
use crate::error::{FindError, FlushError, IngestError, OpenError, SearchError, TagsError};
use crate::head::{Head, TenantHead, unpack_all};
use crate::model::{TimeRange, TraceId, TracesData};
use crate::spans::{StoredSpan, assemble};
use crate::tenant::validate_tenant;
use crate::wal::{FsyncPolicy, RecordKind, ReplayReport, Wal, WalOptions};

/// The tenant used when multi-tenancy is off, as in Tempo.
pub const SINGLE_TENANT: &str = "single-tenant";

/// Settings of a [`Store`]. Build one with [`Store::builder`]; the defaults are Tempo's.
#[derive(Debug, Clone)]
pub struct Config {
    /// Directory of the write-ahead log; `None` keeps the head in memory only.
    pub wal_dir: Option<PathBuf>,
    /// When appends are made durable.
    pub fsync: FsyncPolicy,
    /// A WAL segment is closed and a new one started past this size.
    pub wal_segment_bytes: u64,
    /// Where blocks are stored; `None` keeps every trace in the head.
    pub blocks: Option<Arc<dyn Backend>>,
    /// A trace is complete after this long without new spans (default 5s).
    pub trace_idle_period: Duration,
    /// Complete traces are cut into a block once they reach this size (default 50 MiB)...
    pub max_block_bytes: u64,
    /// ...or once the oldest has waited this long (default 30s).
    pub max_block_duration: Duration,
    /// Blocks whose newest span is older than this are deleted (default 336h).
    pub block_retention: Duration,
    /// Per-tenant limits, overriding the defaults above for the tenants they name; they can
    /// be replaced while the store runs ([`Store::set_tenant_limits`]).
    pub tenant_limits: HashMap<String, TenantLimits>,
    /// Target false-positive rate of the bloom filters (default 1%).
    pub bloom_false_positive: f64,
    /// How often the background thread looks for complete traces (default 1s).
    pub flush_check_period: Duration,
    /// Blocks whose traces start in the same window are compacted together (default 1h).
    pub compaction_window: Duration,
    /// Blocks of one level and window are merged once there are this many (default 4).
    pub compaction_min_inputs: usize,
    /// The largest a trace may grow, in encoded bytes, as Tempo's `max_bytes_per_trace`
    /// (default 5 MB; 0: no limit). Spans that would take a trace past it are refused at
    /// ingest, where the client is told (OTLP partial success); nothing acknowledged is ever
    /// dropped afterwards.
    pub max_bytes_per_trace: u64,
    /// Threads a search spreads its row groups over (default 0: one per core).
    pub query_parallelism: usize,
    /// With a block backend, the most a tenant's head may hold (estimated encoded bytes)
    /// before ingestion is refused with [`Error::Overloaded`], so that memory stays bounded
    /// when spans arrive faster than blocks are cut (default 128 MiB; never less than twice
    /// `max_block_bytes`). Clients retry a refused request; nothing acknowledged is lost.
    pub max_head_bytes: u64,
    /// The most memory one query may hold (estimated: decoded row groups and the traces being
    /// evaluated); past it the query stops and returns what it found, marked partial, with
    /// the reason (default 512 MiB).
    pub max_query_bytes: u64,
    /// How long a block replaced by compaction is kept (marked, no longer read by new
    /// queries) before it is deleted, so queries reading it meanwhile finish (default 5 min;
    /// Tempo's `compacted_block_retention`).
    pub compacted_block_retention: Duration,
    /// A block's time range (for pruning and retention) keeps each span within this much
    /// of the time it was ingested, as Tempo's `ingestion_time_range_slack` (default 2 min):
    /// spans stamped far in the past or future are stored as sent, but never pin a block
    /// forever nor escape retention.
    pub ingestion_time_range_slack: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            wal_dir: None,
            fsync: FsyncPolicy::Always,
            wal_segment_bytes: 128 << 20,
            blocks: None,
            trace_idle_period: Duration::from_secs(5),
            max_block_bytes: 50 << 20,
            max_block_duration: Duration::from_secs(30),
            block_retention: Duration::from_secs(336 * 3600),
            tenant_limits: HashMap::new(),
            bloom_false_positive: 0.01,
            flush_check_period: Duration::from_secs(1),
            compaction_window: Duration::from_secs(3600),
            compaction_min_inputs: 4,
            max_bytes_per_trace: 5_000_000,
            query_parallelism: 0,
            max_head_bytes: 128 << 20,
            max_query_bytes: 512 << 20,
            compacted_block_retention: Duration::from_secs(300),
            ingestion_time_range_slack: Duration::from_secs(120),
        }
    }
}

/// Limits of one tenant, overriding the store's defaults where set (Tempo's per-tenant
/// `overrides`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TenantLimits {
    /// The largest a trace may grow, in encoded bytes (0: no limit).
    pub max_bytes_per_trace: Option<u64>,
    /// How long blocks are kept.
    pub block_retention: Option<Duration>,
}

impl TenantLimits {
    /// Sets the largest a trace may grow (0: no limit).
    pub fn max_bytes_per_trace(mut self, bytes: u64) -> TenantLimits {
        self.max_bytes_per_trace = Some(bytes);
        self
    }

    /// Sets how long blocks are kept.
    pub fn block_retention(mut self, retention: Duration) -> TenantLimits {
        self.block_retention = Some(retention);
        self
    }
}

/// One limit of a tenant: its own entry's, else the wildcard `"*"` entry's (when the tenant has
/// no entry), else `None`.
fn tenant_limit<T>(
    limits: &HashMap<String, TenantLimits>,
    tenant: &str,
    field: impl Fn(&TenantLimits) -> Option<T>,
) -> Option<T> {
    limits
        .get(tenant)
        .or_else(|| limits.get("*"))
        .and_then(field)
}

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
        self.config.wal_segment_bytes = bytes.max(4096);
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
        self.config.flush_check_period = period.max(Duration::from_millis(10));
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
        self.config.compaction_min_inputs = n.max(2);
        self
    }

    /// Sets the most a tenant's head may hold before ingestion is refused (default 128 MiB).
    pub fn max_head_bytes(mut self, bytes: u64) -> StoreBuilder {
        self.config.max_head_bytes = bytes;
        self
    }

    /// Sets the most memory one query may hold (default 512 MiB).
    pub fn max_query_bytes(mut self, bytes: u64) -> StoreBuilder {
        self.config.max_query_bytes = bytes.max(1 << 20);
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

    /// Sets the per-tenant limits (see [`Store::set_tenant_limits`]).
    pub fn tenant_limits(mut self, limits: HashMap<String, TenantLimits>) -> StoreBuilder {
        self.config.tenant_limits = limits;
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
    /// Searches stopped by their deadline (answered partial).
    pub queries_expired: u64,
    /// Searches cancelled by their caller, such as an HTTP client that went away.
    pub queries_cancelled: u64,
    /// Searches stopped by `max_query_bytes` (answered partial, or refused when they found
    /// nothing).
    pub queries_over_budget: u64,
    /// Batches refused because a head held `max_head_bytes` ([`Error::Overloaded`]).
    pub batches_refused_overloaded: u64,
}

#[derive(Default)]
struct Counters {
    blocks_flushed: AtomicU64,
    block_errors: AtomicU64,
    blocks_expired: AtomicU64,
    compactions: AtomicU64,
    spans_refused_trace_too_large: AtomicU64,
    queries_expired: AtomicU64,
    queries_cancelled: AtomicU64,
    queries_over_budget: AtomicU64,
    overloaded: AtomicU64,
}

struct Inner {
    config: Config,
    wal: Option<Wal>,
    head: Head,
    blocks: RwLock<HashMap<String, Vec<Arc<BlockReader>>>>,
    replay: ReplayReport,
    counters: Counters,
    /// Per-tenant limits in force.
    limits: RwLock<HashMap<String, TenantLimits>>,
    /// Corrupt blocks set aside (marked, no longer read).
    set_aside: Mutex<Vec<SetAside>>,
    /// Blocks replaced by compaction, waiting for their grace period to end.
    doomed: Mutex<Vec<Doomed>>,
    /// Serializes cutting blocks (background thread, `flush_blocks`).
    cutting: Mutex<()>,
    /// Serializes compactions (compaction thread, `compact_now`).
    compacting: Mutex<()>,
    stop: Mutex<Option<Sender<()>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
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
    inner: Arc<Inner>,
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
use crate::query::{SearchRequest, SearchResponse, TagScope, TagValue};

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

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
        Store {
            inner: Arc::new(Inner {
                config,
                wal,
                head,
                blocks: RwLock::new(HashMap::new()),
                replay,
                counters: Counters::default(),
                limits: RwLock::new(limits),
                set_aside: Mutex::new(Vec::new()),
                doomed: Mutex::new(Vec::new()),
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
        store.load_blocks();
        store.start_background();
        Ok(store)
    }

    fn load_blocks(&self) {
        let Some(backend) = &self.inner.config.blocks else {
            return;
        };
        let tenants = match backend.list("") {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "cannot list tenants in the block store");
                return;
            }
        };
        let grace = self.inner.config.compacted_block_retention;
        let mut loaded = 0usize;
        for tenant in tenants {
            if validate_tenant(&tenant).is_err() {
                continue;
            }
            let ids = match backend.list(&tenant) {
                Ok(ids) => ids,
                Err(e) => {
                    tracing::error!(tenant, error = %e, "cannot list blocks");
                    continue;
                }
            };
            for id in ids.into_iter().filter(|id| is_block_id(id)) {
                let prefix = crate::block::block_key(&tenant, &id);
                match block_state(backend.as_ref(), &tenant, &id) {
                    Err(e) => {
                        tracing::error!(tenant, block = %id, error = %e, "cannot list a block's files; skipped");
                        continue;
                    }
                    Ok(BlockState::Incomplete) => {
                        // A block whose writing was interrupted by a crash: it never existed.
                        match backend.delete_prefix(&prefix) {
                            Ok(()) => {
                                tracing::info!(tenant, block = %id, "removed a block left without meta.json by an interrupted write")
                            }
                            Err(e) => {
                                tracing::warn!(tenant, block = %id, error = %e, "cannot remove a block left without meta.json")
                            }
                        }
                        continue;
                    }
                    Ok(BlockState::SetAside { reason, .. }) => {
                        self.inner.set_aside.lock().push(SetAside {
                            tenant: tenant.clone(),
                            block_id: id.clone(),
                            reason,
                        });
                        continue;
                    }
                    Ok(BlockState::Compacted {
                        at_unix_seconds, ..
                    }) => {
                        self.inner.doomed.lock().push(Doomed {
                            prefix,
                            delete_after: at_unix_seconds.saturating_add(grace.as_secs()),
                        });
                        continue;
                    }
                    Ok(_) => {}
                }
                match BlockReader::open(backend.clone(), &tenant, &id) {
                    Ok(reader) => {
                        if let Some(damage) = reader.repaired() {
                            let written = backend
                                .write(&format!("{prefix}/index"), reader.index_file().into());
                            tracing::warn!(tenant, block = %id, damage, rewritten = written.is_ok(), "block index rebuilt from its data file");
                        }
                        self.inner
                            .blocks
                            .write()
                            .entry(tenant.clone())
                            .or_default()
                            .push(Arc::new(reader));
                        loaded += 1;
                    }
                    Err(e) if e.is_corrupt() => {
                        set_aside(&self.inner, &tenant, &id, &e.to_string());
                    }
                    Err(e) => {
                        self.inner
                            .counters
                            .block_errors
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::error!(tenant, block = %id, error = %e, "block skipped");
                    }
                }
            }
        }
        if loaded > 0 {
            tracing::info!(blocks = loaded, "blocks loaded");
        }
        let aside = self.inner.set_aside.lock().len();
        if aside > 0 {
            tracing::warn!(
                blocks = aside,
                "corrupt blocks are set aside and not read; `tempo-server block list` shows them"
            );
        }
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
            .spawn(move || background(weak, stop, period));
        let (weak, stop) = (Arc::downgrade(&self.inner), rx);
        let compactor = std::thread::Builder::new()
            .name("tempo-compact".into())
            .spawn(move || compaction_loop(weak, stop, period));
        for handle in [flusher, compactor] {
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
        let (resource_spans, encoded) = batch.into_parts();
        self.inner.head.tenant(tenant).insert(
            resource_spans,
            encoded.as_ref(),
            segment,
            bytes / spans,
            ingest_window(self.inner.config.ingestion_time_range_slack),
        );
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
        validate_tenant(tenant)?;
        let mut spans: Vec<StoredSpan> = Vec::new();
        if let Some(head) = self.inner.head.get(tenant) {
            head.find(&id, range.start, range.end, &mut spans);
        }
        let blocks: Vec<Arc<BlockReader>> = self
            .inner
            .blocks
            .read()
            .get(tenant)
            .map(|b| {
                b.iter()
                    .filter(|b| b.overlaps(range.start, range.end))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for block in blocks {
            match block.find(&id) {
                Ok(Some(found)) => spans.extend(found),
                Ok(None) => {}
                Err(e) => self.block_failed(tenant, &block, &e),
            }
        }
        if spans.is_empty() {
            return Ok(None);
        }
        Ok(Some(assemble(spans.iter())))
    }

    /// Reports a block that failed a read. A corrupt block is set aside; a block that is no
    /// longer listed (compacted away or expired while it was read) is skipped quietly; a
    /// backend failure may pass, so the block stays.
    fn block_failed(&self, tenant: &str, block: &Arc<BlockReader>, e: &crate::block::BlockError) {
        let listed = self
            .inner
            .blocks
            .read()
            .get(tenant)
            .is_some_and(|l| l.iter().any(|b| Arc::ptr_eq(b, block)));
        if !listed {
            tracing::debug!(block = block.name(), error = %e, "a block removed while it was read was skipped");
            return;
        }
        match e {
            _ if e.is_corrupt() => {
                set_aside(&self.inner, tenant, &block.meta.block_id, &e.to_string())
            }
            _ if e.is_not_found() => set_aside(
                &self.inner,
                tenant,
                &block.meta.block_id,
                &format!("a file is missing: {e}"),
            ),
            _ => {
                self.inner
                    .counters
                    .block_errors
                    .fetch_add(1, Ordering::Relaxed);
                tracing::error!(block = block.name(), error = %e, "block skipped by a read");
            }
        }
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
        cut_blocks(&self.inner, true)
    }

    /// The corrupt blocks set aside, with why.
    pub fn set_aside_blocks(&self) -> Vec<SetAside> {
        self.inner.set_aside.lock().clone()
    }

    /// The metadata of the tenant's readable blocks.
    pub fn blocks(&self, tenant: &str) -> Vec<BlockMeta> {
        self.inner
            .blocks
            .read()
            .get(tenant)
            .map(|b| b.iter().map(|r| r.meta.clone()).collect())
            .unwrap_or_default()
    }

    /// Syncs the write-ahead log and stops the store's threads. Other clones of the store
    /// fail with [`Error::Closed`] afterwards.
    pub fn close(&self) -> Result<(), FlushError> {
        stop_background(&self.inner);
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
        for blocks in self.inner.blocks.read().values() {
            stats.blocks += blocks.len() as u64;
            stats.block_bytes += blocks.iter().map(|b| b.meta.total_bytes()).sum::<u64>();
            stats.blocks_bloom_damaged +=
                blocks.iter().filter(|b| b.bloom_damaged()).count() as u64;
        }
        let c = &self.inner.counters;
        stats.blocks_flushed = c.blocks_flushed.load(Ordering::Relaxed);
        stats.block_errors = c.block_errors.load(Ordering::Relaxed);
        stats.blocks_set_aside = self.inner.set_aside.lock().len() as u64;
        stats.blocks_expired = c.blocks_expired.load(Ordering::Relaxed);
        stats.compactions = c.compactions.load(Ordering::Relaxed);
        stats.spans_refused_trace_too_large =
            c.spans_refused_trace_too_large.load(Ordering::Relaxed);
        stats.batches_refused_overloaded = c.overloaded.load(Ordering::Relaxed);
        stats.queries_expired = c.queries_expired.load(Ordering::Relaxed);
        stats.queries_cancelled = c.queries_cancelled.load(Ordering::Relaxed);
        stats.queries_over_budget = c.queries_over_budget.load(Ordering::Relaxed);
        stats
    }

    /// Runs compaction until no window of any tenant has enough blocks to merge; returns the
    /// number of compactions.
    pub fn compact_now(&self) -> Result<usize, FlushError> {
        let mut total = 0;
        loop {
            let (done, failure) = compact_round(&self.inner);
            total += done;
            if done == 0 {
                return failure.map_or(Ok(total), Err);
            }
        }
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

fn stop_background(inner: &Inner) {
    drop(inner.stop.lock().take());
    let handles: Vec<JoinHandle<()>> = inner.threads.lock().drain(..).collect();
    for handle in handles {
        if handle.thread().id() != std::thread::current().id() && handle.join().is_err() {
            tracing::error!("a background thread panicked");
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        stop_background(self);
    }
}

/// The background thread: moves idle traces to pending, cuts blocks, applies retention.
fn background(inner: Weak<Inner>, stop: Receiver<()>, period: Duration) {
    let mut last_retention = Instant::now()
        .checked_sub(Duration::from_secs(3600))
        .unwrap_or_else(Instant::now);
    let mut last_check = Instant::now();
    // The head's size is watched often (it is one load per tenant); idle traces are looked
    // for every `period`.
    let tick = period.min(Duration::from_millis(100));
    loop {
        match stop.recv_timeout(tick) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let full = inner
            .head
            .tenants()
            .iter()
            .any(|(_, h)| h.total_bytes() >= inner.config.max_block_bytes);
        if !full && last_check.elapsed() < period {
            continue;
        }
        last_check = Instant::now();
        if let Err(e) = cut_blocks(&inner, false) {
            tracing::error!(error = %e, "cutting blocks failed; the traces stay in the head and the WAL");
        }
        if last_retention.elapsed() >= Duration::from_secs(60) {
            apply_retention(&inner);
            last_retention = Instant::now();
        }
    }
}

/// The compaction thread: one merge at a time, as long as there is work.
fn compaction_loop(inner: Weak<Inner>, stop: Receiver<()>, period: Duration) {
    loop {
        match stop.recv_timeout(period) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        loop {
            let Some(inner) = inner.upgrade() else {
                return;
            };
            let (done, _) = compact_round(&inner);
            delete_compacted(&inner, false);
            if done == 0 {
                break;
            }
            if matches!(
                stop.try_recv(),
                Err(crossbeam_channel::TryRecvError::Disconnected)
            ) {
                return;
            }
        }
    }
}

/// Moves complete traces to pending and writes blocks for tenants whose pending traces are
/// large or old enough (or all of them, with `force`).
fn cut_blocks(inner: &Inner, force: bool) -> Result<Vec<BlockMeta>, FlushError> {
    let Some(backend) = inner.config.blocks.clone() else {
        return Ok(Vec::new());
    };
    let _guard = inner.cutting.lock();
    let mut written = Vec::new();
    let mut failure: Option<FlushError> = None;
    for (tenant, head) in inner.head.tenants() {
        // A head past max_block_bytes is cut whole, complete or not, so memory stays bounded;
        // spans arriving later for its traces land in a later block, and readers and
        // compaction combine the parts.
        let full = head.total_bytes() >= inner.config.max_block_bytes;
        head.complete_idle(inner.config.trace_idle_period, force || full);
        // A trace's size counts toward its limit while it is written: until it has received
        // nothing for as long as it takes to be complete and cut into a block.
        head.forget_idle(inner.config.trace_idle_period + inner.config.max_block_duration);
        let (bytes, age) = head.pending_state();
        let due = age.is_some()
            && (force
                || full
                || bytes >= inner.config.max_block_bytes
                || age.is_some_and(|a| a >= inner.config.max_block_duration));
        if !due {
            continue;
        }
        match write_block(inner, &backend, &tenant, &head) {
            Ok(Some(meta)) => written.push(meta),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(tenant = %tenant, error = %e, "writing a block failed; its traces stay in the head and the WAL");
                failure.get_or_insert(e);
            }
        }
    }
    if !written.is_empty()
        && let Some(wal) = &inner.wal
    {
        // New appends go to a fresh segment, so the older ones can be released.
        let previous = wal.rotate()?.saturating_sub(1);
        let needed = oldest_needed_segment(inner);
        if previous.saturating_sub(needed) >= CARRY_FORWARD_AFTER_SEGMENTS {
            carry_forward(inner, wal, previous);
        }
        wal.release_before(oldest_needed_segment(inner))?;
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(written),
    }
}

/// How many segments behind the current one the oldest needed segment may fall before the
/// traces holding it are written to the WAL again.
const CARRY_FORWARD_AFTER_SEGMENTS: u64 = 8;

/// The oldest WAL segment any trace in the head still needs.
fn oldest_needed_segment(inner: &Inner) -> u64 {
    inner
        .head
        .tenants()
        .iter()
        .filter_map(|(_, h)| h.min_segment())
        .min()
        .unwrap_or(u64::MAX)
}

/// Appends again the traces that hold WAL segments older than `previous` (a trace that
/// stays live for a long time, or a tenant whose blocks cannot be written), so that those
/// segments can be released: no trace and no tenant holds back the log of the others. A crash
/// in between leaves spans twice in the log, which readers and compaction de-duplicate.
fn carry_forward(inner: &Inner, wal: &Wal, previous: u64) {
    let started = Instant::now();
    let (mut traces, mut bytes) = (0usize, 0usize);
    for (tenant, head) in inner.head.tenants() {
        let stale = head.stale_traces(previous);
        if stale.is_empty() {
            continue;
        }
        let mut done: Vec<TraceId> = Vec::with_capacity(stale.len());
        for (id, data) in stale {
            let record = bytes::Bytes::from(data.encode_to_vec());
            let len = record.len();
            match wal.append(RecordKind::Spans, tenant.clone(), record).wait() {
                Ok(_) => {
                    done.push(id);
                    bytes += len;
                }
                Err(e) => {
                    tracing::error!(tenant = %tenant, trace = %id, error = %e, "cannot write a trace to the write-ahead log again; its old segments are kept");
                }
            }
        }
        traces += done.len();
        // Everything those traces held is now in segments after `previous`; spans added
        // since came from `previous` or later.
        head.carried_forward(&done, previous);
    }
    tracing::info!(
        traces,
        bytes,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "long-lived traces written to the write-ahead log again, so its old segments can be released"
    );
}

fn write_block(
    inner: &Inner,
    backend: &Arc<dyn Backend>,
    tenant: &str,
    head: &TenantHead,
) -> Result<Option<BlockMeta>, FlushError> {
    let started = Instant::now();
    let block_id = new_block_id();
    let (meta, ids) = head.with_pending(|traces| -> Result<_, FlushError> {
        if traces.is_empty() {
            return Ok((None, Vec::new()));
        }
        let mut writer = BlockWriter::new(
            tenant,
            block_id.clone(),
            traces.len(),
            0,
            inner.config.bloom_false_positive,
        );
        let mut ids = Vec::with_capacity(traces.len());
        let mut spans: Vec<StoredSpan> = Vec::new();
        for (id, trace) in traces {
            unpack_all(&trace.spans, &mut spans);
            let refs: Vec<&StoredSpan> = spans.iter().collect();
            writer.add_trace(**id, &refs)?;
            writer.note_range(trace.block_range.0, trace.block_range.1);
            ids.push(**id);
        }
        Ok((Some(writer.finish(backend.as_ref())?), ids))
    })?;
    let Some(meta) = meta else {
        return Ok(None);
    };
    let reader = BlockReader::open(backend.clone(), tenant, &meta.block_id)?;
    inner
        .blocks
        .write()
        .entry(tenant.to_owned())
        .or_default()
        .push(Arc::new(reader));
    head.remove_pending(&ids);
    inner
        .counters
        .blocks_flushed
        .fetch_add(1, Ordering::Relaxed);
    tracing::info!(
        tenant,
        block = %meta.block_id,
        traces = meta.traces,
        spans = meta.spans,
        bytes = meta.total_bytes(),
        bytes_per_span = meta.total_bytes() as f64 / meta.spans.max(1) as f64,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "block written"
    );
    Ok(Some(meta))
}

/// Runs one compaction for every tenant that has blocks to merge; returns how many ran and
/// the first failure. A tenant whose compaction fails is logged and left for the next round:
/// one tenant never holds back another's.
fn compact_round(inner: &Inner) -> (usize, Option<FlushError>) {
    let Some(backend) = inner.config.blocks.clone() else {
        return (0, None);
    };
    let policy = CompactionPolicy {
        window: inner.config.compaction_window,
        min_inputs: inner.config.compaction_min_inputs.max(2),
        max_inputs: 8,
        max_level: 4,
        bloom_false_positive: inner.config.bloom_false_positive,
    };
    let _guard = inner.compacting.lock();
    let mut plans: Vec<(String, Vec<Arc<BlockReader>>)> = inner
        .blocks
        .read()
        .iter()
        .map(|(t, b)| (t.clone(), compact::plan(b, &policy)))
        .filter(|(_, plan)| !plan.is_empty())
        .collect();
    plans.sort_by(|a, b| a.0.cmp(&b.0));
    let (mut done, mut failure) = (0, None);
    for (tenant, inputs) in plans {
        match compact_tenant(inner, &backend, &tenant, &inputs, &policy) {
            Ok(()) => done += 1,
            Err(e) => {
                tracing::error!(tenant, error = %e, "compaction failed; its inputs are kept and it is tried again later");
                failure.get_or_insert(e);
            }
        }
    }
    (done, failure)
}

/// Merges one planned group of a tenant's blocks. An input that turns out corrupt is set
/// aside (and the group planned again next round); the inputs of a merge are marked compacted
/// and deleted after `compacted_block_retention`, so queries reading them meanwhile finish.
fn compact_tenant(
    inner: &Inner,
    backend: &Arc<dyn Backend>,
    tenant: &str,
    inputs: &[Arc<BlockReader>],
    policy: &CompactionPolicy,
) -> Result<(), FlushError> {
    let outcome = match compact::merge(backend.as_ref(), tenant, inputs, policy) {
        Ok(outcome) => outcome,
        Err(compact::MergeError::Input { input, error }) => {
            let block = &inputs[input];
            let listed = inner
                .blocks
                .read()
                .get(tenant)
                .is_some_and(|l| l.iter().any(|b| Arc::ptr_eq(b, block)));
            if !listed {
                // Expired while it was read: plan again without it.
                return Ok(());
            }
            if error.is_corrupt() || error.is_not_found() {
                set_aside(inner, tenant, &block.meta.block_id, &error.to_string());
                return Ok(());
            }
            return Err(error.into());
        }
        Err(compact::MergeError::Output(e)) => return Err(e.into()),
    };
    // The output is durable: make it readable, then retire the inputs.
    let output = match &outcome.output {
        Some(meta) => Some(Arc::new(BlockReader::open(
            backend.clone(),
            tenant,
            &meta.block_id,
        )?)),
        None => None,
    };
    {
        let mut all = inner.blocks.write();
        let list = all.entry(tenant.to_owned()).or_default();
        if let Some(output) = output {
            list.push(output);
        }
        list.retain(|b| !inputs.iter().any(|i| Arc::ptr_eq(i, b)));
    }
    let now = now_nanos() / 1_000_000_000;
    let delete_after = now.saturating_add(inner.config.compacted_block_retention.as_secs());
    for input in inputs {
        // Marked, so that a restart does not read it again as a duplicate; deleted later.
        if let Err(e) = backend.write(
            &format!("{}/{COMPACTED_MARKER}", input.name()),
            Marker::now("compacted").to_json().into(),
        ) {
            tracing::warn!(block = input.name(), error = %e, "cannot mark a compacted block; it is read as a duplicate after a restart until deleted");
        }
        inner.doomed.lock().push(Doomed {
            prefix: input.name().to_owned(),
            delete_after,
        });
    }
    inner.counters.compactions.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Deletes the blocks replaced by compaction whose grace period is over.
fn delete_compacted(inner: &Inner, all: bool) {
    let Some(backend) = &inner.config.blocks else {
        return;
    };
    let now = now_nanos() / 1_000_000_000;
    let due: Vec<Doomed> = {
        let mut doomed = inner.doomed.lock();
        let (due, keep): (Vec<Doomed>, Vec<Doomed>) =
            doomed.drain(..).partition(|d| all || d.delete_after <= now);
        *doomed = keep;
        due
    };
    for d in due {
        if let Err(e) = backend.delete_prefix(&d.prefix) {
            tracing::warn!(block = %d.prefix, error = %e, "deleting a compacted block failed; tried again later");
            inner.doomed.lock().push(d);
        }
    }
}

/// Sets a corrupt block aside: marks it on the backend (`corrupt.json`, with the reason),
/// stops reading and compacting it, counts and logs it once. Its files are kept for
/// inspection.
fn set_aside(inner: &Inner, tenant: &str, block_id: &str, reason: &str) {
    {
        let mut aside = inner.set_aside.lock();
        if aside
            .iter()
            .any(|b| b.tenant == tenant && b.block_id == block_id)
        {
            return;
        }
        aside.push(SetAside {
            tenant: tenant.to_owned(),
            block_id: block_id.to_owned(),
            reason: reason.to_owned(),
        });
    }
    if let Some(list) = inner.blocks.write().get_mut(tenant) {
        list.retain(|b| b.meta.block_id != block_id);
    }
    inner.counters.block_errors.fetch_add(1, Ordering::Relaxed);
    let marked = inner.config.blocks.as_ref().map(|backend| {
        backend.write(
            &format!("{tenant}/{block_id}/{CORRUPT_MARKER}"),
            Marker::now(reason).to_json().into(),
        )
    });
    tracing::error!(
        tenant,
        block = block_id,
        reason,
        marked = matches!(marked, Some(Ok(()))),
        "corrupt block set aside: it is no longer read nor compacted, and its files are kept"
    );
}

/// A corrupt block, set aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAside {
    /// Its tenant.
    pub tenant: String,
    /// Its ID.
    pub block_id: String,
    /// Why it was set aside.
    pub reason: String,
}

/// A block replaced by compaction, deleted once its grace period is over.
#[derive(Debug)]
struct Doomed {
    prefix: String,
    /// Unix seconds.
    delete_after: u64,
}

/// Deletes blocks whose newest span is older than the tenant's retention.
fn apply_retention(inner: &Inner) {
    let Some(backend) = &inner.config.blocks else {
        return;
    };
    let now = now_nanos();
    let mut expired: Vec<(String, Arc<BlockReader>)> = Vec::new();
    {
        let limits = inner.limits.read();
        let mut all = inner.blocks.write();
        for (tenant, blocks) in all.iter_mut() {
            let retention = tenant_limit(&limits, tenant, |l| l.block_retention)
                .unwrap_or(inner.config.block_retention);
            let cutoff = now.saturating_sub(retention.as_nanos() as u64);
            blocks.retain(|b| {
                // A block is kept for `retention` after its newest span, and never less than
                // `retention` after it was written: spans sent late (backfill, skewed clocks)
                // are not deleted as soon as they land.
                let written = b.meta.created_at_unix_seconds.saturating_mul(1_000_000_000);
                let keep = b.meta.end_time_unix_nano.max(written) >= cutoff;
                if !keep {
                    expired.push((tenant.clone(), b.clone()));
                }
                keep
            });
        }
    }
    for (tenant, block) in expired {
        match backend.delete_prefix(block.name()) {
            Ok(()) => {
                inner
                    .counters
                    .blocks_expired
                    .fetch_add(1, Ordering::Relaxed);
                tracing::info!(tenant, block = %block.meta.block_id, "block deleted by retention");
            }
            Err(e) => {
                tracing::error!(tenant, block = %block.meta.block_id, error = %e, "deleting an expired block failed")
            }
        }
    }
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

    fn readable_blocks(&self, tenant: &str) -> Vec<Arc<BlockReader>> {
        self.inner
            .blocks
            .read()
            .get(tenant)
            .cloned()
            .unwrap_or_default()
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
        validate_tenant(tenant)?;
        let compiled = Compiled::new(&req.query)?;
        let (found, stopped) = crate::query::source::search(
            &compiled,
            req,
            self.inner.head.get(tenant),
            self.readable_blocks(tenant),
            self.inner.config.query_parallelism,
            self.inner.config.max_query_bytes,
            &|block, e| self.block_failed(tenant, block, e),
        );
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
        Ok(found)
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
        Ok(crate::query::tags::names(
            scopes,
            compiled.as_ref(),
            self.inner.head.get(tenant),
            &self.readable_blocks(tenant),
            range,
            limit,
            &self.tag_stop(),
            &|block, e| self.block_failed(tenant, block, e),
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
        let compiled = match filter.map(str::trim).filter(|q| !q.is_empty()) {
            None => None,
            Some(q) => crate::query::filter_query(q)?,
        };
        Ok(crate::query::tags::values(
            &field,
            compiled.as_ref(),
            self.inner.head.get(tenant),
            &self.readable_blocks(tenant),
            range,
            limit,
            &self.tag_stop(),
            &|block, e| self.block_failed(tenant, block, e),
        )?)
    }
}

#[doc(hidden)]
impl Store {
    /// Applies retention now (normally once a minute).
    pub fn apply_retention_now(&self) {
        apply_retention(&self.inner);
    }

    /// Deletes the blocks replaced by compaction now, grace period or not.
    pub fn delete_compacted_now(&self) {
        delete_compacted(&self.inner, true);
    }
}
