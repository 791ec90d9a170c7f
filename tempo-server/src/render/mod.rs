//! render: what bytes does Tempo send back for a trace, a search or a tag lookup?
//!
//! Each body is written as Tempo writes it, byte for byte:
//!
//! - [`jsonpb`]: the JSON rules every body follows (gogo-protobuf's `jsonpb`: base64 bytes and
//!   hex search IDs, 64-bit integers as strings, enums by name, zero values left out, Go's
//!   string escaping) and the writer that applies them;
//! - [`trace`]: a trace by ID, v1 and v2, in JSON and in protobuf;
//! - [`search`]: search results;
//! - [`tags`]: tag names and values, v1 and v2.

pub(crate) mod jsonpb;
pub(crate) mod search;
pub(crate) mod tags;
pub(crate) mod trace;
