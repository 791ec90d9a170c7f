//! metered: how much does the store ask of its backend, and does it answer?
//!
//! [`Metered`] wraps the store's backend and counts every request by operation: how many,
//! how many failed, bytes read and written, time taken. Its health is whether the backend
//! answered the last request that could fail for its own reasons (a missing object or a
//! failed precondition is an answer).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;

use super::{Backend, BackendError, Precondition, Version};

/// The operations of [`Backend`], as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// [`Backend::read`] and [`Backend::read_versioned`]: a whole object.
    Read,
    /// [`Backend::read_range`].
    ReadRange,
    /// [`Backend::write`] and [`Backend::write_if`].
    Write,
    /// [`Backend::list`].
    List,
    /// [`Backend::delete_prefix`].
    Delete,
    /// [`Backend::size`].
    Size,
}

impl Operation {
    /// Every operation, in a fixed order.
    pub const ALL: [Operation; 6] = [
        Operation::Read,
        Operation::ReadRange,
        Operation::Write,
        Operation::List,
        Operation::Delete,
        Operation::Size,
    ];

    /// Its name in metrics: `read`, `read_range`, `write`, `list`, `delete`, `size`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Read => "read",
            Operation::ReadRange => "read_range",
            Operation::Write => "write",
            Operation::List => "list",
            Operation::Delete => "delete",
            Operation::Size => "size",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    errors: AtomicU64,
    nanos: AtomicU64,
}

/// Counts of one operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OperationStats {
    /// Requests made.
    pub requests: u64,
    /// Requests that failed (not counting a missing object or a failed precondition).
    pub errors: u64,
    /// Time spent in them, in nanoseconds.
    pub nanos: u64,
}

/// What the store asked of its backend since it opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackendStats {
    /// Per operation, in the order of [`Operation::ALL`].
    pub operations: [OperationStats; 6],
    /// Bytes read.
    pub bytes_read: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// Whether the backend answered the last request that could fail for its own reasons.
    pub healthy: bool,
    /// What the last failure said, if the backend is not healthy.
    pub last_error: Option<String>,
    /// Lookups of bloom filter shards and row group footers answered from memory.
    pub cache_hits: u64,
    /// Lookups of bloom filter shards and row group footers that had to read them.
    pub cache_misses: u64,
    /// Bytes the block cache holds.
    pub cache_bytes: u64,
}

impl BackendStats {
    /// The counts of one operation.
    pub fn of(&self, operation: Operation) -> OperationStats {
        self.operations[operation.index()]
    }

    /// Reads of objects and ranges: the GET requests of an object store.
    pub fn gets(&self) -> u64 {
        self.of(Operation::Read).requests + self.of(Operation::ReadRange).requests
    }
}

/// A [`Backend`] that counts what is asked of the one it wraps.
#[derive(Debug)]
pub struct Metered<B> {
    inner: B,
    counters: [Counters; 6],
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counters")
            .field("requests", &self.requests.load(Ordering::Relaxed))
            .finish()
    }
}

impl<B: Backend> Metered<B> {
    /// Counts what is asked of `inner`.
    pub fn new(inner: B) -> Metered<B> {
        Metered {
            inner,
            counters: Default::default(),
            bytes_read: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }

    /// The backend underneath.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// The counts so far.
    pub fn stats(&self) -> BackendStats {
        let mut stats = BackendStats::default();
        for (out, c) in stats.operations.iter_mut().zip(&self.counters) {
            *out = OperationStats {
                requests: c.requests.load(Ordering::Relaxed),
                errors: c.errors.load(Ordering::Relaxed),
                nanos: c.nanos.load(Ordering::Relaxed),
            };
        }
        stats.bytes_read = self.bytes_read.load(Ordering::Relaxed);
        stats.bytes_written = self.bytes_written.load(Ordering::Relaxed);
        stats.last_error = self.last_error.lock().clone();
        stats.healthy = stats.last_error.is_none();
        stats
    }

    fn count<T>(
        &self,
        operation: Operation,
        run: impl FnOnce(&B) -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        let started = Instant::now();
        let result = run(&self.inner);
        let c = &self.counters[operation.index()];
        c.requests.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        c.nanos.fetch_add(nanos, Ordering::Relaxed);
        match &result {
            Ok(_) => {
                if self.last_error.lock().take().is_some() {
                    tracing::info!("the block backend answers again");
                }
            }
            Err(e) if backend_fault(e) => {
                c.errors.fetch_add(1, Ordering::Relaxed);
                let mut last = self.last_error.lock();
                if last.is_none() {
                    tracing::warn!(error = %e, "the block backend failed a request");
                }
                *last = Some(e.to_string());
            }
            Err(_) => {
                self.last_error.lock().take();
            }
        }
        result
    }
}

/// Whether an error is the backend's own failure, rather than an answer about the request
/// (a missing object, a failed precondition, a bad key, a range past the end).
fn backend_fault(e: &BackendError) -> bool {
    matches!(
        e,
        BackendError::Io { .. } | BackendError::Remote { .. } | BackendError::Root { .. }
    )
}

impl<B: Backend> Backend for Metered<B> {
    fn read(&self, key: &str) -> Result<Bytes, BackendError> {
        let data = self.count(Operation::Read, |b| b.read(key))?;
        self.bytes_read
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        Ok(data)
    }

    fn read_range(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, BackendError> {
        let data = self.count(Operation::ReadRange, |b| b.read_range(key, offset, len))?;
        self.bytes_read
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        Ok(data)
    }

    fn write(&self, key: &str, data: Bytes) -> Result<(), BackendError> {
        let len = data.len() as u64;
        self.count(Operation::Write, |b| b.write(key, data))?;
        self.bytes_written.fetch_add(len, Ordering::Relaxed);
        Ok(())
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, BackendError> {
        self.count(Operation::List, |b| b.list(prefix))
    }

    fn delete_prefix(&self, prefix: &str) -> Result<(), BackendError> {
        self.count(Operation::Delete, |b| b.delete_prefix(prefix))
    }

    fn size(&self, key: &str) -> Result<u64, BackendError> {
        self.count(Operation::Size, |b| b.size(key))
    }

    fn read_versioned(&self, key: &str) -> Result<(Bytes, Version), BackendError> {
        let (data, version) = self.count(Operation::Read, |b| b.read_versioned(key))?;
        self.bytes_read
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        Ok((data, version))
    }

    fn write_if(
        &self,
        key: &str,
        data: Bytes,
        precondition: &Precondition,
    ) -> Result<Version, BackendError> {
        let len = data.len() as u64;
        let version = self.count(Operation::Write, |b| b.write_if(key, data, precondition))?;
        self.bytes_written.fetch_add(len, Ordering::Relaxed);
        Ok(version)
    }

    fn is_shared(&self) -> bool {
        self.inner.is_shared()
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;
    use crate::backend::MemoryBackend;
    use crate::backend::testing::{FreezingBackend, run_conformance_suite};

    #[test]
    fn counts_requests_bytes_and_health() {
        let metered = Metered::new(MemoryBackend::new());
        run_conformance_suite(&metered);
        metered
            .write("t/b/data", Bytes::from_static(b"abcd"))
            .unwrap();
        let before = metered.stats();
        metered.read_range("t/b/data", 1, 2).unwrap();
        metered.read("t/b/data").unwrap();
        assert!(metered.read("t/b/missing").is_err());
        let after = metered.stats();
        assert_eq!(after.gets() - before.gets(), 3);
        assert_eq!(after.bytes_read - before.bytes_read, 6);
        assert_eq!(
            after.of(Operation::Read).errors,
            0,
            "a missing object is an answer"
        );
        assert!(after.healthy);

        let frozen = Metered::new(FreezingBackend::new(Some(0)));
        assert!(frozen.read("a").is_err());
        let stats = frozen.stats();
        assert!(!stats.healthy);
        assert_eq!(stats.of(Operation::Read).errors, 1);
        assert!(stats.last_error.unwrap().contains("simulated crash"));
    }
}
