//! zipkin: how do spans from Zipkin clients get in?
//!
//! Zipkin's collector API as Tempo's Zipkin receiver (the OpenTelemetry Collector's) takes
//! it, on port 9411: `POST /api/v2/spans` with JSON or protobuf bodies and `POST
//! /api/v1/spans` with JSON ([`router`]), gzip-compressed or not. Spans are mapped into OTLP
//! by [`spans_to_resource_spans`] and stored through the same path as OTLP.
//!
//! The decoders are public too: [`decode_json_v2`], [`decode_json_v1`] and
//! [`decode_proto`] into the v2 [`Span`] model, then [`spans_to_resource_spans`].

mod http;
mod json;
mod map;
mod model;
pub mod proto;

pub use http::{ZIPKIN_V1_PATH, ZIPKIN_V2_PATH, router};
pub use json::{ZipkinError, decode_json_v1, decode_json_v2};
pub use map::spans_to_resource_spans;
pub use model::{Annotation, Endpoint, Kind, Span};
pub use proto::decode_proto;
