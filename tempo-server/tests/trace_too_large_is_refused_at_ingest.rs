//! A trace that would grow past `max_bytes_per_trace` (Tempo's overrides, per tenant from the
//! overrides file) has its further spans refused at ingest through OTLP partial success, with
//! Tempo's `TRACE_TOO_LARGE` reason; every span acknowledged before is still found after its
//! blocks are cut and compacted and after a kill -9.
#![expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]

mod common;

use std::time::{Duration, Instant};

use common::{Server, http_call, spans, spans_of};

/// Sends one request of `n` spans of trace `id` to `tenant`; returns (rejected, message).
#[expect(
    clippy::big_endian_bytes,
    reason = "test span IDs: a counter, readable in hex"
)]
fn send(server: &Server, tenant: &str, id: [u8; 16], first: usize, n: usize) -> (i64, String) {
    let mut data = spans::request("big", &[id], n);
    for (k, span) in data.resource_spans[0].scope_spans[0]
        .spans
        .iter_mut()
        .enumerate()
    {
        // Distinct span IDs across requests, each span carrying ~1 KB.
        span.span_id = ((first + k) as u64 + 1).to_be_bytes().to_vec();
        span.parent_span_id.clear();
        span.attributes
            .push(tempo_core::model::KeyValue::string("pad", "x".repeat(1000)));
    }
    let (status, _, body) = http_call(
        "POST",
        &server.otlp_http(),
        &[
            ("content-type", "application/json"),
            ("x-scope-orgid", tenant),
        ],
        Some(&serde_json::to_vec(&otlp_json(&data)).unwrap()),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let partial = &answer["partialSuccess"];
    (
        partial["rejectedSpans"]
            .as_str()
            .map(|s| s.parse().unwrap())
            .or(partial["rejectedSpans"].as_i64())
            .unwrap_or(0),
        partial["errorMessage"].as_str().unwrap_or("").to_owned(),
    )
}

/// The OTLP/JSON of a request, as an SDK writes it (hex IDs).
fn otlp_json(data: &tempo_core::model::TracesData) -> serde_json::Value {
    let spans: Vec<serde_json::Value> = data.resource_spans[0].scope_spans[0]
        .spans
        .iter()
        .map(|s| {
            serde_json::json!({
                "traceId": hex::encode(&s.trace_id),
                "spanId": hex::encode(&s.span_id),
                "name": s.name,
                "startTimeUnixNano": s.start_time_unix_nano.to_string(),
                "endTimeUnixNano": s.end_time_unix_nano.to_string(),
                "attributes": [{"key": "pad", "value": {"stringValue": "x".repeat(1000)}}],
            })
        })
        .collect();
    serde_json::json!({
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "big"}}]},
            "scopeSpans": [{"spans": spans}],
        }]
    })
}

fn span_count(server: &Server, tenant: &str, id: [u8; 16]) -> usize {
    let (status, _, body) = server.get(
        &format!("/api/traces/{}", hex::encode(id)),
        &[("x-scope-orgid", tenant)],
    );
    if status == 404 {
        return 0;
    }
    assert_eq!(status, 200);
    spans_of(&serde_json::from_slice(&body).unwrap()).len()
}

#[test]
fn spans_past_the_limit_are_refused_and_acknowledged_ones_survive() {
    let dir = tempfile::tempdir().unwrap();
    let overrides = dir.path().join("overrides.yaml");
    std::fs::write(
        &overrides,
        "overrides:\n  roomy:\n    global:\n      max_bytes_per_trace: 0\n",
    )
    .unwrap();
    let mut server = Server::start_in(
        dir.path(),
        &format!(
            "multitenancy_enabled: true\n\
             overrides:\n  defaults:\n    global:\n      max_bytes_per_trace: 60000\n  \
             per_tenant_override_config: {}\n\
             ingester:\n  trace_idle_period: 1s\n  max_block_duration: 1s\n\
             compactor:\n  compaction:\n    compaction_window: 1h\n",
            overrides.display()
        ),
    );
    let id = spans::trace_id(9, 1);
    let (mut acked, mut refused, mut message) = (0usize, 0i64, String::new());
    for round in 0..6 {
        let (rejected, m) = send(&server, "tight", id, round * 20, 20);
        acked += 20 - rejected as usize;
        refused += rejected;
        if rejected > 0 {
            message = m;
        }
        // Let blocks be cut between rounds, so the trace lies in several.
        std::thread::sleep(Duration::from_millis(1200));
    }
    // ~21 KB a request: two fit under 60 KB, the rest are refused whole.
    assert_eq!(acked, 40, "{message}");
    assert_eq!(refused, 80);
    assert!(message.contains("TRACE_TOO_LARGE"), "{message}");
    assert!(
        message.contains("max_bytes_per_trace (60000 bytes)"),
        "{message}"
    );
    // The roomy tenant has no limit, from the overrides file.
    for round in 0..6 {
        assert_eq!(send(&server, "roomy", id, round * 20, 20).0, 0);
    }

    // Blocks cut, compaction given time, then kill -9: every acknowledged span is there.
    let waited = Instant::now();
    while span_count(&server, "tight", id) != acked {
        assert!(waited.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(3));
    server.kill9();
    server.spawn();
    assert_eq!(span_count(&server, "tight", id), acked);
    assert_eq!(span_count(&server, "roomy", id), 120);
    let (_, _, metrics) = server.get("/metrics", &[]);
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(metrics.contains("tempo_spans_refused_trace_too_large_total"));
}
