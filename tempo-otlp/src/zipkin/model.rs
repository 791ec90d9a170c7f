//! model: what does a Zipkin client send?
//!
//! Zipkin's v2 span model, the one shape that v2 JSON, v2 protobuf and (converted) v1 JSON
//! decode into. Times are microseconds, as in Zipkin.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

/// One Zipkin v2 span.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Span {
    /// The trace ID, 128-bit; a 64-bit ID has its high half zero.
    pub trace_id: [u8; 16],
    /// The span ID.
    pub id: [u8; 8],
    /// The parent's span ID.
    pub parent_id: Option<[u8; 8]>,
    /// The span's kind, when it has one.
    pub kind: Option<Kind>,
    /// The operation name.
    pub name: String,
    /// Start, in microseconds since the Unix epoch; `None` when absent.
    pub timestamp_us: Option<u64>,
    /// Duration, in microseconds.
    pub duration_us: u64,
    /// The service that recorded the span.
    pub local_endpoint: Option<Endpoint>,
    /// The other side of an RPC or messaging span.
    pub remote_endpoint: Option<Endpoint>,
    /// Timestamped events.
    pub annotations: Vec<Annotation>,
    /// Tags, string to string.
    pub tags: BTreeMap<String, String>,
    /// Whether the span was forced into the sample.
    pub debug: bool,
    /// Whether this is the server side of a span whose ID the client started (B3's single
    /// span per RPC).
    pub shared: bool,
}

/// A Zipkin span kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The client side of an RPC.
    Client,
    /// The server side of an RPC.
    Server,
    /// The producer of a message.
    Producer,
    /// The consumer of a message.
    Consumer,
}

/// A network endpoint: a service and its address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// The service name; empty when unknown.
    pub service_name: String,
    /// Its IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// Its IPv6 address.
    pub ipv6: Option<Ipv6Addr>,
    /// Its port; 0 when unknown.
    pub port: u16,
}

/// A timestamped event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Annotation {
    /// When, in microseconds since the Unix epoch.
    pub timestamp_us: u64,
    /// What happened.
    pub value: String,
}
