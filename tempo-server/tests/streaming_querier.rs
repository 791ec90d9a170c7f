//! Tempo's streaming querier (`tempopb.StreamingQuerier`), gRPC on the HTTP port, as
//! Grafana's Tempo data source calls it with streaming on: a client built from Tempo's
//! message definitions (written out below with Tempo's field numbers) gets, for each method,
//! the answer the HTTP API gives; Grafana's health check (a `{}` search, limit 1, over the
//! last 15 minutes) succeeds; the tenant comes from `X-Scope-OrgID` metadata; errors are
//! statuses with the HTTP API's messages.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use std::collections::{BTreeSet, HashMap};

use bytes::{Buf, BufMut, Bytes};
use common::Server;
use common::grpc::export;
use common::spans::{encode, request, trace_id};
use prost::Message;
use serde_json::Value as Json;
use tempo_core::model::{AnyValue, KeyValue, Value};

// Tempo's messages, as a client would write them from `tempo.proto`.

#[derive(Clone, PartialEq, prost::Message)]
struct SearchRequest {
    #[prost(map = "string, string", tag = "1")]
    tags: HashMap<String, String>,
    #[prost(uint32, tag = "2")]
    min_duration_ms: u32,
    #[prost(uint32, tag = "4")]
    limit: u32,
    #[prost(uint32, tag = "5")]
    start: u32,
    #[prost(uint32, tag = "6")]
    end: u32,
    #[prost(string, tag = "8")]
    query: String,
    #[prost(uint32, tag = "9")]
    spans_per_span_set: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SearchResponse {
    #[prost(message, repeated, tag = "1")]
    traces: Vec<TraceSearchMetadata>,
    #[prost(message, optional, tag = "2")]
    metrics: Option<SearchMetrics>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TraceSearchMetadata {
    #[prost(string, tag = "1")]
    trace_id: String,
    #[prost(string, tag = "2")]
    root_service_name: String,
    #[prost(string, tag = "3")]
    root_trace_name: String,
    #[prost(uint64, tag = "4")]
    start_time_unix_nano: u64,
    #[prost(message, repeated, tag = "7")]
    span_sets: Vec<SpanSet>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SpanSet {
    #[prost(message, repeated, tag = "1")]
    spans: Vec<Span>,
    #[prost(uint32, tag = "2")]
    matched: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Span {
    #[prost(string, tag = "1")]
    span_id: String,
    #[prost(string, tag = "2")]
    name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SearchMetrics {
    #[prost(uint32, tag = "1")]
    inspected_traces: u32,
    #[prost(uint32, tag = "4")]
    completed_jobs: u32,
    #[prost(uint32, tag = "5")]
    total_jobs: u32,
    #[prost(uint64, tag = "7")]
    inspected_spans: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SearchTagsRequest {
    #[prost(string, tag = "1")]
    scope: String,
    #[prost(string, tag = "2")]
    query: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SearchTagsResponse {
    #[prost(string, repeated, tag = "1")]
    tag_names: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SearchTagsV2Response {
    #[prost(message, repeated, tag = "1")]
    scopes: Vec<SearchTagsV2Scope>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SearchTagsV2Scope {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, repeated, tag = "2")]
    tags: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SearchTagValuesRequest {
    #[prost(string, tag = "1")]
    tag_name: String,
    #[prost(string, tag = "2")]
    query: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SearchTagValuesResponse {
    #[prost(string, repeated, tag = "1")]
    tag_values: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SearchTagValuesV2Response {
    #[prost(message, repeated, tag = "1")]
    tag_values: Vec<TagValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TagValue {
    #[prost(string, tag = "1")]
    r#type: String,
    #[prost(string, tag = "2")]
    value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct QueryRangeRequest {
    #[prost(string, tag = "1")]
    query: String,
    #[prost(uint64, tag = "2")]
    start: u64,
    #[prost(uint64, tag = "3")]
    end: u64,
    #[prost(uint64, tag = "4")]
    step: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct QueryRangeResponse {
    #[prost(message, repeated, tag = "1")]
    series: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<KeyValue>,
    #[prost(message, repeated, tag = "2")]
    samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Sample {
    #[prost(double, tag = "1")]
    value: f64,
    #[prost(int64, tag = "2")]
    timestamp_ms: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct QueryInstantRequest {
    #[prost(string, tag = "1")]
    query: String,
    #[prost(uint64, tag = "2")]
    start: u64,
    #[prost(uint64, tag = "3")]
    end: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct QueryInstantResponse {
    #[prost(message, repeated, tag = "1")]
    series: Vec<InstantSeries>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct InstantSeries {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<KeyValue>,
    #[prost(double, tag = "2")]
    value: f64,
}

/// Sends and receives message bytes as they are.
#[derive(Clone, Copy)]
struct Raw;

impl tonic::codec::Codec for Raw {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl tonic::codec::Encoder for Raw {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Bytes,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for Raw {
    type Item = Bytes;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Bytes>, tonic::Status> {
        let n = src.remaining();
        Ok(Some(src.copy_to_bytes(n)))
    }
}

/// Calls `method` of the streaming querier on the HTTP port and decodes every message.
async fn call<M: Message + Default>(
    server: &Server,
    method: &str,
    req: impl Message,
    tenant: Option<&str>,
) -> Result<Vec<M>, tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(server.api(""))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.unwrap();
    let mut request = tonic::Request::new(Bytes::from(req.encode_to_vec()));
    if let Some(t) = tenant {
        request
            .metadata_mut()
            .insert("x-scope-orgid", t.parse().unwrap());
    }
    let path: http::uri::PathAndQuery = format!("/tempopb.StreamingQuerier/{method}")
        .parse()
        .unwrap();
    let mut stream = client
        .server_streaming(request, path, Raw)
        .await?
        .into_inner();
    let mut out = Vec::new();
    while let Some(message) = stream.message().await? {
        out.push(M::decode(message).unwrap());
    }
    Ok(out)
}

fn http_json(server: &Server, path: &str) -> Json {
    let (status, _, body) = server.get(path, &[]);
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

/// The traces of a streamed search, gathered as Grafana gathers them (the first copy of
/// each trace ID is kept).
fn gathered(messages: &[SearchResponse]) -> Vec<TraceSearchMetadata> {
    let mut seen = BTreeSet::new();
    messages
        .iter()
        .flat_map(|m| m.traces.iter())
        .filter(|t| seen.insert(t.trace_id.clone()))
        .cloned()
        .collect()
}

/// A server holding 30 traces of 3 spans of `cart` (the second span of each in error).
async fn server_with_traces(dir: &std::path::Path, extra: &str) -> Server {
    let server = Server::start_in(dir, extra);
    let ids: Vec<[u8; 16]> = (0..30).map(|i| trace_id(7, i)).collect();
    let tenant = extra.contains("multitenancy_enabled").then_some("team-a");
    export(
        &server.otlp_grpc(),
        encode(&request("cart", &ids, 3)),
        tenant,
    )
    .await
    .unwrap();
    server
}

#[tokio::test]
async fn grafanas_health_check_and_searches_answer_as_the_http_api() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_traces(dir.path(), "").await;

    // Grafana's health check: `{}`, limit 1, the last 15 minutes (the test data is older).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    let health: Vec<SearchResponse> = call(
        &server,
        "Search",
        SearchRequest {
            query: "{}".into(),
            limit: 1,
            start: now - 900,
            end: now,
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    assert!(!health.is_empty(), "at least one message, with the metrics");
    assert!(gathered(&health).is_empty());

    for (query, limit) in [
        ("{ status = error }", 50),
        ("{}", 5),
        ("{ span.index = 2 }", 20),
    ] {
        let messages: Vec<SearchResponse> = call(
            &server,
            "Search",
            SearchRequest {
                query: query.into(),
                limit,
                spans_per_span_set: 2,
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
        let streamed = gathered(&messages);
        let http = http_json(
            &server,
            &format!(
                "/api/search?q={}&limit={limit}&spss=2",
                query
                    .replace(' ', "%20")
                    .replace('{', "%7B")
                    .replace('}', "%7D")
            ),
        );
        let expected: Vec<&str> = http["traces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["traceID"].as_str().unwrap())
            .collect();
        let got: Vec<&str> = streamed.iter().map(|t| t.trace_id.as_str()).collect();
        assert_eq!(got.len(), expected.len(), "{query}");
        assert_eq!(
            got.iter().collect::<BTreeSet<_>>(),
            expected.iter().collect::<BTreeSet<_>>(),
            "{query}"
        );
        for t in &streamed {
            assert_eq!(t.root_service_name, "cart");
            assert_eq!(t.root_trace_name, "op-0");
            assert!(t.span_sets[0].spans.len() <= 2);
        }
        let last = messages.last().unwrap().metrics.clone().unwrap();
        assert_eq!(last.inspected_traces, 30, "{query}: the final counts");
        assert_eq!(last.completed_jobs, last.total_jobs);
    }

    // The legacy tag search, through the request's tags.
    let messages: Vec<SearchResponse> = call(
        &server,
        "Search",
        SearchRequest {
            tags: HashMap::from([("service.name".to_owned(), "cart".to_owned())]),
            limit: 100,
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    assert_eq!(gathered(&messages).len(), 30);
}

#[tokio::test]
async fn tags_and_values_answer_as_the_http_api() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_traces(dir.path(), "").await;

    let v1: Vec<SearchTagsResponse> =
        call(&server, "SearchTags", SearchTagsRequest::default(), None)
            .await
            .unwrap();
    let http = http_json(&server, "/api/search/tags");
    let expected: Vec<String> = http["tagNames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(v1.len(), 1);
    assert_eq!(v1[0].tag_names, expected);
    assert!(expected.contains(&"http.route".to_owned()));

    let v2: Vec<SearchTagsV2Response> = call(
        &server,
        "SearchTagsV2",
        SearchTagsRequest {
            scope: "span".into(),
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    let http = http_json(&server, "/api/v2/search/tags?scope=span");
    assert_eq!(v2[0].scopes.len(), 1);
    assert_eq!(v2[0].scopes[0].name, "span");
    assert_eq!(
        Json::from(v2[0].scopes[0].tags.clone()),
        http["scopes"][0]["tags"]
    );

    let values: Vec<SearchTagValuesResponse> = call(
        &server,
        "SearchTagValues",
        SearchTagValuesRequest {
            tag_name: "http.route".into(),
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    assert_eq!(values[0].tag_values, vec!["/cart".to_owned()]);

    let typed: Vec<SearchTagValuesV2Response> = call(
        &server,
        "SearchTagValuesV2",
        SearchTagValuesRequest {
            tag_name: "span.index".into(),
            query: "{ status = error }".into(),
        },
        None,
    )
    .await
    .unwrap();
    let http = http_json(
        &server,
        "/api/v2/search/tag/span.index/values?q=%7B%20status%20%3D%20error%20%7D",
    );
    let expected: Vec<(String, String)> = http["tagValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["type"].as_str().unwrap().to_owned(),
                v["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let got: Vec<(String, String)> = typed[0]
        .tag_values
        .iter()
        .map(|v| (v.r#type.clone(), v.value.clone()))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(got, vec![("int".to_owned(), "1".to_owned())]);
}

#[tokio::test]
async fn metrics_queries_answer_as_the_http_api() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_traces(dir.path(), "").await;
    // The test spans start at 1,700,000,000 s.
    let start = 1_699_999_800 * 1_000_000_000u64;
    let end = 1_700_000_400 * 1_000_000_000u64;
    let range: Vec<QueryRangeResponse> = call(
        &server,
        "MetricsQueryRange",
        QueryRangeRequest {
            query: "{ } | count_over_time() by (status)".into(),
            start,
            end,
            step: 60_000_000_000,
        },
        None,
    )
    .await
    .unwrap();
    let series = &range.last().unwrap().series;
    let total: f64 = series
        .iter()
        .flat_map(|s| s.samples.iter())
        .map(|s| s.value)
        .sum();
    assert_eq!(total, 90.0, "every span counted once");
    let statuses: BTreeSet<String> = series
        .iter()
        .flat_map(|s| s.labels.iter())
        .filter(|l| l.key == "status")
        .map(|l| match &l.value {
            Some(AnyValue {
                value: Some(Value::StringValue(s)),
            }) => s.clone(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        statuses,
        BTreeSet::from(["error".to_owned(), "unset".to_owned()])
    );

    let instant: Vec<QueryInstantResponse> = call(
        &server,
        "MetricsQueryInstant",
        QueryInstantRequest {
            query: "{ status = error } | count_over_time()".into(),
            start,
            end,
        },
        None,
    )
    .await
    .unwrap();
    assert_eq!(instant.last().unwrap().series.len(), 1);
    assert_eq!(instant.last().unwrap().series[0].value, 30.0);
}

#[tokio::test]
async fn tenants_come_from_metadata_and_errors_are_statuses_with_the_apis_messages() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_traces(dir.path(), "multitenancy_enabled: true\n").await;
    let search = SearchRequest {
        query: "{}".into(),
        limit: 100,
        ..Default::default()
    };

    let theirs: Vec<SearchResponse> = call(&server, "Search", search.clone(), Some("team-a"))
        .await
        .unwrap();
    assert_eq!(gathered(&theirs).len(), 30);
    let others: Vec<SearchResponse> = call(&server, "Search", search.clone(), Some("team-b"))
        .await
        .unwrap();
    assert!(gathered(&others).is_empty(), "another tenant sees nothing");

    let missing = call::<SearchResponse>(&server, "Search", search, None)
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::Unauthenticated, "{missing:?}");

    let bad = call::<SearchResponse>(
        &server,
        "Search",
        SearchRequest {
            query: "{ .a = }".into(),
            ..Default::default()
        },
        Some("team-a"),
    )
    .await
    .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument, "{bad:?}");
    assert!(!bad.message().is_empty());

    let not_metrics = call::<QueryRangeResponse>(
        &server,
        "MetricsQueryRange",
        QueryRangeRequest {
            query: "{ }".into(),
            start: 1,
            end: 2_000_000_000,
            step: 0,
        },
        Some("team-a"),
    )
    .await
    .unwrap_err();
    assert_eq!(not_metrics.code(), tonic::Code::InvalidArgument);

    // Garbage where a message should be.
    let channel = tonic::transport::Endpoint::from_shared(server.api(""))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.unwrap();
    let mut request = tonic::Request::new(Bytes::from_static(&[0xff, 0xff, 0xff]));
    request
        .metadata_mut()
        .insert("x-scope-orgid", "team-a".parse().unwrap());
    let garbage = client
        .server_streaming(
            request,
            http::uri::PathAndQuery::from_static("/tempopb.StreamingQuerier/Search"),
            Raw,
        )
        .await
        .unwrap_err();
    assert_eq!(garbage.code(), tonic::Code::InvalidArgument);
    // The HTTP API still answers.
    let (status, _, _) = server.get("/ready", &[]);
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_search_over_many_sources_streams_its_traces_as_it_finds_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(
        dir.path(),
        "ingester:\n  max_block_duration: 1s\n  trace_idle_period: 1s\n",
    );
    // Batches of traces in blocks of their own.
    for batch in 0..6u64 {
        let ids: Vec<[u8; 16]> = (0..50).map(|i| trace_id(100 + batch, i)).collect();
        let mut data = request("cart", &ids, 20);
        for s in &mut data.resource_spans[0].scope_spans[0].spans {
            s.attributes
                .push(KeyValue::string("batch", batch.to_string()));
        }
        export(&server.otlp_grpc(), encode(&data), None)
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    }
    let messages: Vec<SearchResponse> = call(
        &server,
        "Search",
        SearchRequest {
            query: "{ span.index = 0 } >> { span.index = 3 }".into(),
            limit: 1000,
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    let traces = gathered(&messages);
    assert_eq!(traces.len(), 300);
    // Each message carries only traces new or changed since the one before.
    let sent: usize = messages.iter().map(|m| m.traces.len()).sum();
    assert_eq!(sent, 300, "no trace is sent twice unchanged");
    let jobs: Vec<u32> = messages
        .iter()
        .map(|m| m.metrics.clone().unwrap().completed_jobs)
        .collect();
    assert!(
        jobs.windows(2).all(|w| w[0] <= w[1]),
        "counts only grow: {jobs:?}"
    );
}

#[tokio::test]
async fn stream_over_http_enabled_false_turns_the_service_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), "stream_over_http_enabled: false\n");
    let off = call::<SearchResponse>(&server, "Search", SearchRequest::default(), None)
        .await
        .unwrap_err();
    assert_ne!(off.code(), tonic::Code::Ok);
    assert!(
        !server
            .log_text()
            .contains("stream_over_http_enabled\" ignored")
    );
}
