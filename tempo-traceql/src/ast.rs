//! ast: what did the query say?
//!
//! Every node carries the byte [`Span`] of the text it was parsed from. Spans
//! never take part in equality: two trees are equal when they have the same
//! structure and values, wherever they came from. That is what makes
//! `parse(format(q)) == q` a meaningful property.

/// A byte range `start..end` in the query text.
///
/// `Span`'s `PartialEq` always returns `true`, so that AST equality is
/// structural; compare [`Span::start`] and [`Span::end`] to compare positions.
#[derive(Debug, Clone, Copy, Default)]
pub struct Span {
    /// First byte of the node.
    pub start: usize,
    /// One past the last byte of the node.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end` (bytes).
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both `self` and `other`.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

impl PartialEq for Span {
    fn eq(&self, _other: &Span) -> bool {
        true
    }
}

impl Eq for Span {}

/// A whole TraceQL query: an expression and its hints.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The query's expression: a spanset pipeline or a metrics pipeline.
    pub expr: Expr,
    /// Hints given with `with(key = value, ...)`, in order.
    pub hints: Vec<Hint>,
    /// The whole query.
    pub span: Span,
}

impl Query {
    /// True if the query computes time series (ends in a metrics function).
    pub fn is_metrics(&self) -> bool {
        self.expr.is_metrics()
    }

    /// The value of hint `key`, if given (the last one wins).
    pub fn hint(&self, key: &str) -> Option<&Static> {
        self.hints
            .iter()
            .rev()
            .find(|h| h.key == key)
            .map(|h| &h.value)
    }
}

/// A query hint, `key = value` inside `with(...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Hint {
    /// The hint's name, for example `sample`.
    pub key: String,
    /// Its value.
    pub value: Static,
    /// `key = value`.
    pub span: Span,
}

/// A pipeline-level expression: spanset filters, spanset operators,
/// pipelines, and the arithmetic and comparisons between wrapped pipelines.
///
/// The shapes the parser produces:
///
/// - a spanset query: filters, spanset operators and pipelines of spanset
///   stages, `{ .a } >> { .b } | count() > 2`;
/// - a metrics query: a [`Pipeline`] whose stages end with
///   [`StageKind::Metrics`], then any [`StageKind::SecondStage`] and
///   [`StageKind::MetricsFilter`] stages, in the order written:
///   `{ } | rate() by (span.a) > 10 | topk(5)`;
/// - metrics arithmetic: an [`ExprKind::Binary`] tree (`+ - * /`) whose leaves
///   are metrics queries, each written in brackets, and numeric
///   [`ExprKind::Static`] literals (`1 + 2 + ({ } | rate())`; literals alone
///   are not folded). Series filters and `topk`/`bottomk` written after the
///   arithmetic make it the head of a [`Pipeline`] with those stages only:
///   `({ } | rate()) * 10 > 50 | topk(1)`. A single bracketed metrics query
///   followed by them is that query's pipeline: `({ } | rate()) > 5` is
///   `{ } | rate() > 5`;
/// - a comparison between wrapped scalar pipelines (or one and a number on
///   the right): `({ } | count()) > ({ .a } | count())`.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What the expression is.
    pub kind: ExprKind,
    /// Where it is.
    pub span: Span,
}

/// The kinds of [`Expr`].
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// `{ ... }`.
    Filter(SpansetFilter),
    /// Two spansets combined: `&&`, `||` or a structural operator.
    Spanset {
        /// The operator.
        op: SpansetOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// `head | stage | stage ...`. The head is never itself a pipeline.
    Pipeline(Pipeline),
    /// Arithmetic or a comparison between wrapped pipelines and literals:
    ///
    /// - metrics arithmetic, `+ - * /` between metrics queries and numeric
    ///   literals (`({} | rate()) * 100`, `1 + 2 + ({} | rate())`); comparisons
    ///   with a metrics query are never `Binary` but series filter stages;
    /// - arithmetic (`+ - * / % ^`) between wrapped scalar pipelines, and
    ///   comparisons (`= != < <= > >=`) between those or with a number on the
    ///   right: `({} | count()) > ({ .a } | count())`.
    Binary {
        /// The operator: arithmetic or comparison only.
        op: BinaryOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// A literal operand of [`ExprKind::Binary`].
    Static(Static),
}

impl Expr {
    /// True if this expression computes time series.
    pub fn is_metrics(&self) -> bool {
        match &self.kind {
            ExprKind::Pipeline(p) => {
                p.head.is_metrics()
                    || p.stages.iter().any(|s| {
                        matches!(
                            s.kind,
                            StageKind::Metrics(_) | StageKind::SecondStage { .. }
                        )
                    })
            }
            ExprKind::Binary { lhs, rhs, .. } => lhs.is_metrics() || rhs.is_metrics(),
            _ => false,
        }
    }
}

/// `{ }` or `{ condition }`.
#[derive(Debug, Clone, PartialEq)]
pub struct SpansetFilter {
    /// The condition; `None` for `{}`, which matches every span.
    pub expr: Option<FieldExpr>,
    /// From `{` to `}`.
    pub span: Span,
}

/// Operators between spansets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpansetOp {
    /// `&&`: both spansets are non-empty in the trace; their union.
    And,
    /// `||`: either spanset; their union.
    Or,
    /// `>`: right-hand spans that are children of left-hand spans.
    Child,
    /// `>>`: right-hand spans that are descendants of left-hand spans.
    Descendant,
    /// `<`: right-hand spans that are parents of left-hand spans.
    Parent,
    /// `<<`: right-hand spans that are ancestors of left-hand spans.
    Ancestor,
    /// `~`: right-hand spans that are siblings of left-hand spans.
    Sibling,
    /// `!>`: right-hand spans that are not children of left-hand spans.
    NotChild,
    /// `!>>`: right-hand spans that are not descendants of left-hand spans.
    NotDescendant,
    /// `!<`: right-hand spans that are not parents of left-hand spans.
    NotParent,
    /// `!<<`: right-hand spans that are not ancestors of left-hand spans.
    NotAncestor,
    /// `!~`: right-hand spans that are not siblings of left-hand spans.
    NotSibling,
    /// `&>`: both sides of parent/child pairs.
    UnionChild,
    /// `&>>`: both sides of ancestor/descendant pairs.
    UnionDescendant,
    /// `&<`: both sides of child/parent pairs.
    UnionParent,
    /// `&<<`: both sides of descendant/ancestor pairs.
    UnionAncestor,
    /// `&~`: both sides of sibling pairs.
    UnionSibling,
}

impl SpansetOp {
    /// The operator's text.
    pub fn as_str(self) -> &'static str {
        match self {
            SpansetOp::And => "&&",
            SpansetOp::Or => "||",
            SpansetOp::Child => ">",
            SpansetOp::Descendant => ">>",
            SpansetOp::Parent => "<",
            SpansetOp::Ancestor => "<<",
            SpansetOp::Sibling => "~",
            SpansetOp::NotChild => "!>",
            SpansetOp::NotDescendant => "!>>",
            SpansetOp::NotParent => "!<",
            SpansetOp::NotAncestor => "!<<",
            SpansetOp::NotSibling => "!~",
            SpansetOp::UnionChild => "&>",
            SpansetOp::UnionDescendant => "&>>",
            SpansetOp::UnionParent => "&<",
            SpansetOp::UnionAncestor => "&<<",
            SpansetOp::UnionSibling => "&~",
        }
    }

    /// True for the structural operators (everything but `&&` and `||`).
    pub fn is_structural(self) -> bool {
        !matches!(self, SpansetOp::And | SpansetOp::Or)
    }
}

/// A pipeline: a spanset expression followed by stages separated by `|`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    /// The first element; never a pipeline itself. Usually spans: a filter or
    /// spanset operators. Two other heads:
    ///
    /// - a pipeline written without a head, starting with a scalar filter,
    ///   `by()` or `select()` (`count() > 1 | { .a }`, `by(.a) | ...`,
    ///   `select(.a)`), applies to all the spans of each trace, as in Tempo:
    ///   its head is an empty filter `{}` whose span is empty (its start and
    ///   end are where the pipeline starts), and it is formatted with an
    ///   explicit `{} | `;
    /// - metrics arithmetic ([`ExprKind::Binary`]) followed by series filters
    ///   and `topk`/`bottomk` only.
    pub head: Box<Expr>,
    /// The stages after the head, in order; at least one.
    pub stages: Vec<Stage>,
}

/// One stage of a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// What the stage does.
    pub kind: StageKind,
    /// Where it is (without the leading `|`).
    pub span: Span,
}

/// The kinds of [`Stage`].
#[derive(Debug, Clone, PartialEq)]
pub enum StageKind {
    /// A spanset expression applied to the spansets so far: `| { .a = 1 }`.
    Spanset(Expr),
    /// A comparison of aggregates: `| count() > 2`, `| avg(duration) > 1s`.
    ScalarFilter {
        /// The comparison operator.
        op: BinaryOp,
        /// Left side.
        lhs: ScalarExpr,
        /// Right side.
        rhs: ScalarExpr,
    },
    /// A bare aggregate, only meaningful as the last stage of a wrapped
    /// scalar pipeline: `({} | count())`.
    Scalar(ScalarExpr),
    /// `by(field)`: regroup spans by the value of a field.
    By(FieldExpr),
    /// `coalesce()`: merge all spansets of a trace into one.
    Coalesce,
    /// `select(field, ...)`: fetch extra fields for the result.
    Select(Vec<FieldExpr>),
    /// A metrics function with its `by (...)`.
    Metrics(MetricsAggregate),
    /// `topk(n)` or `bottomk(n)` after a metrics function.
    SecondStage {
        /// Which one.
        func: SecondStageFn,
        /// How many series to keep.
        limit: i64,
    },
    /// A comparison applied to the series of a metrics query:
    /// `{} | rate() > 10`.
    MetricsFilter {
        /// The comparison operator.
        op: BinaryOp,
        /// The threshold.
        value: Static,
    },
}

/// A scalar expression in a pipeline: aggregates, literals and arithmetic.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalarExpr {
    /// What the expression is.
    pub kind: ScalarExprKind,
    /// Where it is.
    pub span: Span,
}

/// The kinds of [`ScalarExpr`].
#[derive(Debug, Clone, PartialEq)]
pub enum ScalarExprKind {
    /// An aggregate over the spans of each spanset.
    Aggregate {
        /// The function.
        func: AggregateFn,
        /// Its argument: `None` for `count()`, `Some` for the others.
        field: Option<Box<FieldExpr>>,
    },
    /// A literal.
    Static(Static),
    /// Arithmetic between scalar expressions.
    Binary {
        /// An arithmetic operator.
        op: BinaryOp,
        /// Left operand.
        lhs: Box<ScalarExpr>,
        /// Right operand.
        rhs: Box<ScalarExpr>,
    },
}

/// Aggregates over a spanset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregateFn {
    /// `count()`.
    Count,
    /// `avg(field)`.
    Avg,
    /// `min(field)`.
    Min,
    /// `max(field)`.
    Max,
    /// `sum(field)`.
    Sum,
}

impl AggregateFn {
    /// The function's name.
    pub fn as_str(self) -> &'static str {
        match self {
            AggregateFn::Count => "count",
            AggregateFn::Avg => "avg",
            AggregateFn::Min => "min",
            AggregateFn::Max => "max",
            AggregateFn::Sum => "sum",
        }
    }
}

/// `topk` or `bottomk`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecondStageFn {
    /// `topk(n)`: the `n` series with the highest values.
    TopK,
    /// `bottomk(n)`: the `n` series with the lowest values.
    BottomK,
}

impl SecondStageFn {
    /// The function's name.
    pub fn as_str(self) -> &'static str {
        match self {
            SecondStageFn::TopK => "topk",
            SecondStageFn::BottomK => "bottomk",
        }
    }
}

/// A metrics function and its grouping.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsAggregate {
    /// The function and its arguments.
    pub func: MetricsFn,
    /// The fields of `by (...)`; empty without it.
    pub by: Vec<FieldExpr>,
}

/// The TraceQL metrics functions.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricsFn {
    /// `rate()`: matching spans per second.
    Rate,
    /// `count_over_time()`: matching spans per step.
    CountOverTime,
    /// `sum_over_time(field)`.
    SumOverTime(FieldExpr),
    /// `min_over_time(field)`.
    MinOverTime(FieldExpr),
    /// `max_over_time(field)`.
    MaxOverTime(FieldExpr),
    /// `avg_over_time(field)`.
    AvgOverTime(FieldExpr),
    /// `quantile_over_time(field, q, ...)`.
    QuantileOverTime {
        /// The field whose quantiles are computed.
        field: FieldExpr,
        /// The quantiles, each in `0..=1`.
        quantiles: Vec<f64>,
    },
    /// `histogram_over_time(field)`.
    HistogramOverTime(FieldExpr),
    /// `compare({selection}, topN, start, end)`.
    Compare {
        /// The spans to compare with the baseline.
        selection: SpansetFilter,
        /// How many values per attribute to return.
        top_n: Option<i64>,
        /// Optional selection time range, Unix nanoseconds `(start, end)`.
        range: Option<(i64, i64)>,
    },
}

impl MetricsFn {
    /// The function's name.
    pub fn name(&self) -> &'static str {
        match self {
            MetricsFn::Rate => "rate",
            MetricsFn::CountOverTime => "count_over_time",
            MetricsFn::SumOverTime(_) => "sum_over_time",
            MetricsFn::MinOverTime(_) => "min_over_time",
            MetricsFn::MaxOverTime(_) => "max_over_time",
            MetricsFn::AvgOverTime(_) => "avg_over_time",
            MetricsFn::QuantileOverTime { .. } => "quantile_over_time",
            MetricsFn::HistogramOverTime(_) => "histogram_over_time",
            MetricsFn::Compare { .. } => "compare",
        }
    }

    /// The field the function reads, if any.
    pub fn field(&self) -> Option<&FieldExpr> {
        match self {
            MetricsFn::SumOverTime(f)
            | MetricsFn::MinOverTime(f)
            | MetricsFn::MaxOverTime(f)
            | MetricsFn::AvgOverTime(f)
            | MetricsFn::HistogramOverTime(f)
            | MetricsFn::QuantileOverTime { field: f, .. } => Some(f),
            _ => None,
        }
    }
}

/// An expression over the fields of one span, inside `{ ... }` and as
/// arguments of `by`, `select` and aggregates.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldExpr {
    /// What the expression is.
    pub kind: FieldExprKind,
    /// Where it is.
    pub span: Span,
}

/// The kinds of [`FieldExpr`].
#[derive(Debug, Clone, PartialEq)]
pub enum FieldExprKind {
    /// A literal.
    Static(Static),
    /// An attribute, `span.http.method`.
    Attribute(Attribute),
    /// An intrinsic field, `span:duration`.
    Intrinsic(Intrinsic),
    /// `lhs op rhs`. The right side of `=~` and `!~` is a string literal
    /// holding a valid regular expression (checked by validation); match it
    /// against the whole value with [`crate::anchored_regex`].
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        lhs: Box<FieldExpr>,
        /// Right operand.
        rhs: Box<FieldExpr>,
    },
    /// `!x` or `-x`.
    Unary {
        /// The operator.
        op: UnaryOp,
        /// The operand.
        expr: Box<FieldExpr>,
    },
}

/// Binary operators of field and scalar expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `&&`.
    And,
    /// `||`.
    Or,
    /// `=`.
    Eq,
    /// `!=`.
    Neq,
    /// `<`.
    Lt,
    /// `<=`.
    Lte,
    /// `>`.
    Gt,
    /// `>=`.
    Gte,
    /// `=~`: the whole value matches the regular expression.
    Regex,
    /// `!~`: the whole value does not match the regular expression.
    NotRegex,
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%`.
    Mod,
    /// `^`.
    Pow,
}

impl BinaryOp {
    /// The operator's text.
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::And => "&&",
            BinaryOp::Or => "||",
            BinaryOp::Eq => "=",
            BinaryOp::Neq => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Lte => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Gte => ">=",
            BinaryOp::Regex => "=~",
            BinaryOp::NotRegex => "!~",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
        }
    }

    /// True for `= != < <= > >= =~ !~`.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eq
                | BinaryOp::Neq
                | BinaryOp::Lt
                | BinaryOp::Lte
                | BinaryOp::Gt
                | BinaryOp::Gte
                | BinaryOp::Regex
                | BinaryOp::NotRegex
        )
    }

    /// True for `+ - * / % ^`.
    pub fn is_arithmetic(self) -> bool {
        matches!(
            self,
            BinaryOp::Add
                | BinaryOp::Sub
                | BinaryOp::Mul
                | BinaryOp::Div
                | BinaryOp::Mod
                | BinaryOp::Pow
        )
    }

    /// True for `&&` and `||`.
    pub fn is_logical(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or)
    }

    /// Binding power: higher binds tighter.
    pub(crate) fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq
            | BinaryOp::Neq
            | BinaryOp::Lt
            | BinaryOp::Lte
            | BinaryOp::Gt
            | BinaryOp::Gte
            | BinaryOp::Regex
            | BinaryOp::NotRegex => 3,
            BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => 5,
            BinaryOp::Pow => 6,
        }
    }

    /// `^` groups to the right; everything else to the left.
    pub(crate) fn right_assoc(self) -> bool {
        self == BinaryOp::Pow
    }
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `!`: logical not.
    Not,
    /// `-`: negation.
    Neg,
}

/// The scope of an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `.name`: span or resource attribute, whichever exists.
    None,
    /// `span.name`.
    Span,
    /// `resource.name`.
    Resource,
    /// `event.name`: attribute of a span event.
    Event,
    /// `link.name`: attribute of a span link.
    Link,
    /// `instrumentation.name`: attribute of the instrumentation scope.
    Instrumentation,
}

impl Scope {
    /// The scope's prefix as written before the attribute name, including
    /// the dot: `span.`, or `.` for [`Scope::None`].
    pub fn prefix(self) -> &'static str {
        match self {
            Scope::None => ".",
            Scope::Span => "span.",
            Scope::Resource => "resource.",
            Scope::Event => "event.",
            Scope::Link => "link.",
            Scope::Instrumentation => "instrumentation.",
        }
    }
}

/// An attribute reference: a scope and a name (which may contain dots).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attribute {
    /// Where to look the attribute up.
    pub scope: Scope,
    /// The attribute's key, `http.status_code` in `span.http.status_code`.
    pub name: String,
}

impl Attribute {
    /// An attribute.
    pub fn new(scope: Scope, name: impl Into<String>) -> Self {
        Attribute {
            scope,
            name: name.into(),
        }
    }
}

/// Intrinsic fields. Legacy unscoped spellings (`duration`, `name`,
/// `traceDuration`, ...) map to the same variants as their scoped forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Intrinsic {
    /// `span:name` (or `name`): string.
    SpanName,
    /// `span:status` (or `status`): [`Status`].
    SpanStatus,
    /// `span:statusMessage` (or `statusMessage`): string.
    SpanStatusMessage,
    /// `span:kind` (or `kind`): [`Kind`].
    SpanKind,
    /// `span:duration` (or `duration`): duration.
    SpanDuration,
    /// `span:id`: string (hex).
    SpanId,
    /// `span:parentID`: string (hex).
    SpanParentId,
    /// `span:childCount`: integer.
    SpanChildCount,
    /// `trace:duration` (or `traceDuration`): duration.
    TraceDuration,
    /// `trace:rootName` (or `rootName`): string.
    TraceRootName,
    /// `trace:rootService` (or `rootServiceName`): string.
    TraceRootService,
    /// `trace:id`: string (hex).
    TraceId,
    /// `event:name`: string.
    EventName,
    /// `event:timeSinceStart`: duration.
    EventTimeSinceStart,
    /// `link:traceID`: string (hex).
    LinkTraceId,
    /// `link:spanID`: string (hex).
    LinkSpanId,
    /// `instrumentation:name`: string.
    InstrumentationName,
    /// `instrumentation:version`: string.
    InstrumentationVersion,
    /// `nestedSetLeft`: integer.
    NestedSetLeft,
    /// `nestedSetRight`: integer.
    NestedSetRight,
    /// `nestedSetParent`: integer.
    NestedSetParent,
}

/// The type of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    /// A string.
    String,
    /// A 64-bit integer.
    Int,
    /// A 64-bit float.
    Float,
    /// A boolean.
    Bool,
    /// A duration.
    Duration,
    /// A span status.
    Status,
    /// A span kind.
    Kind,
    /// `nil`.
    Nil,
    /// Not known before evaluation (attributes).
    Unknown,
}

impl Type {
    /// True for int, float and duration.
    pub fn is_numeric(self) -> bool {
        matches!(self, Type::Int | Type::Float | Type::Duration)
    }

    /// The name with its article, for messages: "an integer".
    pub(crate) fn a_name(self) -> &'static str {
        match self {
            Type::String => "a string",
            Type::Int => "an integer",
            Type::Float => "a float",
            Type::Bool => "a boolean",
            Type::Duration => "a duration",
            Type::Status => "a status",
            Type::Kind => "a kind",
            Type::Nil => "nil",
            Type::Unknown => "an attribute",
        }
    }

    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Type::String => "string",
            Type::Int => "integer",
            Type::Float => "float",
            Type::Bool => "boolean",
            Type::Duration => "duration",
            Type::Status => "status",
            Type::Kind => "kind",
            Type::Nil => "nil value",
            Type::Unknown => "attribute",
        }
    }
}

impl Intrinsic {
    /// Every intrinsic.
    pub const ALL: [Intrinsic; 21] = [
        Intrinsic::SpanName,
        Intrinsic::SpanStatus,
        Intrinsic::SpanStatusMessage,
        Intrinsic::SpanKind,
        Intrinsic::SpanDuration,
        Intrinsic::SpanId,
        Intrinsic::SpanParentId,
        Intrinsic::SpanChildCount,
        Intrinsic::TraceDuration,
        Intrinsic::TraceRootName,
        Intrinsic::TraceRootService,
        Intrinsic::TraceId,
        Intrinsic::EventName,
        Intrinsic::EventTimeSinceStart,
        Intrinsic::LinkTraceId,
        Intrinsic::LinkSpanId,
        Intrinsic::InstrumentationName,
        Intrinsic::InstrumentationVersion,
        Intrinsic::NestedSetLeft,
        Intrinsic::NestedSetRight,
        Intrinsic::NestedSetParent,
    ];

    /// The canonical spelling (the scoped form where there is one).
    pub fn as_str(self) -> &'static str {
        match self {
            Intrinsic::SpanName => "span:name",
            Intrinsic::SpanStatus => "span:status",
            Intrinsic::SpanStatusMessage => "span:statusMessage",
            Intrinsic::SpanKind => "span:kind",
            Intrinsic::SpanDuration => "span:duration",
            Intrinsic::SpanId => "span:id",
            Intrinsic::SpanParentId => "span:parentID",
            Intrinsic::SpanChildCount => "span:childCount",
            Intrinsic::TraceDuration => "trace:duration",
            Intrinsic::TraceRootName => "trace:rootName",
            Intrinsic::TraceRootService => "trace:rootService",
            Intrinsic::TraceId => "trace:id",
            Intrinsic::EventName => "event:name",
            Intrinsic::EventTimeSinceStart => "event:timeSinceStart",
            Intrinsic::LinkTraceId => "link:traceID",
            Intrinsic::LinkSpanId => "link:spanID",
            Intrinsic::InstrumentationName => "instrumentation:name",
            Intrinsic::InstrumentationVersion => "instrumentation:version",
            Intrinsic::NestedSetLeft => "nestedSetLeft",
            Intrinsic::NestedSetRight => "nestedSetRight",
            Intrinsic::NestedSetParent => "nestedSetParent",
        }
    }

    /// The legacy unscoped spelling, if the intrinsic has one.
    pub fn legacy_name(self) -> Option<&'static str> {
        Some(match self {
            Intrinsic::SpanName => "name",
            Intrinsic::SpanStatus => "status",
            Intrinsic::SpanStatusMessage => "statusMessage",
            Intrinsic::SpanKind => "kind",
            Intrinsic::SpanDuration => "duration",
            Intrinsic::TraceDuration => "traceDuration",
            Intrinsic::TraceRootName => "rootName",
            Intrinsic::TraceRootService => "rootServiceName",
            Intrinsic::NestedSetLeft => "nestedSetLeft",
            Intrinsic::NestedSetRight => "nestedSetRight",
            Intrinsic::NestedSetParent => "nestedSetParent",
            _ => return None,
        })
    }

    /// Look up an unscoped spelling: `duration`, `nestedSetLeft`, ...
    pub fn from_legacy(name: &str) -> Option<Intrinsic> {
        Intrinsic::ALL
            .into_iter()
            .find(|i| i.legacy_name() == Some(name))
    }

    /// Look up a scoped spelling: `span:duration`, `trace:id`, ...
    pub fn from_scoped(text: &str) -> Option<Intrinsic> {
        Intrinsic::ALL.into_iter().find(|i| i.as_str() == text)
    }

    /// The type of the intrinsic's values.
    pub fn value_type(self) -> Type {
        match self {
            Intrinsic::SpanStatus => Type::Status,
            Intrinsic::SpanKind => Type::Kind,
            Intrinsic::SpanDuration | Intrinsic::TraceDuration | Intrinsic::EventTimeSinceStart => {
                Type::Duration
            }
            Intrinsic::SpanChildCount
            | Intrinsic::NestedSetLeft
            | Intrinsic::NestedSetRight
            | Intrinsic::NestedSetParent => Type::Int,
            _ => Type::String,
        }
    }
}

/// A span status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// `error`.
    Error,
    /// `ok`.
    Ok,
    /// `unset`.
    Unset,
}

impl Status {
    /// The keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Error => "error",
            Status::Ok => "ok",
            Status::Unset => "unset",
        }
    }
}

/// A span kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `unspecified`.
    Unspecified,
    /// `internal`.
    Internal,
    /// `server`.
    Server,
    /// `client`.
    Client,
    /// `producer`.
    Producer,
    /// `consumer`.
    Consumer,
}

impl Kind {
    /// The keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Unspecified => "unspecified",
            Kind::Internal => "internal",
            Kind::Server => "server",
            Kind::Client => "client",
            Kind::Producer => "producer",
            Kind::Consumer => "consumer",
        }
    }
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Static {
    /// `"text"` or `` `text` ``.
    String(String),
    /// `42`.
    Int(i64),
    /// `4.2`; always finite.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// `nil`: the attribute does not exist.
    Nil,
    /// `1.5s`, `1h30m`: nanoseconds.
    Duration(i64),
    /// `error`, `ok`, `unset`.
    Status(Status),
    /// `server`, `client`, ...
    Kind(Kind),
}

impl Static {
    /// The literal's type.
    pub fn value_type(&self) -> Type {
        match self {
            Static::String(_) => Type::String,
            Static::Int(_) => Type::Int,
            Static::Float(_) => Type::Float,
            Static::Bool(_) => Type::Bool,
            Static::Nil => Type::Nil,
            Static::Duration(_) => Type::Duration,
            Static::Status(_) => Type::Status,
            Static::Kind(_) => Type::Kind,
        }
    }
}
