//! With connection caps set above what the open-files limit allows (the server warns at
//! start), idle connections exhaust the descriptors: accepts fail with `EMFILE`. The listener
//! closes idle connections to free descriptors, keeps answering, logs the failures a few times
//! only, and never stops: another listener, starved meanwhile, accepts again once descriptors
//! are back.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::spans::{encode, request, trace_id};
use common::{Server, Setup, http_call};

#[test]
fn accept_errors_back_off_and_never_stop_the_listener() {
    common::raise_own_open_files_limit(1024);
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_with(
        dir.path(),
        Setup {
            server: "http_listen_conn_limit: 5000".to_owned(),
            http: "conn_limit: 5000".to_owned(),
            grpc: "conn_limit: 5000".to_owned(),
            nofile: Some((128, 128)),
            ..Setup::default()
        },
    );
    let log = server.log_text();
    assert!(
        log.contains(
            "the connection limits add up to more file descriptors than the open files limit"
        ),
        "{log}"
    );

    // Far more idle connections than descriptors.
    let flood: Vec<TcpStream> = (0..400)
        .map(|_| TcpStream::connect(("127.0.0.1", server.api_port)).unwrap())
        .collect();
    let started = Instant::now();
    let (status, _, _) = server.get("/ready", &[]);
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "/ready took {:?}",
        started.elapsed()
    );
    assert!(server.metric("tempo_tcp_accept_errors_total{protocol=\"http\"}") > 0);
    assert!(server.metric("tempo_tcp_connections_evicted_total{protocol=\"http\"}") > 0);

    // The flood goes: OTLP/HTTP, whose accepts failed meanwhile, serves again.
    drop(flood);
    let body = encode(&request("after-emfile", &[trace_id(41, 0)], 2));
    let (status, _, answer) = http_call(
        "POST",
        &server.otlp_http(),
        &[("content-type", "application/x-protobuf")],
        Some(&body),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    assert!(server.trace_v1(&hex::encode(trace_id(41, 0))).is_some());

    // Many failed accepts, few lines.
    let log = server.log_text();
    let lines = log
        .lines()
        .filter(|l| l.contains("accepting a connection failed"))
        .count();
    assert!((1..=4).contains(&lines), "{lines} lines:\n{log}");
    assert!(server.is_running());
}
