//! cache: what of a block stays in memory between lookups?
//!
//! Bloom filter shards and parsed row group footers, for every block of a store, in one
//! cache bounded in bytes (`Config::block_cache_bytes`): on object storage each is a request
//! saved, on local disk a parse. Entries least recently used go first. Meta and index stay
//! with each open block (a few hundred bytes per row group): a lookup never reads them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::footer::Footer;
use crate::bloom::BloomShard;

/// What is cached, by block (`<tenant>/<block-id>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum CacheKey {
    /// A bloom filter shard, by number.
    Bloom(Arc<str>, u32),
    /// A row group's footer, by row group.
    Footer(Arc<str>, usize),
}

#[derive(Clone)]
enum Cached {
    Bloom(Arc<BloomShard>),
    Footer(Arc<Footer>),
}

struct Entry {
    value: Cached,
    bytes: u64,
    used: u64,
}

#[derive(Default)]
struct Inner {
    map: HashMap<CacheKey, Entry>,
    bytes: u64,
    tick: u64,
}

/// Bloom shards and footers of every block of a store, at most `max_bytes` of them.
pub(crate) struct BlockCache {
    max_bytes: u64,
    inner: Mutex<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.inner.lock();
        f.debug_struct("BlockCache")
            .field("max_bytes", &self.max_bytes)
            .field("bytes", &inner.bytes)
            .field("entries", &inner.map.len())
            .finish()
    }
}

/// Counts of a [`BlockCache`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CacheStats {
    pub(crate) hits: u64,
    pub(crate) misses: u64,
    pub(crate) bytes: u64,
    pub(crate) entries: u64,
}

impl BlockCache {
    /// An empty cache of at most `max_bytes` (0: nothing is kept).
    pub(crate) fn new(max_bytes: u64) -> BlockCache {
        BlockCache {
            max_bytes,
            inner: Mutex::new(Inner::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn get(&self, key: &CacheKey) -> Option<Cached> {
        let mut inner = self.inner.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let found = inner.map.get_mut(key).map(|e| {
            e.used = tick;
            e.value.clone()
        });
        drop(inner);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    fn put(&self, key: CacheKey, value: Cached, bytes: u64) {
        if bytes > self.max_bytes / 4 {
            return;
        }
        let mut inner = self.inner.lock();
        inner.tick += 1;
        let used = inner.tick;
        if let Some(old) = inner.map.insert(key, Entry { value, bytes, used }) {
            inner.bytes -= old.bytes;
        }
        inner.bytes += bytes;
        if inner.bytes > self.max_bytes {
            // Least recently used first, down to seven eighths, so that eviction is rare.
            let target = self.max_bytes / 8 * 7;
            let mut by_age: Vec<(u64, CacheKey, u64)> = inner
                .map
                .iter()
                .map(|(k, e)| (e.used, k.clone(), e.bytes))
                .collect();
            by_age.sort_unstable_by_key(|(used, _, _)| *used);
            for (_, key, bytes) in by_age {
                if inner.bytes <= target {
                    break;
                }
                inner.map.remove(&key);
                inner.bytes -= bytes;
            }
        }
    }

    /// Shard `shard` of `block`'s bloom filter, if cached.
    pub(crate) fn bloom(&self, block: &Arc<str>, shard: u32) -> Option<Arc<BloomShard>> {
        match self.get(&CacheKey::Bloom(block.clone(), shard))? {
            Cached::Bloom(b) => Some(b),
            Cached::Footer(_) => None,
        }
    }

    /// Keeps shard `shard` of `block`'s bloom filter.
    pub(crate) fn put_bloom(&self, block: &Arc<str>, shard: u32, value: Arc<BloomShard>) {
        let bytes = value.heap_bytes() as u64 + 64;
        self.put(
            CacheKey::Bloom(block.clone(), shard),
            Cached::Bloom(value),
            bytes,
        );
    }

    /// Row group `group`'s footer of `block`, if cached.
    pub(crate) fn footer(&self, block: &Arc<str>, group: usize) -> Option<Arc<Footer>> {
        match self.get(&CacheKey::Footer(block.clone(), group))? {
            Cached::Footer(f) => Some(f),
            Cached::Bloom(_) => None,
        }
    }

    /// Keeps row group `group`'s footer of `block`.
    pub(crate) fn put_footer(&self, block: &Arc<str>, group: usize, value: Arc<Footer>) {
        let bytes = value.heap_bytes() as u64 + 64;
        self.put(
            CacheKey::Footer(block.clone(), group),
            Cached::Footer(value),
            bytes,
        );
    }

    /// Hits, misses and size.
    pub(crate) fn stats(&self) -> CacheStats {
        let inner = self.inner.lock();
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            bytes: inner.bytes,
            entries: inner.map.len() as u64,
        }
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;
    use crate::bloom::BloomBuilder;

    fn shard(items: u64) -> Arc<BloomShard> {
        let mut builder = BloomBuilder::new(items as usize, 0.01);
        for i in 0..items {
            builder.insert(&u128::from(i).to_le_bytes());
        }
        let encoded = builder.finish().into_iter().next().unwrap();
        Arc::new(BloomShard::decode(encoded.into()).unwrap())
    }

    #[test]
    fn stays_within_its_bytes_and_keeps_the_recently_used() {
        let one = shard(1000);
        let size = one.heap_bytes() as u64 + 64;
        let cache = BlockCache::new(size * 10);
        let block: Arc<str> = Arc::from("t/b");
        cache.put_bloom(&block, 0, one.clone());
        for n in 1..100u32 {
            // Shard 0 is used all along: it stays.
            assert!(cache.bloom(&block, 0).is_some(), "after {n}");
            cache.put_bloom(&block, n, one.clone());
            assert!(cache.stats().bytes <= size * 10);
        }
        assert!(cache.bloom(&block, 1).is_none(), "the oldest went");
        assert!(cache.bloom(&block, 99).is_some());
        let stats = cache.stats();
        assert!(stats.hits >= 100 && stats.misses >= 1, "{stats:?}");
        assert!(stats.entries <= 10);
    }

    #[test]
    fn a_zero_budget_keeps_nothing() {
        let cache = BlockCache::new(0);
        let block: Arc<str> = Arc::from("t/b");
        cache.put_bloom(&block, 0, shard(10));
        assert!(cache.bloom(&block, 0).is_none());
    }
}
