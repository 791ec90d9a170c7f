//! state: what do a store's handles and its background threads share?

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::Sender;
use parking_lot::{Mutex, RwLock};

use crate::backend::{Backend, Metered, Version};
use crate::catalog::Catalog;
use crate::config::{Config, TenantLimits};
use crate::generator::Generator;
use crate::head::Head;
use crate::wal::{ReplayReport, Wal};

/// Counters of the store's work, read by [`crate::Store::stats`].
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) blocks_flushed: AtomicU64,
    pub(crate) blocks_expired: AtomicU64,
    pub(crate) compactions: AtomicU64,
    pub(crate) spans_refused_trace_too_large: AtomicU64,
    pub(crate) attributes_truncated: AtomicU64,
    pub(crate) queries_expired: AtomicU64,
    pub(crate) queries_cancelled: AtomicU64,
    pub(crate) queries_over_budget: AtomicU64,
    pub(crate) overloaded: AtomicU64,
}

/// What a store's handles and background threads share.
pub(crate) struct Shared {
    /// The settings, validated.
    pub(crate) config: Config,
    /// The write-ahead log; `None` in memory.
    pub(crate) wal: Option<Wal>,
    /// Every tenant's live and pending traces.
    pub(crate) head: Head,
    /// Every tenant's blocks.
    pub(crate) catalog: Catalog,
    /// Counts of what is asked of the block backend (the catalog's backend is this one).
    pub(crate) meter: Option<Arc<Metered<Arc<dyn Backend>>>>,
    /// On a shared backend, what this server knows of the others: leases, the block list.
    pub(crate) bucket: Option<BucketState>,
    /// What the replay at open found.
    pub(crate) replay: ReplayReport,
    /// Counters of the store's work.
    pub(crate) counters: Counters,
    /// Per-tenant limits in force.
    pub(crate) limits: RwLock<HashMap<String, TenantLimits>>,
    /// The metrics generator; it runs for tenants with a processor on.
    pub(crate) generator: Generator,
    /// Serializes cutting blocks (background thread, `flush_blocks`).
    pub(crate) cutting: Mutex<()>,
    /// Serializes compactions (compaction thread, `compact_now`).
    pub(crate) compacting: Mutex<()>,
    /// Dropped to stop the background threads.
    pub(crate) stop: Mutex<Option<Sender<()>>>,
    /// The background threads.
    pub(crate) threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    /// Stops the background threads and waits for them (but for the calling one).
    pub(crate) fn stop_background(&self) {
        drop(self.stop.lock().take());
        let handles: Vec<JoinHandle<()>> = self.threads.lock().drain(..).collect();
        for handle in handles {
            if handle.thread().id() != std::thread::current().id() && handle.join().is_err() {
                tracing::error!("a background thread panicked");
            }
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.stop_background();
    }
}

/// Now, unix nanoseconds.
pub(crate) fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// What a server knows of a shared bucket (the work on it is `crate::bucket`'s).
pub(crate) struct BucketState {
    /// This server, as leases name it.
    pub(crate) server_id: String,
    /// The leases held: tenant → version written and expiry (unix milliseconds).
    pub(crate) held: Mutex<HashMap<String, (Version, u64)>>,
    /// Blocks without `meta.json`, and when they were first seen.
    pub(crate) incomplete: Mutex<HashMap<String, Instant>>,
    /// One poll at a time: the poll thread and a compaction's refresh never add a block
    /// twice.
    pub(crate) polling: Mutex<()>,
}

impl BucketState {
    /// A new server's state, with a name for its leases unique to this process.
    pub(crate) fn new() -> BucketState {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let host = std::env::var("HOSTNAME").unwrap_or_default();
        let seed = format!("{host}-{}-{nanos}", std::process::id());
        let server_id = format!(
            "{}{}{:016x}",
            host,
            if host.is_empty() { "" } else { "-" },
            xxhash_rust::xxh3::xxh3_64(seed.as_bytes())
        );
        BucketState {
            server_id,
            held: Mutex::new(HashMap::new()),
            incomplete: Mutex::new(HashMap::new()),
            polling: Mutex::new(()),
        }
    }

    /// This server's name in leases.
    pub(crate) fn server_id(&self) -> &str {
        &self.server_id
    }
}
