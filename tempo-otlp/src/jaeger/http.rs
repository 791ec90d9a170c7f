//! http: Jaeger's collector endpoint, `POST /api/traces`.
//!
//! The body is one `jaeger.thrift` `Batch` in Thrift's binary protocol
//! (`Content-Type: application/x-thrift` or `application/vnd.apache.thrift.binary`), plain or
//! gzip- or deflate-compressed, as Jaeger clients' HTTP senders post it. Success is
//! `202 Accepted` with an empty body, as Jaeger's collector answers; errors are plain text.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::{HeaderMap, StatusCode};

use super::map::batch_to_resource_spans;
use super::thrift::decode_thrift_batch;
use crate::http::{Failure, media_type, plain_response, read_body, tenant};
use crate::receiver::{Receiver, Transport};
use crate::status::http_status;
use crate::thrift::ThriftProtocol;

/// The path of Jaeger's Thrift-over-HTTP collector endpoint.
pub const JAEGER_TRACES_PATH: &str = "/api/traces";

/// An axum router serving Jaeger's `POST /api/traces` (Thrift, binary protocol).
pub fn thrift_http_router(receiver: Receiver) -> Router {
    Router::new()
        .route(JAEGER_TRACES_PATH, post(post_traces))
        .with_state(receiver)
}

async fn post_traces(State(receiver): State<Receiver>, headers: HeaderMap, body: Body) -> Response {
    match handle(&receiver, &headers, body).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(f) => {
            if f.status.is_server_error() {
                tracing::error!(status = %f.status, error = %f.message, "Jaeger Thrift/HTTP request failed");
            } else {
                tracing::debug!(status = %f.status, error = %f.message, "Jaeger Thrift/HTTP request rejected");
            }
            plain_response(f)
        }
    }
}

async fn handle(receiver: &Receiver, headers: &HeaderMap, body: Body) -> Result<(), Failure> {
    let transport = Transport::JaegerThriftHttp;
    let fail = |tenant: Option<&str>, size: usize, f: Failure| {
        receiver.observe_failure(tenant, transport, size, &f.message);
        f
    };
    match media_type(headers).as_deref() {
        Some("application/x-thrift" | "application/vnd.apache.thrift.binary") => {}
        other => {
            return Err(fail(
                None,
                0,
                Failure::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!(
                        "unsupported Content-Type {:?}: send application/x-thrift or \
                         application/vnd.apache.thrift.binary (Thrift binary protocol)",
                        other.unwrap_or("")
                    ),
                ),
            ));
        }
    }
    let tenant = tenant(receiver, headers).map_err(|f| fail(None, 0, f))?;
    let mut size = 0;
    let body = match read_body(receiver, headers, body, &mut size).await {
        Ok(b) => b,
        Err(f) => return Err(fail(Some(&tenant), size, f)),
    };
    let batch = decode_thrift_batch(&body, ThriftProtocol::Binary).map_err(|e| {
        fail(
            Some(&tenant),
            size,
            Failure::new(
                StatusCode::BAD_REQUEST,
                format!("unable to process request body: {e}"),
            ),
        )
    })?;
    receiver
        .ingest_mapped(&tenant, transport, size, batch_to_resource_spans(batch))
        .await
        .map(drop)
        .map_err(|e| Failure::new(http_status(e.kind()), e.to_string()))
}
