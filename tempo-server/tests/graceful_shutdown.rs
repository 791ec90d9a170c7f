//! SIGTERM stops the server cleanly: exit status 0, WAL synced, data there after restart.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use common::spans::{encode, request, trace_id};
use common::{Server, http_call};

#[test]
fn sigterm_syncs_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    // fsync "never": only the sync at shutdown makes the data durable on disk.
    let mut server = Server::start_in(dir.path(), "");
    let config = std::fs::read_to_string(&server.config).unwrap();
    std::fs::write(
        &server.config,
        config.replace("    wal:\n", "    wal:\n      fsync: never\n"),
    )
    .unwrap();
    server.kill9();
    server.spawn();
    let id = trace_id(31, 0);
    let (status, _, _) = http_call(
        "POST",
        &server.otlp_http(),
        &[("content-type", "application/x-protobuf")],
        Some(&encode(&request("term", &[id], 2))),
    );
    assert_eq!(status, 200);
    let exit = server.terminate();
    assert!(exit.success(), "exit status {exit}:\n{}", server.log_text());
    let log = server.log_text();
    assert!(log.contains("write-ahead log synced"), "{log}");
    server.spawn();
    assert!(server.trace_v1(&hex::encode(id)).is_some());
}
