//! Two `tempo-server` processes on loopback share one bucket (a real S3-compatible server,
//! `s3s-fs`), each naming the other as its peer, with blocks cut only after an hour: spans
//! sent to server A are found by server B at once, while they are still in A's head, by
//! search, tag names and values (both APIs) and TraceQL metrics (range and instant), each
//! counted once; once A is stopped, B still answers what it holds itself, and each answer is
//! partial, with a message naming A.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use common::spans::{encode, request, trace_id};
use common::{Server, free_port};
use tempo_core::backend::testing::{ACCESS_KEY, S3Server, SECRET_KEY};

const SPANS: usize = 3;

fn start(dir: &Path, s3: &S3Server, ports: (u16, u16, u16), peer: u16) -> Server {
    let (api, grpc, http) = ports;
    let yaml = format!(
        "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: {api}\n\
         distributor:\n  receivers:\n    otlp:\n      protocols:\n        grpc:\n          endpoint: 127.0.0.1:{grpc}\n        http:\n          endpoint: 127.0.0.1:{http}\n\
         ingester:\n  trace_idle_period: 1s\n  max_block_duration: 1h\n\
         storage:\n  trace:\n    backend: s3\n    blocklist_poll: 1s\n    peer_timeout: 1s\n    peers: [127.0.0.1:{peer}]\n\
         \x20   wal:\n      path: {wal}\n\
         \x20   s3:\n      bucket: tempo\n      endpoint: {endpoint}\n      access_key: {ACCESS_KEY}\n      secret_key: {SECRET_KEY}\n      insecure: true\n",
        wal = dir.join("wal").display(),
        endpoint = s3.addr(),
    );
    let path = dir.join("tempo.yaml");
    std::fs::write(&path, yaml).unwrap();
    let mut server = Server {
        child: None,
        dir: dir.to_owned(),
        config: path,
        api_port: api,
        grpc_port: grpc,
        http_port: http,
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

/// Sends `ids` (each trace `SPANS` spans of `service`, stamped now) to `server`.
fn send(server: &Server, service: &str, ids: &[[u8; 16]]) {
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
    }
    let response = ureq::post(&server.otlp_http())
        .header("content-type", "application/x-protobuf")
        .send(&encode(&data)[..])
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// GET `path` on `server`: the JSON answer and the partial header, if any.
fn get(server: &Server, path: &str) -> (serde_json::Value, Option<String>) {
    let mut response = ureq::get(&server.api(path)).call().unwrap();
    let partial = response
        .headers()
        .get("x-tempo-partial")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.body_mut().read_to_string().unwrap();
    (serde_json::from_str(&body).unwrap(), partial)
}

fn encoded(query: &str) -> String {
    query
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'.' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The traces a search finds on `server`, by root service.
fn searched(server: &Server, query: &str) -> (Vec<String>, Option<String>) {
    let (found, partial) = get(
        server,
        &format!("/api/search?q={}&limit=1000", encoded(query)),
    );
    let services = found["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["rootServiceName"].as_str().unwrap().to_owned())
        .collect();
    (services, partial)
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s.as_str()
                .map_or_else(|| s["value"].as_str().unwrap().to_owned(), str::to_owned)
        })
        .collect()
}

/// Spans of `service` counted over the last ten minutes: an instant query, and the sum of a
/// range query's samples; with the range query's status and message.
fn counted(server: &Server, service: &str) -> (f64, f64, serde_json::Value) {
    let end = now_nanos() / 1_000_000_000 + 60;
    let q = encoded(&format!(
        "{{ resource.service.name = \"{service}\" }} | count_over_time()"
    ));
    let (instant, _) = get(
        server,
        &format!("/api/metrics/query?q={q}&start={}&end={end}", end - 600),
    );
    let series = &instant["series"][0];
    let one = series["value"]
        .as_f64()
        .or_else(|| series["samples"][0]["value"].as_f64())
        .unwrap_or(0.0);
    let (range, _) = get(
        server,
        &format!(
            "/api/metrics/query_range?q={q}&start={}&end={end}&step=60s",
            end - 600
        ),
    );
    let sum = range["series"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["samples"].as_array().unwrap())
        .map(|s| s["value"].as_f64().unwrap_or(0.0))
        .sum();
    (one, sum, range)
}

#[test]
fn peers_heads_answer_every_query() {
    let Some(s3) = S3Server::start(&["tempo"]) else {
        return;
    };
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports: Vec<(u16, u16, u16)> = (0..2)
        .map(|_| (free_port(), free_port(), free_port()))
        .collect();
    let mut a = start(dirs[0].path(), &s3, ports[0], ports[1].0);
    let b = start(dirs[1].path(), &s3, ports[1], ports[0].0);

    let on_a: Vec<[u8; 16]> = (0..4).map(|n| trace_id(1, n)).collect();
    let on_b: Vec<[u8; 16]> = (0..2).map(|n| trace_id(2, n)).collect();
    send(&a, "fresh-on-a", &on_a);
    send(&b, "fresh-on-b", &on_b);

    // On B at once, from A's head: search...
    let (mut services, partial) = searched(&b, "{ }");
    services.sort();
    assert_eq!(
        services,
        ["fresh-on-a"; 4]
            .into_iter()
            .chain(["fresh-on-b"; 2])
            .collect::<Vec<_>>()
    );
    assert_eq!(partial, None);
    // ... tag values and names, both APIs ...
    let (values, partial) = get(&b, "/api/v2/search/tag/resource.service.name/values");
    assert_eq!(strings(&values["tagValues"]), ["fresh-on-a", "fresh-on-b"]);
    assert_eq!(partial, None);
    let (values, _) = get(&b, "/api/search/tag/service.name/values");
    assert_eq!(strings(&values["tagValues"]), ["fresh-on-a", "fresh-on-b"]);
    let (names, _) = get(&b, "/api/search/tags");
    assert!(
        strings(&names["tagNames"]).contains(&"http.route".to_owned()),
        "{names}"
    );
    // ... and metrics, each span counted once.
    let (one, sum, range) = counted(&b, "fresh-on-a");
    assert_eq!((one, sum), (12.0, 12.0), "{range}");
    assert!(range.get("status").is_none(), "{range}");
    let (one, sum, _) = counted(&b, "fresh-on-b");
    assert_eq!((one, sum), (6.0, 6.0));
    // Every span was in a head: no block was cut.
    assert_eq!(a.metric("tempo_blocks_flushed_total"), 0);
    assert_eq!(b.metric("tempo_blocks_flushed_total"), 0);
    assert_eq!(
        b.metric("tempo_peer_requests_failed_total{query=\"search\"}"),
        0
    );

    // A stopped: B answers what it holds, partial, naming A.
    assert!(a.terminate().success(), "{}", a.log_text());
    let peer = format!("127.0.0.1:{}", ports[0].0);
    let (services, partial) = searched(&b, "{ }");
    assert_eq!(services, ["fresh-on-b"; 2]);
    let partial = partial.unwrap();
    assert!(partial.contains(&peer), "{partial}");
    let (values, partial) = get(&b, "/api/v2/search/tag/resource.service.name/values");
    assert_eq!(strings(&values["tagValues"]), ["fresh-on-b"]);
    assert!(partial.unwrap().contains(&peer));
    let (names, partial) = get(&b, "/api/v2/search/tags");
    assert!(names["scopes"].as_array().is_some(), "{names}");
    assert!(partial.unwrap().contains(&peer));
    let (one, sum, range) = counted(&b, "fresh-on-b");
    assert_eq!((one, sum), (6.0, 6.0));
    assert_eq!(range["status"], "PARTIAL", "{range}");
    assert!(
        range["message"].as_str().unwrap().contains(&peer),
        "{range}"
    );
    for query in ["search", "tag_names", "tag_values", "metrics"] {
        assert!(
            b.metric(&format!(
                "tempo_peer_requests_failed_total{{query=\"{query}\"}}"
            )) > 0,
            "{query}"
        );
    }
    drop(b);
}
