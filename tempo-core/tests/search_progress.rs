//! A search reports its running answer to a progress receiver as it reads its sources, for
//! clients that stream results (Tempo's streaming querier): reports grow, hold only traces
//! that match, and the last answer is the search's own.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tempo_core::{Batch, SearchProgress, SearchRequest, SearchResponse, Store};
use tempo_workload::Workload;

#[test]
fn a_search_reports_its_running_answer() {
    let store = Store::builder()
        .ingestion_time_range_slack(Duration::from_secs(365 * 86400))
        .open()
        .unwrap();
    let mut workload = Workload::new(9);
    for _ in 0..4 {
        store
            .ingest("t", Batch::new(workload.batch(50, Some(5)).resource_spans))
            .unwrap();
        store.flush_blocks().unwrap();
    }
    // And some still in the head.
    store
        .ingest("t", Batch::new(workload.batch(50, Some(5)).resource_spans))
        .unwrap();
    let reports: Arc<Mutex<Vec<SearchResponse>>> = Arc::default();
    let sink = reports.clone();
    let req = SearchRequest::new("{ }")
        .limit(1000)
        .on_progress(SearchProgress::new(move |answer| {
            sink.lock().unwrap().push(answer.clone());
        }));
    let found = store.search("t", &req).unwrap();
    assert_eq!(found.traces.len(), 250);
    let reports = reports.lock().unwrap();
    assert!(!reports.is_empty(), "the first source read is reported");
    let ids: std::collections::HashSet<_> = found.traces.iter().map(|t| t.trace_id).collect();
    let mut last_jobs = 0;
    for r in reports.iter() {
        assert!(r.metrics.completed_jobs >= last_jobs);
        last_jobs = r.metrics.completed_jobs;
        assert!(r.traces.iter().all(|t| ids.contains(&t.trace_id)));
        assert!(!r.partial);
    }
    assert!(last_jobs <= found.metrics.completed_jobs);
}
