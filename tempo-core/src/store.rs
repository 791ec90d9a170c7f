//! store: the one handle a host holds.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use prost::Message;

use crate::batch::Batch;
use crate::error::Error;
use crate::head::Head;
use crate::model::{TraceId, TracesData};
use crate::tenant::validate_tenant;
use crate::wal::{FsyncPolicy, RecordKind, ReplayReport, Wal, WalOptions};

/// The tenant used when multi-tenancy is off, as in Tempo.
pub const SINGLE_TENANT: &str = "single-tenant";

/// Settings of a [`Store`]. Build one with [`Store::builder`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Directory of the write-ahead log; `None` keeps everything in memory.
    pub wal_dir: Option<PathBuf>,
    /// When appends are made durable.
    pub fsync: FsyncPolicy,
    /// A WAL segment is closed and a new one started past this size.
    pub wal_segment_bytes: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            wal_dir: None,
            fsync: FsyncPolicy::Always,
            wal_segment_bytes: 128 << 20,
        }
    }
}

/// Builds a [`Store`].
///
/// ```
/// # fn main() -> Result<(), tempo_core::Error> {
/// let dir = std::env::temp_dir().join(format!("tempo-doc-{}", std::process::id()));
/// let store = tempo_core::Store::builder()
///     .wal_dir(&dir)
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

    /// Opens the store, replaying its write-ahead log.
    pub fn open(self) -> Result<Store, Error> {
        Store::open(self.config)
    }
}

/// What [`Store::ingest`] stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IngestReceipt {
    /// Spans now durable and readable.
    pub accepted_spans: usize,
    /// Spans dropped by validation.
    pub rejected_spans: usize,
    /// Bytes written to the write-ahead log for this batch (zero in memory).
    pub wal_bytes: usize,
}

/// A time range in unix nanoseconds, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// Start, unix nanoseconds.
    pub start: u64,
    /// End, unix nanoseconds.
    pub end: u64,
}

impl TimeRange {
    /// All of time.
    pub const ALL: TimeRange = TimeRange {
        start: 0,
        end: u64::MAX,
    };

    /// The range between two unix times in seconds; `None` ends are open.
    pub fn from_unix_seconds(start: Option<u64>, end: Option<u64>) -> TimeRange {
        TimeRange {
            start: start.map_or(0, |s| s.saturating_mul(1_000_000_000)),
            end: end.map_or(u64::MAX, |e| {
                e.saturating_add(1).saturating_mul(1_000_000_000) - 1
            }),
        }
    }
}

impl Default for TimeRange {
    fn default() -> TimeRange {
        TimeRange::ALL
    }
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
    /// Live traces in the head, all tenants.
    pub head_traces: u64,
    /// Spans inserted into the head, all tenants.
    pub head_spans: u64,
}

struct Inner {
    config: Config,
    wal: Option<Wal>,
    head: Head,
    replay: ReplayReport,
}

/// The trace store: ingest spans, read traces back.
///
/// Cheap to clone; every clone is the same store. Dropping the last clone closes it.
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

impl Store {
    /// A builder with Tempo's defaults.
    pub fn builder() -> StoreBuilder {
        StoreBuilder::default()
    }

    /// A store that keeps everything in memory, for tests and embedding.
    pub fn in_memory() -> Store {
        Store {
            inner: Arc::new(Inner {
                config: Config::default(),
                wal: None,
                head: Head::default(),
                replay: ReplayReport::default(),
            }),
        }
    }

    /// Opens a store, replaying its write-ahead log into the head.
    pub fn open(config: Config) -> Result<Store, Error> {
        let Some(wal_dir) = config.wal_dir.clone() else {
            return Ok(Store::in_memory());
        };
        let head = Head::default();
        let mut undecodable = 0usize;
        let started = std::time::Instant::now();
        let (wal, replay) = Wal::open(
            &wal_dir,
            WalOptions {
                fsync: config.fsync,
                segment_bytes: config.wal_segment_bytes,
            },
            |record| match record.kind {
                RecordKind::Spans => match TracesData::decode(record.data) {
                    Ok(data) => head.tenant(&record.tenant).insert(data.resource_spans),
                    Err(err) => {
                        undecodable += 1;
                        tracing::error!(tenant = %record.tenant, error = %err, "WAL record does not decode; skipped");
                    }
                },
                RecordKind::Sync => {}
            },
        )?;
        let spans: u64 = head.tenants().iter().map(|(_, t)| t.span_count()).sum();
        tracing::info!(
            dir = %wal_dir.display(),
            segments = replay.segments,
            records = replay.records,
            spans,
            corrupt_regions = replay.corrupt_regions + undecodable,
            truncated_bytes = replay.truncated_bytes,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "write-ahead log replayed"
        );
        Ok(Store {
            inner: Arc::new(Inner {
                config,
                wal: Some(wal),
                head,
                replay,
            }),
        })
    }

    /// What the replay at open found in the write-ahead log.
    pub fn replay_report(&self) -> &ReplayReport {
        &self.inner.replay
    }

    /// Stores a batch, blocking until it is durable in the write-ahead log. Once this returns,
    /// the batch's traces are found by ID.
    pub fn ingest(&self, tenant: &str, batch: Batch) -> Result<IngestReceipt, Error> {
        let (receipt, ack) = self.append(tenant, &batch)?;
        if let Some(ack) = ack {
            ack.wait()?;
        }
        self.inner
            .head
            .tenant(tenant)
            .insert(batch.into_resource_spans());
        Ok(receipt)
    }

    /// Stores a batch; the future completes once it is durable in the write-ahead log. It can
    /// be awaited on any async runtime.
    pub async fn ingest_async(&self, tenant: &str, batch: Batch) -> Result<IngestReceipt, Error> {
        let (receipt, ack) = self.append(tenant, &batch)?;
        if let Some(ack) = ack {
            ack.await?;
        }
        self.inner
            .head
            .tenant(tenant)
            .insert(batch.into_resource_spans());
        Ok(receipt)
    }

    fn append(
        &self,
        tenant: &str,
        batch: &Batch,
    ) -> Result<(IngestReceipt, Option<crate::wal::Ack>), Error> {
        validate_tenant(tenant)?;
        let mut receipt = IngestReceipt {
            accepted_spans: batch.span_count(),
            rejected_spans: batch.rejected_spans(),
            wal_bytes: 0,
        };
        if batch.span_count() == 0 {
            return Ok((receipt, None));
        }
        let Some(wal) = &self.inner.wal else {
            return Ok((receipt, None));
        };
        let data = batch.encoded();
        receipt.wal_bytes = data.len();
        Ok((
            receipt,
            Some(wal.append(RecordKind::Spans, Arc::from(tenant), data)),
        ))
    }

    /// Finds a trace by ID among the tenant's data overlapping `range`. Spans repeated across
    /// deliveries are returned once.
    pub fn find_trace(
        &self,
        tenant: &str,
        id: TraceId,
        range: TimeRange,
    ) -> Result<Option<TracesData>, Error> {
        validate_tenant(tenant)?;
        Ok(self
            .inner
            .head
            .get(tenant)
            .and_then(|head| head.find(&id, range.start, range.end)))
    }

    /// Makes everything acknowledged so far durable, whatever the fsync policy.
    pub fn flush(&self) -> Result<(), Error> {
        if let Some(wal) = &self.inner.wal {
            wal.sync()?;
        }
        Ok(())
    }

    /// Syncs the write-ahead log and stops the store's threads. Other clones of the store
    /// fail with [`Error::Closed`] afterwards.
    pub fn close(&self) -> Result<(), Error> {
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
        stats
    }
}
