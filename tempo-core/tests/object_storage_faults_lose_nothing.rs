//! A bucket that answers 500s, resets connections or answers slowly for a while: writes of
//! blocks are retried (and fail only after their retries, leaving the traces in the head and
//! the write-ahead log), nothing acknowledged is lost, and queries answer with an error or a
//! partial answer that says why, never a panic. The bucket is a real S3-compatible server
//! (`s3s-fs`) behind a proxy that injects the faults.

#![cfg(feature = "s3")]
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tempo_core::backend::testing::{Fault, FaultyProxy, S3Server};
use tempo_core::backend::{Backend, ObjectBackend};
use tempo_core::model::{TraceId, TracesData};
use tempo_core::{Batch, FindError, SearchRequest, Store, TimeRange};
use tempo_workload::Workload;

fn trace_ids(data: &TracesData) -> HashSet<TraceId> {
    data.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .filter_map(|s| TraceId::from_slice(&s.trace_id))
        .collect()
}

fn span_count(data: &TracesData) -> usize {
    data.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum()
}

/// Every trace of `expected` is found whole.
fn assert_all_found(store: &Store, expected: &[(TraceId, usize)], when: &str) {
    for (id, spans) in expected {
        let trace = store
            .find_trace("t", *id, TimeRange::ALL)
            .unwrap_or_else(|e| panic!("{when}: {id}: {e}"))
            .unwrap_or_else(|| panic!("{when}: {id} not found"));
        assert_eq!(span_count(&trace), *spans, "{when}: {id}");
    }
}

#[test]
fn faults_of_the_bucket_lose_nothing_and_never_panic() {
    let Some(server) = S3Server::start(&["tempo"]) else {
        return;
    };
    let proxy = FaultyProxy::start(server.addr()).unwrap();
    let mut options = S3Server::options_at(&proxy.addr().to_string(), "tempo", "faults");
    options.options.request_timeout = Duration::from_secs(1);
    options.options.retry_timeout = Duration::from_millis(1500);
    options.options.max_retries = 4;
    options.options.max_backoff = Duration::from_millis(200);
    let backend: Arc<dyn Backend> = Arc::new(ObjectBackend::s3(&options).unwrap());
    let wal = tempfile::tempdir().unwrap();
    let open = || {
        Store::builder()
            .wal_dir(wal.path())
            .blocks(backend.clone())
            // Blocks are cut by the test alone.
            .max_block_duration(Duration::from_secs(3600))
            .trace_idle_period(Duration::from_secs(3600))
            .open()
            .unwrap()
    };
    let store = open();
    let mut workload = Workload::new(7);
    let mut expected: Vec<(TraceId, usize)> = Vec::new();
    let mut ingest = |store: &Store, expected: &mut Vec<(TraceId, usize)>| {
        let data = workload.batch(30, Some(4));
        for id in trace_ids(&data) {
            expected.push((id, 4));
        }
        store.ingest("t", Batch::new(data.resource_spans)).unwrap();
    };

    // A block in the bucket while it answers.
    ingest(&store, &mut expected);
    assert_eq!(store.flush_blocks().unwrap().len(), 1);
    let in_block = expected[0].0;

    for fault in [
        Fault::ServerError,
        Fault::Reset,
        Fault::Slow(Duration::from_millis(300)),
    ] {
        proxy.set(fault);
        // Acknowledged: the write-ahead log is local.
        ingest(&store, &mut expected);
        let flushed = store.flush_blocks();
        if fault == Fault::Slow(Duration::from_millis(300)) {
            // Slow is not down: within the timeouts, the block is written.
            assert_eq!(flushed.unwrap().len(), 1, "{fault:?}");
            continue;
        }
        let err = flushed.unwrap_err().to_string();
        assert!(err.contains("object store request"), "{fault:?}: {err}");
        // A trace in a block the bucket does not serve now: an error saying so, not a
        // trace that looks whole.
        match store.find_trace("t", in_block, TimeRange::ALL) {
            Err(e @ FindError::Incomplete { .. }) => {
                assert!(e.to_string().contains("could not be read"), "{e}");
            }
            other => panic!("{fault:?}: find in an unreachable block: {other:?}"),
        }
        let found = store
            .search("t", &SearchRequest::new("{ }").limit(1000))
            .unwrap();
        assert!(found.partial, "{fault:?}");
        let reason = found.partial_reason.unwrap();
        assert!(reason.contains("could not be read"), "{reason}");
        // What is in the head is served all the same.
        let (fresh, spans) = *expected.last().unwrap();
        let trace = store.find_trace("t", fresh, TimeRange::ALL);
        assert!(
            matches!(&trace, Err(FindError::Incomplete { .. }))
                || trace
                    .as_ref()
                    .is_ok_and(|t| t.as_ref().is_some_and(|t| span_count(t) == spans)),
            "{fault:?}: {trace:?}"
        );
    }

    // Failures that pass within the retries are not failures: a block written while the
    // bucket answers 500s for a second.
    ingest(&store, &mut expected);
    proxy.set(Fault::ServerError);
    let healer = {
        let proxy = &proxy;
        std::thread::scope(|scope| {
            let healer = scope.spawn(move || {
                std::thread::sleep(Duration::from_millis(500));
                proxy.set(Fault::None);
            });
            let flushed = store.flush_blocks();
            healer.join().unwrap();
            flushed
        })
    };
    assert!(!healer.unwrap().is_empty(), "written after retries");
    assert!(proxy.faulted() > 0);

    // Back to normal: everything acknowledged is found, from blocks alone.
    proxy.set(Fault::None);
    store.flush_blocks().unwrap();
    assert_all_found(&store, &expected, "after the faults");
    let found = store
        .search("t", &SearchRequest::new("{ }").limit(1000))
        .unwrap();
    assert!(!found.partial, "{:?}", found.partial_reason);
    assert_eq!(found.traces.len(), expected.len());
    store.close().unwrap();
    drop(store);
    let store = open();
    assert_all_found(&store, &expected, "after reopening");
    store.close().unwrap();
}
