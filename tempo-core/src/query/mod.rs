//! query: which traces match this TraceQL, newest first?
//!
//! The search engine. A query is parsed by `tempo-traceql`, then run over every source of a
//! tenant's spans through one interface ([`source`]): the head and each block's row groups
//! present their traces the same way, so fresh and old data answer alike. Before a row group is
//! decoded, the conditions every match must meet are checked against its footer, its chunk
//! statistics and its dictionaries ([`prune`]); a row group that cannot match is never
//! decoded, and only the attribute columns the query names are materialized. The evaluator
//! ([`eval`]) then applies spanset filters, spanset and structural operators and pipelines to
//! each trace.
//!
//! Results are the newest matching traces, sorted by start time descending, which makes them
//! deterministic; blocks are visited newest first and the search stops once no older block
//! can hold a newer match. Row groups are spread over a pool of threads; a deadline returns
//! what was found so far, marked partial.

pub(crate) mod eval;
pub(crate) mod find;
pub(crate) mod metrics;
pub(crate) mod pool;
pub(crate) mod prune;
pub(crate) mod search;
pub(crate) mod source;
pub(crate) mod stop;
pub(crate) mod tags;
pub(crate) mod value;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::model::TimeRange;
use crate::model::{KeyValue, TraceId};

pub use metrics::{
    DEFAULT_EXEMPLARS, DEFAULT_MAX_SERIES, Exemplar, Label, LabelValue, MAX_EXEMPLARS,
    MetricsPartial, MetricsRequest, MetricsResponse, PartialDecodeError, Sample, TimeSeries,
    default_step,
};
pub use stop::{CancelOnDrop, CancelToken};
pub use tags::{TagScope, TagValue, TagValueType};

/// Default number of traces a search returns, as Tempo.
pub const DEFAULT_LIMIT: usize = 20;
/// Default number of spans returned per spanset, as Tempo (`spss`).
pub const DEFAULT_SPANS_PER_SPANSET: usize = 3;
/// Default deadline of a search.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

/// A TraceQL search.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// The TraceQL query; `{}` matches every trace.
    pub query: String,
    /// How many traces to return at most (the newest ones).
    pub limit: usize,
    /// How many spans of each spanset to return at most; `matched` still counts all.
    pub spans_per_spanset: usize,
    /// Only traces overlapping this range (unix nanoseconds).
    pub range: TimeRange,
    /// Only traces lasting at least this long.
    pub min_duration: Option<Duration>,
    /// Only traces lasting at most this long.
    pub max_duration: Option<Duration>,
    /// After this long, return what was found, marked partial.
    pub deadline: Duration,
    /// Cancels the search from another thread: it then returns what it found, marked
    /// partial.
    pub cancel: Option<CancelToken>,
    /// Receives the running answer as sources (the head, row groups) are read: after a
    /// source, at most every 100 ms.
    pub progress: Option<SearchProgress>,
}

/// Receives a search's running answer as it reads its sources, for a client that streams
/// results as they are found. It is called on the search's worker threads: it should be
/// quick (hand the answer to a channel, say).
#[derive(Clone)]
pub struct SearchProgress(Arc<dyn Fn(&SearchResponse) + Send + Sync>);

impl SearchProgress {
    /// A receiver calling `f` with each running answer: the traces kept so far (newest
    /// first, at most the limit) and the counts so far.
    pub fn new(f: impl Fn(&SearchResponse) + Send + Sync + 'static) -> SearchProgress {
        SearchProgress(Arc::new(f))
    }

    pub(crate) fn report(&self, answer: &SearchResponse) {
        (self.0)(answer);
    }
}

impl std::fmt::Debug for SearchProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SearchProgress")
    }
}

impl SearchRequest {
    /// A search for `query` with Tempo's defaults: 20 traces, 3 spans per spanset, all of
    /// time, a 30 s deadline.
    pub fn new(query: impl Into<String>) -> SearchRequest {
        SearchRequest {
            query: query.into(),
            limit: DEFAULT_LIMIT,
            spans_per_spanset: DEFAULT_SPANS_PER_SPANSET,
            range: TimeRange::ALL,
            min_duration: None,
            max_duration: None,
            deadline: DEFAULT_DEADLINE,
            cancel: None,
            progress: None,
        }
    }

    /// Sets the number of traces returned.
    pub fn limit(mut self, limit: usize) -> SearchRequest {
        self.limit = limit;
        self
    }

    /// Sets the number of spans returned per spanset.
    pub fn spans_per_spanset(mut self, n: usize) -> SearchRequest {
        self.spans_per_spanset = n;
        self
    }

    /// Restricts the search to traces overlapping `range`.
    pub fn range(mut self, range: TimeRange) -> SearchRequest {
        self.range = range;
        self
    }

    /// Lets `token` cancel the search.
    pub fn cancel_token(mut self, token: CancelToken) -> SearchRequest {
        self.cancel = Some(token);
        self
    }

    /// Has `progress` receive the running answer as sources are read.
    pub fn on_progress(mut self, progress: SearchProgress) -> SearchRequest {
        self.progress = Some(progress);
        self
    }
}

/// What a search found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchResponse {
    /// Matching traces, newest start first.
    pub traces: Vec<TraceMatch>,
    /// What the search read.
    pub metrics: SearchMetrics,
    /// True when the search stopped before every source was read (its deadline, a
    /// cancellation, its memory budget): more traces may match.
    pub partial: bool,
    /// Why the search is partial, in words.
    pub partial_reason: Option<String>,
}

impl SearchResponse {
    /// The answers of several searches of the same request as one (of several tenants, or
    /// of other servers' heads): the matches of the same trace merged
    /// ([`TraceMatch::merge`]), the newest `limit` kept (of traces starting together, those of
    /// the higher IDs, as a search keeps them), newest first (then by trace ID, as each search
    /// sorts them); what they read added up; partial if any was, with the first
    /// reason given.
    pub fn combine(parts: Vec<SearchResponse>, limit: usize) -> SearchResponse {
        let mut out = SearchResponse::default();
        let mut by_id: std::collections::HashMap<TraceId, usize> = std::collections::HashMap::new();
        for part in parts {
            out.metrics += part.metrics;
            out.partial |= part.partial;
            if out.partial_reason.is_none() {
                out.partial_reason = part.partial_reason;
            }
            for m in part.traces {
                match by_id.get(&m.trace_id) {
                    Some(&i) => out.traces[i].merge(m),
                    None => {
                        by_id.insert(m.trace_id, out.traces.len());
                        out.traces.push(m);
                    }
                }
            }
        }
        // The newest `limit` by start, then ID, as a search keeps them; then newest first,
        // ties by ascending ID, as a search sorts them.
        out.traces.sort_by(|a, b| {
            (b.start_time_unix_nano, b.trace_id).cmp(&(a.start_time_unix_nano, a.trace_id))
        });
        out.traces.truncate(limit);
        out.traces.sort_by(|a, b| {
            b.start_time_unix_nano
                .cmp(&a.start_time_unix_nano)
                .then(a.trace_id.cmp(&b.trace_id))
        });
        out
    }
}

/// One matching trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceMatch {
    /// The trace's ID.
    pub trace_id: TraceId,
    /// `service.name` of the root span, if the root span was received. The root is the span
    /// without a parent span ID that starts first (the lowest span ID among those starting
    /// together); a span whose parent is missing is no root.
    pub root_service_name: Option<String>,
    /// Name of the root span, if it was received.
    pub root_trace_name: Option<String>,
    /// Earliest span start, unix nanoseconds.
    pub start_time_unix_nano: u64,
    /// Latest span end minus earliest span start, nanoseconds.
    pub duration_nanos: u64,
    /// The spansets that matched.
    pub span_sets: Vec<SpanSet>,
    /// Spans and error spans per service in the trace, as seen by the source that matched.
    pub service_stats: BTreeMap<String, ServiceStats>,
}

impl TraceMatch {
    /// Takes in another match of the same trace (found in another block, or for another
    /// tenant): the earliest start and latest end of both, the root's names if only the
    /// other has them, the spansets of both, the service counts added up.
    pub fn merge(&mut self, other: TraceMatch) {
        let end = (self.start_time_unix_nano + self.duration_nanos)
            .max(other.start_time_unix_nano + other.duration_nanos);
        self.start_time_unix_nano = self.start_time_unix_nano.min(other.start_time_unix_nano);
        self.duration_nanos = end - self.start_time_unix_nano;
        if self.root_service_name.is_none() {
            self.root_service_name = other.root_service_name;
            self.root_trace_name = other.root_trace_name;
        }
        self.span_sets.extend(other.span_sets);
        for (k, v) in other.service_stats {
            let e = self.service_stats.entry(k).or_default();
            e.span_count += v.span_count;
            e.error_count += v.error_count;
        }
    }
}

/// Spans and errors of one service within a trace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServiceStats {
    /// Spans of the service.
    pub span_count: u32,
    /// Spans of the service whose status is error.
    pub error_count: u32,
}

/// A set of matching spans of one trace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanSet {
    /// Up to `spans_per_spanset` of the spans.
    pub spans: Vec<MatchedSpan>,
    /// How many spans matched in all.
    pub matched: u64,
    /// The spanset's own attributes: the `by()` value that grouped it and aggregate values.
    pub attributes: Vec<KeyValue>,
}

/// A span of a spanset.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatchedSpan {
    /// The span's ID (8 bytes).
    pub span_id: Vec<u8>,
    /// The span's name.
    pub name: String,
    /// Start, unix nanoseconds.
    pub start_time_unix_nano: u64,
    /// Duration, nanoseconds.
    pub duration_nanos: u64,
    /// The attributes and intrinsics the query named (and `select()` asked for), with their
    /// values on this span.
    pub attributes: Vec<KeyValue>,
}

/// What a search read, as Tempo reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SearchMetrics {
    /// Traces evaluated.
    pub inspected_traces: u64,
    /// Bytes of row groups read (and head spans, estimated).
    pub inspected_bytes: u64,
    /// Spans evaluated.
    pub inspected_spans: u64,
    /// Blocks of the tenant overlapping the time range.
    pub total_blocks: u64,
    /// Row groups (and head) to read.
    pub total_jobs: u64,
    /// Row groups (and head) read or skipped by their statistics.
    pub completed_jobs: u64,
    /// Row groups skipped without decoding.
    pub skipped_jobs: u64,
}

impl std::ops::AddAssign for SearchMetrics {
    /// Adds up what two searches read (of two tenants, say).
    fn add_assign(&mut self, other: SearchMetrics) {
        self.inspected_traces += other.inspected_traces;
        self.inspected_bytes += other.inspected_bytes;
        self.inspected_spans += other.inspected_spans;
        self.total_blocks += other.total_blocks;
        self.total_jobs += other.total_jobs;
        self.completed_jobs += other.completed_jobs;
        self.skipped_jobs += other.skipped_jobs;
    }
}

/// Errors of a search, tag or metrics query.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The TraceQL could not be parsed or is invalid; the error renders the query with a caret.
    #[error("{0}")]
    TraceQl(#[from] tempo_traceql::Error),
    /// The query was stopped before it finished: its deadline passed, it was cancelled, or it
    /// reached its memory budget.
    #[error("the query was stopped before it finished")]
    Interrupted,
    /// A query that parses but that a search cannot run (a metrics query, for example).
    #[error("{0}")]
    Unsupported(String),
    /// A bad parameter.
    #[error("{0}")]
    Invalid(String),
}

/// The query that filters tag values: `q` itself when it is a complete search query, else the
/// complete conditions of its first spanset filter (`None` when it has none). A `q` longer
/// than TraceQL's limit is refused, as a search would refuse it; the conditions kept from an
/// incomplete `q` are those whose text fits within the limit.
pub(crate) fn filter_query(q: &str) -> Result<Option<eval::Compiled>, QueryError> {
    tempo_traceql::check_length(q)?;
    if let Ok(parsed) = tempo_traceql::parse(q)
        && !parsed.is_metrics()
    {
        return eval::Compiled::new(q).map(|c| Some(c.matching_only()));
    }
    let conditions = tempo_traceql::parse_lenient(q);
    if conditions.is_empty() {
        return Ok(None);
    }
    let span = tempo_traceql::Span::default();
    let mut length = "{  }".len();
    let text: Vec<String> = conditions
        .into_iter()
        .map(|c| {
            let lhs = match c.field {
                tempo_traceql::FieldRef::Attribute(a) => tempo_traceql::FieldExprKind::Attribute(a),
                tempo_traceql::FieldRef::Intrinsic(i) => tempo_traceql::FieldExprKind::Intrinsic(i),
            };
            let e = tempo_traceql::FieldExpr {
                kind: tempo_traceql::FieldExprKind::Binary {
                    op: c.op,
                    lhs: Box::new(tempo_traceql::FieldExpr { kind: lhs, span }),
                    rhs: Box::new(tempo_traceql::FieldExpr {
                        kind: tempo_traceql::FieldExprKind::Static(c.value),
                        span,
                    }),
                },
                span,
            };
            tempo_traceql::format_field_expr(&e)
        })
        .take_while(|c| {
            length += c.len() + " && ".len();
            length <= tempo_traceql::MAX_QUERY_BYTES
        })
        .collect();
    if text.is_empty() {
        return Ok(None);
    }
    eval::Compiled::new(&format!("{{ {} }}", text.join(" && "))).map(|c| Some(c.matching_only()))
}
