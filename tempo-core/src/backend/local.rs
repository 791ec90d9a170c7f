//! local: a backend in a directory of the local filesystem.
//!
//! A key maps to a path under the root (`tenant/block/data` is `<root>/tenant/block/data`).
//! Writes go to a temporary file next to the target (`.<name>~tmp-<pid>-<n>`), which is synced,
//! renamed over the target and made durable by syncing the directory. Deletes rename the target
//! out of the way (`.<name>~del-<pid>-<n>`), sync the directory, then remove it, so a delete is
//! atomic too. Names of both shapes are never listed, are refused as keys, and are removed when
//! a backend opens the root, which is why one root belongs to one process at a time. `~` is
//! not a tenant ID character, so no tenant's directory ever has such a name. (Earlier versions
//! used `.` instead of `~`; leftovers of that shape are swept below the root only, where no
//! tenant directory lives.)
//!
//! Reads map the file into memory ([`map_file`]); a small cache keeps the most recently used
//! maps, each checked against the file's identity (device, inode, size, modification time) on
//! every read, so a file replaced behind the backend's back is never served stale.

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use bytes::Bytes;
use parking_lot::Mutex;

use super::mmap::map_file;
use super::{
    Backend, BackendError, Precondition, Version, check_precondition, content_version, slice_range,
    validate_key, validate_prefix,
};

/// How many mapped files a [`LocalBackend`] keeps for reuse.
const MAP_CACHE_ENTRIES: usize = 64;

/// How many times a write retries when a concurrent delete removed its (empty) directory.
const WRITE_ATTEMPTS: u32 = 4;

/// A [`Backend`] in a directory of the local filesystem: the default one.
///
/// Writes are atomic and durable (temporary file, `fsync`, `rename`, `fsync` of the directory);
/// so are deletes of a prefix (rename out of the way, `fsync`, then remove). Reads map files
/// into memory and return views of the mapping.
///
/// The root belongs to this backend alone: opening it removes leftover temporary files, which
/// would break the writes of another process using the same root, and a process that modifies
/// files in place under the root breaks the mapping's invariant (see the `mmap` module).
pub struct LocalBackend {
    root: PathBuf,
    maps: Mutex<MapCache>,
    /// Serializes conditional writes: the root belongs to this process, so checking and
    /// writing under this lock is atomic for every writer there is.
    conditional: Mutex<()>,
    /// Opened with [`LocalBackend::open_read_only`]: writes and deletes are refused.
    read_only: bool,
}

impl LocalBackend {
    /// Opens the backend rooted at `root`, creating the directory if needed, and removes the
    /// temporary files that interrupted writes and deletes left anywhere under it.
    pub fn open(root: impl AsRef<Path>) -> Result<LocalBackend, BackendError> {
        let root = root.as_ref().to_path_buf();
        let root_error = |source| BackendError::Root {
            path: root.clone(),
            source,
        };
        let existed = root.is_dir();
        fs::create_dir_all(&root).map_err(root_error)?;
        // A new root must survive a crash too: sync the directory that holds it.
        if let Some(parent) = root.parent().filter(|_| !existed) {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            sync_dir(parent).map_err(root_error)?;
        }
        sweep(&root).map_err(root_error)?;
        Ok(LocalBackend {
            root,
            maps: Mutex::new(MapCache::default()),
            conditional: Mutex::new(()),
            read_only: false,
        })
    }

    /// Opens an existing root to read only: nothing is created, swept, written or deleted
    /// ([`BackendError::ReadOnly`]), so it is safe on the directory of a running server,
    /// whose in-flight temporary files [`LocalBackend::open`] would remove.
    pub fn open_read_only(root: impl AsRef<Path>) -> Result<LocalBackend, BackendError> {
        let root = root.as_ref().to_path_buf();
        match fs::metadata(&root) {
            Ok(meta) if meta.is_dir() => Ok(LocalBackend {
                root,
                maps: Mutex::new(MapCache::default()),
                conditional: Mutex::new(()),
                read_only: true,
            }),
            Ok(_) => Err(BackendError::Root {
                source: io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
                path: root,
            }),
            Err(source) => Err(BackendError::Root { path: root, source }),
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of a (valid) key or prefix; `None` is the root.
    fn path_of(&self, key: Option<&str>) -> PathBuf {
        let mut path = self.root.clone();
        if let Some(key) = key {
            path.extend(key.split('/'));
        }
        path
    }

    /// Creates the directories of `dir` (a valid prefix, `None` for the root) that are missing,
    /// syncing the parent of each new one.
    fn create_dirs(&self, dir: Option<&str>) -> io::Result<()> {
        let Some(dir) = dir else {
            return Ok(());
        };
        // Fast path: the directory exists. (If a concurrent writer created it and has not yet
        // synced its parent, that writer does so before its own write returns.)
        if self.path_of(Some(dir)).is_dir() {
            return Ok(());
        }
        let mut current = self.root.clone();
        for segment in dir.split('/') {
            let next = current.join(segment);
            match fs::create_dir(&next) {
                Ok(()) => sync_dir(&current)?,
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
                Err(err) => return Err(err),
            }
            current = next;
        }
        Ok(())
    }

    /// Removes the directories of `dir` that are empty, deepest first, up to the root
    /// (excluded), so that a deleted prefix does not leave empty parents that `list` would
    /// show. A write racing with this recreates its directories.
    fn prune_empty_dirs(&self, mut dir: Option<&str>) {
        while let Some(current) = dir {
            if fs::remove_dir(self.path_of(Some(current))).is_err() {
                break;
            }
            dir = current.rsplit_once('/').map(|(parent, _)| parent);
        }
    }
}

impl fmt::Debug for LocalBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalBackend")
            .field("root", &self.root)
            .field("mapped_files", &self.maps.lock().entries.len())
            .finish()
    }
}

impl Backend for LocalBackend {
    fn read(&self, key: &str) -> Result<Bytes, BackendError> {
        validate_key(key)?;
        let path = self.path_of(Some(key));
        let meta = match fs::metadata(&path) {
            Ok(meta) if meta.is_file() => meta,
            Ok(_) => return Err(BackendError::not_found(key)),
            Err(err) if is_missing(&err) => return Err(BackendError::not_found(key)),
            Err(err) => return Err(BackendError::io(key, err)),
        };
        if let Some(data) = self.maps.lock().get(key, FileId::of(&meta)) {
            return Ok(data);
        }
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(err) if is_missing(&err) => return Err(BackendError::not_found(key)),
            Err(err) => return Err(BackendError::io(key, err)),
        };
        // The identity of the file actually mapped, which may be newer than `meta`.
        let meta = file.metadata().map_err(|err| BackendError::io(key, err))?;
        if !meta.is_file() {
            return Err(BackendError::not_found(key));
        }
        let data = map_file(&file).map_err(|err| BackendError::io(key, err))?;
        self.maps
            .lock()
            .insert(key, FileId::of(&meta), data.clone());
        Ok(data)
    }

    fn read_range(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, BackendError> {
        let data = self.read(key)?;
        slice_range(key, &data, offset, len)
    }

    fn write(&self, key: &str, data: Bytes) -> Result<(), BackendError> {
        validate_key(key)?;
        if self.read_only {
            return Err(BackendError::ReadOnly {
                key: key.to_owned(),
            });
        }
        let (dir, name) = split_key(key);
        let dir_path = self.path_of(dir);
        let path = dir_path.join(name);
        let mut attempt = 1;
        let (temp, file) = loop {
            let temp = dir_path.join(temp_name(name, TEMP_MARKER));
            let created = self
                .create_dirs(dir)
                .and_then(|()| OpenOptions::new().write(true).create_new(true).open(&temp));
            match created {
                Ok(file) => break (temp, file),
                Err(err) if err.kind() == io::ErrorKind::NotFound && attempt < WRITE_ATTEMPTS => {
                    attempt += 1;
                }
                Err(err) => return Err(BackendError::io(key, err)),
            }
        };
        if let Err(err) = write_and_rename(file, &data, &temp, &path) {
            let _ = fs::remove_file(&temp);
            return Err(BackendError::io(key, err));
        }
        self.maps.lock().remove(key);
        sync_dir(&dir_path).map_err(|err| BackendError::io(key, err))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, BackendError> {
        validate_prefix(prefix)?;
        let dir = self.path_of((!prefix.is_empty()).then_some(prefix));
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if is_missing(&err) => return Ok(Vec::new()),
            Err(err) => return Err(BackendError::io(prefix, err)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|err| BackendError::io(prefix, err))?;
            match entry.file_name().into_string() {
                Ok(name) if !is_temp_name(&name) => names.push(name),
                Ok(_) => {}
                Err(name) => {
                    tracing::debug!(dir = %dir.display(), ?name, "not listing a non-UTF-8 name");
                }
            }
        }
        names.sort_unstable();
        Ok(names)
    }

    fn delete_prefix(&self, prefix: &str) -> Result<(), BackendError> {
        validate_key(prefix)?;
        if self.read_only {
            return Err(BackendError::ReadOnly {
                key: prefix.to_owned(),
            });
        }
        let (dir, name) = split_key(prefix);
        let dir_path = self.path_of(dir);
        let doomed = dir_path.join(temp_name(name, DELETE_MARKER));
        match fs::rename(dir_path.join(name), &doomed) {
            Ok(()) => {}
            Err(err) if is_missing(&err) => {
                self.maps.lock().remove_prefix(prefix);
                return Ok(());
            }
            Err(err) => return Err(BackendError::io(prefix, err)),
        }
        self.maps.lock().remove_prefix(prefix);
        sync_dir(&dir_path).map_err(|err| BackendError::io(prefix, err))?;
        // The prefix is gone for good; what remains is reclaiming the space.
        if let Err(err) = remove_any(&doomed) {
            tracing::warn!(
                path = %doomed.display(),
                error = %err,
                "could not remove a deleted prefix; it is retried when the backend is next opened"
            );
        }
        self.prune_empty_dirs(dir);
        Ok(())
    }

    fn size(&self, key: &str) -> Result<u64, BackendError> {
        validate_key(key)?;
        match fs::metadata(self.path_of(Some(key))) {
            Ok(meta) if meta.is_file() => Ok(meta.len()),
            Ok(_) => Err(BackendError::not_found(key)),
            Err(err) if is_missing(&err) => Err(BackendError::not_found(key)),
            Err(err) => Err(BackendError::io(key, err)),
        }
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
        let _serial = self.conditional.lock();
        let current = match self.read(key) {
            Ok(current) => Some(current),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e),
        };
        check_precondition(key, current.as_deref(), precondition)?;
        let version = content_version(&data);
        self.write(key, data)?;
        Ok(version)
    }
}

/// Writes `data` into `file` (the temporary file at `temp`), syncs it and renames it to `path`.
fn write_and_rename(mut file: File, data: &[u8], temp: &Path, path: &Path) -> io::Result<()> {
    file.write_all(data)?;
    file.sync_all()?;
    drop(file);
    fs::rename(temp, path)
}

/// The directory part (`None` for the root) and the last segment of a valid key.
fn split_key(key: &str) -> (Option<&str>, &str) {
    match key.rsplit_once('/') {
        Some((dir, name)) => (Some(dir), name),
        None => (None, key),
    }
}

/// Whether an error means "there is nothing at this path".
fn is_missing(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// Makes the entries of a directory durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        // Directories cannot be opened as files elsewhere; renames are durable on their own
        // on the filesystems that matter there (NTFS journals metadata).
        let _ = dir;
        Ok(())
    }
}

/// Removes a file or a whole directory, without following a symbolic link.
fn remove_any(path: &Path) -> io::Result<()> {
    if fs::symlink_metadata(path)?.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
}

/// The marker of a temporary file being written.
const TEMP_MARKER: &str = "~tmp-";
/// The marker of a file or directory being deleted.
const DELETE_MARKER: &str = "~del-";
/// The markers earlier versions used, swept below the root.
const LEGACY_MARKERS: [&str; 2] = [".tmp-", ".del-"];

/// A unique temporary name for `name`: `.<name><marker><pid>-<n>`.
fn temp_name(name: &str, marker: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!(".{name}{marker}{}-{n}", std::process::id())
}

/// Whether `name` has the shape of a temporary name made by [`temp_name`].
pub(super) fn is_temp_name(name: &str) -> bool {
    has_temp_shape(name, &[TEMP_MARKER, DELETE_MARKER])
}

/// Whether `name` has the shape of a temporary name of earlier versions.
fn is_legacy_temp_name(name: &str) -> bool {
    has_temp_shape(name, &LEGACY_MARKERS)
}

fn has_temp_shape(name: &str, markers: &[&str]) -> bool {
    let Some(rest) = name.strip_prefix('.') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    markers.iter().any(|marker| {
        rest.rsplit_once(marker).is_some_and(|(base, suffix)| {
            !base.is_empty()
                && suffix
                    .split_once('-')
                    .is_some_and(|(pid, n)| digits(pid) && digits(n))
        })
    })
}

/// Removes every temporary name under `root`, recursively, without following symbolic links.
/// Failing to read the root is an error; anything deeper is logged and skipped.
fn sweep(root: &Path) -> io::Result<()> {
    let mut dirs = vec![root.to_path_buf()];
    let mut first = true;
    while let Some(dir) = dirs.pop() {
        // Directly under the root are tenants, whose IDs may have the legacy shape.
        let below_root = dir != root;
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if first => return Err(err),
            Err(err) => {
                tracing::warn!(dir = %dir.display(), error = %err, "cannot scan for temporary files");
                continue;
            }
        };
        first = false;
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) => {
                    tracing::warn!(dir = %dir.display(), error = %err, "cannot scan for temporary files");
                    continue;
                }
            };
            let path = entry.path();
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            let is_temp = entry
                .file_name()
                .to_str()
                .is_some_and(|n| is_temp_name(n) || (below_root && is_legacy_temp_name(n)));
            if is_temp {
                match remove_any(&path) {
                    Ok(()) => tracing::warn!(
                        path = %path.display(),
                        "removed a temporary file left by an interrupted write or delete"
                    ),
                    Err(err) => tracing::warn!(
                        path = %path.display(),
                        error = %err,
                        "cannot remove a temporary file left by an interrupted write or delete"
                    ),
                }
            } else if file_type.is_dir() {
                dirs.push(path);
            }
        }
    }
    Ok(())
}

/// What identifies one version of a file: a rename over it changes the inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    dev: u64,
    #[cfg(unix)]
    ino: u64,
}

impl FileId {
    fn of(meta: &Metadata) -> FileId {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        FileId {
            len: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            dev: meta.dev(),
            #[cfg(unix)]
            ino: meta.ino(),
        }
    }
}

/// The most recently used maps, by key.
#[derive(Default)]
struct MapCache {
    entries: HashMap<String, CachedMap>,
    clock: u64,
}

struct CachedMap {
    data: Bytes,
    id: FileId,
    last_used: u64,
}

impl MapCache {
    /// The map of `key` if it is of the file `id`; a map of another version is dropped.
    fn get(&mut self, key: &str, id: FileId) -> Option<Bytes> {
        self.clock += 1;
        let entry = self.entries.get_mut(key)?;
        if entry.id == id {
            entry.last_used = self.clock;
            return Some(entry.data.clone());
        }
        self.entries.remove(key);
        None
    }

    fn insert(&mut self, key: &str, id: FileId, data: Bytes) {
        self.clock += 1;
        if self.entries.len() >= MAP_CACHE_ENTRIES && !self.entries.contains_key(key) {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, entry)| entry.last_used)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(
            key.to_owned(),
            CachedMap {
                data,
                id,
                last_used: self.clock,
            },
        );
    }

    fn remove(&mut self, key: &str) {
        self.entries.remove(key);
    }

    fn remove_prefix(&mut self, prefix: &str) {
        self.entries.retain(|key, _| {
            !(key == prefix
                || key
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('/')))
        });
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
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::open(dir.path().join("blocks")).unwrap();
        run_conformance_suite(&backend);
        run_conditional_write_suite(&backend);
        run_conditional_write_race(&backend);
        // Deleting everything left no empty directories behind, only the root.
        assert_eq!(fs::read_dir(backend.root()).unwrap().count(), 0);
    }

    #[test]
    fn data_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::open(dir.path()).unwrap();
        backend
            .write("t/b/data", Bytes::from_static(b"durable"))
            .unwrap();
        drop(backend);
        let backend = LocalBackend::open(dir.path()).unwrap();
        assert_eq!(backend.read("t/b/data").unwrap(), "durable");
        assert_eq!(backend.list("t").unwrap(), ["b"]);
    }

    #[test]
    fn temp_files_are_swept_at_open_and_never_listed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("t/b")).unwrap();
        fs::write(root.join("t/b/data"), b"kept").unwrap();
        fs::write(root.join("t/b/.data~tmp-123-4"), b"torn").unwrap();
        fs::write(root.join(".x~tmp-1-2"), b"torn").unwrap();
        fs::create_dir_all(root.join("t/.b2~del-9-9/inner")).unwrap();
        fs::write(root.join("t/.b2~del-9-9/inner/data"), b"deleted").unwrap();
        // Leftovers of earlier versions, below the root.
        fs::write(root.join("t/b/.data.tmp-123-5"), b"torn").unwrap();
        fs::create_dir_all(root.join("t/.b3.del-9-9")).unwrap();
        // At the root, that shape is a tenant's (`.x.tmp-1-2` is a valid tenant ID).
        fs::create_dir_all(root.join(".x.tmp-1-2/b")).unwrap();
        fs::write(root.join(".x.tmp-1-2/b/data"), b"a tenant's").unwrap();
        // Not our shape: left alone, and listed.
        fs::write(root.join("t/b/.keep"), b"").unwrap();
        fs::write(root.join("t/b/.data~tmp-x-4"), b"").unwrap();

        let backend = LocalBackend::open(root).unwrap();
        assert!(!root.join("t/b/.data~tmp-123-4").exists());
        assert!(!root.join(".x~tmp-1-2").exists());
        assert!(!root.join("t/.b2~del-9-9").exists());
        assert!(!root.join("t/b/.data.tmp-123-5").exists());
        assert!(!root.join("t/.b3.del-9-9").exists());
        assert!(root.join("t/b/.keep").exists());
        assert_eq!(backend.read("t/b/data").unwrap(), "kept");
        assert_eq!(backend.read(".x.tmp-1-2/b/data").unwrap(), "a tenant's");
        assert_eq!(backend.list("").unwrap(), [".x.tmp-1-2", "t"]);
        assert_eq!(backend.list("t").unwrap(), ["b"]);
        assert_eq!(
            backend.list("t/b").unwrap(),
            [".data~tmp-x-4", ".keep", "data"]
        );

        // One appearing while open (an in-flight write) is not listed either.
        fs::write(root.join("t/b/.meta.json~tmp-5-6"), b"").unwrap();
        assert_eq!(backend.list("t/b").unwrap().len(), 3);
    }

    #[test]
    fn temp_names() {
        let name = temp_name("meta.json", TEMP_MARKER);
        assert!(name.starts_with(".meta.json~tmp-"), "{name}");
        assert!(is_temp_name(&name));
        assert!(is_temp_name(&temp_name("b", DELETE_MARKER)));
        assert_ne!(temp_name("a", TEMP_MARKER), temp_name("a", TEMP_MARKER));
        for name in [
            "data",
            "~tmp-1-2",
            ".~tmp-1-2",
            ".a~tmp-1",
            ".a~tmp--2",
            ".a~tmp-1-2x",
            "a~tmp-1-2",
            ".a.tmp-1-2",
            ".x.del-3-4",
        ] {
            assert!(!is_temp_name(name), "{name}");
        }
    }

    #[test]
    fn reads_a_mebibyte_through_the_map() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::open(dir.path()).unwrap();
        let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
        backend
            .write("t/b/data", Bytes::from(data.clone()))
            .unwrap();
        let read = backend.read("t/b/data").unwrap();
        assert_eq!(read, data);
        assert_eq!(backend.size("t/b/data").unwrap(), 1 << 20);
        let range = backend.read_range("t/b/data", 1000, 4096).unwrap();
        assert_eq!(range, data[1000..5096]);
        // Served from the cached map: the same memory.
        assert_eq!(range.as_ptr(), read[1000..].as_ptr());
        let again = backend.read("t/b/data").unwrap();
        assert_eq!(again.as_ptr(), read.as_ptr());
        assert_eq!(
            format!("{backend:?}"),
            format!("LocalBackend {{ root: {:?}, mapped_files: 1 }}", dir.path())
        );

        // A view outlives the overwrite and the delete of its file.
        backend
            .write("t/b/data", Bytes::from_static(b"new"))
            .unwrap();
        assert_eq!(backend.read("t/b/data").unwrap(), "new");
        backend.delete_prefix("t/b").unwrap();
        assert_eq!(read, data);
        assert_eq!(range, data[1000..5096]);
    }

    #[test]
    fn a_file_replaced_behind_the_backend_is_not_served_stale() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::open(dir.path()).unwrap();
        backend.write("k", Bytes::from_static(b"old")).unwrap();
        assert_eq!(backend.read("k").unwrap(), "old");
        fs::write(dir.path().join("other"), b"replaced").unwrap();
        fs::rename(dir.path().join("other"), dir.path().join("k")).unwrap();
        assert_eq!(backend.read("k").unwrap(), "replaced");
    }

    #[test]
    fn the_cache_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::open(dir.path()).unwrap();
        for i in 0..MAP_CACHE_ENTRIES + 10 {
            let key = format!("t/{i}");
            backend.write(&key, Bytes::from(vec![1u8; 10])).unwrap();
            backend.read(&key).unwrap();
        }
        assert_eq!(backend.maps.lock().entries.len(), MAP_CACHE_ENTRIES);
        // The most recent ones stayed.
        assert!(
            backend
                .maps
                .lock()
                .entries
                .contains_key(&format!("t/{}", MAP_CACHE_ENTRIES + 9))
        );
        backend.delete_prefix("t").unwrap();
        assert!(backend.maps.lock().entries.is_empty());
    }

    #[test]
    fn directories_and_files_in_the_way() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::open(dir.path()).unwrap();
        backend.write("t/b/data", Bytes::from_static(b"x")).unwrap();
        // A directory is not an object.
        assert!(backend.read("t/b").unwrap_err().is_not_found());
        assert!(backend.size("t").unwrap_err().is_not_found());
        // Below an object there is nothing.
        assert!(backend.read("t/b/data/x").unwrap_err().is_not_found());
        assert!(backend.list("t/b/data").unwrap().is_empty());
        backend.delete_prefix("t/b/data/x").unwrap();
        // An object where a directory is needed: an error naming the key.
        let err = backend
            .write("t/b/data/x", Bytes::from_static(b"y"))
            .unwrap_err();
        assert!(matches!(err, BackendError::Io { .. }), "{err}");
        assert!(err.to_string().contains("\"t/b/data/x\""), "{err}");
    }

    #[test]
    fn open_fails_on_a_file_and_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, b"").unwrap();
        let err = LocalBackend::open(&file).unwrap_err();
        assert!(matches!(err, BackendError::Root { .. }), "{err}");
        assert!(
            err.to_string().contains(&file.display().to_string()),
            "{err}"
        );
    }
}
