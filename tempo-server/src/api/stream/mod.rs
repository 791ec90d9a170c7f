//! stream: Tempo's streaming querier, gRPC on the HTTP port.
//!
//! Grafana's Tempo data source, with streaming on, asks over gRPC (HTTP/2 without TLS, on the
//! same host and port as the HTTP API) through Tempo's `tempopb.StreamingQuerier`: `Search`,
//! `SearchTags`, `SearchTagsV2`, `SearchTagValues`, `SearchTagValuesV2`,
//! `MetricsQueryRange` and `MetricsQueryInstant`, each answering with a stream of messages.
//! The requests' fields are read as the HTTP API reads the same parameters (each request is
//! turned into them, so both check the same way and give the same answers), and the tenant
//! comes from the `X-Scope-OrgID` metadata as from the header.
//!
//! - `Search` streams the search as it reads its sources, as Tempo's query frontend does: at
//!   most every half second, a message with the traces new or changed since the previous
//!   one and the counts so far; then a last message with what changed at the end. A client
//!   gathers the traces of every message (Grafana does). A search of several tenants sends
//!   its answer in one message. The traces in the heads of the peers on the same bucket
//!   (`storage.trace.peers`) come with the last message.
//! - The tag lookups and the metrics queries send their answer in one message, with what
//!   the peers' heads hold, as the HTTP API's do.
//!
//! Errors are gRPC statuses with the HTTP API's message: `INVALID_ARGUMENT` for what the
//! HTTP API answers with a 4xx, `UNAUTHENTICATED` for a missing tenant, `RESOURCE_EXHAUSTED`
//! for a 429, `INTERNAL` for the rest. A client that goes away cancels its query.

mod wire;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use futures_util::Stream;
use http::StatusCode;
use prost::Message;
use tempo_core::model::TraceId;
use tempo_core::{CancelToken, SearchProgress, SearchResponse, TagScope, TagValue, TraceMatch};
use tokio::sync::{mpsc, watch};
use tonic::Status;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::{Grpc, NamedService, ServerStreamingService};

use super::error::ApiError;
use super::extract::{Params, Tenants};
use super::state::ApiState;
use super::tags::{TagApi, V1, V2};
use super::{metrics_query, search, tags};
use crate::render::jsonpb::{search_span_id, search_trace_id};
use crate::render::search::ROOT_SPAN_NOT_YET_RECEIVED;

/// The gRPC service's name.
pub(crate) const SERVICE_NAME: &str = "tempopb.StreamingQuerier";

/// The route of the service's methods, under the HTTP API's router.
pub(crate) const ROUTE: &str = "/tempopb.StreamingQuerier/{method}";

/// The shortest time between two messages of a streamed search, as Tempo's.
const UPDATE_INTERVAL: Duration = Duration::from_millis(500);

/// The largest request message read.
const MAX_REQUEST_BYTES: usize = 4 << 20;

/// The streaming querier over the API's state.
#[derive(Clone)]
pub(crate) struct StreamingQuerier {
    state: ApiState,
}

impl StreamingQuerier {
    /// The service, answering from `state`.
    pub(crate) fn new(state: ApiState) -> StreamingQuerier {
        StreamingQuerier { state }
    }
}

impl NamedService for StreamingQuerier {
    const NAME: &'static str = SERVICE_NAME;
}

/// One method of the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Search,
    SearchTags,
    SearchTagsV2,
    SearchTagValues,
    SearchTagValuesV2,
    MetricsQueryRange,
    MetricsQueryInstant,
}

impl Method {
    fn of_path(path: &str) -> Option<Method> {
        let name = path.strip_prefix("/tempopb.StreamingQuerier/")?;
        Some(match name {
            "Search" => Method::Search,
            "SearchTags" => Method::SearchTags,
            "SearchTagsV2" => Method::SearchTagsV2,
            "SearchTagValues" => Method::SearchTagValues,
            "SearchTagValuesV2" => Method::SearchTagValuesV2,
            "MetricsQueryRange" => Method::MetricsQueryRange,
            "MetricsQueryInstant" => Method::MetricsQueryInstant,
            _ => return None,
        })
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
type MessageStream = Pin<Box<dyn Stream<Item = Result<Bytes, Status>> + Send + 'static>>;

impl tower::Service<http::Request<axum::body::Body>> for StreamingQuerier {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<axum::body::Body>) -> Self::Future {
        let state = self.state.clone();
        let Some(method) = Method::of_path(req.uri().path()) else {
            let path = req.uri().path().to_owned();
            return Box::pin(async move {
                Ok(Status::unimplemented(format!("unknown method {path}")).into_http())
            });
        };
        Box::pin(async move {
            let mut grpc = Grpc::new(BytesCodec)
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .send_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Zstd)
                .max_decoding_message_size(MAX_REQUEST_BYTES)
                .max_encoding_message_size(usize::MAX);
            Ok(grpc.server_streaming(Call { state, method }, req).await)
        })
    }
}

/// One call of a method.
struct Call {
    state: ApiState,
    method: Method,
}

impl ServerStreamingService<Bytes> for Call {
    type Response = Bytes;
    type ResponseStream = MessageStream;
    type Future = BoxFuture<Result<tonic::Response<MessageStream>, Status>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let state = self.state.clone();
        let method = self.method;
        Box::pin(async move {
            let headers = request.metadata().clone().into_headers();
            let tenants = Tenants::from_headers(&state, &headers)
                .map_err(|e| status(&ApiError::from(e)))?
                .0;
            let body = request.into_inner();
            let stream = match method {
                Method::Search => stream_search(state, tenants, decode(body)?)?,
                Method::SearchTags => once(tag_names::<V1>(&state, tenants, decode(body)?).await),
                Method::SearchTagsV2 => once(tag_names::<V2>(&state, tenants, decode(body)?).await),
                Method::SearchTagValues => {
                    once(tag_values::<V1>(&state, tenants, decode(body)?).await)
                }
                Method::SearchTagValuesV2 => {
                    once(tag_values::<V2>(&state, tenants, decode(body)?).await)
                }
                Method::MetricsQueryRange => {
                    once(query_range(&state, tenants, decode(body)?).await)
                }
                Method::MetricsQueryInstant => {
                    once(query_instant(&state, tenants, decode(body)?).await)
                }
            };
            Ok(tonic::Response::new(stream))
        })
    }
}

/// A request message.
fn decode<M: Message + Default>(body: Bytes) -> Result<M, Status> {
    M::decode(body).map_err(|e| Status::invalid_argument(format!("malformed request: {e}")))
}

/// The gRPC status of an API error: its message, with the code of its HTTP status.
fn status(e: &ApiError) -> Status {
    let code = match e.status() {
        StatusCode::UNAUTHORIZED => tonic::Code::Unauthenticated,
        StatusCode::NOT_FOUND => tonic::Code::NotFound,
        StatusCode::TOO_MANY_REQUESTS => tonic::Code::ResourceExhausted,
        StatusCode::SERVICE_UNAVAILABLE => tonic::Code::Unavailable,
        s if s.is_client_error() => tonic::Code::InvalidArgument,
        _ => tonic::Code::Internal,
    };
    Status::new(code, e.message())
}

/// A stream of one answer, or of its error.
fn once(answer: Result<Bytes, ApiError>) -> MessageStream {
    let item = answer.map_err(|e| status(&e));
    Box::pin(futures_util::stream::iter([item]))
}

/// The HTTP API's parameters for the pairs whose value is set.
fn params<const N: usize>(pairs: [(&str, String); N]) -> Params {
    Params::from_pairs(
        pairs
            .into_iter()
            .filter(|(_, v)| !v.is_empty() && v != "0")
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

/// `SearchTags` and `SearchTagsV2`: the names, as one message.
async fn tag_names<A: StreamedTags>(
    state: &ApiState,
    tenants: Vec<String>,
    req: wire::SearchTagsRequest,
) -> Result<Bytes, ApiError> {
    let p = params([
        ("scope", req.scope),
        ("q", req.query),
        ("start", req.start.to_string()),
        ("end", req.end.to_string()),
        ("limit", req.max_tags_per_scope.to_string()),
    ]);
    // A peer that did not answer is logged and counted; the message has no field for it.
    let (found, limit, _partial) = tags::names_found::<A>(state, tenants, &p).await?;
    Ok(A::names_message(found, limit))
}

/// `SearchTagValues` and `SearchTagValuesV2`: the values, as one message.
async fn tag_values<A: StreamedTags>(
    state: &ApiState,
    tenants: Vec<String>,
    req: wire::SearchTagValuesRequest,
) -> Result<Bytes, ApiError> {
    let p = params([
        ("q", req.query),
        ("start", req.start.to_string()),
        ("end", req.end.to_string()),
        ("limit", req.max_tag_values.to_string()),
    ]);
    let (values, _partial) = tags::values_found::<A>(state, tenants, req.tag_name, &p).await?;
    Ok(A::values_message(&values))
}

/// The protobuf answers of the two tag APIs.
trait StreamedTags: TagApi {
    /// The names answer.
    fn names_message(found: Vec<(TagScope, Vec<String>)>, limit: usize) -> Bytes;
    /// The values answer.
    fn values_message(values: &[TagValue]) -> Bytes;
}

impl StreamedTags for V1 {
    fn names_message(found: Vec<(TagScope, Vec<String>)>, limit: usize) -> Bytes {
        let names: std::collections::BTreeSet<String> =
            found.into_iter().flat_map(|(_, names)| names).collect();
        wire::SearchTagsResponse {
            tag_names: names.into_iter().take(limit).collect(),
            metrics: Some(wire::MetadataMetrics::default()),
        }
        .encode_to_vec()
        .into()
    }

    fn values_message(values: &[TagValue]) -> Bytes {
        wire::SearchTagValuesResponse {
            tag_values: values.iter().map(|v| v.value.clone()).collect(),
            metrics: Some(wire::MetadataMetrics::default()),
        }
        .encode_to_vec()
        .into()
    }
}

impl StreamedTags for V2 {
    fn names_message(found: Vec<(TagScope, Vec<String>)>, _limit: usize) -> Bytes {
        wire::SearchTagsV2Response {
            scopes: found
                .into_iter()
                .filter(|(_, tags)| !tags.is_empty())
                .map(|(scope, tags)| wire::SearchTagsV2Scope {
                    name: scope.as_str().to_owned(),
                    tags,
                })
                .collect(),
            metrics: Some(wire::MetadataMetrics::default()),
        }
        .encode_to_vec()
        .into()
    }

    fn values_message(values: &[TagValue]) -> Bytes {
        wire::SearchTagValuesV2Response {
            tag_values: values
                .iter()
                .map(|v| wire::TagValue {
                    r#type: v.kind.as_str().to_owned(),
                    value: v.value.clone(),
                })
                .collect(),
            metrics: Some(wire::MetadataMetrics::default()),
        }
        .encode_to_vec()
        .into()
    }
}

/// `MetricsQueryRange`: the series, as one message.
async fn query_range(
    state: &ApiState,
    tenants: Vec<String>,
    req: wire::QueryRangeRequest,
) -> Result<Bytes, ApiError> {
    let p = params([
        ("q", req.query),
        ("start", req.start.to_string()),
        ("end", req.end.to_string()),
        ("step", step(req.step)),
        ("exemplars", req.exemplars.to_string()),
        ("maxSeries", req.max_series.to_string()),
    ]);
    let req = metrics_query::range_request(&p, &state.metrics_query, metrics_query::now_nanos())?;
    let answer = metrics_query::run(state, tenants, req).await?;
    Ok(crate::render::metrics_query::query_range_proto(&answer).into())
}

/// `MetricsQueryInstant`: the values, as one message.
async fn query_instant(
    state: &ApiState,
    tenants: Vec<String>,
    req: wire::QueryInstantRequest,
) -> Result<Bytes, ApiError> {
    let p = params([
        ("q", req.query),
        ("start", req.start.to_string()),
        ("end", req.end.to_string()),
    ]);
    let req = metrics_query::instant_request(&p, &state.metrics_query, metrics_query::now_nanos())?;
    let answer = metrics_query::run(state, tenants, req).await?;
    Ok(crate::render::metrics_query::query_instant_proto(&answer).into())
}

/// A step in nanoseconds as the HTTP API's `step` parameter (empty: the default).
fn step(nanos: u64) -> String {
    if nanos == 0 {
        String::new()
    } else {
        format!("{nanos}ns")
    }
}

/// `Search`: the search, streamed as it reads its sources.
fn stream_search(
    state: ApiState,
    tenants: Vec<String>,
    req: wire::SearchRequest,
) -> Result<MessageStream, Status> {
    let tags = if req.query.is_empty() && !req.tags.is_empty() {
        let mut pairs: Vec<(&String, &String)> = req.tags.iter().collect();
        pairs.sort();
        pairs
            .into_iter()
            .map(|(k, v)| format!("{}={}", logfmt(k), logfmt(v)))
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        String::new()
    };
    let p = params([
        ("q", req.query),
        ("tags", tags),
        ("minDuration", ms(req.min_duration_ms)),
        ("maxDuration", ms(req.max_duration_ms)),
        ("limit", req.limit.to_string()),
        ("spss", req.spans_per_span_set.to_string()),
        ("start", req.start.to_string()),
        ("end", req.end.to_string()),
    ]);
    let token = CancelToken::new();
    let mut search = search::search_request(&p)
        .map_err(|e| status(&ApiError::from(e)))?
        .cancel_token(token.clone());
    let (progress_tx, mut progress_rx) = watch::channel::<Option<SearchResponse>>(None);
    if tenants.len() == 1 {
        search = search.on_progress(SearchProgress::new(move |answer| {
            progress_tx.send_replace(Some(answer.clone()));
        }));
    }
    let (tx, rx) = mpsc::channel::<Result<Bytes, Status>>(4);
    tokio::spawn(async move {
        // Dropped when the search ends or the client goes away: a search still running then
        // stops within milliseconds.
        let _cancel = token.cancel_on_drop();
        // The heads of the peers on the same bucket are asked at the same time; their
        // traces come with the last message.
        let mut run = std::pin::pin!(search::search_with_peers(&state, tenants, search));
        let mut sent = Sent::default();
        let mut last = Instant::now();
        loop {
            tokio::select! {
                done = &mut run => {
                    let item = match done {
                        Ok(answer) => Ok(sent.diff(&answer)),
                        Err(e) => Err(status(&e)),
                    };
                    let _ = tx.send(item).await;
                    return;
                }
                changed = progress_rx.changed(), if last.elapsed() >= UPDATE_INTERVAL => {
                    if changed.is_err() {
                        continue;
                    }
                    let answer = progress_rx.borrow_and_update().clone();
                    if let Some(answer) = answer {
                        last = Instant::now();
                        if tx.send(Ok(sent.diff(&answer))).await.is_err() {
                            return;
                        }
                    }
                }
                () = tokio::time::sleep_until((last + UPDATE_INTERVAL).into()),
                    if last.elapsed() < UPDATE_INTERVAL => {}
                () = tx.closed() => return,
            }
        }
    });
    Ok(Box::pin(futures_util::stream::unfold(rx, |mut rx| async {
        rx.recv().await.map(|item| (item, rx))
    })))
}

/// Milliseconds as a Go duration (empty: none).
fn ms(n: u32) -> String {
    if n == 0 {
        String::new()
    } else {
        format!("{n}ms")
    }
}

/// A logfmt value, quoted when it must be.
fn logfmt(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_whitespace() && c != '"' && c != '=' && c != '\\')
    {
        text.to_owned()
    } else {
        format!("{text:?}")
    }
}

/// The traces a streamed search has sent, to send only what changed.
#[derive(Default)]
struct Sent {
    traces: HashMap<TraceId, TraceMatch>,
}

impl Sent {
    /// The message for a running answer: the traces new or changed since the last, and the
    /// counts so far.
    fn diff(&mut self, answer: &SearchResponse) -> Bytes {
        let mut traces = Vec::new();
        for t in &answer.traces {
            if self.traces.get(&t.trace_id) != Some(t) {
                self.traces.insert(t.trace_id, t.clone());
                traces.push(trace_message(t));
            }
        }
        let m = &answer.metrics;
        let small = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        wire::SearchResponse {
            traces,
            metrics: Some(wire::SearchMetrics {
                inspected_traces: small(m.inspected_traces),
                inspected_bytes: m.inspected_bytes,
                total_blocks: small(m.total_blocks),
                completed_jobs: small(m.completed_jobs),
                total_jobs: small(m.total_jobs),
                total_block_bytes: 0,
                inspected_spans: m.inspected_spans,
            }),
        }
        .encode_to_vec()
        .into()
    }
}

/// A trace as Tempo's `TraceSearchMetadata`, with the same fields as the HTTP API's.
fn trace_message(t: &TraceMatch) -> wire::TraceSearchMetadata {
    let sets: Vec<wire::SpanSet> = t
        .span_sets
        .iter()
        .map(|set| wire::SpanSet {
            spans: set
                .spans
                .iter()
                .map(|s| wire::Span {
                    span_id: search_span_id(&s.span_id),
                    name: s.name.clone(),
                    start_time_unix_nano: s.start_time_unix_nano,
                    duration_nanos: s.duration_nanos,
                    attributes: s.attributes.clone(),
                })
                .collect(),
            matched: u32::try_from(set.matched).unwrap_or(u32::MAX),
            attributes: set.attributes.clone(),
        })
        .collect();
    wire::TraceSearchMetadata {
        trace_id: search_trace_id(&t.trace_id),
        root_service_name: t
            .root_service_name
            .clone()
            .unwrap_or_else(|| ROOT_SPAN_NOT_YET_RECEIVED.to_owned()),
        root_trace_name: t.root_trace_name.clone().unwrap_or_default(),
        start_time_unix_nano: t.start_time_unix_nano,
        duration_ms: u32::try_from(t.duration_nanos / 1_000_000).unwrap_or(u32::MAX),
        span_set: sets.first().cloned(),
        span_sets: sets,
        service_stats: t
            .service_stats
            .iter()
            .map(|(service, s)| {
                (
                    service.clone(),
                    wire::ServiceStats {
                        span_count: s.span_count,
                        error_count: s.error_count,
                    },
                )
            })
            .collect(),
    }
}

/// Passes request messages through as bytes, decoded by each method; sends answers already
/// encoded.
#[derive(Debug, Clone, Copy, Default)]
struct BytesCodec;

impl Codec for BytesCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = BytesCodec;
    type Decoder = BytesCodec;

    fn encoder(&mut self) -> BytesCodec {
        BytesCodec
    }

    fn decoder(&mut self) -> BytesCodec {
        BytesCodec
    }
}

impl Encoder for BytesCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.reserve(item.len());
        bytes::BufMut::put(dst, item);
        Ok(())
    }
}

impl Decoder for BytesCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        let len = src.remaining();
        Ok(Some(src.copy_to_bytes(len)))
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    fn trace(id: u8, matched: u64) -> TraceMatch {
        TraceMatch {
            trace_id: TraceId([id; 16]),
            root_service_name: Some("cart".into()),
            root_trace_name: Some("GET /".into()),
            start_time_unix_nano: u64::from(id),
            duration_nanos: 1_000_000,
            span_sets: vec![tempo_core::SpanSet {
                spans: Vec::new(),
                matched,
                attributes: Vec::new(),
            }],
            service_stats: Default::default(),
        }
    }

    fn answer(traces: Vec<TraceMatch>, completed: u64) -> SearchResponse {
        SearchResponse {
            traces,
            metrics: tempo_core::SearchMetrics {
                completed_jobs: completed,
                total_jobs: 3,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn each_message_carries_the_traces_new_or_changed_and_the_counts_so_far() {
        let mut sent = Sent::default();
        let first = wire::SearchResponse::decode(sent.diff(&answer(vec![trace(1, 1)], 1))).unwrap();
        assert_eq!(first.traces.len(), 1);
        let second =
            wire::SearchResponse::decode(sent.diff(&answer(vec![trace(1, 1), trace(2, 1)], 2)))
                .unwrap();
        assert_eq!(second.traces.len(), 1, "trace 1 is unchanged");
        assert_eq!(
            second.traces[0].trace_id,
            search_trace_id(&TraceId([2; 16]))
        );
        let third =
            wire::SearchResponse::decode(sent.diff(&answer(vec![trace(1, 2), trace(2, 1)], 3)))
                .unwrap();
        assert_eq!(third.traces.len(), 1, "trace 1 changed: sent again whole");
        assert_eq!(third.traces[0].span_sets[0].matched, 2);
        assert_eq!(third.metrics.unwrap().completed_jobs, 3);
        let last =
            wire::SearchResponse::decode(sent.diff(&answer(vec![trace(1, 2), trace(2, 1)], 3)))
                .unwrap();
        assert!(last.traces.is_empty());
        assert!(last.metrics.is_some(), "every message has the counts");
    }
}
