//! peers: what do the other servers on the bucket hold that is not in a block yet?
//!
//! Servers that share a bucket read each other's blocks from it, but spans acknowledged by
//! another server stay in that server's head until they are cut into a block. So every query
//! also asks the peers named in `storage.trace.peers` (`host:port` of their HTTP API, DNS
//! names allowed) for what their heads hold: trace by ID, search, tag names and values (both
//! APIs) and TraceQL metrics (range and instant). All peers are asked at once, each for each
//! tenant of the request, while this server runs the query over its own head and blocks;
//! each peer has `storage.trace.peer_timeout` to answer. A peer that does not answer in time,
//! or fails, is left out and the answer is partial, with a message naming it:
//!
//! - trace by ID: v2 answers say `"status":"PARTIAL"` and the message;
//! - metrics: `"status":"PARTIAL"` and the message, as for a query stopped early;
//! - search and tags, whose answers have no such field in Tempo's format: the header
//!   [`PARTIAL_HEADER`] carries the message;
//! - always: a warning in the log and `tempo_peer_requests_failed_total{query}` on
//!   `/metrics`.
//!
//! A peer answers from its head only, never its blocks (they are on the bucket: read twice,
//! spans would be counted twice). Its answers are combined as those of several tenants are
//! ([`crate::federation`]): the matches of the same trace merged and the limit applied once;
//! the union of tag names and values, the limit applied once. A metrics query cannot combine
//! finished series (quantiles, averages, `topk`), so a peer answers the running values of the
//! query over its head ([`tempo_core::MetricsPartial`]), which are folded into this server's
//! before the series are finished: the answer is the one a single server holding every span
//! would give.
//!
//! The peers answer on these routes, the tenant in `X-Scope-OrgID` (see [`wire`] for the
//! messages, all protobuf of our own):
//!
//! - `GET /internal/head/traces/{traceID}`: the trace's spans in the head, as an OTLP
//!   `TracesData`, or 404;
//! - `POST /internal/head/search`: a `HeadSearchRequest`, answered with a
//!   `HeadSearchResponse` (durations in nanoseconds, so that matches merge exactly);
//! - `POST /internal/head/tags`: a `HeadTagsRequest` (names, values, or values of a tag
//!   named literally), answered with a `HeadTagNamesResponse` or `HeadTagValuesResponse`;
//! - `POST /internal/head/metrics`: a `HeadMetricsRequest` (the store's request field by
//!   field, so both sides share one time axis), answered with the encoded
//!   `MetricsPartial` (magic, version, checksum: see `tempo_core`'s `query::metrics`).
//!
//! A peer's spans leave its head once their block is written, and the other servers read
//! that block from their next poll of the block list (`storage.trace.blocklist_poll`) on: in
//! between, their answers miss those spans (as trace lookups always have).

mod serve;
mod wire;

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use prost::Message;
use tempo_core::model::{TraceId, TracesData};
use tempo_core::{
    MetricsPartial, MetricsRequest, SearchRequest, SearchResponse, Store, TagScope, TagValue,
    TimeRange,
};

use wire::{
    HeadMetricsRequest, HeadSearchRequest, HeadSearchResponse, HeadTagNamesResponse,
    HeadTagValuesResponse, HeadTagsRequest, TagsKind,
};

/// The response header that says why a search or tag answer is partial (their JSON, as
/// Tempo's, has no field for it).
pub(crate) const PARTIAL_HEADER: &str = "x-tempo-partial";

type HttpClient = Client<HttpConnector, Full<Bytes>>;

struct Peers {
    addrs: Vec<String>,
    timeout: Duration,
    client: HttpClient,
}

static PEERS: OnceLock<Peers> = OnceLock::new();

/// What is asked of peers, for the failure counters.
#[derive(Debug, Clone, Copy)]
enum Query {
    Trace,
    Search,
    TagNames,
    TagValues,
    Metrics,
}

impl Query {
    const ALL: [Query; 5] = [
        Query::Trace,
        Query::Search,
        Query::TagNames,
        Query::TagValues,
        Query::Metrics,
    ];

    fn name(self) -> &'static str {
        match self {
            Query::Trace => "trace",
            Query::Search => "search",
            Query::TagNames => "tag_names",
            Query::TagValues => "tag_values",
            Query::Metrics => "metrics",
        }
    }
}

/// Peer requests that failed or timed out, per [`Query`].
static FAILED: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];

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
    tracing::info!(peers = ?addrs, ?timeout, "queries ask these peers for what their heads hold");
}

/// The failure counters, in Prometheus' text format, for `/metrics`.
pub(crate) fn render_metrics(out: &mut String) {
    let name = "tempo_peer_requests_failed_total";
    let _ = writeln!(
        out,
        "# HELP {name} Requests to peers on the same bucket that failed or timed out (the answer was partial), per query.\n# TYPE {name} counter"
    );
    for (query, count) in Query::ALL.iter().zip(&FAILED) {
        let _ = writeln!(
            out,
            "{name}{{query=\"{}\"}} {}",
            query.name(),
            count.load(Ordering::Relaxed)
        );
    }
}

/// A header value for a partial answer's message: what cannot be in a header is replaced.
pub(crate) fn partial_header(message: &str) -> HeaderValue {
    let clean: String = message
        .chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect();
    HeaderValue::from_str(&clean).unwrap_or(HeaderValue::from_static("partial"))
}

/// The answers of the peers that answered, and why the answer is partial when one did not.
pub(crate) type PeerAnswers<T> = (Vec<T>, Option<String>);

/// Asks every peer, for every tenant, at once: `path` with `body` (`GET` when `None`),
/// each answer read by `read` (`Ok(None)`: nothing to add). Failures are logged, counted
/// and named in the message.
async fn ask_all<T: Send + 'static>(
    query: Query,
    tenants: &[String],
    path: String,
    body: Option<Vec<u8>>,
    read: fn(StatusCode, Bytes) -> Result<Option<T>, String>,
) -> PeerAnswers<T> {
    let Some(peers) = PEERS.get() else {
        return (Vec::new(), None);
    };
    let body = body.map(Bytes::from);
    let mut asks = tokio::task::JoinSet::new();
    for addr in &peers.addrs {
        for tenant in tenants {
            let (addr, tenant, path, body) =
                (addr.clone(), tenant.clone(), path.clone(), body.clone());
            asks.spawn(async move {
                let answer = call(peers, &addr, &tenant, &path, body).await;
                answer.and_then(|(status, bytes)| {
                    read(status, bytes).map_err(|e| format!("{addr}: {e}"))
                })
            });
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
    if failed.is_empty() {
        return (parts, None);
    }
    FAILED[query as usize].fetch_add(failed.len() as u64, Ordering::Relaxed);
    failed.sort();
    let message = format!(
        "the heads of {} peer(s) could not be asked, recent spans may be missing: {}",
        failed.len(),
        failed.join("; ")
    );
    tracing::warn!(query = query.name(), "{message}");
    (parts, Some(message))
}

/// One request to one peer, within the timeout: its status and body, or why it failed.
async fn call(
    peers: &'static Peers,
    addr: &str,
    tenant: &str,
    path: &str,
    body: Option<Bytes>,
) -> Result<(StatusCode, Bytes), String> {
    let uri = format!("http://{addr}{path}");
    let (method, body) = match body {
        Some(body) => (Method::POST, body),
        None => (Method::GET, Bytes::new()),
    };
    let request = http::Request::builder()
        .method(method)
        .uri(&uri)
        .header("X-Scope-OrgID", tenant)
        .header(http::header::CONTENT_TYPE, "application/x-protobuf")
        .body(Full::new(body))
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
        Ok((status, body))
    };
    match tokio::time::timeout(peers.timeout, call).await {
        Ok(answer) => answer,
        Err(_) => Err(format!("{addr}: no answer within {:?}", peers.timeout)),
    }
}

/// A peer's error answer as a message.
fn refused(status: StatusCode, body: &[u8]) -> String {
    format!("{status} {}", String::from_utf8_lossy(body).trim())
}

/// The deadline given to a peer's query: the timeout within which it must answer.
fn peer_deadline() -> Duration {
    PEERS.get().map_or(Duration::ZERO, |p| p.timeout)
}

/// The parts of trace `id` of `tenants` in the peers' heads, and why the answer is partial
/// when a peer did not answer.
pub(crate) async fn find_trace(tenants: &[String], id: TraceId) -> PeerAnswers<TracesData> {
    ask_all(
        Query::Trace,
        tenants,
        format!("/internal/head/traces/{id}"),
        None,
        |status, body| match status {
            StatusCode::OK => TracesData::decode(body)
                .map(Some)
                .map_err(|e| format!("an answer that does not decode: {e}")),
            StatusCode::NOT_FOUND => Ok(None),
            other => Err(refused(other, &body)),
        },
    )
    .await
}

/// The searches of the peers' heads, for each of `tenants`.
pub(crate) async fn search(tenants: &[String], req: &SearchRequest) -> PeerAnswers<SearchResponse> {
    if PEERS.get().is_none() {
        return (Vec::new(), None);
    }
    let body = HeadSearchRequest::of(req, peer_deadline()).encode_to_vec();
    ask_all(
        Query::Search,
        tenants,
        wire::SEARCH_ROUTE.to_owned(),
        Some(body),
        |status, body| match status {
            StatusCode::OK => HeadSearchResponse::decode(body)
                .map_err(|e| format!("an answer that does not decode: {e}"))?
                .answer()
                .map(Some),
            other => Err(refused(other, &body)),
        },
    )
    .await
}

/// The tag names of the peers' heads, per scope, for each of `tenants`.
pub(crate) async fn tag_names(
    tenants: &[String],
    scopes: &[TagScope],
    filter: Option<&str>,
    range: TimeRange,
    limit: usize,
) -> PeerAnswers<Vec<(TagScope, Vec<String>)>> {
    if PEERS.get().is_none() {
        return (Vec::new(), None);
    }
    let body = HeadTagsRequest {
        kind: TagsKind::Names as i32,
        scopes: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        tag: String::new(),
        filter: filter.map(str::to_owned),
        start: range.start,
        end: range.end,
        limit: limit as u64,
    }
    .encode_to_vec();
    ask_all(
        Query::TagNames,
        tenants,
        wire::TAGS_ROUTE.to_owned(),
        Some(body),
        |status, body| match status {
            StatusCode::OK => HeadTagNamesResponse::decode(body)
                .map_err(|e| format!("an answer that does not decode: {e}"))?
                .answer()
                .map(Some),
            other => Err(refused(other, &body)),
        },
    )
    .await
}

/// The values of `tag` in the peers' heads (`literal`: the tag named as the first tag API
/// names it), for each of `tenants`.
pub(crate) async fn tag_values(
    tenants: &[String],
    tag: &str,
    literal: bool,
    filter: Option<&str>,
    range: TimeRange,
    limit: usize,
) -> PeerAnswers<Vec<TagValue>> {
    if PEERS.get().is_none() {
        return (Vec::new(), None);
    }
    let kind = if literal {
        TagsKind::LiteralValues
    } else {
        TagsKind::Values
    };
    let body = HeadTagsRequest {
        kind: kind as i32,
        scopes: Vec::new(),
        tag: tag.to_owned(),
        filter: filter.map(str::to_owned),
        start: range.start,
        end: range.end,
        limit: limit as u64,
    }
    .encode_to_vec();
    ask_all(
        Query::TagValues,
        tenants,
        wire::TAGS_ROUTE.to_owned(),
        Some(body),
        |status, body| match status {
            StatusCode::OK => HeadTagValuesResponse::decode(body)
                .map_err(|e| format!("an answer that does not decode: {e}"))?
                .answer()
                .map(Some),
            other => Err(refused(other, &body)),
        },
    )
    .await
}

/// The running values of a metrics query over the peers' heads, for `tenant`; a partial
/// gathered for another query (a peer of another version, say) counts as a failure.
pub(crate) async fn metrics(tenant: &str, req: &MetricsRequest) -> PeerAnswers<MetricsPartial> {
    if PEERS.get().is_none() {
        return (Vec::new(), None);
    }
    let body = HeadMetricsRequest::of(req, peer_deadline()).encode_to_vec();
    let (parts, mut partial) = ask_all(
        Query::Metrics,
        &[tenant.to_owned()],
        wire::METRICS_ROUTE.to_owned(),
        Some(body),
        |status, body| match status {
            StatusCode::OK => MetricsPartial::decode(&body)
                .map(Some)
                .map_err(|e| e.to_string()),
            other => Err(refused(other, &body)),
        },
    )
    .await;
    let (fit, misfit): (Vec<_>, Vec<_>) = parts.into_iter().partition(|p| p.fits(req));
    if !misfit.is_empty() {
        FAILED[Query::Metrics as usize].fetch_add(misfit.len() as u64, Ordering::Relaxed);
        let why = format!(
            "{} peer(s) answered for another query, left out",
            misfit.len()
        );
        tracing::warn!(query = "metrics", "{why}");
        partial = Some(match partial {
            Some(p) => format!("{p}; {why}"),
            None => why,
        });
    }
    (fit, partial)
}

/// The routes peers answer on.
pub(crate) fn router(store: Store) -> axum::Router {
    axum::Router::new()
        .route(wire::TRACE_ROUTE, axum::routing::get(serve::head_trace))
        .route(wire::SEARCH_ROUTE, axum::routing::post(serve::head_search))
        .route(wire::TAGS_ROUTE, axum::routing::post(serve::head_tags))
        .route(
            wire::METRICS_ROUTE,
            axum::routing::post(serve::head_metrics),
        )
        .with_state(store)
}
