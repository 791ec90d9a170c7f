//! A raw OTLP/gRPC client for the tests: sends bytes as they are.
#![allow(
    dead_code,
    clippy::unwrap_used,
    unreachable_pub,
    reason = "shared by the test binaries, each of which uses some of it; tests fail loudly"
)]

use prost::Message;
use tempo_otlp::ExportTraceServiceResponse;

/// The Export method's path.
pub const EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Exports `body` with optional `x-scope-orgid` metadata.
pub async fn export(
    endpoint: &str,
    body: Vec<u8>,
    tenant: Option<&str>,
) -> Result<ExportTraceServiceResponse, tonic::Status> {
    call(endpoint, EXPORT, body, tenant).await
}

/// Calls the unary method at `path` with `body`; the answer is decoded as an OTLP export
/// response (an empty message, such as Jaeger's `PostSpansResponse`, decodes as one too).
pub async fn call(
    endpoint: &str,
    path: &'static str,
    body: Vec<u8>,
    tenant: Option<&str>,
) -> Result<ExportTraceServiceResponse, tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(endpoint.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.unwrap();
    let mut request = tonic::Request::new(bytes::Bytes::from(body));
    if let Some(t) = tenant {
        request
            .metadata_mut()
            .insert("x-scope-orgid", t.parse().unwrap());
    }
    client
        .unary(
            request,
            http::uri::PathAndQuery::from_static(path),
            RawBytes,
        )
        .await
        .map(tonic::Response::into_inner)
}

/// Sends raw bytes, decodes the response with prost.
#[derive(Clone, Copy)]
pub struct RawBytes;

impl tonic::codec::Codec for RawBytes {
    type Encode = bytes::Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = RawBytes;
    type Decoder = RawBytes;
    fn encoder(&mut self) -> RawBytes {
        RawBytes
    }
    fn decoder(&mut self) -> RawBytes {
        RawBytes
    }
}

impl tonic::codec::Encoder for RawBytes {
    type Item = bytes::Bytes;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: bytes::Bytes,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawBytes {
    type Item = ExportTraceServiceResponse;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Self::Item>, tonic::Status> {
        ExportTraceServiceResponse::decode(src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}
