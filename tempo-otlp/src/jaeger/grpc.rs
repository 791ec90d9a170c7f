//! grpc: Jaeger's gRPC collector, `jaeger.api_v2.CollectorService/PostSpans`.
//!
//! What Jaeger agents and the OpenTelemetry Collector's Jaeger exporter send to port 14250.
//! Messages up to the receiver's gRPC limit, gzip or zstd compressed; a malformed request is
//! `INVALID_ARGUMENT`, a missing tenant `UNAUTHENTICATED`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tonic::Status;
use tonic::codec::CompressionEncoding;
use tonic::server::{Grpc, NamedService, UnaryService};

use super::map::batch_to_resource_spans;
use super::proto::{PostSpansResponse, decode_post_spans};
use crate::grpc::RawCodec;
use crate::receiver::{Receiver, TenantError, Transport};
use crate::status::grpc_code;

/// The fully qualified name of Jaeger's collector service.
pub const JAEGER_SERVICE_NAME: &str = "jaeger.api_v2.CollectorService";
/// The path of its `PostSpans` method.
pub const POST_SPANS_PATH: &str = "/jaeger.api_v2.CollectorService/PostSpans";

/// Jaeger's gRPC collector service, ready for `tonic::transport::Server::add_service` or an
/// axum fallback.
#[derive(Debug, Clone)]
pub struct CollectorServiceServer {
    receiver: Receiver,
}

impl CollectorServiceServer {
    /// A service storing into the receiver's store.
    pub fn new(receiver: Receiver) -> CollectorServiceServer {
        CollectorServiceServer { receiver }
    }
}

impl NamedService for CollectorServiceServer {
    const NAME: &'static str = JAEGER_SERVICE_NAME;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<B> tower::Service<http::Request<B>> for CollectorServiceServer
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let receiver = self.receiver.clone();
        if req.uri().path() != POST_SPANS_PATH {
            return Box::pin(
                async move { Ok(Status::unimplemented("unknown method").into_http()) },
            );
        }
        Box::pin(async move {
            let limit = receiver.config.max_grpc_message_bytes;
            let mut grpc = Grpc::new(RawCodec::<PostSpansResponse>::new())
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .send_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Zstd)
                .max_decoding_message_size(limit)
                .max_encoding_message_size(usize::MAX);
            let mut response = grpc
                .unary(
                    PostSpans {
                        receiver: receiver.clone(),
                    },
                    req,
                )
                .await;
            // Too large, whether sent so or after decompression: RESOURCE_EXHAUSTED.
            let status = response.headers().get("grpc-status").cloned();
            if status.as_ref().is_some_and(|s| s == "11" || s == "8") {
                response
                    .headers_mut()
                    .insert("grpc-status", http::HeaderValue::from_static("8"));
                receiver.observe_failure(
                    None,
                    Transport::JaegerGrpc,
                    0,
                    "message larger than the limit",
                );
            }
            Ok(response)
        })
    }
}

struct PostSpans {
    receiver: Receiver,
}

impl UnaryService<Bytes> for PostSpans {
    type Response = PostSpansResponse;
    type Future = BoxFuture<Result<tonic::Response<PostSpansResponse>, Status>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let receiver = self.receiver.clone();
        Box::pin(async move {
            let transport = Transport::JaegerGrpc;
            let org_id = request
                .metadata()
                .get("x-scope-orgid")
                .map(|v| v.as_bytes().to_vec());
            let body = request.into_inner();
            let size = body.len();
            let tenant = match receiver.tenant(org_id.as_deref()) {
                Ok(t) => t,
                Err(TenantError::Missing) => {
                    receiver.observe_failure(None, transport, size, "no org id");
                    return Err(Status::unauthenticated("no org id"));
                }
                Err(TenantError::Invalid(msg)) => {
                    receiver.observe_failure(None, transport, size, &msg);
                    return Err(Status::invalid_argument(msg));
                }
            };
            let batch = match decode_post_spans(&body) {
                Ok(b) => b,
                Err(e) => {
                    let msg = e.to_string();
                    tracing::debug!(tenant, error = %msg, "rejected Jaeger gRPC request");
                    receiver.observe_failure(Some(&tenant), transport, size, &msg);
                    return Err(Status::invalid_argument(msg));
                }
            };
            match receiver
                .ingest_mapped(&tenant, transport, size, batch_to_resource_spans(batch))
                .await
            {
                Ok(_) => Ok(tonic::Response::new(PostSpansResponse {})),
                Err(e) => {
                    let msg = e.to_string();
                    if matches!(e.kind(), tempo_core::ErrorKind::Internal) {
                        tracing::error!(error = %msg, "storing a Jaeger gRPC request failed");
                    }
                    Err(Status::new(grpc_code(e.kind()), msg))
                }
            }
        })
    }
}
