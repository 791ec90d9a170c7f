//! The evaluator: TraceQL over the spans of one trace.
//!
//! A trace is a list of spans with their tree ([`TraceView`]). An expression turns a list of
//! spansets into another: the first input is one spanset holding every span of the trace.
//! `{ cond }` keeps the spans of each input spanset that meet `cond`; `&&` and `||` join the
//! spansets of both sides; structural operators relate the spans of both sides through the
//! tree; pipeline stages filter, regroup (`by`), merge (`coalesce`) or annotate (`select`).
//!
//! As it goes, each spanset notes which fields each of its spans shows in a result
//! ([`Mark`]): those of the conditions the span met (with the event, link and array element
//! it met them with), and those `select()`, `by()` and aggregates apply to its spanset. A span
//! returned by one side of an operator keeps that side's marks only, so a result shows, for
//! each span, the fields it was evaluated on.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use regex::Regex;
use tempo_traceql::{
    AggregateFn, Attribute, BinaryOp, Expr, ExprKind, FieldExpr, FieldExprKind, Intrinsic, Kind,
    Query, ScalarExpr, ScalarExprKind, Scope, SpansetFilter, SpansetOp, StageKind, Status, UnaryOp,
};

use super::QueryError;
use super::stop::{CHECK_EVERY, Stop};
use super::value::{Val, arithmetic, compare, regex_match};
use crate::model::{Event, KeyValue, Link, TraceId};
use crate::spans::StoredSpan;

/// No span: the parent of a span without one in the trace.
const NONE: u32 = u32::MAX;

/// `nestedSetParent` of a root span, as Tempo numbers it.
const NESTED_SET_ROOT_PARENT: i64 = -1;

/// One trace's spans and the tree they form.
///
/// A span delivered more than once (the same span ID and kind, as an exporter retrying a batch
/// sends it) is a *repeat*: it takes no part in the tree and is never matched, so that it is
/// counted once, as [`crate::Store::find_trace`] returns it once.
pub(crate) struct TraceView<'a> {
    /// The trace's ID.
    pub(crate) id: TraceId,
    /// The spans, repeats included; spansets hold indices into this.
    pub(crate) spans: &'a [StoredSpan],
    /// Whether each span repeats an earlier one.
    repeat: Vec<bool>,
    /// Index of each span's parent in `spans`, or `NONE`.
    parent: Vec<u32>,
    /// Number of children of each span.
    child_count: Vec<u32>,
    /// Nested-set left position of each span; 0 for spans outside the tree (repeats, cycles).
    left: Vec<u32>,
    /// Nested-set right position of each span.
    right: Vec<u32>,
    /// The parent's left position. As in Tempo, a root span (one without a parent ID) has
    /// parent -1, and a span whose parent is missing from the trace has parent 0, "unknown";
    /// it is numbered as the root of its own subtree.
    parent_left: Vec<i64>,
    /// Earliest span start, unix nanoseconds.
    pub(crate) start: u64,
    /// Latest span end, unix nanoseconds.
    pub(crate) end: u64,
    /// The root span ([`crate::spans::root_index`]).
    root: Option<usize>,
}

impl<'a> TraceView<'a> {
    /// Builds the tree of a trace's spans, in any order.
    pub(crate) fn new(id: TraceId, spans: &'a [StoredSpan]) -> TraceView<'a> {
        let n = spans.len();
        let mut seen: HashSet<(&[u8], i32)> = HashSet::with_capacity(n);
        let repeat: Vec<bool> = spans
            .iter()
            .map(|s| !seen.insert((s.span.span_id.as_slice(), s.span.kind)))
            .collect();
        let mut by_id: HashMap<&[u8], u32> = HashMap::with_capacity(n);
        for (i, s) in spans.iter().enumerate() {
            by_id.entry(s.span.span_id.as_slice()).or_insert(i as u32);
        }
        let mut parent = vec![NONE; n];
        let mut child_count = vec![0u32; n];
        for (i, s) in spans.iter().enumerate() {
            if repeat[i] || s.span.parent_span_id.is_empty() {
                continue;
            }
            if let Some(&p) = by_id.get(s.span.parent_span_id.as_slice())
                && p as usize != i
            {
                parent[i] = p;
                child_count[p as usize] += 1;
            }
        }
        // Children lists, last span first: pushed on the stack in that order, children are
        // numbered in span order.
        let mut first_child = vec![NONE; n];
        let mut next_sibling = vec![NONE; n];
        for i in 0..n {
            let p = parent[i];
            if p != NONE {
                next_sibling[i] = first_child[p as usize];
                first_child[p as usize] = i as u32;
            }
        }
        let (mut left, mut right) = (vec![0; n], vec![0; n]);
        let mut parent_left = vec![0i64; n];
        let mut counter = 0u32;
        let mut stack: Vec<(u32, bool)> = Vec::new();
        for root in (0..n).filter(|&i| parent[i] == NONE && !repeat[i]) {
            stack.push((root as u32, false));
            while let Some((node, done)) = stack.pop() {
                let node_us = node as usize;
                counter += 1;
                if done {
                    right[node_us] = counter;
                    continue;
                }
                if left[node_us] != 0 {
                    // A cycle through parent IDs: leave the rest unreachable.
                    counter -= 1;
                    continue;
                }
                left[node_us] = counter;
                let p = parent[node_us];
                parent_left[node_us] = if p != NONE {
                    i64::from(left[p as usize])
                } else if spans[node_us].span.parent_span_id.is_empty() {
                    NESTED_SET_ROOT_PARENT
                } else {
                    0
                };
                stack.push((node, true));
                let mut c = first_child[node_us];
                while c != NONE {
                    stack.push((c, false));
                    c = next_sibling[c as usize];
                }
            }
        }
        let (start, end) = crate::spans::time_bounds(spans);
        let root = crate::spans::root_index(spans);
        TraceView {
            id,
            spans,
            repeat,
            parent,
            child_count,
            left,
            right,
            parent_left,
            start,
            end,
            root,
        }
    }

    /// Indices of the spans that are not repeats: each distinct span once.
    pub(crate) fn distinct(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.spans.len() as u32).filter(|&i| !self.repeat[i as usize])
    }

    /// Latest end minus earliest start, nanoseconds.
    pub(crate) fn duration(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Name of the root span, if it was received.
    pub(crate) fn root_name(&self) -> Option<&'a str> {
        self.root.map(|r| self.spans[r].span.name.as_str())
    }

    /// `service.name` of the root span's resource, if the root span was received.
    pub(crate) fn root_service(&self) -> Option<&'a str> {
        self.root.and_then(|r| service_name(&self.spans[r]))
    }
}

/// `service.name` of a span's resource.
pub(crate) fn service_name(s: &StoredSpan) -> Option<&str> {
    let r = s.resource.resource.as_ref()?;
    r.attributes.iter().find_map(|kv| match kv.key.as_str() {
        "service.name" => match &kv.value.as_ref()?.value {
            Some(crate::model::Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        },
        _ => None,
    })
}

/// The value of attribute `key` among `attrs` (the first, if repeated), or nil.
fn find_attr<'v>(attrs: &'v [KeyValue], key: &str) -> Val<'v> {
    for kv in attrs {
        if kv.key == key {
            return kv.value.as_ref().map_or(Val::Nil, Val::from_any);
        }
    }
    Val::Nil
}

/// An ID as lowercase hex, as TraceQL compares IDs; nil for an empty ID.
fn hex_val(b: &[u8]) -> Val<'static> {
    if b.is_empty() {
        Val::Nil
    } else {
        Val::Str(Cow::Owned(hex::encode(b)))
    }
}

/// A set of spans (indices into the trace), with the attributes the pipeline gave it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Spanset {
    /// The spans, as indices into [`TraceView::spans`].
    pub(crate) spans: Vec<u32>,
    /// Attributes of the spanset itself: the `by()` value, aggregates compared in the
    /// pipeline.
    pub(crate) attrs: Vec<(String, Val<'static>)>,
    /// The fields each span shows in a result, noted where the span met them; sorted, no
    /// repeats.
    pub(crate) marks: Vec<Mark>,
}

/// A field a span shows in a result, noted where the span met it: a condition it met, a
/// `select()`, a `by()` or an aggregate applied to its spanset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Mark {
    /// The span.
    span: u32,
    /// The field, an index into [`Compiled::shown`].
    field: u16,
    /// The event of the span that met the condition (`NONE`: none in particular).
    event: u32,
    /// The link of the span that met the condition (`NONE`: none in particular).
    link: u32,
    /// For an array attribute, the element that met the condition (`NONE`: the whole
    /// value).
    element: u32,
    /// Whether a missing value is shown, as `nil` (a test against `nil`, `select()`).
    nil: bool,
}

/// The marks of `spans` among `marks` (sorted): sorted, no repeats.
fn marks_of(marks: &[Mark], spans: &[u32]) -> Vec<Mark> {
    if marks.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for &s in spans {
        let from = marks.partition_point(|m| m.span < s);
        let to = from + marks[from..].partition_point(|m| m.span == s);
        out.extend_from_slice(&marks[from..to]);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Both lists of marks in one: sorted, no repeats.
fn merge_marks(mut a: Vec<Mark>, b: Vec<Mark>) -> Vec<Mark> {
    if a.is_empty() {
        return b;
    }
    a.extend(b);
    a.sort_unstable();
    a.dedup();
    a
}

/// How a filter's condition marks the spans that meet it: one field it names.
struct Note<'q> {
    /// The field, an index into [`Compiled::shown`].
    field: u16,
    /// The field as written.
    expr: &'q FieldExpr,
    /// Whether the filter tests it against `nil`.
    nil: bool,
    /// The comparisons of the field with a literal: operator, literal, and whether the field
    /// is on the left.
    conditions: Vec<(BinaryOp, &'q FieldExpr, bool)>,
}

/// A query ready to run: its regular expressions compiled, what it reads known.
pub(crate) struct Compiled {
    /// The parsed and validated query.
    pub(crate) query: Query,
    /// Every regular expression of the query, compiled (anchored), by its pattern.
    regexes: HashMap<String, Regex>,
    /// Fields a span of a result may show (attributes, and intrinsics other than its name
    /// and duration), each once: those the query's conditions, `by()`, aggregates and
    /// `select()` name, in the order they come.
    pub(crate) shown: Vec<FieldExpr>,
}

impl Compiled {
    /// Parses, validates and prepares a search query; a metrics query is unsupported.
    pub(crate) fn new(text: &str) -> Result<Compiled, QueryError> {
        let query = tempo_traceql::parse(text)?;
        if query.is_metrics() {
            return Err(QueryError::Unsupported(
                "a metrics query cannot be run as a search; use the metrics API".into(),
            ));
        }
        Compiled::from_query(query)
    }

    /// Prepares a parsed spanset query (the filter part of a metrics query, say).
    pub(crate) fn from_query(query: Query) -> Result<Compiled, QueryError> {
        let mut regexes = HashMap::new();
        let mut shown = Vec::new();
        collect_expr(&query.expr, &mut regexes, &mut shown)?;
        Ok(Compiled {
            query,
            regexes,
            shown,
        })
    }

    /// The same query, for a caller that wants only which spans match (metrics, tag
    /// filters): spans note no fields to show, which saves the work.
    pub(crate) fn matching_only(mut self) -> Compiled {
        self.shown.clear();
        self
    }

    /// The compiled form of regular expression `pattern` of the query.
    pub(crate) fn regex(&self, pattern: &str) -> Option<&Regex> {
        self.regexes.get(pattern)
    }

    /// The spansets of one trace that the query yields.
    ///
    /// Stops with [`QueryError::Interrupted`] when `stop` says so; it is checked at every
    /// operator and every few thousand spans.
    pub(crate) fn run(&self, t: &TraceView<'_>, stop: &Stop) -> Result<Vec<Spanset>, QueryError> {
        let all = Spanset {
            spans: t.distinct().collect(),
            attrs: Vec::new(),
            marks: Vec::new(),
        };
        self.expr(&self.query.expr, t, vec![all], stop)
    }

    /// The index of a field in [`Compiled::shown`], if spans show it.
    fn shown_index(&self, f: &FieldExpr) -> Option<u16> {
        self.shown
            .iter()
            .position(|s| s.kind == f.kind)
            .and_then(|i| u16::try_from(i).ok())
    }

    /// Marks for every span of `ss` showing field `f` (when spans show it).
    fn mark_all(&self, ss: &mut Spanset, f: &FieldExpr, nil: bool) {
        let Some(field) = self.shown_index(f) else {
            return;
        };
        let marks = ss
            .spans
            .iter()
            .map(|&span| Mark {
                span,
                field,
                event: NONE,
                link: NONE,
                element: NONE,
                nil,
            })
            .collect();
        ss.marks = merge_marks(std::mem::take(&mut ss.marks), marks);
    }

    /// The notes of a filter: each field of its condition that spans show.
    fn notes<'q>(&self, f: &'q SpansetFilter) -> Vec<Note<'q>> {
        let mut notes: Vec<Note<'q>> = Vec::new();
        let Some(e) = &f.expr else { return notes };
        let mut stack = vec![e];
        while let Some(e) = stack.pop() {
            match &e.kind {
                FieldExprKind::Attribute(_) | FieldExprKind::Intrinsic(_) => {
                    if let Some(field) = self.shown_index(e)
                        && !notes.iter().any(|n| n.field == field)
                    {
                        notes.push(Note {
                            field,
                            expr: e,
                            nil: false,
                            conditions: Vec::new(),
                        });
                    }
                }
                FieldExprKind::Unary { expr, .. } => stack.push(expr),
                FieldExprKind::Binary { lhs, rhs, .. } => {
                    stack.push(rhs);
                    stack.push(lhs);
                }
                FieldExprKind::Static(_) => {}
            }
        }
        // What each field is compared with.
        let mut stack = vec![e];
        while let Some(e) = stack.pop() {
            match &e.kind {
                FieldExprKind::Unary { expr, .. } => stack.push(expr),
                FieldExprKind::Binary { op, lhs, rhs } => {
                    for (field, other, left) in [(lhs, rhs, true), (rhs, lhs, false)] {
                        let Some(n) = notes.iter_mut().find(|n| n.expr.kind == field.kind) else {
                            continue;
                        };
                        if is_nil(other) && matches!(op, BinaryOp::Eq | BinaryOp::Neq) {
                            n.nil = true;
                        } else if matches!(other.kind, FieldExprKind::Static(_))
                            && op.is_comparison()
                        {
                            n.conditions.push((*op, other, left));
                        }
                    }
                    stack.push(rhs);
                    stack.push(lhs);
                }
                _ => {}
            }
        }
        notes.sort_by_key(|n| n.field);
        notes
    }

    /// The mark a span meeting a filter gets for one of its notes: with the event and link
    /// it met the condition with, and the array element that met it.
    fn mark(
        &self,
        note: &Note<'_>,
        t: &TraceView<'_>,
        i: usize,
        (event, link): (Option<usize>, Option<usize>),
    ) -> Mark {
        let span = &t.spans[i].span;
        let mut element = NONE;
        if !note.conditions.is_empty()
            && let Val::Array(items) = self.field(
                note.expr,
                t,
                i,
                event.and_then(|e| span.events.get(e)),
                link.and_then(|l| span.links.get(l)),
            )
        {
            element = items
                .iter()
                .position(|item| {
                    let v = Val::from_any(item);
                    note.conditions
                        .iter()
                        .any(|(op, other, left)| self.holds(*op, &v, other, *left))
                })
                .map_or(NONE, |k| k as u32);
        }
        Mark {
            span: i as u32,
            field: note.field,
            event: event.map_or(NONE, |e| e as u32),
            link: link.map_or(NONE, |l| l as u32),
            element,
            nil: note.nil,
        }
    }

    /// Whether `v op literal` (or `literal op v`) holds, for one element of an array.
    fn holds(&self, op: BinaryOp, v: &Val<'_>, literal: &FieldExpr, left: bool) -> bool {
        let FieldExprKind::Static(lit) = &literal.kind else {
            return false;
        };
        match (op, lit) {
            (BinaryOp::Regex | BinaryOp::NotRegex, tempo_traceql::Static::String(p)) => self
                .regexes
                .get(p)
                .is_some_and(|re| regex_match(v, re, op == BinaryOp::NotRegex)),
            _ => {
                let lit = Val::from_static(lit);
                if left {
                    compare(op, v, &lit)
                } else {
                    compare(op, &lit, v)
                }
            }
        }
    }

    /// The spansets `e` yields from `input`, each input spanset evaluated on its own.
    fn expr(
        &self,
        e: &Expr,
        t: &TraceView<'_>,
        input: Vec<Spanset>,
        stop: &Stop,
    ) -> Result<Vec<Spanset>, QueryError> {
        if stop.should_stop() {
            return Err(QueryError::Interrupted);
        }
        match &e.kind {
            ExprKind::Filter(f) => {
                let notes = self.notes(f);
                let mut out = Vec::with_capacity(input.len());
                let mut seen = 0usize;
                for ss in input {
                    let mut spans: Vec<u32> = Vec::new();
                    let mut marks: Vec<Mark> = Vec::new();
                    for &i in &ss.spans {
                        seen += 1;
                        if seen.is_multiple_of(CHECK_EVERY) && stop.should_stop() {
                            return Err(QueryError::Interrupted);
                        }
                        if let Some(at) = self.matches(f, t, i as usize) {
                            spans.push(i);
                            marks.extend(notes.iter().map(|n| self.mark(n, t, i as usize, at)));
                        }
                    }
                    if !spans.is_empty() {
                        marks.sort_unstable();
                        marks.dedup();
                        let marks = merge_marks(marks_of(&ss.marks, &spans), marks);
                        out.push(Spanset {
                            spans,
                            attrs: ss.attrs,
                            marks,
                        });
                    }
                }
                Ok(out)
            }
            ExprKind::Spanset { op, lhs, rhs } => {
                let mut out = Vec::new();
                for ss in input {
                    let l = self.expr(lhs, t, vec![ss.clone()], stop)?;
                    let r = self.expr(rhs, t, vec![ss.clone()], stop)?;
                    if let Some((spans, marks)) = spanset_op(*op, t, &l, &r) {
                        out.push(Spanset {
                            spans,
                            attrs: ss.attrs,
                            marks,
                        });
                    }
                }
                Ok(out)
            }
            ExprKind::Pipeline(p) => {
                let mut sets = self.expr(&p.head, t, input, stop)?;
                for stage in &p.stages {
                    if sets.is_empty() {
                        break;
                    }
                    if stop.should_stop() {
                        return Err(QueryError::Interrupted);
                    }
                    sets = self.stage(&stage.kind, t, sets, stop)?;
                }
                Ok(sets)
            }
            ExprKind::Binary { .. } | ExprKind::Static(_) => Err(QueryError::Unsupported(
                "arithmetic and comparisons between wrapped pipelines are not supported".into(),
            )),
        }
    }

    /// Applies one pipeline stage to the spansets so far.
    fn stage(
        &self,
        stage: &StageKind,
        t: &TraceView<'_>,
        sets: Vec<Spanset>,
        stop: &Stop,
    ) -> Result<Vec<Spanset>, QueryError> {
        match stage {
            StageKind::Spanset(e) => {
                let mut out = Vec::new();
                for ss in sets {
                    out.extend(self.expr(e, t, vec![ss], stop)?);
                }
                Ok(out)
            }
            StageKind::ScalarFilter { op, lhs, rhs } => {
                let mut out = Vec::new();
                for mut ss in sets {
                    let l = self.scalar(lhs, t, &ss);
                    let r = self.scalar(rhs, t, &ss);
                    if compare(*op, &l, &r) {
                        for side in [lhs, rhs] {
                            if let ScalarExprKind::Aggregate { field, .. } = &side.kind {
                                let v = self.scalar(side, t, &ss);
                                if !v.is_nil() {
                                    ss.attrs.push((scalar_name(side), v));
                                }
                                // Its spans show the field aggregated.
                                if let Some(f) = field {
                                    self.mark_all(&mut ss, f, false);
                                }
                            }
                        }
                        out.push(ss);
                    }
                }
                Ok(out)
            }
            StageKind::Scalar(_) => Ok(sets),
            StageKind::By(field) => {
                let name = format!("by({})", tempo_name(field));
                let mut out: Vec<Spanset> = Vec::new();
                for ss in sets {
                    // Groups in the order their first span comes; spans without the field
                    // are a group of their own, whose value is nil, as in Tempo.
                    let mut groups: Vec<(Val<'static>, Vec<u32>)> = Vec::new();
                    let mut by_key: HashMap<String, usize> = HashMap::new();
                    for &i in &ss.spans {
                        let v = self.field(field, t, i as usize, None, None);
                        let key = v.group_key().unwrap_or_default();
                        match by_key.get(&key) {
                            Some(&g) => groups[g].1.push(i),
                            None => {
                                by_key.insert(key, groups.len());
                                groups.push((v.into_owned(), vec![i]));
                            }
                        }
                    }
                    for (v, spans) in groups {
                        let mut attrs = ss.attrs.clone();
                        attrs.push((name.clone(), v));
                        let marks = marks_of(&ss.marks, &spans);
                        let mut group = Spanset {
                            spans,
                            attrs,
                            marks,
                        };
                        self.mark_all(&mut group, field, false);
                        out.push(group);
                    }
                }
                Ok(out)
            }
            StageKind::Coalesce => {
                let mut spans: Vec<u32> =
                    sets.iter().flat_map(|s| s.spans.iter().copied()).collect();
                spans.sort_unstable();
                spans.dedup();
                let marks = sets
                    .into_iter()
                    .fold(Vec::new(), |all, s| merge_marks(all, s.marks));
                Ok(vec![Spanset {
                    spans,
                    attrs: Vec::new(),
                    marks,
                }])
            }
            // The selected fields are shown with each span, `nil` where it has none.
            StageKind::Select(fields) => {
                let mut sets = sets;
                for ss in &mut sets {
                    for f in fields {
                        self.mark_all(ss, f, true);
                    }
                }
                Ok(sets)
            }
            StageKind::Metrics(_)
            | StageKind::SecondStage { .. }
            | StageKind::MetricsFilter { .. } => Err(QueryError::Unsupported(
                "a metrics query cannot be run as a search".into(),
            )),
        }
    }

    /// The value of a scalar expression (aggregates, literals, arithmetic) over a spanset.
    /// Aggregates other than `count()` skip spans where their field is not a number, and are
    /// nil when no span has one.
    fn scalar(&self, e: &ScalarExpr, t: &TraceView<'_>, ss: &Spanset) -> Val<'static> {
        match &e.kind {
            ScalarExprKind::Static(s) => Val::from_static(s).into_owned(),
            ScalarExprKind::Binary { op, lhs, rhs } => {
                arithmetic(*op, &self.scalar(lhs, t, ss), &self.scalar(rhs, t, ss))
            }
            ScalarExprKind::Aggregate { func, field } => {
                if *func == AggregateFn::Count {
                    return Val::Int(ss.spans.len() as i64);
                }
                let Some(field) = field else { return Val::Nil };
                let mut acc: Option<Val<'static>> = None;
                let mut sum = 0f64;
                let mut n = 0u64;
                let mut all_int = true;
                let mut is_dur = false;
                for &i in &ss.spans {
                    let v = self.field(field, t, i as usize, None, None);
                    let Some(x) = v.as_f64() else { continue };
                    is_dur |= matches!(v, Val::Dur(_));
                    all_int &= matches!(v, Val::Int(_) | Val::Dur(_));
                    n += 1;
                    sum += x;
                    let better = match &acc {
                        None => true,
                        Some(a) => {
                            let ax = a.as_f64().unwrap_or(0.0);
                            (*func == AggregateFn::Min && x < ax)
                                || (*func == AggregateFn::Max && x > ax)
                        }
                    };
                    if better {
                        acc = Some(v.into_owned());
                    }
                }
                if n == 0 {
                    return Val::Nil;
                }
                match func {
                    AggregateFn::Min | AggregateFn::Max => acc.unwrap_or(Val::Nil),
                    AggregateFn::Sum if is_dur => Val::Dur(sum as i64),
                    AggregateFn::Sum if all_int => Val::Int(sum as i64),
                    AggregateFn::Sum => Val::Float(sum),
                    AggregateFn::Avg if is_dur => Val::Dur((sum / n as f64) as i64),
                    AggregateFn::Avg => Val::Float(sum / n as f64),
                    AggregateFn::Count => Val::Int(n as i64),
                }
            }
        }
    }

    /// Whether span `i` meets the filter: for a condition on events or links, some event
    /// (link) of the span meets it together with the span's own fields. When it does, the
    /// event and link (indices into the span's) it met it with, the first that do.
    fn matches(
        &self,
        f: &SpansetFilter,
        t: &TraceView<'_>,
        i: usize,
    ) -> Option<(Option<usize>, Option<usize>)> {
        let Some(e) = &f.expr else {
            return Some((None, None));
        };
        let (uses_event, uses_link) = scopes_used(e);
        let span = &t.spans[i].span;
        // With one event (or none), the link it meets the condition with.
        let with_event = |ev: Option<&Event>| -> Option<Option<usize>> {
            if uses_link && !span.links.is_empty() {
                span.links
                    .iter()
                    .position(|l| self.field(e, t, i, ev, Some(l)).truthy())
                    .map(Some)
            } else {
                self.field(e, t, i, ev, None).truthy().then_some(None)
            }
        };
        if uses_event && !span.events.is_empty() {
            span.events
                .iter()
                .enumerate()
                .find_map(|(k, ev)| with_event(Some(ev)).map(|l| (Some(k), l)))
        } else {
            with_event(None).map(|l| (None, l))
        }
    }

    /// The value of a field expression on span `i` (with one of its events and links).
    pub(crate) fn field<'t>(
        &self,
        e: &FieldExpr,
        t: &TraceView<'t>,
        i: usize,
        ev: Option<&'t Event>,
        link: Option<&'t Link>,
    ) -> Val<'t> {
        match &e.kind {
            FieldExprKind::Static(s) => Val::from_static(s).into_owned(),
            FieldExprKind::Attribute(a) => attribute(a, t, i, ev, link),
            FieldExprKind::Intrinsic(x) => intrinsic(*x, t, i, ev, link),
            FieldExprKind::Unary { op, expr } => {
                let v = self.field(expr, t, i, ev, link);
                match (op, v) {
                    (UnaryOp::Not, Val::Bool(b)) => Val::Bool(!b),
                    (UnaryOp::Neg, Val::Int(x)) => Val::Int(x.wrapping_neg()),
                    (UnaryOp::Neg, Val::Float(x)) => Val::Float(-x),
                    (UnaryOp::Neg, Val::Dur(x)) => Val::Dur(x.wrapping_neg()),
                    _ => Val::Nil,
                }
            }
            FieldExprKind::Binary { op, lhs, rhs } => match op {
                BinaryOp::And => Val::Bool(
                    self.field(lhs, t, i, ev, link).truthy()
                        && self.field(rhs, t, i, ev, link).truthy(),
                ),
                BinaryOp::Or => Val::Bool(
                    self.field(lhs, t, i, ev, link).truthy()
                        || self.field(rhs, t, i, ev, link).truthy(),
                ),
                BinaryOp::Regex | BinaryOp::NotRegex => {
                    let l = self.field(lhs, t, i, ev, link);
                    let FieldExprKind::Static(tempo_traceql::Static::String(p)) = &rhs.kind else {
                        return Val::Bool(false);
                    };
                    match self.regexes.get(p) {
                        Some(re) => Val::Bool(regex_match(&l, re, *op == BinaryOp::NotRegex)),
                        None => Val::Bool(false),
                    }
                }
                // `x = nil` and `x != nil` test whether `x` is there; `nil` is written on
                // either side.
                BinaryOp::Eq | BinaryOp::Neq if is_nil(lhs) || is_nil(rhs) => {
                    // As in Tempo, `nil = nil` and `nil != nil` both hold for no span.
                    if is_nil(lhs) && is_nil(rhs) {
                        return Val::Bool(false);
                    }
                    let other = if is_nil(rhs) { lhs } else { rhs };
                    let present = !self.field(other, t, i, ev, link).is_nil();
                    Val::Bool(present == (*op == BinaryOp::Neq))
                }
                // A trace ID compares as results write it: with or without its leading
                // zeros, so `trace:id = "abc01"` finds the trace listed as `abc01`.
                BinaryOp::Eq | BinaryOp::Neq if trace_id_literal(lhs, rhs).is_some() => {
                    let literal = trace_id_literal(lhs, rhs).unwrap_or_default();
                    let id = hex::encode(t.id.0);
                    let equal = id.trim_start_matches('0')
                        == literal.to_ascii_lowercase().trim_start_matches('0');
                    Val::Bool(equal == (*op == BinaryOp::Eq))
                }
                BinaryOp::Eq
                | BinaryOp::Neq
                | BinaryOp::Lt
                | BinaryOp::Lte
                | BinaryOp::Gt
                | BinaryOp::Gte => {
                    let l = self.field(lhs, t, i, ev, link);
                    let r = self.field(rhs, t, i, ev, link);
                    Val::Bool(compare(*op, &l, &r))
                }
                _ => {
                    let l = self.field(lhs, t, i, ev, link);
                    let r = self.field(rhs, t, i, ev, link);
                    arithmetic(*op, &l, &r)
                }
            },
        }
    }

    /// The attributes span `i` of a result shows, from its marks (those of its spanset):
    /// each field once, with its value on the event, link or array element that met the
    /// condition; a missing value as `nil` where a test against `nil` or `select()` asked
    /// for it, else not at all.
    pub(crate) fn shown_attributes(
        &self,
        t: &TraceView<'_>,
        i: usize,
        marks: &[Mark],
    ) -> Vec<KeyValue> {
        let from = marks.partition_point(|m| (m.span as usize) < i);
        let to = from + marks[from..].partition_point(|m| m.span as usize == i);
        let span = &t.spans[i].span;
        let mut out: Vec<KeyValue> = Vec::new();
        let mut done: Vec<u16> = Vec::new();
        for m in &marks[from..to] {
            let Some(f) = self.shown.get(usize::from(m.field)) else {
                continue;
            };
            let Some(key) = shown_key(f) else { continue };
            if done.contains(&m.field) || out.iter().any(|kv| kv.key == key) {
                continue;
            }
            let event = span.events.get(m.event as usize);
            let link = span.links.get(m.link as usize);
            let mut v = self.field(f, t, i, event, link);
            if v.is_nil() && event.is_none() && link.is_none() {
                // An event or link field the span was not matched on: the first event (link)
                // that has one.
                v = span
                    .events
                    .iter()
                    .map(|ev| self.field(f, t, i, Some(ev), None))
                    .chain(
                        span.links
                            .iter()
                            .map(|l| self.field(f, t, i, None, Some(l))),
                    )
                    .find(|v| !v.is_nil())
                    .unwrap_or(Val::Nil);
            }
            if let Val::Array(items) = &v
                && let Some(item) = items.get(m.element as usize)
            {
                v = Val::from_any(item);
            }
            if v.is_nil() && !m.nil {
                // A later mark of the field may show it as nil.
                continue;
            }
            done.push(m.field);
            out.push(KeyValue {
                key: key.to_owned(),
                value: Some(v.to_shown()),
            });
        }
        out
    }
}

/// The key under which a field is shown with a span: an attribute's name, an intrinsic's
/// name in Tempo's results; `None` for the span's name and duration, which have fields of
/// their own, and for trace-level intrinsics, which belong to the trace.
fn shown_key(f: &FieldExpr) -> Option<&str> {
    match &f.kind {
        FieldExprKind::Attribute(a) => Some(a.name.as_str()),
        FieldExprKind::Intrinsic(x) => shown_intrinsic_key(*x),
        _ => None,
    }
}

/// The key under which an intrinsic is shown with a span; name and duration have fields of
/// their own, and trace-level intrinsics belong to the trace.
fn shown_intrinsic_key(x: Intrinsic) -> Option<&'static str> {
    Some(match x {
        Intrinsic::SpanStatus => "status",
        Intrinsic::SpanStatusMessage => "statusMessage",
        Intrinsic::SpanKind => "kind",
        Intrinsic::SpanParentId => "span:parentID",
        Intrinsic::SpanChildCount => "childCount",
        Intrinsic::EventName => "event:name",
        Intrinsic::EventTimeSinceStart => "event:timeSinceStart",
        Intrinsic::LinkTraceId => "link:traceID",
        Intrinsic::LinkSpanId => "link:spanID",
        Intrinsic::InstrumentationName => "instrumentation:name",
        Intrinsic::InstrumentationVersion => "instrumentation:version",
        Intrinsic::NestedSetLeft => "nestedSetLeft",
        Intrinsic::NestedSetRight => "nestedSetRight",
        Intrinsic::NestedSetParent => "nestedSetParent",
        _ => return None,
    })
}

/// The name under which an aggregate's value is attached to a spanset, as Tempo names it:
/// `count()`, `avg(duration)` (for `avg(span:duration)` too), `max(span.http.status_code)`.
fn scalar_name(e: &ScalarExpr) -> String {
    match &e.kind {
        ScalarExprKind::Aggregate { func, field } => match field {
            Some(f) => format!("{}({})", func.as_str(), tempo_name(f)),
            None => format!("{}()", func.as_str()),
        },
        _ => String::new(),
    }
}

/// A field as Tempo writes it in the names of spanset attributes (`by(...)`, aggregates):
/// an attribute with its scope (`.x` unscoped), an intrinsic by its Tempo name (the
/// unscoped spelling where there is one: `duration`, `status`, `rootServiceName`).
fn tempo_name(f: &FieldExpr) -> String {
    match &f.kind {
        FieldExprKind::Attribute(a) => {
            let scope = match a.scope {
                Scope::None => "",
                Scope::Span => "span",
                Scope::Resource => "resource",
                Scope::Event => "event",
                Scope::Link => "link",
                Scope::Instrumentation => "instrumentation",
            };
            format!("{scope}.{}", a.name)
        }
        FieldExprKind::Intrinsic(x) => intrinsic_name(*x).to_owned(),
        _ => tempo_traceql::format_field_expr(f),
    }
}

/// An intrinsic's name in Tempo's answers: its unscoped spelling where it has one
/// (`span:status` is `status`), `childCount` for `span:childCount`, else its scoped one.
fn intrinsic_name(x: Intrinsic) -> &'static str {
    match x {
        Intrinsic::SpanChildCount => "childCount",
        x => x.legacy_name().unwrap_or(x.as_str()),
    }
}

/// The value of an attribute on span `i` (with one of its events and links): `span.` and
/// `resource.` read their own, an unscoped name the span's, else the resource's.
fn attribute<'t>(
    a: &Attribute,
    t: &TraceView<'t>,
    i: usize,
    ev: Option<&'t Event>,
    link: Option<&'t Link>,
) -> Val<'t> {
    let hs = &t.spans[i];
    let resource_attrs = || {
        hs.resource
            .resource
            .as_ref()
            .map_or(Val::Nil, |r| find_attr(&r.attributes, &a.name))
    };
    match a.scope {
        Scope::Span => find_attr(&hs.span.attributes, &a.name),
        Scope::Resource => resource_attrs(),
        Scope::None => match find_attr(&hs.span.attributes, &a.name) {
            Val::Nil => resource_attrs(),
            v => v,
        },
        Scope::Event => ev.map_or(Val::Nil, |e| find_attr(&e.attributes, &a.name)),
        Scope::Link => link.map_or(Val::Nil, |l| find_attr(&l.attributes, &a.name)),
        Scope::Instrumentation => hs
            .scope
            .scope
            .as_ref()
            .map_or(Val::Nil, |s| find_attr(&s.attributes, &a.name)),
    }
}

/// The TraceQL status of an OTLP status code; unknown codes are unset.
pub(crate) fn status_of(code: i32) -> Status {
    match code {
        1 => Status::Ok,
        2 => Status::Error,
        _ => Status::Unset,
    }
}

/// The TraceQL kind of an OTLP span kind; unknown kinds are unspecified.
pub(crate) fn kind_of(kind: i32) -> Kind {
    match kind {
        1 => Kind::Internal,
        2 => Kind::Server,
        3 => Kind::Client,
        4 => Kind::Producer,
        5 => Kind::Consumer,
        _ => Kind::Unspecified,
    }
}

/// The value of an intrinsic on span `i` (with one of its events and links); event and link
/// intrinsics are nil without one.
fn intrinsic<'t>(
    x: Intrinsic,
    t: &TraceView<'t>,
    i: usize,
    ev: Option<&'t Event>,
    link: Option<&'t Link>,
) -> Val<'t> {
    let hs = &t.spans[i];
    let s = &hs.span;
    let opt_str = |v: Option<&'t str>| v.map_or(Val::Nil, |s| Val::Str(Cow::Borrowed(s)));
    match x {
        Intrinsic::SpanName => Val::Str(Cow::Borrowed(&s.name)),
        Intrinsic::SpanStatus => Val::Status(status_of(s.status.as_ref().map_or(0, |st| st.code))),
        Intrinsic::SpanStatusMessage => Val::Str(Cow::Borrowed(
            s.status.as_ref().map_or("", |st| st.message.as_str()),
        )),
        Intrinsic::SpanKind => Val::Kind(kind_of(s.kind)),
        Intrinsic::SpanDuration => {
            Val::Dur(s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano) as i64)
        }
        Intrinsic::SpanId => hex_val(&s.span_id),
        Intrinsic::SpanParentId => hex_val(&s.parent_span_id),
        Intrinsic::SpanChildCount => Val::Int(i64::from(t.child_count[i])),
        Intrinsic::TraceDuration => Val::Dur(t.duration() as i64),
        // A trace whose root never arrived has empty root names, as in Tempo: they are
        // values (`rootServiceName != "x"` holds), not missing ones.
        Intrinsic::TraceRootName => Val::Str(Cow::Borrowed(t.root_name().unwrap_or(""))),
        Intrinsic::TraceRootService => Val::Str(Cow::Borrowed(t.root_service().unwrap_or(""))),
        Intrinsic::TraceId => Val::Str(Cow::Owned(hex::encode(t.id.0))),
        Intrinsic::EventName => ev.map_or(Val::Nil, |e| Val::Str(Cow::Borrowed(&e.name))),
        Intrinsic::EventTimeSinceStart => ev.map_or(Val::Nil, |e| {
            Val::Dur(e.time_unix_nano.saturating_sub(s.start_time_unix_nano) as i64)
        }),
        Intrinsic::LinkTraceId => link.map_or(Val::Nil, |l| hex_val(&l.trace_id)),
        Intrinsic::LinkSpanId => link.map_or(Val::Nil, |l| hex_val(&l.span_id)),
        Intrinsic::InstrumentationName => opt_str(hs.scope.scope.as_ref().map(|s| s.name.as_str())),
        Intrinsic::InstrumentationVersion => {
            opt_str(hs.scope.scope.as_ref().map(|s| s.version.as_str()))
        }
        Intrinsic::NestedSetLeft => Val::Int(i64::from(t.left[i])),
        Intrinsic::NestedSetRight => Val::Int(i64::from(t.right[i])),
        Intrinsic::NestedSetParent => Val::Int(t.parent_left[i]),
    }
}

/// The string a trace ID is compared with, when one side of a comparison is `trace:id` and
/// the other a string literal.
fn trace_id_literal<'e>(lhs: &'e FieldExpr, rhs: &'e FieldExpr) -> Option<&'e str> {
    match (&lhs.kind, &rhs.kind) {
        (
            FieldExprKind::Intrinsic(Intrinsic::TraceId),
            FieldExprKind::Static(tempo_traceql::Static::String(s)),
        )
        | (
            FieldExprKind::Static(tempo_traceql::Static::String(s)),
            FieldExprKind::Intrinsic(Intrinsic::TraceId),
        ) => Some(s),
        _ => None,
    }
}

/// Whether a field expression is the `nil` literal.
fn is_nil(e: &FieldExpr) -> bool {
    matches!(e.kind, FieldExprKind::Static(tempo_traceql::Static::Nil))
}

/// Whether a condition reads event or link fields.
fn scopes_used(e: &FieldExpr) -> (bool, bool) {
    match &e.kind {
        FieldExprKind::Attribute(a) => (a.scope == Scope::Event, a.scope == Scope::Link),
        FieldExprKind::Intrinsic(x) => (
            matches!(x, Intrinsic::EventName | Intrinsic::EventTimeSinceStart),
            matches!(x, Intrinsic::LinkTraceId | Intrinsic::LinkSpanId),
        ),
        FieldExprKind::Binary { lhs, rhs, .. } => {
            let (a, b) = scopes_used(lhs);
            let (c, d) = scopes_used(rhs);
            (a || c, b || d)
        }
        FieldExprKind::Unary { expr, .. } => scopes_used(expr),
        FieldExprKind::Static(_) => (false, false),
    }
}

/// Combines the spansets of both sides of a spanset operator into the spans of one spanset
/// and their marks, or `None` when the operator yields nothing. A span keeps the marks of the
/// side it is returned for: both sides' for `&&` and `||`, the right side's for a structural
/// operator, the side's it took part from for a union one.
fn spanset_op(
    op: SpansetOp,
    t: &TraceView<'_>,
    l: &[Spanset],
    r: &[Spanset],
) -> Option<(Vec<u32>, Vec<Mark>)> {
    let union = |sets: &[Spanset]| -> (Vec<u32>, Vec<Mark>) {
        let mut v: Vec<u32> = sets.iter().flat_map(|s| s.spans.iter().copied()).collect();
        v.sort_unstable();
        v.dedup();
        let marks = sets
            .iter()
            .fold(Vec::new(), |all, s| merge_marks(all, s.marks.clone()));
        (v, marks)
    };
    let ((ls, lm), (rs, rm)) = (union(l), union(r));
    let (out, marks) = match op {
        SpansetOp::And => {
            if ls.is_empty() || rs.is_empty() {
                return None;
            }
            (merge_sorted(&ls, &rs), merge_marks(lm, rm))
        }
        SpansetOp::Or => (merge_sorted(&ls, &rs), merge_marks(lm, rm)),
        _ => {
            let (from_left, from_right) = structural(op, t, &ls, &rs);
            let marks = merge_marks(marks_of(&lm, &from_left), marks_of(&rm, &from_right));
            (merge_sorted(&from_left, &from_right), marks)
        }
    };
    (!out.is_empty()).then_some((out, marks))
}

/// The sorted union of two sorted, duplicate-free lists.
fn merge_sorted(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// One side of a structural operator, indexed so that each relation is answered by a binary
/// search: the memory and time it takes grow with the side's size, never with the square of
/// the trace's.
struct Side {
    /// The spans, sorted.
    spans: Vec<u32>,
    /// The parents of the spans that have one in the trace, sorted, repeated per child.
    parents: Vec<u32>,
    /// The nested-set left positions of the spans in the tree, sorted.
    lefts: Vec<u32>,
    /// The subtrees of the spans in the tree, as disjoint `(left, right)` intervals: a
    /// subtree inside another is covered by it.
    subtrees: Vec<(u32, u32)>,
}

impl Side {
    fn new(t: &TraceView<'_>, spans: &[u32]) -> Side {
        let mut parents: Vec<u32> = spans
            .iter()
            .map(|&s| t.parent[s as usize])
            .filter(|&p| p != NONE)
            .collect();
        parents.sort_unstable();
        let mut intervals: Vec<(u32, u32)> = spans
            .iter()
            .map(|&s| (t.left[s as usize], t.right[s as usize]))
            .filter(|&(l, _)| l != 0)
            .collect();
        intervals.sort_unstable();
        let lefts: Vec<u32> = intervals.iter().map(|&(l, _)| l).collect();
        let mut subtrees: Vec<(u32, u32)> = Vec::with_capacity(intervals.len());
        for (l, r) in intervals {
            // Nested sets are laminar: an interval starting inside the last one is inside it.
            if subtrees.last().is_some_and(|&(_, last_r)| l < last_r) {
                continue;
            }
            subtrees.push((l, r));
        }
        Side {
            spans: spans.to_vec(),
            parents,
            lefts,
            subtrees,
        }
    }

    fn contains(&self, span: u32) -> bool {
        self.spans.binary_search(&span).is_ok()
    }

    /// How many spans of the side have `parent` as their parent.
    fn children_of(&self, parent: u32) -> usize {
        let from = self.parents.partition_point(|&p| p < parent);
        let to = self.parents.partition_point(|&p| p <= parent);
        to - from
    }

    /// Whether a span of the side is a proper ancestor of span `s`.
    fn has_ancestor_of(&self, t: &TraceView<'_>, s: usize) -> bool {
        let left = t.left[s];
        if left == 0 {
            return false;
        }
        // The last subtree starting before `s`: `s` is inside it, or inside none.
        let i = self.subtrees.partition_point(|&(l, _)| l < left);
        i > 0 && left < self.subtrees[i - 1].1
    }

    /// Whether a span of the side is a proper descendant of span `s`.
    fn has_descendant_of(&self, t: &TraceView<'_>, s: usize) -> bool {
        let (left, right) = (t.left[s], t.right[s]);
        if left == 0 {
            return false;
        }
        let i = self.lefts.partition_point(|&l| l <= left);
        self.lefts.get(i).is_some_and(|&l| l < right)
    }

    /// Whether a span of the side other than `s` has the same parent as `s`.
    fn has_sibling_of(&self, t: &TraceView<'_>, s: usize) -> bool {
        let p = t.parent[s];
        if p == NONE {
            return false;
        }
        let own = usize::from(self.contains(s as u32));
        self.children_of(p) > own
    }
}

/// `lhs op rhs` for the structural operators. `>`: right spans whose parent is a left span;
/// `<`: right spans that are the parent of a left span; `>>` and `<<` the same with
/// ancestors; `~`: right spans with a left sibling. The `!` forms keep the right spans that do
/// not relate so; the `&` forms return the spans of both sides that take part.
///
/// Each side is sorted and indexed once ([`Side`]); every relation is then a binary search, so
/// an operator costs `O((|lhs| + |rhs|) log(|lhs| + |rhs|))` time and linear memory, on a
/// chain of a hundred thousand spans as on a fan.
///
/// Returns the spans taken from the left side (only the union forms take any) and those
/// taken from the right, each sorted.
fn structural(op: SpansetOp, t: &TraceView<'_>, ls: &[u32], rs: &[u32]) -> (Vec<u32>, Vec<u32>) {
    let left = Side::new(t, ls);
    // Does right span `r` stand in the operator's relation to some left span?
    let right_related = |r: u32| -> bool {
        let ru = r as usize;
        match op {
            SpansetOp::Child | SpansetOp::NotChild | SpansetOp::UnionChild => {
                let p = t.parent[ru];
                p != NONE && left.contains(p)
            }
            SpansetOp::Parent | SpansetOp::NotParent | SpansetOp::UnionParent => {
                left.parents.binary_search(&r).is_ok()
            }
            SpansetOp::Descendant | SpansetOp::NotDescendant | SpansetOp::UnionDescendant => {
                left.has_ancestor_of(t, ru)
            }
            SpansetOp::Ancestor | SpansetOp::NotAncestor | SpansetOp::UnionAncestor => {
                left.has_descendant_of(t, ru)
            }
            SpansetOp::Sibling | SpansetOp::NotSibling | SpansetOp::UnionSibling => {
                left.has_sibling_of(t, ru)
            }
            SpansetOp::And | SpansetOp::Or => false,
        }
    };
    match op {
        SpansetOp::Child
        | SpansetOp::Parent
        | SpansetOp::Descendant
        | SpansetOp::Ancestor
        | SpansetOp::Sibling => (
            Vec::new(),
            rs.iter().copied().filter(|&r| right_related(r)).collect(),
        ),
        SpansetOp::NotChild
        | SpansetOp::NotParent
        | SpansetOp::NotDescendant
        | SpansetOp::NotAncestor
        | SpansetOp::NotSibling => (
            Vec::new(),
            rs.iter().copied().filter(|&r| !right_related(r)).collect(),
        ),
        SpansetOp::UnionChild
        | SpansetOp::UnionParent
        | SpansetOp::UnionDescendant
        | SpansetOp::UnionAncestor
        | SpansetOp::UnionSibling => {
            let right = Side::new(t, rs);
            // Does left span `l` stand in the relation to some right span?
            let left_related = |l: u32| -> bool {
                let lu = l as usize;
                match op {
                    SpansetOp::UnionChild => right.parents.binary_search(&l).is_ok(),
                    SpansetOp::UnionParent => {
                        let p = t.parent[lu];
                        p != NONE && right.contains(p)
                    }
                    SpansetOp::UnionDescendant => right.has_descendant_of(t, lu),
                    SpansetOp::UnionAncestor => right.has_ancestor_of(t, lu),
                    _ => right.has_sibling_of(t, lu),
                }
            };
            let from_right: Vec<u32> = rs.iter().copied().filter(|&r| right_related(r)).collect();
            let from_left: Vec<u32> = ls.iter().copied().filter(|&l| left_related(l)).collect();
            (from_left, from_right)
        }
        SpansetOp::And | SpansetOp::Or => (Vec::new(), Vec::new()),
    }
}

/// Compiles the regular expressions of a field expression and notes the fields it shows.
fn collect_field(
    e: &FieldExpr,
    regexes: &mut HashMap<String, Regex>,
    shown: &mut Vec<FieldExpr>,
) -> Result<(), QueryError> {
    match &e.kind {
        FieldExprKind::Binary { op, lhs, rhs } => {
            if matches!(op, BinaryOp::Regex | BinaryOp::NotRegex)
                && let FieldExprKind::Static(tempo_traceql::Static::String(p)) = &rhs.kind
                && !regexes.contains_key(p)
            {
                let re = tempo_traceql::compile_regex(p).map_err(|err| {
                    QueryError::Invalid(format!(
                        "regular expression {p:?} cannot be compiled: {err}"
                    ))
                })?;
                regexes.insert(p.clone(), re);
            }
            collect_field(lhs, regexes, shown)?;
            collect_field(rhs, regexes, shown)
        }
        FieldExprKind::Unary { expr, .. } => collect_field(expr, regexes, shown),
        FieldExprKind::Static(_) => Ok(()),
        FieldExprKind::Attribute(_) | FieldExprKind::Intrinsic(_) => {
            if shown_key(e).is_some() && !shown.contains(e) {
                shown.push(e.clone());
            }
            Ok(())
        }
    }
}

/// Notes the fields aggregated in a scalar expression.
fn collect_scalar(
    e: &ScalarExpr,
    regexes: &mut HashMap<String, Regex>,
    shown: &mut Vec<FieldExpr>,
) -> Result<(), QueryError> {
    match &e.kind {
        ScalarExprKind::Aggregate { field: Some(f), .. } => collect_field(f, regexes, shown),
        ScalarExprKind::Binary { lhs, rhs, .. } => {
            collect_scalar(lhs, regexes, shown)?;
            collect_scalar(rhs, regexes, shown)
        }
        _ => Ok(()),
    }
}

/// Compiles the regular expressions of an expression and notes the fields it shows.
fn collect_expr(
    e: &Expr,
    regexes: &mut HashMap<String, Regex>,
    shown: &mut Vec<FieldExpr>,
) -> Result<(), QueryError> {
    match &e.kind {
        ExprKind::Filter(f) => match &f.expr {
            Some(x) => collect_field(x, regexes, shown),
            None => Ok(()),
        },
        ExprKind::Spanset { lhs, rhs, .. } | ExprKind::Binary { lhs, rhs, .. } => {
            collect_expr(lhs, regexes, shown)?;
            collect_expr(rhs, regexes, shown)
        }
        ExprKind::Static(_) => Ok(()),
        ExprKind::Pipeline(p) => {
            collect_expr(&p.head, regexes, shown)?;
            for s in &p.stages {
                match &s.kind {
                    StageKind::Spanset(e) => collect_expr(e, regexes, shown)?,
                    StageKind::By(f) => collect_field(f, regexes, shown)?,
                    StageKind::Select(fs) => {
                        for f in fs {
                            collect_field(f, regexes, shown)?;
                        }
                    }
                    StageKind::ScalarFilter { lhs, rhs, .. } => {
                        collect_scalar(lhs, regexes, shown)?;
                        collect_scalar(rhs, regexes, shown)?;
                    }
                    StageKind::Scalar(e) => collect_scalar(e, regexes, shown)?,
                    _ => {}
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::model::Span;
    use crate::spans::{SharedResource, SharedScope};

    const N: usize = 100_000;

    /// A chain (span `i` the parent of `i + 1`, the last named `leaf`) or a fan (span 0 the
    /// parent of every other) of `N` spans.
    fn trace(chain: bool) -> Vec<StoredSpan> {
        let resource = Arc::new(SharedResource {
            resource: None,
            schema_url: String::new(),
        });
        let scope = Arc::new(SharedScope {
            scope: None,
            schema_url: String::new(),
        });
        #[expect(
            clippy::big_endian_bytes,
            reason = "test span IDs: a counter, readable in hex"
        )]
        let id = |i: usize| (i as u64 + 1).to_be_bytes().to_vec();
        (0..N)
            .map(|i| StoredSpan {
                resource: resource.clone(),
                scope: scope.clone(),
                span: Span {
                    trace_id: vec![1; 16],
                    span_id: id(i),
                    parent_span_id: match (i, chain) {
                        (0, _) => Vec::new(),
                        (_, true) => id(i - 1),
                        (_, false) => id(0),
                    },
                    name: match i {
                        0 => "root".into(),
                        i if i == N - 1 => "leaf".into(),
                        _ => "mid".into(),
                    },
                    ..Default::default()
                },
            })
            .collect()
    }

    fn matched(view: &TraceView<'_>, query: &str) -> usize {
        let compiled = Compiled::new(query).unwrap();
        let stop = Stop::new(Instant::now() + Duration::from_secs(60), None, u64::MAX);
        let started = Instant::now();
        let sets = compiled.run(view, &stop).unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{query} took {:?}",
            started.elapsed()
        );
        sets.iter().map(|s| s.spans.len()).sum()
    }

    /// Every structural operator on a chain and a fan of 100,000 spans, with the number of
    /// spans it yields: quadratic evaluation would take minutes and gigabytes here.
    #[test]
    fn structural_operators_on_a_chain_and_a_fan_of_100k_spans() {
        let (chain, fan) = (trace(true), trace(false));
        let id = TraceId([1; 16]);
        let (chain, fan) = (TraceView::new(id, &chain), TraceView::new(id, &fan));
        let cases: &[(&str, usize, usize)] = &[
            ("{ } > { }", N - 1, N - 1),
            ("{ } < { }", N - 1, 1),
            ("{ } >> { }", N - 1, N - 1),
            ("{ } << { }", N - 1, 1),
            ("{ } ~ { }", 0, N - 1),
            ("{ } !> { }", 1, 1),
            ("{ } !< { }", 1, N - 1),
            ("{ } !>> { }", 1, 1),
            ("{ } !<< { }", 1, N - 1),
            ("{ } !~ { }", N, 1),
            ("{ } &> { }", N, N),
            ("{ } &< { }", N, N),
            ("{ } &>> { }", N, N),
            ("{ } &<< { }", N, N),
            ("{ } &~ { }", 0, N - 1),
            (r#"{ name = "leaf" } >> { }"#, 0, 0),
            (r#"{ name = "leaf" } << { }"#, N - 1, 1),
            (r#"{ } >> { name = "leaf" }"#, 1, 1),
            (r#"{ name = "leaf" } ~ { }"#, 0, N - 2),
            (r#"{ name = "root" } &>> { name = "leaf" }"#, 2, 2),
            (r#"{ name = "leaf" } &<< { name = "root" }"#, 2, 2),
            (r#"{ name = "mid" } !> { name = "mid" }"#, 1, N - 2),
            ("{ } | by(span:id) | count() = 1", N, N),
        ];
        for (query, on_chain, on_fan) in cases {
            assert_eq!(matched(&chain, query), *on_chain, "{query} on the chain");
            assert_eq!(matched(&fan, query), *on_fan, "{query} on the fan");
        }
    }

    #[test]
    fn a_stop_interrupts_the_evaluation_of_a_large_trace() {
        let chain = trace(true);
        let view = TraceView::new(TraceId([1; 16]), &chain);
        let compiled = Compiled::new("{ } >> { } | { } << { }").unwrap();
        let stop = Stop::new(Instant::now(), None, u64::MAX);
        assert!(matches!(
            compiled.run(&view, &stop),
            Err(QueryError::Interrupted)
        ));
    }
}
