//! catalog: which blocks does each tenant have?
//!
//! The readable blocks of every tenant, loaded from the backend when the store opens and kept
//! as blocks are cut, compacted and expired; the corrupt blocks set aside; and the blocks
//! replaced by compaction that wait for their grace period before deletion.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use crate::backend::Backend;
use crate::block::cache::BlockCache;
use crate::block::inspect::{BlockState, block_state};
use crate::block::reader::BlockReader;
use crate::block::{BlockError, BlockMeta, CORRUPT_MARKER, Marker, block_key, is_block_id};
use crate::tenant::validate_tenant;

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
    /// `<tenant>/<block-id>`.
    prefix: String,
    /// Unix seconds.
    delete_after: u64,
}

/// The blocks of every tenant.
pub(crate) struct Catalog {
    backend: Option<Arc<dyn Backend>>,
    /// Bloom shards and footers of every block.
    cache: Arc<BlockCache>,
    /// How long blocks replaced by compaction are kept.
    grace: Duration,
    blocks: RwLock<HashMap<String, Vec<Arc<BlockReader>>>>,
    /// Corrupt blocks set aside (marked, no longer read).
    set_aside: Mutex<Vec<SetAside>>,
    /// Blocks replaced by compaction, waiting for their grace period to end.
    doomed: Mutex<Vec<Doomed>>,
    /// Blocks that could not be read.
    errors: AtomicU64,
}

/// Sums over the readable blocks, for metrics.
#[derive(Debug, Default)]
pub(crate) struct CatalogStats {
    pub(crate) blocks: u64,
    pub(crate) bytes: u64,
    pub(crate) bloom_damaged: u64,
    pub(crate) set_aside: u64,
    pub(crate) errors: u64,
}

impl Catalog {
    /// An empty catalog over `backend` (none: the store keeps no blocks).
    pub(crate) fn new(
        backend: Option<Arc<dyn Backend>>,
        grace: Duration,
        cache_bytes: u64,
    ) -> Catalog {
        Catalog {
            backend,
            cache: Arc::new(BlockCache::new(cache_bytes)),
            grace,
            blocks: RwLock::new(HashMap::new()),
            set_aside: Mutex::new(Vec::new()),
            doomed: Mutex::new(Vec::new()),
            errors: AtomicU64::new(0),
        }
    }

    /// The block cache's counts.
    pub(crate) fn cache_stats(&self) -> crate::block::cache::CacheStats {
        self.cache.stats()
    }

    /// Opens a block of the backend, with the store's cache.
    pub(crate) fn open_block(&self, tenant: &str, id: &str) -> Result<BlockReader, BlockError> {
        let Some(backend) = &self.backend else {
            return Err(BlockError::Write("the store keeps no blocks".into()));
        };
        BlockReader::open_cached(backend.clone(), self.cache.clone(), tenant, id)
    }

    /// The block backend, if the store has one.
    pub(crate) fn backend(&self) -> Option<&Arc<dyn Backend>> {
        self.backend.as_ref()
    }

    /// Reads every tenant's blocks from the backend: readable ones are listed, corrupt ones
    /// set aside, compacted ones scheduled for deletion, and blocks left without `meta.json`
    /// by an interrupted write removed.
    pub(crate) fn load(&self) {
        let Some(backend) = &self.backend else {
            return;
        };
        let tenants = match backend.list("") {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "cannot list tenants in the block store");
                return;
            }
        };
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
                if self.load_block(backend, &tenant, &id) {
                    loaded += 1;
                }
            }
        }
        if loaded > 0 {
            tracing::info!(blocks = loaded, "blocks loaded");
        }
        let aside = self.set_aside.lock().len();
        if aside > 0 {
            tracing::warn!(
                blocks = aside,
                "corrupt blocks are set aside and not read; `tempo-server block list` shows them"
            );
        }
    }

    /// Loads one block directory; says whether it is now readable.
    pub(crate) fn load_block(&self, backend: &Arc<dyn Backend>, tenant: &str, id: &str) -> bool {
        let prefix = block_key(tenant, id);
        match block_state(backend.as_ref(), tenant, id) {
            Err(e) => {
                tracing::error!(tenant, block = %id, error = %e, "cannot list a block's files; skipped");
                return false;
            }
            Ok(BlockState::Incomplete) if backend.is_shared() => {
                // Perhaps another server's upload in progress: never removed here. The
                // server holding the tenant's lease removes it once it is old.
                tracing::debug!(tenant, block = %id, "a block without meta.json (yet) is not read");
                return false;
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
                return false;
            }
            Ok(BlockState::SetAside { reason, .. }) => {
                self.set_aside.lock().push(SetAside {
                    tenant: tenant.to_owned(),
                    block_id: id.to_owned(),
                    reason,
                });
                return false;
            }
            Ok(BlockState::Compacted { .. }) if backend.is_shared() => {
                // The server holding the tenant's lease deletes it after its grace period.
                return false;
            }
            Ok(BlockState::Compacted {
                at_unix_seconds, ..
            }) => {
                self.doom(prefix, at_unix_seconds);
                return false;
            }
            Ok(_) => {}
        }
        match BlockReader::open_cached(backend.clone(), self.cache.clone(), tenant, id) {
            Ok(reader) => {
                if let Some(damage) = reader.repaired() {
                    let written =
                        backend.write(&format!("{prefix}/index"), reader.index_file().into());
                    tracing::warn!(tenant, block = %id, damage, rewritten = written.is_ok(), "block index rebuilt from its data file");
                }
                self.add(tenant, Arc::new(reader));
                true
            }
            Err(e) if e.is_corrupt() => {
                self.set_aside(tenant, id, &e.to_string());
                false
            }
            Err(e) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(tenant, block = %id, error = %e, "block skipped");
                false
            }
        }
    }

    /// The tenant's readable blocks.
    pub(crate) fn readable(&self, tenant: &str) -> Vec<Arc<BlockReader>> {
        self.blocks.read().get(tenant).cloned().unwrap_or_default()
    }

    /// Every tenant with its readable blocks.
    pub(crate) fn all(&self) -> Vec<(String, Vec<Arc<BlockReader>>)> {
        self.blocks
            .read()
            .iter()
            .map(|(t, b)| (t.clone(), b.clone()))
            .collect()
    }

    /// The metadata of the tenant's readable blocks.
    pub(crate) fn metas(&self, tenant: &str) -> Vec<BlockMeta> {
        self.blocks
            .read()
            .get(tenant)
            .map(|b| b.iter().map(|r| r.meta.clone()).collect())
            .unwrap_or_default()
    }

    /// Makes a new block readable (once: a block already listed is not added again).
    pub(crate) fn add(&self, tenant: &str, block: Arc<BlockReader>) {
        let mut all = self.blocks.write();
        let list = all.entry(tenant.to_owned()).or_default();
        if !list.iter().any(|b| b.meta.block_id == block.meta.block_id) {
            list.push(block);
        }
    }

    /// The IDs of the tenant's blocks the catalog knows: readable or set aside.
    pub(crate) fn known_ids(&self, tenant: &str) -> std::collections::HashSet<String> {
        let mut ids: std::collections::HashSet<String> = self
            .blocks
            .read()
            .get(tenant)
            .map(|l| l.iter().map(|b| b.meta.block_id.clone()).collect())
            .unwrap_or_default();
        ids.extend(
            self.set_aside
                .lock()
                .iter()
                .filter(|b| b.tenant == tenant)
                .map(|b| b.block_id.clone()),
        );
        ids
    }

    /// Stops reading the tenant's blocks for which `gone` is true (removed from the bucket, or
    /// compacted away, by another server); returns how many.
    pub(crate) fn forget_where(&self, tenant: &str, gone: impl Fn(&str) -> bool) -> usize {
        let mut all = self.blocks.write();
        let Some(list) = all.get_mut(tenant) else {
            return 0;
        };
        let before = list.len();
        list.retain(|b| !gone(&b.meta.block_id));
        before - list.len()
    }

    /// Replaces compaction's inputs with its output (if any), at once for readers.
    pub(crate) fn replace(
        &self,
        tenant: &str,
        inputs: &[Arc<BlockReader>],
        output: Option<Arc<BlockReader>>,
    ) {
        let mut all = self.blocks.write();
        let list = all.entry(tenant.to_owned()).or_default();
        if let Some(output) = output {
            list.push(output);
        }
        list.retain(|b| !inputs.iter().any(|i| Arc::ptr_eq(i, b)));
    }

    /// Whether `block` is still one of the tenant's readable blocks.
    pub(crate) fn contains(&self, tenant: &str, block: &Arc<BlockReader>) -> bool {
        self.blocks
            .read()
            .get(tenant)
            .is_some_and(|l| l.iter().any(|b| Arc::ptr_eq(b, block)))
    }

    /// Stops reading `block`.
    pub(crate) fn forget(&self, tenant: &str, block: &Arc<BlockReader>) {
        if let Some(list) = self.blocks.write().get_mut(tenant) {
            list.retain(|b| !Arc::ptr_eq(b, block));
        }
    }

    /// Removes from the lists the blocks `expired` says are due, and returns them.
    pub(crate) fn take_expired(
        &self,
        mut expired: impl FnMut(&str, &BlockReader) -> bool,
    ) -> Vec<(String, Arc<BlockReader>)> {
        let mut out = Vec::new();
        for (tenant, blocks) in self.blocks.write().iter_mut() {
            blocks.retain(|b| {
                let due = expired(tenant, b);
                if due {
                    out.push((tenant.clone(), b.clone()));
                }
                !due
            });
        }
        out
    }

    /// Reports a block that failed a read. A corrupt block is set aside; a block that is no
    /// longer listed (compacted away or expired while it was read) is skipped quietly; a
    /// backend failure may pass, so the block stays.
    pub(crate) fn block_failed(&self, tenant: &str, block: &Arc<BlockReader>, e: &BlockError) {
        if !self.contains(tenant, block) {
            tracing::debug!(block = block.name(), error = %e, "a block removed while it was read was skipped");
            return;
        }
        if e.is_corrupt() {
            self.set_aside(tenant, &block.meta.block_id, &e.to_string());
        } else if e.is_not_found() && self.backend.as_ref().is_some_and(|b| b.is_shared()) {
            // On a shared bucket, another server compacted it away or expired it.
            tracing::info!(
                block = block.name(),
                "a block removed by another server is no longer read"
            );
            self.forget(tenant, block);
        } else if e.is_not_found() {
            self.set_aside(
                tenant,
                &block.meta.block_id,
                &format!("a file is missing: {e}"),
            );
        } else {
            self.errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(block = block.name(), error = %e, "block skipped by a read");
        }
    }

    /// Sets a corrupt block aside: marks it on the backend (`corrupt.json`, with the reason),
    /// stops reading and compacting it, counts and logs it once. Its files are kept for
    /// inspection.
    pub(crate) fn set_aside(&self, tenant: &str, block_id: &str, reason: &str) {
        {
            let mut aside = self.set_aside.lock();
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
        if let Some(list) = self.blocks.write().get_mut(tenant) {
            list.retain(|b| b.meta.block_id != block_id);
        }
        self.errors.fetch_add(1, Ordering::Relaxed);
        let marked = self.backend.as_ref().map(|backend| {
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

    /// The corrupt blocks set aside.
    pub(crate) fn set_aside_blocks(&self) -> Vec<SetAside> {
        self.set_aside.lock().clone()
    }

    /// Schedules the deletion of a block replaced by compaction at `replaced_at` (unix
    /// seconds), once its grace period is over.
    pub(crate) fn doom(&self, prefix: String, replaced_at: u64) {
        self.doomed.lock().push(Doomed {
            prefix,
            delete_after: replaced_at.saturating_add(self.grace.as_secs()),
        });
    }

    /// Deletes the blocks replaced by compaction whose grace period is over at `now` (unix
    /// seconds), or all of them.
    pub(crate) fn delete_doomed(&self, now: u64, all: bool) {
        let Some(backend) = &self.backend else {
            return;
        };
        let due: Vec<Doomed> = {
            let mut doomed = self.doomed.lock();
            let (due, keep): (Vec<Doomed>, Vec<Doomed>) =
                doomed.drain(..).partition(|d| all || d.delete_after <= now);
            *doomed = keep;
            due
        };
        for d in due {
            if let Err(e) = backend.delete_prefix(&d.prefix) {
                tracing::warn!(block = %d.prefix, error = %e, "deleting a compacted block failed; tried again later");
                self.doomed.lock().push(d);
            }
        }
    }

    /// Sums for metrics.
    pub(crate) fn stats(&self) -> CatalogStats {
        let mut s = CatalogStats::default();
        for blocks in self.blocks.read().values() {
            s.blocks += blocks.len() as u64;
            s.bytes += blocks.iter().map(|b| b.meta.total_bytes()).sum::<u64>();
            s.bloom_damaged += blocks.iter().filter(|b| b.bloom_damaged()).count() as u64;
        }
        s.set_aside = self.set_aside.lock().len() as u64;
        s.errors = self.errors.load(Ordering::Relaxed);
        s
    }
}
