//! testing: did my code emit the spans I expect?
//!
//! A [`Harness`] is an in-memory [`Store`] with an OpenTelemetry [`SdkTracerProvider`] wired to
//! it through the [`StoreExporter`] and the SDK's simple (synchronous) processor, so every span
//! is stored, and searchable, the moment it ends. Tests drive instrumented code with the
//! harness's tracer (or, with the `tracing` feature, with `tracing` spans through
//! `tracing-opentelemetry`), then assert on the spans with TraceQL:
//!
//! ```
//! use opentelemetry::KeyValue;
//! use opentelemetry::trace::{Span as _, Tracer as _};
//! use tempo_otlp::testing::Harness;
//!
//! let harness = Harness::new("checkout");
//! let tracer = harness.tracer("shop");
//! tracer.in_span("GET /cart", |_cx| {
//!     let mut query = tracer.start("SELECT cart");
//!     query.set_attribute(KeyValue::new("db.system", "postgresql"));
//!     query.end();
//! });
//!
//! harness.assert_traceql(r#"{ span.db.system = "postgresql" }"#).matches_spans(1);
//! harness.assert_traceql("{ status = error }").matches_nothing();
//! harness.assert_tree("{}", "
//!     GET /cart
//!       SELECT cart
//! ");
//! ```
//!
//! Metrics over everything stored answer questions such as "how many requests failed":
//! [`Harness::assert_metric`] runs a TraceQL metrics query as one instant query and checks its
//! values.
//!
//! A failed assertion panics with a message that names the query and shows every trace of the
//! harness as an indented tree, one span a line with its service, kind, status and attributes,
//! matched spans marked with `*`. Each assertion has a `try_` form that returns the same
//! message as an [`AssertionFailure`] instead of panicking.
//!
//! The harness gives spans sequential IDs (trace `…0001`, `…0002`; span `…0001`, ...) so that
//! failure messages are the same from run to run; [`HarnessBuilder::random_ids`] turns that off.

mod metric;
mod tree;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry::InstrumentationScope;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SdkTracer, SdkTracerProvider};
use tempo_core::model::{TraceId, TracesData};
use tempo_core::{SINGLE_TENANT, SearchRequest, SearchResponse, Store, TimeRange};

pub use metric::MetricAssertion;

use crate::sdk::StoreExporter;
use tree::{TraceTree, parse_expected, render_shape, same_shape};

/// Traces a search of the harness returns, at most; and spans listed per spanset.
const SEARCH_LIMIT: usize = 100_000;
/// Traces shown per section of a failure message.
const MAX_TRACES_SHOWN: usize = 10;

/// Why the harness could not do what was asked (as opposed to an assertion that failed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// The store refused the query (the error renders bad TraceQL with a caret).
    #[error(transparent)]
    Search(#[from] tempo_core::SearchError),
    /// The store refused the metrics query (the error renders bad TraceQL with a caret).
    #[error(transparent)]
    Metrics(#[from] tempo_core::MetricsError),
    /// The store could not look up a trace.
    #[error(transparent)]
    Find(#[from] tempo_core::FindError),
    /// The store could not sync what was stored.
    #[error(transparent)]
    Flush(#[from] tempo_core::FlushError),
    /// The tracer provider could not flush its spans.
    #[error("flushing the tracer provider: {0}")]
    Provider(#[from] OTelSdkError),
}

/// A failed assertion: its message is what the panicking form panics with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AssertionFailure {
    message: String,
}

impl AssertionFailure {
    /// The full message: what was expected, the query, the traces.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Which trace [`Harness::assert_tree`] looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceSelector {
    /// The trace with this ID.
    Id(TraceId),
    /// The one trace this TraceQL query matches; `{}` is the harness's only trace.
    Query(String),
}

impl From<TraceId> for TraceSelector {
    fn from(id: TraceId) -> TraceSelector {
        TraceSelector::Id(id)
    }
}

impl From<opentelemetry::trace::TraceId> for TraceSelector {
    fn from(id: opentelemetry::trace::TraceId) -> TraceSelector {
        TraceSelector::Id(TraceId(id.to_bytes()))
    }
}

impl From<&str> for TraceSelector {
    fn from(query: &str) -> TraceSelector {
        TraceSelector::Query(query.to_owned())
    }
}

impl From<String> for TraceSelector {
    fn from(query: String) -> TraceSelector {
        TraceSelector::Query(query)
    }
}

/// Sequential trace and span IDs: `00…01`, `00…02`, ... Each generator counts on its own.
///
/// Readable and stable from run to run, so that failure messages can be compared as text. Not
/// for production: IDs of two processes collide.
#[derive(Debug, Default)]
pub struct SequentialIdGenerator {
    traces: AtomicU64,
    spans: AtomicU64,
}

impl IdGenerator for SequentialIdGenerator {
    fn new_trace_id(&self) -> opentelemetry::trace::TraceId {
        let n = self.traces.fetch_add(1, Ordering::Relaxed) + 1;
        opentelemetry::trace::TraceId::from(u128::from(n))
    }

    fn new_span_id(&self) -> opentelemetry::trace::SpanId {
        let n = self.spans.fetch_add(1, Ordering::Relaxed) + 1;
        opentelemetry::trace::SpanId::from(n)
    }
}

/// Builds a [`Harness`].
#[derive(Debug)]
pub struct HarnessBuilder {
    service_name: String,
    resource: Option<Resource>,
    store: Option<Store>,
    random_ids: bool,
}

impl HarnessBuilder {
    /// Sets the resource of every span; it replaces the `service.name`-only default.
    pub fn resource(mut self, resource: Resource) -> HarnessBuilder {
        self.resource = Some(resource);
        self
    }

    /// Stores spans in `store` (tenant `single-tenant`) rather than in a fresh in-memory
    /// store; the assertions then see everything in that store. Harnesses sharing a store
    /// should use [`HarnessBuilder::random_ids`]: each one's sequential IDs start at 1.
    pub fn store(mut self, store: Store) -> HarnessBuilder {
        self.store = Some(store);
        self
    }

    /// Gives spans the SDK's random IDs instead of sequential ones.
    pub fn random_ids(mut self) -> HarnessBuilder {
        self.random_ids = true;
        self
    }

    /// The harness.
    pub fn build(self) -> Harness {
        let store = self.store.unwrap_or_else(Store::in_memory);
        let resource = self.resource.unwrap_or_else(|| {
            Resource::builder()
                .with_service_name(self.service_name.clone())
                .build()
        });
        let builder = SdkTracerProvider::builder()
            .with_resource(resource)
            .with_simple_exporter(StoreExporter::new(store.clone()));
        let provider = if self.random_ids {
            builder.with_id_generator(RandomIdGenerator::default())
        } else {
            builder.with_id_generator(SequentialIdGenerator::default())
        }
        .build();
        Harness { store, provider }
    }
}

/// An in-memory trace store and a tracer provider exporting into it, with TraceQL assertions.
///
/// See the [module documentation](self).
#[derive(Debug)]
pub struct Harness {
    store: Store,
    provider: SdkTracerProvider,
}

impl Harness {
    /// A harness whose spans come from a service named `service_name`.
    pub fn new(service_name: &str) -> Harness {
        Harness::builder(service_name).build()
    }

    /// A builder, for spans from a service named `service_name`.
    pub fn builder(service_name: &str) -> HarnessBuilder {
        HarnessBuilder {
            service_name: service_name.to_owned(),
            resource: None,
            store: None,
            random_ids: false,
        }
    }

    /// The store spans land in (tenant `single-tenant`).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The tracer provider; hand it to code that takes one.
    pub fn provider(&self) -> &SdkTracerProvider {
        &self.provider
    }

    /// A tracer whose spans carry the instrumentation scope `scope`.
    pub fn tracer(&self, scope: impl Into<Cow<'static, str>>) -> SdkTracer {
        self.provider
            .tracer_with_scope(InstrumentationScope::builder(scope).build())
    }

    /// Makes every ended span searchable. The harness's processor is synchronous, so spans
    /// already are; this matters only for spans still open (which are never exported).
    pub fn flush(&self) -> Result<(), HarnessError> {
        self.provider.force_flush()?;
        Ok(())
    }

    /// Runs a TraceQL search over everything the harness stored (up to 100 000 traces, every
    /// matching span listed).
    pub fn search(&self, query: &str) -> Result<SearchResponse, HarnessError> {
        self.flush()?;
        let request = SearchRequest::new(query)
            .limit(SEARCH_LIMIT)
            .spans_per_spanset(SEARCH_LIMIT);
        Ok(self.store.search(SINGLE_TENANT, &request)?)
    }

    /// The whole trace with this ID, if the harness holds it.
    pub fn trace(&self, id: TraceId) -> Result<Option<TracesData>, HarnessError> {
        self.flush()?;
        Ok(self.store.find_trace(SINGLE_TENANT, id, TimeRange::ALL)?)
    }

    /// The IDs of every trace the harness holds, oldest first.
    pub fn trace_ids(&self) -> Result<Vec<TraceId>, HarnessError> {
        let found = self.search("{}")?;
        let mut traces: Vec<(u64, TraceId)> = found
            .traces
            .iter()
            .map(|t| (t.start_time_unix_nano, t.trace_id))
            .collect();
        traces.sort();
        Ok(traces.into_iter().map(|(_, id)| id).collect())
    }

    /// Every trace the harness holds, as indented trees, oldest first: what failure messages
    /// show. Handy in a `println!` while writing a test.
    pub fn render(&self) -> Result<String, HarnessError> {
        let mut out = String::new();
        let trees = self.trees()?;
        render_section(&mut out, &trees, &HashMap::new());
        if trees.is_empty() {
            out.push_str("  (no traces)\n");
        }
        Ok(out)
    }

    /// Starts an assertion on what `query` matches.
    pub fn assert_traceql<'h>(&'h self, query: &str) -> TraceQlAssertion<'h> {
        TraceQlAssertion {
            harness: self,
            query: query.to_owned(),
        }
    }

    /// Asserts that a trace has exactly this shape: one span name a line, children indented
    /// under their parent. Sibling order is not compared; common indentation and blank lines
    /// are ignored. The trace is chosen by ID or by a TraceQL query matching exactly one
    /// trace (`"{}"` when the harness holds a single trace).
    ///
    /// # Panics
    ///
    /// With a message showing the expected and the actual tree, when they differ or when the
    /// trace cannot be found.
    #[track_caller]
    pub fn assert_tree(&self, trace: impl Into<TraceSelector>, expected: &str) {
        if let Err(failure) = self.try_assert_tree(trace, expected) {
            panic!("{failure}");
        }
    }

    /// [`Harness::assert_tree`], returning the failure instead of panicking.
    pub fn try_assert_tree(
        &self,
        trace: impl Into<TraceSelector>,
        expected: &str,
    ) -> Result<(), AssertionFailure> {
        let selector = trace.into();
        let expected_shape = parse_expected(expected).map_err(|e| AssertionFailure {
            message: format!("trace tree assertion: the expected tree is malformed: {e}"),
        })?;
        let tree = self.select(&selector)?;
        let actual_shape = tree.shape();
        if same_shape(&expected_shape, &actual_shape) {
            return Ok(());
        }
        let mut message = format!(
            "trace tree assertion failed for trace {}{}\nexpected:\n",
            tree.trace_id,
            describe_selector(&selector),
        );
        render_shape(&mut message, "", &expected_shape);
        message.push_str("actual:\n");
        tree.render(&mut message, "", &HashSet::new());
        message.push_str("(sibling order is not compared)");
        Err(AssertionFailure { message })
    }

    /// The trace a selector names, or a failure saying why there is not exactly one.
    fn select(&self, selector: &TraceSelector) -> Result<TraceTree, AssertionFailure> {
        let failure = |what: String, harness: &Harness| {
            let mut message = format!("trace tree assertion: {what}\ntraces in the harness:\n");
            match harness.trees() {
                Ok(trees) if trees.is_empty() => message.push_str("  (no traces)\n"),
                Ok(trees) => render_section(&mut message, &trees, &HashMap::new()),
                Err(e) => {
                    let _ = writeln!(message, "  (cannot list them: {e})");
                }
            }
            AssertionFailure {
                message: message.trim_end().to_owned(),
            }
        };
        let id = match selector {
            TraceSelector::Id(id) => *id,
            TraceSelector::Query(query) => {
                let found = self
                    .search(query)
                    .map_err(|e| failure(format!("query {query} failed:\n{e}"), self))?;
                match found.traces.as_slice() {
                    [one] => one.trace_id,
                    many => {
                        return Err(failure(
                            format!(
                                "query {query} must match exactly one trace, it matches {}",
                                plural(many.len(), "trace")
                            ),
                            self,
                        ));
                    }
                }
            }
        };
        match self.trace(id) {
            Ok(Some(data)) => Ok(TraceTree::new(id, &data)),
            Ok(None) => Err(failure(format!("no trace {id}"), self)),
            Err(e) => Err(failure(format!("reading trace {id} failed: {e}"), self)),
        }
    }

    /// Every trace, as trees, oldest first.
    fn trees(&self) -> Result<Vec<TraceTree>, HarnessError> {
        let mut trees = Vec::new();
        for id in self.trace_ids()? {
            if let Some(data) = self.trace(id)? {
                trees.push(TraceTree::new(id, &data));
            }
        }
        trees.sort_by_key(|t| (t.start(), t.trace_id));
        Ok(trees)
    }
}

#[cfg(feature = "tracing")]
impl Harness {
    /// A `tracing-opentelemetry` layer sending `tracing` spans to the harness, for a
    /// subscriber of your own: `tracing_subscriber::registry().with(harness.tracing_layer())`.
    ///
    /// The layer has `tracing-opentelemetry`'s defaults; the attributes it adds for source
    /// locations, threads and busy/idle times are left out of failure messages.
    pub fn tracing_layer<S>(&self) -> tracing_opentelemetry::OpenTelemetryLayer<S, SdkTracer>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        tracing_opentelemetry::layer().with_tracer(self.tracer("tracing"))
    }

    /// A `tracing` dispatcher that sends every span to the harness: use it with
    /// `tracing::dispatcher::with_default`, or with `WithSubscriber::with_subscriber` for a
    /// future (a thread-local default does not follow tasks onto other runtime threads).
    pub fn tracing_dispatch(&self) -> tracing::Dispatch {
        use tracing_subscriber::layer::SubscriberExt as _;
        tracing::Dispatch::new(tracing_subscriber::registry().with(self.tracing_layer()))
    }

    /// Sends the current thread's `tracing` spans to the harness until the guard is dropped.
    #[must_use = "spans go to the harness only while the guard lives"]
    pub fn set_tracing_default(&self) -> tracing::dispatcher::DefaultGuard {
        tracing::dispatcher::set_default(&self.tracing_dispatch())
    }
}

/// An assertion on what one TraceQL query matches; see [`Harness::assert_traceql`].
///
/// The methods chain: `harness.assert_traceql(q).matches_traces(1).matches_spans(2);`.
#[derive(Debug)]
#[must_use = "an assertion checks nothing until one of its methods is called"]
pub struct TraceQlAssertion<'h> {
    harness: &'h Harness,
    query: String,
}

impl TraceQlAssertion<'_> {
    /// Asserts that the query matches exactly `n` traces.
    ///
    /// # Panics
    ///
    /// When it does not, with the query and every trace of the harness in the message.
    #[track_caller]
    pub fn matches_traces(&self, n: usize) -> &Self {
        self.or_panic(self.try_matches_traces(n))
    }

    /// Asserts that the query matches exactly `n` spans, across all traces.
    ///
    /// # Panics
    ///
    /// When it does not, with the query and every trace of the harness in the message.
    #[track_caller]
    pub fn matches_spans(&self, n: usize) -> &Self {
        self.or_panic(self.try_matches_spans(n))
    }

    /// Asserts that the query matches nothing.
    ///
    /// # Panics
    ///
    /// When it does, with the query and every trace of the harness in the message.
    #[track_caller]
    pub fn matches_nothing(&self) -> &Self {
        self.or_panic(self.try_matches_nothing())
    }

    /// [`TraceQlAssertion::matches_traces`], returning the failure instead of panicking.
    pub fn try_matches_traces(&self, n: usize) -> Result<(), AssertionFailure> {
        self.check(|traces, _| {
            (traces != n).then(|| {
                format!(
                    "expected {} to match, found {}",
                    plural(n, "trace"),
                    plural(traces, "trace")
                )
            })
        })
    }

    /// [`TraceQlAssertion::matches_spans`], returning the failure instead of panicking.
    pub fn try_matches_spans(&self, n: usize) -> Result<(), AssertionFailure> {
        self.check(|_, spans| {
            (spans != n).then(|| {
                format!(
                    "expected {} to match, found {}",
                    plural(n, "span"),
                    plural(spans, "span")
                )
            })
        })
    }

    /// [`TraceQlAssertion::matches_nothing`], returning the failure instead of panicking.
    pub fn try_matches_nothing(&self) -> Result<(), AssertionFailure> {
        self.check(|traces, spans| {
            (traces != 0).then(|| {
                format!(
                    "expected no match, found {} ({})",
                    plural(traces, "trace"),
                    plural(spans, "span")
                )
            })
        })
    }

    #[track_caller]
    fn or_panic(&self, result: Result<(), AssertionFailure>) -> &Self {
        if let Err(failure) = result {
            panic!("{failure}");
        }
        self
    }

    /// Runs the query; `verdict(traces, spans)` says what is wrong, if anything.
    fn check(
        &self,
        verdict: impl FnOnce(usize, usize) -> Option<String>,
    ) -> Result<(), AssertionFailure> {
        let query = &self.query;
        let found = self.harness.search(query).map_err(|e| AssertionFailure {
            message: format!("TraceQL assertion could not run\nquery: {query}\n{e}"),
        })?;
        let mut matched: HashMap<TraceId, HashSet<Vec<u8>>> = HashMap::new();
        let mut spans = 0usize;
        for trace in &found.traces {
            let ids = matched.entry(trace.trace_id).or_default();
            for set in &trace.span_sets {
                spans += usize::try_from(set.matched).unwrap_or(usize::MAX);
                ids.extend(set.spans.iter().map(|s| s.span_id.clone()));
            }
        }
        let Some(problem) = verdict(found.traces.len(), spans) else {
            return Ok(());
        };
        let mut message = format!("TraceQL assertion failed: {problem}\nquery: {query}\n");
        let trees = match self.harness.trees() {
            Ok(trees) => trees,
            Err(e) => {
                let _ = write!(message, "(cannot show the traces: {e})");
                return Err(AssertionFailure { message });
            }
        };
        let (hits, misses): (Vec<TraceTree>, Vec<TraceTree>) = trees
            .into_iter()
            .partition(|t| matched.contains_key(&t.trace_id));
        let _ = writeln!(
            message,
            "\nmatched: {}, {} (marked *)",
            plural(found.traces.len(), "trace"),
            plural(spans, "span")
        );
        render_section(&mut message, &hits, &matched);
        let _ = writeln!(message, "\nnot matched: {}", plural(misses.len(), "trace"));
        render_section(&mut message, &misses, &matched);
        Err(AssertionFailure {
            message: message.trim_end().to_owned(),
        })
    }
}

/// Appends up to [`MAX_TRACES_SHOWN`] trees, each under a `trace <id>` line.
fn render_section(
    out: &mut String,
    trees: &[TraceTree],
    matched: &HashMap<TraceId, HashSet<Vec<u8>>>,
) {
    let none = HashSet::new();
    for tree in trees.iter().take(MAX_TRACES_SHOWN) {
        let _ = writeln!(
            out,
            "  trace {} ({})",
            tree.trace_id,
            plural(tree.span_count(), "span")
        );
        tree.render(out, "  ", matched.get(&tree.trace_id).unwrap_or(&none));
    }
    if trees.len() > MAX_TRACES_SHOWN {
        let _ = writeln!(
            out,
            "  ... and {} more",
            plural(trees.len() - MAX_TRACES_SHOWN, "trace")
        );
    }
}

fn describe_selector(selector: &TraceSelector) -> String {
    match selector {
        TraceSelector::Id(_) => String::new(),
        TraceSelector::Query(q) => format!(" (the one matching {q})"),
    }
}

/// `1 trace`, `2 traces`.
fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
