//! Under an open-files limit of 1024, a hostile client opens 1,100 idle connections to one
//! port, then 1,100 more spread over the three: the server still answers `/ready`, ingests
//! over OTLP/HTTP and OTLP/gRPC and writes blocks, no listener holds more connections than its
//! cap, and the log reports the flood in a few lines.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::spans::{encode, request, trace_id};
use common::{Server, Setup, http_call, spans_of};

/// Connections of each wave of the flood.
const FLOOD: usize = 1100;
/// Traces complete after 1s without spans, and blocks are cut at least every second.
const FAST_BLOCKS: &str = "ingester:\n  trace_idle_period: 1s\n  max_block_duration: 1s\n";

/// One OTLP request body of `ids`, with spans that start now.
fn body(service: &str, ids: &[[u8; 16]]) -> Vec<u8> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut data = request(service, ids, 3);
    for span in data
        .resource_spans
        .iter_mut()
        .flat_map(|r| &mut r.scope_spans)
        .flat_map(|s| &mut s.spans)
    {
        span.start_time_unix_nano = span.start_time_unix_nano - 1_700_000_000_000_000_000 + now;
        span.end_time_unix_nano = span.end_time_unix_nano - 1_700_000_000_000_000_000 + now;
    }
    encode(&data)
}

/// `/ready` answers, and a trace is ingested over each OTLP transport.
fn still_serving(server: &Server, runtime: &tokio::runtime::Runtime, wave: u64) -> Vec<[u8; 16]> {
    let started = Instant::now();
    let (status, _, body_text) = server.get("/ready", &[]);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body_text));
    let over_http = trace_id(70 + wave, 0);
    let (status, _, answer) = http_call(
        "POST",
        &server.otlp_http(),
        &[("content-type", "application/x-protobuf")],
        Some(&body("flood-http", &[over_http])),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let over_grpc = trace_id(80 + wave, 0);
    runtime
        .block_on(common::grpc::export(
            &server.otlp_grpc(),
            body("flood-grpc", &[over_grpc]),
            None,
        ))
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "serving took {:?} under the flood",
        started.elapsed()
    );
    vec![over_http, over_grpc]
}

fn connect_all(ports: &[u16], count: usize) -> Vec<TcpStream> {
    (0..count)
        .map(|i| {
            let port = ports[i % ports.len()];
            TcpStream::connect(("127.0.0.1", port))
                .unwrap_or_else(|e| panic!("connection {i} to port {port}: {e}"))
        })
        .collect()
}

#[test]
fn idle_connection_flood_does_not_starve_the_server() {
    // Our side of the flood needs its own descriptors.
    common::raise_own_open_files_limit(3 * FLOOD as u64);
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_with(
        dir.path(),
        Setup {
            extra: FAST_BLOCKS.to_owned(),
            nofile: Some((1024, 1024)),
            ..Setup::default()
        },
    );
    let log = server.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("open files limit"))
        .unwrap_or_else(|| panic!("no open files limit in the log:\n{log}"));
    assert!(
        line.contains("soft=1024") && line.contains("hard=1024"),
        "{line}"
    );
    let protocols = ["http", "otlp_http", "otlp_grpc"];
    let limits: Vec<u64> = protocols
        .iter()
        .map(|p| server.metric(&format!("tempo_tcp_connections_limit{{protocol=\"{p}\"}}")))
        .collect();
    // A share of the descriptors left after the store's.
    assert_eq!(limits, [256, 256, 256]);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut ids = Vec::new();

    // All on one port.
    let one_port = connect_all(&[server.api_port], FLOOD);
    ids.extend(still_serving(&server, &runtime, 0));

    // Spread over the three, arriving while clients are being served.
    let ports = [server.api_port, server.http_port, server.grpc_port];
    let spreading = std::thread::spawn(move || connect_all(&ports, FLOOD));
    for wave in 1..=3 {
        ids.extend(still_serving(&server, &runtime, wave));
    }
    let spread = spreading.join().unwrap();
    ids.extend(still_serving(&server, &runtime, 4));

    for (protocol, limit) in protocols.iter().zip(&limits) {
        let open = server.metric(&format!("tempo_tcp_connections{{protocol=\"{protocol}\"}}"));
        assert!(
            open <= *limit,
            "{protocol}: {open} connections open, limit {limit}"
        );
        // Room is made before accepting: the process never ran out of descriptors.
        let failed = server.metric(&format!(
            "tempo_tcp_accept_errors_total{{protocol=\"{protocol}\"}}"
        ));
        assert_eq!(
            failed,
            0,
            "{protocol}: accepts failed:\n{}",
            server.log_text()
        );
    }
    let evicted = server.metric("tempo_tcp_connections_evicted_total{protocol=\"http\"}");
    assert!(
        evicted >= (FLOOD as u64 - limits[0]),
        "{evicted} idle API connections evicted"
    );

    // Blocks are still written: every trace ends up in one and is served.
    let deadline = Instant::now() + Duration::from_secs(15);
    while server.metric("tempo_blocks_flushed_total") < 1 || server.metric("tempo_head_traces") > 0
    {
        assert!(
            Instant::now() < deadline,
            "no block cut under the flood:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for id in &ids {
        let trace = server
            .trace_v1(&hex::encode(id))
            .unwrap_or_else(|| panic!("trace {} not found", hex::encode(id)));
        assert_eq!(spans_of(&trace).len(), 3);
    }

    // Thousands of evictions, a few log lines.
    let log = server.log_text();
    let reports = log
        .lines()
        .filter(|l| l.contains("connection limit reached"))
        .count();
    assert!(
        (1..=6).contains(&reports),
        "{reports} lines about the connection limit:\n{log}"
    );
    assert!(server.is_running());
    drop((one_port, spread));
}
