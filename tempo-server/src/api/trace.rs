//! trace: which trace has this ID?
//!
//! `GET /api/traces/{traceID}` (v1) and `GET /api/v2/traces/{traceID}` (v2), in JSON, or in
//! protobuf when the `Accept` header asks for it. v1 answers a trace it does not have with a
//! 404 and an empty body, v2 with a 200 and an empty trace, as Tempo does.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use tempo_core::model::TracesData;

use super::error::ApiError;
use super::extract::{TraceRequest, wants_protobuf};
use super::state::{ApiState, blocking};
use crate::{federation, render};

/// `GET /api/traces/{traceID}`.
pub(crate) async fn trace_v1(
    State(state): State<ApiState>,
    request: TraceRequest,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some((trace, _)) = find(&state, request).await?.0 else {
        return Ok(StatusCode::NOT_FOUND.into_response());
    };
    Ok(if wants_protobuf(&headers) {
        (
            [(header::CONTENT_TYPE, "application/protobuf")],
            render::trace::trace_v1_proto(&trace),
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/json")],
            render::trace::trace_v1_json(&trace),
        )
            .into_response()
    })
}

/// `GET /api/v2/traces/{traceID}`.
pub(crate) async fn trace_v2(
    State(state): State<ApiState>,
    request: TraceRequest,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (found, partial) = find(&state, request).await?;
    let (trace, inspected_bytes) = match &found {
        Some((trace, bytes)) => (Some(trace), *bytes),
        None => (None, 0),
    };
    Ok(if wants_protobuf(&headers) {
        (
            [(header::CONTENT_TYPE, "application/protobuf")],
            render::trace::trace_v2_proto(trace, partial.as_deref(), inspected_bytes),
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/json")],
            render::trace::trace_v2_json(trace, partial.as_deref(), inspected_bytes),
        )
            .into_response()
    })
}

/// The trace, from every tenant of the request, with the parts in the heads of the peers
/// on the same bucket (`storage.trace.peers`), and the bytes read to find it; and why it may
/// be partial (a peer that did not answer).
async fn find(
    state: &ApiState,
    request: TraceRequest,
) -> Result<(Option<(TracesData, u64)>, Option<String>), ApiError> {
    let TraceRequest { tenants, id, range } = request;
    let store = state.store.clone();
    let asked = tenants.clone();
    let (local, (mut parts, partial)) = tokio::join!(
        blocking(move || federation::find_trace(&store, &tenants, id, range)),
        crate::peers::find_trace(&asked, id)
    );
    let local = local?;
    if parts.is_empty() {
        return Ok((local, partial));
    }
    let inspected_bytes = local.as_ref().map_or(0, |(_, bytes)| *bytes);
    parts.extend(local.map(|(trace, _)| trace));
    Ok((
        federation::combine_traces(parts).map(|trace| (trace, inspected_bytes)),
        partial,
    ))
}
