//! serve: what does this server answer its peers?
//!
//! The handlers of the internal routes (see [`super::wire`]): each reads the tenant from
//! `X-Scope-OrgID`, runs its query over this server's head only (never its blocks, which the
//! asking server reads from the bucket itself), on the blocking thread pool, and answers in
//! protobuf, or with the store's encoding of a metrics query's running values. A request
//! that does not decode, or that the store refuses, is a 400 with the reason; a failure of
//! the task a 500.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, StatusCode, header};
use prost::Message;
use tempo_core::model::TraceId;
use tempo_core::{Store, TagScope, TimeRange};

use super::wire::{
    HeadMetricsRequest, HeadSearchRequest, HeadSearchResponse, HeadTagNamesResponse,
    HeadTagValuesResponse, HeadTagsRequest, TagsKind,
};

const PROTOBUF: &str = "application/x-protobuf";

/// The tenant a peer asks for.
fn tenant(headers: &HeaderMap) -> String {
    headers
        .get("X-Scope-OrgID")
        .and_then(|v| v.to_str().ok())
        .unwrap_or(tempo_core::SINGLE_TENANT)
        .to_owned()
}

fn bad_request(why: impl std::fmt::Display) -> Response {
    (StatusCode::BAD_REQUEST, format!("{why}\n")).into_response()
}

/// Runs `work` on the blocking pool: its bytes, a 400 with its error, or a 500.
async fn answer<E: std::fmt::Display + Send + 'static>(
    content_type: &'static str,
    work: impl FnOnce() -> Result<Vec<u8>, E> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(body)) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        Ok(Err(e)) => bad_request(e),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

/// `GET /internal/head/traces/{traceID}`: the trace's spans in this server's head.
pub(crate) async fn head_trace(
    State(store): State<Store>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let tenant = tenant(&headers);
    let Ok(id) = TraceId::from_hex(&id) else {
        return bad_request("invalid trace ID");
    };
    let found =
        tokio::task::spawn_blocking(move || store.find_trace_in_head(&tenant, id, TimeRange::ALL))
            .await;
    match found {
        Ok(Ok(Some(trace))) => {
            ([(header::CONTENT_TYPE, PROTOBUF)], trace.encode_to_vec()).into_response()
        }
        Ok(Ok(None)) => StatusCode::NOT_FOUND.into_response(),
        Ok(Err(e)) => bad_request(e),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

/// `POST /internal/head/search`: a search of this server's head.
pub(crate) async fn head_search(
    State(store): State<Store>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let tenant = tenant(&headers);
    let req = match HeadSearchRequest::decode(body) {
        Ok(req) => req.request(),
        Err(e) => return bad_request(format!("malformed search request: {e}")),
    };
    answer(PROTOBUF, move || {
        store
            .search_head(&tenant, &req)
            .map(|found| HeadSearchResponse::of(&found).encode_to_vec())
    })
    .await
}

/// `POST /internal/head/tags`: tag names or values of this server's head.
pub(crate) async fn head_tags(
    State(store): State<Store>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let tenant = tenant(&headers);
    let req = match HeadTagsRequest::decode(body) {
        Ok(req) => req,
        Err(e) => return bad_request(format!("malformed tags request: {e}")),
    };
    let range = TimeRange {
        start: req.start,
        end: req.end,
    };
    let limit = usize::try_from(req.limit).unwrap_or(usize::MAX);
    let filter = req.filter;
    match TagsKind::try_from(req.kind) {
        Ok(TagsKind::Names) => {
            let scopes = match req
                .scopes
                .iter()
                .map(|s| TagScope::parse(s).ok_or(s))
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(scopes) => scopes,
                Err(s) => return bad_request(format!("invalid scope: {s}")),
            };
            answer(PROTOBUF, move || {
                store
                    .tag_names_in_head(&tenant, &scopes, filter.as_deref(), range, limit)
                    .map(|found| HeadTagNamesResponse::of(&found).encode_to_vec())
            })
            .await
        }
        Ok(kind @ (TagsKind::Values | TagsKind::LiteralValues)) => {
            let tag = req.tag;
            answer(PROTOBUF, move || {
                let values = if kind == TagsKind::LiteralValues {
                    store.tag_values_literal_in_head(&tenant, &tag, filter.as_deref(), range, limit)
                } else {
                    store.tag_values_in_head(&tenant, &tag, filter.as_deref(), range, limit)
                };
                values.map(|v| HeadTagValuesResponse::of(&v).encode_to_vec())
            })
            .await
        }
        Err(_) => bad_request(format!("unknown kind of tags request {}", req.kind)),
    }
}

/// `POST /internal/head/metrics`: the running values of a metrics query over this server's
/// head.
pub(crate) async fn head_metrics(
    State(store): State<Store>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let tenant = tenant(&headers);
    let req = match HeadMetricsRequest::decode(body) {
        Ok(req) => req.request(),
        Err(e) => return bad_request(format!("malformed metrics request: {e}")),
    };
    answer("application/octet-stream", move || {
        store
            .metrics_partial_in_head(&tenant, &req)
            .map(|partial| partial.encode())
    })
    .await
}
