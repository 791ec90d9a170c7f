//! Every acknowledged span survives a kill -9 of the server.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use common::spans::{encode, request, trace_id};
use common::{Server, http_call, spans_of};

#[test]
fn acknowledged_traces_are_found_after_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), "");
    let mut ids = Vec::new();
    // 40 requests of 10 traces x 6 spans, from 4 threads at once (group commit).
    let batches: Vec<Vec<[u8; 16]>> = (0..40)
        .map(|b| (0..10).map(|t| trace_id(7, b * 10 + t)).collect())
        .collect();
    std::thread::scope(|scope| {
        for chunk in batches.chunks(10) {
            let url = server.otlp_http();
            scope.spawn(move || {
                for batch in chunk {
                    let body = encode(&request("killed", batch, 6));
                    let (status, _, resp) = http_call(
                        "POST",
                        &url,
                        &[("content-type", "application/x-protobuf")],
                        Some(&body),
                    );
                    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&resp));
                }
            });
        }
    });
    for b in &batches {
        ids.extend(b.iter().map(hex::encode));
    }
    server.kill9();
    server.spawn();
    for id in &ids {
        let trace = server
            .trace_v1(id)
            .unwrap_or_else(|| panic!("trace {id} lost after kill -9"));
        assert_eq!(spans_of(&trace).len(), 6, "trace {id}");
    }
}
