//! proto: which spans does a Zipkin protobuf body hold?
//!
//! Zipkin's proto3 messages (`zipkin2/zipkin.proto`: `ListOfSpans`, `Span`, `Endpoint`,
//! `Annotation`), written here with prost and Zipkin's field numbers, and their conversion
//! into the v2 [`Span`] model.

use std::net::{Ipv4Addr, Ipv6Addr};

use prost::Message;

use super::json::ZipkinError;
use super::model::{Annotation, Endpoint, Kind, Span};

/// `zipkin.proto3.ListOfSpans`: the body of a protobuf `POST /api/v2/spans`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListOfSpans {
    /// The spans.
    #[prost(message, repeated, tag = "1")]
    pub spans: Vec<ProtoSpan>,
}

/// `zipkin.proto3.Span`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoSpan {
    /// 8 or 16 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    /// 8 bytes, or none for a root span.
    #[prost(bytes = "vec", tag = "2")]
    pub parent_id: Vec<u8>,
    /// 8 bytes.
    #[prost(bytes = "vec", tag = "3")]
    pub id: Vec<u8>,
    /// `SPAN_KIND_UNSPECIFIED` (0), `CLIENT` (1), `SERVER` (2), `PRODUCER` (3),
    /// `CONSUMER` (4).
    #[prost(int32, tag = "4")]
    pub kind: i32,
    /// The operation name.
    #[prost(string, tag = "5")]
    pub name: String,
    /// Start, microseconds since the Unix epoch.
    #[prost(fixed64, tag = "6")]
    pub timestamp: u64,
    /// Duration, microseconds.
    #[prost(uint64, tag = "7")]
    pub duration: u64,
    /// The service that recorded the span.
    #[prost(message, optional, tag = "8")]
    pub local_endpoint: Option<ProtoEndpoint>,
    /// The other side.
    #[prost(message, optional, tag = "9")]
    pub remote_endpoint: Option<ProtoEndpoint>,
    /// Events.
    #[prost(message, repeated, tag = "10")]
    pub annotations: Vec<ProtoAnnotation>,
    /// Tags.
    #[prost(map = "string, string", tag = "11")]
    pub tags: std::collections::HashMap<String, String>,
    /// Forced into the sample.
    #[prost(bool, tag = "12")]
    pub debug: bool,
    /// The server side of a client's span ID.
    #[prost(bool, tag = "13")]
    pub shared: bool,
}

/// `zipkin.proto3.Endpoint`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoEndpoint {
    /// The service name.
    #[prost(string, tag = "1")]
    pub service_name: String,
    /// 4 bytes.
    #[prost(bytes = "vec", tag = "2")]
    pub ipv4: Vec<u8>,
    /// 16 bytes.
    #[prost(bytes = "vec", tag = "3")]
    pub ipv6: Vec<u8>,
    /// The port.
    #[prost(int32, tag = "4")]
    pub port: i32,
}

/// `zipkin.proto3.Annotation`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoAnnotation {
    /// Microseconds since the Unix epoch.
    #[prost(fixed64, tag = "1")]
    pub timestamp: u64,
    /// What happened.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// Decodes a Zipkin v2 protobuf body (`ListOfSpans`).
pub fn decode_proto(body: &[u8]) -> Result<Vec<Span>, ZipkinError> {
    let list = ListOfSpans::decode(body).map_err(|e| ZipkinError::Protobuf(e.to_string()))?;
    list.spans
        .into_iter()
        .enumerate()
        .map(|(i, s)| span(i, s))
        .collect()
}

fn invalid(span: usize, message: String) -> ZipkinError {
    ZipkinError::Span { span, message }
}

fn endpoint(e: Option<ProtoEndpoint>) -> Option<Endpoint> {
    let e = e?;
    Some(Endpoint {
        service_name: e.service_name,
        ipv4: <[u8; 4]>::try_from(e.ipv4.as_slice())
            .ok()
            .map(Ipv4Addr::from),
        ipv6: <[u8; 16]>::try_from(e.ipv6.as_slice())
            .ok()
            .map(Ipv6Addr::from),
        port: u16::try_from(e.port).unwrap_or(0),
    })
}

fn span(i: usize, s: ProtoSpan) -> Result<Span, ZipkinError> {
    let mut trace_id = [0u8; 16];
    match s.trace_id.len() {
        8 => trace_id[8..].copy_from_slice(&s.trace_id),
        16 => trace_id.copy_from_slice(&s.trace_id),
        n => {
            return Err(invalid(
                i,
                format!("trace_id must be 8 or 16 bytes, got {n}"),
            ));
        }
    }
    if trace_id.iter().all(|b| *b == 0) {
        return Err(invalid(i, "trace_id is all zeros".into()));
    }
    let id = <[u8; 8]>::try_from(s.id.as_slice())
        .ok()
        .filter(|id| id.iter().any(|b| *b != 0))
        .ok_or_else(|| {
            invalid(
                i,
                format!("id must be 8 bytes, not all zero, got {}", s.id.len()),
            )
        })?;
    let parent_id = match s.parent_id.len() {
        0 => None,
        8 => <[u8; 8]>::try_from(s.parent_id.as_slice())
            .ok()
            .filter(|p| p.iter().any(|b| *b != 0)),
        n => return Err(invalid(i, format!("parent_id must be 8 bytes, got {n}"))),
    };
    let mut tags: Vec<(String, String)> = s.tags.into_iter().collect();
    tags.sort();
    Ok(Span {
        trace_id,
        id,
        parent_id,
        kind: match s.kind {
            1 => Some(Kind::Client),
            2 => Some(Kind::Server),
            3 => Some(Kind::Producer),
            4 => Some(Kind::Consumer),
            _ => None,
        },
        name: s.name,
        timestamp_us: Some(s.timestamp).filter(|t| *t != 0),
        duration_us: s.duration,
        local_endpoint: endpoint(s.local_endpoint),
        remote_endpoint: endpoint(s.remote_endpoint),
        annotations: s
            .annotations
            .into_iter()
            .map(|a| Annotation {
                timestamp_us: a.timestamp,
                value: a.value,
            })
            .collect(),
        tags: tags.into_iter().collect(),
        debug: s.debug,
        shared: s.shared,
    })
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn every_field_converts() {
        let list = ListOfSpans {
            spans: vec![ProtoSpan {
                trace_id: vec![1; 8],
                parent_id: vec![2; 8],
                id: vec![3; 8],
                kind: 4,
                name: "consume".into(),
                timestamp: 10,
                duration: 20,
                local_endpoint: Some(ProtoEndpoint {
                    service_name: "worker".into(),
                    ipv4: vec![10, 0, 0, 1],
                    ipv6: vec![],
                    port: 5672,
                }),
                remote_endpoint: Some(ProtoEndpoint {
                    service_name: "rabbit".into(),
                    ipv4: vec![],
                    ipv6: vec![0; 16],
                    port: -1,
                }),
                annotations: vec![ProtoAnnotation {
                    timestamp: 15,
                    value: "acked".into(),
                }],
                tags: [("queue".to_owned(), "jobs".to_owned())].into(),
                debug: true,
                shared: true,
            }],
        };
        let spans = decode_proto(&list.encode_to_vec()).unwrap();
        let s = &spans[0];
        assert_eq!(s.trace_id, [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]);
        assert_eq!(s.parent_id, Some([2; 8]));
        assert_eq!(s.kind, Some(Kind::Consumer));
        assert_eq!((s.timestamp_us, s.duration_us), (Some(10), 20));
        let local = s.local_endpoint.as_ref().unwrap();
        assert_eq!(local.ipv4, Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(local.port, 5672);
        let remote = s.remote_endpoint.as_ref().unwrap();
        assert_eq!(remote.ipv6, Some(Ipv6Addr::UNSPECIFIED));
        assert_eq!(remote.port, 0);
        assert_eq!(s.annotations[0].value, "acked");
        assert_eq!(s.tags["queue"], "jobs");
        assert!(s.debug && s.shared);
    }

    #[test]
    fn bad_ids_are_refused() {
        let list = ListOfSpans {
            spans: vec![ProtoSpan {
                trace_id: vec![1; 5],
                id: vec![1; 8],
                ..ProtoSpan::default()
            }],
        };
        let err = decode_proto(&list.encode_to_vec()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "span 0: trace_id must be 8 or 16 bytes, got 5"
        );
        assert!(decode_proto(&[0x0a, 0xff]).is_err());
    }
}
