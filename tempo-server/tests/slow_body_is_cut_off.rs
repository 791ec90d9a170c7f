//! A request body still incomplete when the read timeout (counted from the head) passes is cut
//! off, even when bytes keep trickling in: OTLP/HTTP answers 408 and closes the connection,
//! OTLP/gRPC answers `DEADLINE_EXCEEDED`. Requests sent in time are served as before.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure is a panic"
)]

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::grpc::{EXPORT, RawBytes};
use common::spans::{encode, request, trace_id};
use common::{Server, Setup, http_call, read_until_closed};

#[test]
fn slow_body_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path(),
        Setup {
            http: "read_timeout: 1s".to_owned(),
            grpc: "read_timeout: 1s".to_owned(),
            ..Setup::default()
        },
    );

    // OTLP/HTTP: a body sent a byte every 100ms.
    let mut stream = TcpStream::connect(("127.0.0.1", server.http_port)).unwrap();
    stream
        .write_all(
            b"POST /v1/traces HTTP/1.1\r\nHost: localhost\r\n\
              Content-Type: application/x-protobuf\r\nContent-Length: 1000\r\n\r\n",
        )
        .unwrap();
    let mut trickle = stream.try_clone().unwrap();
    let trickling = std::thread::spawn(move || {
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(100));
            if trickle.write_all(b"\n").is_err() {
                return;
            }
        }
    });
    let started = Instant::now();
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(8));
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{answer}"
    );
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(
        answer.ends_with("\r\n\r\nrequest body not received within 1s\n"),
        "{answer}"
    );
    let closed = closed.expect("connection still open");
    assert!(
        closed < Duration::from_secs(4) && started.elapsed() >= Duration::from_millis(900),
        "closed after {closed:?}"
    );
    drop(stream);
    trickling.join().unwrap();

    // OTLP/gRPC: a request whose message never comes.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = runtime.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(server.otlp_grpc())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = tonic::client::Grpc::new(channel);
        client.ready().await.unwrap();
        let never = futures_util::stream::pending::<bytes::Bytes>();
        client
            .client_streaming(
                tonic::Request::new(never),
                http::uri::PathAndQuery::from_static(EXPORT),
                RawBytes,
            )
            .await
            .unwrap_err()
    });
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
    assert_eq!(status.message(), "request body not received within 1s");

    assert_eq!(
        server.metric("tempo_request_read_timeouts_total{protocol=\"otlp_http\"}"),
        1
    );
    assert_eq!(
        server.metric("tempo_request_read_timeouts_total{protocol=\"otlp_grpc\"}"),
        1
    );

    // Bodies sent in time are stored, over both.
    let body = encode(&request("in-time", &[trace_id(61, 0)], 2));
    let (status, _, answer) = http_call(
        "POST",
        &server.otlp_http(),
        &[("content-type", "application/x-protobuf")],
        Some(&body),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let body = encode(&request("in-time", &[trace_id(62, 0)], 2));
    runtime
        .block_on(common::grpc::export(&server.otlp_grpc(), body, None))
        .unwrap();
    for seed in [61, 62] {
        assert!(server.trace_v1(&hex::encode(trace_id(seed, 0))).is_some());
    }

    // Request latencies record what the clients were answered.
    let (_, _, metrics) = server.get("/metrics", &[]);
    let metrics = String::from_utf8(metrics).unwrap();
    let export = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    for (route, status) in [
        ("/v1/traces", "408"),
        ("/v1/traces", "200"),
        (export, "grpc_4"),
        (export, "200"),
    ] {
        let sample = format!(
            "tempo_request_duration_seconds_count{{route=\"{route}\",method=\"POST\",status_code=\"{status}\"}} 1"
        );
        assert!(metrics.contains(&sample), "no {sample} in:\n{metrics}");
    }
}
