//! grpc: OTLP/gRPC's `TraceService/Export`.
//!
//! The service is written against tonic's server machinery directly, with a codec that hands
//! the request's bytes to [`Batch::decode`]: the spans are decoded once, into the store's own
//! model, and the same bytes go to the write-ahead log.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use prost::Message;
use tempo_core::{Batch, ErrorKind, IngestError};
use tonic::Status;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::{Grpc, NamedService, UnaryService};

use crate::receiver::{IngestEvent, Receiver, TenantError, Transport};
use crate::response::ExportTraceServiceResponse;
use crate::status::grpc_code;

/// The fully qualified gRPC service name.
pub const SERVICE_NAME: &str = "opentelemetry.proto.collector.trace.v1.TraceService";
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// The OTLP/gRPC trace service, ready for `tonic::transport::Server::add_service`.
#[derive(Debug, Clone)]
pub struct TraceServiceServer {
    receiver: Receiver,
}

impl TraceServiceServer {
    /// A service storing into the receiver's store.
    pub fn new(receiver: Receiver) -> TraceServiceServer {
        TraceServiceServer { receiver }
    }
}

impl NamedService for TraceServiceServer {
    const NAME: &'static str = SERVICE_NAME;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<B> tower::Service<http::Request<B>> for TraceServiceServer
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
        if req.uri().path() != EXPORT_PATH {
            return Box::pin(
                async move { Ok(Status::unimplemented("unknown method").into_http()) },
            );
        }
        Box::pin(async move {
            // tonic's decoder reports an over-long message as OUT_OF_RANGE when it is sent
            // uncompressed and RESOURCE_EXHAUSTED when it decompresses too large: keep the
            // limit ours, one byte above the configured size, and report both the same way.
            let limit = receiver.config.max_grpc_message_bytes;
            let mut grpc = Grpc::new(RawCodec::<ExportTraceServiceResponse>::new())
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .send_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Zstd)
                .max_decoding_message_size(limit)
                .max_encoding_message_size(usize::MAX);
            let mut response = grpc
                .unary(
                    Export {
                        receiver: receiver.clone(),
                    },
                    req,
                )
                .await;
            let status = response.headers().get("grpc-status").cloned();
            if status.as_ref().is_some_and(|s| s == "11" || s == "8") {
                response
                    .headers_mut()
                    .insert("grpc-status", http::HeaderValue::from_static("8"));
                receiver.observer.observe(&IngestEvent {
                    tenant: None,
                    transport: Transport::Grpc,
                    bytes: 0,
                    accepted_spans: 0,
                    rejected_spans: 0,
                    error: Some("message larger than the limit"),
                });
            }
            Ok(response)
        })
    }
}

struct Export {
    receiver: Receiver,
}

impl UnaryService<Bytes> for Export {
    type Response = ExportTraceServiceResponse;
    type Future = BoxFuture<Result<tonic::Response<ExportTraceServiceResponse>, Status>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let receiver = self.receiver.clone();
        Box::pin(async move {
            let org_id = request
                .metadata()
                .get("x-scope-orgid")
                .map(|v| v.as_bytes().to_vec());
            let body = request.into_inner();
            let size = body.len();
            let observe = |tenant: Option<&str>, accepted, rejected, error: Option<&str>| {
                receiver.observer.observe(&IngestEvent {
                    tenant,
                    transport: Transport::Grpc,
                    bytes: size,
                    accepted_spans: accepted,
                    rejected_spans: rejected,
                    error,
                });
            };
            let tenant = match receiver.tenant(org_id.as_deref()) {
                Ok(t) => t,
                Err(TenantError::Missing) => {
                    observe(None, 0, 0, Some("no org id"));
                    return Err(Status::unauthenticated("no org id"));
                }
                Err(TenantError::Invalid(msg)) => {
                    observe(None, 0, 0, Some(&msg));
                    return Err(Status::invalid_argument(msg));
                }
            };
            let batch = match Batch::decode(body) {
                Ok(b) => b,
                Err(e) => {
                    let msg = e.to_string();
                    tracing::debug!(tenant, error = %msg, "rejected OTLP/gRPC request");
                    observe(Some(&tenant), 0, 0, Some(&msg));
                    return Err(Status::invalid_argument(msg));
                }
            };
            match receiver.store.ingest_async(&tenant, batch).await {
                Ok(receipt) => {
                    let rejected = receipt.rejected_spans;
                    observe(Some(&tenant), receipt.accepted_spans, rejected, None);
                    Ok(tonic::Response::new(ExportTraceServiceResponse::new(
                        rejected,
                        receipt.rejection_message,
                    )))
                }
                Err(e) => {
                    let msg = e.to_string();
                    observe(Some(&tenant), 0, 0, Some(&msg));
                    Err(store_error_status(&e, msg))
                }
            }
        })
    }
}

fn store_error_status(err: &IngestError, msg: String) -> Status {
    match err.kind() {
        // Back-pressure, counted in the store's stats: the client retries.
        ErrorKind::Overloaded => {
            tracing::debug!(error = %msg, "OTLP/gRPC request refused while blocks are cut");
        }
        ErrorKind::InvalidInput => {}
        _ => tracing::error!(error = %msg, "storing OTLP/gRPC request failed"),
    }
    Status::new(grpc_code(err.kind()), msg)
}

/// Passes the message bytes through undecoded; encodes responses (`T`) with prost.
pub(crate) struct RawCodec<T>(std::marker::PhantomData<fn() -> T>);

impl<T> RawCodec<T> {
    pub(crate) fn new() -> RawCodec<T> {
        RawCodec(std::marker::PhantomData)
    }
}

impl<T: Message + Send + 'static> Codec for RawCodec<T> {
    type Encode = T;
    type Decode = Bytes;
    type Encoder = RawCodec<T>;
    type Decoder = RawCodec<T>;

    fn encoder(&mut self) -> RawCodec<T> {
        RawCodec::new()
    }

    fn decoder(&mut self) -> RawCodec<T> {
        RawCodec::new()
    }
}

impl<T: Message> Encoder for RawCodec<T> {
    type Item = T;
    type Error = Status;

    fn encode(&mut self, item: T, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.reserve(item.encoded_len());
        item.encode(dst)
            .map_err(|e| Status::internal(format!("encoding the response: {e}")))
    }
}

impl<T> Decoder for RawCodec<T> {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        let len = src.remaining();
        Ok(Some(src.copy_to_bytes(len)))
    }
}
