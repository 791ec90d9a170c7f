//! A keep-alive connection with no request in flight is closed once the idle timeout passes
//! (HTTP/2 gRPC connections get a GOAWAY, and the client reconnects for its next export); a
//! connection used more often than that stays open.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure is a panic"
)]

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::spans::{encode, request, trace_id};
use common::{Server, Setup, read_until_closed};

const READY: &[u8] = b"GET /ready HTTP/1.1\r\nHost: localhost\r\n\r\n";
const ANSWER: &str = "HTTP/1.1 200 OK\r\n";

/// Sends `/ready` on `stream` and reads its whole answer; returns when it was sent.
fn ask_ready(stream: &mut TcpStream) -> Instant {
    stream.write_all(READY).unwrap();
    let sent = Instant::now();
    // The answer, short and sent in one piece; the connection stays open.
    let (answer, closed) = read_until_closed(stream, Duration::from_millis(300));
    assert_eq!(closed, None, "closed while in use");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with(ANSWER) && answer.ends_with("ready\n"),
        "{answer}"
    );
    sent
}

#[test]
fn idle_keep_alive_connection_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path(),
        Setup {
            server: "http_server_idle_timeout: 1500ms".to_owned(),
            http: "idle_timeout: 1500ms".to_owned(),
            grpc: "keepalive:\n  server_parameters:\n    max_connection_idle: 1500ms".to_owned(),
            ..Setup::default()
        },
    );

    // Used every 0.7s (answer read included), the connection stays open past the timeout.
    let mut stream = TcpStream::connect(("127.0.0.1", server.api_port)).unwrap();
    let mut idle_from = ask_ready(&mut stream);
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(400));
        idle_from = ask_ready(&mut stream);
    }
    // Then left idle, it is closed.
    let (rest, closed) = read_until_closed(&mut stream, Duration::from_secs(8));
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    assert!(closed.is_some(), "idle connection still open after 8s");
    let idle = idle_from.elapsed();
    assert!(
        idle >= Duration::from_millis(1400) && idle < Duration::from_secs(5),
        "closed after {idle:?} idle"
    );

    // The same on OTLP/HTTP.
    let mut stream = TcpStream::connect(("127.0.0.1", server.http_port)).unwrap();
    stream
        .write_all(b"GET /v1/traces HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(8));
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 405"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let closed = closed.expect("idle OTLP/HTTP connection still open after 8s");
    assert!(
        closed >= Duration::from_millis(1000),
        "closed after {closed:?}"
    );

    // OTLP/gRPC: a channel that exported once is left idle; the server closes its
    // connection, and the channel's next export connects again.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(server.otlp_grpc())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let export = |seed: u64| {
            let mut client = tonic::client::Grpc::new(channel.clone());
            async move {
                client.ready().await.unwrap();
                let body = bytes::Bytes::from(encode(&request("idle", &[trace_id(seed, 0)], 1)));
                client
                    .unary(
                        tonic::Request::new(body),
                        http::uri::PathAndQuery::from_static(common::grpc::EXPORT),
                        common::grpc::RawBytes,
                    )
                    .await
                    .unwrap();
            }
        };
        export(90).await;
        tokio::time::sleep(Duration::from_millis(3000)).await;
        export(91).await;
    });
    assert!(
        server.metric("tempo_tcp_connections_closed_total{protocol=\"otlp_grpc\",reason=\"idle\"}")
            >= 1
    );
    for seed in [90, 91] {
        assert!(server.trace_v1(&hex::encode(trace_id(seed, 0))).is_some());
    }
    assert!(
        server.metric("tempo_tcp_connections_closed_total{protocol=\"http\",reason=\"idle\"}") >= 1
    );
    assert!(
        server.metric("tempo_tcp_connections_closed_total{protocol=\"otlp_http\",reason=\"idle\"}")
            >= 1
    );
}
