//! The `tempo-server` binary.
fn main() {}
