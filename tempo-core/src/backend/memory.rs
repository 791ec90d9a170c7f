//! memory: a backend in a sorted map, for tests and for embedding without a disk.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Bound;

use bytes::Bytes;
use parking_lot::RwLock;

use super::{
    Backend, BackendError, Precondition, Version, check_precondition, content_version, slice_range,
    validate_key, validate_prefix,
};

/// A [`Backend`] that keeps every object in memory, in a map sorted by key.
///
/// Writes are atomic (one map insertion) and "durable" for as long as the value lives.
/// [`Clone`] takes a snapshot: the clone and the original change independently afterwards.
#[derive(Default)]
pub struct MemoryBackend {
    objects: RwLock<BTreeMap<String, Bytes>>,
}

impl MemoryBackend {
    /// An empty backend.
    pub fn new() -> MemoryBackend {
        MemoryBackend::default()
    }

    /// Every key, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.objects.read().keys().cloned().collect()
    }

    /// The total size of every object, in bytes.
    pub fn total_bytes(&self) -> u64 {
        self.objects.read().values().map(|v| v.len() as u64).sum()
    }
}

impl Clone for MemoryBackend {
    fn clone(&self) -> MemoryBackend {
        MemoryBackend {
            objects: RwLock::new(self.objects.read().clone()),
        }
    }
}

impl fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let objects = self.objects.read();
        f.debug_struct("MemoryBackend")
            .field("objects", &objects.len())
            .field(
                "bytes",
                &objects.values().map(|v| v.len() as u64).sum::<u64>(),
            )
            .finish()
    }
}

/// The keys under `prefix` in `objects`: `prefix/…`, or every key for the root.
fn under<'a>(
    objects: &'a BTreeMap<String, Bytes>,
    prefix: &str,
) -> impl Iterator<Item = (&'a String, &'a Bytes)> + 'a {
    let dir = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    };
    objects
        .range::<str, _>((Bound::Included(dir.as_str()), Bound::Unbounded))
        .take_while(move |(key, _)| key.starts_with(&dir))
}

impl Backend for MemoryBackend {
    fn read(&self, key: &str) -> Result<Bytes, BackendError> {
        validate_key(key)?;
        self.objects
            .read()
            .get(key)
            .cloned()
            .ok_or_else(|| BackendError::not_found(key))
    }

    fn read_range(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, BackendError> {
        let data = self.read(key)?;
        slice_range(key, &data, offset, len)
    }

    fn write(&self, key: &str, data: Bytes) -> Result<(), BackendError> {
        validate_key(key)?;
        self.objects.write().insert(key.to_owned(), data);
        Ok(())
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, BackendError> {
        validate_prefix(prefix)?;
        let skip = if prefix.is_empty() {
            0
        } else {
            prefix.len() + 1
        };
        let objects = self.objects.read();
        // Keys sort by bytes, children names do not ("a-b" < "a/c" but "a" < "a-b"): sort after.
        let mut names: Vec<String> = under(&objects, prefix)
            .filter_map(|(key, _)| key.get(skip..))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_owned())
            .collect();
        drop(objects);
        names.sort_unstable();
        names.dedup();
        Ok(names)
    }

    fn delete_prefix(&self, prefix: &str) -> Result<(), BackendError> {
        validate_key(prefix)?;
        let mut objects = self.objects.write();
        let doomed: Vec<String> = under(&objects, prefix).map(|(k, _)| k.clone()).collect();
        for key in doomed {
            objects.remove(&key);
        }
        objects.remove(prefix);
        Ok(())
    }

    fn size(&self, key: &str) -> Result<u64, BackendError> {
        validate_key(key)?;
        self.objects
            .read()
            .get(key)
            .map(|v| v.len() as u64)
            .ok_or_else(|| BackendError::not_found(key))
    }

    fn read_versioned(&self, key: &str) -> Result<(Bytes, Version), BackendError> {
        let data = self.read(key)?;
        let version = content_version(&data);
        Ok((data, version))
    }

    fn write_if(
        &self,
        key: &str,
        data: Bytes,
        precondition: &Precondition,
    ) -> Result<Version, BackendError> {
        validate_key(key)?;
        let mut objects = self.objects.write();
        check_precondition(key, objects.get(key).map(|d| &d[..]), precondition)?;
        let version = content_version(&data);
        objects.insert(key.to_owned(), data);
        Ok(version)
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;
    use crate::backend::testing::{
        run_conditional_write_race, run_conditional_write_suite, run_conformance_suite,
    };

    #[test]
    fn conformance() {
        run_conformance_suite(&MemoryBackend::new());
        run_conditional_write_suite(&MemoryBackend::new());
        run_conditional_write_race(&MemoryBackend::new());
    }

    #[test]
    fn clone_is_a_snapshot() {
        let a = MemoryBackend::new();
        a.write("t/b/data", Bytes::from_static(b"1")).unwrap();
        let b = a.clone();
        a.write("t/b/meta.json", Bytes::from_static(b"2")).unwrap();
        assert_eq!(b.keys(), ["t/b/data"]);
        assert_eq!(a.keys(), ["t/b/data", "t/b/meta.json"]);
        assert_eq!(a.total_bytes(), 2);
        assert_eq!(format!("{b:?}"), "MemoryBackend { objects: 1, bytes: 1 }");
    }
}
