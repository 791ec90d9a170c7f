//! peers: what do the other servers on the bucket hold that is not in a block yet?
//!
//! Servers that share a bucket read each other's blocks from it, but a trace acknowledged
//! by another server stays in that server's head until it is cut into a block. So a trace
//! lookup also asks the peers named in `storage.trace.peers` (`host:port` of their HTTP API,
//! DNS names allowed) for the part of the trace in their heads, all at once, each within
//! `storage.trace.peer_timeout`. A peer that does not answer in time, or fails, makes the
//! answer partial, with a message naming it (v2 answers say `"status":"PARTIAL"`).
//!
//! The peers answer on `GET /internal/head/traces/{traceID}` (tenant in `X-Scope-OrgID`):
//! the trace's spans in the head, as an OTLP `TracesData` protobuf, or 404.

use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use prost::Message;
use tempo_core::model::{TraceId, TracesData};
use tempo_core::{Store, TimeRange};

/// The route peers answer on.
pub(crate) const HEAD_TRACE_ROUTE: &str = "/internal/head/traces/{traceID}";

type HttpClient = Client<HttpConnector, Full<Bytes>>;

struct Peers {
    addrs: Vec<String>,
    timeout: Duration,
    client: HttpClient,
}

static PEERS: OnceLock<Peers> = OnceLock::new();

/// Sets the peers asked (once, at start).
pub(crate) fn configure(addrs: &[String], timeout: Duration) {
    if addrs.is_empty() {
        return;
    }
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(timeout));
    let client: HttpClient = Client::builder(TokioExecutor::new()).build(connector);
    let _ = PEERS.set(Peers {
        addrs: addrs.to_vec(),
        timeout,
        client,
    });
    tracing::info!(peers = ?addrs, ?timeout, "trace lookups ask these peers for what their heads hold");
}

/// The parts of trace `id` of `tenants` in the peers' heads, and why the answer is partial
/// when a peer did not answer.
pub(crate) async fn find_trace(
    tenants: &[String],
    id: TraceId,
) -> (Vec<TracesData>, Option<String>) {
    let Some(peers) = PEERS.get() else {
        return (Vec::new(), None);
    };
    let mut asks = tokio::task::JoinSet::new();
    for addr in &peers.addrs {
        for tenant in tenants {
            asks.spawn(ask(peers, addr.clone(), tenant.clone(), id));
        }
    }
    let mut parts = Vec::new();
    let mut failed: Vec<String> = Vec::new();
    while let Some(answer) = asks.join_next().await {
        match answer {
            Ok(Ok(Some(part))) => parts.push(part),
            Ok(Ok(None)) => {}
            Ok(Err(why)) => failed.push(why),
            Err(e) => failed.push(e.to_string()),
        }
    }
    let partial = (!failed.is_empty()).then(|| {
        format!(
            "the heads of {} peer(s) could not be asked, recent spans may be missing: {}",
            failed.len(),
            failed.join("; ")
        )
    });
    if let Some(message) = &partial {
        tracing::warn!(trace = %id, "{message}");
    }
    (parts, partial)
}

async fn ask(
    peers: &'static Peers,
    addr: String,
    tenant: String,
    id: TraceId,
) -> Result<Option<TracesData>, String> {
    let uri = format!("http://{addr}/internal/head/traces/{id}");
    let request = http::Request::get(&uri)
        .header("X-Scope-OrgID", &tenant)
        .body(Full::new(Bytes::new()))
        .map_err(|e| format!("{addr}: {e}"))?;
    let call = async {
        let response = peers
            .client
            .request(request)
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{addr}: {e}"))?
            .to_bytes();
        match status {
            StatusCode::OK => TracesData::decode(body)
                .map(Some)
                .map_err(|e| format!("{addr}: an answer that does not decode: {e}")),
            StatusCode::NOT_FOUND => Ok(None),
            other => Err(format!(
                "{addr}: {other} {}",
                String::from_utf8_lossy(&body).trim()
            )),
        }
    };
    match tokio::time::timeout(peers.timeout, call).await {
        Ok(answer) => answer,
        Err(_) => Err(format!("{addr}: no answer within {:?}", peers.timeout)),
    }
}

/// `GET /internal/head/traces/{traceID}`: the trace's spans in this server's head.
pub(crate) async fn head_trace(
    State(store): State<Store>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let tenant = headers
        .get("X-Scope-OrgID")
        .and_then(|v| v.to_str().ok())
        .unwrap_or(tempo_core::SINGLE_TENANT)
        .to_owned();
    let Ok(id) = TraceId::from_hex(&id) else {
        return (StatusCode::BAD_REQUEST, "invalid trace ID\n").into_response();
    };
    let found =
        tokio::task::spawn_blocking(move || store.find_trace_in_head(&tenant, id, TimeRange::ALL))
            .await;
    match found {
        Ok(Ok(Some(trace))) => (
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            trace.encode_to_vec(),
        )
            .into_response(),
        Ok(Ok(None)) => StatusCode::NOT_FOUND.into_response(),
        Ok(Err(e)) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

/// The route peers answer on.
pub(crate) fn router(store: Store) -> axum::Router {
    axum::Router::new()
        .route(HEAD_TRACE_ROUTE, axum::routing::get(head_trace))
        .with_state(store)
}
