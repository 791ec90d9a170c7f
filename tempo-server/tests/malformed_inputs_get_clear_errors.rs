//! Bad OTLP requests get their status code and a message; the server keeps serving.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use std::io::Write;

use common::grpc::RawBytes;
use common::spans::{encode, request, trace_id};
use common::{Server, http_call};
use prost::Message;
use tempo_otlp::{ExportTraceServiceResponse, RpcStatus};

const PROTO: (&str, &str) = ("content-type", "application/x-protobuf");
const JSON: (&str, &str) = ("content-type", "application/json");

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn assert_serving(server: &Server, seed: u64) {
    let id = trace_id(seed, 0);
    let body = encode(&request("after-error", &[id], 2));
    let (status, _, _) = http_call("POST", &server.otlp_http(), &[PROTO], Some(&body));
    assert_eq!(status, 200);
    assert!(server.trace_v1(&hex::encode(id)).is_some());
}

fn status_message(body: &[u8]) -> String {
    RpcStatus::decode(body).unwrap().message
}

#[test]
fn every_malformed_http_request_gets_its_status_and_message() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), "");
    let url = server.otlp_http();

    // Random bytes as protobuf.
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let (status, ct, body) = http_call("POST", &url, &[PROTO], Some(&garbage));
    assert_eq!(status, 400);
    assert_eq!(ct, "application/x-protobuf");
    assert!(
        status_message(&body).contains("malformed OTLP protobuf"),
        "{}",
        status_message(&body)
    );
    assert_serving(&server, 1);

    // Truncated gzip.
    let full = gzip(&encode(&request("gz", &[trace_id(2, 0)], 3)));
    let (status, _, body) = http_call(
        "POST",
        &url,
        &[PROTO, ("content-encoding", "gzip")],
        Some(&full[..full.len() / 2]),
    );
    assert_eq!(status, 400);
    assert!(
        status_message(&body).contains("malformed gzip body"),
        "{}",
        status_message(&body)
    );

    // Wrong content type.
    let (status, _, body) = http_call("POST", &url, &[("content-type", "text/plain")], Some(b"hi"));
    assert_eq!(status, 415);
    assert!(String::from_utf8_lossy(&body).contains("unsupported Content-Type \"text/plain\""));
    let (status, _, _) = http_call("POST", &url, &[], Some(b"hi"));
    assert_eq!(status, 415);

    // Unknown content encoding.
    let (status, _, body) = http_call(
        "POST",
        &url,
        &[PROTO, ("content-encoding", "br")],
        Some(b"x"),
    );
    assert_eq!(status, 415);
    assert!(status_message(&body).contains("unsupported Content-Encoding"));

    // Empty bodies.
    let (status, _, body) = http_call("POST", &url, &[PROTO], Some(b""));
    assert_eq!(status, 400);
    assert_eq!(status_message(&body), "request body is empty");
    let (status, ct, body) = http_call("POST", &url, &[JSON], Some(b""));
    assert_eq!(status, 400);
    assert_eq!(ct, "application/json");
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["message"], "request body is empty");
    assert_eq!(json["code"], 3);

    // Malformed JSON names the place.
    let (status, _, body) = http_call(
        "POST",
        &url,
        &[JSON],
        Some(br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"BOGUS"}]}]}]}"#),
    );
    assert_eq!(status, 400);
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        json["message"]
            .as_str()
            .unwrap()
            .contains("resourceSpans[0].scopeSpans[0].spans[0].kind"),
        "{json}"
    );

    // Oversized: refused from its declared length, before the body is read. (A body over the
    // limit without a length is covered by tempo-otlp's own tests.)
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.http_port)).unwrap();
    stream
        .write_all(
            format!(
                "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                17 << 20
            )
            .as_bytes(),
        )
        .unwrap();
    let mut response = Vec::new();
    std::io::Read::read_to_end(&mut stream, &mut response).unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("larger than the limit"), "{response}");
    // A gzip bomb: small on the wire, too large once decompressed.
    let bomb = gzip(&vec![0u8; 20 << 20]);
    let (status, _, body) = http_call(
        "POST",
        &url,
        &[PROTO, ("content-encoding", "gzip")],
        Some(&bomb),
    );
    assert_eq!(status, 413);
    assert!(status_message(&body).contains("decompresses to more than the limit"));

    // Invalid IDs: those spans dropped and reported, the rest stored.
    let good = trace_id(3, 0);
    let mut req = request("ids", &[good, [0; 16]], 2);
    req.resource_spans[0].scope_spans[0].spans[0].span_id = vec![1, 2, 3];
    let (status, _, body) = http_call("POST", &url, &[PROTO], Some(&encode(&req)));
    assert_eq!(status, 200);
    let resp = ExportTraceServiceResponse::decode(&body[..]).unwrap();
    let partial = resp.partial_success.unwrap();
    assert_eq!(partial.rejected_spans, 3);
    assert!(
        partial
            .error_message
            .contains("span ID must be 8 bytes, got 3"),
        "{}",
        partial.error_message
    );
    assert!(
        partial
            .error_message
            .contains("trace ID must not be all zeros"),
        "{}",
        partial.error_message
    );
    let trace = server.trace_v1(&hex::encode(good)).unwrap();
    assert_eq!(common::spans_of(&trace).len(), 1);

    // Wrong method and unknown path.
    let (status, _, _) = http_call("GET", &url, &[], None);
    assert_eq!(status, 405);

    assert_serving(&server, 4);
    let (_, _, metrics) = server.get("/metrics", &[]);
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("tempo_discarded_spans_total{tenant=\"single-tenant\"} 3"),
        "{metrics}"
    );
}

#[test]
fn grpc_errors_map_to_grpc_codes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), "");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(server.otlp_grpc())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client =
            tonic::client::Grpc::new(channel.clone()).max_encoding_message_size(64 << 20);
        let path = http::uri::PathAndQuery::from_static(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        );
        client.ready().await.unwrap();
        // Garbage.
        let garbage = bytes::Bytes::from(vec![0xffu8; 64]);
        let err = client
            .unary::<_, ExportTraceServiceResponse, _>(
                tonic::Request::new(garbage),
                path.clone(),
                RawBytes,
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
        assert!(err.message().contains("malformed OTLP protobuf"));
        // Too large.
        client.ready().await.unwrap();
        let big = bytes::Bytes::from(vec![0u8; 17 << 20]);
        let err = client
            .unary::<_, ExportTraceServiceResponse, _>(
                tonic::Request::new(big),
                path.clone(),
                RawBytes,
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
        // Still serving, with partial success for bad IDs.
        client.ready().await.unwrap();
        let mut req = request("grpc", &[trace_id(5, 0)], 2);
        req.resource_spans[0].scope_spans[0].spans[1].trace_id = vec![9; 4];
        let resp = client
            .unary::<_, ExportTraceServiceResponse, _>(
                tonic::Request::new(bytes::Bytes::from(encode(&req))),
                path.clone(),
                RawBytes,
            )
            .await
            .unwrap()
            .into_inner();
        assert_eq!(resp.partial_success.unwrap().rejected_spans, 1);
    });
    assert!(server.trace_v1(&hex::encode(trace_id(5, 0))).is_some());
}
