//! A client that sends half a request head, or nothing at all, is disconnected once the header
//! timeout passes, on every listener; a client that sends its head in time is served.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::{Server, Setup, read_until_closed};

#[test]
fn half_header_is_disconnected_after_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path(),
        Setup {
            server: "http_server_read_header_timeout: 1s".to_owned(),
            http: "read_header_timeout: 1s".to_owned(),
            grpc: "connection_timeout: 1s".to_owned(),
            ..Setup::default()
        },
    );
    let closes_in_time = |port: u16, send: &[u8], what: &str| {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.write_all(send).unwrap();
        let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(8));
        let closed = closed.unwrap_or_else(|| panic!("{what}: still open after 8s"));
        assert!(
            closed >= Duration::from_millis(900) && closed < Duration::from_secs(4),
            "{what}: closed after {closed:?}"
        );
        // Closed without an answer, as Go's server does (an HTTP/2 server sends its
        // SETTINGS at once, and nothing else).
        if port != server.grpc_port {
            assert!(
                answer.is_empty(),
                "{what}: {}",
                String::from_utf8_lossy(&answer)
            );
        } else {
            assert_eq!(answer.get(3), Some(&0x4), "{what}: not a SETTINGS frame");
        }
    };

    let half_head = b"GET /ready HTTP/1.1\r\nHost: localhost\r\nUser-Agent: slow";
    closes_in_time(server.api_port, half_head, "API, half a head");
    closes_in_time(server.api_port, b"", "API, nothing sent");
    closes_in_time(
        server.http_port,
        b"POST /v1/traces HTTP/1.1\r\n",
        "OTLP/HTTP, half a head",
    );
    closes_in_time(
        server.grpc_port,
        b"PRI * HTTP/2.0\r\n",
        "OTLP/gRPC, half a preface",
    );
    closes_in_time(server.grpc_port, b"", "OTLP/gRPC, nothing sent");

    // A head sent in time is answered, after a pause shorter than the timeout too.
    let mut stream = TcpStream::connect(("127.0.0.1", server.api_port)).unwrap();
    stream.write_all(b"GET /ready HTTP/1.1\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(400));
    stream
        .write_all(b"Host: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(5));
    assert!(closed.is_some());
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");

    assert_eq!(
        server.metric(
            "tempo_tcp_connections_closed_total{protocol=\"http\",reason=\"header_timeout\"}"
        ),
        2
    );
    assert_eq!(
        server.metric(
            "tempo_tcp_connections_closed_total{protocol=\"otlp_grpc\",reason=\"header_timeout\"}"
        ),
        2
    );
}
