//! inspect: what is in the blocks on this disk?
//!
//! The offline block tools: `tempo-server block inspect PATH` describes one block directory
//! (`<blocks-root>/<tenant>/<block-id>`), reading and checking every file of it, and
//! `tempo-server block list [DIR]` prints one line per block under a blocks root, with its
//! state: live, set aside as corrupt (with the reason), compacted (waiting for deletion),
//! incomplete (no `meta.json`) or unreadable. Both print text, or JSON with `--json`.
//!
//! They read through the store's own code (`tempo_core::inspect_block`,
//! `tempo_core::list_blocks`) on a backend opened with
//! `LocalBackend::open_read_only`, which never writes, deletes, creates a directory or
//! removes the temporary files of an interrupted write, so the tools are safe to run on the
//! directory of a running server (whose in-flight temporary files `LocalBackend::open` would
//! sweep away).

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;
use serde_json::json;
use tempo_core::backend::LocalBackend;
use tempo_core::{BlockListing, BlockMeta, BlockReport, BlockState, inspect_block, list_blocks};

use crate::args::BlockCommand;

/// Runs `tempo-server block ...`: prints to stdout; on failure prints
/// `tempo-server: <message>` to stderr and returns exit code 1.
pub(crate) fn run_block_command(command: &BlockCommand) -> ExitCode {
    let result = match command {
        BlockCommand::Inspect {
            path,
            json,
            config: None,
        } => inspect(path, *json),
        BlockCommand::List {
            dir,
            json,
            config: None,
        } => list(dir, *json),
        BlockCommand::Inspect {
            path,
            json,
            config: Some(config),
        } => inspect_configured(config, path, *json),
        BlockCommand::List {
            json,
            config: Some(config),
            ..
        } => list_configured(config, *json),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("tempo-server: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The blocks root of a configuration on local disk, or its backend (a bucket).
enum Configured {
    Dir(PathBuf),
    Backend(Arc<dyn tempo_core::backend::Backend>),
}

fn configured(config: &Path) -> Result<Configured, String> {
    let (config, _unknown) =
        crate::config::Config::load(config).map_err(|e| format!("{}: {e}", config.display()))?;
    match config.storage_backend {
        crate::config::StorageBackend::Local => Ok(Configured::Dir(config.local_path.clone())),
        _ => crate::storage::open_backend(&config)
            .map(Configured::Backend)
            .map_err(|e| format!("{e:#}")),
    }
}

/// `block inspect -config.file=F TENANT/BLOCK-ID`.
fn inspect_configured(config: &Path, id: &Path, as_json: bool) -> Result<ExitCode, String> {
    let backend = match configured(config)? {
        Configured::Dir(root) => return inspect(&root.join(id), as_json),
        Configured::Backend(backend) => backend,
    };
    let shown = id.display().to_string();
    let (tenant, block_id) = shown
        .trim_matches('/')
        .split_once('/')
        .ok_or_else(|| format!("{shown}: expected TENANT/BLOCK-ID"))?;
    let report = inspect_block(backend, tenant, block_id).map_err(|e| format!("{shown}: {e}"))?;
    let text = if as_json {
        let value = report_json(&report).map_err(|e| format!("{shown}: {e}"))?;
        pretty(&value)?
    } else {
        report.to_string()
    };
    emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// `block list -config.file=F`.
fn list_configured(config: &Path, as_json: bool) -> Result<ExitCode, String> {
    match configured(config)? {
        Configured::Dir(root) => list(&root, as_json),
        Configured::Backend(backend) => {
            let blocks = list_blocks(&*backend).map_err(|e| format!("{e}"))?;
            print_listing(Path::new(""), blocks, as_json)
        }
    }
}

/// `block inspect PATH`.
fn inspect(path: &Path, as_json: bool) -> Result<ExitCode, String> {
    let (root, tenant, block_id) = locate_block(path)?;
    let backend =
        LocalBackend::open_read_only(&root).map_err(|e| format!("{}: {e}", path.display()))?;
    let report = inspect_block(Arc::new(backend), &tenant, &block_id)
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

/// `block list [DIR]`. Lists every block directory with its state; a block whose `meta.json`
/// does not read is also reported on stderr, and makes the exit code 1.
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
    let backend = LocalBackend::open_read_only(dir).map_err(|e| format!("{shown}: {e}"))?;
    let blocks = list_blocks(&backend).map_err(|e| format!("{shown}: {e}"))?;
    print_listing(dir, blocks, as_json)
}

/// Prints a listing of the blocks under `dir` (empty for a bucket).
fn print_listing(
    dir: &Path,
    mut blocks: Vec<BlockListing>,
    as_json: bool,
) -> Result<ExitCode, String> {
    let shown = if dir.as_os_str().is_empty() {
        "the bucket".to_owned()
    } else {
        dir.display().to_string()
    };
    let mut failed = false;
    for block in &blocks {
        if let BlockState::Unreadable(message) = &block.state {
            eprintln!(
                "tempo-server: {}: {message}",
                dir.join(&block.tenant).join(&block.block_id).display()
            );
            failed = true;
        }
    }
    // By tenant, then oldest first; blocks without a readable meta.json last.
    blocks.sort_by(|a, b| {
        let start =
            |l: &BlockListing| meta_of(&l.state).map_or(u64::MAX, |m| m.start_time_unix_nano);
        (&a.tenant, start(a), &a.block_id).cmp(&(&b.tenant, start(b), &b.block_id))
    });
    let text = if as_json {
        let listed: Vec<ListedBlock<'_>> = blocks.iter().map(ListedBlock::new).collect();
        // Serialized directly, so that each block keeps the field order of its meta.json.
        let mut json =
            serde_json::to_string_pretty(&listed).map_err(|e| format!("formatting JSON: {e}"))?;
        json.push('\n');
        json
    } else if blocks.is_empty() {
        format!("no blocks under {shown}\n")
    } else {
        list_table(&blocks)
    };
    emit(&text)?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The `meta.json` of a block, when it reads.
fn meta_of(state: &BlockState) -> Option<&BlockMeta> {
    match state {
        BlockState::Live(meta) => Some(meta),
        BlockState::SetAside { meta, .. } | BlockState::Compacted { meta, .. } => meta.as_ref(),
        _ => None,
    }
}

/// The name of a block's state, in text and JSON.
fn state_name(state: &BlockState) -> &'static str {
    match state {
        BlockState::Live(_) => "live",
        BlockState::SetAside { .. } => "set-aside",
        BlockState::Compacted { .. } => "compacted",
        BlockState::Incomplete => "incomplete",
        BlockState::Unreadable(_) => "unreadable",
        _ => "unknown",
    }
}

/// One block of `block list --json`: the fields of its `meta.json` when it reads (else its
/// tenant and ID), then its `state`, and the `reason` and time (`atUnixSeconds`) of a block
/// set aside or compacted.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListedBlock<'a> {
    #[serde(flatten)]
    meta: Option<&'a BlockMeta>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    block_id: Option<&'a str>,
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at_unix_seconds: Option<u64>,
}

impl<'a> ListedBlock<'a> {
    fn new(listing: &'a BlockListing) -> ListedBlock<'a> {
        let meta = meta_of(&listing.state);
        let (reason, at_unix_seconds) = match &listing.state {
            BlockState::SetAside {
                reason,
                at_unix_seconds,
                ..
            } => (Some(reason.as_str()), Some(*at_unix_seconds)),
            BlockState::Compacted {
                at_unix_seconds, ..
            } => (None, Some(*at_unix_seconds)),
            BlockState::Unreadable(message) => (Some(message.as_str()), None),
            _ => (None, None),
        };
        ListedBlock {
            meta,
            tenant: meta.is_none().then_some(listing.tenant.as_str()),
            block_id: meta.is_none().then_some(listing.block_id.as_str()),
            state: state_name(&listing.state),
            reason,
            at_unix_seconds,
        }
    }
}

/// What the `NOTE` column says of a block that is not live.
fn note(state: &BlockState) -> String {
    match state {
        BlockState::SetAside {
            reason,
            at_unix_seconds,
            ..
        } => format!(
            "set aside at {}: {reason}",
            rfc3339(at_unix_seconds.saturating_mul(1_000_000_000))
        ),
        BlockState::Compacted {
            at_unix_seconds, ..
        } => format!(
            "replaced by compaction at {}",
            rfc3339(at_unix_seconds.saturating_mul(1_000_000_000))
        ),
        BlockState::Incomplete => "no meta.json: its write was interrupted".to_owned(),
        BlockState::Unreadable(message) => message.clone(),
        _ => String::new(),
    }
}

/// The text form of `block list`: a header, then one aligned line per block; a `NOTE`
/// column when a block is not live.
fn list_table(blocks: &[BlockListing]) -> String {
    let header = [
        "TENANT",
        "BLOCK",
        "STATE",
        "LEVEL",
        "TRACES",
        "SPANS",
        "BYTES",
        "BYTES/SPAN",
        "START",
        "END",
        "NOTE",
    ];
    let rows: Vec<[String; 11]> = blocks
        .iter()
        .map(|b| {
            let [level, traces, spans, bytes, per_span, start, end] = match meta_of(&b.state) {
                Some(m) => [
                    m.compaction_level.to_string(),
                    m.traces.to_string(),
                    m.spans.to_string(),
                    m.total_bytes().to_string(),
                    format!("{:.1}", m.total_bytes() as f64 / m.spans.max(1) as f64),
                    rfc3339(m.start_time_unix_nano),
                    rfc3339(m.end_time_unix_nano),
                ],
                None => ["-", "-", "-", "-", "-", "-", "-"].map(str::to_owned),
            };
            [
                b.tenant.clone(),
                b.block_id.clone(),
                state_name(&b.state).to_owned(),
                level,
                traces,
                spans,
                bytes,
                per_span,
                start,
                end,
                note(&b.state),
            ]
        })
        .collect();
    // The note column only when there is something to say.
    let columns = if rows.iter().any(|r| !r[10].is_empty()) {
        11
    } else {
        10
    };
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    // Text columns align left, numbers right; the last column carries no padding.
    let numeric = [
        false, false, false, true, true, true, true, true, false, false, false,
    ];
    let mut out = String::new();
    let mut line = |cells: [&str; 11]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().take(columns).enumerate() {
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
    let time = UNIX_EPOCH.checked_add(Duration::from_nanos(unix_nanos));
    match time {
        Some(time) => humantime::format_rfc3339_seconds(time).to_string(),
        None => format!("{unix_nanos}ns"),
    }
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

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use tempo_core::BLOCK_FORMAT_VERSION;

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

    fn live(meta: BlockMeta) -> BlockListing {
        BlockListing {
            tenant: meta.tenant.clone(),
            block_id: meta.block_id.clone(),
            state: BlockState::Live(meta),
        }
    }

    #[test]
    fn list_table_has_one_aligned_line_per_block() {
        let table = list_table(&[
            live(meta(
                "single-tenant",
                "0b7c2d1e-0000-4000-8000-000000000000",
                1_700_000_000,
            )),
            live(meta(
                "team-a",
                "1c8d3e2f-0000-4000-8000-000000000000",
                1_700_000_100,
            )),
        ]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(lines[0].starts_with("TENANT"), "{table}");
        assert!(lines[0].ends_with("END"), "no note column: {table}");
        assert!(lines[1].contains("0b7c2d1e-0000-4000-8000-000000000000"));
        assert!(lines[1].contains(" live "), "{table}");
        assert!(lines[1].contains(" 21000 "), "{table}");
        assert!(lines[1].contains(" 87.5 "), "{table}");
        assert!(lines[1].ends_with("2023-11-14T22:13:20Z  2023-11-14T22:13:50Z"));
        // Aligned: every line has its block ID at the same column.
        let at = lines[1].find("0b7c").unwrap();
        assert_eq!(lines[0].find("BLOCK"), Some(at));
        assert_eq!(lines[2].find("1c8d"), Some(at));
    }

    #[test]
    fn list_table_shows_the_state_of_every_block() {
        let id = |n: u8| format!("{n:08x}-0000-4000-8000-000000000000");
        let table = list_table(&[
            live(meta("t", &id(1), 1_700_000_000)),
            BlockListing {
                tenant: "t".into(),
                block_id: id(2),
                state: BlockState::SetAside {
                    meta: Some(meta("t", &id(2), 1_700_000_000)),
                    reason: "corrupt block: checksum mismatch".into(),
                    at_unix_seconds: 1_700_000_100,
                },
            },
            BlockListing {
                tenant: "t".into(),
                block_id: id(3),
                state: BlockState::Compacted {
                    meta: None,
                    at_unix_seconds: 1_700_000_200,
                },
            },
            BlockListing {
                tenant: "t".into(),
                block_id: id(4),
                state: BlockState::Incomplete,
            },
        ]);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].ends_with("NOTE"), "{table}");
        assert!(lines[1].ends_with("2023-11-14T22:13:50Z"), "{table}");
        assert!(lines[2].contains(" set-aside "), "{table}");
        assert!(
            lines[2]
                .ends_with("set aside at 2023-11-14T22:15:00Z: corrupt block: checksum mismatch"),
            "{table}"
        );
        assert!(lines[3].contains(" compacted "), "{table}");
        assert!(lines[3].contains(" - "), "{table}");
        assert!(
            lines[3].ends_with("replaced by compaction at 2023-11-14T22:16:40Z"),
            "{table}"
        );
        assert!(lines[4].contains(" incomplete "), "{table}");
    }

    #[test]
    fn list_reads_every_block_with_its_state() {
        let dir = tempfile::tempdir().unwrap();
        let id = |n: u8| format!("{n:08x}-0000-4000-8000-000000000000");
        let block = |n: u8| dir.path().join("single-tenant").join(id(n));
        fs::create_dir_all(block(1)).unwrap();
        fs::write(
            block(1).join("meta.json"),
            serde_json::to_vec(&meta("single-tenant", &id(1), 1_700_000_000)).unwrap(),
        )
        .unwrap();
        // Interrupted write: no meta.json.
        fs::create_dir_all(block(2)).unwrap();
        // Unreadable meta.json.
        fs::create_dir_all(block(3)).unwrap();
        fs::write(block(3).join("meta.json"), b"{not json").unwrap();
        // Set aside as corrupt.
        fs::create_dir_all(block(4)).unwrap();
        fs::write(
            block(4).join("meta.json"),
            serde_json::to_vec(&meta("single-tenant", &id(4), 1_700_000_000)).unwrap(),
        )
        .unwrap();
        fs::write(
            block(4).join("corrupt.json"),
            br#"{"reason":"bad data","atUnixSeconds":1}"#,
        )
        .unwrap();
        // Not a block.
        fs::create_dir_all(dir.path().join("single-tenant/tmp")).unwrap();

        let backend = LocalBackend::open_read_only(dir.path()).unwrap();
        let blocks = list_blocks(&backend).unwrap();
        let states: Vec<&str> = blocks.iter().map(|b| state_name(&b.state)).collect();
        assert_eq!(states, ["live", "incomplete", "unreadable", "set-aside"]);
        let json = serde_json::to_value(ListedBlock::new(&blocks[3])).unwrap();
        assert_eq!(json["blockId"], id(4));
        assert_eq!(json["traces"], 12);
        assert_eq!(json["state"], "set-aside");
        assert_eq!(json["reason"], "bad data");
        assert_eq!(json["atUnixSeconds"], 1);
        let json = serde_json::to_value(ListedBlock::new(&blocks[2])).unwrap();
        assert_eq!(json["tenant"], "single-tenant");
        assert_eq!(json["blockId"], id(3));
        assert_eq!(json["state"], "unreadable");
        let reason = json["reason"].as_str().unwrap();
        assert!(reason.contains("meta.json"), "{reason}");
        // Nothing was written.
        assert!(!block(2).join("meta.json").exists());
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
