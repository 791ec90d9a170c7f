//! backend: where do block files live?
//!
//! A [`Backend`] is a store of immutable objects addressed by `/`-separated keys, such as
//! `single-tenant/0b7c…/data`. It is deliberately small and byte-oriented: read a whole object,
//! read a range, write an object atomically, list the children of a prefix, delete a prefix. The
//! block format sits on top of it and never knows which backend it is on.
//!
//! Two implementations live here:
//!
//! - [`LocalBackend`]: a directory on the local filesystem. Writes go to a temporary file that
//!   is synced and renamed into place; reads map the file into memory (the only `unsafe` of the
//!   crate, in one function of the private `mmap` module).
//! - [`MemoryBackend`]: a sorted map in memory, for tests and for embedding without a disk.
//! - `ObjectBackend` (cargo feature `object-store`, and `s3`, `gcs`, `azure` for each
//!   cloud): a bucket, through the `object_store` crate; ranged reads, multipart uploads,
//!   retries with back-off, timeouts, conditional writes. Several servers may share it.
//!
//! The [`testing`] module (hidden from the docs) holds a backend that freezes its image at the
//! N-th durable operation, to simulate a crash, and a behaviour suite every backend must pass.
//!
//! # Keys
//!
//! Every key and prefix is checked by [`validate_key`]: not empty, at most
//! [`MAX_KEY_LEN`] bytes, no leading `/`, no empty segment (so no trailing `/` or `//`), no
//! `.` or `..` segment, no `\` or NUL, no segment longer than [`MAX_SEGMENT_LEN`] bytes, and no
//! segment shaped like the local backend's temporary names. A prefix names a "directory"
//! (`tenant` or `tenant/block-id`), without a trailing `/`; the empty prefix is the root and is
//! accepted by [`Backend::list`] only.

mod local;
mod memory;
mod metered;
mod mmap;
#[cfg(feature = "object-store")]
mod object;
#[doc(hidden)]
pub mod testing;

use std::sync::Arc;

use bytes::Bytes;

pub use local::LocalBackend;
pub use memory::MemoryBackend;
pub use metered::{BackendStats, Metered, Operation, OperationStats};
#[cfg(feature = "azure")]
pub use object::AzureOptions;
#[cfg(feature = "gcs")]
pub use object::GcsOptions;
#[cfg(feature = "s3")]
pub use object::S3Options;
#[cfg(feature = "object-store")]
pub use object::{ObjectBackend, ObjectStoreOptions};
#[cfg(feature = "object-store")]
pub use object_store;

/// The longest key accepted, in bytes (the limit of S3 and most object stores).
pub const MAX_KEY_LEN: usize = 1024;

/// The longest segment of a key accepted, in bytes: short enough that the local backend's
/// temporary names derived from it stay within the 255-byte file name limit of common
/// filesystems.
pub const MAX_SEGMENT_LEN: usize = 200;

/// A store of immutable objects addressed by `/`-separated keys such as
/// `single-tenant/0b7c…/data`.
///
/// Keys never start with `/`, never contain `.` or `..` segments, `\`, NUL or empty segments;
/// every implementation checks them with [`validate_key`] and refuses others with
/// [`BackendError::InvalidKey`]. A key must not also be used as a prefix of other keys (an
/// object `a/b` and an object `a/b/c`): object stores accept it, the local filesystem does not.
pub trait Backend: Send + Sync + std::fmt::Debug + 'static {
    /// The whole object.
    fn read(&self, key: &str) -> Result<Bytes, BackendError>;

    /// `len` bytes at `offset`; [`BackendError::OutOfRange`] (not a short read) if the object
    /// is shorter than `offset + len`.
    fn read_range(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, BackendError>;

    /// Writes the whole object atomically and durably: readers see either nothing (or the
    /// previous object) or all of it, and after `write` returns it survives a crash.
    /// Overwrites an existing object.
    fn write(&self, key: &str, data: Bytes) -> Result<(), BackendError>;

    /// The names (not the full keys) of the direct children under `prefix`, sorted and without
    /// duplicates; both objects and sub-prefixes. `prefix` is a "directory" key like `tenant`
    /// or `tenant/block-id`; `""` is the root. Empty if there are none.
    fn list(&self, prefix: &str) -> Result<Vec<String>, BackendError>;

    /// Deletes the object at `prefix` and every object whose key starts with `prefix/` (a block
    /// directory). Deleting nothing is not an error. The empty prefix is refused.
    ///
    /// Not necessarily atomic: after a crash, part of the prefix may remain (the local backend
    /// is atomic, object stores are not). Callers delete the object that makes a block exist
    /// (its `meta.json`) first.
    fn delete_prefix(&self, prefix: &str) -> Result<(), BackendError>;

    /// The object's size in bytes.
    fn size(&self, key: &str) -> Result<u64, BackendError>;

    /// The whole object and its [`Version`], to write it back with
    /// [`Precondition::Matches`]. Backends without conditional writes answer
    /// [`BackendError::Unsupported`] (the default).
    fn read_versioned(&self, key: &str) -> Result<(Bytes, Version), BackendError> {
        Err(BackendError::unsupported(key, "conditional writes"))
    }

    /// Writes the whole object, as [`Backend::write`], only if `precondition` holds at the
    /// moment of the write, atomically with it: no object at the key
    /// ([`Precondition::Absent`], HTTP's `If-None-Match: *`), or the object as last read
    /// ([`Precondition::Matches`], HTTP's `If-Match`). Otherwise nothing is written and
    /// [`BackendError::PreconditionFailed`] is returned. Returns the new version.
    ///
    /// This is what lets servers that share a bucket agree without a coordinator of their
    /// own: a lease object is taken and renewed with it. Backends without conditional
    /// writes answer [`BackendError::Unsupported`] (the default).
    fn write_if(
        &self,
        key: &str,
        data: Bytes,
        precondition: &Precondition,
    ) -> Result<Version, BackendError> {
        let _ = (data, precondition);
        Err(BackendError::unsupported(key, "conditional writes"))
    }

    /// Whether other processes may write the same objects at the same time: an object store
    /// shared by several servers. A store on a shared backend never takes an object it did
    /// not write for debris of its own (a block without `meta.json` may be another server's
    /// upload in progress), and compacts and expires blocks only under a lease. `false` by
    /// default: a local directory belongs to one process.
    fn is_shared(&self) -> bool {
        false
    }
}

/// The version of an object as a backend names it (an entity tag on object stores), for
/// [`Backend::write_if`]. Opaque: only compared.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version(pub String);

/// The condition of a [`Backend::write_if`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// No object exists at the key (`If-None-Match: *`).
    Absent,
    /// The object at the key is still at this version (`If-Match`).
    Matches(Version),
}

impl<B: Backend + ?Sized> Backend for Arc<B> {
    fn read(&self, key: &str) -> Result<Bytes, BackendError> {
        (**self).read(key)
    }

    fn read_range(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, BackendError> {
        (**self).read_range(key, offset, len)
    }

    fn write(&self, key: &str, data: Bytes) -> Result<(), BackendError> {
        (**self).write(key, data)
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, BackendError> {
        (**self).list(prefix)
    }

    fn delete_prefix(&self, prefix: &str) -> Result<(), BackendError> {
        (**self).delete_prefix(prefix)
    }

    fn size(&self, key: &str) -> Result<u64, BackendError> {
        (**self).size(key)
    }

    fn read_versioned(&self, key: &str) -> Result<(Bytes, Version), BackendError> {
        (**self).read_versioned(key)
    }

    fn write_if(
        &self,
        key: &str,
        data: Bytes,
        precondition: &Precondition,
    ) -> Result<Version, BackendError> {
        (**self).write_if(key, data, precondition)
    }

    fn is_shared(&self) -> bool {
        (**self).is_shared()
    }
}

/// A failure of a [`Backend`] operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// No object exists at the key.
    #[error("no object at {key:?}")]
    NotFound {
        /// The key.
        key: String,
    },
    /// The key or prefix breaks the rules of [`validate_key`].
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey {
        /// The key, shortened if it was very long.
        key: String,
        /// Why it is refused.
        reason: String,
    },
    /// A range read reaches past the end of the object.
    #[error("range of {len} bytes at offset {offset} is outside {key:?}, which has {size} bytes")]
    OutOfRange {
        /// The key.
        key: String,
        /// The requested offset.
        offset: u64,
        /// The requested length.
        len: u64,
        /// The size of the object.
        size: u64,
    },
    /// An I/O operation on an object or prefix failed.
    #[error("backend I/O on {key:?}: {source}")]
    Io {
        /// The key or prefix.
        key: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The backend was opened to read only ([`LocalBackend::open_read_only`]).
    #[error("{key:?}: the backend is open to read only")]
    ReadOnly {
        /// The key or prefix.
        key: String,
    },
    /// A [`Backend::write_if`] whose precondition did not hold: nothing was written.
    #[error("{key:?}: the object changed or exists (precondition failed)")]
    PreconditionFailed {
        /// The key.
        key: String,
    },
    /// The backend does not offer this operation.
    #[error("{key:?}: this backend has no {operation}")]
    Unsupported {
        /// The key or prefix.
        key: String,
        /// What it lacks.
        operation: &'static str,
    },
    /// An object store request failed (after its retries), or timed out.
    #[error("object store request {operation} {key:?}: {message}")]
    Remote {
        /// The request: `GET`, `PUT`, `LIST`, `DELETE`, `HEAD`.
        operation: &'static str,
        /// The key or prefix.
        key: String,
        /// What the store or the network said.
        message: String,
    },
    /// The root directory of a [`LocalBackend`] could not be created or scanned.
    #[error("backend root {}: {source}", path.display())]
    Root {
        /// The root directory.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl BackendError {
    /// Whether the error says that no object exists at the key.
    pub fn is_not_found(&self) -> bool {
        matches!(self, BackendError::NotFound { .. })
    }

    /// Whether a [`Backend::write_if`] found its precondition false.
    pub fn is_precondition_failed(&self) -> bool {
        matches!(self, BackendError::PreconditionFailed { .. })
    }

    pub(crate) fn unsupported(key: &str, operation: &'static str) -> BackendError {
        BackendError::Unsupported {
            key: key.to_owned(),
            operation,
        }
    }

    pub(crate) fn precondition_failed(key: &str) -> BackendError {
        BackendError::PreconditionFailed {
            key: key.to_owned(),
        }
    }

    pub(crate) fn io(key: &str, source: std::io::Error) -> BackendError {
        BackendError::Io {
            key: key.to_owned(),
            source,
        }
    }

    pub(crate) fn not_found(key: &str) -> BackendError {
        BackendError::NotFound {
            key: key.to_owned(),
        }
    }
}

/// Checks a key: not empty, at most [`MAX_KEY_LEN`] bytes, no leading `/`, no empty segment,
/// no `.` or `..` segment, no `\` or NUL, no segment longer than [`MAX_SEGMENT_LEN`] bytes,
/// and no segment shaped like a temporary name of the local backend (`.<name>~tmp-<n>-<n>` or
/// `.<name>~del-<n>-<n>`). Every backend calls it on every key and non-root prefix.
pub fn validate_key(key: &str) -> Result<(), BackendError> {
    let invalid = |reason: &str| {
        Err(BackendError::InvalidKey {
            key: key.chars().take(MAX_KEY_LEN + 10).collect(),
            reason: reason.to_owned(),
        })
    };
    if key.is_empty() {
        return invalid("it is empty");
    }
    if key.len() > MAX_KEY_LEN {
        return invalid("it is longer than 1024 bytes");
    }
    if key.starts_with('/') {
        return invalid("it starts with '/'");
    }
    if key.contains('\\') {
        return invalid("it contains '\\'");
    }
    if key.contains('\0') {
        return invalid("it contains NUL");
    }
    for segment in key.split('/') {
        if segment.is_empty() {
            return invalid("it has an empty segment");
        }
        if segment == "." || segment == ".." {
            return invalid("it has a '.' or '..' segment");
        }
        if segment.len() > MAX_SEGMENT_LEN {
            return invalid("it has a segment longer than 200 bytes");
        }
        if local::is_temp_name(segment) {
            return invalid("it has a segment shaped like a temporary file name");
        }
    }
    Ok(())
}

/// Checks a prefix given to [`Backend::list`]: the root `""` or a valid key.
pub(crate) fn validate_prefix(prefix: &str) -> Result<(), BackendError> {
    if prefix.is_empty() {
        Ok(())
    } else {
        validate_key(prefix)
    }
}

/// The version the memory and local backends give an object: a hash of its bytes. Two
/// writes of the same bytes have the same version, which is harmless: a conditional write
/// over either leaves the same object.
pub(crate) fn content_version(data: &[u8]) -> Version {
    Version(format!(
        "{:032x}-{}",
        xxhash_rust::xxh3::xxh3_128(data),
        data.len()
    ))
}

/// Checks `precondition` against the object now at `key` (`None`: no object).
pub(crate) fn check_precondition(
    key: &str,
    current: Option<&[u8]>,
    precondition: &Precondition,
) -> Result<(), BackendError> {
    let holds = match (precondition, current) {
        (Precondition::Absent, None) => true,
        (Precondition::Absent, Some(_)) | (Precondition::Matches(_), None) => false,
        (Precondition::Matches(version), Some(data)) => content_version(data) == *version,
    };
    if holds {
        Ok(())
    } else {
        Err(BackendError::precondition_failed(key))
    }
}

/// The bytes `offset..offset + len` of `data`, the object at `key`, or
/// [`BackendError::OutOfRange`].
pub(crate) fn slice_range(
    key: &str,
    data: &Bytes,
    offset: u64,
    len: u64,
) -> Result<Bytes, BackendError> {
    let size = data.len() as u64;
    let out_of_range = || BackendError::OutOfRange {
        key: key.to_owned(),
        offset,
        len,
        size,
    };
    let end = offset.checked_add(len).ok_or_else(out_of_range)?;
    if end > size {
        return Err(out_of_range());
    }
    // Both fit in usize: they are at most `data.len()`.
    let start = usize::try_from(offset).map_err(|_| out_of_range())?;
    let end = usize::try_from(end).map_err(|_| out_of_range())?;
    Ok(data.slice(start..end))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn keys_that_are_accepted() {
        for key in [
            "a",
            "single-tenant/0b7c2d1e-0000-4000-8000-000000000000/data",
            "tenant/block/bloom-0",
            "team_a.prod(1)/x",
            ".hidden-tenant/meta.json",
            "a..b/c",
            "tenant/index.json.gz",
            ".x.tmp-1-2/block/data",
            ".y.del-3-4",
        ] {
            assert!(validate_key(key).is_ok(), "{key}");
        }
        assert!(validate_key(&"a".repeat(MAX_SEGMENT_LEN)).is_ok());
    }

    #[test]
    fn keys_that_are_refused() {
        for key in [
            "",
            "/abs",
            "a//b",
            "a/",
            "../x",
            "a/../b",
            "a/./b",
            ".",
            "a\\b",
            "a\0b",
            ".data~tmp-12-3",
            "t/.meta.json~del-1-2",
        ] {
            let err = validate_key(key).unwrap_err();
            assert!(
                matches!(err, BackendError::InvalidKey { .. }),
                "{key:?}: {err}"
            );
        }
        assert!(validate_key(&"a".repeat(MAX_SEGMENT_LEN + 1)).is_err());
        let long = vec!["a"; MAX_KEY_LEN / 2 + 1].join("/");
        assert!(validate_key(&long).is_err());
        assert!(validate_prefix("").is_ok());
        assert!(validate_prefix("tenant/").is_err());
    }

    #[test]
    fn messages_name_the_key() {
        let err = validate_key("a//b").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid key \"a//b\": it has an empty segment"
        );
        let err = slice_range("t/b/data", &Bytes::from_static(b"abc"), 2, 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "range of 2 bytes at offset 2 is outside \"t/b/data\", which has 3 bytes"
        );
    }

    #[test]
    fn slice_range_bounds() {
        let data = Bytes::from_static(b"hello");
        assert_eq!(slice_range("k", &data, 0, 5).unwrap(), "hello");
        assert_eq!(slice_range("k", &data, 1, 3).unwrap(), "ell");
        assert_eq!(slice_range("k", &data, 5, 0).unwrap(), "");
        assert!(slice_range("k", &data, 4, 2).is_err());
        assert!(slice_range("k", &data, 6, 0).is_err());
        assert!(slice_range("k", &data, u64::MAX, 2).is_err());
    }

    #[test]
    fn arc_and_dyn_are_backends() {
        let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
        backend.write("a/b", Bytes::from_static(b"x")).unwrap();
        let twice = Arc::new(backend);
        assert_eq!(twice.read("a/b").unwrap(), "x");
    }
}
