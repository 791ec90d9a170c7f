//! render: what bytes does Tempo send back for a trace, a search or a tag lookup?
//!
//! Each body is written as Tempo writes it, byte for byte:
//!
//! - [`jsonpb`]: the JSON rules every body follows (gogo-protobuf's `jsonpb`: base64 bytes and
//!   hex search IDs, 64-bit integers as strings, enums by name, zero values left out, Go's
//!   string escaping) and the writer that applies them;
//! - [`trace`]: a trace by ID, v1 and v2, in JSON and in protobuf;
//! - [`search`]: search results;
//! - [`tags`]: tag names and values, v1 and v2;
//! - [`metrics_query`]: TraceQL metrics, range and instant, in JSON and in protobuf.

pub(crate) mod jsonpb;
pub(crate) mod metrics_query;
pub(crate) mod search;
pub(crate) mod tags;
pub(crate) mod trace;

/// A rendered body as text, checked to be JSON (for tests).
#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
pub(crate) fn json_text(bytes: Vec<u8>) -> String {
    let text = String::from_utf8(bytes).unwrap();
    serde_json::from_str::<serde_json::Value>(&text)
        .unwrap_or_else(|e| panic!("output is not JSON ({e}): {text}"));
    text
}
