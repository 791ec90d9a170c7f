//! config: how is a store set up?
//!
//! [`Config`] holds every setting of a [`Store`], with Tempo's defaults; [`TenantLimits`]
//! overrides some per tenant. [`Config::validated`] is the one place where settings are
//! checked and clamped, whether they came from the builder or were set by hand.
//!
//! [`Store`]: crate::Store
//! [`Store::open`]: crate::Store::open

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::Backend;
use crate::error::OpenError;
use crate::generator::GeneratorConfig;
use crate::wal::FsyncPolicy;

/// Settings of a [`Store`]. Build one with [`Store::builder`]; the defaults are Tempo's.
///
/// A `Config` can also be made from [`Config::default`] and its fields set one by one;
/// [`Store::open`] checks and clamps it in one place (see each field for its range).
#[derive(Debug, Clone)]
#[non_exhaustive]
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
    /// The longest an attribute key or string value may be, in bytes, as Tempo's
    /// `max_attribute_bytes` (default 2048; 0: no limit). Longer ones (of resources, spans,
    /// events and links) are truncated at ingest, on a character boundary, and counted
    /// ([`crate::StoreStats::attributes_truncated`]).
    pub max_attribute_bytes: u64,
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
    /// The longest range a metrics query may cover, as Tempo's
    /// `query_frontend.metrics.max_duration` (default 24 h; zero: no limit).
    pub metrics_max_duration: Duration,
    /// The most intervals (samples per series) a metrics range query may ask for, its range
    /// over its step, as Tempo's `query_frontend.metrics.max_intervals` (default 10,000; 0:
    /// no limit).
    pub metrics_max_intervals: u64,
    /// The metrics generator (span metrics, service graphs), off by default as in Tempo.
    pub metrics_generator: GeneratorConfig,
    /// The most memory the bloom filter shards and row group footers kept between lookups
    /// may take, for all blocks together (default 256 MiB). On object storage each one kept
    /// is a request saved.
    pub block_cache_bytes: u64,
    /// On a shared backend (a bucket other servers write too), how often the blocks of every
    /// tenant are listed again, to read the blocks other servers wrote and forget those they
    /// compacted or deleted (default 5 min, Tempo's `blocklist_poll`). The store's own new
    /// blocks are read at once.
    pub blocklist_poll: Duration,
    /// On a shared backend, how long a tenant's compaction lease lasts unless renewed
    /// (default 2 min): if its holder dies, another server takes over after this long.
    pub compaction_lease: Duration,
    /// On a shared backend, a block without `meta.json` this old is taken for the debris of a
    /// crashed upload and deleted by the server holding the tenant's lease (default 1 h).
    pub orphan_age: Duration,
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
            max_attribute_bytes: 2048,
            query_parallelism: 0,
            max_head_bytes: 128 << 20,
            max_query_bytes: 512 << 20,
            compacted_block_retention: Duration::from_secs(300),
            ingestion_time_range_slack: Duration::from_secs(120),
            metrics_max_duration: Duration::from_secs(24 * 3600),
            metrics_max_intervals: 10_000,
            metrics_generator: GeneratorConfig::default(),
            block_cache_bytes: 256 << 20,
            blocklist_poll: Duration::from_secs(300),
            compaction_lease: Duration::from_secs(120),
            orphan_age: Duration::from_secs(3600),
        }
    }
}

impl Config {
    /// The configuration with every setting checked and clamped into its range:
    ///
    /// - `wal_segment_bytes` at least 4 KiB; `flush_check_period` at least 10 ms;
    ///   `compaction_min_inputs` at least 2; `max_query_bytes` at least 1 MiB;
    ///   `max_head_bytes` at least twice `max_block_bytes`, so a block can always be cut;
    /// - `max_block_bytes` must not be 0, and `bloom_false_positive` must lie in `(0, 0.5]`:
    ///   otherwise [`OpenError::Config`] names the setting.
    pub fn validated(mut self) -> Result<Config, OpenError> {
        if self.max_block_bytes == 0 {
            return Err(OpenError::Config {
                key: "max_block_bytes",
                message: "must be more than 0".into(),
            });
        }
        if !(self.bloom_false_positive > 0.0 && self.bloom_false_positive <= 0.5) {
            return Err(OpenError::Config {
                key: "bloom_false_positive",
                message: format!("{} is not a rate in (0, 0.5]", self.bloom_false_positive),
            });
        }
        self.wal_segment_bytes = self.wal_segment_bytes.max(4096);
        self.flush_check_period = self.flush_check_period.max(Duration::from_millis(10));
        self.compaction_min_inputs = self.compaction_min_inputs.max(2);
        self.max_query_bytes = self.max_query_bytes.max(1 << 20);
        self.blocklist_poll = self.blocklist_poll.max(Duration::from_millis(100));
        self.compaction_lease = self.compaction_lease.max(Duration::from_secs(1));
        self.max_head_bytes = self
            .max_head_bytes
            .max(self.max_block_bytes.saturating_mul(2));
        Ok(self)
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
    /// The longest an attribute key or string value may be, in bytes (0: no limit).
    pub max_attribute_bytes: Option<u64>,
    /// The metrics generator's processors for the tenant (Tempo's
    /// `metrics_generator.processors` override).
    pub generator_processors: Option<crate::generator::Processors>,
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

    /// Sets the longest an attribute key or string value may be (0: no limit).
    pub fn max_attribute_bytes(mut self, bytes: u64) -> TenantLimits {
        self.max_attribute_bytes = Some(bytes);
        self
    }

    /// Sets the metrics generator's processors for the tenant.
    pub fn generator_processors(
        mut self,
        processors: crate::generator::Processors,
    ) -> TenantLimits {
        self.generator_processors = Some(processors);
        self
    }
}

/// One limit of a tenant: its own entry's, else the wildcard `"*"` entry's (when the tenant has
/// no entry), else `None`.
pub(crate) fn tenant_limit<T>(
    limits: &HashMap<String, TenantLimits>,
    tenant: &str,
    field: impl Fn(&TenantLimits) -> Option<T>,
) -> Option<T> {
    limits
        .get(tenant)
        .or_else(|| limits.get("*"))
        .and_then(field)
}
