//! json: which spans does a Zipkin JSON body hold?
//!
//! Zipkin's v2 JSON (a list of spans, `POST /api/v2/spans`) and v1 JSON (`POST
//! /api/v1/spans`, annotations and binary annotations), decoded into the v2 [`Span`] model.
//! IDs are lower-hex; shorter IDs are left-padded with zeros, as Zipkin's readers accept
//! them. Tag values that are not strings (numbers, booleans, which some clients send) are
//! kept as their JSON text. Nesting is bounded by `serde_json`'s recursion limit.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::Deserialize;
use serde_json::Number;

use super::model::{Annotation, Endpoint, Kind, Span};

/// Why a Zipkin payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ZipkinError {
    /// The body is not the JSON Zipkin expects.
    #[error("malformed Zipkin JSON: {0}")]
    Json(String),
    /// The body is not a Zipkin `ListOfSpans` protobuf message.
    #[error("malformed Zipkin protobuf: {0}")]
    Protobuf(String),
    /// A span is not valid.
    #[error("span {span}: {message}")]
    Span {
        /// The span's index in the body.
        span: usize,
        /// What is wrong with it.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonEndpoint {
    service_name: Option<String>,
    ipv4: Option<String>,
    ipv6: Option<String>,
    port: Option<Number>,
}

#[derive(Deserialize)]
struct JsonAnnotation {
    timestamp: Option<Number>,
    value: Option<String>,
    /// v1 only.
    endpoint: Option<JsonEndpoint>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonSpanV2 {
    trace_id: Option<String>,
    id: Option<String>,
    parent_id: Option<String>,
    name: Option<String>,
    kind: Option<String>,
    timestamp: Option<Number>,
    duration: Option<Number>,
    debug: Option<bool>,
    shared: Option<bool>,
    local_endpoint: Option<JsonEndpoint>,
    remote_endpoint: Option<JsonEndpoint>,
    annotations: Option<Vec<JsonAnnotation>>,
    tags: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonSpanV1 {
    trace_id: Option<String>,
    id: Option<String>,
    parent_id: Option<String>,
    name: Option<String>,
    timestamp: Option<Number>,
    duration: Option<Number>,
    debug: Option<bool>,
    annotations: Option<Vec<JsonAnnotation>>,
    binary_annotations: Option<Vec<JsonBinaryAnnotation>>,
}

#[derive(Deserialize)]
struct JsonBinaryAnnotation {
    key: Option<String>,
    value: Option<serde_json::Value>,
    endpoint: Option<JsonEndpoint>,
}

/// Decodes a Zipkin v2 JSON body: a list of spans.
///
/// ```
/// let body = br#"[{"traceId":"5af7183fb1d4cf5f","id":"352bff9a74ca9ad2",
///     "name":"get /api","kind":"SERVER","timestamp":1556604172355737,"duration":1431,
///     "localEndpoint":{"serviceName":"backend","ipv4":"192.168.99.1","port":3306},
///     "tags":{"http.method":"GET"}}]"#;
/// let spans = tempo_otlp::zipkin::decode_json_v2(body)?;
/// assert_eq!(spans[0].name, "get /api");
/// assert_eq!(spans[0].trace_id[8..], [0x5a, 0xf7, 0x18, 0x3f, 0xb1, 0xd4, 0xcf, 0x5f]);
/// # Ok::<(), tempo_otlp::zipkin::ZipkinError>(())
/// ```
pub fn decode_json_v2(body: &[u8]) -> Result<Vec<Span>, ZipkinError> {
    let spans: Vec<JsonSpanV2> =
        serde_json::from_slice(body).map_err(|e| ZipkinError::Json(e.to_string()))?;
    spans
        .into_iter()
        .enumerate()
        .map(|(i, s)| v2_span(i, s))
        .collect()
}

/// Decodes a Zipkin v1 JSON body: a list of v1 spans, each converted into one or more v2
/// spans (a span holding both client and server annotations becomes a client span and a
/// shared server span, as Zipkin's own converter does).
pub fn decode_json_v1(body: &[u8]) -> Result<Vec<Span>, ZipkinError> {
    let spans: Vec<JsonSpanV1> =
        serde_json::from_slice(body).map_err(|e| ZipkinError::Json(e.to_string()))?;
    let mut out = Vec::new();
    for (i, s) in spans.into_iter().enumerate() {
        out.extend(v1_spans(i, s)?);
    }
    Ok(out)
}

fn invalid(span: usize, message: impl Into<String>) -> ZipkinError {
    ZipkinError::Span {
        span,
        message: message.into(),
    }
}

/// Parses a lower- or upper-case hex ID of at most `N * 2` digits, left-padded with zeros.
pub(crate) fn hex_id<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.is_empty() || text.len() > N * 2 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let padded = format!("{text:0>width$}", width = N * 2);
    let mut out = [0u8; N];
    hex::decode_to_slice(padded, &mut out).ok()?;
    Some(out)
}

/// A span's trace ID, ID and parent ID.
type Ids = ([u8; 16], [u8; 8], Option<[u8; 8]>);

fn ids(
    i: usize,
    trace_id: Option<&str>,
    id: Option<&str>,
    parent_id: Option<&str>,
) -> Result<Ids, ZipkinError> {
    let trace_text = trace_id.ok_or_else(|| invalid(i, "traceId is missing"))?;
    let trace_id = hex_id::<16>(trace_text)
        .filter(|t| t.iter().any(|b| *b != 0))
        .ok_or_else(|| {
            invalid(
                i,
                format!("traceId {trace_text:?} is not 1 to 32 hex digits, not all zero"),
            )
        })?;
    let id_text = id.ok_or_else(|| invalid(i, "id is missing"))?;
    let id = hex_id::<8>(id_text)
        .filter(|t| t.iter().any(|b| *b != 0))
        .ok_or_else(|| {
            invalid(
                i,
                format!("id {id_text:?} is not 1 to 16 hex digits, not all zero"),
            )
        })?;
    let parent_id = match parent_id {
        None | Some("") => None,
        Some(p) => Some(
            hex_id::<8>(p)
                .ok_or_else(|| invalid(i, format!("parentId {p:?} is not 1 to 16 hex digits")))?,
        ),
    }
    .filter(|p| p.iter().any(|b| *b != 0));
    Ok((trace_id, id, parent_id))
}

fn micros(i: usize, what: &str, n: Option<&Number>) -> Result<Option<u64>, ZipkinError> {
    let Some(n) = n else { return Ok(None) };
    if let Some(v) = n.as_u64() {
        return Ok(Some(v));
    }
    match n.as_f64() {
        Some(f) if f.is_finite() && f >= 0.0 => Ok(Some(f as u64)),
        _ => Err(invalid(
            i,
            format!("{what} {n} is not a count of microseconds"),
        )),
    }
}

fn endpoint(e: Option<JsonEndpoint>) -> Option<Endpoint> {
    let e = e?;
    Some(Endpoint {
        service_name: e.service_name.unwrap_or_default(),
        ipv4: e.ipv4.and_then(|a| a.parse::<Ipv4Addr>().ok()),
        ipv6: e.ipv6.and_then(|a| a.parse::<Ipv6Addr>().ok()),
        port: e
            .port
            .and_then(|p| p.as_u64())
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(0),
    })
}

fn kind(text: &str) -> Option<Kind> {
    match text.to_ascii_uppercase().as_str() {
        "CLIENT" => Some(Kind::Client),
        "SERVER" => Some(Kind::Server),
        "PRODUCER" => Some(Kind::Producer),
        "CONSUMER" => Some(Kind::Consumer),
        _ => None,
    }
}

/// A tag value as text: strings as they are, anything else as its JSON.
fn tag_text(v: serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s,
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn annotations(
    i: usize,
    list: Option<Vec<JsonAnnotation>>,
) -> Result<Vec<Annotation>, ZipkinError> {
    list.unwrap_or_default()
        .into_iter()
        .map(|a| {
            Ok(Annotation {
                timestamp_us: micros(i, "annotation timestamp", a.timestamp.as_ref())?.unwrap_or(0),
                value: a.value.unwrap_or_default(),
            })
        })
        .collect()
}

fn v2_span(i: usize, s: JsonSpanV2) -> Result<Span, ZipkinError> {
    let (trace_id, id, parent_id) = ids(
        i,
        s.trace_id.as_deref(),
        s.id.as_deref(),
        s.parent_id.as_deref(),
    )?;
    Ok(Span {
        trace_id,
        id,
        parent_id,
        kind: s.kind.as_deref().and_then(kind),
        name: s.name.unwrap_or_default(),
        timestamp_us: micros(i, "timestamp", s.timestamp.as_ref())?.filter(|t| *t != 0),
        duration_us: micros(i, "duration", s.duration.as_ref())?.unwrap_or(0),
        local_endpoint: endpoint(s.local_endpoint),
        remote_endpoint: endpoint(s.remote_endpoint),
        annotations: annotations(i, s.annotations)?,
        tags: s
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, tag_text(v)))
            .collect(),
        debug: s.debug.unwrap_or(false),
        shared: s.shared.unwrap_or(false),
    })
}

/// A v1 core annotation: its timestamp and endpoint.
struct Core {
    ts: u64,
    endpoint: Option<Endpoint>,
}

fn v1_spans(i: usize, s: JsonSpanV1) -> Result<Vec<Span>, ZipkinError> {
    let (trace_id, id, parent_id) = ids(
        i,
        s.trace_id.as_deref(),
        s.id.as_deref(),
        s.parent_id.as_deref(),
    )?;
    let base = Span {
        trace_id,
        id,
        parent_id,
        name: s.name.unwrap_or_default(),
        debug: s.debug.unwrap_or(false),
        ..Span::default()
    };
    let span_ts = micros(i, "timestamp", s.timestamp.as_ref())?.filter(|t| *t != 0);
    let span_duration = micros(i, "duration", s.duration.as_ref())?;

    let mut core: BTreeMap<&'static str, Core> = BTreeMap::new();
    let mut others = Vec::new();
    let mut first_endpoint: Option<Endpoint> = None;
    for a in s.annotations.unwrap_or_default() {
        let ts = micros(i, "annotation timestamp", a.timestamp.as_ref())?.unwrap_or(0);
        let value = a.value.unwrap_or_default();
        let ep = endpoint(a.endpoint);
        if first_endpoint.is_none() {
            first_endpoint.clone_from(&ep);
        }
        let key = match value.as_str() {
            "cs" => Some("cs"),
            "cr" => Some("cr"),
            "sr" => Some("sr"),
            "ss" => Some("ss"),
            "ms" => Some("ms"),
            "mr" => Some("mr"),
            _ => None,
        };
        match key {
            Some(k) if !core.contains_key(k) => {
                core.insert(k, Core { ts, endpoint: ep });
            }
            _ => others.push(Annotation {
                timestamp_us: ts,
                value,
            }),
        }
    }
    let pair = |start: &str, end: &str| -> Option<(Option<u64>, u64, Option<Endpoint>)> {
        let (a, b) = (core.get(start), core.get(end));
        if a.is_none() && b.is_none() {
            return None;
        }
        let ts = a.map(|c| c.ts).filter(|t| *t != 0);
        let duration = match (a, b) {
            (Some(a), Some(b)) => b.ts.saturating_sub(a.ts),
            _ => 0,
        };
        let ep = a
            .and_then(|c| c.endpoint.clone())
            .or_else(|| b.and_then(|c| c.endpoint.clone()));
        Some((
            ts.or_else(|| b.map(|c| c.ts).filter(|t| *t != 0)),
            duration,
            ep,
        ))
    };
    let mut spans = Vec::new();
    let client = pair("cs", "cr");
    let server = pair("sr", "ss");
    if let Some((ts, duration, ep)) = client.clone() {
        spans.push(Span {
            kind: Some(Kind::Client),
            timestamp_us: ts,
            duration_us: duration,
            local_endpoint: ep,
            ..base.clone()
        });
    }
    if let Some((ts, duration, ep)) = server {
        spans.push(Span {
            kind: Some(Kind::Server),
            timestamp_us: ts,
            duration_us: duration,
            local_endpoint: ep,
            shared: client.is_some(),
            ..base.clone()
        });
    }
    for (k, kind) in [("ms", Kind::Producer), ("mr", Kind::Consumer)] {
        if let Some(c) = core.get(k) {
            spans.push(Span {
                kind: Some(kind),
                timestamp_us: Some(c.ts).filter(|t| *t != 0),
                local_endpoint: c.endpoint.clone(),
                ..base.clone()
            });
        }
    }
    if spans.is_empty() {
        spans.push(Span {
            local_endpoint: first_endpoint,
            ..base
        });
    }
    // The span's own timestamp and duration are authoritative for its first part.
    if let Some(first) = spans.first_mut() {
        if let Some(ts) = span_ts {
            first.timestamp_us = Some(ts);
        }
        if let Some(d) = span_duration {
            first.duration_us = d;
        }
        first.annotations = others;
    }
    for b in s.binary_annotations.unwrap_or_default() {
        let key = b.key.unwrap_or_default();
        let ep = endpoint(b.endpoint);
        let is_true = matches!(&b.value, Some(serde_json::Value::Bool(true)))
            || matches!(&b.value, Some(serde_json::Value::String(s)) if s == "true");
        let target_kind = match key.as_str() {
            "sa" if is_true => Some(Kind::Client),
            "ca" if is_true => Some(Kind::Server),
            "ma" if is_true => None,
            _ => {
                let value = b.value.map(tag_text).unwrap_or_default();
                if let Some(first) = spans.first_mut() {
                    if key == "lc" && first.local_endpoint.is_none() {
                        first.local_endpoint = ep;
                    }
                    first.tags.insert(key, value);
                }
                continue;
            }
        };
        // An address: the remote endpoint of the span on the other side.
        let span = match target_kind {
            Some(k) => spans.iter_mut().find(|s| s.kind == Some(k)),
            None => spans
                .iter_mut()
                .find(|s| matches!(s.kind, Some(Kind::Producer | Kind::Consumer))),
        };
        match span {
            Some(span) => span.remote_endpoint = ep,
            None => {
                if let Some(first) = spans.first_mut()
                    && first.remote_endpoint.is_none()
                {
                    first.remote_endpoint = ep;
                }
            }
        }
    }
    Ok(spans)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn v2_every_field() {
        let body = br#"[{
            "traceId": "463ac35c9f6413ad48485a3953bb6124", "id": "a2fb4a1d1a96d312",
            "parentId": "0020000000000001", "name": "get", "kind": "CLIENT",
            "timestamp": 1472470996199000, "duration": 207000, "debug": true, "shared": false,
            "localEndpoint": {"serviceName": "frontend", "ipv4": "127.0.0.1", "port": 8080},
            "remoteEndpoint": {"serviceName": "backend", "ipv6": "::1", "port": 9000},
            "annotations": [{"timestamp": 1472470996238000, "value": "ws"}],
            "tags": {"http.path": "/api", "count": 3, "ok": true, "none": null}
        }, {"traceId": "1", "id": "2", "timestamp": 1.5e15}]"#;
        let spans = decode_json_v2(body).unwrap();
        let s = &spans[0];
        assert_eq!(hex::encode(s.trace_id), "463ac35c9f6413ad48485a3953bb6124");
        assert_eq!(hex::encode(s.id), "a2fb4a1d1a96d312");
        assert_eq!(hex::encode(s.parent_id.unwrap()), "0020000000000001");
        assert_eq!(s.kind, Some(Kind::Client));
        assert_eq!(
            (s.timestamp_us, s.duration_us),
            (Some(1472470996199000), 207000)
        );
        assert!(s.debug && !s.shared);
        let local = s.local_endpoint.as_ref().unwrap();
        assert_eq!(local.service_name, "frontend");
        assert_eq!(local.ipv4, Some(Ipv4Addr::LOCALHOST));
        assert_eq!(local.port, 8080);
        let remote = s.remote_endpoint.as_ref().unwrap();
        assert_eq!(remote.ipv6, Some(Ipv6Addr::LOCALHOST));
        assert_eq!(s.annotations[0].value, "ws");
        assert_eq!(s.tags["count"], "3");
        assert_eq!(s.tags["ok"], "true");
        assert_eq!(s.tags["none"], "");
        assert_eq!(
            hex::encode(spans[1].trace_id),
            "00000000000000000000000000000001"
        );
        assert_eq!(spans[1].timestamp_us, Some(1_500_000_000_000_000));
    }

    #[test]
    fn bad_ids_and_bodies_are_refused_with_the_span_named() {
        let err = decode_json_v2(br#"[{"traceId":"xyz","id":"1"}]"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "span 0: traceId \"xyz\" is not 1 to 32 hex digits, not all zero"
        );
        let err = decode_json_v2(br#"[{"traceId":"1","id":"1"},{"traceId":"1"}]"#).unwrap_err();
        assert_eq!(err.to_string(), "span 1: id is missing");
        assert!(decode_json_v2(br#"{"traceId":"1"}"#).is_err());
        assert!(decode_json_v2(br#"[{"traceId":"1","id":"1","timestamp":-1}]"#).is_err());
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(decode_json_v2(deep.as_bytes()).is_err());
    }

    #[test]
    fn v1_client_and_server_in_one_span_become_two() {
        let body = br#"[{
            "traceId": "5af7183fb1d4cf5f", "id": "352bff9a74ca9ad2", "parentId": "6b221d5bc9e6496c",
            "name": "get /api", "timestamp": 1556604172355737, "duration": 1431,
            "annotations": [
                {"timestamp": 1556604172355737, "value": "cs", "endpoint": {"serviceName": "frontend", "ipv4": "192.168.99.1"}},
                {"timestamp": 1556604172355800, "value": "sr", "endpoint": {"serviceName": "backend", "ipv4": "192.168.99.101", "port": 9000}},
                {"timestamp": 1556604172356000, "value": "retry"},
                {"timestamp": 1556604172357000, "value": "ss", "endpoint": {"serviceName": "backend"}},
                {"timestamp": 1556604172357168, "value": "cr", "endpoint": {"serviceName": "frontend"}}
            ],
            "binaryAnnotations": [
                {"key": "http.path", "value": "/api", "endpoint": {"serviceName": "frontend"}},
                {"key": "sa", "value": true, "endpoint": {"serviceName": "backend", "port": 9000}},
                {"key": "ca", "value": true, "endpoint": {"serviceName": "frontend", "ipv4": "192.168.99.1"}},
                {"key": "retries", "value": 2, "type": "I32"}
            ]
        }]"#;
        let spans = decode_json_v1(body).unwrap();
        assert_eq!(spans.len(), 2);
        let (client, server) = (&spans[0], &spans[1]);
        assert_eq!(client.kind, Some(Kind::Client));
        assert_eq!(client.timestamp_us, Some(1556604172355737));
        assert_eq!(client.duration_us, 1431);
        assert_eq!(
            client.local_endpoint.as_ref().unwrap().service_name,
            "frontend"
        );
        assert_eq!(
            client.remote_endpoint.as_ref().unwrap().service_name,
            "backend"
        );
        assert_eq!(client.annotations[0].value, "retry");
        assert_eq!(client.tags["http.path"], "/api");
        assert_eq!(client.tags["retries"], "2");
        assert_eq!(server.kind, Some(Kind::Server));
        assert!(server.shared);
        assert_eq!(server.timestamp_us, Some(1556604172355800));
        assert_eq!(server.duration_us, 1200);
        assert_eq!(server.local_endpoint.as_ref().unwrap().port, 9000);
        assert_eq!(
            server.remote_endpoint.as_ref().unwrap().service_name,
            "frontend"
        );
        assert_eq!(server.id, client.id);

        // Without core annotations: one span, its endpoint from the `lc` tag.
        let body = br#"[{"traceId":"1","id":"2","name":"work","timestamp":10,"duration":5,
            "binaryAnnotations":[{"key":"lc","value":"worker","endpoint":{"serviceName":"batch"}}]}]"#;
        let spans = decode_json_v1(body).unwrap();
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].kind, None);
        assert_eq!(
            spans[0].local_endpoint.as_ref().unwrap().service_name,
            "batch"
        );
        assert_eq!(spans[0].tags["lc"], "worker");
        assert_eq!((spans[0].timestamp_us, spans[0].duration_us), (Some(10), 5));
    }

    #[test]
    fn noise_never_panics() {
        let body = br#"[{"traceId":"463ac35c9f6413ad","id":"a2fb4a1d1a96d312","kind":"SERVER",
            "localEndpoint":{"serviceName":"a","port":99999},"annotations":[{"timestamp":1,"value":"x"}],
            "tags":{"a":"b"},"binaryAnnotations":[{"key":"sa","value":true}]}]"#;
        for cut in 0..body.len() {
            let _ = decode_json_v2(&body[..cut]);
            let _ = decode_json_v1(&body[..cut]);
        }
        let mut state = 0x1234_5678_9abc_def1u64;
        for _ in 0..2000 {
            let mut m = body.to_vec();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let i = (state as usize) % m.len();
            m[i] = (state >> 40) as u8;
            let _ = decode_json_v2(&m);
            let _ = decode_json_v1(&m);
        }
    }
}
