//! With `storage.trace.backend: s3`, blocks are written to the bucket (a real S3-compatible
//! server, `s3s-fs`, started by the test) and served from it: after a kill -9 and with the
//! write-ahead log gone, every trace is still found by ID and by search, from the bucket
//! alone.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::spans::{encode, request, trace_id};
use common::{Server, Setup, http_call, spans_of};
use tempo_core::backend::testing::{ACCESS_KEY, S3Server, SECRET_KEY};

const SPANS_PER_TRACE: usize = 4;

/// The `storage.trace` lines of a server on `bucket` at `s3`.
fn s3_storage(s3: &S3Server, bucket: &str) -> String {
    format!(
        "backend: s3\ns3:\n  bucket: {bucket}\n  endpoint: {}\n  access_key: {ACCESS_KEY}\n  \
         secret_key: {SECRET_KEY}\n  insecure: true\n",
        s3.addr()
    )
}

fn send(server: &Server, ids: &[[u8; 16]]) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    for batch in ids.chunks(5) {
        let mut data = request("bucket", batch, SPANS_PER_TRACE);
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

/// The blocks with a `meta.json` in the bucket's directory of the tenant.
fn blocks_in_bucket(root: &Path) -> usize {
    let tenant = root.join("tempo").join("single-tenant");
    std::fs::read_dir(&tenant)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|e| e.path().join("meta.json").is_file())
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn traces_are_served_from_a_bucket() {
    let Some(s3) = S3Server::start(&["tempo"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup {
        extra: "ingester:\n  trace_idle_period: 1s\n  max_block_duration: 1s\n".to_owned(),
        storage: Some(s3_storage(&s3, "tempo")),
        ..Setup::default()
    };
    let mut server = Server::start_with(dir.path(), setup);
    let raw: Vec<[u8; 16]> = (0..20).map(|i| trace_id(41, i)).collect();
    send(&server, &raw);

    let deadline = Instant::now() + Duration::from_secs(20);
    while server.metric("tempo_head_traces") > 0 || blocks_in_bucket(s3.root()) == 0 {
        assert!(
            Instant::now() < deadline,
            "no block in the bucket:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // SIGKILL, and the write-ahead log removed: only the bucket holds the traces now.
    server.kill9();
    std::fs::remove_dir_all(dir.path().join("wal")).unwrap();
    server.spawn();
    for id in &raw {
        let hex_id = hex::encode(id);
        let trace = server
            .trace_v1(&hex_id)
            .unwrap_or_else(|| panic!("{hex_id} not found:\n{}", server.log_text()));
        assert_eq!(spans_of(&trace).len(), SPANS_PER_TRACE, "{hex_id}");
    }
    let (status, _, body) = server.get(
        "/api/search?q=%7B%20resource.service.name%20%3D%20%22bucket%22%20%7D&limit=100",
        &[],
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let found: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        found["traces"].as_array().unwrap().len(),
        raw.len(),
        "{found}"
    );
    assert!(server.terminate().success());
    assert!(
        !server.log_text().contains("ERROR"),
        "{}",
        server.log_text()
    );
}
