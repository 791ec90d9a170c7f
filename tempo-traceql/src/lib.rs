//! The TraceQL query language, as Grafana Tempo documents it.
//!
//! This crate turns TraceQL text into a typed syntax tree and back: a
//! hand-written lexer, a precedence-climbing parser, a validator (types,
//! regular expressions, pipeline shape), a canonical formatter and a lenient
//! entry point for editors. It **is not** a query engine: it knows nothing of
//! spans, blocks or storage, and evaluates nothing. The engine in
//! `tempo-core` plans and runs the [`Query`] this crate produces.
//!
//! ```
//! use tempo_traceql::{parse, format, ErrorKind, ExprKind, FieldExprKind, Static};
//!
//! let q = parse(r#"{ span.http.status_code >= 500 && resource.service.name = "api" } | count() > 2"#)?;
//! assert!(!q.is_metrics());
//! assert_eq!(
//!     format(&q),
//!     r#"{ span.http.status_code >= 500 && resource.service.name = "api" } | count() > 2"#
//! );
//!
//! // Legacy intrinsic names are accepted and formatted in their scoped form.
//! let q = parse("{ duration > 1.5s }")?;
//! assert_eq!(q.to_string(), "{ span:duration > 1s500ms }");
//! # let ExprKind::Filter(f) = &q.expr.kind else { panic!() };
//! # let Some(e) = &f.expr else { panic!() };
//! # let FieldExprKind::Binary { rhs, .. } = &e.kind else { panic!() };
//! # assert_eq!(rhs.kind, FieldExprKind::Static(Static::Duration(1_500_000_000)));
//!
//! // Errors say which kind they are, where, and what would have been right.
//! let err = parse("{ span:status = 1.5 }").unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::Validation);
//! println!("{err}");
//! # Ok::<(), tempo_traceql::Error>(())
//! ```
//!
//! # Entry points
//!
//! - [`parse`]: text to a validated [`Query`], or an [`Error`].
//! - [`parse_unchecked`] and [`validate`]: the two halves of `parse`.
//! - [`format()`] (also `Display` on [`Query`]): canonical text;
//!   `parse(&format(&q)) == Ok(q)` for every query `parse` returns, since
//!   [`Span`]s never take part in equality.
//! - [`parse_lenient`]: the complete conditions of a query being typed.
//! - [`explain`]: the tree as indented text.
//! - [`Query::referenced_fields`]: the attributes and intrinsics to fetch.
//! - [`compile_regex`] / [`anchored_regex`]: regular expressions are matched
//!   against whole values, as in Tempo. Validation checks each pattern's
//!   syntax (RE2, as the `regex` crate reads it) without compiling it, which
//!   keeps parsing fast; [`compile_regex`] can still refuse a pattern whose
//!   compiled form exceeds its size limit, and the engine reports that.
//!
//! # Errors
//!
//! [`ErrorKind`] has the three kinds Tempo distinguishes, and a query gets the
//! kind Tempo gives it:
//!
//! - **Parse**: not TraceQL, by Tempo's grammar. Unknown characters and words,
//!   missing brackets, unknown duration units (`1mo`; the units are
//!   `ns us µs ms s m h d w y`, a day being 24h, a week 7d and a year 365d);
//!   arguments a function does not take or lacks (`topk()`, `avg()`,
//!   `count(.a)`, `rate(.a)`, `select()`); values where an attribute is
//!   expected (`select(1)`, `rate() by (1)`, `sum_over_time(1)`); stages in an
//!   order the grammar does not have (`{} | rate() | { .a = 1 }`,
//!   `{} | topk(5)`, `{} | count() | by(.a)`); arithmetic or comparisons on
//!   spansets (`{ } + { }`, `{ } > 10`, `{ } = 10`); numbers alone (`2 + 3`);
//!   an aggregate left without a comparison (`{ } | count()`); anything but a
//!   number compared with an aggregate or with series (`count() > "x"`).
//! - **Validation**: TraceQL, but wrong. Type errors (`{ .a + "x" = 1 }`,
//!   `{ span:status = 1.5 }`), invalid regular expressions, `nil` compared
//!   with `<` or with a literal, `by()` or an aggregate that reads nothing of
//!   the span (`by(1)`, `sum(3) = 2`), a scalar filter without an aggregate
//!   (`1 > 2`), quantiles outside `0..=1`, `topk(0)`, `compare()` followed by
//!   `topk`, `bottomk` or a filter, or inside arithmetic.
//! - **Unsupported**: well-formed and well-typed, but not executable. The
//!   line is ours to draw; this crate reports as unsupported the forms that
//!   Tempo's grammar accepts but that our engine does not evaluate:
//!   - arithmetic and comparisons between wrapped scalar pipelines:
//!     `({ } | count()) > ({ .a } | count())`, `({ } | count()) > 3` (write
//!     the comparison inside the pipeline: `{ } | count() > 3`);
//!   - the `parent.` attribute scope.
//!
//! Accepted as in Tempo, and so in the tree: a pipeline may start with a
//! scalar filter, `by()` or `select()` (`count() > 1 | { .a }`,
//! `select(.a)`), which applies to all the spans of each trace, as if
//! preceded by `{ } |` (see [`Pipeline::head`]); metrics queries combine with
//! each other and with numbers by `+ - * /`, and may be followed by series
//! filters and `topk`/`bottomk` (`({ } | rate()) * 10 + 5 > 50 | topk(1)`,
//! see [`Expr`]); `nil` compared with `=` or `!=` to an attribute or an
//! intrinsic tests whether the span has it, and `nil = nil`, `nil != nil` are
//! conditions (Tempo takes both as false).
//!
//! Choices where Tempo's documentation is silent: integers, floats and
//! durations compare with each other; strings are ordered; booleans, statuses
//! and kinds are not; the right side of `=~`/`!~` must be a string literal;
//! an attribute alone (`{ .flag }`) is a valid condition; `by()` in a spanset
//! pipeline takes one field expression, `by (...)` after a metrics function
//! several attributes; hint values are strings, numbers, durations or
//! booleans.
//!
//! # Syntax notes
//!
//! - Attribute names run until whitespace or one of
//!   `{ } ( ) = ! < > & | ~ ^ , + * / %` and quotes; so `span.x-request-id`
//!   is one name. Quote anything else: `span."a b"` (escapes `\"`, `\\`).
//!   An unscoped name cannot start with a digit (`.99` is a number).
//! - Durations use `ns us µs ms s m h`, with fractions and compounds
//!   (`1.5s`, `1h30m`).
//! - Nesting is limited to [`MAX_DEPTH`] levels (brackets, unary and binary
//!   operators, pipelines), and a query to [`MAX_QUERY_BYTES`] bytes: larger
//!   queries are a parse error, with the position, rather than a stack
//!   overflow. Every tree the parser returns is at most about `MAX_DEPTH`
//!   deep, so that walking it recursively is safe on any thread. A run of
//!   `&&` or `||` is not nesting: thousands of conditions joined by `||` are
//!   one run, built as a balanced tree whose height grows with the logarithm
//!   of their number; a run is formatted flat, whatever its brackets were.
//!
//! Array-valued attributes need no syntax of their own: a comparison with an
//! array attribute holds when it holds for one of its elements, which is the
//! engine's business.
//!
//! # Features
//!
//! None.

mod ast;
mod error;
mod fields;
mod format;
mod lenient;
mod lexer;
mod parser;
mod shape;
mod validate;

pub use ast::{
    AggregateFn, Attribute, BinaryOp, Expr, ExprKind, FieldExpr, FieldExprKind, Hint, Intrinsic,
    Kind, MetricsAggregate, MetricsFn, Pipeline, Query, ScalarExpr, ScalarExprKind, Scope,
    SecondStageFn, Span, SpansetFilter, SpansetOp, Stage, StageKind, Static, Status, Type, UnaryOp,
};
pub use error::{Error, ErrorKind};
pub use format::{explain, format, format_field_expr};
pub use lenient::{Condition, FieldRef, parse_lenient};
pub use parser::{MAX_DEPTH, MAX_QUERY_BYTES};
pub use validate::{anchored_regex, compile_regex};

/// Parse and validate a TraceQL query.
///
/// Errors carry the query text, so that `Display` shows it with a caret.
pub fn parse(query: &str) -> Result<Query, Error> {
    let q = parse_unchecked(query)?;
    validate(&q).map_err(|e| e.with_source(query))?;
    Ok(q)
}

/// Parse a query without the validation pass: syntax only, Tempo's grammar
/// included (what combines with what, and the order of stages).
///
/// The `parent.` scope is reported here too, as unsupported.
pub fn parse_unchecked(query: &str) -> Result<Query, Error> {
    parser::parse_query(query).map_err(|e| e.with_source(query))
}

/// Check that a query is not longer than [`MAX_QUERY_BYTES`], as [`parse`] does first.
///
/// For a caller that reads a query by other means (as the lenient entry point, which never
/// fails, does) and must refuse what `parse` would.
pub fn check_length(query: &str) -> Result<(), Error> {
    parser::check_length(query).map_err(|e| e.with_source(query))
}

/// Validate a parsed query: types, regular expressions, pipeline shape,
/// then what is unsupported.
pub fn validate(query: &Query) -> Result<(), Error> {
    validate::validate(query)
}
