//! At a listener's connection cap, an idle connection is closed to admit a new one; when
//! every connection is busy, a new one is refused with a clear answer (HTTP: 503 and a
//! plain-text message; gRPC: a GOAWAY that clients see as `UNAVAILABLE`), counted, and logged once however many follow. The
//! process starts by raising its open-files soft limit to the hard limit, and says so.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::grpc::{EXPORT, RawBytes};
use common::spans::{encode, request, trace_id};
use common::{Server, Setup, http_call, read_until_closed};

const REFUSAL: &str =
    "too many open connections on this port (limit 2), all of them busy; retry later\n";

/// A request whose body never comes: its connection stays busy until the read timeout.
fn busy_connection(port: u16) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .write_all(
            b"POST /v1/traces HTTP/1.1\r\nHost: localhost\r\n\
              Content-Type: application/x-protobuf\r\nContent-Length: 100\r\n\r\n",
        )
        .unwrap();
    stream
}

#[test]
fn connections_past_the_cap_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path(),
        Setup {
            server: "http_listen_conn_limit: 2".to_owned(),
            http: "conn_limit: 2\nread_timeout: 2s".to_owned(),
            grpc: "conn_limit: 1\nread_timeout: 2s".to_owned(),
            nofile: Some((512, 2048)),
            ..Setup::default()
        },
    );
    let log = server.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("open files limit"))
        .unwrap_or_else(|| panic!("no open files limit in the log:\n{log}"));
    assert!(
        line.contains("raised") && line.contains("soft=2048 hard=2048 soft_at_start=512"),
        "{line}"
    );
    for (protocol, limit) in [("http", 2), ("otlp_http", 2), ("otlp_grpc", 1)] {
        assert_eq!(
            server.metric(&format!(
                "tempo_tcp_connections_limit{{protocol=\"{protocol}\"}}"
            )),
            limit
        );
    }

    // Idle connections make room: the API answers past its cap.
    let idle: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(("127.0.0.1", server.api_port)).unwrap())
        .collect();
    let (status, _, _) = server.get("/ready", &[]);
    assert_eq!(status, 200);
    assert!(server.metric("tempo_tcp_connections_evicted_total{protocol=\"http\"}") >= 2);
    drop(idle);

    // Busy connections do not: past the cap, OTLP/HTTP refuses.
    let busy = [
        busy_connection(server.http_port),
        busy_connection(server.http_port),
    ];
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..20 {
        let mut stream = TcpStream::connect(("127.0.0.1", server.http_port)).unwrap();
        let _ = stream.write_all(b"POST /v1/traces HTTP/1.1\r\nHost: localhost\r\n\r\n");
        let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(5));
        assert!(closed.is_some(), "refused connection left open");
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{answer:?} evicted {} refused {} open {}",
            server.metric("tempo_tcp_connections_evicted_total{protocol=\"otlp_http\"}"),
            server.metric("tempo_tcp_connections_refused_total{protocol=\"otlp_http\"}"),
            server.metric("tempo_tcp_connections{protocol=\"otlp_http\"}"),
        );
        assert!(answer.contains("content-type: text/plain"), "{answer}");
        assert!(answer.ends_with(&format!("\r\n\r\n{REFUSAL}")), "{answer}");
    }
    assert_eq!(
        server.metric("tempo_tcp_connections_refused_total{protocol=\"otlp_http\"}"),
        20
    );

    // gRPC: one stream keeps the only connection busy; another client is turned away.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let endpoint = server.otlp_grpc();
    let holder = runtime.spawn(async move {
        let channel = tonic::transport::Endpoint::from_shared(endpoint)
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = tonic::client::Grpc::new(channel);
        client.ready().await.unwrap();
        client
            .client_streaming(
                tonic::Request::new(futures_util::stream::pending::<bytes::Bytes>()),
                http::uri::PathAndQuery::from_static(EXPORT),
                RawBytes,
            )
            .await
    });
    std::thread::sleep(Duration::from_millis(500));
    let refused = runtime.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(server.otlp_grpc())
            .unwrap()
            .connect()
            .await
            .map_err(|e| format!("connect: {e:?}"))?;
        let mut client = tonic::client::Grpc::new(channel);
        client.ready().await.map_err(|e| format!("ready: {e:?}"))?;
        client
            .unary(
                tonic::Request::new(bytes::Bytes::from(encode(&request(
                    "refused",
                    &[trace_id(51, 0)],
                    1,
                )))),
                http::uri::PathAndQuery::from_static(EXPORT),
                RawBytes,
            )
            .await
            .map_err(|e| format!("export: {e:?}"))
    });
    // A GOAWAY with REFUSED_STREAM and the message: UNAVAILABLE, which exporters retry.
    let refused = refused.unwrap_err();
    assert!(refused.contains("Unavailable"), "{refused}");
    assert!(
        refused.contains("too many open connections on this port (limit 1)"),
        "{refused}"
    );
    assert!(server.metric("tempo_tcp_connections_refused_total{protocol=\"otlp_grpc\"}") >= 1);

    // Once the slow requests are cut off, clients are served again.
    let started = Instant::now();
    let held = runtime.block_on(holder).unwrap();
    assert_eq!(held.unwrap_err().code(), tonic::Code::DeadlineExceeded);
    runtime
        .block_on(common::grpc::export(
            &server.otlp_grpc(),
            encode(&request("after", &[trace_id(52, 0)], 1)),
            None,
        ))
        .unwrap();
    for mut stream in busy {
        let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(5));
        assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 408"));
    }
    let (status, _, answer) = http_call(
        "POST",
        &server.otlp_http(),
        &[("content-type", "application/x-protobuf")],
        Some(&encode(&request("after", &[trace_id(53, 0)], 1))),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    assert!(started.elapsed() < Duration::from_secs(5));

    // Twenty refusals, one line in the log.
    let log = server.log_text();
    let lines = log
        .lines()
        .filter(|l| l.contains("refusing new connections") && l.contains("OTLP/HTTP"))
        .count();
    assert_eq!(lines, 1, "{log}");
}
