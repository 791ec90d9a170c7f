//! Traces cut into a block are served from it, after a kill -9 too; a corrupt block is
//! skipped and counted, and the server keeps serving.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::spans::{encode, request, trace_id};
use common::{Server, http_call, spans_of};

/// Traces complete after 1s without spans, and blocks are cut at least every second.
const FAST_BLOCKS: &str = "ingester:\n  trace_idle_period: 1s\n  max_block_duration: 1s\n";
/// Spans of each test trace.
const SPANS_PER_TRACE: usize = 5;

/// Sends `ids` in batches of 5 traces over OTLP/HTTP protobuf, with spans that start now (so
/// that retention, which looks at span times, leaves the block alone).
fn send(server: &Server, service: &str, ids: &[[u8; 16]]) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    for batch in ids.chunks(5) {
        let mut data = request(service, batch, SPANS_PER_TRACE);
        for span in data
            .resource_spans
            .iter_mut()
            .flat_map(|r| &mut r.scope_spans)
            .flat_map(|s| &mut s.spans)
        {
            span.start_time_unix_nano = span.start_time_unix_nano - 1_700_000_000_000_000_000 + now;
            span.end_time_unix_nano = span.end_time_unix_nano - 1_700_000_000_000_000_000 + now;
        }
        let (status, _, body) = http_call(
            "POST",
            &server.otlp_http(),
            &[("content-type", "application/x-protobuf")],
            Some(&encode(&data)),
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
}

/// The value of an unlabelled metric in `/metrics`.
fn metric(server: &Server, name: &str) -> u64 {
    let (status, _, body) = server.get("/metrics", &[]);
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

/// Waits until a block was written and the head is empty: every trace is in a block.
fn wait_for_blocks(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while metric(server, "tempo_blocks_flushed_total") < 1
        || metric(server, "tempo_head_traces") > 0
    {
        assert!(
            Instant::now() < deadline,
            "no block cut within 15s:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The block directories under `<blocks-root>/single-tenant`.
fn block_dirs(dir: &Path) -> Vec<PathBuf> {
    let tenant = dir.join("blocks").join("single-tenant");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&tenant)
        .unwrap_or_else(|e| panic!("{}: {e}", tenant.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

/// Asserts that every trace is found with all its spans.
fn assert_all_found(server: &Server, ids: &[String], when: &str) {
    for id in ids {
        let trace = server
            .trace_v1(id)
            .unwrap_or_else(|| panic!("trace {id} not found {when}:\n{}", server.log_text()));
        assert_eq!(spans_of(&trace).len(), SPANS_PER_TRACE, "trace {id} {when}");
    }
}

#[test]
fn traces_are_served_from_blocks_and_a_corrupt_block_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), FAST_BLOCKS);
    let raw: Vec<[u8; 16]> = (0..20).map(|i| trace_id(31, i)).collect();
    let ids: Vec<String> = raw.iter().map(hex::encode).collect();
    send(&server, "blocks", &raw);

    wait_for_blocks(&server);
    assert!(metric(&server, "tempo_blocks") >= 1);
    assert!(metric(&server, "tempo_block_bytes") > 0);
    assert_eq!(metric(&server, "tempo_block_errors_total"), 0);
    assert_all_found(&server, &ids, "from a block");
    let blocks = block_dirs(dir.path());
    assert!(!blocks.is_empty(), "no block directory");
    for block in &blocks {
        for file in ["meta.json", "data", "index"] {
            assert!(block.join(file).is_file(), "{}/{file}", block.display());
        }
    }

    // kill -9: the blocks are durable, the traces are still found.
    server.kill9();
    server.spawn();
    assert!(metric(&server, "tempo_blocks") >= 1);
    assert_all_found(&server, &ids, "after kill -9");
    assert_eq!(metric(&server, "tempo_block_errors_total"), 0);

    // Truncate every block's data to half, with the server stopped (its files are mapped).
    server.kill9();
    for block in block_dirs(dir.path()) {
        let data = block.join("data");
        let len = std::fs::metadata(&data).unwrap().len();
        let file = std::fs::OpenOptions::new().write(true).open(&data).unwrap();
        file.set_len(len / 2).unwrap();
        file.sync_all().unwrap();
    }
    server.spawn();
    for id in &ids {
        let (status, _, body) = server.get(&format!("/api/traces/{id}"), &[]);
        assert!(
            status == 200 || status == 404,
            "trace {id} from a corrupt block: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    assert!(
        metric(&server, "tempo_block_errors_total") >= 1,
        "{}",
        server.log_text()
    );

    // Still serving: new traces are accepted and found.
    let (status, _, _) = server.get("/ready", &[]);
    assert_eq!(status, 200);
    let fresh: Vec<[u8; 16]> = (0..5).map(|i| trace_id(32, i)).collect();
    send(&server, "after-corruption", &fresh);
    let fresh: Vec<String> = fresh.iter().map(hex::encode).collect();
    assert_all_found(&server, &fresh, "after a corrupt block");
}
