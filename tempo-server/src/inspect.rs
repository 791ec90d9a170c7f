//! inspect: what is in the blocks on this disk?
//!
//! The offline block tools: `tempo-server block inspect PATH` describes one block directory
//! (`<blocks-root>/<tenant>/<block-id>`), reading and checking every file of it, and
//! `tempo-server block list [DIR]` prints one line per block under a blocks root, from each
//! block's `meta.json`. Both print text, or JSON with `--json`.
//!
//! They only read. Blocks are opened through [`ReadOnlyDir`], a backend that never writes,
//! deletes, creates a directory or removes the temporary files of an interrupted write, so the
//! tools are safe to run on the directory of a running server (whose in-flight temporary files
//! `LocalBackend::open` would sweep away).

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::json;
use tempo_core::backend::{Backend, BackendError, validate_key};
use tempo_core::{BLOCK_FORMAT_VERSION, BlockMeta, BlockReport, inspect_block, validate_tenant};

use crate::args::BlockCommand;

/// Runs `tempo-server block ...`: prints to stdout; on failure prints
/// `tempo-server: <message>` to stderr and returns exit code 1.
pub(crate) fn run_block_command(command: &BlockCommand) -> ExitCode {
    let result = match command {
        BlockCommand::Inspect { path, json } => inspect(path, *json),
        BlockCommand::List { dir, json } => list(dir, *json),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("tempo-server: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `block inspect PATH`.
fn inspect(path: &Path, as_json: bool) -> Result<ExitCode, String> {
    let (root, tenant, block_id) = locate_block(path)?;
    let backend: Arc<dyn Backend> = Arc::new(ReadOnlyDir { root });
    let report = inspect_block(backend, &tenant, &block_id)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if report.meta.block_id != block_id || report.meta.tenant != tenant {
        eprintln!(
            "tempo-server: warning: {}: meta.json names block {}/{}, not {tenant}/{block_id} \
             (a copied or renamed block directory?)",
            path.display(),
            report.meta.tenant,
            report.meta.block_id
        );
    }
    let text = if as_json {
        let value = report_json(&report).map_err(|e| format!("{}: {e}", path.display()))?;
        pretty(&value)?
    } else {
        report.to_string()
    };
    emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// Splits a block directory into the blocks root, the tenant and the block ID, after checking
/// that it is a directory holding a `meta.json`.
fn locate_block(path: &Path) -> Result<(PathBuf, String, String), String> {
    let shown = path.display();
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(format!(
                "{shown}: not a directory; expected a block directory \
                 <blocks-root>/<tenant>/<block-id>"
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(format!("{shown}: no such block directory"));
        }
        Err(e) => return Err(format!("{shown}: {e}")),
    }
    let full = fs::canonicalize(path).map_err(|e| format!("{shown}: {e}"))?;
    let block_id = file_name(Some(&full));
    let tenant_dir = full.parent();
    let tenant = file_name(tenant_dir);
    let root = tenant_dir.and_then(Path::parent);
    let (Some(block_id), Some(tenant), Some(root)) = (block_id, tenant, root) else {
        return Err(format!(
            "{shown}: not a block directory <blocks-root>/<tenant>/<block-id> \
             with UTF-8 names"
        ));
    };
    match fs::metadata(full.join("meta.json")) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Err(format!("{shown}: meta.json is not a file")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(format!(
                "{shown}: no meta.json: not a block directory, or a block whose write was \
                 interrupted"
            ));
        }
        Err(e) => return Err(format!("{shown}/meta.json: {e}")),
    }
    Ok((root.to_path_buf(), tenant.to_owned(), block_id.to_owned()))
}

/// The last component of a path, if it is UTF-8.
fn file_name(path: Option<&Path>) -> Option<&str> {
    path.and_then(Path::file_name).and_then(OsStr::to_str)
}

/// The JSON form of a report: `meta`, `bloom`, `families` and `rowGroups` with their columns.
fn report_json(report: &BlockReport) -> Result<serde_json::Value, serde_json::Error> {
    let families: Vec<_> = report
        .families()
        .into_iter()
        .map(|(family, bytes)| json!({ "family": family, "bytes": bytes }))
        .collect();
    let row_groups: Vec<_> = report
        .row_groups
        .iter()
        .map(|g| {
            let columns: Vec<_> = g
                .columns
                .iter()
                .map(|c| {
                    json!({
                        "name": c.name,
                        "encoding": c.encoding,
                        "rows": c.rows,
                        "rawBytes": c.raw_bytes,
                        "storedBytes": c.stored_bytes,
                        "compressed": c.compressed,
                        "min": c.min,
                        "max": c.max,
                    })
                })
                .collect();
            json!({
                "traces": g.traces,
                "spans": g.spans,
                "bytes": g.bytes,
                "columns": columns,
            })
        })
        .collect();
    let b = &report.bloom;
    Ok(json!({
        "meta": serde_json::to_value(&report.meta)?,
        "totalBytes": report.meta.total_bytes(),
        "bloom": {
            "shards": b.shards,
            "bytes": b.bytes,
            "k": b.k,
            "bitsPerShard": b.bits_per_shard,
            "items": b.items,
        },
        "families": families,
        "rowGroups": row_groups,
    }))
}

/// `block list [DIR]`. Lists every readable block; a block whose `meta.json` is unreadable is
/// reported on stderr and makes the exit code 1.
fn list(dir: &Path, as_json: bool) -> Result<ExitCode, String> {
    let shown = dir.display();
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(format!("{shown}: not a directory")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(format!(
                "{shown}: no such directory (expected a blocks root <DIR>/<tenant>/<block-id>)"
            ));
        }
        Err(e) => return Err(format!("{shown}: {e}")),
    }
    let mut metas = Vec::new();
    let mut failed = false;
    for tenant in subdirectories(dir).map_err(|e| format!("{shown}: {e}"))? {
        if validate_tenant(&tenant).is_err() {
            continue;
        }
        let tenant_dir = dir.join(&tenant);
        let ids = match subdirectories(&tenant_dir) {
            Ok(ids) => ids,
            Err(e) => {
                eprintln!("tempo-server: {}: {e}", tenant_dir.display());
                failed = true;
                continue;
            }
        };
        for id in ids {
            let block_dir = tenant_dir.join(&id);
            match read_meta(&block_dir) {
                Ok(Some(meta)) => metas.push(meta),
                Ok(None) => eprintln!(
                    "tempo-server: {}: no meta.json; skipped (a block whose write was \
                     interrupted does not exist)",
                    block_dir.display()
                ),
                Err(message) => {
                    eprintln!("tempo-server: {message}");
                    failed = true;
                }
            }
        }
    }
    metas.sort_by(|a, b| {
        (&a.tenant, a.start_time_unix_nano, &a.block_id).cmp(&(
            &b.tenant,
            b.start_time_unix_nano,
            &b.block_id,
        ))
    });
    let text = if as_json {
        // Serialized directly, so that each block keeps the field order of its meta.json.
        let mut json =
            serde_json::to_string_pretty(&metas).map_err(|e| format!("formatting JSON: {e}"))?;
        json.push('\n');
        json
    } else if metas.is_empty() {
        format!("no blocks under {shown}\n")
    } else {
        list_table(&metas)
    };
    emit(&text)?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The names of the directories in `dir` that could be keys of a block store (no temporary
/// names, no hidden leftovers of the local backend), sorted.
fn subdirectories(dir: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        if let Some(name) = entry.file_name().to_str()
            && validate_key(name).is_ok()
        {
            out.push(name.to_owned());
        }
    }
    out.sort();
    Ok(out)
}

/// A block's `meta.json`; `None` if it has none.
fn read_meta(block_dir: &Path) -> Result<Option<BlockMeta>, String> {
    let path = block_dir.join("meta.json");
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let meta: BlockMeta =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.version != BLOCK_FORMAT_VERSION {
        return Err(format!(
            "{}: unsupported block format version {} (this build reads {BLOCK_FORMAT_VERSION})",
            path.display(),
            meta.version
        ));
    }
    Ok(Some(meta))
}

/// The text form of `block list`: a header, then one aligned line per block.
fn list_table(metas: &[BlockMeta]) -> String {
    let header = [
        "TENANT",
        "BLOCK",
        "LEVEL",
        "TRACES",
        "SPANS",
        "BYTES",
        "BYTES/SPAN",
        "START",
        "END",
    ];
    let rows: Vec<[String; 9]> = metas
        .iter()
        .map(|m| {
            [
                m.tenant.clone(),
                m.block_id.clone(),
                m.compaction_level.to_string(),
                m.traces.to_string(),
                m.spans.to_string(),
                m.total_bytes().to_string(),
                format!("{:.1}", m.total_bytes() as f64 / m.spans.max(1) as f64),
                rfc3339(m.start_time_unix_nano),
                rfc3339(m.end_time_unix_nano),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    // Text columns align left, numbers right; the last column carries no padding.
    let numeric = [false, false, true, true, true, true, true, false, false];
    let mut out = String::new();
    let mut line = |cells: [&str; 9]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            let w = widths[i];
            if numeric[i] {
                text.push_str(&format!("{cell:>w$}"));
            } else {
                text.push_str(&format!("{cell:<w$}"));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header);
    for row in &rows {
        line(row.each_ref().map(String::as_str));
    }
    out
}

/// Unix nanoseconds as an RFC 3339 UTC time to the second, such as `2023-11-14T22:13:20Z`.
fn rfc3339(unix_nanos: u64) -> String {
    let secs = unix_nanos / 1_000_000_000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Days to a civil date in the proleptic Gregorian calendar (Howard Hinnant's algorithm),
    // in eras of 400 years counted from 0000-03-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// Pretty JSON with a final newline.
fn pretty(value: &serde_json::Value) -> Result<String, String> {
    serde_json::to_string_pretty(value)
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(|e| format!("formatting JSON: {e}"))
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
fn emit(text: &str) -> Result<(), String> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(format!("writing to standard output: {e}"))
        }
        _ => Ok(()),
    }
}

/// A read-only [`Backend`] over a blocks root on local disk: plain reads, no memory maps, no
/// writes, no deletes, no directory creation and no sweeping of temporary files.
#[derive(Debug)]
struct ReadOnlyDir {
    root: PathBuf,
}

impl ReadOnlyDir {
    /// The path of a (valid) key.
    fn path_of(&self, key: &str) -> PathBuf {
        let mut path = self.root.clone();
        path.extend(key.split('/'));
        path
    }

    /// Opens the file of a key and returns it with its size.
    fn open(&self, key: &str) -> Result<(File, u64), BackendError> {
        validate_key(key)?;
        let io_error = |source| BackendError::Io {
            key: key.to_owned(),
            source,
        };
        let not_found = || BackendError::NotFound {
            key: key.to_owned(),
        };
        let file = match File::open(self.path_of(key)) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(not_found()),
            Err(e) => return Err(io_error(e)),
        };
        let meta = file.metadata().map_err(io_error)?;
        if !meta.is_file() {
            return Err(not_found());
        }
        Ok((file, meta.len()))
    }

    /// The error of an operation that would change the disk.
    fn refused(key: &str) -> BackendError {
        BackendError::Io {
            key: key.to_owned(),
            source: io::Error::new(io::ErrorKind::PermissionDenied, "the block tools only read"),
        }
    }
}

impl Backend for ReadOnlyDir {
    fn read(&self, key: &str) -> Result<Bytes, BackendError> {
        let (mut file, size) = self.open(key)?;
        let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        file.read_to_end(&mut data)
            .map_err(|source| BackendError::Io {
                key: key.to_owned(),
                source,
            })?;
        Ok(Bytes::from(data))
    }

    fn read_range(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, BackendError> {
        let (mut file, size) = self.open(key)?;
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
        let len = usize::try_from(len).map_err(|_| out_of_range())?;
        let mut data = vec![0u8; len];
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.read_exact(&mut data))
            .map_err(|source| BackendError::Io {
                key: key.to_owned(),
                source,
            })?;
        Ok(Bytes::from(data))
    }

    fn write(&self, key: &str, _data: Bytes) -> Result<(), BackendError> {
        Err(Self::refused(key))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, BackendError> {
        let dir = if prefix.is_empty() {
            self.root.clone()
        } else {
            validate_key(prefix)?;
            self.path_of(prefix)
        };
        let io_error = |source| BackendError::Io {
            key: prefix.to_owned(),
            source,
        };
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_error)?;
            if let Some(name) = entry.file_name().to_str()
                && validate_key(name).is_ok()
            {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    fn delete_prefix(&self, prefix: &str) -> Result<(), BackendError> {
        Err(Self::refused(prefix))
    }

    fn size(&self, key: &str) -> Result<u64, BackendError> {
        self.open(key).map(|(_, size)| size)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400 * 1_000_000_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(951_868_799_999_999_999), "2000-02-29T23:59:59Z");
        assert_eq!(
            rfc3339(4_107_542_400 * 1_000_000_000),
            "2100-03-01T00:00:00Z"
        );
        assert_eq!(rfc3339(u64::MAX), "2554-07-21T23:34:33Z");
    }

    #[test]
    fn read_only_dir_reads_and_refuses_to_write() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("t/b")).unwrap();
        fs::write(dir.path().join("t/b/data"), b"hello world").unwrap();
        fs::write(dir.path().join("t/b/.data~tmp-1-2"), b"partial").unwrap();
        let backend = ReadOnlyDir {
            root: dir.path().to_owned(),
        };
        assert_eq!(backend.read("t/b/data").unwrap(), "hello world");
        assert_eq!(backend.read_range("t/b/data", 6, 5).unwrap(), "world");
        assert_eq!(backend.size("t/b/data").unwrap(), 11);
        assert!(matches!(
            backend.read_range("t/b/data", 6, 6),
            Err(BackendError::OutOfRange { size: 11, .. })
        ));
        assert!(matches!(
            backend.read_range("t/b/data", u64::MAX, 2),
            Err(BackendError::OutOfRange { .. })
        ));
        assert!(backend.read("t/b/missing").unwrap_err().is_not_found());
        assert!(backend.read("t/b").unwrap_err().is_not_found());
        assert!(matches!(
            backend.read("t/../x"),
            Err(BackendError::InvalidKey { .. })
        ));
        assert_eq!(backend.list("").unwrap(), ["t"]);
        assert_eq!(backend.list("t/b").unwrap(), ["data"]);
        assert!(backend.list("nope").unwrap().is_empty());
        assert!(backend.write("t/b/x", Bytes::new()).is_err());
        assert!(backend.delete_prefix("t/b").is_err());
        // Nothing was touched: the temporary file of a concurrent writer is still there.
        assert!(dir.path().join("t/b/.data~tmp-1-2").exists());
        assert!(!dir.path().join("t/b/x").exists());
    }

    fn meta(tenant: &str, id: &str, start_secs: u64) -> BlockMeta {
        BlockMeta {
            version: BLOCK_FORMAT_VERSION,
            block_id: id.to_owned(),
            tenant: tenant.to_owned(),
            start_time_unix_nano: start_secs * 1_000_000_000,
            end_time_unix_nano: (start_secs + 30) * 1_000_000_000,
            traces: 12,
            spans: 240,
            row_groups: 1,
            data_bytes: 20_000,
            index_bytes: 120,
            bloom_bytes: 880,
            bloom_shards: 1,
            compaction_level: 0,
            created_at_unix_seconds: start_secs + 40,
            min_trace_id: "00".repeat(16),
            max_trace_id: "ff".repeat(16),
        }
    }

    #[test]
    fn list_table_has_one_aligned_line_per_block() {
        let table = list_table(&[
            meta(
                "single-tenant",
                "0b7c2d1e-0000-4000-8000-000000000000",
                1_700_000_000,
            ),
            meta(
                "team-a",
                "1c8d3e2f-0000-4000-8000-000000000000",
                1_700_000_100,
            ),
        ]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(lines[0].starts_with("TENANT"), "{table}");
        assert!(lines[1].contains("0b7c2d1e-0000-4000-8000-000000000000"));
        assert!(lines[1].contains(" 21000 "), "{table}");
        assert!(lines[1].contains(" 87.5 "), "{table}");
        assert!(lines[1].ends_with("2023-11-14T22:13:20Z  2023-11-14T22:13:50Z"));
        // Aligned: every line has its block ID at the same column.
        let at = lines[1].find("0b7c").unwrap();
        assert_eq!(lines[0].find("BLOCK"), Some(at));
        assert_eq!(lines[2].find("1c8d"), Some(at));
    }

    #[test]
    fn list_reports_blocks_and_skips_unfinished_ones() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("single-tenant/b1");
        fs::create_dir_all(&good).unwrap();
        fs::write(
            good.join("meta.json"),
            serde_json::to_vec(&meta("single-tenant", "b1", 1_700_000_000)).unwrap(),
        )
        .unwrap();
        // Interrupted write: no meta.json.
        fs::create_dir_all(dir.path().join("single-tenant/b2")).unwrap();
        assert_eq!(read_meta(&good).unwrap().unwrap().block_id, "b1");
        assert!(
            read_meta(&dir.path().join("single-tenant/b2"))
                .unwrap()
                .is_none()
        );
        let corrupt = dir.path().join("single-tenant/b3");
        fs::create_dir_all(&corrupt).unwrap();
        fs::write(corrupt.join("meta.json"), b"{not json").unwrap();
        let err = read_meta(&corrupt).unwrap_err();
        assert!(err.contains("b3/meta.json"), "{err}");
    }

    #[test]
    fn locate_block_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = locate_block(&missing).unwrap_err();
        assert!(err.starts_with(&missing.display().to_string()), "{err}");
        assert!(err.contains("no such block directory"), "{err}");
        let file = dir.path().join("file");
        fs::write(&file, b"x").unwrap();
        assert!(locate_block(&file).unwrap_err().contains("not a directory"));
        let block = dir.path().join("t/b");
        fs::create_dir_all(&block).unwrap();
        assert!(locate_block(&block).unwrap_err().contains("no meta.json"));
        fs::write(block.join("meta.json"), b"{}").unwrap();
        let (root, tenant, id) = locate_block(&block).unwrap();
        assert_eq!(root, fs::canonicalize(dir.path()).unwrap());
        assert_eq!((tenant.as_str(), id.as_str()), ("t", "b"));
        // A trailing `/.` or `/` names the same block.
        let (_, _, id) = locate_block(&block.join(".")).unwrap();
        assert_eq!(id, "b");
    }
}
