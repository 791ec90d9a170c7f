//! Placeholder, replaced by the TraceQL parse benchmark.
fn main() {}
