//! mmap: the one place where a file becomes memory.
//!
//! The workspace denies `unsafe_code`; this module is the single exception, and holds a single
//! function. Everything above it sees reference-counted [`Bytes`].
#![expect(
    unsafe_code,
    reason = "memory-mapping a file is unsafe; this module is the crate's one exception"
)]

use std::fs::File;
use std::io;

use bytes::Bytes;

/// Maps the whole of `file` read-only and returns it as [`Bytes`]; the mapping lives as long as
/// the returned value or any slice of it. An empty file yields [`Bytes::new`] without mapping
/// (mapping zero bytes is an error on most systems).
///
/// Invariant the caller upholds: `file` is an immutable, fully written object of a
/// [`LocalBackend`](super::LocalBackend). Objects are written once, to a temporary file that
/// is synced and then renamed into place, and are never modified in place afterwards; an
/// overwrite renames a new file over the old name, so a mapping of the old file keeps its old
/// contents. Deleting or replacing the file does not invalidate a mapping on Linux and other
/// Unix systems: the pages stay valid until the last [`Bytes`] referring to them is dropped.
///
/// Outside the contract: a process that truncates or writes into a file of the backend's
/// directory in place. Reading a page past a truncated end raises `SIGBUS`, and changed bytes
/// show through the mapping; the backend's directory belongs to the backend alone.
pub(crate) fn map_file(file: &File) -> io::Result<Bytes> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(Bytes::new());
    }
    // SAFETY: the file is an immutable object of the backend, fully written and renamed into
    // place before anyone can open it, and never truncated or modified in place afterwards (see
    // the invariant above), so the mapped bytes cannot change or disappear while the mapping
    // lives. The mapping is read-only and owned by the returned `Bytes`, which unmaps it when the
    // last reference is dropped.
    let map = unsafe { memmap2::Mmap::map(file)? };
    Ok(Bytes::from_owner(map))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn maps_a_file_and_an_empty_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut file = File::create(&path).unwrap();
        file.write_all(b"hello mmap").unwrap();
        file.sync_all().unwrap();
        drop(file);
        let mapped = map_file(&File::open(&path).unwrap()).unwrap();
        assert_eq!(mapped, "hello mmap");
        // A slice outlives the file and its deletion.
        let tail = mapped.slice(6..);
        drop(mapped);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(tail, "mmap");

        let empty = dir.path().join("empty");
        File::create(&empty).unwrap();
        assert!(map_file(&File::open(&empty).unwrap()).unwrap().is_empty());
    }
}
