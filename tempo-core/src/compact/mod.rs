//! compact: why are there not a thousand tiny blocks?
//!
//! Blocks of one tenant whose traces start in the same time window (`compaction_window`,
//! default 1h) are merged into one, by a streaming k-way merge on trace ID: parts of one trace
//! from several blocks become one trace and repeated spans (same span ID and kind) are kept
//! once. Every other span is kept, however large its trace: the trace size limit is enforced
//! at ingest, where the client can be told, never by dropping what was acknowledged. The new block is durable before its inputs are removed, so every trace stays
//! findable throughout, and a crash at any point leaves at worst a duplicate, which readers and
//! the next compaction de-duplicate.

mod merge;
mod plan;
mod schedule;

pub(crate) use merge::{MergeError, merge};
pub(crate) use plan::{CompactionPolicy, plan};
pub(crate) use schedule::{compact_round, run};
