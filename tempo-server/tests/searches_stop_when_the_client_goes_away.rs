//! A search whose client disconnects stops within moments instead of burning CPU until its
//! deadline, and is counted; the server goes on serving.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Server, http_call, spans};

/// A search over every trace that evaluates each one through several structural operators.
const SLOW: &str = "/api/search?limit=1000000&spss=1&q=%7B%20%7D%20%3E%3E%20%7B%20%7D%20%7C%20%7B%20%7D%20%3C%3C%20%7B%20%7D%20%7C%20%7B%20%7D%20~%20%7B%20%7D";

fn metric(server: &Server, name: &str) -> u64 {
    let (_, _, body) = server.get("/metrics", &[]);
    String::from_utf8(body)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0)
}

#[test]
fn a_search_stops_when_its_client_disconnects() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), "");
    // 20,000 traces of 20 spans at a time, until the whole search takes a while on this
    // machine.
    let mut full = Duration::ZERO;
    for round in 0..8u64 {
        for chunk in 0..20u64 {
            let ids: Vec<[u8; 16]> = (0..1000)
                .map(|i| spans::trace_id(round * 20 + chunk, i))
                .collect();
            let body = spans::encode(&spans::request("svc", &ids, 20));
            let (status, _, _) = http_call(
                "POST",
                &server.otlp_http(),
                &[("content-type", "application/x-protobuf")],
                Some(&body),
            );
            assert_eq!(status, 200);
        }
        // How long the whole search takes.
        let started = Instant::now();
        let (status, _, _) = server.get(SLOW, &[]);
        assert_eq!(status, 200);
        full = started.elapsed();
        if full > Duration::from_millis(400) {
            break;
        }
    }
    assert!(
        full > Duration::from_millis(400),
        "the search must take a while for this test to mean anything ({full:?})"
    );
    assert_eq!(metric(&server, "tempo_queries_cancelled_total"), 0);

    // The same search, abandoned by its client after a tenth of that.
    let mut conn = TcpStream::connect(("127.0.0.1", server.api_port)).unwrap();
    write!(
        conn,
        "GET {SLOW} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    std::thread::sleep(full / 10);
    conn.shutdown(std::net::Shutdown::Both).unwrap();
    drop(conn);
    let gone = Instant::now();
    loop {
        if metric(&server, "tempo_queries_cancelled_total") == 1 {
            break;
        }
        assert!(
            gone.elapsed() < full / 2,
            "the abandoned search was not cancelled within half its run time"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!(
        "full search {full:?}; cancelled {:?} after the client left",
        gone.elapsed()
    );

    // Still serving.
    let mut conn = TcpStream::connect(("127.0.0.1", server.api_port)).unwrap();
    write!(
        conn,
        "GET /ready HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
