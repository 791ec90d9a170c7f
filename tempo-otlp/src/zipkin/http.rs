//! http: Zipkin's collector endpoints, `POST /api/v2/spans` and `POST /api/v1/spans`.
//!
//! v2 takes JSON (`application/json`, also when no `Content-Type` is given, as Zipkin does)
//! and protobuf (`application/x-protobuf`); v1 takes JSON (v1 Thrift is refused with 415).
//! Bodies may be gzip- or deflate-compressed (`Content-Encoding`). Success is `202 Accepted`
//! with an empty body, as Zipkin answers; errors are plain text.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::{HeaderMap, StatusCode};

use super::json::{ZipkinError, decode_json_v1, decode_json_v2};
use super::map::spans_to_resource_spans;
use super::model::Span;
use super::proto::decode_proto;
use crate::http::{Failure, media_type, plain_response, read_body, tenant};
use crate::receiver::{Receiver, Transport};
use crate::status::http_status;

/// The path of Zipkin's v2 span endpoint.
pub const ZIPKIN_V2_PATH: &str = "/api/v2/spans";
/// The path of Zipkin's v1 span endpoint.
pub const ZIPKIN_V1_PATH: &str = "/api/v1/spans";

/// An axum router serving Zipkin's `POST /api/v2/spans` and `POST /api/v1/spans`.
pub fn router(receiver: Receiver) -> Router {
    Router::new()
        .route(ZIPKIN_V2_PATH, post(post_v2))
        .route(ZIPKIN_V1_PATH, post(post_v1))
        .with_state(receiver)
}

type Decode = fn(&[u8]) -> Result<Vec<Span>, ZipkinError>;

async fn post_v2(State(receiver): State<Receiver>, headers: HeaderMap, body: Body) -> Response {
    let chosen: Result<(Transport, Decode), Failure> = match media_type(&headers).as_deref() {
        None | Some("application/json" | "") => Ok((Transport::ZipkinJson, decode_json_v2)),
        Some("application/x-protobuf" | "application/protobuf") => {
            Ok((Transport::ZipkinProtobuf, decode_proto))
        }
        Some(other) => Err(Failure::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "unsupported Content-Type {other:?}: send application/json or \
                 application/x-protobuf"
            ),
        )),
    };
    respond(&receiver, &headers, body, chosen, Transport::ZipkinJson).await
}

async fn post_v1(State(receiver): State<Receiver>, headers: HeaderMap, body: Body) -> Response {
    let chosen: Result<(Transport, Decode), Failure> = match media_type(&headers).as_deref() {
        None | Some("application/json" | "") => Ok((Transport::ZipkinV1Json, decode_json_v1)),
        Some(other) => Err(Failure::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "unsupported Content-Type {other:?}: Zipkin v1 is accepted as application/json only"
            ),
        )),
    };
    respond(&receiver, &headers, body, chosen, Transport::ZipkinV1Json).await
}

async fn respond(
    receiver: &Receiver,
    headers: &HeaderMap,
    body: Body,
    chosen: Result<(Transport, Decode), Failure>,
    fallback: Transport,
) -> Response {
    let result = match chosen {
        Ok((transport, decode)) => handle(receiver, headers, body, transport, decode).await,
        Err(f) => {
            receiver.observe_failure(None, fallback, 0, &f.message);
            Err(f)
        }
    };
    match result {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(f) => {
            if f.status.is_server_error() {
                tracing::error!(status = %f.status, error = %f.message, "Zipkin request failed");
            } else {
                tracing::debug!(status = %f.status, error = %f.message, "Zipkin request rejected");
            }
            plain_response(f)
        }
    }
}

async fn handle(
    receiver: &Receiver,
    headers: &HeaderMap,
    body: Body,
    transport: Transport,
    decode: Decode,
) -> Result<(), Failure> {
    let tenant = tenant(receiver, headers)
        .inspect_err(|f| receiver.observe_failure(None, transport, 0, &f.message))?;
    let mut size = 0;
    let fail = |size: usize, f: Failure| {
        receiver.observe_failure(Some(&tenant), transport, size, &f.message);
        f
    };
    let body = match read_body(receiver, headers, body, &mut size).await {
        Ok(b) => b,
        Err(f) => return Err(fail(size, f)),
    };
    let spans = decode(&body)
        .map_err(|e| fail(size, Failure::new(StatusCode::BAD_REQUEST, e.to_string())))?;
    receiver
        .ingest_mapped(&tenant, transport, size, spans_to_resource_spans(spans))
        .await
        .map(drop)
        .map_err(|e| Failure::new(http_status(e.kind()), e.to_string()))
}
