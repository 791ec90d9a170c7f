//! Three `tempo-server` processes on loopback share one bucket (a real S3-compatible server,
//! `s3s-fs`, started by the test), each with its own write-ahead log and head, each naming
//! the two others as peers. Traces sent to all three are found by ID from each server at once
//! (through the peers while they are in a head, from the bucket once in a block) and by
//! search once in blocks; one server killed with SIGKILL in mid-ingest and restarted loses no
//! acknowledged span; compaction runs under a lease while lookups on every server keep
//! finding every trace; a peer that is down makes an answer partial, not an error.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::spans::{encode, request, trace_id};
use common::{Server, free_port, spans_of};
use tempo_core::backend::testing::{ACCESS_KEY, S3Server, SECRET_KEY};

const SPANS: usize = 3;

fn config(dir: &Path, s3: &S3Server, ports: (u16, u16, u16), peers: &[u16]) -> String {
    let (api, grpc, http) = ports;
    let peers: Vec<String> = peers.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    format!(
        "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: {api}\n\
         distributor:\n  receivers:\n    otlp:\n      protocols:\n        grpc:\n          endpoint: 127.0.0.1:{grpc}\n        http:\n          endpoint: 127.0.0.1:{http}\n\
         ingester:\n  trace_idle_period: 1s\n  max_block_duration: 2s\n\
         compactor:\n  compaction:\n    compacted_block_retention: 3s\n\
         storage:\n  trace:\n    backend: s3\n    blocklist_poll: 1s\n    peer_timeout: 2s\n    peers: [{peers}]\n\
         \x20   wal:\n      path: {wal}\n\
         \x20   s3:\n      bucket: tempo\n      endpoint: {endpoint}\n      access_key: {ACCESS_KEY}\n      secret_key: {SECRET_KEY}\n      insecure: true\n",
        peers = peers.join(", "),
        wal = dir.join("wal").display(),
        endpoint = s3.addr(),
    )
}

fn start(dir: &Path, s3: &S3Server, ports: (u16, u16, u16), peers: &[u16]) -> Server {
    let path = dir.join("tempo.yaml");
    std::fs::write(&path, config(dir, s3, ports, peers)).unwrap();
    let mut server = Server {
        child: None,
        dir: dir.to_owned(),
        config: path,
        api_port: ports.0,
        grpc_port: ports.1,
        http_port: ports.2,
        log: dir.join("server.log"),
        nofile: None,
    };
    server.spawn();
    server
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// Sends `ids` (each trace `SPANS` spans of `service`) to `server`; whether it was
/// acknowledged.
fn send(server: &Server, service: &str, ids: &[[u8; 16]]) -> bool {
    send_salted(server, service, ids, 0)
}

/// [`send`], with span IDs of their own for each `salt`: parts of one trace.
fn send_salted(server: &Server, service: &str, ids: &[[u8; 16]], salt: u8) -> bool {
    let now = now_nanos();
    let mut data = request(service, ids, SPANS);
    for span in data
        .resource_spans
        .iter_mut()
        .flat_map(|r| &mut r.scope_spans)
        .flat_map(|s| &mut s.spans)
    {
        span.start_time_unix_nano = span.start_time_unix_nano - 1_700_000_000_000_000_000 + now;
        span.end_time_unix_nano = span.end_time_unix_nano - 1_700_000_000_000_000_000 + now;
        span.span_id[0] ^= salt;
        if let Some(first) = span.parent_span_id.first_mut() {
            *first ^= salt;
        }
    }
    // A server being killed refuses or cuts the connection: not acknowledged.
    ureq::post(&server.otlp_http())
        .header("content-type", "application/x-protobuf")
        .send(&encode(&data)[..])
        .is_ok_and(|r| r.status() == 200)
}

/// The spans of a trace as `server` answers it (v1), 0 when not found.
fn spans_found(server: &Server, id: &[u8; 16]) -> usize {
    let (status, _, body) = server.get(&format!("/api/traces/{}", hex::encode(id)), &[]);
    match status {
        200 => spans_of(&serde_json::from_slice(&body).unwrap()).len(),
        404 => 0,
        other => panic!(
            "trace {}: {other} {}",
            hex::encode(id),
            String::from_utf8_lossy(&body)
        ),
    }
}

fn assert_all_found(servers: &[&Server], expected: &HashMap<[u8; 16], usize>, when: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    for server in servers {
        for (id, spans) in expected {
            loop {
                let found = spans_found(server, id);
                if found == *spans {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{when}: trace {} has {found} of {spans} spans on :{}\n{}",
                    hex::encode(id),
                    server.api_port,
                    server.log_text()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn search_count(server: &Server, service: &str) -> usize {
    let (status, _, body) = server.get(
        &format!(
            "/api/search?q=%7B%20resource.service.name%20%3D%20%22{service}%22%20%7D&limit=1000"
        ),
        &[],
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let found: serde_json::Value = serde_json::from_slice(&body).unwrap();
    found["traces"].as_array().map_or(0, Vec::len)
}

/// Spans of `service` the blocks and heads of `server` count (a TraceQL metrics query over
/// the last ten minutes): more than were sent means some block is read twice.
fn spans_counted(server: &Server, service: &str) -> f64 {
    let end = now_nanos() / 1_000_000_000 + 60;
    let query = format!("{{ resource.service.name = \"{service}\" }} | count_over_time()");
    let encoded: String = query
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'.' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let (status, _, body) = server.get(
        &format!(
            "/api/metrics/query?q={encoded}&start={}&end={end}",
            end - 600
        ),
        &[],
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let series = &answer["series"][0];
    series["samples"][0]["value"]
        .as_f64()
        .or_else(|| series["value"].as_f64())
        .unwrap_or_else(|| panic!("no value in {answer}"))
}

#[test]
fn three_servers_share_a_bucket() {
    let Some(s3) = S3Server::start(&["tempo"]) else {
        return;
    };
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports: Vec<(u16, u16, u16)> = (0..3)
        .map(|_| (free_port(), free_port(), free_port()))
        .collect();
    let peers = |i: usize| -> Vec<u16> { (0..3).filter(|&j| j != i).map(|j| ports[j].0).collect() };
    let mut servers: Vec<Server> = (0..3)
        .map(|i| start(dirs[i].path(), &s3, ports[i], &peers(i)))
        .collect();

    // Traces to each server, and traces split across two.
    let mut expected: HashMap<[u8; 16], usize> = HashMap::new();
    for (i, server) in servers.iter().enumerate() {
        let ids: Vec<[u8; 16]> = (0..10).map(|n| trace_id(100 + i as u64, n)).collect();
        assert!(send(server, "shared", &ids));
        expected.extend(ids.iter().map(|id| (*id, SPANS)));
    }
    let split: Vec<[u8; 16]> = (0..5).map(|n| trace_id(200, n)).collect();
    assert!(send(&servers[0], "shared", &split));
    assert!(send_salted(&servers[1], "other-half", &split, 0x80));
    expected.extend(split.iter().map(|id| (*id, 2 * SPANS)));

    // Found by ID from each server at once: through the peers while in their heads.
    let all: Vec<&Server> = servers.iter().collect();
    assert_all_found(&all, &expected, "in the heads");

    // Once in blocks and polled, found by search from each server too.
    let deadline = Instant::now() + Duration::from_secs(30);
    for server in &servers {
        while search_count(server, "shared") < 35 {
            assert!(
                Instant::now() < deadline,
                "search on :{} found {}:\n{}",
                server.api_port,
                search_count(server, "shared"),
                server.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    // A server killed with SIGKILL in mid-ingest: every acknowledged span is found after it
    // restarts, from every server. Lookups on the others go on meanwhile, partial at worst.
    let acked = std::sync::Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let target = &servers[1];
        let (acked, stop) = (&acked, &stop);
        scope.spawn(move || {
            for n in 0..200u64 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let ids = [trace_id(300, n)];
                if send(target, "killed", &ids) {
                    acked.lock().unwrap().push(ids[0]);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        std::thread::sleep(Duration::from_millis(700));
        let pid = target.pid();
        std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::SeqCst);
    });
    // While it is down, the others answer; a v2 lookup says the peer is missing.
    let (status, _, body) = servers[0].get(
        &format!("/api/v2/traces/{}", hex::encode(trace_id(100, 0))),
        &[],
    );
    assert_eq!(status, 200);
    let body = String::from_utf8(body).unwrap();
    assert!(body.contains("PARTIAL"), "{body}");
    servers[1].child.take().map(|mut c| c.wait());
    servers[1].spawn();
    let acked = acked.into_inner().unwrap();
    assert!(
        acked.len() > 5,
        "{} acknowledged before the kill",
        acked.len()
    );
    expected.extend(acked.iter().map(|id| (*id, SPANS)));
    let all: Vec<&Server> = servers.iter().collect();
    assert_all_found(&all, &expected, "after SIGKILL and restart");

    // Enough blocks for a compaction (four at least, however the cuts above fell): another
    // round of traces to each server, each cut into a block of its own once the heads
    // above are in blocks (blocks are cut after 1 s idle, or 2 s old).
    std::thread::sleep(Duration::from_millis(3500));
    for (i, server) in servers.iter().enumerate() {
        let ids: Vec<[u8; 16]> = (0..4).map(|n| trace_id(400 + i as u64, n)).collect();
        assert!(send(server, "filler", &ids));
        expected.extend(ids.iter().map(|id| (*id, SPANS)));
    }

    // Compaction runs under a lease while lookups on every server keep finding every trace.
    let compactions = |servers: &[Server]| -> u64 {
        servers
            .iter()
            .map(|s| s.metric("tempo_compactions_total"))
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while compactions(&servers) == 0 {
        assert!(
            Instant::now() < deadline,
            "no compaction within 60s; the servers' logs:\n{}",
            servers
                .iter()
                .map(|s| s.log_text())
                .collect::<Vec<_>>()
                .join("\n----\n")
        );
        for server in &servers {
            for (id, spans) in expected.iter().take(10) {
                assert_eq!(spans_found(server, id), *spans, "while compacting");
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // Through the grace period and the deletion of the replaced blocks.
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        let all: Vec<&Server> = servers.iter().collect();
        for server in &all {
            for (id, spans) in &expected {
                assert_eq!(spans_found(server, id), *spans, "while compacted blocks go");
            }
        }
    }
    // Nothing compacted twice, nothing read twice: every server counts each span of the
    // traces flushed before the kill once (105: 30 traces of 3 spans, and 5 halves of 3).
    std::thread::sleep(Duration::from_millis(2500));
    for server in &servers {
        assert_eq!(
            spans_counted(server, "shared"),
            105.0,
            ":{}",
            server.api_port
        );
    }
    // One holder per tenant: the servers that compacted held the lease in turn.
    let holders = servers
        .iter()
        .filter(|s| s.metric("tempo_compactions_total") > 0)
        .count();
    assert!(holders >= 1);
    for server in &mut servers {
        assert!(server.terminate().success(), "{}", server.log_text());
        let log = server.log_text();
        assert!(!log.contains("panicked"), "{log}");
    }
}
