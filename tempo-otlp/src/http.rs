//! http: OTLP/HTTP's `POST /v1/traces`.
//!
//! Protobuf (`application/x-protobuf`) and JSON (`application/json`) bodies, plain or
//! compressed with gzip or deflate, with or without `Content-Length` (chunked bodies are
//! fine). The response is in the request's encoding, as the OTLP specification says: an
//! `ExportTraceServiceResponse` on success, a `google.rpc.Status` on error.

use std::io::Read;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use tempo_core::Batch;

use crate::json::decode_traces_json;
use crate::receiver::{IngestEvent, Receiver, TenantError, Transport};
use crate::response::{ExportTraceServiceResponse, RpcStatus};
use crate::status::{http_status, rpc_code_of_http};

/// The path of the trace export endpoint.
pub const TRACES_PATH: &str = "/v1/traces";

/// An axum router serving `POST /v1/traces`.
pub fn router(receiver: Receiver) -> Router {
    Router::new()
        .route(TRACES_PATH, post(export))
        .with_state(receiver)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn transport(self) -> Transport {
        match self {
            Encoding::Protobuf => Transport::HttpProtobuf,
            Encoding::Json => Transport::HttpJson,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// A failed export: its status and message.
pub(crate) struct Failure {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
        }
    }

    /// The error as OTLP/HTTP sends it: a `google.rpc.Status` in the request's encoding.
    fn into_response(self, encoding: Option<Encoding>) -> Response {
        let code = rpc_code_of_http(self.status);
        let status = RpcStatus {
            code,
            message: self.message,
        };
        match encoding {
            Some(Encoding::Protobuf) => (
                self.status,
                [(header::CONTENT_TYPE, Encoding::Protobuf.content_type())],
                prost::Message::encode_to_vec(&status),
            )
                .into_response(),
            Some(Encoding::Json) => (
                self.status,
                [(header::CONTENT_TYPE, Encoding::Json.content_type())],
                status.to_json(),
            )
                .into_response(),
            None => (
                self.status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                status.message,
            )
                .into_response(),
        }
    }
}

/// The media type of `Content-Type`, lower case and without parameters; `None` when the
/// header is absent.
pub(crate) fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?;
    Some(
        value
            .to_str()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
    )
}

/// A failure as a plain-text response (the Jaeger and Zipkin receivers' errors), with
/// `Retry-After` when the client should retry.
pub(crate) fn plain_response(f: Failure) -> Response {
    let mut response = (
        f.status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        f.message,
    )
        .into_response();
    if matches!(
        response.status(),
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
    ) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

fn content_encoding(headers: &HeaderMap) -> Result<Option<Encoding>, Failure> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(Failure::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "missing Content-Type: send application/x-protobuf or application/json",
        ));
    };
    let media = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "application/x-protobuf" | "application/protobuf" => Ok(Some(Encoding::Protobuf)),
        "application/json" => Ok(Some(Encoding::Json)),
        _ => Err(Failure::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "unsupported Content-Type {:?}: send application/x-protobuf or application/json",
                value.to_str().unwrap_or("<not text>")
            ),
        )),
    }
}

async fn export(State(receiver): State<Receiver>, headers: HeaderMap, body: Body) -> Response {
    let encoding = match content_encoding(&headers) {
        Ok(e) => e,
        Err(f) => {
            receiver.observer.observe(&IngestEvent {
                tenant: None,
                transport: Transport::HttpProtobuf,
                bytes: 0,
                accepted_spans: 0,
                rejected_spans: 0,
                error: Some(&f.message),
            });
            return f.into_response(None);
        }
    };
    let transport = encoding.map_or(Transport::HttpProtobuf, Encoding::transport);
    let mut size = 0;
    let mut tenant_seen = None;
    let result = handle(
        &receiver,
        &headers,
        body,
        encoding,
        &mut size,
        &mut tenant_seen,
    )
    .await;
    match result {
        Ok((rejected, message, accepted)) => {
            receiver.observer.observe(&IngestEvent {
                tenant: tenant_seen.as_deref(),
                transport,
                bytes: size,
                accepted_spans: accepted,
                rejected_spans: rejected,
                error: None,
            });
            let response = ExportTraceServiceResponse::new(rejected, message);
            let (ct, body) = match encoding {
                Some(Encoding::Json) => (Encoding::Json.content_type(), response.to_json()),
                _ => (Encoding::Protobuf.content_type(), response.to_protobuf()),
            };
            (StatusCode::OK, [(header::CONTENT_TYPE, ct)], body).into_response()
        }
        Err(f) => {
            receiver.observer.observe(&IngestEvent {
                tenant: tenant_seen.as_deref(),
                transport,
                bytes: size,
                accepted_spans: 0,
                rejected_spans: 0,
                error: Some(&f.message),
            });
            if f.status.is_server_error() {
                tracing::error!(status = %f.status, error = %f.message, "OTLP/HTTP export failed");
            } else {
                tracing::debug!(status = %f.status, error = %f.message, "OTLP/HTTP export rejected");
            }
            let mut response = f.into_response(encoding);
            if matches!(
                response.status(),
                StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
            ) {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            response
        }
    }
}

async fn handle(
    receiver: &Receiver,
    headers: &HeaderMap,
    body: Body,
    encoding: Option<Encoding>,
    size: &mut usize,
    tenant_seen: &mut Option<String>,
) -> Result<(usize, Option<String>, usize), Failure> {
    let tenant = tenant(receiver, headers)?;
    *tenant_seen = Some(tenant.clone());
    let body = read_body(receiver, headers, body, size).await?;
    let batch = match encoding {
        Some(Encoding::Json) => {
            let decoded = decode_traces_json(&body)
                .map_err(|e| Failure::new(StatusCode::BAD_REQUEST, e.to_string()))?;
            Batch::new(decoded.resource_spans).with_rejected(decoded.rejected)
        }
        _ => {
            Batch::decode(body).map_err(|e| Failure::new(StatusCode::BAD_REQUEST, e.to_string()))?
        }
    };
    match receiver.store.ingest_async(&tenant, batch).await {
        Ok(receipt) => Ok((
            receipt.rejected_spans,
            receipt.rejection_message,
            receipt.accepted_spans,
        )),
        // Back-pressure while blocks are cut is a 429: the client retries after `Retry-After`.
        Err(e) => Err(Failure::new(http_status(e.kind()), e.to_string())),
    }
}

/// The request's tenant: from `X-Scope-OrgID` with multi-tenancy on, else `single-tenant`.
pub(crate) fn tenant(receiver: &Receiver, headers: &HeaderMap) -> Result<String, Failure> {
    let org_id = headers.get("x-scope-orgid").map(HeaderValue::as_bytes);
    match receiver.tenant(org_id) {
        Ok(t) => Ok(t),
        Err(TenantError::Missing) => Err(Failure::new(StatusCode::UNAUTHORIZED, "no org id")),
        Err(TenantError::Invalid(msg)) => Err(Failure::new(StatusCode::BAD_REQUEST, msg)),
    }
}

/// Reads a request body within the receiver's size limit (as sent and decompressed), and
/// decompresses it (`Content-Encoding` gzip or deflate); `size` gets its size as sent. An
/// empty body is refused.
pub(crate) async fn read_body(
    receiver: &Receiver,
    headers: &HeaderMap,
    body: Body,
    size: &mut usize,
) -> Result<Bytes, Failure> {
    let limit = receiver.config.max_http_body_bytes;
    let too_large = |what: &str| {
        Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body {what} is larger than the limit of {limit} bytes"),
        )
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit as u64
    {
        *size = len as usize;
        return Err(too_large("(Content-Length)"));
    }
    let raw = match axum::body::to_bytes(body, limit).await {
        Ok(raw) => raw,
        Err(e) => {
            let is_limit = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                || e.to_string().contains("length limit");
            return Err(if is_limit {
                too_large("as sent")
            } else {
                Failure::new(
                    StatusCode::BAD_REQUEST,
                    format!("reading the request body: {e}"),
                )
            });
        }
    };
    *size = raw.len();
    let body = decompress(headers, raw, limit)?;
    if body.is_empty() {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            "request body is empty",
        ));
    }
    Ok(body)
}

fn decompress(headers: &HeaderMap, raw: Bytes, limit: usize) -> Result<Bytes, Failure> {
    let coding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    let reader: Box<dyn Read + '_> = match coding.as_str() {
        "" | "identity" => return Ok(raw),
        "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(&raw[..])),
        "deflate" => Box::new(flate2::read::ZlibDecoder::new(&raw[..])),
        other => {
            return Err(Failure::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("unsupported Content-Encoding {other:?}: send gzip, deflate or identity"),
            ));
        }
    };
    let mut out = Vec::with_capacity(raw.len().saturating_mul(4).min(limit));
    match reader.take(limit as u64 + 1).read_to_end(&mut out) {
        Ok(_) if out.len() > limit => Err(Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body decompresses to more than the limit of {limit} bytes"),
        )),
        Ok(_) => Ok(Bytes::from(out)),
        Err(e) => Err(Failure::new(
            StatusCode::BAD_REQUEST,
            format!("malformed {coding} body: {e}"),
        )),
    }
}
