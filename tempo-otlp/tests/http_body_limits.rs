//! Bodies over the limit are refused with 413 however they arrive: with a Content-Length,
//! chunked without one, or small but decompressing too large.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::io::Write;

use axum::body::Body;
use http::{Request, StatusCode};
use tempo_otlp::{Receiver, ReceiverConfig, http_router};
use tower::ServiceExt;

fn router(limit: usize) -> axum::Router {
    let receiver = Receiver::new(
        tempo_core::Store::in_memory(),
        ReceiverConfig {
            max_http_body_bytes: limit,
            ..ReceiverConfig::default()
        },
    );
    http_router(receiver)
}

async fn send(router: axum::Router, request: Request<Body>) -> (StatusCode, String) {
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let message = <tempo_otlp::RpcStatus as prost::Message>::decode(body)
        .map(|s| s.message)
        .unwrap_or_default();
    (status, message)
}

#[tokio::test]
async fn chunked_body_over_the_limit_is_refused() {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..64).map(|_| Ok(vec![0u8; 1024])).collect();
    let request = Request::post("/v1/traces")
        .header("content-type", "application/x-protobuf")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    let (status, message) = send(router(16 * 1024), request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        message.contains("larger than the limit of 16384 bytes"),
        "{message}"
    );
}

#[tokio::test]
async fn declared_length_over_the_limit_is_refused() {
    let request = Request::post("/v1/traces")
        .header("content-type", "application/x-protobuf")
        .header("content-length", "100000")
        .body(Body::from(vec![0u8; 100_000]))
        .unwrap();
    let (status, _) = send(router(1000), request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn decompressed_size_is_limited_too() {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&vec![0u8; 1 << 20]).unwrap();
    let small = enc.finish().unwrap();
    assert!(small.len() < 16 * 1024);
    let request = Request::post("/v1/traces")
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .body(Body::from(small))
        .unwrap();
    let (status, message) = send(router(16 * 1024), request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(message.contains("decompresses to more than"), "{message}");
}
